"""Stage 2: link each video's face detections into tracks with the IoU tracker.

    python generate_tracks.py --config config.yaml

Reads `ARTIFACTS_PATH/detections/**/detections.pkl`, writes `ARTIFACTS_PATH/tracks.pkl`.
"""
from __future__ import annotations

import logging
import pickle
import sys

from tqdm import tqdm

from dfdc.cli import UserError, get_args_parser, run_main
from dfdc.config import load_config
from dfdc.detection import training_videos
from dfdc.fileio import atomic_pickle, load_pickle, remove_stale_temporaries
from dfdc.tracking import video_tracks

log = logging.getLogger('dfdc')


def main(argv=None) -> int:
    args = get_args_parser(__doc__.splitlines()[0]).parse_args(argv)
    config = load_config(args.config)
    config.require_exists('DFDC_DATA_PATH', 'ARTIFACTS_PATH')
    videos = training_videos(config.DFDC_DATA_PATH)
    done = [v for v in videos if config.detections_path(v).is_file()]
    if not done:
        raise UserError(f'no detections under {config.detections_root}; run detect_faces_on_videos.py first')
    if len(done) < len(videos):
        log.warning('%d of %d videos have no detections yet (stage 1 not finished); tracking the others',
                    len(videos) - len(done), len(videos))
    video_to_tracks = {}
    for relpath in tqdm(done, desc='tracks', unit='video'):
        try:
            detections = load_pickle(config.detections_path(relpath))
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ValueError) as error:
            log.warning('%s: unreadable detections file (%s); delete it and re-run stage 1 for this video',
                        relpath, type(error).__name__)
            continue
        video_to_tracks[relpath] = video_tracks(detections)
    remove_stale_temporaries(config.ARTIFACTS_PATH, recursive=False)
    atomic_pickle(config.tracks_path, video_to_tracks)
    total = sum(len(t) for t in video_to_tracks.values())
    print(f'stage 2: {total} tracks in {len(video_to_tracks)} videos -> {config.tracks_path}')
    return 0


if __name__ == '__main__':
    sys.exit(run_main(main))
