"""Score videos with the three-model ensemble: the probability that each video is a deepfake.

    python predict.py --config config.yaml [--input PATH ...] [--output CSV] [--details DETAILS.jsonl]

By default scores DFDC_DATA_PATH/test_videos/**/*.mp4 and writes SUBMISSION_PATH (`filename,label`, sorted).
A video that cannot be read, has no frames or no face tracks scores 0.5, and the reason goes to --details.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

from tqdm import tqdm

from dfdc.cli import UserError, get_args_parser, run_main
from dfdc.config import load_config
from dfdc.detectors import build_detector
from dfdc.devices import PRECISIONS, resolve_device
from dfdc.evaluation import read_submission
from dfdc.fileio import atomic_write_bytes, ensure_dir
from dfdc.inference import DETECTOR_WEIGHTS_NAME, Ensemble, Predictor, find_videos

log = logging.getLogger('dfdc')


def main(argv=None) -> int:
    parser = get_args_parser(__doc__.splitlines()[0])
    parser.add_argument('--input', nargs='+', default=None, help='video files or folders (mp4, avi, mov, mkv, webm)')
    parser.add_argument('--output', default=None, help='CSV to write (default: SUBMISSION_PATH)')
    parser.add_argument('--details', default=None, help='JSONL with per-video reasons, tracks and probabilities')
    parser.add_argument('--detector', choices=('dsfd', 'opencv'), default='dsfd')
    parser.add_argument('--detector-weights', default=None, help=f'default: MODELS_PATH/{DETECTOR_WEIGHTS_NAME}')
    parser.add_argument('--device', default='auto', help='auto (CUDA if available), cpu, cuda or cuda:N')
    parser.add_argument('--precision', choices=PRECISIONS, default='fp32',
                        help='fp32 computes what the published predictor computed; fp16 or bf16 autocast is faster '
                             'and changes scores slightly (see README)')
    parser.add_argument('--batch-size', type=int, default=None,
                        help='classifier batch size (default: 32 on CUDA, 8 on the CPU, where activations '
                             'dominate memory)')
    parser.add_argument('--resume', action='store_true', help='skip videos already in the output or its .partial')
    parser.add_argument('--profile', action='store_true', help='print the time spent per stage')
    args = parser.parse_args(argv)
    config = load_config(args.config)
    if args.input is None:
        config.require_exists('DFDC_DATA_PATH')
        videos = sorted((config.DFDC_DATA_PATH / 'test_videos').glob('**/*.mp4'))
    else:
        videos = find_videos(args.input)
    output = Path(args.output) if args.output else config.SUBMISSION_PATH
    partial = output.with_name(output.name + '.partial')
    ensure_dir(output.parent)
    details = Path(args.details) if args.details else None

    done = {}
    if args.resume:
        done = {**read_submission(output, skip_incomplete=True), **read_submission(partial, skip_incomplete=True)}
    else:
        partial.unlink(missing_ok=True)
        if details is not None and details.exists():
            details.unlink()
    todo = [v for v in videos if v.name not in done]
    names = [v.name for v in videos]
    if len(set(names)) != len(names):
        log.warning('some videos share a file name; the CSV has one row per name (the last one scored)')

    device = resolve_device(args.device)
    if todo:
        weights = args.detector_weights or config.MODELS_PATH / DETECTOR_WEIGHTS_NAME
        detector = build_detector(args.detector, weights=weights, device=str(device), resize='rcnn',
                                  precision=args.precision)
        batch_size = args.batch_size or (32 if device.type == 'cuda' else 8)
        predictor = Predictor(detector, Ensemble.load(config.MODELS_PATH, device, batch_size, args.precision))
    totals: dict[str, float] = {}
    start = time.perf_counter()
    unscored = 0
    with open(partial, 'a', newline='') as partial_file:
        if partial_file.tell() == 0:
            partial_file.write('filename,label\n')
        details_file = open(details, 'a') if details is not None else None
        try:
            results = predictor.predict_all(todo) if todo else []
            for result in tqdm(results, total=len(todo), desc='predict', unit='video'):
                name = Path(result.path).name
                done[name] = result.score
                partial_file.write(f'{name},{result.score}\n')
                partial_file.flush()
                if result.reason is not None:
                    unscored += 1
                    log.warning('%s: %s; scored 0.5', result.path, result.reason)
                if details_file is not None:
                    details_file.write(json.dumps(result.to_json()) + '\n')
                    details_file.flush()
                for stage, seconds in result.timings.items():
                    totals[stage] = totals.get(stage, 0.0) + seconds
        finally:
            if details_file is not None:
                details_file.close()
    wanted = {v.name for v in videos} | (set(done) if args.resume else set())
    rows = ''.join(f'{name},{done[name]}\n' for name in sorted(wanted) if name in done)
    atomic_write_bytes(output, ('filename,label\n' + rows).encode())
    partial.unlink(missing_ok=True)
    elapsed = time.perf_counter() - start
    print(f'predict: {len(todo)} videos scored ({unscored} without face tracks or unreadable, scored 0.5), '
          f'{len(videos) - len(todo)} already done, in {elapsed:.1f} s -> {output}')
    if args.profile and todo:
        per_video = {k: v / len(todo) for k, v in totals.items()}
        print('profile (s/video): ' + ', '.join(f'{k} {v:.3f}' for k, v in per_video.items()) +
              f'; wall {elapsed / len(todo):.3f} (decode of the next video overlaps the models)')
    return 0


if __name__ == '__main__':
    sys.exit(run_main(main))
