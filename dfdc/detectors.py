"""Face detectors behind one interface: `detect(frames) -> [(boxes Nx4 x1,y1,x2,y2 pixels, scores N)]`.

`dsfd` is the published DSFD ResNet-152; `opencv` is OpenCV's frontal-face Haar cascade, for CPU-only users
and the synthetic data.
"""
from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any, Protocol, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from efficientnet.model import strip_module_prefix

from .cli import UserError
from .devices import autocast, check_precision, resolve_device

KEEP_THRESHOLD = 0.3
DSFD_TARGET_SIZE = 512
Detections = tuple[np.ndarray, np.ndarray]


class FaceDetector(Protocol):
    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        """Boxes (float32 N x 4, x1 y1 x2 y2 in frame pixels) and scores (float32 N) per BGR uint8 frame."""

    def prepare(self, frame: np.ndarray) -> Any:
        """What the detector keeps of a frame while a caller gathers a batch (smaller than the frame)."""

    def detect_prepared(self, prepared: Sequence[Any]) -> list[Detections]:
        """`detect` on frames already passed through `prepare`."""


def _downscale(frame: np.ndarray, max_side: int, interpolation: int) -> tuple[np.ndarray, float]:
    height, width = frame.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return frame, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(frame, size, interpolation=interpolation), width / size[0]


def _empty() -> Detections:
    return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A checkpoint's state dict on the CPU in FP32 (the published final weights are FP16)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f'weights file {path} does not exist; see external_data/README.md for where to get it')
    state = torch.load(path, map_location='cpu', weights_only=True)
    if isinstance(state, dict) and 'state_dict' in state and isinstance(state['state_dict'], dict):
        state = state['state_dict']
    state = strip_module_prefix(state)
    return {k: _batch_count(v) if k.endswith('num_batches_tracked') else v.float() if v.is_floating_point() else v
            for k, v in state.items()}


def _batch_count(value: torch.Tensor) -> torch.Tensor:
    """BatchNorm's batch counter as int64. The published copy_weights.py cast it to FP16 too, where 100,000
    overflows to inf; the count only matters with momentum None, which none of these models uses."""
    if not value.is_floating_point():
        return value
    return torch.tensor(int(value) if torch.isfinite(value).all() else 0, dtype=torch.int64)


@dataclasses.dataclass
class PreparedFrame:
    """A frame as the network sees it (mean subtracted, resized, unpadded) and what maps boxes back."""
    image: torch.Tensor | np.ndarray   # 3 x h x w float32 tensor ('rcnn') or h x w x 3 float32 array ('area')
    frame_size: tuple[int, int]        # height, width of the frame
    resized_size: tuple[int, int]      # height, width of `image`
    factor: float = 1.0                # 'area': the resize factor f


