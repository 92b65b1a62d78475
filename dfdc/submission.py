"""The submission CSV (`filename,label`, one row per video, sorted by file name) and merging predict.py's shards."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

from .cli import UserError
from .evaluation import read_submission
from .fileio import atomic_write_bytes


def write_submission(path: Path, scores: Mapping[str, float]) -> None:
    rows = ''.join(f'{name},{scores[name]}\n' for name in sorted(scores))
    atomic_write_bytes(path, ('filename,label\n' + rows).encode())


def shard_path(path: Path, part: int, num_parts: int) -> Path:
    """Where shard `part` of `num_parts` writes instead of `path`: `submission.part0-of-4.csv`."""
    return path.with_name(f'{path.stem}.part{part}-of-{num_parts}{path.suffix}')


def merge_shards(output: Path, num_parts: int, details: Path | None = None) -> dict[str, float]:
    """Merge the `num_parts` shard CSVs of `output` into it (and their details files into `details`).

    Refuses, naming them, when a shard is missing or two shards give one video different scores."""
    if num_parts < 2:
        raise UserError('--merge needs --num_parts K with K >= 2, the number of shards that were run')
    paths = [shard_path(output, part, num_parts) for part in range(num_parts)]
    missing = [path.name for path in paths if not path.is_file()]
    if missing:
        raise UserError(f'{len(missing)} of {num_parts} shards are missing ({", ".join(missing)}); run predict.py '
                        f'--part I --num_parts {num_parts} for them first (--resume continues an interrupted one)')
    merged: dict[str, float] = {}
    source: dict[str, int] = {}
    for part, path in enumerate(paths):
        for name, score in read_submission(path).items():
            if name in merged and merged[name] != score:
                raise UserError(f'shards {source[name]} and {part} disagree on {name} ({merged[name]} vs {score}); '
                                'were they run with different models or settings?')
            merged[name], source[name] = score, part
    write_submission(output, merged)
    if details is not None:
        pieces = [shard_path(details, part, num_parts) for part in range(num_parts)]
        atomic_write_bytes(details, b''.join(p.read_bytes() for p in pieces if p.is_file()))
    return merged
