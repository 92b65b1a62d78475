"""Prediction: faces, tracks and the three-model ensemble on any video, in one streaming decoding pass.

The models (final weights, the ensemble, the backends) live in dfdc/models.py and dfdc/backends.py. The IoU
tracker runs online, detection frame by detection frame; each live track takes its face crops (already at
model input size) from a small ring buffer of recent frames as soon as its boxes are final, and the buffer lets
frames go once no live track needs them. Whole videos are never held in memory. Tracks that end up too short or
too weak are discarded with their crops, so the result equals tracking the whole video first.
"""
from __future__ import annotations

import base64
import dataclasses
import logging
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import cv2
import numpy as np

from .clips import crop_window
from .detectors import FaceDetector
from .models import WINDOW, Ensemble
from .scoring import DEFAULT_SCORE, PUBLISHED, ScoreTransform, video_score
from .tracking import (PREDICT_TRACKER_T_MIN, TRACKER_SIGMA_H, TRACKER_SIGMA_IOU, TRACKER_SIGMA_L,
                       OnlineIoUTracker, interpolate_track)
from .video import frame_events

log = logging.getLogger('dfdc')

DETECT_EVERY = 3            # run the detector on every 3rd kept frame
DETECTOR_BATCH_SIZE = 16
WINDOW_STRIDE = 14          # sequence model: 7 consecutive kept frames (WINDOW) starting every 14 entries
FRAME_STRIDE = 2            # frame models: every 2nd entry
CROP_MULTIPLIER = 1.5
THUMBNAILS_PER_TRACK = 4   # face thumbnails kept per track for --details and the report

# progress(stage, frames decoded so far, the container's frame count or 0): 'detect' while decoding, detecting and
# tracking, once per kept frame; 'classify' once, when the video's faces go to the classifiers.
Progress = Callable[[str, int, int], None]


@dataclasses.dataclass
class TrackResult:
    frames: list[int]                      # original frame numbers of the kept frames the track covers
    boxes: list[list[float]]               # interpolated box per kept frame, frame pixels
    probabilities: dict[str, list[tuple[int, float]]]  # model -> (frame number, probability)
    detected_frames: list[int] = dataclasses.field(default_factory=list)  # frames where the detector found it
    thumbnails: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # {'frame', 'jpeg' (base64)}


@dataclasses.dataclass
class VideoResult:
    path: str
    score: float
    reason: str | None
    frames_read: int
    tracks: list[TrackResult]
    timings: dict[str, float]
    info: dict[str, Any] = dataclasses.field(default_factory=dict)  # width, height, fps, step (kept every step-th)

    def to_json(self) -> dict[str, Any]:
        return {'video': self.path, 'score': self.score, 'reason': self.reason, 'frames_read': self.frames_read,
                **self.info, 'seconds': round(sum(self.timings.values()), 3),
                'tracks': [dataclasses.asdict(t) for t in self.tracks]}


@dataclasses.dataclass
class _TrackCrops:
    """The crops of one live track, taken as its boxes become final; entries are kept frames from `first`."""
    track: dict
    first: int
    frame_done: int = -1   # frame-model crops taken for entries up to here
    seq_done: int = -1     # sequence crops taken for entries up to here
    items: list = dataclasses.field(default_factory=list)   # (model, slot, entry, image)

    def needed_from(self) -> int:
        return self.first + min(self.frame_done, self.seq_done) + 1


