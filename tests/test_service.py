"""serve.py as a user meets it: the real server in a subprocess on a free port, over HTTP, with the demo-sized tiny
models and the Haar detector, against predict.py's scores for the same files."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from dfdc.ffmpeg import find_ffmpeg
from tests import bad_inputs
from tests.conftest import REPO

TOKEN = 'test-token-0123456789abcdef'
START_SECONDS = 240
SCORE_SECONDS = 180


class Server:
    """serve.py started in a subprocess; `url` once it listens."""

    def __init__(self, config: Path, log: Path, *args: str):
        self.log = log
        start = log.stat().st_size if log.exists() else 0   # a restart appends to the same log
        self.process = subprocess.Popen(
            [sys.executable, str(REPO / 'serve.py'), '--config', str(config), '--port', '0', '--detector', 'opencv',
             *args], stdout=open(log, 'a'), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_SECONDS
        while True:
            found = re.findall(r'serve: (http://[\d.:]+)/', log.read_text()[start:])
            if found:
                self.url = found[-1]
                break
            assert self.process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
        self.headers = {'Authorization': f'Bearer {TOKEN}'} if '--token-file' in args else {}
        self.client = httpx.Client(base_url=self.url, headers=self.headers, timeout=60)
        while True:  # the URL is printed just before the server accepts connections
            try:
                self.client.get('/api/health')
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.05)

    def wait_done(self, ids, seconds: float = SCORE_SECONDS) -> dict[str, dict]:
        deadline = time.monotonic() + seconds
        while True:
            jobs = {job_id: self.client.get(f'/api/videos/{job_id}').json() for job_id in ids}
            if all(job['status'] in ('done', 'failed') for job in jobs.values()):
                return jobs
            assert time.monotonic() < deadline, (jobs, self.log.read_text()[-3000:])
            time.sleep(0.1)

    def upload(self, *paths: Path, names=None, client=None) -> httpx.Response:
        files = [('file', (name, path.read_bytes(), 'video/mp4'))
                 for path, name in zip(paths, names or [p.name for p in paths])]
        return (client or self.client).post('/api/videos', files=files)

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def write_service_config(base: Path, directory: Path, service: Path) -> Path:
    """A config like `base` with SERVICE_PATH set (the models, and their OpenVINO cache, are shared)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / 'config.yaml'
    path.write_text(base.read_text() + f'SERVICE_PATH: {service}\n')
    return path


@pytest.fixture(scope='module')
def videos(tmp_path_factory, synthetic_root) -> Path:
    """The synthetic test videos, bad files made from one of them, and a 4x longer video (for a kill mid-job)."""
    folder = tmp_path_factory.mktemp('service_videos')
    tests = sorted((synthetic_root / 'test_videos').glob('*.mp4'))
    for path in tests:
        (folder / path.name).write_bytes(path.read_bytes())
    for make in (bad_inputs.zero_byte, bad_inputs.text_file, bad_inputs.truncated):
        make(tests[0], folder / f'bad_{make.__name__}.mp4')
    listing = folder / 'concat.txt'
    listing.write_text(''.join(f"file '{tests[0]}'\n" for _ in range(4)))
    subprocess.run([find_ffmpeg(), '-hide_banner', '-loglevel', 'error', '-f', 'concat', '-safe', '0', '-i',
                    str(listing), '-c', 'copy', str(folder / 'long.mp4')], check=True)
    listing.unlink()
    return folder


@pytest.fixture(scope='module')
def reference(tmp_path_factory, tiny_models_config, videos):
    """The tiny models' config, and predict.py's scores (as the CSV writes them) and details for every video."""
    directory = tmp_path_factory.mktemp('service')
    config = tiny_models_config
    result = subprocess.run([sys.executable, str(REPO / 'predict.py'), '--config', str(config), '--detector',
                             'opencv', '--input', str(videos), '--output', str(directory / 'scores.csv'),
                             '--details', str(directory / 'details.jsonl')], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    scores = dict(line.split(',') for line in (directory / 'scores.csv').read_text().splitlines()[1:])
    details = {Path(r['video']).name: r for r in map(json.loads, (directory / 'details.jsonl').open())}
    return config, scores, details


@pytest.fixture(scope='module')
def server(reference, tmp_path_factory):
    directory = tmp_path_factory.mktemp('server')
    config = write_service_config(reference[0], directory, directory / 'service')
    server = Server(config, directory / 'serve.log', '--max-upload-mb', '1')
    server.service = directory / 'service'
    yield server
    server.stop()


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob('*')}


def same_record(served: dict, predicted: dict) -> None:
    """The service's details record is predict.py's, but for the video's name and the time taken."""
    assert served['video'] == Path(predicted['video']).name
    for key in ('video', 'seconds'):
        served.pop(key), predicted.pop(key)
    assert served == predicted


