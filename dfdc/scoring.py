"""The published video score: sharpen each probability away from 0.5, then a confidence-weighted mean.

Computed as the published predictor did, in float32 on the probabilities in its order (every track's sequence
model outputs, then per track the large-crop model's and the random-erasing model's), so the score matches to
the last bit the published arithmetic allows.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

SHARPEN_POWER = 0.65
CLIP = (0.01, 0.99)
WEIGHT_EPS = 1e-4
DEFAULT_SCORE = 0.5


def sharpen(probs: Iterable[float] | np.ndarray) -> np.ndarray:
    """`0.5 + sign(d) * |d| ** 0.65`, clipped to [0.01, 0.99], with d = p - 0.5, in float32; 0.5 where d == 0."""
    p = np.array(probs, dtype=np.float32)
    d = p - 0.5
    sharpened = np.clip(0.5 + np.sign(d) * np.power(np.abs(d), SHARPEN_POWER), *CLIP)
    return np.where(d == 0, p, sharpened).astype(np.float32)


def video_score(probs: Iterable[float] | np.ndarray) -> float:
    """Score of one video from all probabilities of all its tracks and models; 0.5 when there are none."""
    p = np.array(list(probs) if not isinstance(probs, np.ndarray) else probs, dtype=np.float32)
    if p.size == 0:
        return DEFAULT_SCORE
    weights = np.abs(p - 0.5) + WEIGHT_EPS
    return float((sharpen(p) * weights).sum() / weights.sum())