class Predictor:
    """One decoding pass per video, in a thread that runs ahead into the next video while the models work.

    Kept frames wait in a small ring buffer only until every live track has taken its crops from them: with the
    detector run on each detection frame as it arrives (batch 1 on CPU), that is about 7 frames; on CUDA the
    detector takes batches of 16 detection frames, and the buffer holds the 48 kept frames they span.
    """

    def __init__(self, detector: FaceDetector, ensemble: Ensemble | None, detector_batch_size: int | None = None,
                 queue_frames: int = 4, transform: ScoreTransform = PUBLISHED, progress: Progress | None = None):
        self.detector, self.ensemble, self.transform = detector, ensemble, transform
        self.progress = progress
        device = getattr(detector, 'device', None)
        on_cuda = device is not None and getattr(device, 'type', '') == 'cuda'
        self.detector_batch_size = detector_batch_size or (DETECTOR_BATCH_SIZE if on_cuda else 1)
        self.queue_frames = queue_frames

    def predict_all(self, paths: Sequence[Path]) -> Iterator[VideoResult]:
        """Results in order of `paths`; decoding runs in a thread, ahead into the next video."""
        events = frame_events(paths, self.queue_frames)
        try:
            for path in paths:
                yield self._process(Path(path), events)
        finally:
            events.close()

    def predict_video(self, path: Path) -> VideoResult:
        return next(iter(self.predict_all([path])))

    # -- detection, online tracking, crops, classification -------------------------------------------------------
    def _process(self, path: Path, events: Iterator) -> VideoResult:
        timings = {'decode': 0.0, 'detect': 0.0, 'track': 0.0, 'crop': 0.0, 'classify': 0.0}
        frames_read = 0

        info: dict[str, Any] = {}

        def empty(reason: str) -> VideoResult:
            return VideoResult(str(path), DEFAULT_SCORE, reason, frames_read, [], timings, info)

        event = next(events)
        if event[0] == 'error':
            timings['decode'] = event[2]
            return empty(event[1])
        step = event[1]
        info.update(width=event[2].width, height=event[2].height, fps=event[2].fps, step=step)
        frame_total = max(event[2].frame_count, 0)
        progress = self.progress or (lambda stage, frames, total: None)
        progress('detect', 0, frame_total)
        tracker = OnlineIoUTracker(TRACKER_SIGMA_L, TRACKER_SIGMA_H, TRACKER_SIGMA_IOU, PREDICT_TRACKER_T_MIN)
        ring: dict[int, np.ndarray] = {}
        pending: list[tuple[int, np.ndarray, float]] = []
        states: dict[int, _TrackCrops] = {}
        any_face = [False]
        error = None
        while True:
            event = next(events)
            if event[0] == 'frame':
                _, kept, frame = event
                ring[kept] = frame
                progress('detect', kept * step + 1, frame_total)
                if kept % DETECT_EVERY == 0:
                    pending.append((kept, self.detector.prepare(frame)))
                    if len(pending) >= self.detector_batch_size:
                        self._detect(pending, tracker, states, ring, timings, any_face)
                        pending = []
            else:
                frames_read = event[1] if event[0] == 'end' else 0
                timings['decode'] = event[2]
                error = event[1] if event[0] == 'error' else None
                break
        if error is not None and not ring and not states:
            return empty(error)
        if pending:
            self._detect(pending, tracker, states, ring, timings, any_face)
        ring.clear()
        kept_tracks = tracker.finish()
        if not any_face[0]:
            return empty('no faces detected')
        if not kept_tracks:
            return empty(f'no face tracks of at least {PREDICT_TRACKER_T_MIN} detections')
        progress('classify', frames_read, frame_total)
        return self._classify(path, step, kept_tracks, states, frames_read, timings, info)

    def _detect(self, pending, tracker: OnlineIoUTracker, states: dict, ring: dict, timings: dict,
                any_face: list) -> None:
        start = time.perf_counter()
        results = self.detector.detect_prepared([prepared for _, prepared in pending])
        timings['detect'] += time.perf_counter() - start
        for (kept, _), (boxes, scores) in zip(pending, results):
            any_face[0] = any_face[0] or len(boxes) > 0
            start = time.perf_counter()
            tracker.update([{'bbox': tuple(float(v) for v in box), 'score': float(score)}
                            for box, score in zip(boxes, scores)])
            timings['track'] += time.perf_counter() - start
            start = time.perf_counter()
            for track in tracker.active:
                state = states.get(id(track))
                if state is None or state.track is not track:
                    state = states[id(track)] = _TrackCrops(track, kept)
                self._take_crops(state, ring)
            timings['crop'] += time.perf_counter() - start
            # Frames before this are needed only by live tracks that have not taken their crops yet.
            keep_from = min([kept + 1] + [states[id(track)].needed_from() for track in tracker.active])
            for index in [k for k in ring if k < keep_from]:
                del ring[index]
        live = {id(t) for t in tracker.active} | {id(t) for t in tracker.finished}
        for key in [k for k in states if k not in live]:
            del states[key]

    def _take_crops(self, state: _TrackCrops, ring: dict) -> None:
        boxes_detected = state.track['bboxes']
        last_entry = DETECT_EVERY * (len(boxes_detected) - 1)
        kept_frames = [state.first + DETECT_EVERY * i for i in range(len(boxes_detected))]
        _, boxes = interpolate_track(kept_frames, boxes_detected)
        for entry in range(state.frame_done + 1, last_entry + 1):
            if entry % FRAME_STRIDE == 0:
                i = entry // FRAME_STRIDE
                kind = 'large_crop' if i % 4 < 2 else 'random_erasing'
                if self._wanted(kind):
                    state.items.append((kind, i, entry, self._crop(ring[state.first + entry], boxes[entry], kind,
                                                                   flip=i % 2 == 0)))
        state.frame_done = last_entry
        if not self._wanted('sequence'):
            state.seq_done = last_entry
            return
        entry = state.seq_done + 1
        while entry <= last_entry:
            window, offset = divmod(entry, WINDOW_STRIDE)
            if offset >= WINDOW:
                entry = (window + 1) * WINDOW_STRIDE
                continue
            middle = window * WINDOW_STRIDE + WINDOW // 2
            if middle > last_entry:
                break
            state.items.append(('sequence', window, entry, self._crop(ring[state.first + entry], boxes[middle],
                                                                       'sequence', flip=window % 2 == 0)))
            entry += 1
        state.seq_done = entry - 1

    def _wanted(self, kind: str) -> bool:
        """Whether the ensemble has this model (validation during training runs one model alone)."""
        return self.ensemble is None or kind in self.ensemble.members

    def _crop(self, frame: np.ndarray, box: np.ndarray, kind: str, flip: bool) -> np.ndarray | None:
        """The model-size RGB input of one face: 1.5x crop, flipped (before the resize, pad and centre crop, as
        published: with an odd margin the centre crop of the flipped face is not the flipped centre crop)."""
        height, width = frame.shape[:2]
        x1, y1, x2, y2 = crop_window(box, width, height, CROP_MULTIPLIER)
        if x2 <= x1 or y2 <= y1:
            return None
        face = cv2.cvtColor(frame[y1:y2, x1:x2], cv2.COLOR_BGR2RGB)
        if flip:
            face = np.ascontiguousarray(face[:, ::-1])
        return self.ensemble.members[kind].pipeline.evaluate_geometry(face)

    def _classify(self, path: Path, step: int, kept_tracks: list[dict], states: dict, frames_read: int,
                  timings: dict, info: dict) -> VideoResult:
        start = time.perf_counter()
        results, batches = [], {'sequence': [], 'large_crop': [], 'random_erasing': []}
        for track_index, track in enumerate(kept_tracks):
            state = states[id(track)]
            detected = [state.first + DETECT_EVERY * i for i in range(len(track['bboxes']))]
            kept_frames, boxes = interpolate_track(detected, track['bboxes'])
            results.append(TrackResult([int(k) * step for k in kept_frames], np.round(boxes.astype(float), 2).tolist(),
                                       {'sequence': [], 'large_crop': [], 'random_erasing': []},
                                       [int(k) * step for k in detected], _thumbnails(state, step)))
            windows = defaultdict(list)
            for kind, slot, entry, image in state.items:
                if image is None:
                    continue
                if kind == 'sequence':
                    windows[slot].append((entry, image))
                else:
                    batches[kind].append((track_index, (state.first + entry) * step, image))
            # Only complete windows: the track may have ended before a window's seventh frame.
            for slot in sorted(windows):
                if len(windows[slot]) == WINDOW:
                    batches['sequence'].extend((track_index, (state.first + entry) * step, image)
                                               for entry, image in sorted(windows[slot], key=lambda x: x[0]))
        per_track: dict[tuple[int, str], list[np.ndarray]] = defaultdict(list)
        for kind, items in batches.items():
            if not items:
                continue
            probs = self.ensemble.probabilities(kind, np.stack([image for _, _, image in items]))
            for (track_index, frame_number, _), p in zip(items, probs):
                results[track_index].probabilities[kind].append((frame_number, round(float(p), 6)))
                per_track[track_index, kind].append(p)
        # The published order: every track's sequence probabilities, then per track its large-crop model's
        # and its random-erasing model's (the score's float32 sums depend on the order).
        order = [(t, 'sequence') for t in range(len(results))]
        order += [(t, kind) for t in range(len(results)) for kind in ('large_crop', 'random_erasing')]
        all_probs = np.array([p for key in order for p in per_track.get(key, [])], np.float32)
        timings['classify'] = time.perf_counter() - start
        return VideoResult(str(path), video_score(all_probs, self.transform), None, frames_read, results, timings,
                           info)


