"""Streaming video decoding with OpenCV: frames are yielded one at a time, never a whole video in memory."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.webm')


class VideoReadError(Exception):
    """A video that cannot be used; the message is the reason, recorded and shown in a warning."""


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    frame_count: int


def open_capture(path: str | os.PathLike) -> cv2.VideoCapture:
    path = Path(path)
    if not path.is_file():
        raise VideoReadError('file does not exist')
    if path.stat().st_size == 0:
        raise VideoReadError('file is empty')
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise VideoReadError('cannot open as a video')
    return capture


def video_info(path: str | os.PathLike) -> VideoInfo:
    capture = open_capture(path)
    try:
        return VideoInfo(width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                         height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                         fps=float(capture.get(cv2.CAP_PROP_FPS) or 0.0),
                         frame_count=int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
    finally:
        capture.release()


def iter_frames(path: str | os.PathLike, step: int = 1, stop: int | None = None, start: int = 0,
                stats: dict | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield `(index, BGR frame)` for every frame with `index % step == 0` in `[start, stop)`.

    Frames in between are only grabbed (decoded, not converted), and decoding ends at `stop`, so asking for
    the first 50 frames of a long video costs 50 frames. The container's frame count is not trusted:
    decoding goes on until the stream ends. Raises VideoReadError if no frame at all can be decoded.
    `stats['frames']`, if given, counts the frames decoded so far.
    """
    if step < 1:
        raise ValueError(f'step must be >= 1, got {step}')
    capture = open_capture(path)
    index = 0
    try:
        while stop is None or index < stop:
            if not capture.grab():
                break
            if index >= start and index % step == 0:
                ok, frame = capture.retrieve()
                if not ok or frame is None:
                    break
                yield index, frame
            index += 1
            if stats is not None:
                stats['frames'] = index
    finally:
        capture.release()
    if index == 0:
        raise VideoReadError('no decodable frames')


def list_videos(root: str | os.PathLike, pattern: str = '**/*') -> list[Path]:
    """All video files under `root` matching the glob `pattern`, sorted by their path relative to `root`."""
    root = Path(root)
    return sorted((p for p in root.glob(pattern) if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS),
                  key=lambda p: p.relative_to(root).as_posix())
