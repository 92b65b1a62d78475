"""Stages 4 and 5: pixel-aligned 50-frame PNG face clips of each fake and its original, and their pairing."""
from __future__ import annotations

import dataclasses
import logging
import os
import random
import re
import shutil
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import cv2
import numpy as np
from tqdm import tqdm

from .alignment import AlignedTrack
from .cli import shard
from .config import Config
from .detection import DETECTOR_STEP
from .fileio import atomic_directory, atomic_write_bytes, ensure_dir, remove_stale_temporaries
from .video import VideoReadError, iter_frames, video_info

TRACK_LENGTH = 50
TRACK_ENTRIES = TRACK_LENGTH // DETECTOR_STEP  # 8 detected frames
BOX_MULTIPLIER = 1.5
EXTRACTION_SEED = 0xDEADFACE
SINGLE_SEED = EXTRACTION_SEED + 1   # the single videos' draws, apart from the published ones
CLIP_FOLDER = re.compile(r'^(?P<video>.+\.[A-Za-z0-9]+)_(?P<start>\d+)_(?P<xmin>\d+)_(?P<ymin>\d+)$')  # a.mp4_0_1_2
BOXES_FILE = 'boxes.float32'
log = logging.getLogger('dfdc')


@dataclasses.dataclass(frozen=True)
class ClipChoice:
    """The random draws for one aligned track: where the clip starts and whose middle box sets the crop."""
    start_idx: int
    use_real_box: bool


def draw_clip_choices(aligned_tracks: Sequence[tuple[str, str, AlignedTrack]],
                      seed: int = EXTRACTION_SEED) -> list[ClipChoice | None]:
    """The published draws, made for the whole list in order so that every shard sees the same ones:
    `random.randint(0, len - 8)`, then `random.choice([False, True])` (True: the real track's box).

    Tracks with fewer than 8 entries draw nothing and get None.
    """
    rng = random.Random(seed)
    choices: list[ClipChoice | None] = []
    for _, _, track in aligned_tracks:
        if len(track) < TRACK_ENTRIES:
            choices.append(None)
            continue
        start_idx = rng.randint(0, len(track) - TRACK_ENTRIES)
        choices.append(ClipChoice(start_idx, rng.choice([False, True])))
    return choices


def draw_single_choices(single_tracks: Sequence[tuple[str, int, Sequence]],
                        seed: int = SINGLE_SEED) -> list[int | None]:
    """The start of each single video's clip, `random.randint(0, len - 8)` in list order from its own seed (so
    the published draws of the pairs stay as they are); None for tracks shorter than 8 entries."""
    rng = random.Random(seed)
    return [rng.randint(0, len(track) - TRACK_ENTRIES) if len(track) >= TRACK_ENTRIES else None
            for _, _, track in single_tracks]


def crop_window(bbox: Sequence[float], width: int, height: int,
                multiplier: float = BOX_MULTIPLIER) -> tuple[int, int, int, int]:
    """The box scaled by `multiplier` about its centre and clipped to the frame, as integer pixels.

    The published arithmetic, operation for operation, since `int()` truncation turns the last bit into a pixel:
    the box's width and height are differences in the box's own precision (float32 in prediction, where boxes
    are interpolated float32 arrays; float64 in stage 4), everything after that in float64 (NumPy 1.x promoted
    a float32 scalar with a Python number to float64); the window's far edges are its near edges plus the width.
    """
    xmin, ymin, xmax, ymax = bbox
    box_width, box_height = float(xmax - xmin), float(ymax - ymin)
    x_center, y_center = float(xmin) + box_width / 2, float(ymin) + box_height / 2
    box_width, box_height = box_width * multiplier, box_height * multiplier
    left, top = x_center - box_width / 2, y_center - box_height / 2
    right, bottom = left + box_width, top + box_height
    return max(int(left), 0), max(int(top), 0), min(int(right), width), min(int(bottom), height)


def clip_name(relpath: str, start_frame: int, xmin: int, ymin: int) -> str:
    return f'{relpath}_{start_frame}_{xmin}_{ymin}'


def is_complete_clip(folder: Path, length: int = TRACK_LENGTH) -> bool:
    return (folder / BOXES_FILE).is_file() and all((folder / f'{i}.png').is_file() for i in range(length))


