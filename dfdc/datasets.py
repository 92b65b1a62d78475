"""Readers for the public deepfake benchmarks in their official layouts (../shared/DATASETS.md has the sources).

Each reader lists every video of a data set as a `Video`: its path relative to the data set's root (absolute for
DeeperForensics' reals, which live in the FaceForensics++ tree), label (1 = fake, 0 = real, whatever the data set's
own convention), split (`train`, `val`, `test`, or `''` where the data set has none for it) and method (the
manipulation method of a fake, the source folder of a real). A layout that does not match raises a `LayoutError`
naming what is missing; a video that a list or metadata file names but that is not on disk is kept in
`Listing.missing`, counted and reported, never silently dropped.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
from pathlib import Path
from typing import Callable, Iterable

from .cli import UserError
from .video import VIDEO_EXTENSIONS

log = logging.getLogger('dfdc')

SPLITS = ('train', 'val', 'test')
FF_METHODS = ('Deepfakes', 'Face2Face', 'FaceSwap', 'NeuralTextures', 'FaceShifter')
FF_COMPRESSIONS = ('raw', 'c23', 'c40')     # the download script's names; extract_compressed_videos.py says c0
DEEPERFORENSICS_VARIANT = 'end_to_end'       # the raw DF-VAE output, used in the paper


class LayoutError(UserError):
    """The folder does not have the data set's official layout."""


@dataclasses.dataclass(frozen=True)
class Video:
    path: str       # relative to the data set's root (POSIX), or absolute outside it
    label: int      # 1 = fake
    split: str      # train, val, test, or '' where the data set has no split for it
    method: str     # manipulation method (fakes) or source folder (reals)


@dataclasses.dataclass
class Listing:
    dataset: str
    root: Path
    videos: list[Video]                 # on disk
    missing: list[Video]                # named by the data set's files but not on disk

    def select(self, split: str | None) -> 'Listing':
        """The videos of one split (None: all)."""
        if split is None:
            return self
        return Listing(self.dataset, self.root, [v for v in self.videos if v.split == split],
                       [v for v in self.missing if v.split == split])

    def absolute(self, video: Video) -> Path:
        return self.root / video.path


def _require(path: Path, what: str, dataset: str) -> Path:
    if not path.exists():
        raise LayoutError(f'{dataset}: {path} is missing ({what}); see docs/benchmarks.md for the expected layout')
    return path


def _videos_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)


def _listing(dataset: str, root: Path, candidates: Iterable[tuple[Video, Path]]) -> Listing:
    present, missing = [], []
    for video, path in candidates:
        (present if path.is_file() else missing).append(video)
    if missing:
        log.warning('%s: %d listed videos are not on disk (first: %s); they are counted as missing', dataset,
                    len(missing), missing[0].path)
    return Listing(dataset, root, present, missing)


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path.resolve())


# -- DFDC --------------------------------------------------------------------------------------------------------
def read_dfdc(root: Path, **_) -> Listing:
    """The Kaggle training parts (`dfdc_train_part_N/metadata.json`, REAL/FAKE, split train) and the organiser
    release's labelled sets: `test/` and `validation/` (or `val/`), each with `labels.csv` (`filename,label`, 1 =
    fake) or `metadata.json` (`is_fake`), videos beside the labels file or in its `videos/` folder; a bare
    `labels.csv` at the root counts as the test set."""
    candidates = []
    parts = sorted(p for p in root.glob('dfdc_train_part_*') if p.is_dir())
    for part in parts:
        metadata = _require(part / 'metadata.json', 'each training part has one', 'dfdc')
        for name, entry in sorted(_load_json(metadata, 'dfdc').items()):
            if entry.get('label') not in ('REAL', 'FAKE'):
                log.warning('dfdc: %s: %s has label %r; skipped', metadata, name, entry.get('label'))
                continue
            candidates.append((Video(f'{part.name}/{name}', int(entry['label'] == 'FAKE'), 'train', ''),
                               part / name))
    sets = [(root / 'test', 'test'), (root / 'validation', 'val'), (root / 'val', 'val'), (root, 'test')]
    found_sets = 0
    for folder, split in sets:
        labels = _dfdc_release_labels(folder, top_level=folder == root)
        if labels is None:
            continue
        found_sets += 1
        for name, label in sorted(labels.items()):
            beside, inside = folder / name, folder / 'videos' / name
            path = inside if not beside.is_file() and inside.parent.is_dir() else beside
            candidates.append((Video(_relative(path, root), label, split, ''), path))
    if not parts and not found_sets:
        raise LayoutError(f'dfdc: {root} has neither dfdc_train_part_*/metadata.json nor test/labels.csv, '
                          'test/metadata.json or validation/labels.csv; see docs/benchmarks.md')
    return _listing('dfdc', root, candidates)


