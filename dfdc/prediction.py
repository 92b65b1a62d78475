"""A predict.py run: the predictor as configured, and scoring a list of videos into the output files.

Each score is appended to `<output>.partial` as soon as it is known (so `--resume` loses nothing to a kill), each
video's details record to the details JSONL, and each scored video's annotated MP4 is written beside.
"""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Sequence

import torch
from tqdm import tqdm

from .annotate import annotate_video
from .config import Config
from .detectors import build_detector
from .inference import CALIBRATION_NAME, DETECTOR_WEIGHTS_NAME, Ensemble, Predictor
from .scoring import PUBLISHED, ScoreTransform

log = logging.getLogger('dfdc')


def build_predictor(config: Config, device: torch.device, detector: str = 'dsfd', detector_weights: str | None = None,
                    precision: str = 'fp32', channels_last: bool = True, batch_size: int | None = None,
                    calibration: bool = True) -> Predictor:
    """The detector, the three models of MODELS_PATH and the score transform (MODELS_PATH/calibration.json when
    it is there and `calibration`, else the published one, which it says)."""
    weights = detector_weights or config.MODELS_PATH / DETECTOR_WEIGHTS_NAME
    face_detector = build_detector(detector, weights=weights, device=str(device), resize='rcnn', precision=precision,
                                   channels_last=channels_last)
    batch_size = batch_size or (32 if device.type == 'cuda' else 8)
    transform, fitted = PUBLISHED, config.MODELS_PATH / CALIBRATION_NAME
    if fitted.is_file() and calibration:
        transform = ScoreTransform.load(fitted)
        print(f'predict: applying {fitted} ({transform.describe()}); --no-calibration for the published transform')
    ensemble = Ensemble.load(config.MODELS_PATH, device, batch_size, precision, channels_last)
    return Predictor(face_detector, ensemble, transform=transform)


def score_videos(predictor: Predictor, videos: Sequence[Path], partial: Path, details: Path | None = None,
                 annotate: Path | None = None) -> tuple[dict[str, float], int, dict[str, float]]:
    """Score `videos`, appending to `partial` (CSV, header first) and `details`; returns the scores by file name,
    the number of videos scored 0.5 for a reason, and the seconds per stage summed over the videos."""
    scores: dict[str, float] = {}
    totals: dict[str, float] = {}
    unscored = 0
    with open(partial, 'a', newline='') as partial_file, open(details or os.devnull, 'a') as details_file:
        if partial_file.tell() == 0:
            partial_file.write('filename,label\n')
        for result in tqdm(predictor.predict_all(videos) if videos else [], total=len(videos), desc='predict',
                           unit='video'):
            name = Path(result.path).name
            scores[name] = result.score
            partial_file.write(f'{name},{result.score}\n')
            partial_file.flush()
            if result.reason is not None:
                unscored += 1
                log.warning('%s: %s; scored 0.5', result.path, result.reason)
            record = result.to_json()
            details_file.write(json.dumps(record) + '\n')
            details_file.flush()
            if annotate is not None and result.reason is None:
                start = time.perf_counter()
                annotate_video(record, annotate / f'{Path(name).stem}.mp4')
                totals['annotate'] = totals.get('annotate', 0.0) + time.perf_counter() - start
            for stage, seconds in result.timings.items():
                totals[stage] = totals.get(stage, 0.0) + seconds
    return scores, unscored, totals
