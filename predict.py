"""Score videos with the three-model ensemble: the probability that each video is a deepfake.

    python predict.py --config config.yaml [--input PATH ...] [--output CSV] [--details DETAILS.jsonl]

By default scores DFDC_DATA_PATH/test_videos/**/*.mp4 and writes SUBMISSION_PATH (`filename,label`, sorted).
A video that cannot be read, has no frames or no face tracks scores 0.5, and the reason goes to --details.
`--part I --num_parts K` scores the I-th of K shards into `<output stem>.partI-of-K.csv`; `--merge --num_parts K`
then writes the output from the K shard files. `--report DIR` ends with an HTML report of the run (see report.py);
`--annotate DIR` writes an MP4 per scored video with the face boxes coloured by their probability.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from tqdm import tqdm

from dfdc.cli import get_args_parser, run_main, shard
from dfdc.config import load_config
from dfdc.detectors import build_detector
from dfdc.devices import PRECISIONS, resolve_device
from dfdc.evaluation import read_submission
from dfdc.fileio import ensure_dir
from dfdc.inference import CALIBRATION_NAME, DETECTOR_WEIGHTS_NAME, Ensemble, Predictor, find_videos
from dfdc.scoring import PUBLISHED, ScoreTransform
from dfdc.annotate import annotate_video
from dfdc.report import report_from_files
from dfdc.submission import merge_shards, shard_path, write_submission

log = logging.getLogger('dfdc')


def main(argv=None) -> int:
    parser = get_args_parser(__doc__.splitlines()[0], sharded=True)
    parser.add_argument('--merge', action='store_true',
                        help='write the output from the --num_parts shard files (and their --details) and stop')
    parser.add_argument('--input', nargs='+', default=None, help='video files or folders (mp4, avi, mov, mkv, webm)')
    parser.add_argument('--output', default=None, help='CSV to write (default: SUBMISSION_PATH)')
    parser.add_argument('--details', default=None, help='JSONL with per-video reasons, tracks and probabilities')
    parser.add_argument('--detector', choices=('dsfd', 'opencv'), default='dsfd')
    parser.add_argument('--detector-weights', default=None, help=f'default: MODELS_PATH/{DETECTOR_WEIGHTS_NAME}')
    parser.add_argument('--device', default='auto', help='auto (CUDA if available), cpu, cuda or cuda:N')
    parser.add_argument('--precision', choices=PRECISIONS, default='fp32',
                        help='fp32 computes what the published predictor computed; fp16 or bf16 autocast is faster '
                             'and changes scores slightly (see README)')
    parser.add_argument('--channels-last', action=argparse.BooleanOptionalAction, default=True,
                        help='NHWC weights and inputs: faster, the same numbers up to float rounding')
    parser.add_argument('--batch-size', type=int, default=None,
                        help='classifier batch size (default: 32 on CUDA, 8 on the CPU, where activations '
                             'dominate memory)')
    parser.add_argument('--resume', action='store_true', help='skip videos already in the output or its .partial')
    parser.add_argument('--profile', action='store_true', help='print the time spent per stage')
    parser.add_argument('--report', default=None, metavar='DIR',
                        help='write an HTML report of this run into DIR (from --details, by default DIR.jsonl)')
    parser.add_argument('--no-calibration', action='store_true',
                        help=f'score with the published transform even when MODELS_PATH/{CALIBRATION_NAME} exists')
    parser.add_argument('--annotate', default=None, metavar='DIR',
                        help='write <video>.mp4 into DIR for each scored video: boxes coloured by probability')
    args = parser.parse_args(argv)
    config = load_config(args.config)
    if args.input is None:
        config.require_exists('DFDC_DATA_PATH')
        videos = sorted((config.DFDC_DATA_PATH / 'test_videos').glob('**/*.mp4'))
    else:
        videos = find_videos(args.input)
    output = Path(args.output) if args.output else config.SUBMISSION_PATH
    ensure_dir(output.parent)
    details = Path(args.details) if args.details else None
    if args.report and details is None:
        details = Path(args.report).with_name(Path(args.report).name + '.jsonl')
    if args.merge:
        merged = merge_shards(output, args.num_parts, details)
        print(f'predict: merged {args.num_parts} shards, {len(merged)} videos -> {output}')
        return 0
    if args.num_parts > 1:
        videos = shard(videos, args.part, args.num_parts)
        output = shard_path(output, args.part, args.num_parts)
        details = shard_path(details, args.part, args.num_parts) if details is not None else None
    partial = output.with_name(output.name + '.partial')

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
                                  precision=args.precision, channels_last=args.channels_last)
        batch_size = args.batch_size or (32 if device.type == 'cuda' else 8)
        calibration = config.MODELS_PATH / CALIBRATION_NAME
        transform = PUBLISHED
        if calibration.is_file() and not args.no_calibration:
            transform = ScoreTransform.load(calibration)
            print(f'predict: applying {calibration} ({transform.describe()}); --no-calibration for the published '
                  'transform')
        predictor = Predictor(detector, Ensemble.load(config.MODELS_PATH, device, batch_size, args.precision,
                                                      args.channels_last), transform=transform)
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
                record = result.to_json()
                if details_file is not None:
                    details_file.write(json.dumps(record) + '\n')
                    details_file.flush()
                if args.annotate and result.reason is None:
                    start_annotate = time.perf_counter()
                    annotate_video(record, Path(args.annotate) / f'{Path(name).stem}.mp4')
                    totals['annotate'] = totals.get('annotate', 0.0) + time.perf_counter() - start_annotate
                for stage, seconds in result.timings.items():
                    totals[stage] = totals.get(stage, 0.0) + seconds
        finally:
            if details_file is not None:
                details_file.close()
    wanted = {v.name for v in videos} | (set(done) if args.resume else set())
    write_submission(output, {name: done[name] for name in wanted if name in done})
    partial.unlink(missing_ok=True)
    elapsed = time.perf_counter() - start
    print(f'predict: {len(todo)} videos scored ({unscored} without face tracks or unreadable, scored 0.5), '
          f'{len(videos) - len(todo)} already done, in {elapsed:.1f} s -> {output}')
    if args.report:
        report, count = report_from_files([details], Path(args.report))
        print(f'report: {count} videos -> {report / "index.html"}')
    if args.profile and todo:
        per_video = {k: v / len(todo) for k, v in totals.items()}
        print('profile (s/video): ' + ', '.join(f'{k} {v:.3f}' for k, v in per_video.items()) +
              f'; wall {elapsed / len(todo):.3f} (decode of the next video overlaps the models)')
    return 0


if __name__ == '__main__':
    sys.exit(run_main(main))
