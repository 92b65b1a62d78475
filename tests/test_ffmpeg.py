import subprocess

import numpy as np
import pytest

from dfdc import ffmpeg
from dfdc.cli import UserError
from dfdc.synthetic import encode_video
from dfdc.video import iter_frames


@pytest.fixture(autouse=True)
def _fresh_cache():
    ffmpeg._find.cache_clear()
    yield
    ffmpeg._find.cache_clear()


def test_falls_back_to_imageio_ffmpeg_when_not_on_path(monkeypatch):
    import imageio_ffmpeg
    monkeypatch.delenv('FFMPEG', raising=False)
    monkeypatch.setattr(ffmpeg.shutil, 'which', lambda name: None)
    assert ffmpeg.find_ffmpeg() == imageio_ffmpeg.get_ffmpeg_exe()


def test_environment_variable_wins(monkeypatch):
    import imageio_ffmpeg
    monkeypatch.setenv('FFMPEG', imageio_ffmpeg.get_ffmpeg_exe())
    assert ffmpeg.find_ffmpeg() == imageio_ffmpeg.get_ffmpeg_exe()


def test_environment_variable_pointing_nowhere_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv('FFMPEG', str(tmp_path / 'no-ffmpeg'))
    with pytest.raises(UserError, match=r'\$FFMPEG'):
        ffmpeg.find_ffmpeg()


def test_binary_without_libx264_is_refused(monkeypatch, tmp_path):
    fake = tmp_path / 'ffmpeg'
    fake.write_text('#!/bin/sh\necho " V..... mpeg4 MPEG-4 part 2"\n')
    fake.chmod(0o755)
    monkeypatch.setenv('FFMPEG', str(fake))
    with pytest.raises(UserError, match='libx264'):
        ffmpeg.find_ffmpeg()


def test_found_binary_encodes_libx264(tmp_path):
    frames = [np.full((64, 96, 3), 10 * i, np.uint8) for i in range(10)]
    path = tmp_path / 'x.mp4'
    assert encode_video(frames, path, 96, 64) == 10
    probe = subprocess.run([ffmpeg.find_ffmpeg(), '-hide_banner', '-i', str(path)], capture_output=True, text=True)
    assert 'h264' in probe.stderr
    decoded = [f for _, f in iter_frames(path)]
    assert len(decoded) == 10 and decoded[0].shape == (64, 96, 3)
