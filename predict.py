"""Score videos with the three-model ensemble: the probability that each video is a deepfake.

    python predict.py --config config.yaml [--input PATH ...] [--output CSV] [--details DETAILS.jsonl]

By default scores DFDC_DATA_PATH/test_videos/**/*.mp4 and writes SUBMISSION_PATH (`filename,label`, sorted).
A video that cannot be read, has no frames or no face tracks scores 0.5, and the reason goes to --details.
`--part I --num_parts K` scores the I-th of K shards into `<output stem>.partI-of-K.csv`; `--merge --num_parts K`
then writes the output from the K shard files (`--part auto --num_parts auto` inside a SLURM array task).
`--report DIR` ends with an HTML report of the run (see report.py); `--annotate DIR` writes an MP4 per scored
video with the face boxes coloured by their probability. When
MODELS_PATH/calibration.json exists (calibrate.py), its fitted score transform is applied, and said so.
On the CPU the networks run on OpenVINO (`--backend auto`): converted on the first run, which says so on stderr,
and kept in MODELS_PATH/openvino_cache; `--backend torch` runs PyTorch.
"""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from dfdc.cli import get_args_parser, resolve_shard, run_main, shard
from dfdc.config import load_config
from dfdc.evaluation import read_submission
from dfdc.fileio import ensure_dir
from dfdc.inference import find_videos
from dfdc.prediction import add_model_arguments, predictor_from_args, score_videos
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
    add_model_arguments(parser)
    parser.add_argument('--resume', action='store_true', help='skip videos already in the output or its .partial')
    parser.add_argument('--profile', action='store_true', help='print the time spent per stage')
    parser.add_argument('--report', default=None, metavar='DIR',
                        help='write an HTML report of this run into DIR (from --details, by default DIR.jsonl)')
    parser.add_argument('--annotate', default=None, metavar='DIR',
                        help='write <video>.mp4 into DIR for each scored video: boxes coloured by probability')
    args = resolve_shard(parser.parse_args(argv))
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

    predictor = None
    if todo:
        predictor = predictor_from_args(config, args)
    start = time.perf_counter()
    scores, unscored, totals = score_videos(predictor, todo, partial, details,
                                            Path(args.annotate) if args.annotate else None)
    done.update(scores)
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
