"""Write a synthetic data set in the DFDC layout (the embedded default of the demo and the tests).

    python tools/make_synthetic_dfdc.py --out data/synthetic_dfdc
    python tools/make_synthetic_dfdc.py --out data/synthetic_new --layout labels --artefact blocky --val-videos 10

Writes `dfdc_train_part_N/*.mp4` with `metadata.json` (or, `--layout labels`, `videos/set_N/*.mp4` with one
`labels.csv` whose every 3rd real and its fakes have no pairing), `test_videos/*.mp4`, `test_labels.csv`
(1 = fake), optionally `val_videos/` with `val_labels.csv`, and `synthetic_faces.json` (true face boxes per frame).
`--artefact blocky` makes fakes of another kind than the default set's (hard-edged, pixel-blocky face swaps).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dfdc.cli import run_main  # noqa: E402
from dfdc.synthetic import ARTEFACTS, SyntheticSpec, make_dataset  # noqa: E402


def get_args_parser() -> argparse.ArgumentParser:
    defaults = SyntheticSpec()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--out', required=True, help='output root (becomes DFDC_DATA_PATH)')
    parser.add_argument('--parts', type=int, default=defaults.parts)
    parser.add_argument('--reals-per-part', type=int, default=defaults.reals_per_part)
    parser.add_argument('--fakes-per-real', type=int, default=defaults.fakes_per_real)
    parser.add_argument('--test-videos', type=int, default=defaults.test_videos)
    parser.add_argument('--size', default=f'{defaults.width}x{defaults.height}', help='WIDTHxHEIGHT')
    parser.add_argument('--seconds', type=float, default=defaults.seconds)
    parser.add_argument('--seed', type=int, default=defaults.seed)
    parser.add_argument('--artefact', choices=ARTEFACTS, default=defaults.artefact)
    parser.add_argument('--layout', choices=('dfdc', 'labels'), default=defaults.layout)
    parser.add_argument('--val-videos', type=int, default=defaults.val_videos)
    parser.add_argument('--workers', type=int, default=None, help='processes (default: all cores)')
    return parser


def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)
    try:
        width, height = (int(v) for v in args.size.lower().split('x'))
    except ValueError:
        raise SystemExit(f'error: --size must look like 640x360, got {args.size}')
    spec = SyntheticSpec(parts=args.parts, reals_per_part=args.reals_per_part, fakes_per_real=args.fakes_per_real,
                         test_videos=args.test_videos, width=width, height=height, seconds=args.seconds,
                         seed=args.seed, artefact=args.artefact, layout=args.layout, val_videos=args.val_videos)
    start = time.perf_counter()
    summary = make_dataset(args.out, spec, workers=args.workers)
    validation = f', {summary["val_videos"]} validation' if summary['val_videos'] else ''
    print(f'wrote {summary["train_videos"]} training{validation} and {summary["test_videos"]} test videos to '
          f'{summary["root"]} in {time.perf_counter() - start:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(run_main(main))