def _write_clip(video: Path, folder: Path, start_frame: int, window: tuple[int, int, int, int],
                boxes: np.ndarray) -> None:
    """Crop frames start_frame .. start_frame + 49 into `folder` as PNGs and write `boxes` (all boxes of this
    video's side of its track) minus the crop origin; raises _ShortClip when the video ends before."""
    xmin, ymin, xmax, ymax = window
    count = 0
    for index, frame in iter_frames(video, start=start_frame, stop=start_frame + TRACK_LENGTH):
        cv2.imwrite(str(folder / f'{index - start_frame}.png'), frame[ymin:ymax, xmin:xmax])
        count += 1
    if count < TRACK_LENGTH:
        raise _ShortClip(f'the clip runs past the end of {video.name} ({count} of {TRACK_LENGTH} frames from frame '
                         f'{start_frame})')
    shifted = np.asarray(boxes, np.float32).reshape(-1, 4) - np.array([xmin, ymin, xmin, ymin], np.float32)
    shifted.astype(np.float32).tofile(folder / BOXES_FILE)


def _remove_incomplete(folder: Path) -> None:
    if folder.exists() and not is_complete_clip(folder):
        log.warning('%s: incomplete clip folder from an earlier run; rewriting it', folder)
        shutil.rmtree(folder)


