"""Stage 5: list each fake clip with the clip of its original that has the same start and crop.

    python generate_track_pairs.py --config config.yaml

Reads `ARTIFACTS_PATH/tracks/` and the metadata, writes `ARTIFACTS_PATH/track_pairs.txt` (`real_clip,fake_clip`).
"""
from __future__ import annotations

import sys

from dfdc.cli import get_args_parser, run_main
from dfdc.clips import make_track_pairs, write_track_pairs
from dfdc.config import load_config
from dfdc.metadata import fake_to_real, read_metadata


def main(argv=None) -> int:
    args = get_args_parser(__doc__.splitlines()[0]).parse_args(argv)
    config = load_config(args.config)
    config.require_exists('DFDC_DATA_PATH')
    pairs, incomplete = make_track_pairs(config.clips_root, fake_to_real(read_metadata(config.DFDC_DATA_PATH)))
    write_track_pairs(config.track_pairs_path, pairs)
    print(f'stage 5: {len(pairs)} track pairs ({incomplete} incomplete clips skipped) -> {config.track_pairs_path}')
    return 0


if __name__ == '__main__':
    sys.exit(run_main(main))
