"""Fitting the score transform to one's own labelled videos, by minimising their log loss.

The published transform (sharpening exponent 0.65, confidence weights `|p - 0.5| + 1e-4`) was tuned on DFDC. The
details of a predict.py run hold every per-frame probability of every video, so the video scores can be
recomputed for any transform: `fit_score_transform` finds the sharpening exponent, the confidence-weight exponent
and a temperature on the final score that give the lowest log loss on a held-out labelled set.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping, Sequence

import numpy as np

from .evaluation import log_loss
from .scoring import CLIP, DEFAULT_SCORE, PUBLISHED, WEIGHT_EPS, ScoreTransform

# Bounds keep a fit on a small, separable set from running off to a step function.
POWER_RANGE = (0.1, 2.0)
WEIGHT_POWER_RANGE = (0.0, 3.0)
TEMPERATURE_RANGE = (0.25, 10.0)
MODEL_ORDER = ('large_crop', 'random_erasing')


def record_probabilities(record: Mapping[str, Any]) -> np.ndarray | None:
    """A details record's probabilities in the predictor's order (every track's sequence model outputs, then per
    track the large-crop and the random-erasing model's); None for a video scored 0.5 without them."""
    if record.get('reason'):
        return None
    tracks = record.get('tracks') or []
    probs = [p for track in tracks for _, p in track['probabilities'].get('sequence', [])]
    probs += [p for track in tracks for kind in MODEL_ORDER for _, p in track['probabilities'].get(kind, [])]
    return np.array(probs, np.float32) if probs else None


@dataclasses.dataclass
class _Videos:
    """All videos' probabilities in one array, for scoring every video at once for each candidate transform."""
    probs: np.ndarray
    starts: np.ndarray
    labels: np.ndarray       # of the videos with probabilities
    fixed_labels: np.ndarray  # of the videos scored 0.5 whatever the transform

    def scores(self, transform: ScoreTransform) -> np.ndarray:
        d = self.probs - 0.5
        sharpened = np.where(d == 0, self.probs, np.clip(0.5 + np.sign(d) * np.abs(d) ** transform.power, *CLIP))
        weights = np.abs(d) ** transform.weight_power + WEIGHT_EPS
        scores = np.add.reduceat(sharpened * weights, self.starts) / np.add.reduceat(weights, self.starts)
        clipped = np.clip(scores, 1e-7, 1 - 1e-7)
        logit = (np.log(clipped) - np.log1p(-clipped)) / transform.temperature
        return 1 / (1 + np.exp(-logit))

    def log_loss(self, transform: ScoreTransform) -> float:
        scores = np.concatenate([self.scores(transform), np.full(len(self.fixed_labels), DEFAULT_SCORE)])
        return log_loss(np.concatenate([self.labels, self.fixed_labels]), scores)


def _videos(probabilities: Sequence[np.ndarray | None], labels: Sequence[int]) -> _Videos:
    scored = [(p, y) for p, y in zip(probabilities, labels) if p is not None and len(p)]
    if not scored:
        raise ValueError('no labelled video has probabilities to fit on')
    lengths = np.array([len(p) for p, _ in scored])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return _Videos(np.concatenate([p for p, _ in scored]).astype(np.float64), starts,
                   np.array([y for _, y in scored], np.float64),
                   np.array([y for p, y in zip(probabilities, labels) if p is None or not len(p)], np.float64))


def _from_vector(x: np.ndarray) -> ScoreTransform:
    return ScoreTransform(float(math.exp(x[0])), float(x[1]), float(math.exp(x[2])))


BOUNDS = [tuple(math.log(v) for v in POWER_RANGE), WEIGHT_POWER_RANGE, tuple(math.log(v) for v in TEMPERATURE_RANGE)]


def fit_score_transform(probabilities: Sequence[np.ndarray | None], labels: Sequence[int],
                        start: ScoreTransform = PUBLISHED) -> tuple[ScoreTransform, dict[str, float]]:
    """The transform of lowest log loss on these videos (bounded Nelder-Mead from `start` over the logarithms of
    the exponents and the temperature, within POWER_RANGE, WEIGHT_POWER_RANGE and TEMPERATURE_RANGE); returns it
    and the log losses before and after."""
    import itertools

    from scipy.optimize import minimize
    videos = _videos(probabilities, labels)

    def objective(x: np.ndarray) -> float:
        return videos.log_loss(_from_vector(x))

    # The loss has several valleys (the exponents and the temperature trade off): search from the start and from
    # the three best points of a coarse grid, and keep the lowest.
    grid = [np.array([math.log(p), w, math.log(t)]) for p, w, t in
            itertools.product((0.25, 0.65, 1.3), (0.5, 1.0, 2.0), (0.5, 1.0, 2.0))]
    starts = [np.array([math.log(start.power), start.weight_power, math.log(start.temperature)])]
    starts += sorted(grid, key=objective)[:3]
    results = [minimize(objective, x0, method='Nelder-Mead', bounds=BOUNDS,
                        options={'xatol': 1e-4, 'fatol': 1e-7, 'maxiter': 4000}) for x0 in starts]
    fitted = _from_vector(min(results, key=lambda r: r.fun).x)
    before, after = videos.log_loss(start), videos.log_loss(fitted)
    if after > before:  # never worse than where it started
        fitted, after = start, before
    return fitted, {'log_loss_before': before, 'log_loss_after': after,
                    'videos': len(videos.labels) + len(videos.fixed_labels)}
