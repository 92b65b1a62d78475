"""The published video score: sharpen each probability away from 0.5, then a confidence-weighted mean.

Computed as the published predictor did, in float32 on the probabilities in its order (every track's sequence
model outputs, then per track the large-crop model's and the random-erasing model's), so the score matches to
the last bit the published arithmetic allows. `ScoreTransform` holds the transform's parameters: the published
ones by default, or those `calibrate.py` fitted to one's own labelled videos.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Iterable

import numpy as np

SHARPEN_POWER = 0.65
CLIP = (0.01, 0.99)
WEIGHT_EPS = 1e-4
DEFAULT_SCORE = 0.5


@dataclasses.dataclass(frozen=True)
class ScoreTransform:
    """`power`: the sharpening exponent (published 0.65); `weight_power`: the exponent of the confidence weight
    `|p - 0.5| ** weight_power + 1e-4` (published 1); `temperature`: the final score's logit is divided by it
    (published: none, 1)."""
    power: float = SHARPEN_POWER
    weight_power: float = 1.0
    temperature: float = 1.0

    @property
    def is_published(self) -> bool:
        return self == ScoreTransform()

    def describe(self) -> str:
        return (f'sharpening exponent {self.power:.3f}, confidence-weight exponent {self.weight_power:.3f}, '
                f'temperature {self.temperature:.3f}')

    @classmethod
    def load(cls, path: Path) -> 'ScoreTransform':
        values = json.loads(Path(path).read_text())
        return cls(float(values['power']), float(values['weight_power']), float(values['temperature']))


PUBLISHED = ScoreTransform()


def sharpen(probs: Iterable[float] | np.ndarray, power: float = SHARPEN_POWER) -> np.ndarray:
    """`0.5 + sign(d) * |d| ** power`, clipped to [0.01, 0.99], with d = p - 0.5, in float32; 0.5 where d == 0."""
    p = np.array(probs, dtype=np.float32)
    d = p - 0.5
    sharpened = np.clip(0.5 + np.sign(d) * np.power(np.abs(d), power), *CLIP)
    return np.where(d == 0, p, sharpened).astype(np.float32)


def temper(score: float | np.ndarray, temperature: float) -> float | np.ndarray:
    """The score with its logit divided by `temperature` (1: unchanged)."""
    if temperature == 1.0:
        return score
    clipped = np.clip(np.asarray(score, np.float64), 1e-7, 1 - 1e-7)
    logit = np.log(clipped) - np.log1p(-clipped)
    result = 1 / (1 + np.exp(-logit / temperature))
    return float(result) if np.ndim(result) == 0 else result


def video_score(probs: Iterable[float] | np.ndarray, transform: ScoreTransform = PUBLISHED) -> float:
    """Score of one video from all probabilities of all its tracks and models; 0.5 when there are none."""
    p = np.array(list(probs) if not isinstance(probs, np.ndarray) else probs, dtype=np.float32)
    if p.size == 0:
        return DEFAULT_SCORE
    distance = np.abs(p - 0.5)
    weights = (distance if transform.weight_power == 1.0 else np.power(distance, transform.weight_power)) + WEIGHT_EPS
    return temper(float((sharpen(p, transform.power) * weights).sum() / weights.sum()), transform.temperature)
