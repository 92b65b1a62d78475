"""Face detectors behind one interface: `detect(frames) -> [(boxes Nx4 x1,y1,x2,y2 pixels, scores N)]`.

`dsfd` is the published DSFD ResNet-152; `opencv` is OpenCV's frontal-face Haar cascade, for CPU-only users
and the synthetic data.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Protocol, Sequence

import cv2
import numpy as np
import torch

from efficientnet.model import strip_module_prefix

from .cli import UserError
from .devices import resolve_device

KEEP_THRESHOLD = 0.3
DSFD_TARGET_SIZE = 512
Detections = tuple[np.ndarray, np.ndarray]


class FaceDetector(Protocol):
    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        """Boxes (float32 N x 4, x1 y1 x2 y2 in frame pixels) and scores (float32 N) per BGR uint8 frame."""

    def downscale(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        """The frame reduced to the resolution the detector works at, and the factor back to frame pixels.

        Detecting on the reduced frame gives the same boxes (divided by the factor), so a caller can keep
        small frames instead of full ones while it gathers a batch."""


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
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


class DSFDDetector:
    """DSFD on batches of frames.

    `resize='area'` (stage 1): each frame scaled by `sqrt(512*512 / (H*W))` with area interpolation, no padding.
    `resize='long'` (prediction): longer side to 512 (bilinear), the batch zero-padded to a multiple of 32.
    """

    def __init__(self, weights: str | os.PathLike | None, device: str | torch.device | None = 'auto',
                 resize: str = 'area', batch_size: int = 16, keep_threshold: float = KEEP_THRESHOLD,
                 half: bool | None = None):
        from dsfd import SSD
        if resize not in ('area', 'long'):
            raise ValueError(f'resize must be area or long, got {resize}')
        self.device = device if isinstance(device, torch.device) else resolve_device(device)
        self.model = SSD()
        if weights is not None:
            self.model.load_state_dict(load_state_dict(weights), strict=True)
        self.model.eval().to(self.device)
        self.half = self.device.type == 'cuda' if half is None else half
        self.resize, self.batch_size, self.keep_threshold = resize, batch_size, keep_threshold
        self._mean = np.array((104, 117, 123), np.float32)

    def _prepare(self, frame: np.ndarray) -> tuple[np.ndarray, float, float]:
        height, width = frame.shape[:2]
        if self.resize == 'area':
            scale = math.sqrt(DSFD_TARGET_SIZE * DSFD_TARGET_SIZE / (height * width))
            image = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        else:
            scale = DSFD_TARGET_SIZE / max(height, width)
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            image = frame if size == (width, height) else cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)
        # Relative network coordinates map back through the resized (unpadded) size to the frame.
        return image.astype(np.float32) - self._mean, width / image.shape[1], height / image.shape[0]

    def downscale(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        if self.resize != 'long':
            return frame, 1.0
        return _downscale(frame, DSFD_TARGET_SIZE, cv2.INTER_LINEAR)

    @torch.no_grad()
    def _run(self, images: list[np.ndarray]) -> tuple[np.ndarray, tuple[int, int]]:
        pad = 32 if self.resize == 'long' else 1
        height = max(i.shape[0] for i in images)
        width = max(i.shape[1] for i in images)
        height, width = -(-height // pad) * pad, -(-width // pad) * pad
        batch = np.zeros((len(images), height, width, 3), np.float32)
        for k, image in enumerate(images):
            batch[k, :image.shape[0], :image.shape[1]] = image
        x = torch.from_numpy(batch).permute(0, 3, 1, 2).to(self.device)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.half):
            output = self.model(x)
        return output[:, 1].float().cpu().numpy(), (height, width)

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        results: list[Detections] = []
        for start in range(0, len(frames), self.batch_size):
            prepared = [self._prepare(f) for f in frames[start:start + self.batch_size]]
            # Stage 1 never pads, so a batch only holds frames of one resized size.
            groups: dict[tuple, list[int]] = {}
            for k, (image, _, _) in enumerate(prepared):
                groups.setdefault(image.shape if self.resize == 'area' else (), []).append(k)
            batch_results: dict[int, Detections] = {}
            for indices in groups.values():
                output, (in_h, in_w) = self._run([prepared[k][0] for k in indices])
                for row, k in zip(output, indices):
                    image, sx, sy = prepared[k]
                    keep = row[:, 0] > self.keep_threshold
                    row = row[keep]
                    boxes = row[:, 1:5] * np.array([in_w * sx, in_h * sy, in_w * sx, in_h * sy], np.float32)
                    batch_results[k] = (boxes.astype(np.float32), row[:, 0].astype(np.float32))
            results.extend(batch_results[k] for k in range(len(prepared)))
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

    def downscale(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        return _downscale(frame, self.MAX_SIDE, cv2.INTER_AREA)

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
        return boxes[keep].astype(np.float32), scores[keep].astype(np.float32)

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        return [self.detect_one(f) for f in frames]


def build_detector(name: str, weights: str | os.PathLike | None = None, device: str | None = 'auto',
                   resize: str = 'area', batch_size: int = 16) -> FaceDetector:
    if name == 'opencv':
        return OpenCVDetector()
    if name == 'dsfd':
        if weights is None:
            raise UserError('the dsfd detector needs --weights (external_data/WIDERFace_DSFD_RES152.pth)')
        return DSFDDetector(weights, device=device, resize=resize, batch_size=batch_size)
    raise UserError(f'unknown detector {name!r}; use dsfd or opencv')
