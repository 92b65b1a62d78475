"""Training-loader benchmark: pairs/s with H.264 re-encoding of 50-frame clips, ours vs the published way.

    python bench/loader.py [--runs 5] [--size 300] [--json bench/results.jsonl]

Both use the same ffmpeg binary and parameters and give identical frames (tests/test_augment.py checks it).
published: per clip, one ffmpeg encodes the PNGs to an H.264 pipe and a second decodes it (4 processes a pair).
ours: one ffmpeg encodes both clips of the pair, one decodes both (2 processes a pair). Also reported: the whole
dataset item (re-encoding plus the frame pipeline) and reading the PNGs without re-encoding. One process, so the
ratios are per core. Target: at least 1.3x the published way.
"""
from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from common import report, stats


def make_clip(folder: Path, size: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.integers(0, 255, (size, size, 3), dtype=np.uint8), (0, 0), 3)
    folder.mkdir(parents=True)
    for i in range(50):
        frame = np.roll(base, i * 2, axis=1)
        cv2.imwrite(str(folder / f'{i}.png'), cv2.add(frame, rng.integers(0, 8, frame.shape, dtype=np.uint8)))
    np.zeros((8, 4), np.float32).tofile(folder / 'boxes.float32')


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--pairs', type=int, default=4, help='pairs per run')
    parser.add_argument('--size', type=int, default=300)
    parser.add_argument('--json', default=None)
    args = parser.parse_args(argv)
    from dfdc.augment import (build_pipeline, compress_clip_published, compress_clips, draw_compression_params)
    from dfdc.data import FRAME_MODEL_FRAMES, TrackPairDataset, read_rgb

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pairs = []
        for k in range(args.pairs):
            make_clip(root / 'p' / f'real{k}.mp4_0_0_0', args.size, 2 * k)
            make_clip(root / 'p' / f'fake{k}.mp4_0_0_0', args.size, 2 * k + 1)
            pairs.append((f'p/real{k}.mp4_0_0_0', f'p/fake{k}.mp4_0_0_0'))
        random.seed(0)
        params = [draw_compression_params(p=1.0) for _ in pairs]
        dataset = TrackPairDataset(root, pairs, FRAME_MODEL_FRAMES, build_pipeline('random_erasing'), compression_p=1.0)

        def published():
            for (real, fake), p in zip(pairs, params):
                for clip in (real, fake):
                    compress_clip_published(root / clip, p, args.size, args.size)

        def ours():
            for (real, fake), p in zip(pairs, params):
                compress_clips([root / real, root / fake], p, args.size, args.size)

        def full_item():
            for k in range(len(pairs)):
                dataset[(k, k)]

        def png_only():
            for real, fake in pairs:
                for clip in (real, fake):
                    [read_rgb(root / clip / f'{i}.png') for i in range(50)]

        variants = {'published (2 ffmpeg per clip)': published, 'ours (2 ffmpeg per pair)': ours,
                    'ours, whole item (own draws)': full_item, 'read 50 PNGs, no re-encoding': png_only}
        walls = {name: [] for name in variants}
        for _ in range(args.runs):
            for name, function in variants.items():
                start = time.perf_counter()
                function()
                walls[name].append((time.perf_counter() - start) / len(pairs))
    results = {name: {'wall_s': stats(values), 'pairs_per_s': len(pairs) and 1 / stats(values)['median']}
               for name, values in walls.items()}
    print('(wall_s is seconds per pair)')
    report('loader', results, 'published (2 ffmpeg per clip)', args.json, {'clip_size': args.size})
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