def _dfdc_release_labels(folder: Path, top_level: bool) -> dict[str, int] | None:
    if (folder / 'labels.csv').is_file():
        rows = _read_csv(folder / 'labels.csv', ('filename', 'label'), 'dfdc')
        return {row['filename']: _binary(row['label'], folder / 'labels.csv') for row in rows}
    if not top_level and (folder / 'metadata.json').is_file():
        entries = _load_json(folder / 'metadata.json', 'dfdc')
        return {name: _binary(entry.get('is_fake'), folder / 'metadata.json') for name, entry in entries.items()}
    return None


# -- DFDC preview --------------------------------------------------------------------------------------------------
def read_dfdc_preview(root: Path, **_) -> Listing:
    """`dataset.json` keyed by the path relative to the root, `label` real/fake, `set` train/test; the method is
    the first path component (`original_videos` for reals, `method_A`, `method_B`)."""
    metadata = _require(root / 'dataset.json', 'the DFDC preview index', 'dfdc-preview')
    candidates = []
    for relpath, entry in sorted(_load_json(metadata, 'dfdc-preview').items()):
        label = {'real': 0, 'fake': 1}.get(str(entry.get('label', '')).lower())
        if label is None:
            log.warning('dfdc-preview: %s has label %r; skipped', relpath, entry.get('label'))
            continue
        split = {'train': 'train', 'test': 'test'}.get(entry.get('set', ''), '')
        candidates.append((Video(relpath, label, split, relpath.split('/')[0]), root / relpath))
    return _listing('dfdc-preview', root, candidates)


# -- FaceForensics++ and DeepFakeDetection ----------------------------------------------------------------------------
def _compression_folder(parent: Path, compression: str) -> Path | None:
    names = ('raw', 'c0') if compression in ('raw', 'c0') else (compression,)
    for name in names:
        if (parent / name / 'videos').is_dir():
            return parent / name / 'videos'
    return None


def read_ff_splits(root: Path, splits_dir: Path | None = None) -> dict[str, str] | None:
    """Video stem -> split from the official `train/val/test.json` (pairs of 3-digit ids): reals `a`, `b`, fakes
    `a_b`, `b_a`. Looked for in `splits_dir`, `<root>/splits`, `<root>` and `<root>/FaceForensics++` (where
    DeepfakeBench copies them); None when there are none."""
    for folder in ([splits_dir] if splits_dir else []) + [root / 'splits', root, root / 'FaceForensics++']:
        if all((folder / f'{split}.json').is_file() for split in SPLITS):
            lookup = {}
            for split in SPLITS:
                for pair in _load_json(folder / f'{split}.json', 'ff++'):
                    a, b = (str(v) for v in pair)
                    lookup.update({a: split, b: split, f'{a}_{b}': split, f'{b}_{a}': split})
            return lookup
        if splits_dir is not None and folder == splits_dir:
            raise LayoutError(f'ff++: {splits_dir} must hold train.json, val.json and test.json '
                              '(dataset/splits of the FaceForensics repository)')
    return None