def test_scores_details_report_and_annotated_video_match_predict(server, reference, videos):
    _, scores, details = reference
    tests = sorted(videos.glob('[!bl]*.mp4'))
    answer = server.upload(*tests)
    assert answer.status_code == 202, answer.text
    queued = answer.json()['jobs']
    assert [job['name'] for job in queued] == [p.name for p in tests]
    assert all(job['status'] == 'queued' and re.fullmatch(r'[A-Za-z0-9_-]{22}', job['id']) for job in queued)
    jobs = server.wait_done([job['id'] for job in queued])
    faces = 0
    for job in jobs.values():
        assert job['status'] == 'done' and job['attempts'] == 1
        assert repr(job['score']) == scores[job['name']], job['name']   # byte for byte, as the CSV writes it
        same_record(server.client.get(job['links']['details']).json(), dict(details[job['name']]))
        assert job['verdict'] in ('fake', 'real') if job['reason'] is None else job['verdict'] == 'none'
        report = server.client.get(job['links']['report'], follow_redirects=True)
        assert report.status_code == 200 and f'<h1>{job["name"]}</h1>' in report.text
        for face in job['faces']:
            faces += 1
            assert len(face['thumbnails']) > 0 and 0 <= face['probability'] <= 1
            for url in [face['timeline']] + [t['url'] for t in face['thumbnails']]:
                image = server.client.get(url)
                assert image.status_code == 200 and image.headers['content-type'].startswith('image/')
        if job['links']['annotated']:
            video = server.client.get(job['links']['annotated']).content
            assert video[4:8] == b'ftyp' and b'avc1' in video[:video.index(b'mdat')]
            assert video.index(b'moov') < video.index(b'mdat'), '+faststart: the index comes first'
    assert faces > 0
    assert answer.headers['x-frame-options'] == 'DENY' and answer.headers['x-content-type-options'] == 'nosniff'
    listed = server.client.get('/api/videos').json()['jobs']
    assert {job['id'] for job in queued} <= {job['id'] for job in listed}
    # DELETE removes the job and everything made from it.
    gone = queued[0]['id']
    assert (server.service / 'jobs' / gone).is_dir()
    assert server.client.delete(f'/api/videos/{gone}').status_code == 204
    assert not (server.service / 'jobs' / gone).exists()
    assert server.client.get(f'/api/videos/{gone}').status_code == 404
    assert server.client.delete(f'/api/videos/{gone}').status_code == 404
    assert server.client.get('/api/videos/..%2F..%2Fetc').status_code == 404
    assert server.client.get(f'/api/videos/{queued[1]["id"]}/report/..%2F..%2F..%2Fjobs.sqlite3').status_code == 404


def test_twenty_uploads_from_four_clients_all_score_as_predict(server, reference, videos):
    _, scores, _ = reference
    tests = sorted(videos.glob('[!bl]*.mp4'))
    ids: dict[str, str] = {}
    errors = []

    def client(number: int) -> None:
        with httpx.Client(base_url=server.url, timeout=60) as own:
            for k in range(5):
                source = tests[(number + k) % len(tests)]
                answer = server.upload(source, names=[f'client{number}-{k}-{source.name}'], client=own)
                if answer.status_code != 202:
                    errors.append(answer.text)
                    continue
                ids[answer.json()['jobs'][0]['id']] = source.name

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(ids) == 20
    jobs = server.wait_done(list(ids), seconds=300)
    assert {job_id: repr(job['score']) for job_id, job in jobs.items()} == {i: scores[s] for i, s in ids.items()}
    assert all(job['attempts'] == 1 for job in jobs.values())


@pytest.mark.parametrize('name, source, reason', [
    ('empty.mp4', 'bad_zero_byte.mp4', 'file is empty'),
    ('notes.mp4', 'bad_text_file.mp4', None),
    ('cut.mp4', 'bad_truncated.mp4', None),
    ('../../x.mp4', None, None),
    ('видео «тест» 🎭.mp4', None, None),
    ('<img src=x onerror=alert(1)>.mp4', None, None),
])
def test_bad_uploads_end_as_predict_scores_them(server, reference, videos, name, source, reason):
    _, scores, details = reference
    source = source or sorted(videos.glob('[!bl]*.mp4'))[0].name
    before = files_under(server.service.parent)
    answer = server.upload(videos / source, names=[name])
    assert answer.status_code == 202, answer.text
    job = server.wait_done([answer.json()['jobs'][0]['id']])[answer.json()['jobs'][0]['id']]
    assert job['name'] == name and job['status'] == 'done'
    assert repr(job['score']) == scores[source] and job['reason'] == details[source]['reason']
    if reason:
        assert job['reason'] == reason and job['score'] == 0.5 and job['verdict'] == 'none'
    # Nothing was written anywhere but the job's own folder, under a name of the service's choosing.
    added = files_under(server.service.parent) - before
    assert all(path.startswith(f'service/jobs/{job["id"]}') or path.startswith('service/jobs.sqlite3')
               for path in added), added
    assert (server.service / 'jobs' / job['id'] / 'upload.mp4').read_bytes() == (videos / source).read_bytes()
    report = server.client.get(job['links']['report'], follow_redirects=True).text
    assert '<img src=x' not in report
    assert ('<h1>' + name.replace('<', '&lt;').replace('>', '&gt;').split('/')[-1] + '</h1>') in report


