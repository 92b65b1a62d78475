"""Fit the video score's transform to held-out labelled videos, and write it beside the weights.

    python calibrate.py --config config.yaml --details val_details.jsonl --labels val_labels.csv

`--details` is what `predict.py --details` wrote for the labelled videos (their per-frame probabilities);
`--labels` is a `filename,label` CSV (1 = fake) or a DFDC metadata.json. Fits, by minimising the log loss, the
sharpening exponent (published 0.65), the confidence-weight exponent (published 1) and a temperature on the final
score (published: none), and writes them to MODELS_PATH/calibration.json (`--output` elsewhere), which predict.py
then applies (`--no-calibration` to score as published). Fit on videos that are not the ones you report on.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from dfdc.calibration import fit_score_transform, record_probabilities
from dfdc.cli import UserError, get_args_parser, run_main
from dfdc.config import load_config
from dfdc.evaluation import read_labels
from dfdc.fileio import atomic_write_bytes
from dfdc.models import CALIBRATION_NAME
from dfdc.report import read_details


def main(argv=None) -> int:
    parser = get_args_parser(__doc__.splitlines()[0])
    parser.add_argument('--details', nargs='+', required=True, help='predict.py --details JSONL file(s)')
    parser.add_argument('--labels', required=True, help='filename,label CSV (1 = fake) or DFDC metadata.json')
    parser.add_argument('--output', default=None, help=f'default: MODELS_PATH/{CALIBRATION_NAME}')
    args = parser.parse_args(argv)
    for path in [*args.details, args.labels]:
        if not Path(path).is_file():
            raise UserError(f'{path} does not exist')
    output = Path(args.output) if args.output else load_config(args.config).MODELS_PATH / CALIBRATION_NAME
    labels = read_labels(Path(args.labels), basenames=True)
    records = {Path(r['video']).name: r for path in args.details for r in read_details(Path(path))}
    names = sorted(set(records) & set(labels))
    if len(names) < len(labels):
        print(f'note: {len(labels) - len(names)} labelled videos are not in the details; fitting on {len(names)}')
    if len({labels[n] for n in names}) < 2:
        raise UserError('fitting needs labelled real and fake videos in the details')
    try:
        transform, fit = fit_score_transform([record_probabilities(records[n]) for n in names],
                                             [labels[n] for n in names])
    except ValueError as error:
        raise UserError(str(error)) from None
    atomic_write_bytes(output, json.dumps({'power': transform.power, 'weight_power': transform.weight_power,
                                           'temperature': transform.temperature, **fit,
                                           'details': [str(p) for p in args.details], 'labels': args.labels},
                                          indent=1).encode())
    print(f'calibrate: {fit["videos"]} videos, log loss {fit["log_loss_before"]:.4f} (published transform) -> '
          f'{fit["log_loss_after"]:.4f} ({transform.describe()}) -> {output}')
    return 0


if __name__ == '__main__':
    sys.exit(run_main(main))
