"""A predict.py run: the predictor as configured, and scoring a list of videos into the output files.

Each score is appended to `<output>.partial` as soon as it is known (so `--resume` loses nothing to a kill), each
video's details record to the details JSONL, and each scored video's annotated MP4 is written beside.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path
from typing import Sequence

import torch
from tqdm import tqdm

from .annotate import annotate_video
from .backends import BACKENDS, cache_roots, resolve_backend
from .config import Config
from .detectors import build_detector
from .devices import PRECISIONS, resolve_device
from .inference import Predictor
from .models import CALIBRATION_NAME, DETECTOR_WEIGHTS_NAME, Ensemble
from .scoring import PUBLISHED, ScoreTransform

log = logging.getLogger('dfdc')


def add_model_arguments(parser: argparse.ArgumentParser, detector: str = 'dsfd') -> None:
    """The predictor's options, shared by predict.py, benchmark.py and serve.py."""
    parser.add_argument('--detector', choices=('dsfd', 'opencv', 'auto'), default=detector,
                        help='dsfd: the published detector; opencv: the Haar cascade (the demo\'s); auto: dsfd when '
                             'its weights are there, else opencv')
    parser.add_argument('--detector-weights', default=None, help=f'default: MODELS_PATH/{DETECTOR_WEIGHTS_NAME}')
    parser.add_argument('--device', default='auto', help='auto (CUDA if available), cpu, cuda or cuda:N')
    parser.add_argument('--precision', choices=PRECISIONS, default='fp32',
                        help='fp32 computes what the published predictor computed; fp16 or bf16 autocast is faster '
                             'and changes scores slightly (see README)')
    parser.add_argument('--backend', choices=BACKENDS, default='auto',
                        help='auto: OpenVINO on the CPU (models converted on the first run and cached in '
                             'MODELS_PATH/openvino_cache), PyTorch on CUDA')
    parser.add_argument('--channels-last', action=argparse.BooleanOptionalAction, default=True,
                        help='PyTorch backend: NHWC weights and inputs, faster for all four networks, the same '
                             'numbers up to float rounding')
    parser.add_argument('--batch-size', type=int, default=None,
                        help='classifier batch size (default: 32 on CUDA, 8 on the CPU, where activations '
                             'dominate memory)')
    parser.add_argument('--no-calibration', action='store_true',
                        help=f'score with the published transform even when MODELS_PATH/{CALIBRATION_NAME} exists')


def predictor_from_args(config: Config, args: argparse.Namespace) -> Predictor:
    """`build_predictor` with the options of `add_model_arguments`."""
    return build_predictor(config, resolve_device(args.device), args.detector, args.detector_weights, args.precision,
                           args.channels_last, args.batch_size, not args.no_calibration, args.backend)


def build_predictor(config: Config, device: torch.device, detector: str = 'dsfd', detector_weights: str | None = None,
                    precision: str = 'fp32', channels_last: bool = True, batch_size: int | None = None,
                    calibration: bool = True, backend: str = 'auto') -> Predictor:
    """The detector, the three models of MODELS_PATH and the score transform (MODELS_PATH/calibration.json when
    it is there and `calibration`, else the published one, which it says). `backend` as `resolve_backend` takes it:
    auto runs OpenVINO on the CPU, PyTorch on CUDA."""
    backend = resolve_backend(backend, device, precision)
    weights = detector_weights or config.MODELS_PATH / DETECTOR_WEIGHTS_NAME
    if detector == 'auto':
        detector = 'dsfd' if Path(weights).is_file() else 'opencv'
        if detector == 'opencv':
            print(f'predict: no DSFD weights at {weights}; detecting faces with the Haar cascade (as the demo does; '
                  'the published solution uses DSFD)')
    face_detector = build_detector(detector, weights=weights, device=str(device), resize='rcnn', precision=precision,
                                   channels_last=channels_last, backend=backend,
                                   cache_roots=cache_roots(config.MODELS_PATH))
    batch_size = batch_size or (32 if device.type == 'cuda' else 8)
    transform, fitted = PUBLISHED, config.MODELS_PATH / CALIBRATION_NAME
    if fitted.is_file() and calibration:
        transform = ScoreTransform.load(fitted)
        print(f'predict: applying {fitted} ({transform.describe()}); --no-calibration for the published transform')
    ensemble = Ensemble.load(config.MODELS_PATH, device, batch_size, precision, channels_last, backend)
    return Predictor(face_detector, ensemble, transform=transform)


def score_videos(predictor: Predictor, videos: Sequence[Path], partial: Path, details: Path | None = None,
                 annotate: Path | None = None, keys: Sequence[str] | None = None
                 ) -> tuple[dict[str, float], int, dict[str, float]]:
    """Score `videos`, appending to `partial` (CSV, header first) and `details`; returns the scores by file name
    (or by `keys`, one per video, which the CSV rows and the details records' `key` then carry), the number of
    videos scored 0.5 for a reason, and the seconds per stage summed over the videos."""
    scores: dict[str, float] = {}
    totals: dict[str, float] = {}
    unscored = 0
    with open(partial, 'a', newline='') as partial_file, open(details or os.devnull, 'a') as details_file:
        if partial_file.tell() == 0:
            partial_file.write('filename,label\n')
        results = predictor.predict_all(videos) if videos else []
        for index, result in enumerate(tqdm(results, total=len(videos), desc='predict', unit='video')):
            name = Path(result.path).name if keys is None else keys[index]
            scores[name] = result.score
            partial_file.write(f'{name},{result.score}\n')
            partial_file.flush()
            if result.reason is not None:
                unscored += 1
                log.warning('%s: %s; scored 0.5', result.path, result.reason)
            record = result.to_json() if keys is None else {**result.to_json(), 'key': name}
            details_file.write(json.dumps(record) + '\n')
            details_file.flush()
            if annotate is not None and result.reason is None:
                start = time.perf_counter()
                annotate_video(record, annotate / f'{Path(result.path).stem}.mp4')
                totals['annotate'] = totals.get('annotate', 0.0) + time.perf_counter() - start
            for stage, seconds in result.timings.items():
                totals[stage] = totals.get(stage, 0.0) + seconds
    return scores, unscored, totals
