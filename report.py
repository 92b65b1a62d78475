"""Write an HTML report of predict.py's details: scores, verdicts, face thumbnails and probability timelines.

    python report.py --details details.jsonl [--labels labels.csv] --out report/

Opens from disk in any browser (`report/index.html`), with no network access. `--details` takes several files
(the shards of a sharded run); `--labels` (a `filename,label` CSV, 1 = fake, or a DFDC metadata.json) adds the
true labels, log loss, ROC AUC and score histograms. An existing `--out` folder is replaced once the new report
is complete.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dfdc.cli import UserError, run_main
from dfdc.report import DEFAULT_THRESHOLD, report_from_files


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--details', nargs='+', required=True, help='predict.py --details JSONL file(s)')
    parser.add_argument('--labels', default=None, help='filename,label CSV (1 = fake) or DFDC metadata.json')
    parser.add_argument('--out', required=True, help='report folder to write')
    parser.add_argument('--threshold', type=float, default=DEFAULT_THRESHOLD,
                        help='score at or above which a video is called likely fake')
    args = parser.parse_args(argv)
    for path in [*args.details, args.labels]:
        if path is not None and not Path(path).is_file():
            raise UserError(f'{path} does not exist')
    out, count = report_from_files([Path(p) for p in args.details], Path(args.out),
                                   Path(args.labels) if args.labels else None, args.threshold)
    print(f'report: {count} videos -> {out / "index.html"}')
    return 0


if __name__ == '__main__':
    sys.exit(run_main(main))
