"""The report as a person sees it: predict.py --report on the synthetic test videos, opened in headless Chromium.

Needs Debian's chromium and Playwright, which `make test` installs; marked `browser` (CI runs it).
"""
import re
import subprocess
import sys

import pytest

from dfdc.report import open_browser
from tests.conftest import REPO

pytestmark = pytest.mark.browser


@pytest.fixture(scope='module')
def report(tmp_path_factory, synthetic_root, tiny_models_config):
    directory = tmp_path_factory.mktemp('browser')
    config_path = tiny_models_config
    result = subprocess.run([sys.executable, str(REPO / 'predict.py'), '--config', str(config_path), '--detector',
                             'opencv', '--details', str(directory / 'details.jsonl'), '--report',
                             str(directory / 'report'), '--annotate', str(directory / 'annotated')],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'report: 4 videos' in result.stdout
    labelled = subprocess.run([sys.executable, str(REPO / 'report.py'), '--details', str(directory / 'details.jsonl'),
                               '--labels', str(synthetic_root / 'test_labels.csv'), '--out',
                               str(directory / 'labelled')], capture_output=True, text=True)
    assert labelled.returncode == 0, labelled.stderr
    return directory


@pytest.fixture(scope='module')
def browser():
    with open_browser() as browser:
        yield browser


def open_page(browser, path):
    page = browser.new_page(viewport={'width': 1100, 'height': 800})
    problems = []
    page.on('console', lambda message: problems.append(message.text) if message.type == 'error' else None)
    page.on('pageerror', lambda error: problems.append(str(error)))
    page.goto(path.as_uri())
    page.wait_for_load_state('load')
    return page, problems


def broken_images(page):
    return page.evaluate('Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)'
                         '.map(i => i.getAttribute("src"))')


def column(page, index):
    return page.eval_on_selector_all('#videos tbody tr', f'rows => rows.map(r => r.cells[{index}].innerText)')


def test_index_lists_every_video_and_sorts_by_score_and_name(report, browser, synthetic_root):
    page, problems = open_page(browser, report / 'labelled' / 'index.html')
    names = sorted(p.name for p in (synthetic_root / 'test_videos').glob('*.mp4'))
    assert sorted(column(page, 0)) == names
    assert all(re.fullmatch(r'\d\.\d{4}', score) for score in column(page, 1))
    assert 'log loss' in page.inner_text('body') and not broken_images(page)
    page.click('th:has-text("score")')
    ascending = [float(s) for s in column(page, 1)]
    assert ascending == sorted(ascending)
    page.click('th:has-text("score")')
    assert [float(s) for s in column(page, 1)] == sorted(ascending, reverse=True)
    page.click('th:has-text("video")')
    assert column(page, 0) == names
    page.screenshot(path=str(report / 'index.png'), full_page=True)
    assert problems == []


def test_video_pages_show_thumbnails_and_plots(report, browser):
    index, _ = open_page(browser, report / 'report' / 'index.html')
    with_faces = [row for row in index.eval_on_selector_all(
        '#videos tbody tr', 'rows => rows.map(r => [r.cells[0].querySelector("a").href, r.cells[3].innerText, '
                            'r.cells[0].innerText])') if row[1] != '0']
    assert with_faces, 'the synthetic test videos have faces'
    for href, faces, _ in with_faces:
        page, problems = open_page(browser, report / 'report' / 'videos' / href.rsplit('/', 1)[1])
        thumbnails = page.eval_on_selector_all('.strip img', 'images => images.map(i => i.naturalWidth)')
        plots = page.eval_on_selector_all('img[src$="timeline.png"]', 'images => images.map(i => i.naturalWidth)')
        assert len(plots) == int(faces) and all(width > 300 for width in plots)
        assert thumbnails and all(width == 192 for width in thumbnails)
        assert not broken_images(page) and problems == []
        page.click('text=all videos')
        assert page.url.endswith('index.html')
    # predict.py --annotate wrote one video per scored video.
    annotated = sorted(p.name for p in (report / 'annotated').iterdir())
    assert annotated == sorted(name.replace('.mp4', '') + '.mp4' for _, _, name in with_faces)
