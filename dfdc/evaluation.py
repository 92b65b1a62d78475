"""Metrics of a submission against labels: Kaggle's log loss, ROC AUC, accuracy, per-class mean score."""
from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path

import numpy as np

log = logging.getLogger('dfdc')
EPS = 1e-15


def read_labels(path: Path) -> dict[str, int]:
    """`filename,label` CSV (1 = fake) or a DFDC `metadata.json` (FAKE / REAL)."""
    text = path.read_text()
    if path.suffix == '.json':
        return {name: int(entry['label'] == 'FAKE') for name, entry in json.loads(text).items()}
    return {row['filename']: int(float(row['label'])) for row in csv.DictReader(io.StringIO(text))}


def read_submission(path: Path, skip_incomplete: bool = False) -> dict[str, float]:
    """`filename,label` rows. `skip_incomplete`: a missing file is empty and rows without both fields (the last
    line of a `.partial` file cut by a kill) are left out, for resuming; otherwise they are errors."""
    if skip_incomplete and not path.is_file():
        return {}
    rows = csv.DictReader(io.StringIO(path.read_text()))
    if skip_incomplete:
        return {row['filename']: float(row['label']) for row in rows if row.get('filename') and row.get('label')}
    return {row['filename']: float(row['label']) for row in rows}


def compare_submissions(submission: dict[str, float], reference: dict[str, float]) -> dict[str, float]:
    """Absolute score differences over the videos both submissions score."""
    common = sorted(set(submission) & set(reference))
    if not common:
        raise ValueError('the two submissions share no video')
    differences = np.abs(np.array([submission[name] - reference[name] for name in common]))
    return {'videos': len(common), 'max_abs_difference': float(differences.max()),
            'mean_abs_difference': float(differences.mean())}


def log_loss(labels: np.ndarray, probs: np.ndarray) -> float:
    """Kaggle's binary log loss, probabilities clipped to [1e-15, 1 - 1e-15]."""
    p = np.clip(np.asarray(probs, np.float64), EPS, 1 - EPS)
    y = np.asarray(labels, np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def evaluate(submission: dict[str, float], labels: dict[str, int]) -> dict:
    from sklearn.metrics import roc_auc_score
    common = sorted(set(submission) & set(labels))
    missing = sorted(set(labels) - set(submission))
    if missing:
        log.warning('%d labelled videos have no prediction (first: %s); they are left out', len(missing), missing[0])
    if not common:
        raise ValueError('no video of the submission has a label')
    y = np.array([labels[n] for n in common])
    p = np.array([submission[n] for n in common])
    both = len(set(y.tolist())) == 2
    return {'videos': len(common), 'missing': len(missing), 'log_loss': log_loss(y, p),
            'roc_auc': float(roc_auc_score(y, p)) if both else float('nan'),
            'accuracy': float(np.mean((p > 0.5) == (y == 1))),
            'mean_score_fake': float(p[y == 1].mean()) if (y == 1).any() else float('nan'),
            'mean_score_real': float(p[y == 0].mean()) if (y == 0).any() else float('nan'),
            'labels': y, 'scores': p}


def plot(metrics: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve
    y, p = metrics['labels'], metrics['scores']
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    if len(set(y.tolist())) == 2:
        fpr, tpr, _ = roc_curve(y, p)
        left.plot(fpr, tpr, label=f'AUC {metrics["roc_auc"]:.3f}')
    left.plot([0, 1], [0, 1], '--', color='grey')
    left.set(xlabel='false positive rate', ylabel='true positive rate', title='ROC')
    left.legend(loc='lower right')
    bins = np.linspace(0, 1, 21)
    right.hist(p[y == 0], bins=bins, alpha=0.6, label='real')
    right.hist(p[y == 1], bins=bins, alpha=0.6, label='fake')
    right.set(xlabel='score', ylabel='videos', title=f'scores (log loss {metrics["log_loss"]:.4f})')
    right.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
