"""The HTML report from --details: content, bad input, atomic replacement (the browser test is test_report_browser)."""
import base64
import json
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

from dfdc.report import frame_ranges, read_details, verdict, write_report
from tests.conftest import REPO


def thumbnail(colour):
    _, jpeg = cv2.imencode('.jpg', np.full((224, 192, 3), colour, np.uint8))
    return base64.b64encode(jpeg).decode('ascii')


def scored_record(name='fake_one.mp4', score=0.91):
    frames = list(range(0, 60, 2))
    return {'video': f'/videos/{name}', 'score': score, 'reason': None, 'frames_read': 60, 'width': 320,
            'height': 180, 'fps': 30.0, 'step': 2, 'seconds': 1.25,
            'tracks': [{'frames': frames, 'boxes': [[10, 10, 60, 70]] * len(frames),
                        'probabilities': {'sequence': [[f, 0.8] for f in frames[:14]],
                                          'large_crop': [[f, 0.95] for f in frames[::8]],
                                          'random_erasing': [[f, 0.9] for f in frames[4::8]]},
                        'detected_frames': frames[::3],
                        'thumbnails': [{'frame': 2, 'jpeg': thumbnail(90)}, {'frame': 30, 'jpeg': thumbnail(160)}]}]}


def unscored_record(name='empty.mp4'):
    return {'video': f'/videos/{name}', 'score': 0.5, 'reason': 'no faces detected', 'frames_read': 90,
            'tracks': []}


@pytest.fixture
def details(tmp_path):
    path = tmp_path / 'details.jsonl'
    lines = [json.dumps(record) for record in (scored_record(), scored_record('real_one.mp4', 0.12), unscored_record())]
    # A run killed while writing leaves a truncated last line.
    path.write_text('\n'.join(lines) + '\n' + json.dumps(scored_record('cut.mp4'))[:70])
    return path


def run_report(*args):
    return subprocess.run([sys.executable, str(REPO / 'report.py'), *map(str, args)], capture_output=True, text=True)


def test_report_lists_every_video_with_verdicts_and_survives_a_truncated_line(tmp_path, details):
    result = run_report('--details', details, '--out', tmp_path / 'report')
    assert result.returncode == 0, result.stderr
    assert 'its last line, truncated' in result.stderr and 'report: 3 videos' in result.stdout
    index = (tmp_path / 'report' / 'index.html').read_text()
    for name in ('fake_one.mp4', 'real_one.mp4', 'empty.mp4'):
        assert name in index
    assert 'likely fake (score \u2265 0.5)' in index and 'likely real (score &lt; 0.5)' in index
    assert 'no verdict' in index and 'no faces detected' in index
    pages = sorted((tmp_path / 'report' / 'videos').glob('*.html'))
    assert len(pages) == 3
    fake_page = next(p.read_text() for p in pages if 'fake_one.mp4' in p.read_text())
    assert '320 x 180' in fake_page and '30 fps; every 2nd frame kept' in fake_page and '1.25 s' in fake_page
    assert 'frame 30' in fake_page and 'timeline.png' in fake_page and '0-54 (every 6)' in fake_page


def test_report_is_self_contained_and_small(tmp_path, details):
    assert run_report('--details', details, '--out', tmp_path / 'report').returncode == 0
    root = tmp_path / 'report'
    total = 0
    for page in root.rglob('*.html'):
        text = page.read_text()
        assert not re.search(r'(src|href)="(https?:)?//', text), f'{page.name} reaches the network'
        for target in re.findall(r'(?:src|href)="([^"#]+)"', text):
            assert (page.parent / target).resolve().is_file(), f'{page.name}: broken link {target}'
    for path in root.rglob('*'):
        total += path.stat().st_size if path.is_file() else 0
    assert total < 300_000


def test_labels_add_metrics_and_histogram(tmp_path, details):
    labels = tmp_path / 'labels.csv'
    labels.write_text('filename,label\nfake_one.mp4,1\nreal_one.mp4,0\nempty.mp4,0\n')
    assert run_report('--details', details, '--labels', labels, '--out', tmp_path / 'report').returncode == 0
    index = (tmp_path / 'report' / 'index.html').read_text()
    assert 'log loss' in index and 'ROC AUC <b>1.0000</b>' in index
    assert (tmp_path / 'report' / 'images' / 'histogram.png').read_bytes()[:4] == b'\x89PNG'


def test_an_existing_report_is_replaced_only_by_a_complete_one(tmp_path, details, monkeypatch):
    out = tmp_path / 'report'
    out.mkdir()
    (out / 'stale.html').write_text('old')
    records = read_details(details)
    write_report(records, out)
    assert not (out / 'stale.html').exists() and (out / 'index.html').is_file()
    before = (out / 'index.html').read_text()
    import dfdc.report as report
    monkeypatch.setattr(report, '_video_page', lambda *args: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        write_report(records[:1], out)
    assert (out / 'index.html').read_text() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith('.')] == [], 'no temporary folder left'


def test_verdicts_and_frame_ranges():
    assert verdict({'score': 0.5, 'reason': None}) == ('fake', 'likely fake (score \u2265 0.5)')
    assert verdict({'score': 0.2, 'reason': None}, threshold=0.3)[0] == 'real'
    assert verdict({'score': 0.5, 'reason': 'no frames'})[0] == 'none'
    assert frame_ranges([0, 6, 12, 18, 30]) == '0-18 (every 6), 30'
    assert frame_ranges([4, 9]) == '4, 9' and frame_ranges([]) == ''
