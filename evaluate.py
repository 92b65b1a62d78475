"""Score a submission: log loss, ROC AUC, EER, AP, accuracy at 0.5, Brier, ECE; frame-level AUC from --details.

    python evaluate.py --submission submission.csv --labels test_labels.csv [--details DETAILS.jsonl]
        [--plot roc.png] [--reference other.csv]

Video level: one score per video (the submission). Frame level (`--details`, predict.py's JSONL): every per-frame
probability of a labelled video (each face, each model), labelled with its video's label.

`--labels` is a `filename,label` CSV (1 = fake) or a DFDC `metadata.json`. `--reference` prints how far the scores
are from another submission's (say, `predict.py --precision bf16` against the FP32 default).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dfdc.cli import UserError, run_main
from dfdc.evaluation import compare_submissions, evaluate, frame_level, plot, read_labels, read_submission
from dfdc.report import read_details


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--submission', required=True)
    parser.add_argument('--labels', default=None)
    parser.add_argument('--reference', default=None, help='another submission to compare the scores with')
    parser.add_argument('--plot', default=None, help='PNG with the ROC curve, score histograms and reliability diagram')
    parser.add_argument('--details', default=None, help="predict.py's --details JSONL, for frame-level metrics")
    parser.add_argument('--json', default=None, help='write the metrics as JSON here')
    args = parser.parse_args(argv)
    if args.labels is None and args.reference is None:
        parser.error('give --labels, --reference or both')
    for path in (args.submission, args.labels, args.reference, args.details):
        if path is not None and not Path(path).is_file():
            raise UserError(f'{path} does not exist')
    if args.reference:
        try:
            difference = compare_submissions(read_submission(Path(args.submission)),
                                             read_submission(Path(args.reference)))
        except ValueError as error:
            raise UserError(f'cannot compare: {error}') from None
        print(f'against {args.reference}: {difference["videos"]} videos, score difference max '
              f'{difference["max_abs_difference"]:.2e} mean {difference["mean_abs_difference"]:.2e}')
    if args.labels is None:
        return 0
    labels = read_labels(Path(args.labels), basenames=True)
    try:
        metrics = evaluate(read_submission(Path(args.submission)), labels)
    except (ValueError, KeyError) as error:
        raise UserError(f'cannot evaluate: {error}') from None
    print(f'video level: videos {metrics["videos"]}  log loss {metrics["log_loss"]:.4f}  ROC AUC '
          f'{metrics["roc_auc"]:.4f}  EER {metrics["eer"]:.4f}  AP {metrics["average_precision"]:.4f}  accuracy '
          f'{metrics["accuracy"]:.4f}  mean score fake {metrics["mean_score_fake"]:.4f} real '
          f'{metrics["mean_score_real"]:.4f}  Brier {metrics["brier"]:.4f}  ECE {metrics["ece"]:.4f}')
    if args.details:
        frames = frame_level(read_details(Path(args.details)), labels)
        metrics['frame_level'] = frames
        print(f'frame level: frames {frames["frames"]}  ROC AUC {frames["roc_auc"]:.4f}  EER {frames["eer"]:.4f}  '
              f'AP {frames["average_precision"]:.4f}  accuracy {frames["accuracy"]:.4f}')
    if args.plot:
        plot(metrics, Path(args.plot))
        print(f'plot -> {args.plot}')
    if args.json:
        Path(args.json).write_text(json.dumps({k: v for k, v in metrics.items() if k not in ('labels', 'scores')}))
    return 0


if __name__ == '__main__':
    sys.exit(run_main(main))
