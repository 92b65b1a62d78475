"""Stage 4: cut a pixel-aligned 50-frame PNG face clip from each fake and its original.

    python extract_tracks_from_videos.py --config config.yaml [--part I --num_parts K]

Reads `ARTIFACTS_PATH/aligned_tracks.pkl` (and `single_tracks.pkl`), writes
`ARTIFACTS_PATH/tracks/<relpath>_<start>_<xmin>_<ymin>/`. `--part auto --num_parts auto` inside an array task, as
stage 1.
"""
from __future__ import annotations

import sys

from dfdc.cli import UserError, get_args_parser, resolve_shard, run_main
from dfdc.clips import run_extraction_stage
from dfdc.config import load_config
from dfdc.fileio import load_pickle


def main(argv=None) -> int:
    args = resolve_shard(get_args_parser(__doc__.splitlines()[0], sharded=True).parse_args(argv))
    config = load_config(args.config)
    config.require_exists('DFDC_DATA_PATH')
    if not config.aligned_tracks_path.is_file():
        raise UserError(f'{config.aligned_tracks_path} does not exist; run generate_aligned_tracks.py first')
    single = load_pickle(config.single_tracks_path) if config.single_tracks_path.is_file() else []
    counts = run_extraction_stage(config, load_pickle(config.aligned_tracks_path), args.part, args.num_parts,
                                  single_tracks=single)
    print(f'stage 4: {counts["aligned_tracks"]} aligned tracks in part {args.part + 1}/{args.num_parts}: '
          f'{counts["written"]} clip pairs written, {counts["exists"]} already done, '
          f'{counts["too_short"]} tracks too short, {counts["failed"]} skipped'
          + (f'; {counts["single_tracks"]} single tracks: {counts["single_written"]} clips written, '
             f'{counts["single_exists"]} already done, {counts["single_failed"]} skipped' if single else ''))
    return 0


if __name__ == '__main__':
    sys.exit(run_main(main))
