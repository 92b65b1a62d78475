import json
import math
import subprocess
import sys

import pytest

from dfdc.evaluation import compare_submissions, evaluate, log_loss, read_labels
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


def test_script_with_metadata_labels_and_plot(tmp_path):
    (tmp_path / 'sub.csv').write_text('filename,label\na.mp4,0.9\nb.mp4,0.3\n')
    (tmp_path / 'metadata.json').write_text(json.dumps({'a.mp4': {'label': 'FAKE'}, 'b.mp4': {'label': 'REAL'}}))
    assert read_labels(tmp_path / 'metadata.json') == {'a.mp4': 1, 'b.mp4': 0}
    result = subprocess.run([sys.executable, str(REPO / 'evaluate.py'), '--submission', str(tmp_path / 'sub.csv'),
                             '--labels', str(tmp_path / 'metadata.json'), '--plot', str(tmp_path / 'roc.png')],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert 'ROC AUC 1.0000' in result.stdout and f'log loss {-(math.log(0.9) + math.log(0.7)) / 2:.4f}' in result.stdout
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
