"""The scoring processes of serve.py: started before the server listens, watched, replaced when one dies."""
from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import threading
import time

from ..cli import UserError
from .jobs import JobStore
from .worker import run_worker

log = logging.getLogger('dfdc')

WATCH_SECONDS = 1.0


class WorkerPool:
    """`count` worker processes over one job store. A worker that dies while scoring gives its job back to the
    queue (or fails it after MAX_ATTEMPTS) and is replaced; one that cannot load the models stops the start."""

    def __init__(self, store: JobStore, count: int, config_path: str, args: argparse.Namespace):
        self.store, self.count, self.config_path, self.args = store, count, config_path, args
        self.context = multiprocessing.get_context('spawn')
        self.processes: dict[int, multiprocessing.Process] = {}
        self.threads = max(1, (os.cpu_count() or 1) // count)
        self.stopping = threading.Event()
        self.watcher: threading.Thread | None = None

    def _spawn(self, slot: int) -> None:
        process = self.context.Process(
            target=run_worker, name=f'dfdc-worker-{slot}', daemon=True,
            args=(slot, self.config_path, self.args, str(self.store.root), os.getpid(), self.threads))
        process.start()
        self.processes[slot] = process

    def start(self, timeout: float = 1800) -> None:
        """Start the workers and wait until each has loaded the models (the first run on the CPU converts them for
        OpenVINO, which takes a while); UserError with the worker's reason when one cannot."""
        for slot in range(self.count):
            self._spawn(slot)
        deadline = time.monotonic() + timeout
        while True:
            workers = {row['pid']: row for row in self.store.workers()}
            states = [workers.get(process.pid) for process in self.processes.values()]
            failed = [state['error'] for state in states if state and state['error']]
            if failed:
                self.stop()
                raise UserError(f'a scoring worker could not load the models: {failed[0]}')
            dead = [process for process in self.processes.values() if not process.is_alive()]
            if dead:
                self.stop()
                raise UserError(f'a scoring worker exited with code {dead[0].exitcode} while loading the models')
            if all(state and state['ready'] for state in states):
                break
            if time.monotonic() > deadline:
                self.stop()
                raise UserError(f'the scoring workers did not load the models within {timeout:.0f} s')
            time.sleep(0.1)
        self.watcher = threading.Thread(target=self._watch, name='dfdc-worker-watch', daemon=True)
        self.watcher.start()

    def _watch(self) -> None:
        while not self.stopping.wait(WATCH_SECONDS):
            for slot, process in list(self.processes.items()):
                if process.is_alive() or self.stopping.is_set():
                    continue
                released = self.store.release_worker(process.pid)
                log.warning('serve: scoring worker %d (pid %d) exited with code %s; %s; starting another', slot,
                            process.pid, process.exitcode,
                            f'job {", ".join(released)} goes back to the queue' if released else 'it held no job')
                self._spawn(slot)

    def stop(self) -> None:
        """Stop the workers (a job they were scoring stays `running` and is queued again at the next start)."""
        self.stopping.set()
        for process in self.processes.values():
            if process.is_alive():
                process.terminate()
        for process in self.processes.values():
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
