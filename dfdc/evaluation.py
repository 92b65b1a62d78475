"""Metrics of a submission against labels: the field's video-level metrics (Kaggle's log loss, ROC AUC, EER, average
precision, accuracy at 0.5, Brier, ECE, per-class mean score) and frame-level ROC AUC from the per-frame
probabilities of `predict.py --details`."""
from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path
from typing import Iterable

import numpy as np

log = logging.getLogger('dfdc')
EPS = 1e-15


def read_labels(path: Path, basenames: bool = False) -> dict[str, int]:
    """`filename,label` CSV (1 = fake) or a DFDC `metadata.json` (FAKE / REAL); `basenames`: keyed by file name
    alone, as submissions are."""
    text = path.read_text()
    if path.suffix == '.json':
        labels = {name: int(entry['label'] == 'FAKE') for name, entry in json.loads(text).items()}
    else:
        labels = {row['filename']: int(float(row['label'])) for row in csv.DictReader(io.StringIO(text))}
    return {Path(name).name: label for name, label in labels.items()} if basenames else labels


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


def equal_error_rate(labels: np.ndarray, scores: np.ndarray) -> float:
    """The false positive rate at the ROC point where it is closest to the false negative rate (DeepfakeBench's
    definition: the FPR at the threshold minimising |FNR - FPR|)."""
    from sklearn.metrics import roc_curve
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)   # every threshold: the exact crossing
    return float(fpr[np.nanargmin(np.abs((1 - tpr) - fpr))])


def binary_metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """ROC AUC, EER and average precision (NaN unless both classes are present), accuracy at 0.5 (score > 0.5 is
    fake), log loss and Brier score of scores against 0/1 labels."""
    from sklearn.metrics import average_precision_score, roc_auc_score
    y, p = np.asarray(labels), np.asarray(scores, np.float64)
    both = len(set(y.tolist())) == 2
    return {'roc_auc': float(roc_auc_score(y, p)) if both else float('nan'),
            'eer': equal_error_rate(y, p) if both else float('nan'),
            'average_precision': float(average_precision_score(y, p)) if both else float('nan'),
            'accuracy': float(np.mean((p > 0.5) == (y == 1))), 'log_loss': log_loss(y, p),
            'brier': float(np.mean((p - y) ** 2))}


def frame_probabilities(record: dict) -> list[float]:
    """Every per-frame probability of a `--details` record: one per face crop and model (the sequence model gives
    one per frame of its 7-frame window), as the models output them."""
    return [p for track in record.get('tracks', []) for pairs in track['probabilities'].values() for _, p in pairs]


def frame_level(records: Iterable[dict], labels: dict[str, int], key=lambda record: Path(record['video']).name
                ) -> dict[str, float]:
    """Frame-level ROC AUC, EER, AP and accuracy: every per-frame probability of a labelled video, labelled with
    its video's label (videos without faces contribute none)."""
    y, p = [], []
    for record in records:
        label = labels.get(key(record))
        if label is None:
            continue
        probabilities = frame_probabilities(record)
        y += [label] * len(probabilities)
        p += probabilities
    if not p:
        return {'frames': 0, 'roc_auc': float('nan'), 'eer': float('nan'), 'average_precision': float('nan'),
                'accuracy': float('nan')}
    metrics = binary_metrics(np.array(y), np.array(p))
    return {'frames': len(p), **{k: metrics[k] for k in ('roc_auc', 'eer', 'average_precision', 'accuracy')}}


def evaluate(submission: dict[str, float], labels: dict[str, int]) -> dict:
    """Video-level metrics of the scored, labelled videos (the video score is the published aggregation of its
    faces' per-frame probabilities)."""
    common = sorted(set(submission) & set(labels))
    missing = sorted(set(labels) - set(submission))
    if missing:
        log.warning('%d labelled videos have no prediction (first: %s); they are left out', len(missing), missing[0])
    if not common:
        raise ValueError('no video of the submission has a label')
    y = np.array([labels[n] for n in common])
    p = np.array([submission[n] for n in common])
    return {'videos': len(common), 'missing': len(missing), **binary_metrics(y, p),
            'ece': expected_calibration_error(y, p),
            'mean_score_fake': float(p[y == 1].mean()) if (y == 1).any() else float('nan'),
            'mean_score_real': float(p[y == 0].mean()) if (y == 0).any() else float('nan'),
            'labels': y, 'scores': p}


def reliability(labels: np.ndarray, probs: np.ndarray, bins: int = 10) -> list[tuple[float, float, int]]:
    """Per equal-width score bin with videos: (mean score, share of fakes, count)."""
    labels, probs = np.asarray(labels, np.float64), np.asarray(probs, np.float64)
    which = np.minimum((probs * bins).astype(int), bins - 1)
    return [(float(probs[which == b].mean()), float(labels[which == b].mean()), int((which == b).sum()))
            for b in range(bins) if (which == b).any()]


def expected_calibration_error(labels: np.ndarray, probs: np.ndarray, bins: int = 10) -> float:
    """The count-weighted mean gap between the mean score and the share of fakes, over 10 equal-width bins."""
    rows = reliability(labels, probs, bins)
    total = sum(count for _, _, count in rows)
    return float(sum(count * abs(score - share) for score, share, count in rows) / total)


def roc_axis(axis, curves: Iterable[tuple[np.ndarray, np.ndarray, str]], title: str) -> None:
    """ROC curves (labels, scores, legend) on one matplotlib axis, with the chance diagonal; a curve of one class
    only is left out."""
    from sklearn.metrics import roc_curve
    for labels, scores, legend in curves:
        if len(set(np.asarray(labels).tolist())) == 2:
            fpr, tpr, _ = roc_curve(labels, scores)
            axis.plot(fpr, tpr, label=legend)
    axis.plot([0, 1], [0, 1], '--', color='grey')
    axis.set(xlabel='false positive rate', ylabel='true positive rate', title=title)
    axis.legend(loc='lower right')


def plot(metrics: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    y, p = metrics['labels'], metrics['scores']
    figure, (left, right, diagram) = plt.subplots(1, 3, figsize=(15, 4))
    roc_axis(left, [(y, p, f'AUC {metrics["roc_auc"]:.3f}')], 'ROC')
    bins = np.linspace(0, 1, 21)
    right.hist(p[y == 0], bins=bins, alpha=0.6, label='real')
    right.hist(p[y == 1], bins=bins, alpha=0.6, label='fake')
    right.set(xlabel='score', ylabel='videos', title=f'scores (log loss {metrics["log_loss"]:.4f})')
    right.legend()
    rows = reliability(y, p)
    diagram.plot([0, 1], [0, 1], '--', color='grey', label='perfectly calibrated')
    diagram.plot([r[0] for r in rows], [r[1] for r in rows], 'o-', label='videos per score bin')
    for score, share, count in rows:
        diagram.annotate(str(count), (score, share), textcoords='offset points', xytext=(4, -10), fontsize=7)
    diagram.set(xlabel='mean score in bin', ylabel='share of fakes', xlim=(0, 1), ylim=(0, 1),
                title=f'reliability (ECE {metrics["ece"]:.3f}, Brier {metrics["brier"]:.4f})')
    diagram.legend(loc='upper left')
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
