import json
import math
import subprocess
import sys

import pytest

import numpy as np

from dfdc.evaluation import compare_submissions, equal_error_rate, evaluate, frame_level, log_loss, read_labels
from tests.conftest import REPO


def test_log_loss_by_hand_and_clipping():
    assert log_loss([1, 0], [0.8, 0.4]) == pytest.approx(-(math.log(0.8) + math.log(0.6)) / 2)
    assert log_loss([1], [0.0]) == pytest.approx(-math.log(1e-15))


def test_metrics_by_hand():
    submission = {'a.mp4': 0.9, 'b.mp4': 0.2, 'c.mp4': 0.6, 'd.mp4': 0.4, 'extra.mp4': 0.5}
    labels = {'a.mp4': 1, 'b.mp4': 0, 'c.mp4': 0, 'd.mp4': 1, 'missing.mp4': 1}
    metrics = evaluate(submission, labels)
    assert metrics['videos'] == 4 and metrics['missing'] == 1
    expected = -(math.log(0.9) + math.log(0.8) + math.log(0.4) + math.log(0.4)) / 4
    assert metrics['log_loss'] == pytest.approx(expected)
    # Positives 0.9, 0.4; negatives 0.2, 0.6: 3 of 4 pairs ranked right.
    assert metrics['roc_auc'] == pytest.approx(0.75)
    assert metrics['accuracy'] == pytest.approx(0.5)
    assert metrics['mean_score_fake'] == pytest.approx(0.65) and metrics['mean_score_real'] == pytest.approx(0.4)
    # Ranked 0.9 (+), 0.6 (-), 0.4 (+), 0.2 (-): precision 1 at recall 1/2, 2/3 at recall 1.
    assert metrics['average_precision'] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    # ROC (FPR, TPR): (0, 0), (0, 1/2), (1/2, 1/2), (1/2, 1), (1, 1); FNR = FPR = 1/2 at the third point.
    assert metrics['eer'] == pytest.approx(0.5)


def brute_force_eer(labels, scores):
    """DeepfakeBench's EER written out: the FPR at the threshold where |FNR - FPR| is smallest."""
    best = None
    for threshold in [np.inf] + sorted(set(scores), reverse=True):
        predicted = scores >= threshold
        fpr = (predicted & (labels == 0)).sum() / (labels == 0).sum()
        fnr = (~predicted & (labels == 1)).sum() / (labels == 1).sum()
        if best is None or abs(fnr - fpr) < best[0]:
            best = (abs(fnr - fpr), fpr)
    return best[1]


@pytest.mark.parametrize('seed', range(5))
def test_eer_and_ap_agree_with_a_threshold_sweep_and_scikit_learn(seed):
    from sklearn.metrics import average_precision_score, roc_auc_score
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 60)
    scores = np.clip(rng.normal(0.35 + 0.3 * labels, 0.2), 0, 1)
    assert equal_error_rate(labels, scores) == pytest.approx(brute_force_eer(labels, scores))
    metrics = evaluate({str(k): s for k, s in enumerate(scores)}, {str(k): int(y) for k, y in enumerate(labels)})
    assert metrics['average_precision'] == pytest.approx(average_precision_score(labels, scores))
    assert metrics['roc_auc'] == pytest.approx(roc_auc_score(labels, scores))


def test_frame_level_labels_every_probability_with_its_video():
    from sklearn.metrics import roc_auc_score
    records = [
        {'video': '/x/fake.mp4', 'tracks': [{'probabilities': {'sequence': [[0, 0.9], [2, 0.7]],
                                                               'large_crop': [[0, 0.4]], 'random_erasing': []}},
                                            {'probabilities': {'sequence': [], 'large_crop': [[4, 0.8]],
                                                               'random_erasing': [[8, 0.6]]}}]},
        {'video': '/x/real.mp4', 'tracks': [{'probabilities': {'sequence': [[0, 0.3]], 'large_crop': [[0, 0.5]],
                                                               'random_erasing': [[2, 0.1]]}}]},
        {'video': '/x/noface.mp4', 'tracks': []},
        {'video': '/x/unlabelled.mp4', 'tracks': [{'probabilities': {'sequence': [[0, 0.99]]}}]}]
    labels = {'fake.mp4': 1, 'real.mp4': 0, 'noface.mp4': 1}
    metrics = frame_level(records, labels)
    y = [1] * 5 + [0] * 3
    p = [0.9, 0.7, 0.4, 0.8, 0.6, 0.3, 0.5, 0.1]
    assert metrics['frames'] == 8
    assert metrics['roc_auc'] == pytest.approx(roc_auc_score(y, p))
    assert metrics['eer'] == pytest.approx(brute_force_eer(np.array(y), np.array(p)))
    assert metrics['accuracy'] == pytest.approx(np.mean((np.array(p) > 0.5) == (np.array(y) == 1)))


