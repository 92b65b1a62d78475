import numpy as np
import pytest

from dfdc.scoring import sharpen, video_score


def published_video_score(track_probs):
    """The published predictor's score, written out: float32 probabilities, sharpened where they differ from
    0.5, weighted by their distance from 0.5, summed in float32 in the given order."""
    track_probs = np.array(track_probs, dtype=np.float32)
    delta = track_probs - 0.5
    sign = np.sign(delta)
    for where in (delta > 0, delta < 0):
        track_probs[where] = np.clip(0.5 + sign[where] * np.power(abs(delta[where]), 0.65), 0.01, 0.99)
    weights = np.power(abs(delta), 1.0) + 1e-4
    return float((track_probs * weights).sum() / weights.sum())


def test_video_score_is_the_published_float32_computation():
    rng = np.random.default_rng(0)
    for size in (1, 2, 7, 30, 77, 150, 1000):
        for _ in range(20):
            probs = rng.random(size).astype(np.float32)
            probs[rng.random(size) < 0.1] = 0.5
            assert video_score(probs) == published_video_score(probs)
            assert video_score(probs.tolist()) == published_video_score(probs)
    # The float32 sums are order dependent, so the predictor must keep the published order (see test_predict).
    probs = rng.random(1000).astype(np.float32)
    assert any(video_score(np.roll(probs, k)) != video_score(probs) for k in range(1, 20))


def test_known_values():
    assert video_score([]) == 0.5
    assert video_score([0.5, 0.5]) == 0.5
    assert video_score([0.9]) == pytest.approx(0.99)           # 0.5 + 0.4 ** 0.65 > 0.99, clipped
    assert video_score([0.6]) == pytest.approx(0.5 + 0.1 ** 0.65)
    assert video_score([0.0]) == pytest.approx(0.01)
    assert sharpen(np.array([0.5, 0.45])).tolist() == pytest.approx([0.5, 0.5 - 0.05 ** 0.65])


def test_confident_probabilities_dominate():
    assert video_score([0.99] + [0.45] * 5) > 0.6