def test_uploads_over_the_limit_or_malformed_leave_nothing_behind(server):
    before = files_under(server.service)
    big = b'\0' * (1_500_000)
    answer = server.client.post('/api/videos', files=[('file', ('big.mp4', big, 'video/mp4'))])
    assert answer.status_code == 413 and 'limit of 1 MB' in answer.json()['detail']

    # Without a Content-Length (chunked), the limit stops the upload as it passes 1 MB.
    boundary = 'b0undary'
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n'
            'Content-Type: video/mp4\r\n\r\n').encode()

    def chunks():
        yield head
        for _ in range(30):
            yield b'\0' * 65536
        yield f'\r\n--{boundary}--\r\n'.encode()

    answer = server.client.post('/api/videos', content=chunks(),
                                headers={'Content-Type': f'multipart/form-data; boundary={boundary}'})
    assert answer.status_code == 413
    answer = server.client.post('/api/videos', data={'note': 'no file here'}, files=[])
    assert answer.status_code == 400
    answer = server.client.post('/api/videos', content=b'raw bytes', headers={'Content-Type': 'video/mp4'})
    assert answer.status_code == 400 and 'multipart/form-data' in answer.json()['detail']
    answer = server.client.post('/api/videos', content=head + b'cut short',
                                headers={'Content-Type': f'multipart/form-data; boundary={boundary}'})
    assert answer.status_code == 400
    assert files_under(server.service) == before


def test_refuses_to_listen_beyond_loopback_without_a_good_token(tmp_path, reference, capsys):
    import serve
    from dfdc.cli import run_main
    (tmp_path / 'short').write_text('short\n')
    for args, message in ((['--host', '0.0.0.0'], '--host 0.0.0.0 makes the service reachable'),
                          (['--host', '192.168.1.10'], 'give it a token with --token-file'),
                          (['--token-file', str(tmp_path / 'missing')], 'cannot read --token-file'),
                          (['--token-file', str(tmp_path / 'short')], 'at least 16 characters')):
        assert run_main(serve.main, ['--config', str(reference[0]), *args]) == 2
        error = capsys.readouterr().err
        assert error.startswith('error: ') and message in error and error.count('\n') == 1, error
    assert [serve.is_loopback(host) for host in ('127.0.0.1', '::1', 'localhost', '127.0.0.2', '0.0.0.0', '::')] == \
        [True, True, True, True, False, False]


