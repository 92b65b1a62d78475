"""Stage 5: list each fake clip with the clip of its original that has the same start and crop.

    python generate_track_pairs.py --config config.yaml

Reads `ARTIFACTS_PATH/tracks/` and the labels, writes `ARTIFACTS_PATH/track_pairs.txt` (`real_clip,fake_clip`) and
`single_clips.txt` (`clip,label`, 1 = fake) for the videos trained on their own (`labels.csv` data).
"""
from __future__ import annotations

import sys

from dfdc.cli import get_args_parser, run_main
from dfdc.clips import make_single_clips, make_track_pairs, write_single_clips, write_track_pairs
from dfdc.config import load_config
from dfdc.metadata import fake_to_real, read_dataset, single_videos, uses_labels_file


def main(argv=None) -> int:
    args = get_args_parser(__doc__.splitlines()[0]).parse_args(argv)
    config = load_config(args.config)
    config.require_exists('DFDC_DATA_PATH')
    table = read_dataset(config.DFDC_DATA_PATH)
    pairs, incomplete = make_track_pairs(config.clips_root, fake_to_real(table))
    write_track_pairs(config.track_pairs_path, pairs)
    print(f'stage 5: {len(pairs)} track pairs ({incomplete} incomplete clips skipped) -> {config.track_pairs_path}')
    if uses_labels_file(config.DFDC_DATA_PATH):
        clips, incomplete = make_single_clips(config.clips_root, single_videos(table))
        write_single_clips(config.single_clips_path, clips)
        print(f'stage 5: {len(clips)} single clips, {sum(label for _, label in clips)} of them fake '
              f'({incomplete} incomplete skipped) -> {config.single_clips_path}')
    return 0


if __name__ == '__main__':
    sys.exit(run_main(main))
