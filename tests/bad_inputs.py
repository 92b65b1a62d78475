"""Bad and unusual inputs for the robustness tests, made from one good synthetic video with ffmpeg."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from dfdc.ffmpeg import find_ffmpeg


def _ffmpeg(*args: str) -> None:
    subprocess.run([find_ffmpeg(), '-hide_banner', '-loglevel', 'error', '-y', *args], check=True)


def _x264(*filters: str) -> list[str]:
    args = ['-an', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p']
    return (['-vf', ','.join(filters)] if filters else []) + args


def zero_byte(source: Path, out: Path) -> None:
    out.write_bytes(b'')


def text_file(source: Path, out: Path) -> None:
    out.write_text('this is a text file, not a video\n')


def truncated(source: Path, out: Path) -> None:
    data = source.read_bytes()
    out.write_bytes(data[:len(data) // 2])


def audio_only(source: Path, out: Path) -> None:
    _ffmpeg('-f', 'lavfi', '-i', 'sine=frequency=440:duration=1', '-c:a', 'aac', str(out))


def one_frame(source: Path, out: Path) -> None:
    _ffmpeg('-i', str(source), '-frames:v', '1', *_x264(), str(out))


def fps_60(source: Path, out: Path) -> None:
    _ffmpeg('-i', str(source), *_x264('fps=60'), str(out))


def variable_frame_rate(source: Path, out: Path) -> None:
    # Drop every third frame and keep the timestamps: the gaps make the frame rate variable.
    _ffmpeg('-i', str(source), '-vf', r"select='not(eq(mod(n\,3)\,2))'", '-fps_mode', 'vfr',
            *_x264()[0:0], '-an', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', str(out))


def portrait_1080x1920(source: Path, out: Path) -> None:
    _ffmpeg('-i', str(source), '-t', '2', *_x264('scale=1080:-2', 'pad=1080:1920:0:(oh-ih)/2'), str(out))


def tiny_64x64(source: Path, out: Path) -> None:
    _ffmpeg('-i', str(source), *_x264('scale=64:64'), str(out))


def zero_frame_count(source: Path, out: Path) -> None:
    # A fragmented MP4 with an empty moov: the container announces no frames, the fragments hold them all.
    _ffmpeg('-i', str(source), *_x264(), '-movflags', 'frag_keyframe+empty_moov', str(out))


def zero_fps(source: Path, out: Path) -> None:
    # An AVI whose stream header says rate 0: the container reports 0 fps.
    _ffmpeg('-i', str(source), '-an', '-c:v', 'mjpeg', '-q:v', '5', str(out))
    data = bytearray(out.read_bytes())
    strh = data.find(b'strh')
    assert strh > 0
    rate_offset = strh + 8 + 24  # fccType, fccHandler, dwFlags, wPriority+wLanguage, dwInitialFrames, dwScale
    data[rate_offset:rate_offset + 4] = (0).to_bytes(4, 'little')
    avih = data.find(b'avih')
    data[avih + 8:avih + 12] = (0).to_bytes(4, 'little')  # dwMicroSecPerFrame
    out.write_bytes(bytes(data))


def odd_path(source: Path, out: Path) -> Path:
    """The good video copied to a folder with spaces and non-ASCII characters."""
    target = out.parent / 'dossier avec espaces ü' / 'vidéo à tester.mp4'
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, target)
    return target


# name -> (maker, whether the video is unreadable as a whole)
BAD_VIDEOS = {
    'zero_byte': (zero_byte, True),
    'text_file': (text_file, True),
    'truncated': (truncated, True),
    'audio_only': (audio_only, True),
    'one_frame': (one_frame, False),
    'fps_60': (fps_60, False),
    'variable_frame_rate': (variable_frame_rate, False),
    'portrait_1080x1920': (portrait_1080x1920, False),
    'tiny_64x64': (tiny_64x64, False),
    'zero_frame_count': (zero_frame_count, False),
    'zero_fps': (zero_fps, False),
}


def make_bad_videos(source: Path, directory: Path, names=None) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    made = {}
    for name in names or BAD_VIDEOS:
        maker, _ = BAD_VIDEOS[name]
        path = directory / f'{name}.{"avi" if name == "zero_fps" else "mp4"}'
        maker(source, path)
        made[name] = path
    return made
