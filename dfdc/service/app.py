"""serve.py's web application: the REST API, the page at `/`, and the token check in front of both.

The application only receives uploads, records jobs and serves what the workers made; it never loads a model.
"""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
import hmac
import html
import shutil
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.requests import ClientDisconnect

from .jobs import JOB_ID, Job, JobStore, QueueFull
from .uploads import UploadError, drain, receive_files
from .worker import ANNOTATED_NAME, DETAILS_NAME, REPORT_DIR

COOKIE = 'dfdc_session'
RETRY_AFTER_SECONDS = 30
PUBLIC_PATHS = ('/login',)
# No framing by other sites (clickjacking), no content-type guessing, no Referer with job ids in it.
SECURITY_HEADERS = {'X-Frame-Options': 'DENY', 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer'}


@dataclasses.dataclass
class Settings:
    store: JobStore
    max_queue: int = 100
    max_upload_bytes: int = 2048 * 2 ** 20
    token: str | None = None
    version: str = ''


def _page(name: str) -> str:
    return resources.files('dfdc.service').joinpath('static', name).read_text(encoding='utf-8')


def _time(value: float | None) -> str | None:
    if value is None:
        return None
    return datetime.datetime.fromtimestamp(value, datetime.timezone.utc).isoformat(timespec='milliseconds')


def job_json(job: Job) -> dict[str, Any]:
    """A job as the API shows it: status, progress while running, and the verdict and faces once done."""
    base = f'/api/videos/{job.id}'
    data: dict[str, Any] = {'id': job.id, 'name': job.name, 'size': job.size, 'status': job.status, 'url': base,
                            'created': _time(job.created), 'started': _time(job.started),
                            'finished': _time(job.finished), 'attempts': job.attempts}
    if job.status == 'running':
        data['progress'] = {'stage': job.stage, 'frames': job.frames, 'frame_total': job.frame_total}
    elif job.status == 'failed':
        data['error'] = job.error
    elif job.status == 'done':
        summary = job.summary_json()
        faces = summary.get('faces', [])
        for face in faces:
            face['thumbnails'] = [{'frame': t['frame'], 'url': f'{base}/{t["file"]}'} for t in face['thumbnails']]
            face['timeline'] = f'{base}/{face["timeline"]}'
        data.update(score=job.score, verdict=summary.get('verdict'), verdict_text=summary.get('verdict_text'),
                    reason=job.reason, faces=faces,
                    video={key: summary.get(key) for key in ('width', 'height', 'fps', 'frames_read', 'seconds')},
                    links={'details': f'{base}/details', 'report': f'{base}/report',
                           'annotated': f'{base}/annotated.mp4' if summary.get('annotated') else None})
    return data


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({'detail': message}, status_code=status, headers=headers or None)


def create_app(settings: Settings) -> FastAPI:
    store = settings.store
    app = FastAPI(title='DFDC deepfake check', version=settings.version,
                  description='Upload videos, follow their scoring, read the verdict and per-face evidence.')
    token = settings.token.encode() if settings.token else None
    session = hmac.new(token, b'dfdc-serve-session', hashlib.sha256).hexdigest().encode() if token else None
    index_page, login_page = _page('index.html'), _page('login.html')

    def authorised(request: Request) -> bool:
        if token is None:
            return True
        scheme, _, value = request.headers.get('authorization', '').partition(' ')
        if scheme.lower() == 'bearer' and hmac.compare_digest(value.strip().encode(), token):
            return True
        cookie = request.cookies.get(COOKIE)
        return cookie is not None and hmac.compare_digest(cookie.encode(), session)

    def login_form(message: str = '', status: int = 200) -> HTMLResponse:
        return HTMLResponse(login_page.replace('{{message}}', html.escape(message)), status_code=status)

    @app.middleware('http')
    async def require_token(request: Request, call_next):
        if request.url.path in PUBLIC_PATHS or authorised(request):
            response = await call_next(request)
        elif request.url.path == '/' and request.method == 'GET':
            response = login_form(status=401)
        else:
            response = JSONResponse({'detail': 'unauthorized'}, status_code=401,
                                    headers={'WWW-Authenticate': 'Bearer'})
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.get('/login', include_in_schema=False)
    def login_page_get() -> Response:
        return login_form() if token is not None else RedirectResponse('/', status_code=303)

    @app.post('/login', include_in_schema=False)
    async def login(request: Request) -> Response:
        if token is None:
            return RedirectResponse('/', status_code=303)
        form = await request.form()
        given = str(form.get('token', '')).strip().encode()
        if not hmac.compare_digest(given, token):
            return login_form('That is not the token.', status=401)
        response = RedirectResponse('/', status_code=303)
        response.set_cookie(COOKIE, session.decode(), httponly=True, samesite='strict', path='/')
        return response

    @app.get('/', include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(index_page, headers={'Cache-Control': 'no-store'})

    @app.get('/api/health')
    def health() -> dict[str, Any]:
        """Whether the scoring workers are up, and how many jobs wait."""
        counts = store.counts()
        workers = store.workers()
        return {'status': 'ok' if any(w['ready'] for w in workers) else 'starting', 'version': settings.version,
                'workers': [{'pid': w['pid'], 'device': w['device'], 'ready': w['ready'] is not None}
                            for w in workers],
                'jobs': counts, 'max_queue': settings.max_queue,
                'max_upload_mb': settings.max_upload_bytes / 2 ** 20}

    @app.post('/api/videos', status_code=202, responses={202: {'description': 'queued: one job per file'},
                                                          413: {'description': 'over --max-upload-mb'},
                                                          503: {'description': 'the queue is full'}})
    async def upload(request: Request) -> Response:
        """Upload one or more videos as multipart/form-data file fields (any field name); each becomes a job."""
        def queue_full(why: str) -> JSONResponse:
            return _error(503, f'the queue is full: {why}; try again later',
                          **{'Retry-After': str(RETRY_AFTER_SECONDS)})

        if store.active() >= settings.max_queue:
            await drain(request.stream())
            return queue_full(f'{settings.max_queue} jobs are queued or running')
        try:
            files = await receive_files(request.headers.get('content-type', ''),
                                        request.headers.get('content-length'), request.stream(), store.jobs_dir,
                                        settings.max_upload_bytes)
        except UploadError as error:
            return _error(error.status, str(error), Connection='close')
        except ClientDisconnect:
            return Response(status_code=400)
        try:
            store.add([(f.job_id, f.name, f.upload, f.size) for f in files], settings.max_queue)
        except QueueFull as error:
            for received in files:
                shutil.rmtree(received.folder, ignore_errors=True)
            return queue_full(str(error))
        return JSONResponse({'jobs': [job_json(store.get(f.job_id)) for f in files]}, status_code=202)

    @app.get('/api/videos')
    def list_jobs() -> dict[str, Any]:
        """Every job, newest first."""
        return {'jobs': [job_json(job) for job in store.list()], 'counts': store.counts()}

    def find(job_id: str) -> Job | None:
        return store.get(job_id) if JOB_ID.match(job_id) else None

    def finished(job_id: str) -> Job | JSONResponse:
        """The job if it is done; else the answer: 404 for no such job, 409 while it is not done."""
        job = find(job_id)
        if job is None:
            return _error(404, 'no such job')
        if job.status != 'done':
            return _error(409, f'the job is {job.status}' + (f': {job.error}' if job.error else ''))
        return job

    @app.get('/api/videos/{job_id}')
    def get_job(job_id: str) -> Response:
        """Status; progress while running; score, verdict, reason and faces once done."""
        job = find(job_id)
        return JSONResponse(job_json(job)) if job else _error(404, 'no such job')

    @app.get('/api/videos/{job_id}/details')
    def details(job_id: str) -> Response:
        """The full record predict.py --details writes for the video."""
        job = finished(job_id)
        if not isinstance(job, Job):
            return job
        return FileResponse(store.job_dir(job_id) / DETAILS_NAME, media_type='application/json')

    @app.get('/api/videos/{job_id}/report')
    def report(job_id: str) -> Response:
        """The video's page of the HTML report, as report.py draws it."""
        job = finished(job_id)
        if not isinstance(job, Job):
            return job
        return RedirectResponse(f'/api/videos/{job_id}/{job.summary_json()["report"]}', status_code=307)

    @app.get('/api/videos/{job_id}/report/{path:path}', include_in_schema=False)
    def report_file(job_id: str, path: str) -> Response:
        job = finished(job_id)
        if not isinstance(job, Job):
            return job
        root = (store.job_dir(job_id) / REPORT_DIR).resolve()
        target = (root / path).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            return _error(404, 'no such file in the report')
        return FileResponse(target)

    @app.get('/api/videos/{job_id}/annotated.mp4')
    def annotated(job_id: str) -> Response:
        """The video with each face's box coloured by its probability (H.264, +faststart)."""
        job = finished(job_id)
        if not isinstance(job, Job):
            return job
        path = store.job_dir(job_id) / ANNOTATED_NAME
        if not path.is_file():
            return _error(404, f'no annotated video: {job.reason or "nothing was scored"}')
        return FileResponse(path, media_type='video/mp4')

    @app.delete('/api/videos/{job_id}', status_code=204)
    def delete(job_id: str) -> Response:
        """Remove the job, its upload and everything made from it (a running job is abandoned)."""
        if find(job_id) is None or not store.delete(job_id):
            return _error(404, 'no such job')
        return Response(status_code=204)

    return app
