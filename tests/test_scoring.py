import math

import numpy as np
import pytest

from dfdc.scoring import sharpen, video_score


def by_hand(probs):
    numerator = denominator = 0.0
    for p in probs:
        d = p - 0.5
        sharpened = 0.5 if d == 0 else min(max(0.5 + math.copysign(abs(d) ** 0.65, d), 0.01), 0.99)
        weight = abs(d) + 1e-4
        numerator += sharpened * weight
        denominator += weight
    return numerator / denominator


@pytest.mark.parametrize('probs', [[0.9], [0.6], [0.2, 0.9], [0.5, 0.5], [0.5, 0.7], [0.01, 0.02, 0.99, 0.51],
                                   list(np.linspace(0, 1, 11))])
def test_video_score_matches_the_formula(probs):
    assert video_score(probs) == pytest.approx(by_hand(probs), abs=1e-12)


def test_known_values():
    assert video_score([]) == 0.5
    assert video_score([0.5, 0.5]) == 0.5
    assert video_score([0.9]) == pytest.approx(0.99)           # 0.5 + 0.4 ** 0.65 > 0.99, clipped
    assert video_score([0.6]) == pytest.approx(0.5 + 0.1 ** 0.65)
    assert video_score([0.0]) == pytest.approx(0.01)
    assert sharpen(np.array([0.5, 0.45])).tolist() == pytest.approx([0.5, 0.5 - 0.05 ** 0.65])


def test_confident_probabilities_dominate():
    assert video_score([0.99] + [0.45] * 5) > 0.6
