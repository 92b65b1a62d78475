"""Stage 3: pair each real face track with the fake track of the same face.

    python generate_aligned_tracks.py --config config.yaml

Reads `metadata.json` files and `ARTIFACTS_PATH/tracks.pkl`, writes `ARTIFACTS_PATH/aligned_tracks.pkl`.
"""
from __future__ import annotations

import sys

from dfdc.alignment import align_tracks
from dfdc.cli import UserError, get_args_parser, run_main
from dfdc.config import load_config
from dfdc.fileio import atomic_pickle, load_pickle, remove_stale_temporaries
from dfdc.metadata import fake_to_real, read_metadata


def main(argv=None) -> int:
    args = get_args_parser(__doc__.splitlines()[0]).parse_args(argv)
    config = load_config(args.config)
    config.require_exists('DFDC_DATA_PATH')
    if not config.tracks_path.is_file():
        raise UserError(f'{config.tracks_path} does not exist; run generate_tracks.py first')
    mapping = fake_to_real(read_metadata(config.DFDC_DATA_PATH))
    aligned = align_tracks(load_pickle(config.tracks_path), mapping)
    remove_stale_temporaries(config.ARTIFACTS_PATH, recursive=False)
    atomic_pickle(config.aligned_tracks_path, aligned)
    print(f'stage 3: {len(aligned)} aligned tracks from {len(set(r for r, _, _ in aligned))} real videos '
          f'and {len(mapping)} fakes -> {config.aligned_tracks_path}')
    return 0


if __name__ == '__main__':
    sys.exit(run_main(main))
