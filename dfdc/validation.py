"""Validation while training: the model being trained, alone, through the real predictor on labelled videos.

Each run trains one of the three models, so validation scores every video with that model's crops only (the
crops it gets in the ensemble), through the same decoding, detection, tracking and score as predict.py. The best
snapshot by log loss is kept as `best.pth` beside the others, with `best.json` saying which iteration it is.
"""
from __future__ import annotations

import argparse
import copy
import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .cli import UserError
from .config import Config
from .detectors import build_detector
from .evaluation import evaluate, read_labels
from .fileio import atomic_write_bytes
from .inference import Predictor
from .models import DETECTOR_WEIGHTS_NAME, Ensemble, save_weights

log = logging.getLogger('dfdc')
BEST_SNAPSHOT, BEST_RECORD = 'best.pth', 'best.json'


def validation_videos(labels_path: Path) -> dict[Path, int]:
    """The videos of a `filename,label` CSV (paths relative to the CSV's folder) that exist, with their labels."""
    if not labels_path.is_file():
        raise UserError(f'validation labels {labels_path} do not exist')
    videos = {}
    for name, label in read_labels(labels_path).items():
        path = labels_path.parent / name
        if path.is_file():
            videos[path] = label
        else:
            log.warning('%s: validation video %s does not exist; leaving it out', labels_path.name, name)
    if not videos:
        raise UserError(f'{labels_path} names no existing video')
    return videos


class Validator:
    """Call with the model and the iteration: returns log loss, ROC AUC and whether it is the best so far."""

    def __init__(self, args: argparse.Namespace, config: Config, preset: Any, device: torch.device,
                 snapshots: Path):
        self.videos = validation_videos(Path(args.val))
        self.preset, self.device, self.snapshots = preset, device, snapshots
        weights = args.val_detector_weights
        if weights is None and args.val_detector == 'dsfd':
            published = config.MODELS_PATH / DETECTOR_WEIGHTS_NAME
            weights = published if published.is_file() else Path('external_data/WIDERFace_DSFD_RES152.pth')
        self.detector = build_detector(args.val_detector, weights=weights, device=str(device), resize='rcnn')
        record = snapshots / BEST_RECORD
        self.best = json.loads(record.read_text())['log_loss'] if args.resume and record.is_file() else float('inf')

    @torch.no_grad()
    def __call__(self, model: nn.Module, iteration: int) -> dict[str, Any]:
        # A copy: the ensemble puts its models in eval mode and the inference activation; training goes on.
        member = copy.deepcopy(model.module if hasattr(model, 'module') else model)
        ensemble = Ensemble({self.preset.pipeline: member}, self.device,
                            batch_size=32 if self.device.type == 'cuda' else 8)
        paths = list(self.videos)
        scores = {str(path): result.score for path, result in
                  zip(paths, Predictor(self.detector, ensemble).predict_all(paths))}
        metrics = evaluate(scores, {str(path): label for path, label in self.videos.items()})
        best = metrics['log_loss'] < self.best
        if best:
            self.best = metrics['log_loss']
            save_weights(model, self.snapshots / BEST_SNAPSHOT)
            atomic_write_bytes(self.snapshots / BEST_RECORD, json.dumps(
                {'iteration': iteration, 'log_loss': metrics['log_loss'], 'roc_auc': metrics['roc_auc'],
                 'videos': metrics['videos']}, indent=1).encode())
        return {'log_loss': metrics['log_loss'], 'roc_auc': metrics['roc_auc'], 'best': best}
