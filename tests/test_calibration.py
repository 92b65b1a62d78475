"""Fitting the score transform: known answers on synthetic probabilities, and predict.py applying the fit."""
import numpy as np
import pytest

from dfdc.calibration import fit_score_transform, record_probabilities
from dfdc.evaluation import log_loss
from dfdc.scoring import PUBLISHED, ScoreTransform, temper, video_score


def synthetic_videos(transform, count, seed):
    """Per-video probabilities, and labels drawn from the video scores that `transform` gives them."""
    rng = np.random.default_rng(seed)
    videos, labels = [], []
    for _ in range(count):
        centre = rng.uniform(0.2, 0.8)
        probs = np.clip(rng.normal(centre, 0.15, size=int(rng.integers(5, 30))), 0, 1).astype(np.float32)
        videos.append(probs)
        labels.append(int(rng.random() < video_score(probs, transform)))
    return videos, labels


def test_the_fit_finds_the_transform_the_labels_came_from():
    truth = ScoreTransform(power=0.4, weight_power=2.0, temperature=0.5)
    videos, labels = synthetic_videos(truth, 3000, seed=0)
    fitted, fit = fit_score_transform(videos, labels)
    true_loss = log_loss(np.array(labels), np.array([video_score(v, truth) for v in videos]))
    assert fit['log_loss_after'] <= true_loss + 0.002, 'at least as good as the truth on the fitting set'
    assert fit['log_loss_before'] > fit['log_loss_after'] + 0.01, 'better than the published transform'
    assert fitted.power == pytest.approx(0.4, abs=0.1) and fitted.temperature == pytest.approx(0.5, abs=0.15)
    # On new videos from the same source, the fit keeps its advantage.
    test_videos, test_labels = synthetic_videos(truth, 2000, seed=1)
    y = np.array(test_labels)
    assert (log_loss(y, np.array([video_score(v, fitted) for v in test_videos])) <
            log_loss(y, np.array([video_score(v, PUBLISHED) for v in test_videos])) - 0.01)


def test_labels_from_the_published_transform_keep_it_nearly_unchanged():
    videos, labels = synthetic_videos(PUBLISHED, 3000, seed=2)
    fitted, fit = fit_score_transform(videos, labels)
    assert fit['log_loss_before'] - fit['log_loss_after'] < 0.005
    assert fitted.temperature == pytest.approx(1.0, abs=0.25)


def test_unscored_videos_and_record_order():
    record = {'reason': None, 'tracks': [
        {'probabilities': {'sequence': [[0, 0.1], [2, 0.2]], 'large_crop': [[0, 0.3]], 'random_erasing': [[4, 0.4]]}},
        {'probabilities': {'sequence': [[0, 0.5]], 'large_crop': [[0, 0.6]], 'random_erasing': []}}]}
    assert record_probabilities(record).tolist() == pytest.approx([0.1, 0.2, 0.5, 0.3, 0.4, 0.6])
    assert record_probabilities({'reason': 'no faces detected', 'tracks': []}) is None
    assert temper(0.5, 3.0) == pytest.approx(0.5) and temper(0.9, 1.0) == 0.9
    assert temper(0.9, 2.0) == pytest.approx(1 / (1 + (0.1 / 0.9) ** 0.5))