def extract_clip_pair(config: Config, real: str, fake: str, track: AlignedTrack, choice: ClipChoice) -> str:
    """Write the real and the fake clip of one aligned track; returns 'written', 'exists' or a skip reason."""
    start_frame = track[choice.start_idx][0] * DETECTOR_STEP
    _, real_box, fake_box = track[choice.start_idx + TRACK_ENTRIES // 2]
    data = config.DFDC_DATA_PATH
    info = video_info(data / real)
    window = crop_window(real_box if choice.use_real_box else fake_box, info.width, info.height)
    if window[2] <= window[0] or window[3] <= window[1]:
        return 'empty crop window'
    targets = {video: config.clips_root / clip_name(video, start_frame, window[0], window[1]) for video in (real, fake)}
    if all(is_complete_clip(folder) for folder in targets.values()):
        return 'exists'
    fake_info = video_info(data / fake)
    if (fake_info.width, fake_info.height) != (info.width, info.height):
        return f'frame size differs from the original ({fake_info.width}x{fake_info.height})'
    # Both clips are written to temporary folders first, so a pair is never left half-written by a failure.
    boxes = {real: [entry[1] for entry in track], fake: [entry[2] for entry in track]}
    for folder in targets.values():
        _remove_incomplete(folder)
    with atomic_directory(targets[real]) as real_tmp, atomic_directory(targets[fake]) as fake_tmp:
        for video, folder in ((real, real_tmp), (fake, fake_tmp)):
            if not is_complete_clip(targets[video]):
                _write_clip(data / video, folder, start_frame, window, boxes[video])
    return 'written'


def extract_single_clip(config: Config, video: str, track: Sequence[tuple[int, Sequence[float]]],
                        start_idx: int) -> str:
    """Write the clip of a video trained on its own: the same 50 frames and crop rule around its own track."""
    start_frame = track[start_idx][0] * DETECTOR_STEP
    _, middle_box = track[start_idx + TRACK_ENTRIES // 2]
    info = video_info(config.DFDC_DATA_PATH / video)
    window = crop_window(middle_box, info.width, info.height)
    if window[2] <= window[0] or window[3] <= window[1]:
        return 'empty crop window'
    target = config.clips_root / clip_name(video, start_frame, window[0], window[1])
    if is_complete_clip(target):
        return 'exists'
    _remove_incomplete(target)
    with atomic_directory(target) as temp:
        _write_clip(config.DFDC_DATA_PATH / video, temp, start_frame, window, [box for _, box in track])
    return 'written'


class _ShortClip(Exception):
    pass


def run_extraction_stage(config: Config, aligned_tracks: Sequence[tuple[str, str, AlignedTrack]], part: int = 0,
                         num_parts: int = 1, progress: bool = True,
                         single_tracks: Sequence[tuple[str, int, Sequence]] = ()) -> dict[str, int]:
    """Stage 4 on this shard of the aligned tracks, then of the single videos' tracks (draws made for each whole
    list, so shards agree)."""
    choices = draw_clip_choices(aligned_tracks)
    items = shard(list(zip(aligned_tracks, choices)), part, num_parts)
    ensure_dir(config.clips_root)
    for relative, _ in _clip_containers(config.clips_root):
        remove_stale_temporaries(config.clips_root / relative, recursive=False)
    counts = {'aligned_tracks': len(items), 'written': 0, 'exists': 0, 'too_short': 0, 'failed': 0}
    for (real, fake, track), choice in tqdm(items, desc=f'extract clips (part {part + 1}/{num_parts})',
                                             unit='pair', disable=not progress):
        if choice is None:
            counts['too_short'] += 1
            continue
        try:
            outcome = extract_clip_pair(config, real, fake, track, choice)
        except (VideoReadError, _ShortClip) as error:
            outcome = str(error)
        if outcome in ('written', 'exists'):
            counts[outcome] += 1
        else:
            counts['failed'] += 1
            log.warning('%s / %s: %s; skipping this pair', real, fake, outcome)
    singles = shard(list(zip(single_tracks, draw_single_choices(single_tracks))), part, num_parts)
    counts.update(single_tracks=len(singles), single_written=0, single_exists=0, single_failed=0)
    for (video, _, track), start_idx in tqdm(singles, desc=f'extract single clips (part {part + 1}/{num_parts})',
                                             unit='clip', disable=not progress or not singles):
        if start_idx is None:
            counts['too_short'] += 1
            continue
        try:
            outcome = extract_single_clip(config, video, track, start_idx)
        except (VideoReadError, _ShortClip) as error:
            outcome = str(error)
        if outcome in ('written', 'exists'):
            counts[f'single_{outcome}'] += 1
        else:
            counts['single_failed'] += 1
            log.warning('%s: %s; skipping this clip', video, outcome)
    return counts


def _clip_containers(clips_root: Path) -> Iterator[tuple[Path, list[str]]]:
    """`(folder relative to clips_root, its clip folders' names, sorted)` for `clips_root` and every folder below
    it that holds clips rather than being one (DFDC's `dfdc_train_part_N/`, or a `labels.csv` set's folders)."""
    for directory, folders, _ in os.walk(clips_root):
        folders[:] = sorted(f for f in folders if not f.startswith('.'))
        relative = Path(directory).relative_to(clips_root)
        clips = [f for f in folders if CLIP_FOLDER.match(f) and relative != Path('.')]
        folders[:] = [f for f in folders if f not in clips]  # a clip folder holds PNGs, not more clips
        yield relative, clips


def video_clips(clips_root: Path) -> dict[str, list[str]]:
    """Clip folders grouped by video relative path (the folder name minus its last three `_` fields), at any
    depth below `clips_root`."""
    groups: dict[str, list[str]] = {}
    for relative, clips in _clip_containers(clips_root):
        for folder in clips:
            video = (relative / CLIP_FOLDER.match(folder)['video']).as_posix()
            groups.setdefault(video, []).append((relative / folder).as_posix())
    return groups


def make_single_clips(clips_root: Path, singles: Mapping[str, int]) -> tuple[list[tuple[str, int]], int]:
    """`(clip, label)` for every complete clip of a video trained on its own; and the number of incomplete ones."""
    groups = video_clips(clips_root)
    clips, incomplete = [], 0
    for video in sorted(singles):
        for clip in groups.get(video, []):
            if is_complete_clip(clips_root / clip):
                clips.append((clip, singles[video]))
            else:
                incomplete += 1
                log.warning('%s: clip is incomplete (missing PNGs or boxes); leaving it out', clip)
    return clips, incomplete


def write_single_clips(path: Path, clips: Sequence[tuple[str, int]]) -> None:
    atomic_write_bytes(path, ''.join(f'{clip},{label}\n' for clip, label in clips).encode())


def read_single_clips(path: Path) -> list[tuple[str, int]]:
    """`(clip, label)` rows of stage 5's `single_clips.txt`; an empty list when there is none."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            clip, label = line.strip().rsplit(',', 1)
            rows.append((clip, int(label)))
    return rows


def make_track_pairs(clips_root: Path, fake_to_real: Mapping[str, str]) -> tuple[list[tuple[str, str]], int]:
    """`(real_clip, fake_clip)` per fake clip whose original has the clip with the same start and crop; both must
    be complete. Returns the pairs and the number of incomplete clips skipped."""
    groups = video_clips(clips_root)
    pairs, incomplete = [], 0
    for fake in sorted(fake_to_real):
        real = fake_to_real[fake]
        real_clips = set(groups.get(real, []))
        for fake_clip in groups.get(fake, []):
            real_clip = real + fake_clip[len(fake):]
            if real_clip not in real_clips:
                continue
            complete = [is_complete_clip(clips_root / c) for c in (real_clip, fake_clip)]
            if all(complete):
                pairs.append((real_clip, fake_clip))
            else:
                incomplete += 1
                log.warning('%s: clip is incomplete (missing PNGs or boxes); not pairing it',
                            real_clip if not complete[0] else fake_clip)
    return pairs, incomplete


def write_track_pairs(path: Path, pairs: Sequence[tuple[str, str]]) -> None:
    remove_stale_temporaries(path.parent, recursive=False)
    atomic_write_bytes(path, ''.join(f'{real},{fake}\n' for real, fake in pairs).encode())


def read_track_pairs(path: Path) -> list[tuple[str, str]]:
    pairs = []
    for line in path.read_text().splitlines():
        if line.strip():
            real, fake = line.strip().split(',')
            pairs.append((real, fake))
    return pairs
