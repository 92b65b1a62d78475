"""Every `metadata.json` of the DFDC release in one table, with bad entries reported and skipped."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

log = logging.getLogger('dfdc')
COLUMNS = ['video', 'part', 'label', 'split', 'original']
LABELS = ('REAL', 'FAKE')


def read_metadata(data_root: str | Path) -> pd.DataFrame:
    """One row per valid entry: `video` and `original` are relative paths (`dfdc_train_part_N/name.mp4`).

    A malformed file, an entry without a valid `label`, a FAKE without `original`, an `original` that is not
    a video of the same part, or an entry whose video file is missing is a warning naming the file and the
    entry, and is skipped.
    """
    data_root = Path(data_root)
    rows = []
    for path in sorted(data_root.glob('dfdc_train_part_*/metadata.json')):
        part = path.parent.name
        where = path.relative_to(data_root).as_posix()
        try:
            entries = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            log.warning('%s: malformed metadata file (%s); skipping it', where, str(error).splitlines()[0])
            continue
        if not isinstance(entries, dict):
            log.warning('%s: malformed metadata file (not a JSON object); skipping it', where)
            continue
        for name, entry in sorted(entries.items()):
            problem = _entry_problem(path.parent, name, entry)
            if problem:
                log.warning('%s: entry %s %s; skipping it', where, name, problem)
                continue
            original = entry.get('original') if entry['label'] == 'FAKE' else None
            rows.append({'video': f'{part}/{name}', 'part': part, 'label': entry['label'],
                         'split': entry.get('split'), 'original': f'{part}/{original}' if original else None})
    return pd.DataFrame(rows, columns=COLUMNS)


def _entry_problem(part_dir: Path, name: str, entry) -> str | None:
    if not isinstance(entry, dict):
        return 'is not a JSON object'
    if entry.get('label') not in LABELS:
        return f'has label {entry.get("label")!r}, expected REAL or FAKE' if 'label' in entry else 'has no label'
    if not (part_dir / name).is_file():
        return 'names a video file that does not exist'
    if entry['label'] == 'FAKE':
        original = entry.get('original')
        if not original or not isinstance(original, str):
            return 'is FAKE without an original'
        if not (part_dir / original).is_file():
            return f'has original {original}, which does not exist'
    return None


def fake_to_real(metadata: pd.DataFrame) -> dict[str, str]:
    """Map each fake's relative path to its original's."""
    fakes = metadata[metadata['label'] == 'FAKE']
    return dict(zip(fakes['video'], fakes['original']))
