"""The published video score: sharpen each probability away from 0.5, then a confidence-weighted mean."""
from __future__ import annotations

from typing import Iterable

import numpy as np

SHARPEN_POWER = 0.65
CLIP = (0.01, 0.99)
WEIGHT_EPS = 1e-4
DEFAULT_SCORE = 0.5


def sharpen(probs: np.ndarray) -> np.ndarray:
    """`0.5 + sign(d) * |d| ** 0.65`, clipped to [0.01, 0.99], with d = p - 0.5; exactly 0.5 where d == 0."""
    d = np.asarray(probs, dtype=np.float64) - 0.5
    sharpened = np.clip(0.5 + np.sign(d) * np.abs(d) ** SHARPEN_POWER, *CLIP)
    return np.where(d == 0, 0.5, sharpened)


def video_score(probs: Iterable[float]) -> float:
    """Score of one video from all probabilities of all its tracks and models; 0.5 when there are none."""
    p = np.asarray(list(probs), dtype=np.float64)
    if p.size == 0:
        return DEFAULT_SCORE
    weights = np.abs(p - 0.5) + WEIGHT_EPS
    return float(np.sum(sharpen(p) * weights) / np.sum(weights))