class DSFDDetector:
    """DSFD on batches of frames, with the two published input transforms.

    `resize='area'` (stage 1, `detect_faces_on_videos.py`): the frame scaled by `f = sqrt(512*512 / (H*W))` with
    OpenCV's area interpolation, minus the BGR mean, no padding; relative boxes times `(w_resized / f,
    h_resized / f)`, computed in float64 and stored as float32, as the published `detect_on_image`.
    `resize='rcnn'` (prediction, `predict.py`): torchvision's `GeneralizedRCNNTransform(512, 512, mean, std 1)` as
    the published predictor used it: the float frame minus the mean, bilinear `interpolate` with `512 / min side`
    (or `512 / max side` when that would exceed 512, output size floored), the batch zero-padded to a multiple of
    32; relative boxes times the UNPADDED resized width and height, then times `W / w_resized` in x and
    `H / h_resized` in y, in float32. (When a batch is padded, boxes shrink towards the origin: a published quirk
    the published weights were evaluated with.)
    `precision` is 'fp32' (the published computation), 'fp16' or 'bf16' (autocast, for speed). `channels_last`
    (default) stores weights and inputs NHWC: the same numbers up to float rounding. `backend` 'openvino' runs the
    network (`SSD.heads`, dynamic batch, height and width) with OpenVINO, converted on the first batch (or loaded
    from the cache in `cache_roots`), and decodes and suppresses its output with the same PyTorch code.
    """

    MEAN = (104.0, 117.0, 123.0)

    def __init__(self, weights: str | os.PathLike | None, device: str | torch.device | None = 'auto',
                 resize: str = 'area', batch_size: int = 16, keep_threshold: float = KEEP_THRESHOLD,
                 precision: str = 'fp32', channels_last: bool = True, backend: str = 'torch',
                 cache_roots: Sequence[Path] = ()):
        from dsfd import SSD
        resize = {'long': 'rcnn'}.get(resize, resize)  # 'long' (longer side 512) is the earlier name
        if resize not in ('area', 'rcnn'):
            raise ValueError(f'resize must be area or rcnn, got {resize}')
        self.device = device if isinstance(device, torch.device) else resolve_device(device)
        self.model = SSD()
        if weights is not None:
            self.model.load_state_dict(load_state_dict(weights), strict=True)
        self.weights, self.backend, self.cache_roots, self._runner = weights, backend, list(cache_roots), None
        if backend == 'openvino' and self.device.type != 'cpu':
            raise UserError('the OpenVINO backend runs on the CPU')
        self.model.eval().to(self.device)
        if channels_last and backend == 'torch':
            self.model.to(memory_format=torch.channels_last)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.precision = check_precision(precision)
        self.resize, self.batch_size, self.keep_threshold = resize, batch_size, keep_threshold
        self._mean_array = np.array(self.MEAN, np.float32)
        self._mean_tensor = torch.tensor(self.MEAN, dtype=torch.float32, device=self.device).view(3, 1, 1)

    def prepare(self, frame: np.ndarray) -> PreparedFrame:
        height, width = frame.shape[:2]
        if self.resize == 'area':
            factor = math.sqrt(DSFD_TARGET_SIZE * DSFD_TARGET_SIZE / (height * width))
            image = cv2.resize(frame, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
            image = image.astype(np.float32) - self._mean_array
            return PreparedFrame(image, (height, width), image.shape[:2], factor)
        scale = DSFD_TARGET_SIZE / min(height, width)
        if max(height, width) * scale > DSFD_TARGET_SIZE:
            scale = DSFD_TARGET_SIZE / max(height, width)
        tensor = torch.from_numpy(np.ascontiguousarray(frame)).to(self.device).permute(2, 0, 1).float()
        tensor = tensor - self._mean_tensor
        tensor = F.interpolate(tensor[None], scale_factor=scale, mode='bilinear', align_corners=False,
                               recompute_scale_factor=True)[0]
        return PreparedFrame(tensor, (height, width), tuple(tensor.shape[1:]))

    def _run(self, images: list[torch.Tensor]) -> np.ndarray:
        """Face rows [score, x1, y1, x2, y2] relative to the (padded) network input, per image."""
        pad = 32 if self.resize == 'rcnn' else 1
        height = -(-max(i.shape[1] for i in images) // pad) * pad
        width = -(-max(i.shape[2] for i in images) // pad) * pad
        batch = images[0].new_zeros((len(images), 3, height, width))
        for k, image in enumerate(images):
            batch[k, :, :image.shape[1], :image.shape[2]] = image
        if self.backend == 'openvino':
            loc, conf = self._openvino()(batch)
            with torch.inference_mode():
                output = self.model.detections(loc, conf, (height, width))
        else:
            with torch.inference_mode(), autocast(self.device, self.precision):
                output = self.model(batch.contiguous(memory_format=self.memory_format))
        return output[:, 1].float().cpu().numpy()

    def _openvino(self):
        """The network converted to OpenVINO (on first use, so that weights set after construction count)."""
        if self._runner is None:
            from dsfd import Heads
            from .backends import conversion_key, openvino_runner, state_dict_sha256
            from .models import sha256_file
            digest = sha256_file(Path(self.weights)) if self.weights is not None else state_dict_sha256(self.model)
            key = conversion_key(digest, {'name': 'dsfd-resnet152', 'output': 'heads'})
            self._runner = openvino_runner('dsfd-resnet152', key, lambda: (Heads(self.model), torch.zeros(
                1, 3, 288, 512)), self.cache_roots or _default_cache_roots(self.weights), self.precision)
        return self._runner

    def _boxes_to_frame(self, rows: np.ndarray, prepared: PreparedFrame) -> np.ndarray:
        height, width = prepared.frame_size
        resized_h, resized_w = prepared.resized_size
        if self.resize == 'area':
            scale = np.array([resized_w / prepared.factor, resized_h / prepared.factor] * 2)
            return (rows[:, 1:5].astype(np.float64) * scale).astype(np.float32)
        boxes = rows[:, 1:5] * np.array([resized_w, resized_h] * 2, np.float32)
        return boxes * np.array([width / resized_w, height / resized_h] * 2, np.float32)

    def detect_prepared(self, prepared: Sequence[PreparedFrame]) -> list[Detections]:
        results: list[Detections] = []
        for start in range(0, len(prepared), self.batch_size):
            chunk = prepared[start:start + self.batch_size]
            # Stage 1 never pads, so one network batch holds frames of one resized size only.
            groups: dict[tuple, list[int]] = {}
            for k, item in enumerate(chunk):
                groups.setdefault(item.resized_size if self.resize == 'area' else (), []).append(k)
            found: dict[int, Detections] = {}
            for indices in groups.values():
                images = [chunk[k].image for k in indices]
                if self.resize == 'area':
                    images = [torch.from_numpy(i).permute(2, 0, 1).to(self.device) for i in images]
                for k, rows in zip(indices, self._run(images)):
                    rows = rows[rows[:, 0] > self.keep_threshold]
                    found[k] = (self._boxes_to_frame(rows, chunk[k]), rows[:, 0].astype(np.float32))
            results.extend(found[k] for k in range(len(chunk)))
        return results

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        results: list[Detections] = []
        for start in range(0, len(frames), self.batch_size):
            results.extend(self.detect_prepared([self.prepare(f) for f in frames[start:start + self.batch_size]]))
        return results


class OpenCVDetector:
    """OpenCV's frontal-face Haar cascade. Score = sigmoid(level weight - 2), so strong faces score above 0.9."""

    MAX_SIDE = 640

    def __init__(self, min_neighbors: int = 3, scale_factor: float = 1.1, keep_threshold: float = KEEP_THRESHOLD):
        path = os.path.join(cv2.data.haarcascades, 'haarcascade_frontalface_default.xml')
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise UserError(f'cannot load the Haar cascade {path}; reinstall opencv-python-headless 4.x')
        self.min_neighbors, self.scale_factor, self.keep_threshold = min_neighbors, scale_factor, keep_threshold

    def prepare(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        return _downscale(frame, self.MAX_SIDE, cv2.INTER_AREA)

    def detect_prepared(self, prepared: Sequence[tuple[np.ndarray, float]]) -> list[Detections]:
        results = []
        for small, scale in prepared:
            boxes, scores = self.detect_one(small)
            results.append(((boxes * scale).astype(np.float32), scores))
        return results

    def detect_one(self, frame: np.ndarray) -> Detections:
        height, width = frame.shape[:2]
        scale = min(1.0, self.MAX_SIDE / max(height, width))
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        if scale < 1:
            gray = cv2.resize(gray, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        rects, _, weights = self.cascade.detectMultiScale3(gray, self.scale_factor, self.min_neighbors,
                                                           minSize=(24, 24), outputRejectLevels=True)
        if len(rects) == 0:
            return _empty()
        rects = np.asarray(rects, np.float32).reshape(-1, 4) / scale
        boxes = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1)
        scores = 1.0 / (1.0 + np.exp(-(np.asarray(weights, np.float32).reshape(-1) - 2.0)))
        keep = scores > self.keep_threshold
        boxes, scores = boxes[keep].astype(np.float32), scores[keep].astype(np.float32)
        # OpenCV gathers the cascade's candidates from several threads, so its output order varies from run to run;
        # the tracker starts tracks in detection order, so an unordered list would swap two faces' tracks. Strongest
        # first (as DSFD's), ties by position.
        order = np.lexsort((boxes[:, 0], boxes[:, 1], -scores))
        return boxes[order], scores[order]

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        return [self.detect_one(f) for f in frames]


def _default_cache_roots(weights: str | os.PathLike | None) -> list[Path]:
    from .backends import cache_roots
    return cache_roots(Path(weights).parent if weights is not None else None)


def build_detector(name: str, weights: str | os.PathLike | None = None, device: str | None = 'auto',
                   resize: str = 'area', batch_size: int = 16, precision: str = 'fp32',
                   channels_last: bool = True, backend: str = 'torch',
                   cache_roots: Sequence[Path] = ()) -> FaceDetector:
    if name == 'opencv':
        return OpenCVDetector()
    if name == 'dsfd':
        if weights is None:
            raise UserError('the dsfd detector needs --weights (external_data/WIDERFace_DSFD_RES152.pth)')
        return DSFDDetector(weights, device=device, resize=resize, batch_size=batch_size, precision=precision,
                            channels_last=channels_last, backend=backend, cache_roots=cache_roots)
    raise UserError(f'unknown detector {name!r}; use dsfd or opencv')
