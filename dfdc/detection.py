"""Stage 1: faces on every 6th frame of every training video, one `detections.pkl` per video."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
from tqdm import tqdm

from .cli import shard
from .config import Config
from .detectors import FaceDetector
from .fileio import atomic_pickle, ensure_dir, remove_stale_temporaries
from .video import VideoReadError, iter_frames

DETECTOR_STEP = 6
log = logging.getLogger('dfdc')


def training_videos(data_root: Path) -> list[str]:
    """Relative paths of every training video, sorted: the valid rows of `labels.csv` when the data root has
    one, else every `dfdc_train_part_N/name.mp4`."""
    from .metadata import read_labels_file, uses_labels_file
    if uses_labels_file(data_root):
        return sorted(read_labels_file(data_root)['video'])
    return sorted(p.relative_to(data_root).as_posix() for p in data_root.glob('dfdc_train_part_*/*.mp4')
                  if p.is_file())


def _batches(items: Iterable, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def detect_video(path: Path, detector: FaceDetector, step: int = DETECTOR_STEP,
                 batch_size: int = 16) -> list[dict[str, np.ndarray]]:
    """`[{'boxes': N x 4, 'scores': N}]` for frames 0, step, 2*step, ... decoded as a stream."""
    detections = []
    frames = (frame for _, frame in iter_frames(path, step=step))
    for batch in _batches(frames, batch_size):
        for boxes, scores in detector.detect(batch):
            detections.append({'boxes': boxes, 'scores': scores})
    return detections


def run_detection_stage(config: Config, detector: FaceDetector, part: int = 0, num_parts: int = 1,
                        batch_size: int = 16, progress: bool = True) -> dict[str, int]:
    """Detect faces on this shard's videos; existing outputs are skipped, bad videos get an empty list."""
    videos = shard(training_videos(config.DFDC_DATA_PATH), part, num_parts)
    ensure_dir(config.detections_root)
    remove_stale_temporaries(config.detections_root)
    counts = {'videos': len(videos), 'detected': 0, 'skipped': 0, 'failed': 0}
    for relpath in tqdm(videos, desc=f'detect faces (part {part + 1}/{num_parts})', unit='video',
                        disable=not progress):
        output = config.detections_path(relpath)
        if output.exists():
            counts['skipped'] += 1
            continue
        try:
            detections = detect_video(config.DFDC_DATA_PATH / relpath, detector, batch_size=batch_size)
            counts['detected'] += 1
        except VideoReadError as error:
            log.warning('%s: %s; writing an empty detection list', relpath, error)
            detections = []
            counts['failed'] += 1
        atomic_pickle(output, detections)
    return counts
