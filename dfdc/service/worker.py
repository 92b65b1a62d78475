"""serve.py's scoring processes: each loads the predictor once, as predict.py builds it, and scores queued jobs.

A worker takes the oldest queued job from the SQLite queue, scores the upload with `Predictor` (the same scores as
predict.py, byte for byte), writes the details record, the annotated video and the report into the job folder
(each atomically), then commits the result under its claim. It dies with the server (PR_SET_PDEATHSIG, and a
check of its parent between jobs), so a killed server leaves no worker behind to commit a job twice.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import logging
import os
import shutil
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Mapping

from ..annotate import annotate_video
from ..fileio import atomic_write_bytes
from ..report import MODELS, thumbnail_name, timeline_name, verdict, video_page_name, write_report
from .jobs import Job, JobStore

log = logging.getLogger('dfdc')

POLL_SECONDS = 0.2
PROGRESS_SECONDS = 0.5     # at most two progress writes a second
ANNOTATED_NAME = 'annotated.mp4'
DETAILS_NAME = 'details.json'
REPORT_DIR = 'report'


class _Orphaned(Exception):
    """The server that started this worker is gone."""


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (elsewhere the parent check between jobs does it)."""
    if sys.platform.startswith('linux'):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def face_summary(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per face track: its frames, detections, mean and peak probability overall and per model, and the report's
    thumbnail and timeline files (relative to the job folder)."""
    def mean(values: list[float]) -> float | None:
        return round(sum(values) / len(values), 6) if values else None

    faces = []
    for k, track in enumerate(record.get('tracks') or [], 1):
        per_model = {kind: [p for _, p in values] for kind, values in (track.get('probabilities') or {}).items()}
        every = [p for values in per_model.values() for p in values]
        frames = track.get('frames') or [0]
        faces.append({
            'face': k, 'first_frame': frames[0], 'last_frame': frames[-1],
            'detections': len(track.get('detected_frames') or []),
            'probability': mean(every), 'max_probability': round(max(every), 6) if every else None,
            'models': {kind: {'name': MODELS[kind][0] if kind in MODELS else kind, 'predictions': len(values),
                              'probability': mean(values)}
                       for kind, values in per_model.items()},
            'thumbnails': [{'frame': thumbnail['frame'], 'file': f'{REPORT_DIR}/{thumbnail_name(1, k, m)}'}
                           for m, thumbnail in enumerate(track.get('thumbnails') or [])],
            'timeline': f'{REPORT_DIR}/{timeline_name(1, k)}',
        })
    return faces


def summarise(record: Mapping[str, Any], annotated: bool) -> dict[str, Any]:
    css, wording = verdict(record)
    return {'verdict': css, 'verdict_text': wording, 'faces': face_summary(record),
            'frames_read': record.get('frames_read'), 'width': record.get('width'), 'height': record.get('height'),
            'fps': record.get('fps'), 'seconds': record.get('seconds'), 'annotated': annotated,
            'report': f'{REPORT_DIR}/{video_page_name(1)}'}


class Worker:
    def __init__(self, store: JobStore, predictor, parent: int):
        self.store, self.predictor, self.parent = store, predictor, parent
        self.job: Job | None = None
        self.last_progress = 0.0
        predictor.progress = self._progress

    def _check_parent(self) -> None:
        if os.getppid() != self.parent:
            raise _Orphaned()

    def _progress(self, stage: str, frames: int, frame_total: int, force: bool = False) -> None:
        now = time.monotonic()
        if self.job is None or (not force and now - self.last_progress < PROGRESS_SECONDS):
            return
        self._check_parent()
        self.last_progress = now
        self.store.progress(self.job, stage, frames, frame_total)

    def run_forever(self) -> None:
        while True:
            self._check_parent()
            job = self.store.claim(os.getpid())
            if job is None:
                time.sleep(POLL_SECONDS)
                continue
            self.job = job
            try:
                self.score(job)
            finally:
                self.job = None

    def score(self, job: Job) -> None:
        folder = self.store.job_dir(job.id)
        try:
            result = self.predictor.predict_video(folder / job.upload)
            record = result.to_json()
            annotated = False
            if result.reason is None:
                self._progress('annotate', result.frames_read, result.frames_read, force=True)
                annotate_video(record, folder / ANNOTATED_NAME)
                annotated = True
            # The details record names the video as it was uploaded, not where the service keeps it.
            record['video'] = job.name
            self._progress('report', result.frames_read, result.frames_read, force=True)
            write_report([record], folder / REPORT_DIR)
            atomic_write_bytes(folder / DETAILS_NAME, (json.dumps(record) + '\n').encode())
            committed = self.store.finish(job, result.score, result.reason, summarise(record, annotated))
            if committed:
                log.info('serve: job %s done: score %.4f%s, %.1f s', job.id, result.score,
                         f' ({result.reason})' if result.reason else '', sum(result.timings.values()))
        except _Orphaned:
            raise
        except Exception as error:
            if self.store.get(job.id) is None:
                committed = False  # deleted while it was scored: the folder went with it
            else:
                log.error('job %s: %s', job.id, traceback.format_exc())
                committed = self.store.fail(job, f'{type(error).__name__}: {error}')
        if not committed and self.store.get(job.id) is None:
            shutil.rmtree(folder, ignore_errors=True)   # deleted meanwhile: leave nothing of it behind


def run_worker(slot: int, config_path: str, args: argparse.Namespace, service_root: str, parent: int,
               threads: int) -> None:
    """A worker process's entry point (multiprocessing, spawn)."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C reaches the whole group; the server stops the workers
    from ..cli import setup_logging
    setup_logging()
    import torch
    if threads < (os.cpu_count() or 1):   # workers share the CPU
        from ..backends import set_cpu_threads
        set_cpu_threads(threads)
    from ..config import load_config
    from ..devices import resolve_device
    from ..prediction import predictor_from_args
    store = JobStore(Path(service_root))
    store.register_worker(os.getpid(), slot)
    try:
        if args.device in ('auto', 'cuda') and torch.cuda.is_available() and torch.cuda.device_count() > 1:
            args.device = f'cuda:{slot % torch.cuda.device_count()}'   # one worker per GPU
        predictor = predictor_from_args(load_config(config_path), args)
    except Exception as error:
        store.worker_ready(os.getpid(), error=f'{type(error).__name__}: {error}')
        raise SystemExit(2)
    store.worker_ready(os.getpid(), device=str(resolve_device(args.device)))
    try:
        Worker(store, predictor, parent).run_forever()
    except _Orphaned:
        raise SystemExit(0)
