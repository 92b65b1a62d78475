"""Score a submission: log loss as Kaggle computes it, ROC AUC, accuracy at 0.5, mean score per class.

    python evaluate.py --submission submission.csv --labels test_labels.csv [--plot roc.png]

`--labels` is a `filename,label` CSV (1 = fake) or a DFDC `metadata.json`.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dfdc.cli import UserError, run_main
from dfdc.evaluation import evaluate, plot, read_labels, read_submission


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--submission', required=True)
    parser.add_argument('--labels', required=True)
    parser.add_argument('--plot', default=None, help='PNG with the ROC curve and score histograms')
    parser.add_argument('--json', default=None, help='write the metrics as JSON here')
    args = parser.parse_args(argv)
    for path in (args.submission, args.labels):
        if not Path(path).is_file():
            raise UserError(f'{path} does not exist')
    try:
        metrics = evaluate(read_submission(Path(args.submission)), read_labels(Path(args.labels)))
    except (ValueError, KeyError) as error:
        raise UserError(f'cannot evaluate: {error}') from None
    print(f'videos {metrics["videos"]}  log loss {metrics["log_loss"]:.4f}  ROC AUC {metrics["roc_auc"]:.4f}  '
          f'accuracy {metrics["accuracy"]:.4f}  mean score fake {metrics["mean_score_fake"]:.4f} '
          f'real {metrics["mean_score_real"]:.4f}')
    if args.plot:
        plot(metrics, Path(args.plot))
        print(f'plot -> {args.plot}')
    if args.json:
        Path(args.json).write_text(json.dumps({k: v for k, v in metrics.items() if k not in ('labels', 'scores')}))
    return 0


if __name__ == '__main__':
    sys.exit(run_main(main))
