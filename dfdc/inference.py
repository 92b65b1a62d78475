"""Prediction: faces, tracks and the three-model ensemble on any video, streamed in two decoding passes.

Pass 1 decodes the video once and keeps only the detector's reduced frames (every 3rd kept frame); tracks come
from those detections. Pass 2 decodes again up to the last frame a track needs and keeps only the face crops the
models need, already at model input size. Whole frames are never accumulated.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import cv2
import numpy as np
import torch

from efficientnet import create_model, model_spec_from_json

from .augment import FramePipeline, build_pipeline
from .clips import crop_window
from .detectors import FaceDetector, load_state_dict
from .scoring import DEFAULT_SCORE, video_score
from .tracking import (PREDICT_TRACKER_T_MIN, TRACKER_SIGMA_H, TRACKER_SIGMA_IOU, TRACKER_SIGMA_L,
                       interpolate_track, track_iou)
from .video import VideoReadError, iter_frames, video_info

log = logging.getLogger('dfdc')

TARGET_FPS = 15
DETECT_EVERY = 3            # run the detector on every 3rd kept frame
DETECTOR_BATCH_SIZE = 16
WINDOW = 7                  # sequence model: 7 consecutive kept frames ...
WINDOW_STRIDE = 14          # ... starting every 14 entries
FRAME_STRIDE = 2            # frame models: every 2nd entry
CROP_MULTIPLIER = 1.5
RUN_SUFFIX = '_v4_cad79a'
WEIGHTS_NAME = 'snapshot_100000.fp16.pth'
DETECTOR_WEIGHTS_NAME = 'WIDERFace_DSFD_RES152.fp16.pth'
# Run name, pipeline preset (shared with training), whether it is the sequence model.
ENSEMBLE = (
    ('efficientnet-b7_ns_seq_aa-original-mstd0.5_100k', 'sequence', True),
    ('efficientnet-b7_ns_aa-original-mstd0.5_large_crop_100k', 'large_crop', False),
    ('efficientnet-b7_ns_aa-original-mstd0.5_re_100k', 'random_erasing', False),
)


def weights_path(models_path: Path, run_name: str) -> Path:
    return models_path / f'{run_name}{RUN_SUFFIX}' / WEIGHTS_NAME


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def load_classifier(path: Path, sequence: bool) -> torch.nn.Module:
    """A final weights file in its architecture: from the JSON beside it, else the published B7."""
    spec_path = path.with_suffix('.json')
    spec = None
    if spec_path.is_file():
        spec = json.loads(spec_path.read_text())
        if spec.get('sha256') and spec['sha256'] != sha256_file(path):
            raise ValueError(f'{path} does not match the SHA-256 in {spec_path.name}; re-run copy_weights.py')
    kwargs = model_spec_from_json(spec)
    if spec is None and sequence:
        kwargs['sequence_length'] = WINDOW
    model = create_model(**kwargs)
    model.load_state_dict(load_state_dict(path), strict=True)
    return model.eval()


@dataclasses.dataclass
class EnsembleModel:
    name: str
    model: torch.nn.Module
    pipeline: FramePipeline
    sequence: bool


class Ensemble:
    """The three classifiers; CUDA with FP16 autocast when the device is CUDA, else FP32."""

    def __init__(self, models_path: Path, device: torch.device, batch_size: int = 32):
        self.device, self.batch_size = device, batch_size
        self.members = {}
        for run_name, preset, sequence in ENSEMBLE:
            path = weights_path(models_path, run_name)
            if not path.is_file():
                from .cli import UserError
                raise UserError(f'model weights {path} do not exist; run copy_weights.py or download the published '
                                'weights into MODELS_PATH')
            model = load_classifier(path, sequence).to(device)
            model.set_swish(memory_efficient=False)
            self.members[preset] = EnsembleModel(preset, model, build_pipeline(preset), sequence)

    @torch.no_grad()
    def probabilities(self, name: str, images: np.ndarray) -> np.ndarray:
        """Sigmoid outputs for N x H x W x 3 uint8 model-size RGB images (sequence: N a multiple of 7)."""
        member = self.members[name]
        step = self.batch_size - self.batch_size % WINDOW if member.sequence else self.batch_size
        step = max(step, WINDOW if member.sequence else 1)
        mean = torch.tensor([0.485, 0.456, 0.406], device=self.device).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225], device=self.device).view(1, 3, 1, 1)
        outputs = []
        for start in range(0, len(images), step):
            batch = torch.from_numpy(images[start:start + step]).to(self.device).permute(0, 3, 1, 2).float() / 255
            batch = (batch - mean) / std
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.device.type == 'cuda'):
                logits = member.model(batch)
            outputs.append(torch.sigmoid(logits.float()).squeeze(1).cpu().numpy())
        return np.concatenate(outputs) if outputs else np.zeros(0, np.float32)


@dataclasses.dataclass
class TrackResult:
    frames: list[int]                      # original frame numbers of the kept frames the track covers
    boxes: list[list[float]]               # interpolated box per kept frame, frame pixels
    probabilities: dict[str, list[tuple[int, float]]]  # model -> (frame number, probability)


@dataclasses.dataclass
class VideoResult:
    path: str
    score: float
    reason: str | None
    frames_read: int
    tracks: list[TrackResult]
    timings: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        return {'video': self.path, 'score': self.score, 'reason': self.reason, 'frames_read': self.frames_read,
                'tracks': [dataclasses.asdict(t) for t in self.tracks]}


@dataclasses.dataclass
class _Detected:
    """Pass 1 of one video: its geometry, and the detections on every 3rd kept frame."""
    path: Path
    step: int = 1
    frames_read: int = 0
    detection_frames: list[np.ndarray] = dataclasses.field(default_factory=list)
    scale: float = 1.0
    error: str | None = None
    decode_seconds: float = 0.0


@dataclasses.dataclass
class _CropRequest:
    kind: str          # 'sequence', 'large_crop' or 'random_erasing'
    track: int
    slot: int          # window index (sequence) or entry index (frame models)
    frame_number: int
    box: np.ndarray
    flip: bool


def plan_track_crops(track_id: int, entries: int) -> list[tuple[str, int, int, int, bool]]:
    """(model, slot, entry whose frame is cropped, entry whose box is used, flip) for one interpolated track.

    Sequence windows start at entries 0, 14, 28, ... while 7 entries remain (`track[:-6:14]`); window i uses the
    box of its middle entry for all 7 frames and is flipped when i is even. Frame models take every 2nd entry
    (`track[::2]`); the i-th of those is flipped when i is even and goes to the large-crop model when i % 4 < 2,
    else to the random-erasing model.
    """
    plan = []
    for window, start in enumerate(range(0, entries - (WINDOW - 1), WINDOW_STRIDE)):
        for offset in range(WINDOW):
            plan.append(('sequence', window, start + offset, start + WINDOW // 2, window % 2 == 0))
    for i, entry in enumerate(range(0, entries, FRAME_STRIDE)):
        plan.append(('large_crop' if i % 4 < 2 else 'random_erasing', i, entry, entry, i % 2 == 0))
    return plan


class Predictor:
    def __init__(self, detector: FaceDetector, ensemble: Ensemble):
        self.detector, self.ensemble = detector, ensemble
        self._prefetch = ThreadPoolExecutor(max_workers=1, thread_name_prefix='decode')

    # -- pass 1 ------------------------------------------------------------------------------------------------
    def _read_for_detection(self, path: Path) -> _Detected:
        start = time.perf_counter()
        result = _Detected(path)
        try:
            info = video_info(path)
            fps = int(info.fps)
            if fps <= 0:
                raise VideoReadError('the container reports no frame rate')
            result.step = max(1, round(fps / TARGET_FPS))
            kept, stats = 0, {}
            for _, frame in iter_frames(path, step=result.step, stats=stats):
                if kept % DETECT_EVERY == 0:
                    small, result.scale = self.detector.downscale(frame)
                    result.detection_frames.append(small)
                kept += 1
            result.frames_read = stats.get('frames', 0)
        except VideoReadError as error:
            result.error = str(error)
        result.decode_seconds = time.perf_counter() - start
        return result

    def predict_all(self, paths: Sequence[Path]) -> Iterator[VideoResult]:
        """Results in order; decoding of the next video runs while the models work on the current one."""
        pending: Future | None = None
        for k, path in enumerate(paths):
            current = pending.result() if pending is not None else self._read_for_detection(path)
            pending = self._prefetch.submit(self._read_for_detection, paths[k + 1]) if k + 1 < len(paths) else None
            yield self._finish(current)

    def predict_video(self, path: Path) -> VideoResult:
        return self._finish(self._read_for_detection(path))

    # -- detection, tracking, pass 2, classification -----------------------------------------------------------
    def _finish(self, detected: _Detected) -> VideoResult:
        timings = {'decode': detected.decode_seconds, 'detect': 0.0, 'track': 0.0, 'crop': 0.0, 'classify': 0.0}
        path = str(detected.path)

        def empty(reason: str) -> VideoResult:
            return VideoResult(path, DEFAULT_SCORE, reason, detected.frames_read, [], timings)

        if detected.error is not None:
            return empty(detected.error)
        start = time.perf_counter()
        detections = []
        for i in range(0, len(detected.detection_frames), DETECTOR_BATCH_SIZE):
            batch = detected.detection_frames[i:i + DETECTOR_BATCH_SIZE]
            for boxes, scores in self.detector.detect(batch):
                detections.append([{'bbox': tuple(float(v) for v in box * detected.scale), 'score': float(score)}
                                   for box, score in zip(boxes, scores)])
        detected.detection_frames.clear()
        timings['detect'] = time.perf_counter() - start
        if not any(detections):
            return empty('no faces detected')

        start = time.perf_counter()
        tracks = track_iou(detections, TRACKER_SIGMA_L, TRACKER_SIGMA_H, TRACKER_SIGMA_IOU, PREDICT_TRACKER_T_MIN)
        interpolated = []
        for track in tracks:
            first = (track['start_frame'] - 1) * DETECT_EVERY
            kept = [first + DETECT_EVERY * i for i in range(len(track['bboxes']))]
            interpolated.append(interpolate_track(kept, track['bboxes']))
        timings['track'] = time.perf_counter() - start
        if not interpolated:
            return empty(f'no face tracks of at least {PREDICT_TRACKER_T_MIN} detections')

        start = time.perf_counter()
        requests: dict[int, list[_CropRequest]] = defaultdict(list)
        for track_id, (kept_frames, boxes) in enumerate(interpolated):
            for kind, slot, entry, box_entry, flip in plan_track_crops(track_id, len(kept_frames)):
                kept = int(kept_frames[entry])
                requests[kept * detected.step].append(
                    _CropRequest(kind, track_id, slot, kept * detected.step, boxes[box_entry], flip))
        crops = self._crop(detected.path, requests)
        timings['crop'] = time.perf_counter() - start

        start = time.perf_counter()
        results = [TrackResult([int(k) * detected.step for k in kept_frames],
                               np.round(boxes.astype(float), 2).tolist(),
                               {'sequence': [], 'large_crop': [], 'random_erasing': []})
                   for kept_frames, boxes in interpolated]
        all_probs = []
        for kind in ('sequence', 'large_crop', 'random_erasing'):
            items = crops[kind]
            if not items:
                continue
            if kind == 'sequence':
                # Only complete windows: a window whose frames could not all be decoded is dropped.
                windows = defaultdict(list)
                for request, image in items:
                    windows[(request.track, request.slot)].append((request, image))
                items = [item for key in sorted(windows) if len(windows[key]) == WINDOW
                         for item in sorted(windows[key], key=lambda x: x[0].frame_number)]
                if not items:
                    continue
            images = np.stack([image for _, image in items])
            probs = self.ensemble.probabilities(kind, images)
            for (request, _), p in zip(items, probs):
                results[request.track].probabilities[kind].append((request.frame_number, round(float(p), 6)))
            all_probs.extend(probs.tolist())
        timings['classify'] = time.perf_counter() - start
        return VideoResult(path, video_score(all_probs), None, detected.frames_read, results, timings)

    def _crop(self, path: Path, requests: dict[int, list[_CropRequest]]) -> dict[str, list]:
        """Pass 2: decode up to the last requested frame and keep each request's crop at model input size."""
        crops: dict[str, list] = {'sequence': [], 'large_crop': [], 'random_erasing': []}
        last = max(requests)
        wanted = sorted(requests)
        step = np.gcd.reduce(np.array(wanted)) if len(wanted) > 1 else max(wanted[0], 1)
        try:
            for index, frame in iter_frames(path, step=int(step) or 1, stop=last + 1):
                if index not in requests:
                    continue
                height, width = frame.shape[:2]
                for request in requests[index]:
                    x1, y1, x2, y2 = crop_window(request.box, width, height, CROP_MULTIPLIER)
                    if x2 <= x1 or y2 <= y1:
                        continue
                    face = cv2.cvtColor(frame[y1:y2, x1:x2], cv2.COLOR_BGR2RGB)
                    image = self.ensemble.members[request.kind].pipeline.evaluate_geometry(face)
                    if request.flip:
                        image = np.ascontiguousarray(image[:, ::-1])
                    crops[request.kind].append((request, image))
        except VideoReadError:
            pass
        return crops


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
