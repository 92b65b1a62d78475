"""benchmark.py's library: score a public data set's videos with the predictor and evaluate them the field's way.

Per data set, `RESULTS_DIR/<name>/` holds `labels.csv` (`filename,label,split,method`, filename relative to the
data set's root), `scores.csv` (`filename,label` with the score; `.partial` while running, so a killed run
continues where it stopped), `details.jsonl` (`predict.py --details` records with the relative path as `key`) and
the HTML report. `RESULTS_DIR/results.json`, `results.md` and `roc.png` compare all data sets.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import math
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from .cli import UserError, shard
from .datasets import Listing
from .evaluation import evaluate, frame_level, read_submission, roc_axis
from .fileio import atomic_write_bytes, ensure_dir
from .report import read_details, write_report
from .submission import merge_shards, shard_path, write_submission

log = logging.getLogger('dfdc')

LABEL_COLUMNS = ('filename', 'label', 'split', 'method')
# What each number is, printed beside the tables (the field mixes frame- and video-level numbers).
AGGREGATION = {
    'video': 'video level: one score per video, the published aggregation of its faces\' per-frame probabilities; '
             'videos without a face track score 0.5 and count',
    'frame': 'frame level: every per-frame probability in --details (each face, each model; the sequence model '
             'gives one per frame of its window) labelled with its video\'s label; videos without faces add none',
    'accuracy': 'accuracy at 0.5: score > 0.5 is fake',
    'eer': 'EER: the false positive rate where |FNR - FPR| is smallest on the ROC curve',
}


def labels_csv(listing: Listing) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator='\n')
    writer.writerow(LABEL_COLUMNS)
    for video in sorted(listing.videos, key=lambda v: v.path):
        writer.writerow([video.path, video.label, video.split, video.method])
    return out.getvalue().encode()


def score_listing(get_predictor: Callable[[], Any], listing: Listing, out: Path, part: int = 0, num_parts: int = 1
                  ) -> tuple[dict[str, float], int]:
    """Score the videos of `listing` (shard `part` of `num_parts`) not scored yet, with the predictor
    `get_predictor()` gives (asked for only when there is something to score); returns all its scores and how many
    were scored now."""
    from .prediction import score_videos
    scores_path, details = out / 'scores.csv', out / 'details.jsonl'
    if num_parts > 1:
        scores_path, details = shard_path(scores_path, part, num_parts), shard_path(details, part, num_parts)
    partial = scores_path.with_name(scores_path.name + '.partial')
    done = {**read_submission(scores_path, skip_incomplete=True), **read_submission(partial, skip_incomplete=True)}
    videos = shard(sorted(listing.videos, key=lambda v: v.path), part, num_parts)
    todo = [v for v in videos if v.path not in done]
    if todo:
        scores, _, _ = score_videos(get_predictor(), [listing.absolute(v) for v in todo], partial, details,
                                    keys=[v.path for v in todo])
        done.update(scores)
    wanted = {v.path for v in videos}
    write_submission(scores_path, {k: s for k, s in done.items() if k in wanted})
    partial.unlink(missing_ok=True)
    return {k: s for k, s in done.items() if k in wanted}, len(todo)


def merge(out: Path, num_parts: int) -> dict[str, float]:
    return merge_shards(out / 'scores.csv', num_parts, out / 'details.jsonl')


def _records(details: Path) -> list[dict]:
    """The details records, the last one per video (a resumed shard may have scored one twice)."""
    records: dict[str, dict] = {}
    if details.is_file():
        for record in read_details(details):
            records[record.get('key', record['video'])] = record
    return list(records.values())


def evaluate_listing(listing: Listing, scores: Mapping[str, float], records: Sequence[dict]) -> dict[str, Any]:
    """Video- and frame-level metrics of a scored data set, overall and per manipulation method (each method's
    fakes against all the reals)."""
    labels = {v.path: v.label for v in listing.videos}
    methods = {v.path: v.method for v in listing.videos}
    by_key = {r.get('key', r['video']): r for r in records}
    unscored = sum(1 for key in scores if by_key.get(key, {}).get('reason'))

    def block(keys: Iterable[str]) -> dict[str, Any]:
        keys = [k for k in keys if k in scores]
        subset_labels = {k: labels[k] for k in keys}
        if not keys:
            return {'videos': 0}
        video = evaluate({k: scores[k] for k in keys}, subset_labels)
        frames = frame_level([by_key[k] for k in keys if k in by_key], subset_labels,
                             key=lambda record: record.get('key', record['video']))
        return {'videos': video['videos'], 'real': int((video['labels'] == 0).sum()),
                'fake': int((video['labels'] == 1).sum()),
                'video': {k: video[k] for k in ('roc_auc', 'log_loss', 'accuracy', 'eer', 'average_precision',
                                                 'brier', 'ece')},
                'frame': frames, '_labels': video['labels'].tolist(), '_scores': video['scores'].tolist()}

    result = {'dataset': listing.dataset, 'root': str(listing.root), 'listed': len(listing.videos) +
              len(listing.missing), 'missing': len(listing.missing), 'unscored_no_face': unscored,
              **block(labels)}
    fake_methods = sorted({methods[k] for k in labels if labels[k] == 1 and methods[k]})
    if len(fake_methods) > 1:
        reals = [k for k in labels if labels[k] == 0]
        result['methods'] = {method: block(reals + [k for k in labels if labels[k] == 1 and methods[k] == method])
                             for method in fake_methods}
    return result


def _number(value: float | None) -> str:
    return '-' if value is None or (isinstance(value, float) and math.isnan(value)) else f'{value:.4f}'


def results_markdown(results: Sequence[Mapping[str, Any]], split: str | None) -> str:
    lines = ['# Cross-dataset results', '',
             f'Split: {split or "all videos"}. Video-level columns use one score per video; frame-level columns '
             'use every per-frame probability. See the notes below the table.', '',
             '| data set | method | videos (real/fake) | missing | no face | video AUC | video log loss | '
             'video acc@0.5 | video EER | video AP | frame AUC | frame EER | frames |',
             '|---|---|---|---|---|---|---|---|---|---|---|---|---|']

    def row(name: str, method: str, block: Mapping[str, Any], missing: str = '', unscored: str = '') -> str:
        if not block.get('videos'):
            return f'| {name} | {method} | 0 | {missing} | {unscored} | - | - | - | - | - | - | - | 0 |'
        video, frame = block['video'], block['frame']
        return (f'| {name} | {method} | {block["videos"]} ({block["real"]}/{block["fake"]}) | {missing} | {unscored} '
                f'| {_number(video["roc_auc"])} | {_number(video["log_loss"])} | {_number(video["accuracy"])} '
                f'| {_number(video["eer"])} | {_number(video["average_precision"])} | {_number(frame["roc_auc"])} '
                f'| {_number(frame["eer"])} | {frame["frames"]} |')

    for result in results:
        lines.append(row(result['dataset'], 'all', result, str(result['missing']), str(result['unscored_no_face'])))
        for method, block in result.get('methods', {}).items():
            lines.append(row(result['dataset'], f'{method} (vs all reals)', block))
    lines += ['', 'Notes:', ''] + [f'- {text}' for text in AGGREGATION.values()]
    lines.append('- missing: videos the data set\'s lists name that are not on disk (not scored); no face: videos '
                 'scored 0.5 because no face track was found')
    return '\n'.join(lines) + '\n'


def plot_rocs(results: Sequence[Mapping[str, Any]], path: Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    figure, axis = plt.subplots(figsize=(6, 6))
    roc_axis(axis, [(np.array(r.get('_labels', [])), np.array(r.get('_scores', [])),
                     f'{r["dataset"]} (video AUC {r.get("video", {}).get("roc_auc", float("nan")):.3f})')
                    for r in results], 'video-level ROC per data set')
    figure.tight_layout()
    ensure_dir(path.parent)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _public(result: Any) -> Any:
    """The result without the per-video arrays kept for the plot."""
    if isinstance(result, Mapping):
        return {k: _public(v) for k, v in result.items() if not str(k).startswith('_')}
    return result


def finish_dataset(listing: Listing, out: Path, scores: Mapping[str, float]) -> dict[str, Any]:
    """Evaluate one scored data set and write its HTML report."""
    records = _records(out / 'details.jsonl')
    result = evaluate_listing(listing, scores, records)
    labels = {Path(v.path).name: v.label for v in listing.videos}
    write_report(records, out / 'report', labels)
    result['report'] = str(out / 'report' / 'index.html')
    return result


def write_results(results: Sequence[Mapping[str, Any]], out: Path, split: str | None) -> None:
    payload = {'split': split, 'aggregation': AGGREGATION, 'datasets': [_public(r) for r in results]}
    atomic_write_bytes(out / 'results.json', json.dumps(payload, indent=1).encode())
    atomic_write_bytes(out / 'results.md', results_markdown(results, split).encode())
    plot_rocs(results, out / 'roc.png')


def check_names(specs: Sequence[tuple[str, Path]]) -> None:
    names = [name for name, _ in specs]
    if len(set(names)) != len(names):
        raise UserError('each data set may be given once per run (its results folder is named after it)')