def test_token_queue_bound_and_kill_during_a_job(reference, tmp_path, videos):
    """With a token, every request needs it; a full queue answers 503; SIGKILL mid-job and a restart finish every
    job once, with predict.py's scores."""
    _, scores, details = reference
    (tmp_path / 'token').write_text(TOKEN + '\n')
    config = write_service_config(reference[0], tmp_path, tmp_path / 'service')
    args = ('--token-file', str(tmp_path / 'token'), '--max-queue', '3')
    server = Server(config, tmp_path / 'serve.log', *args)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as anonymous:
            for headers in ({}, {'Authorization': 'Bearer wrong-token-0123456789'}, {'Authorization': TOKEN}):
                for method, path in (('GET', '/api/health'), ('GET', '/api/videos'), ('POST', '/api/videos'),
                                     ('GET', '/docs'), ('GET', '/openapi.json'), ('DELETE', '/api/videos/x')):
                    answer = anonymous.request(method, path, headers=headers)
                    assert answer.status_code == 401 and answer.json() == {'detail': 'unauthorized'}, path
            page = anonymous.get('/')
            assert page.status_code == 401 and 'name="token"' in page.text and 'Drop video' not in page.text
            assert anonymous.post('/login', data={'token': 'nope'}).status_code == 401
            login = anonymous.post('/login', data={'token': TOKEN})
            assert login.status_code == 303 and 'httponly' in login.headers['set-cookie'].lower()
            assert 'Drop video' in anonymous.get('/').text             # the cookie now opens the page
            assert anonymous.get('/api/health').status_code == 200     # and the API the page calls
        assert server.client.get('/api/health').json()['status'] == 'ok'

        long_video = videos / 'long.mp4'
        tests = sorted(videos.glob('[!bl]*.mp4'))[:2]
        before = files_under(tmp_path / 'service')
        full = server.upload(long_video, *tests, tests[0])
        assert full.status_code == 503 and full.headers['retry-after'].isdigit()
        assert files_under(tmp_path / 'service') == before
        answer = server.upload(long_video, *tests)
        assert answer.status_code == 202
        ids = [job['id'] for job in answer.json()['jobs']]
        assert server.client.get(f'/api/videos/{ids[2]}/details').status_code == 409   # queued: nothing yet
        workers = [w['pid'] for w in server.client.get('/api/health').json()['workers']]
        deadline = time.monotonic() + 60
        while True:
            job = server.client.get(f'/api/videos/{ids[0]}').json()
            if job['status'] == 'running' and job['progress']['frames']:
                break
            assert job['status'] in ('queued', 'running') and time.monotonic() < deadline, job
            time.sleep(0.02)
        assert job['progress']['stage'] == 'detect'
        assert job['progress']['frame_total'] == details['long.mp4']['frames_read']
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait()
        deadline = time.monotonic() + 10
        while any(Path(f'/proc/{pid}').exists() and 'zombie' not in Path(f'/proc/{pid}/status').read_text().lower()
                  for pid in workers):
            assert time.monotonic() < deadline, 'the workers outlived the killed server'
            time.sleep(0.1)
    finally:
        server.stop()
    restarted = Server(config, tmp_path / 'serve.log', *args)
    try:
        assert 'serve: 3 jobs queued, 1 of them interrupted' in (tmp_path / 'serve.log').read_text()
        jobs = restarted.wait_done(ids)
        assert [repr(jobs[i]['score']) for i in ids] == [scores['long.mp4']] + [scores[p.name] for p in tests]
        assert jobs[ids[0]]['attempts'] == 2                        # scored again from the start, once
        assert all(jobs[i]['attempts'] == 1 for i in ids[1:])       # queued behind it: scored once
        assert len(list((tmp_path / 'service' / 'jobs').iterdir())) == 3
    finally:
        restarted.stop()


@pytest.mark.browser
def test_page_uploads_and_drops_videos_and_shows_the_verdict(server, reference, videos, tmp_path):
    """In Chromium: choose a video on the page, drop a second file on it, wait for the verdicts, and see the
    faces' thumbnails, timelines and the annotated video play."""
    from dfdc.report import open_browser
    _, scores, details = reference
    name = max((n for n in details if n[0] not in 'bl' and details[n]['reason'] is None),
               key=lambda n: len(details[n]['tracks']))
    with open_browser() as browser:
        page = browser.new_page(viewport={'width': 1150, 'height': 900})
        problems = []
        page.on('console', lambda message: problems.append(message.text) if message.type == 'error' else None)
        page.on('pageerror', lambda error: problems.append(str(error)))
        page.goto(server.url + '/')
        page.set_input_files('#files', str(videos / name))
        page.wait_for_selector('#detail .verdict', timeout=SCORE_SECONDS * 1000)
        assert f'score {float(scores[name]):.4f}' in page.inner_text('#detail .verdict')
        faces = len(details[name]['tracks'])
        assert page.locator('#detail .face').count() == faces
        page.wait_for_function('Array.from(document.querySelectorAll("#detail img"))'
                               '.every(i => i.complete && i.naturalWidth > 0)')
        assert page.locator('#detail img.timeline').count() == faces
        page.wait_for_function('document.getElementById("annotated").readyState >= 1', timeout=30_000)
        assert page.evaluate('document.getElementById("annotated").duration') > 1
        # A file dropped onto the page: the row shows its name as text, and its "no verdict" when done.
        page.evaluate("""() => {
            const files = new DataTransfer();
            files.items.add(new File(['not a video'], '<b>dropped</b>.mp4', {type: 'video/mp4'}));
            document.getElementById('drop').dispatchEvent(new DragEvent('drop', {dataTransfer: files, bubbles: true}));
        }""")
        page.wait_for_selector('#jobs tr:has-text("dropped") td.none', timeout=SCORE_SECONDS * 1000)
        assert '<b>dropped</b>.mp4' in page.inner_text('#jobs') and page.locator('#jobs b').count() == 0
        page.locator('#jobs tr', has_text=name).first.click()
        page.wait_for_function('document.querySelectorAll("#detail img.timeline").length > 0 && Array.from('
                               'document.querySelectorAll("#detail img")).every(i => i.complete && i.naturalWidth)')
        page.screenshot(path=str(tmp_path / 'service.png'), full_page=True)
        if os.environ.get('DFDC_SERVICE_SCREENSHOT'):   # how docs/service.png is made
            page.screenshot(path=os.environ['DFDC_SERVICE_SCREENSHOT'], full_page=True)
        assert problems == []
