"""serve.py's durable job queue: one SQLite database and one folder per uploaded video.

A job is `queued`, `running`, `done` or `failed`. Every change is one transaction, so a server killed at any
moment leaves each job in one of those states. A worker claims a queued job with a fresh random claim token and
commits its result only while the job still carries that token: after a restart puts a job that was running back
in the queue (`recover`), a worker of the killed server can no longer commit it, so no job is scored twice.

    SERVICE_PATH/jobs.sqlite3          the jobs (WAL journal: readers never wait for the scoring worker)
    SERVICE_PATH/jobs/<id>/upload.mp4  the uploaded bytes, renamed into place complete before the job exists
    SERVICE_PATH/jobs/<id>/details.json, annotated.mp4, report/   what scoring made of it
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import secrets
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterator

from ..fileio import remove_stale_temporaries

STATUSES = ('queued', 'running', 'done', 'failed')
MAX_ATTEMPTS = 3                  # a video whose scoring kills the worker this many times is failed
JOB_ID = re.compile(r'^[A-Za-z0-9_-]{22}$')
SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,             -- upload order
    name TEXT NOT NULL,               -- the uploaded file's name: shown, never used as a path
    upload TEXT NOT NULL,             -- the file's name inside the job folder
    size INTEGER NOT NULL,
    status TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    claim TEXT,                       -- the running worker's token
    worker INTEGER,                   -- that worker's process id
    stage TEXT,
    frames INTEGER,
    frame_total INTEGER,
    score REAL,
    reason TEXT,
    error TEXT,
    summary TEXT                      -- JSON: verdict and per-face summary
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, seq);
CREATE TABLE IF NOT EXISTS workers (
    pid INTEGER PRIMARY KEY,
    slot INTEGER NOT NULL,
    device TEXT,
    started REAL NOT NULL,
    ready REAL,
    error TEXT
);
"""


# Back in the queue, as if never started (what a job that was running keeps is its attempts).
_REQUEUE = ("status = 'queued', claim = NULL, worker = NULL, stage = NULL, frames = NULL, frame_total = NULL")


class QueueFull(Exception):
    """More jobs than `--max-queue` would be waiting or running."""


@dataclasses.dataclass
class Job:
    id: str
    seq: int
    name: str
    upload: str
    size: int
    status: str
    created: float
    started: float | None
    finished: float | None
    attempts: int
    claim: str | None
    worker: int | None
    stage: str | None
    frames: int | None
    frame_total: int | None
    score: float | None
    reason: str | None
    error: str | None
    summary: str | None

    def summary_json(self) -> dict[str, Any]:
        return json.loads(self.summary) if self.summary else {}


def new_job_id() -> str:
    """128 random bits, URL-safe: job ids cannot be guessed or enumerated."""
    return secrets.token_urlsafe(16)


