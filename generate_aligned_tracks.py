"""Stage 3: pair each real face track with the fake track of the same face.

    python generate_aligned_tracks.py --config config.yaml

Reads the labels (`metadata.json` files, or the data root's `labels.csv`) and `ARTIFACTS_PATH/tracks.pkl`, writes
`ARTIFACTS_PATH/aligned_tracks.pkl`, and `single_tracks.pkl` with the tracks of the videos trained on their own
(a `labels.csv` data set's fakes without an original and reals that are no fake's original).
"""
from __future__ import annotations

import sys

from dfdc.alignment import MIN_TRACK_LENGTH, align_tracks
from dfdc.cli import UserError, get_args_parser, run_main
from dfdc.config import load_config
from dfdc.fileio import atomic_pickle, load_pickle, remove_stale_temporaries
from dfdc.metadata import fake_to_real, read_dataset, single_videos, uses_labels_file


def main(argv=None) -> int:
    args = get_args_parser(__doc__.splitlines()[0]).parse_args(argv)
    config = load_config(args.config)
    config.require_exists('DFDC_DATA_PATH')
    if not config.tracks_path.is_file():
        raise UserError(f'{config.tracks_path} does not exist; run generate_tracks.py first')
    table = read_dataset(config.DFDC_DATA_PATH)
    mapping = fake_to_real(table)
    video_to_tracks = load_pickle(config.tracks_path)
    aligned = align_tracks(video_to_tracks, mapping)
    singles = single_videos(table) if uses_labels_file(config.DFDC_DATA_PATH) else {}
    single = [(video, label, track) for video, label in sorted(singles.items())
              for track in video_to_tracks.get(video, []) if len(track) >= MIN_TRACK_LENGTH]
    remove_stale_temporaries(config.ARTIFACTS_PATH, recursive=False)
    atomic_pickle(config.aligned_tracks_path, aligned)
    atomic_pickle(config.single_tracks_path, single)
    print(f'stage 3: {len(aligned)} aligned tracks from {len(set(r for r, _, _ in aligned))} real videos '
          f'and {len(mapping)} fakes -> {config.aligned_tracks_path}'
          + (f'; {len(single)} tracks of {len(singles)} single videos -> {config.single_tracks_path}'
             if singles else ''))
    return 0


if __name__ == '__main__':
    sys.exit(run_main(main))
