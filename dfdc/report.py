"""An HTML report of predict.py's `--details`: one folder that opens from disk in any browser, with no network.

`index.html` lists every video with its score and verdict (sortable by clicking a column header); with labels
it adds the true label, the run's log loss and ROC AUC and a histogram of scores per class. Each video has a page
with its metadata and, per face track, thumbnails of what the models saw (kept from the predictor's single
decoding pass), a timeline of every per-frame probability of the three models against the video score, and the
frames where the face was detected. Plots are matplotlib PNGs; the only script is the inline column sorter.
"""
from __future__ import annotations

import base64
import contextlib
import html
import json
import logging
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from .fileio import replacing_directory

log = logging.getLogger('dfdc')

DEFAULT_THRESHOLD = 0.5
MODELS = {  # details key -> (legend, colour)
    'sequence': ('sequence model (7-frame windows)', '#1f77b4'),
    'large_crop': ('frame model, large crop', '#ff7f0e'),
    'random_erasing': ('frame model, random erasing', '#2ca02c'),
}
STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 1100px; }
table { border-collapse: collapse; }
th, td { padding: 0.3em 0.8em; border-bottom: 1px solid #ddd; text-align: left; }
th.sortable { cursor: pointer; user-select: none; }
th.sortable:after { content: ' \\2195'; color: #999; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.fake { color: #b00020; font-weight: bold; }
.real { color: #1b7f3b; font-weight: bold; }
.none { color: #777; }
.strip img { margin: 0 0.4em 0.2em 0; border: 1px solid #ccc; }
.strip figure { display: inline-block; margin: 0 0.6em 0 0; font-size: 0.85em; color: #555; }
.meta td:first-child { color: #555; }
"""
SORT_SCRIPT = """
document.querySelectorAll('th.sortable').forEach(function (header, column) {
  header.addEventListener('click', function () {
    var body = document.querySelector('#videos tbody');
    var ascending = header.dataset.order !== 'asc';
    document.querySelectorAll('th.sortable').forEach(function (h) { delete h.dataset.order; });
    header.dataset.order = ascending ? 'asc' : 'desc';
    var index = header.cellIndex, numeric = header.dataset.type === 'number';
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[index].dataset.value, y = b.cells[index].dataset.value;
      var order = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""


def video_page_name(number: int) -> str:
    """The page of the `number`-th video (1-based, in file-name order), relative to the report folder."""
    return f'videos/{number:04d}.html'


def thumbnail_name(number: int, face: int, index: int) -> str:
    """The `index`-th thumbnail of face `face` (1-based) of the `number`-th video, relative to the report folder."""
    return f'images/{number:04d}_face{face}_{index}.jpg'


def timeline_name(number: int, face: int) -> str:
    return f'images/{number:04d}_face{face}_timeline.png'


def read_details(path: Path) -> list[dict[str, Any]]:
    """The records of a details JSONL; a malformed line (a run killed mid-write leaves a truncated last one) is a
    warning naming it, and is left out."""
    records = []
    lines = path.read_text(errors='replace').splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or 'video' not in record or 'score' not in record:
                raise ValueError('not a video record')
        except ValueError as error:
            where = 'its last line, truncated' if number == len(lines) else f'line {number}'
            log.warning('%s: %s is not a video record (%s); leaving it out of the report', path, where,
                        str(error).splitlines()[0][:80])
            continue
        records.append(record)
    return records


def verdict(record: Mapping[str, Any], threshold: float = DEFAULT_THRESHOLD) -> tuple[str, str]:
    """(css class, wording): fake at or above the threshold, real below it, none for an unscored video."""
    if record.get('reason'):
        return 'none', 'no verdict'
    if record['score'] >= threshold:
        return 'fake', f'likely fake (score \u2265 {threshold:g})'
    return 'real', f'likely real (score < {threshold:g})'


def frame_ranges(frames: Sequence[int]) -> str:
    """`0, 6, 12, 18, 30` -> `0-18 (every 6), 30`."""
    pieces, start = [], 0
    while start < len(frames):
        end = start
        step = frames[start + 1] - frames[start] if start + 1 < len(frames) else 0
        while end + 1 < len(frames) and frames[end + 1] - frames[end] == step:
            end += 1
        if end - start >= 2:
            pieces.append(f'{frames[start]}-{frames[end]} (every {step})')
            start = end + 1
        else:
            pieces.append(str(frames[start]))
            start += 1
    return ', '.join(pieces)


def _page(title: str, body: str, script: str = '') -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<style>{STYLE}</style></head>\n<body>\n{body}\n'
            + (f'<script>{script}</script>\n' if script else '') + '</body></html>\n')


def _timeline(track: Mapping[str, Any], score: float, threshold: float, path: Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(figsize=(9, 3.0), dpi=80)
    for key, (label, colour) in MODELS.items():
        points = track.get('probabilities', {}).get(key, [])
        if points:
            frames, probs = zip(*points)
            axes.plot(frames, probs, '.', color=colour, markersize=4, label=label)
    frames = track.get('frames') or [0]
    axes.axhline(score, color='#b00020' if score >= threshold else '#1b7f3b', linewidth=1.5,
                 label=f'video score {score:.3f} (sharpened, weighted)')
    axes.axhline(threshold, color='#999', linewidth=0.8, linestyle=':')
    detected = track.get('detected_frames', [])
    axes.plot(detected, [0.03] * len(detected), '|', color='#333', markersize=9, markeredgewidth=1.5,
              label='face detected')
    axes.set_xlim(min(frames) - 1, max(frames) + 1)
    axes.set_ylim(0, 1)
    axes.set_xlabel('frame')
    axes.set_ylabel('P(fake)')
    axes.legend(fontsize=8, loc='upper center', bbox_to_anchor=(0.5, -0.28), ncol=3, frameon=False)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _histogram(scores: Mapping[str, float], labels: Mapping[str, int], path: Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(figsize=(6, 2.6), dpi=80)
    bins = [i / 20 for i in range(21)]
    for label, name, colour in ((0, 'real', '#1b7f3b'), (1, 'fake', '#b00020')):
        values = [scores[v] for v in scores if labels.get(v) == label]
        axes.hist(values, bins=bins, alpha=0.6, color=colour, label=f'{name} ({len(values)})')
    axes.set_xlabel('score')
    axes.set_ylabel('videos')
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _video_page(number: int, record: Mapping[str, Any], threshold: float, root: Path) -> str:
    name = Path(record['video']).name
    css, wording = verdict(record, threshold)
    tracks = record.get('tracks') or []
    rows = [('file', html.escape(record['video'])), ('score', f'{record["score"]:.4f}'),
            ('verdict', f'<span class="{css}">{html.escape(wording)}</span>')]
    if record.get('reason'):
        rows.append(('why no verdict', html.escape(record['reason'])))
    if record.get('width'):
        rows.append(('size', f'{record["width"]} x {record["height"]}'))
    if record.get('fps'):
        step = record.get('step', 1)
        rows.append(('frame rate', f'{record["fps"]:g} fps; every {step}{"nd" if step == 2 else "th"} frame kept'
                     if step != 1 else f'{record["fps"]:g} fps; every frame kept'))
    rows.append(('frames read', str(record.get('frames_read', ''))))
    if 'seconds' in record:
        rows.append(('time taken', f'{record["seconds"]:.2f} s'))
    rows.append(('face tracks', str(len(tracks))))
    body = [f'<p><a href="../index.html">&larr; all videos</a></p><h1>{html.escape(name)}</h1>',
            '<table class="meta">' + ''.join(f'<tr><td>{k}</td><td>{v}</td></tr>' for k, v in rows) + '</table>']
    for k, track in enumerate(tracks, 1):
        body.append(f'<h2>Face {k}</h2>')
        figures = []
        for m, thumbnail in enumerate(track.get('thumbnails', [])):
            image = thumbnail_name(number, k, m)
            (root / image).write_bytes(base64.b64decode(thumbnail['jpeg']))
            figures.append(f'<figure><img src="../{image}" width="96" height="112" '
                           f'alt="face {k} at frame {thumbnail["frame"]}"><figcaption>frame {thumbnail["frame"]}'
                           f'</figcaption></figure>')
        if figures:
            body.append('<div class="strip">' + ''.join(figures) + '</div>')
        plot = timeline_name(number, k)
        _timeline(track, record['score'], threshold, root / plot)
        counts = ', '.join(f'{len(track["probabilities"].get(key, []))} from the {label}'
                           for key, (label, _) in MODELS.items())
        body.append(f'<p><img src="../{plot}" alt="probabilities of face {k} over time"></p>'
                    f'<p>Probabilities: {counts}. Face detected on frames '
                    f'{frame_ranges(track.get("detected_frames", [])) or "-"}.</p>')
    return _page(name, '\n'.join(body))


def write_report(records: Sequence[Mapping[str, Any]], out: Path, labels: Mapping[str, int] | None = None,
                 threshold: float = DEFAULT_THRESHOLD) -> Path:
    """Write the report folder `out` (replacing an existing one only once the new one is complete)."""
    out = Path(out)
    with replacing_directory(out) as temp:
        (temp / 'videos').mkdir()
        (temp / 'images').mkdir()
        rows = []
        for number, record in enumerate(sorted(records, key=lambda r: Path(r['video']).name), 1):
            name = Path(record['video']).name
            (temp / video_page_name(number)).write_text(_video_page(number, record, threshold, temp))
            css, wording = verdict(record, threshold)
            cells = [(f'<a href="{video_page_name(number)}">{html.escape(name)}</a>', name, ''),
                     (f'{record["score"]:.4f}', f'{record["score"]:.6f}', 'num'),
                     (f'<span class="{css}">{html.escape(wording)}</span>', css, ''),
                     (str(len(record.get('tracks') or [])), str(len(record.get('tracks') or [])), 'num')]
            if labels is not None:
                label = labels.get(name)
                text = {1: 'fake', 0: 'real'}.get(label, '?')
                cells.append((text, text, ''))
            cells.append((html.escape(record.get('reason') or ''), record.get('reason') or '', ''))
            rows.append('<tr>' + ''.join(f'<td class="{c}" data-value="{html.escape(v)}">{t}</td>'
                                         for t, v, c in cells) + '</tr>')
        headers = [('video', 'text'), ('score', 'number'), ('verdict', 'text'), ('faces', 'number')]
        if labels is not None:
            headers.append(('label', 'text'))
        headers.append(('why no verdict', 'text'))
        scored = sum(1 for r in records if not r.get('reason'))
        summary = [f'<h1>Deepfake scores</h1><p>{len(records)} videos, {scored} scored. Verdict: likely fake at a '
                   f'score of {threshold:g} or more, likely real below; a video without a face track of 7 '
                   'detections gets 0.5 and no verdict. Click a column header to sort.</p>']
        if labels is not None:
            summary.append(_metrics_section(records, labels, temp))
        table = ('<table id="videos"><thead><tr>' + ''.join(
            f'<th class="sortable" data-type="{kind}">{title}</th>' for title, kind in headers) +
            '</tr></thead><tbody>\n' + '\n'.join(rows) + '\n</tbody></table>')
        (temp / 'index.html').write_text(_page('Deepfake scores', '\n'.join(summary + [table]), SORT_SCRIPT))
    return out


def _metrics_section(records: Sequence[Mapping[str, Any]], labels: Mapping[str, int], root: Path) -> str:
    from .evaluation import evaluate
    scores = {Path(r['video']).name: float(r['score']) for r in records}
    try:
        metrics = evaluate(scores, dict(labels))
    except ValueError as error:
        return f'<p>No metrics: {html.escape(str(error))}.</p>'
    _histogram(scores, labels, root / 'images' / 'histogram.png')
    auc = 'n/a (one class only)' if metrics['roc_auc'] != metrics['roc_auc'] else f'{metrics["roc_auc"]:.4f}'
    return (f'<p>Against the labels of {metrics["videos"]} videos: log loss <b>{metrics["log_loss"]:.4f}</b>, '
            f'ROC AUC <b>{auc}</b>, accuracy at 0.5 {metrics["accuracy"]:.4f}.</p>'
            '<p><img src="images/histogram.png" alt="histogram of scores per class"></p>')


def report_from_files(details: Iterable[Path], out: Path, labels_path: Path | None = None,
                      threshold: float = DEFAULT_THRESHOLD) -> tuple[Path, int]:
    """`write_report` from details JSONL files (and a labels CSV or metadata.json); returns the folder and count."""
    from .evaluation import read_labels
    records: dict[str, dict] = {}
    for path in details:
        for record in read_details(Path(path)):
            records[record['video']] = record   # a resumed run may list a video twice: keep the last
    labels = read_labels(labels_path, basenames=True) if labels_path is not None else None
    return write_report(list(records.values()), out, labels, threshold), len(records)


CHROMIUM_ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-sync',
                 '--disable-background-networking', '--disable-component-update', '--disable-dev-shm-usage']


def find_chromium() -> str | None:
    """The system Chromium (Debian's `chromium` package), which Playwright drives: no browser download."""
    import shutil
    return next((found for name in ('chromium', 'chromium-browser', 'google-chrome')
                 if (found := shutil.which(name))), None)


@contextlib.contextmanager
def open_browser() -> Iterator[Any]:
    """A headless system Chromium under Playwright; raises RuntimeError naming what to install when missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise RuntimeError('the report screenshot needs Playwright: pip install -r requirements-dev.txt') from None
    executable = find_chromium()
    if executable is None:
        raise RuntimeError('no Chromium found: install Debian\'s chromium package (make test does)')
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(report: Path, png: Path, page: str = 'index.html', width: int = 1100) -> Path:
    """A PNG of one page of a report as Chromium renders it."""
    with open_browser() as browser:
        tab = browser.new_page(viewport={'width': width, 'height': 800})
        tab.goto((Path(report).resolve() / page).as_uri())
        tab.screenshot(path=str(png), full_page=True)
    return png