def read_faceforensics(root: Path, compression: str = 'c23', splits_dir: Path | None = None, **_) -> Listing:
    """FaceForensics++: `original_sequences/youtube/<c>/videos/NNN.mp4` (real) and
    `manipulated_sequences/<method>/<c>/videos/AAA_BBB.mp4` for the five methods that are there; split from the
    official pair lists (videos get split '' when the lists are not found)."""
    if compression not in FF_COMPRESSIONS + ('c0',):
        raise UserError(f'ff++: compression must be one of raw (c0), c23, c40, not {compression!r}')
    reals = _compression_folder(_require(root / 'original_sequences' / 'youtube', 'the 1000 real videos', 'ff++'),
                                compression)
    if reals is None:
        raise LayoutError(f'ff++: {root}/original_sequences/youtube/{compression}/videos is missing; download '
                          f'with -c {compression}, or choose the compression that is there with --compression')
    splits = read_ff_splits(root, splits_dir)
    if splits is None:
        log.warning('ff++: no train/val/test.json in %s/splits (dataset/splits of the FaceForensics repository); '
                    'the videos have no split', root)
    splits = splits or {}
    folders = {'youtube': reals}
    for method in FF_METHODS:
        folder = _compression_folder(root / 'manipulated_sequences' / method, compression)
        if folder is not None:
            folders[method] = folder
    if len(folders) == 1:
        raise LayoutError(f'ff++: no manipulated_sequences/<method>/{compression}/videos under {root} '
                          f'(methods: {", ".join(FF_METHODS)})')
    candidates = [(Video(_relative(path, root), int(method != 'youtube'), splits.get(path.stem, ''), method), path)
                  for method, folder in folders.items() for path in _videos_in(folder)]
    # The pair lists name every real and both fakes of each pair in every method: those not there are missing.
    listed = {(video.method, Path(video.path).stem) for video, _ in candidates}
    for stem, split in sorted(splits.items()):
        for method in ([m for m in folders if m != 'youtube'] if '_' in stem else ['youtube']):
            if (method, stem) not in listed:
                path = folders[method] / f'{stem}.mp4'
                candidates.append((Video(_relative(path, root), int(method != 'youtube'), split, method), path))
    return _listing('ff++', root, candidates)


def read_deepfakedetection(root: Path, compression: str = 'c23', **_) -> Listing:
    """Google's DeepFakeDetection in the FaceForensics++ tree: `original_sequences/actors/<c>/videos` (real) and
    `manipulated_sequences/DeepFakeDetection/<c>/videos` (fake). It has no official split; as DeepfakeBench and
    SelfBlendedImages do, every video is `test`."""
    reals = _compression_folder(_require(root / 'original_sequences' / 'actors', 'DFD real videos', 'dfd'),
                                compression)
    fakes = _compression_folder(_require(root / 'manipulated_sequences' / 'DeepFakeDetection', 'DFD fake videos',
                                         'dfd'), compression)
    if reals is None or fakes is None:
        raise LayoutError(f'dfd: original_sequences/actors/{compression}/videos and manipulated_sequences/'
                          f'DeepFakeDetection/{compression}/videos must both be under {root}')
    candidates = [(Video(_relative(p, root), 0, 'test', 'actors'), p) for p in _videos_in(reals)]
    candidates += [(Video(_relative(p, root), 1, 'test', 'DeepFakeDetection'), p) for p in _videos_in(fakes)]
    return _listing('dfd', root, candidates)


# -- Celeb-DF v2 --------------------------------------------------------------------------------------------------
CELEB_FOLDERS = {'Celeb-real': 0, 'YouTube-real': 0, 'Celeb-synthesis': 1}


