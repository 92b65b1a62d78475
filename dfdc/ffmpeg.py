"""Find an ffmpeg binary that encodes libx264: `$FFMPEG`, else `ffmpeg` on PATH, else imageio-ffmpeg's."""
from __future__ import annotations

import functools
import os
import shutil
import subprocess

from .cli import UserError


def _has_libx264(binary: str) -> bool:
    try:
        result = subprocess.run([binary, '-hide_banner', '-encoders'], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 0 and ' libx264 ' in result.stdout


@functools.lru_cache(maxsize=None)
def _find(env_value: str | None) -> str:
    if env_value:
        binary = shutil.which(env_value) or env_value
        if not os.path.isfile(binary):
            raise UserError(f'$FFMPEG is set to {env_value}, which does not exist; unset it or point it at an ffmpeg')
        if not _has_libx264(binary):
            raise UserError(f'$FFMPEG={env_value} cannot encode libx264; use an ffmpeg built with libx264')
        return binary
    candidates = []
    on_path = shutil.which('ffmpeg')
    if on_path:
        candidates.append(on_path)
    try:
        import imageio_ffmpeg
        candidates.append(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):
        pass
    for binary in candidates:
        if _has_libx264(binary):
            return binary
    raise UserError('no ffmpeg with libx264 found: install imageio-ffmpeg (pip), put ffmpeg on PATH or set $FFMPEG')


def find_ffmpeg() -> str:
    """Path of an ffmpeg binary that can encode libx264 (checked once per process and value of $FFMPEG)."""
    return _find(os.environ.get('FFMPEG') or None)
