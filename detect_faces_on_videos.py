"""Stage 1: detect faces on every 6th frame of every training video.

    python detect_faces_on_videos.py --config config.yaml [--part I --num_parts K] [--detector dsfd|opencv]
        [--backend auto|torch|openvino] [--precision fp32|bf16]

Writes `ARTIFACTS_PATH/detections/<relpath>/detections.pkl` per video; existing outputs are skipped. Inside a SLURM
array task (or a Kubernetes Indexed Job) `--part auto --num_parts auto` takes the task's shard; `slurm/submit.sh`
runs the whole pipeline that way.
"""
from __future__ import annotations

import argparse
import sys

from dfdc.backends import BACKENDS, resolve_backend
from dfdc.cli import get_args_parser, resolve_shard, run_main
from dfdc.config import load_config
from dfdc.detection import run_detection_stage
from dfdc.detectors import build_detector
from dfdc.devices import PRECISIONS, resolve_device

DEFAULT_WEIGHTS = 'external_data/WIDERFace_DSFD_RES152.pth'


def main(argv=None) -> int:
    parser = get_args_parser(__doc__.splitlines()[0], sharded=True)
    parser.add_argument('--detector', choices=('dsfd', 'opencv'), default='dsfd')
    parser.add_argument('--weights', default=DEFAULT_WEIGHTS, help='DSFD weights (fp32 or fp16)')
    parser.add_argument('--device', default='auto', help='auto, cpu, cuda or cuda:N')
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--precision', choices=PRECISIONS, default='fp32',
                        help='fp32 as published; fp16 or bf16 autocast is faster and moves boxes slightly')
    parser.add_argument('--channels-last', action=argparse.BooleanOptionalAction, default=True,
                        help='PyTorch backend: NHWC weights and inputs, faster, the same numbers up to float rounding')
    parser.add_argument('--backend', choices=BACKENDS, default='auto',
                        help='auto: OpenVINO on the CPU (DSFD converted on the first run and cached in '
                             'openvino_cache beside the weights), PyTorch on CUDA')
    args = resolve_shard(parser.parse_args(argv))
    config = load_config(args.config)
    config.require_exists('DFDC_DATA_PATH')
    detector = build_detector(args.detector, weights=args.weights, device=args.device, resize='area',
                              batch_size=args.batch_size, precision=args.precision,
                              channels_last=args.channels_last,
                              backend=resolve_backend(args.backend, resolve_device(args.device), args.precision))
    counts = run_detection_stage(config, detector, args.part, args.num_parts, batch_size=args.batch_size)
    print(f'stage 1: {counts["videos"]} videos in part {args.part + 1}/{args.num_parts}: {counts["detected"]} '
          f'detected, {counts["skipped"]} already done, {counts["failed"]} unreadable')
    return 0


if __name__ == '__main__':
    sys.exit(run_main(main))