def test_script_with_metadata_labels_and_plot(tmp_path):
    (tmp_path / 'sub.csv').write_text('filename,label\na.mp4,0.9\nb.mp4,0.3\n')
    (tmp_path / 'metadata.json').write_text(json.dumps({'a.mp4': {'label': 'FAKE'}, 'b.mp4': {'label': 'REAL'}}))
    assert read_labels(tmp_path / 'metadata.json') == {'a.mp4': 1, 'b.mp4': 0}
    details = [{'video': 'in/a.mp4', 'score': 0.9, 'tracks': [{'probabilities': {'sequence': [[0, 0.8], [2, 0.3]]}}]},
               {'video': 'in/b.mp4', 'score': 0.3, 'tracks': [{'probabilities': {'large_crop': [[0, 0.4]]}}]}]
    (tmp_path / 'details.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in details))
    result = subprocess.run([sys.executable, str(REPO / 'evaluate.py'), '--submission', str(tmp_path / 'sub.csv'),
                             '--labels', str(tmp_path / 'metadata.json'), '--plot', str(tmp_path / 'roc.png'),
                             '--details', str(tmp_path / 'details.jsonl')], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert 'ROC AUC 1.0000' in result.stdout and f'log loss {-(math.log(0.9) + math.log(0.7)) / 2:.4f}' in result.stdout
    assert 'EER 0.0000' in result.stdout and 'AP 1.0000' in result.stdout
    # Frames: fake 0.8 and 0.3 against real 0.4: one of the two pairs ranked right.
    assert 'frame level: frames 3  ROC AUC 0.5000' in result.stdout
    assert (tmp_path / 'roc.png').read_bytes()[:4] == b'\x89PNG'


def test_reference_compares_two_submissions(tmp_path):
    (tmp_path / 'a.csv').write_text('filename,label\na.mp4,0.9\nb.mp4,0.3\nc.mp4,0.5\n')
    (tmp_path / 'b.csv').write_text('filename,label\na.mp4,0.8\nb.mp4,0.35\nd.mp4,0.5\n')
    assert compare_submissions({'a': 0.9, 'b': 0.3}, {'a': 0.8, 'b': 0.35, 'c': 1.0}) == pytest.approx(
        {'videos': 2, 'max_abs_difference': 0.1, 'mean_abs_difference': 0.075})
    result = subprocess.run([sys.executable, str(REPO / 'evaluate.py'), '--submission', str(tmp_path / 'a.csv'),
                             '--reference', str(tmp_path / 'b.csv')], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert '2 videos, score difference max 1.00e-01 mean 7.50e-02' in result.stdout


def test_brier_score_and_calibration_error_by_hand():
    submission = {'a': 0.9, 'b': 0.8, 'c': 0.2, 'd': 0.15, 'e': 0.55}
    labels = {'a': 1, 'b': 0, 'c': 0, 'd': 0, 'e': 1}
    metrics = evaluate(submission, labels)
    assert metrics['brier'] == pytest.approx((0.01 + 0.64 + 0.04 + 0.0225 + 0.2025) / 5)
    # Bins: [0.1, 0.2) d; [0.2, 0.3) c; [0.5, 0.6) e; [0.8, 0.9) b; [0.9, 1.0] a.
    expected = (abs(0.15 - 0) + abs(0.2 - 0) + abs(0.55 - 1) + abs(0.8 - 0) + abs(0.9 - 1)) / 5
    assert metrics['ece'] == pytest.approx(expected)