def _thumbnails(state: _TrackCrops, step: int, count: int = THUMBNAILS_PER_TRACK) -> list[dict[str, Any]]:
    """A few of the track's frame-model inputs (224 x 192, unflipped), spread over the track, as base64 JPEGs:
    what the models saw, kept from the single decoding pass."""
    unflipped = sorted((entry, image) for kind, slot, entry, image in state.items
                       if kind != 'sequence' and slot % 2 == 1 and image is not None)
    if not unflipped:
        return []
    picks = sorted(set(np.linspace(0, len(unflipped) - 1, min(count, len(unflipped))).round().astype(int)))
    thumbnails = []
    for index in picks:
        entry, image = unflipped[index]
        _, jpeg = cv2.imencode('.jpg', cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
        thumbnails.append({'frame': (state.first + entry) * step, 'jpeg': base64.b64encode(jpeg).decode('ascii')})
    return thumbnails


def find_videos(inputs: Iterable[str | Path]) -> list[Path]:
    """Video files named directly or found (recursively) in folders; sorted, without duplicates."""
    from .video import VIDEO_EXTENSIONS, list_videos
    found: dict[str, Path] = {}
    for item in inputs:
        item = Path(item)
        if item.is_dir():
            for path in list_videos(item):
                found[str(path.resolve())] = path
        elif item.exists() or item.suffix.lower() in VIDEO_EXTENSIONS:
            found[str(item.resolve())] = item
        else:
            log.warning('%s: no such file or folder; skipping it', item)
    return sorted(found.values(), key=lambda p: (p.name, str(p)))