def read_celeb_df_v2(root: Path, **_) -> Listing:
    """`Celeb-real/`, `YouTube-real/`, `Celeb-synthesis/` and `List_of_testing_videos.txt`, whose first field is 1
    for REAL and 0 for FAKE (the opposite of ours). Label = 1 iff the folder is Celeb-synthesis (checked against
    the list's digit); split test for the listed videos, train for the others."""
    for folder in CELEB_FOLDERS:
        _require(root / folder, 'one of Celeb-real, YouTube-real, Celeb-synthesis', 'celeb-df-v2')
    test_list = _require(root / 'List_of_testing_videos.txt', 'the official test list', 'celeb-df-v2')
    tested = {}
    for number, line in enumerate(test_list.read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or fields[0] not in ('0', '1') or fields[1].split('/')[0] not in CELEB_FOLDERS:
            raise LayoutError(f'celeb-df-v2: {test_list.name} line {number} is not "<1 real|0 fake> '
                              f'<folder>/<file>.mp4": {line!r}')
        label = CELEB_FOLDERS[fields[1].split('/')[0]]
        if 1 - int(fields[0]) != label:
            log.warning('celeb-df-v2: %s line %d says %s but the folder says %s; the folder wins', test_list.name,
                        number, 'real' if fields[0] == '1' else 'fake', 'fake' if label else 'real')
        tested[fields[1]] = label
    candidates = []
    for folder, label in CELEB_FOLDERS.items():
        for path in _videos_in(root / folder):
            relpath = f'{folder}/{path.name}'
            candidates.append((Video(relpath, label, 'test' if relpath in tested else 'train', folder), path))
    on_disk = {video.path for video, _ in candidates}
    candidates += [(Video(relpath, label, 'test', relpath.split('/')[0]), root / relpath)
                   for relpath, label in sorted(tested.items()) if relpath not in on_disk]
    return _listing('celeb-df-v2', root, candidates)


# -- DeeperForensics-1.0 -----------------------------------------------------------------------------------------
def read_deeperforensics(root: Path, ff_root: Path | None = None, variant: str = DEEPERFORENSICS_VARIANT,
                         compression: str = 'c23', **_) -> Listing:
    """`lists/splits/{train,val,test}.txt` (one manipulated video name a line) and
    `manipulated_videos/<variant>/TTT_xNNN.mp4`. The real class is FaceForensics++'s target videos
    (`original_sequences/youtube/<c>/videos/TTT.mp4` under `ff_root`), in the split of their fakes; without
    `ff_root` only the fakes are listed (and a warning says so)."""
    split_files = {split: _require(root / 'lists' / 'splits' / f'{split}.txt', 'the official split lists',
                                   'deeperforensics') for split in SPLITS}
    folder = _require(root / 'manipulated_videos' / variant, f'the {variant} variant', 'deeperforensics')
    candidates, targets = [], {}
    for split, path in split_files.items():
        for line in path.read_text().splitlines():
            name = line.strip()
            if not name:
                continue
            name = name if name.endswith('.mp4') else f'{name}.mp4'
            candidates.append((Video(f'manipulated_videos/{variant}/{name}', 1, split, variant), folder / name))
            targets.setdefault(name.split('_')[0], split)
    if ff_root is None:
        log.warning('deeperforensics: its real class is FaceForensics++\'s youtube videos; pass --ff-root to list '
                    'them (only the fakes are listed now)')
    else:
        reals = _compression_folder(ff_root / 'original_sequences' / 'youtube', compression)
        if reals is None:
            raise LayoutError(f'deeperforensics: {ff_root}/original_sequences/youtube/{compression}/videos is '
                              'missing (the real class)')
        candidates += [(Video(str((reals / f'{target}.mp4').resolve()), 0, split, 'youtube'), reals / f'{target}.mp4')
                       for target, split in sorted(targets.items())]
    return _listing('deeperforensics', root, candidates)


# -- a plain labels.csv ------------------------------------------------------------------------------------------
def read_labels_csv(root: Path, **_) -> Listing:
    """`filename,label[,split,method]` (1 = fake), file names relative to the CSV's folder; `root` is the CSV or
    the folder that holds `labels.csv`."""
    path = root if root.is_file() else _require(root / 'labels.csv', 'filename,label rows', 'labels')
    rows = _read_csv(path, ('filename', 'label'), 'labels')
    candidates = [(Video(row['filename'], _binary(row['label'], path), (row.get('split') or '').strip(),
                         (row.get('method') or '').strip()), path.parent / row['filename']) for row in rows]
    return _listing('labels', path.parent, candidates)


# -- shared helpers --------------------------------------------------------------------------------------------
def _load_json(path: Path, dataset: str):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise LayoutError(f'{dataset}: {path} cannot be read as JSON: {error}') from None


def _read_csv(path: Path, columns: tuple[str, ...], dataset: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(path.read_text()))
    if not reader.fieldnames or not set(columns) <= set(reader.fieldnames):
        raise LayoutError(f'{dataset}: {path} must have the columns {",".join(columns)} '
                          f'(found {",".join(reader.fieldnames or [])})')
    return list(reader)


def _binary(value, where: Path) -> int:
    try:
        label = int(float(value))
    except (TypeError, ValueError):
        label = -1
    if label not in (0, 1):
        raise LayoutError(f'{where}: label {value!r} is neither 0 (real) nor 1 (fake)')
    return label


READERS: dict[str, Callable[..., Listing]] = {
    'dfdc': read_dfdc, 'dfdc-preview': read_dfdc_preview, 'ff++': read_faceforensics,
    'dfd': read_deepfakedetection, 'celeb-df-v2': read_celeb_df_v2, 'deeperforensics': read_deeperforensics,
    'labels': read_labels_csv,
}


def read_dataset(name: str, root: Path, split: str | None = None, **options) -> Listing:
    """The videos of data set `name` (a key of READERS) under `root`, of one split (None: all)."""
    if name not in READERS:
        raise UserError(f'unknown data set {name!r}; use one of {", ".join(READERS)}')
    if split is not None and split not in SPLITS:
        raise UserError(f'unknown split {split!r}; use one of {", ".join(SPLITS)}')
    root = Path(root)
    if not root.exists():
        raise LayoutError(f'{name}: {root} does not exist')
    return READERS[name](root, **options).select(split)
