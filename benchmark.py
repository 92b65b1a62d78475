"""Cross-dataset evaluation on the public deepfake benchmarks, read in their official layouts.

    python benchmark.py labels --dataset celeb-df-v2 --root DIR [--split test] --out labels.csv
    python benchmark.py run --config config.yaml --dataset celeb-df-v2=DIR --dataset ff++=DIR [--split test]
        --out RESULTS_DIR [--part I --num_parts K | --merge --num_parts K] [predict.py's model options]

Data sets: dfdc, dfdc-preview, ff++ (FaceForensics++, `--compression c23`), dfd (DeepFakeDetection in the FF++
tree), celeb-df-v2, deeperforensics (`--ff-root` for its real class), labels (a `filename,label[,split,method]`
CSV). `labels` writes `filename,label,split,method` (1 = fake). `run` scores each data set's split with the
predictor (resumable: run the same command again to continue), evaluates it at video and frame level (overall and
per method) and writes RESULTS_DIR/results.json, results.md, roc.png and a report per data set. With
`--num_parts K`, each `--part` only scores (`--part auto` inside an array task); `--merge` then evaluates the union.
See docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

from dfdc.benchmark import check_names, finish_dataset, labels_csv, merge, score_listing, write_results
from dfdc.cli import UserError, get_args_parser, resolve_shard, run_main
from dfdc.config import load_config
from dfdc.datasets import READERS, SPLITS, read_dataset
from dfdc.fileio import atomic_write_bytes, ensure_dir
from dfdc.prediction import add_model_arguments, predictor_from_args


def add_dataset_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--split', choices=SPLITS, default=None, help='one split (default: every video)')
    parser.add_argument('--compression', default='c23', choices=('raw', 'c0', 'c23', 'c40'),
                        help='FaceForensics++ / DFD / DeeperForensics reals: which compression folder')
    parser.add_argument('--splits', default=None, help='FaceForensics++: the folder of train/val/test.json '
                                                       '(default: ROOT/splits, ROOT or ROOT/FaceForensics++)')
    parser.add_argument('--ff-root', default=None, help='DeeperForensics: the FaceForensics++ root with its real '
                                                        'class (original_sequences/youtube)')
    parser.add_argument('--variant', default='end_to_end', help='DeeperForensics: manipulated_videos/<variant>')


def options(args: argparse.Namespace) -> dict:
    return {'compression': args.compression, 'splits_dir': Path(args.splits) if args.splits else None,
            'ff_root': Path(args.ff_root) if args.ff_root else None, 'variant': args.variant}


def dataset_spec(text: str) -> tuple[str, Path]:
    name, separator, root = text.partition('=')
    if not separator or name not in READERS or not root:
        raise argparse.ArgumentTypeError(f'expected NAME=DIR with NAME one of {", ".join(READERS)}, got {text!r}')
    return name, Path(root)


def labels_command(args: argparse.Namespace) -> int:
    listing = read_dataset(args.dataset, Path(args.root), args.split, **options(args))
    ensure_dir(Path(args.out).parent)
    atomic_write_bytes(Path(args.out), labels_csv(listing))
    fakes = sum(v.label for v in listing.videos)
    print(f'{args.dataset}: {len(listing.videos)} videos ({len(listing.videos) - fakes} real, {fakes} fake), '
          f'{len(listing.missing)} listed but missing -> {args.out}')
    return 0


def run_command(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    check_names(args.dataset)
    out = ensure_dir(Path(args.out))
    listings = [(name, read_dataset(name, root, args.split, **options(args))) for name, root in args.dataset]
    sharded = args.num_parts > 1 and not args.merge
    predictor = functools.cache(lambda: predictor_from_args(config, args))   # loaded once, and only if needed
    results = []
    for name, listing in listings:
        folder = ensure_dir(out / name)
        atomic_write_bytes(folder / 'labels.csv', labels_csv(listing))
        new = 0
        if args.merge:
            scores = merge(folder, args.num_parts)
        else:
            scores, new = score_listing(predictor, listing, folder, args.part, args.num_parts)
        print(f'{name}: {len(scores)} videos scored ({new} now, {len(scores) - new} before), '
              f'{len(listing.missing)} listed but missing')
        if not sharded:
            results.append(finish_dataset(listing, folder, scores))
    if sharded:
        print(f'part {args.part + 1}/{args.num_parts} done; when every part is, run the same command with --merge '
              f'--num_parts {args.num_parts}')
        return 0
    write_results(results, out, args.split)
    for result in results:
        video = result.get('video', {})
        print(f'{result["dataset"]}: {result.get("videos", 0)} videos, video AUC {video.get("roc_auc", float("nan")):.4f}'
              f', log loss {video.get("log_loss", float("nan")):.4f}, frame AUC '
              f'{result.get("frame", {}).get("roc_auc", float("nan")):.4f}')
    print(f'results -> {out / "results.md"}, {out / "results.json"}, {out / "roc.png"}')
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest='command', required=True)
    labels = commands.add_parser('labels', help='write a data set\'s labels as filename,label,split,method',
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    labels.add_argument('--dataset', required=True, choices=sorted(READERS))
    labels.add_argument('--root', required=True, help='the data set\'s root folder (labels: the CSV or its folder)')
    labels.add_argument('--out', required=True)
    add_dataset_options(labels)
    run = commands.add_parser('run', help='score and evaluate data sets', parents=[get_args_parser(sharded=True)],
                              add_help=False, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    run.add_argument('--dataset', type=dataset_spec, action='append', required=True, metavar='NAME=DIR',
                     help=f'a data set and its root (repeat for several); NAME: {", ".join(READERS)}')
    run.add_argument('--out', required=True, help='results folder')
    run.add_argument('--merge', action='store_true', help='evaluate the union of the --num_parts shards')
    add_dataset_options(run)
    add_model_arguments(run)
    args = parser.parse_args(argv)
    if args.command == 'labels':
        return labels_command(args)
    resolve_shard(args)
    if args.merge and args.num_parts < 2:
        raise UserError('--merge needs --num_parts K, the number of shards that were run')
    return run_command(args)


if __name__ == '__main__':
    sys.exit(run_main(main))
