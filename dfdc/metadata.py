"""The labels of the training videos in one table, with bad entries reported and skipped.

Two sources: the DFDC release's `dfdc_train_part_N/metadata.json` files, or, for one's own data, a `labels.csv`
at the data root (`filename,label[,original]`: paths relative to the data root, label 1 = fake, 0 = real,
`original` the real video a fake was made from, when known). `labels.csv` wins when both exist.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from .cli import UserError

log = logging.getLogger('dfdc')
COLUMNS = ['video', 'part', 'label', 'split', 'original']
LABELS = ('REAL', 'FAKE')
LABELS_FILE = 'labels.csv'
CSV_LABELS = {'0': 'REAL', '1': 'FAKE', 'real': 'REAL', 'fake': 'FAKE'}


def uses_labels_file(data_root: str | Path) -> bool:
    return (Path(data_root) / LABELS_FILE).is_file()


def read_dataset(data_root: str | Path) -> pd.DataFrame:
    """The table of `labels.csv` when the data root has one, else of the DFDC `metadata.json` files."""
    return read_labels_file(data_root) if uses_labels_file(data_root) else read_metadata(data_root)


def read_labels_file(data_root: str | Path) -> pd.DataFrame:
    """`labels.csv` as the metadata table. A row naming a missing file, with an unknown label, or whose
    `original` is missing, not listed, or itself fake is a warning naming the row, and is skipped (a fake whose
    original is bad is skipped too: pairing it with the wrong video would teach the wrong difference)."""
    import csv
    data_root = Path(data_root)
    path = data_root / LABELS_FILE
    with open(path, newline='') as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {'filename', 'label'} <= set(reader.fieldnames):
            raise UserError(f'{path} needs a header with the columns filename,label[,original]')
        raw = [(number, row) for number, row in enumerate(reader, 2)]
    labels: dict[str, str] = {}
    for number, row in raw:
        name, label = (row.get('filename') or '').strip(), (row.get('label') or '').strip().lower()
        if label not in CSV_LABELS:
            log.warning('%s line %d (%s): unknown label %r, expected 1 (fake) or 0 (real); skipping it', LABELS_FILE,
                        number, name, row.get('label'))
        elif not name or not (data_root / name).is_file():
            log.warning('%s line %d: video %r does not exist; skipping it', LABELS_FILE, number, name)
        else:
            labels[name] = CSV_LABELS[label]
    rows = []
    for number, row in raw:
        name = (row.get('filename') or '').strip()
        if name not in labels:
            continue
        original = (row.get('original') or '').strip() or None
        if original is not None and labels[name] == 'REAL':
            log.warning('%s line %d (%s): a real video with an original; ignoring the original', LABELS_FILE,
                        number, name)
            original = None
        if original is not None and labels.get(original) != 'REAL':
            problem = 'is itself fake' if labels.get(original) == 'FAKE' else 'is not a listed, existing video'
            log.warning('%s line %d (%s): its original %s %s; skipping it', LABELS_FILE, number, name, original,
                        problem)
            continue
        rows.append({'video': name, 'part': str(Path(name).parent), 'label': labels[name], 'split': None,
                     'original': original})
    return pd.DataFrame(sorted(rows, key=lambda r: r['video']), columns=COLUMNS)


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
    fakes = metadata[(metadata['label'] == 'FAKE') & metadata['original'].notna()]
    return dict(zip(fakes['video'], fakes['original']))


def single_videos(metadata: pd.DataFrame) -> dict[str, int]:
    """Videos trained on their own, with plain BCE on their label (1 = fake): fakes without an original, and
    reals that are no fake's original. Only `labels.csv` data has them; in the DFDC release every fake has its
    original, and the published training uses pairs only."""
    originals = set(metadata['original'].dropna())
    singles = {}
    for video, label, original in zip(metadata['video'], metadata['label'], metadata['original']):
        if label == 'FAKE' and (original is None or original != original):
            singles[video] = 1
        elif label == 'REAL' and video not in originals:
            singles[video] = 0
    return singles
