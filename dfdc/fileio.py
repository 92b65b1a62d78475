"""Atomic writes: an output either exists complete or not at all, so an interrupted stage can simply be re-run."""
from __future__ import annotations

import contextlib
import os
import pickle
import re
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any, Iterator

from .cli import UserError

# Temporary names carry host and PID, so a re-run can tell the leftovers of a killed process from the work in
# progress of a live one (another shard writing into the same artifact root).
_HOST = re.sub(r'[^A-Za-z0-9]', '', socket.gethostname())[:32] or 'host'
_TEMP = re.compile(r'^\..+\.tmp-(?P<host>[A-Za-z0-9]+)-(?P<pid>\d+)(-.*)?$')


def _temp_tag() -> str:
    return f'tmp-{_HOST}-{os.getpid()}'


def _temp_name(path: Path) -> Path:
    return path.with_name(f'.{path.name}.{_temp_tag()}')


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def temporary_directory_beside(path: Path) -> Path:
    """A new empty folder beside `path` whose name `remove_stale_temporaries` recognises once this process dies."""
    return Path(tempfile.mkdtemp(prefix=f'.{path.name}.{_temp_tag()}-', dir=path.parent))


def remove_stale_temporaries(root: Path, recursive: bool = True) -> int:
    """Delete temporary files and folders that killed processes of this host left under `root`."""
    removed = 0
    if not root.is_dir():
        return removed
    walker = os.walk(root) if recursive else [(str(root), [p.name for p in root.iterdir() if p.is_dir()],
                                               [p.name for p in root.iterdir() if not p.is_dir()])]
    for directory, folders, files in walker:
        for name in list(folders) + list(files):
            match = _TEMP.match(name)
            if not match or match['host'] != _HOST or _is_alive(int(match['pid'])):
                continue
            path = Path(directory) / name
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
                if name in folders:
                    folders.remove(name)
            else:
                path.unlink(missing_ok=True)
            removed += 1
    return removed


def ensure_dir(path: Path) -> Path:
    """Create a directory, turning a permission problem into a UserError that stops the run."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f'cannot create output directory {path}: {error.strerror}; '
                        'fix its permissions or point ARTIFACTS_PATH elsewhere') from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f'output directory {path} is not writable; fix its permissions or point '
                        'ARTIFACTS_PATH elsewhere')
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary file path beside `path`; on success it replaces `path`, on failure it is removed."""
    path = Path(path)
    ensure_dir(path.parent)
    temp = _temp_name(path)
    try:
        yield temp
        os.replace(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as temp:
        with open(temp, 'wb') as f:
            f.write(data)


def atomic_pickle(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def load_pickle(path: str | os.PathLike) -> Any:
    with open(path, 'rb') as f:
        return pickle.load(f)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary directory beside `path`, renamed to `path` only when the block completes.

    If another process completed `path` meanwhile, its result is kept and ours is discarded.
    """
    path = Path(path)
    ensure_dir(path.parent)
    temp = temporary_directory_beside(path)
    try:
        yield temp
        try:
            os.rename(temp, path)
        except OSError:
            if not path.is_dir():
                raise
    finally:
        shutil.rmtree(temp, ignore_errors=True)


@contextlib.contextmanager
def replacing_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary directory beside `path` that takes `path`'s place when the block completes.

    An existing `path` is replaced: moved aside, the new one renamed in, the old one removed (two renames; a
    reader sees the old folder or the new one, never a half-written one). On failure `path` is left as it was.
    """
    path = Path(path)
    ensure_dir(path.parent)
    temp = temporary_directory_beside(path)
    try:
        yield temp
        if not path.exists():
            os.rename(temp, path)
            return
        old = path.with_name(f'.{path.name}.{_temp_tag()}-old')
        os.rename(path, old)
        try:
            os.rename(temp, path)
        except OSError:
            os.rename(old, path)
            raise
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