class JobStore:
    """The jobs of one service folder; safe to use from several processes (each opens its own connections)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.jobs_dir = self.root / 'jobs'
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.database = self.root / 'jobs.sqlite3'
        with self._connect() as db:
            db.execute('PRAGMA journal_mode=WAL')
            db.executescript(SCHEMA)

    @contextlib.contextmanager
    def _connect(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.database, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            db.execute('PRAGMA synchronous=FULL')
            if write:
                db.execute('BEGIN IMMEDIATE')  # one writer at a time; readers go on under WAL
                try:
                    yield db
                except BaseException:
                    db.execute('ROLLBACK')
                    raise
                db.execute('COMMIT')
            else:
                yield db
        finally:
            db.close()

    def job_dir(self, job_id: str) -> Path:
        if not JOB_ID.match(job_id):
            raise ValueError(f'not a job id: {job_id!r}')
        return self.jobs_dir / job_id

    # -- the web server's side -------------------------------------------------------------------------------------
    def recover(self) -> tuple[int, int]:
        """At start-up: put jobs that were running back in the queue (their worker died with the last server) and
        remove folders no job owns (an upload the last server was writing, never answered with 202). Returns
        (jobs requeued, folders removed)."""
        with self._connect(write=True) as db:
            requeued = db.execute(f"UPDATE jobs SET {_REQUEUE} WHERE status = 'running'").rowcount
            db.execute('DELETE FROM workers')
            known = {row['id'] for row in db.execute('SELECT id FROM jobs')}
        removed = remove_stale_temporaries(self.jobs_dir, recursive=False)
        for folder in self.jobs_dir.iterdir():
            if folder.is_dir() and JOB_ID.match(folder.name) and folder.name not in known:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        return requeued, removed

    def active(self) -> int:
        """Jobs queued or running."""
        with self._connect() as db:
            return db.execute("SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')").fetchone()[0]

    def add(self, jobs: list[tuple[str, str, str, int]], max_queue: int) -> None:
        """Queue (id, name, upload file name, size) for each video, all or none; QueueFull beyond `max_queue`."""
        now = time.time()
        with self._connect(write=True) as db:
            active = db.execute("SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')").fetchone()[0]
            if active + len(jobs) > max_queue:
                raise QueueFull(f'{active} jobs are queued or running (at most {max_queue})')
            seq = db.execute('SELECT coalesce(max(seq), 0) FROM jobs').fetchone()[0]
            db.executemany("INSERT INTO jobs (id, seq, name, upload, size, status, created) "
                           "VALUES (?, ?, ?, ?, ?, 'queued', ?)",
                           [(job_id, seq + i, name, upload, size, now)
                            for i, (job_id, name, upload, size) in enumerate(jobs, 1)])

    def get(self, job_id: str) -> Job | None:
        with self._connect() as db:
            row = db.execute('SELECT * FROM jobs WHERE id = ?', (job_id,)).fetchone()
        return Job(**row) if row else None

    def list(self, limit: int = 1000) -> list[Job]:
        """The newest `limit` jobs, newest first."""
        with self._connect() as db:
            return [Job(**row) for row in db.execute('SELECT * FROM jobs ORDER BY seq DESC LIMIT ?', (limit,))]

    def counts(self) -> dict[str, int]:
        with self._connect() as db:
            found = dict(db.execute('SELECT status, count(*) FROM jobs GROUP BY status').fetchall())
        return {status: found.get(status, 0) for status in STATUSES}

    def delete(self, job_id: str) -> bool:
        """Forget the job and remove its folder; a worker still scoring it can no longer commit, and cleans up."""
        with self._connect(write=True) as db:
            deleted = db.execute('DELETE FROM jobs WHERE id = ?', (job_id,)).rowcount
        if deleted:
            shutil.rmtree(self.job_dir(job_id), ignore_errors=True)
        return bool(deleted)

    def workers(self) -> list[dict[str, Any]]:
        with self._connect() as db:
            return [dict(row) for row in db.execute('SELECT * FROM workers ORDER BY slot')]

    def release_worker(self, pid: int) -> list[str]:
        """A worker died: its running job goes back in the queue, or fails after MAX_ATTEMPTS. Returns the ids."""
        with self._connect(write=True) as db:
            rows = db.execute("SELECT id, attempts FROM jobs WHERE status = 'running' AND worker = ?",
                              (pid,)).fetchall()
            for row in rows:
                if row['attempts'] >= MAX_ATTEMPTS:
                    db.execute("UPDATE jobs SET status = 'failed', claim = NULL, finished = ?, stage = NULL, "
                               "error = ? WHERE id = ?",
                               (time.time(), f'the scoring process died {row["attempts"]} times on this video',
                                row['id']))
                else:
                    db.execute(f'UPDATE jobs SET {_REQUEUE} WHERE id = ?', (row['id'],))
            db.execute('DELETE FROM workers WHERE pid = ?', (pid,))
        return [row['id'] for row in rows]

    # -- the scoring workers' side ---------------------------------------------------------------------------------
    def register_worker(self, pid: int, slot: int) -> None:
        with self._connect(write=True) as db:
            db.execute('INSERT OR REPLACE INTO workers (pid, slot, started) VALUES (?, ?, ?)', (pid, slot, time.time()))

    def worker_ready(self, pid: int, device: str | None = None, error: str | None = None) -> None:
        with self._connect(write=True) as db:
            db.execute('UPDATE workers SET ready = ?, device = ?, error = ? WHERE pid = ?',
                       (None if error else time.time(), device, error, pid))

    def claim(self, pid: int) -> Job | None:
        """The oldest queued job, now running under a fresh claim token; None when the queue is empty."""
        with self._connect(write=True) as db:
            row = db.execute("SELECT id FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1").fetchone()
            if row is None:
                return None
            db.execute("UPDATE jobs SET status = 'running', claim = ?, worker = ?, started = ?, "
                       "attempts = attempts + 1, stage = 'start', frames = 0 WHERE id = ?",
                       (secrets.token_hex(16), pid, time.time(), row['id']))
            job = db.execute('SELECT * FROM jobs WHERE id = ?', (row['id'],)).fetchone()
        return Job(**job)

    def progress(self, job: Job, stage: str, frames: int, frame_total: int) -> bool:
        """Record progress; False when the job is no longer this claim's (deleted, or requeued by a restart)."""
        with self._connect(write=True) as db:
            return db.execute('UPDATE jobs SET stage = ?, frames = ?, frame_total = ? WHERE id = ? AND claim = ?',
                              (stage, frames, frame_total, job.id, job.claim)).rowcount == 1

    def finish(self, job: Job, score: float, reason: str | None, summary: dict[str, Any]) -> bool:
        """Commit a scored job, once: only while it still carries this worker's claim."""
        with self._connect(write=True) as db:
            return db.execute("UPDATE jobs SET status = 'done', score = ?, reason = ?, summary = ?, finished = ?, "
                              "claim = NULL, stage = NULL WHERE id = ? AND claim = ?",
                              (score, reason, json.dumps(summary), time.time(), job.id, job.claim)).rowcount == 1

    def fail(self, job: Job, error: str) -> bool:
        with self._connect(write=True) as db:
            return db.execute("UPDATE jobs SET status = 'failed', error = ?, finished = ?, claim = NULL, "
                              "stage = NULL WHERE id = ? AND claim = ?",
                              (error, time.time(), job.id, job.claim)).rowcount == 1
