"""A self-hosted deepfake-check service: drop videos into a web page or POST them, read the verdict and the report.

    python serve.py --config config.yaml [--host 127.0.0.1] [--port 8000] [--workers 1] [--token-file FILE]

Takes predict.py's model options (--detector, --device, --precision, --backend, ...); --detector auto (the default
here) is DSFD when MODELS_PATH holds its weights and the Haar cascade otherwise, as after `make demo`. The page is
at /, the API under /api (OpenAPI docs at /docs). Worker processes load the detector, the ensemble and
MODELS_PATH/calibration.json once and score each upload with predict.py's predictor: the same scores, byte for
byte. Uploads and jobs live under SERVICE_PATH (default ARTIFACTS_PATH/service) in SQLite; a restarted server
finishes every job it had accepted.
Binding anything but a loopback address needs --token-file (every request then needs the token).
"""
from __future__ import annotations

import ipaddress
import logging
import socket
from importlib import metadata
from pathlib import Path

from dfdc.cli import UserError, get_args_parser, run_main
from dfdc.config import load_config
from dfdc.fileio import ensure_dir
from dfdc.prediction import add_model_arguments

log = logging.getLogger('dfdc')
MIN_TOKEN_LENGTH = 16


def is_loopback(host: str) -> bool:
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token(path: str | None, host: str) -> str | None:
    """The token of --token-file; refuses a non-loopback --host without one."""
    if path is None:
        if not is_loopback(host):
            raise UserError(f'--host {host} makes the service reachable from other machines: give it a token with '
                            '--token-file FILE (e.g. python -c "import secrets; print(secrets.token_urlsafe(32))" '
                            '> FILE)')
        return None
    try:
        token = Path(path).read_text(encoding='utf-8').strip()
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f'cannot read --token-file {path}: {error}') from None
    if len(token) < MIN_TOKEN_LENGTH or any(c.isspace() for c in token):
        raise UserError(f'the token in {path} must be at least {MIN_TOKEN_LENGTH} characters without spaces')
    return token


def listening_socket(host: str, port: int) -> socket.socket:
    """Bound before the models load, so a taken port is an error at once rather than after minutes."""
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise UserError(f'cannot listen on {host}:{port}: {error.strerror}; choose another --port') from None
    return sock


def main(argv=None) -> int:
    parser = get_args_parser(__doc__.splitlines()[0])
    parser.add_argument('--host', default='127.0.0.1', help='address to listen on; other than loopback needs '
                                                           '--token-file')
    parser.add_argument('--port', type=int, default=8000, help='0 picks a free port (printed)')
    parser.add_argument('--workers', type=int, default=1, help='scoring processes: one per GPU, one on a CPU')
    parser.add_argument('--max-queue', type=int, default=100, help='jobs queued or running before uploads get 503')
    parser.add_argument('--max-upload-mb', type=float, default=2048, help='largest upload request; beyond: 413')
    parser.add_argument('--token-file', default=None, help='a file holding the token every request must carry')
    add_model_arguments(parser, detector='auto')
    args = parser.parse_args(argv)
    if args.workers < 1 or args.max_queue < 1 or args.max_upload_mb <= 0:
        raise UserError('--workers and --max-queue must be at least 1, --max-upload-mb above 0')
    token = read_token(args.token_file, args.host)
    config = load_config(args.config)

    import uvicorn

    from dfdc.service.app import Settings, create_app
    from dfdc.service.jobs import JobStore
    from dfdc.service.pool import WorkerPool

    sock = listening_socket(args.host, args.port)
    store = JobStore(ensure_dir(config.service_root))
    requeued, removed = store.recover()
    print(f'serve: {store.counts()["queued"]} jobs queued, {requeued} of them interrupted when the last server '
          f'stopped; {removed} unfinished uploads removed ({store.root})', flush=True)
    pool = WorkerPool(store, args.workers, str(config.source), args)
    print(f'serve: loading the models in {args.workers} worker process{"es" if args.workers > 1 else ""}',
          flush=True)
    try:
        version = metadata.version('dfdc-ntechlab')
    except metadata.PackageNotFoundError:
        version = ''
    try:
        pool.start()
        app = create_app(Settings(store, args.max_queue, int(args.max_upload_mb * 2 ** 20), token, version))
        host, port = sock.getsockname()[:2]
        shown = f'[{host}]' if ':' in host else host
        print(f'serve: http://{shown}:{port}/ (API docs at /docs){"; token required" if token else ""}', flush=True)
        server = uvicorn.Server(uvicorn.Config(app, log_level='warning', timeout_graceful_shutdown=5))
        server.run(sockets=[sock])
    finally:
        pool.stop()
        sock.close()
    return 0


if __name__ == '__main__':
    raise SystemExit(run_main(main))
