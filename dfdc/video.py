"""Streaming video decoding with OpenCV: frames are yielded one at a time, never a whole video in memory."""
from __future__ import annotations

import dataclasses
import itertools
import os
import queue
import threading
import time
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np

VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.webm')
TARGET_FPS = 15  # prediction keeps every round(fps / 15)-th frame


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


def _decode_videos(paths: Sequence[Path], events: queue.Queue, stop: threading.Event) -> None:
    """Producer: per video ('start', step, info), ('frame', kept_index, frame)..., then ('end', frames, seconds) or
    ('error', reason, seconds); None after the last video."""
    def put(item) -> bool:
        while not stop.is_set():
            try:
                events.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    for path in paths:
        start = time.perf_counter()
        try:
            info = video_info(path)
            fps = int(info.fps)
            if fps <= 0:
                raise VideoReadError('the container reports no frame rate')
            step = max(1, round(fps / TARGET_FPS))
            if not put(('start', step, info)):
                return
            stats: dict = {}
            frames = iter_frames(path, step=step, stats=stats)
            decoding = time.perf_counter() - start  # time spent decoding, not waiting for the consumer
            for kept in itertools.count():
                start = time.perf_counter()
                item = next(frames, None)
                decoding += time.perf_counter() - start
                if item is None:
                    break
                if not put(('frame', kept, item[1])):
                    return
            put(('end', stats.get('frames', 0), decoding))
        except VideoReadError as error:
            put(('error', str(error), time.perf_counter() - start))
        except Exception as error:  # a decoder crash is one video's problem, not the run's
            put(('error', f'decoding failed: {type(error).__name__}: {error}', time.perf_counter() - start))
    put(None)


def frame_events(paths: Sequence[Path], queue_frames: int = 4) -> Iterator:
    """The predictor's frame source: kept frames (every round(fps / 15)-th) of each video, decoded in a thread
    that runs at most `queue_frames` frames ahead of the consumer."""
    events: queue.Queue = queue.Queue(maxsize=queue_frames)
    stop = threading.Event()
    thread = threading.Thread(target=_decode_videos, args=(list(paths), events, stop), daemon=True, name='decode')
    thread.start()
    try:
        while True:
            event = events.get()
            yield event
            if event is None:
                return
    finally:
        stop.set()
        thread.join(timeout=5)
