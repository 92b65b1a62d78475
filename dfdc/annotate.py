"""Annotated videos: the kept frames of a scored video with each face track's box, coloured by its probability.

The probabilities are known only once the whole video is scored, so the video is decoded a second time and each
annotated frame is streamed straight into an ffmpeg H.264 encoder: memory stays at a frame or two.
"""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, Mapping, Sequence

import cv2
import numpy as np

from .ffmpeg import find_ffmpeg
from .fileio import atomic_path
from .video import iter_frames

BAR_HEIGHT = 10
NO_FACE = (90, 90, 90)


def probability_colour(probability: float) -> tuple[int, int, int]:
    """BGR from green (0, real) through yellow to red (1, fake)."""
    hue = int(round(60 * (1 - min(max(probability, 0.0), 1.0))))  # OpenCV hue: 0-180 for 0-360 degrees
    bgr = cv2.cvtColor(np.uint8([[[hue, 255, 230]]]), cv2.COLOR_HSV2BGR)[0, 0]
    return int(bgr[0]), int(bgr[1]), int(bgr[2])


def track_probability_by_frame(track: Mapping[str, Any], step: int) -> dict[int, float]:
    """For each frame of the track, the mean probability of all three models over the surrounding 7 kept frames
    (one sequence window); the nearest probability where none is that close."""
    points = sorted((frame, p) for values in track.get('probabilities', {}).values() for frame, p in values)
    if not points:
        return {}
    frames = np.array([f for f, _ in points])
    probs = np.array([p for _, p in points])
    result = {}
    for frame in track['frames']:
        near = np.abs(frames - frame) <= 3 * step
        result[frame] = float(probs[near].mean() if near.any() else probs[np.abs(frames - frame).argmin()])
    return result


def _timeline_bar(width: int, frames_total: int, per_frame: Mapping[int, float], step: int) -> np.ndarray:
    """A strip along the bottom: each column coloured by the highest face probability at its time, grey where
    no face is tracked."""
    bar = np.empty((BAR_HEIGHT, width, 3), np.uint8)
    bar[:] = NO_FACE
    if not per_frame:
        return bar
    frames = np.array(list(per_frame), np.float64)
    probs = np.array(list(per_frame.values()))
    column_frames = np.arange(width) / width * frames_total
    near = np.abs(frames[None, :] - column_frames[:, None]) <= max(step, frames_total / width)
    for x in np.nonzero(near.any(axis=1))[0]:
        bar[:, x] = probability_colour(float(probs[near[x]].max()))
    return bar


def _label(frame: np.ndarray, text: str, x: int, y: int, background: tuple, colour: tuple, scale: float,
           thickness: int) -> None:
    """Text on a filled box whose bottom-left corner is (x, y), kept inside the frame."""
    (text_w, text_h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, max(1, thickness // 2))
    top = max(y - text_h - base - 4, 0)
    cv2.rectangle(frame, (x, top), (x + text_w + 6, top + text_h + base + 4), background, -1)
    cv2.putText(frame, text, (x + 3, top + text_h + 2), cv2.FONT_HERSHEY_SIMPLEX, scale, colour,
                max(1, thickness // 2), cv2.LINE_AA)


def annotate_frame(frame: np.ndarray, number: int, tracks: Sequence[Mapping[str, Any]],
                   probabilities: Sequence[Mapping[int, float]], score: float, bar: np.ndarray,
                   frames_total: int) -> np.ndarray:
    height, width = frame.shape[:2]
    thickness = max(2, width // 400)
    scale = max(0.5, width / 1600)
    for k, (track, by_frame) in enumerate(zip(tracks, probabilities), 1):
        if number not in by_frame:
            continue
        index = track['frames'].index(number)
        x1, y1, x2, y2 = (int(round(v)) for v in track['boxes'][index])
        colour = probability_colour(by_frame[number])
        cv2.rectangle(frame, (x1, y1), (x2, y2), colour, thickness)
        _label(frame, f'face {k}: {by_frame[number]:.2f}', x1, y1, colour, (0, 0, 0), scale, thickness)
    _label(frame, f'video score {score:.3f}', 0, 0, (0, 0, 0), probability_colour(score), scale, thickness)
    frame[height - BAR_HEIGHT:] = bar
    cursor = min(int(number / max(frames_total, 1) * width), width - 1)
    frame[height - BAR_HEIGHT - 4:, max(cursor - 1, 0):cursor + 2] = 255
    return frame


def annotate_video(record: Mapping[str, Any], out: Path) -> Path:
    """Write `out` (H.264 MP4, atomically): `record` is a scored video's `--details` record."""
    path, step = Path(record['video']), int(record.get('step') or 1)
    tracks = record.get('tracks') or []
    probabilities = [track_probability_by_frame(track, step) for track in tracks]
    per_frame: dict[int, float] = {}
    for by_frame in probabilities:
        for frame, p in by_frame.items():
            per_frame[frame] = max(p, per_frame.get(frame, 0.0))
    frames_total = max(int(record.get('frames_read') or 0), 1)
    fps = float(record.get('fps') or 30) / step
    writer = None
    with atomic_path(out) as temp:
        try:
            for number, frame in iter_frames(path, step=step):
                if writer is None:
                    height, width = frame.shape[:2]
                    bar = _timeline_bar(width - width % 2, frames_total, per_frame, step)
                    writer = subprocess.Popen(
                        [find_ffmpeg(), '-hide_banner', '-loglevel', 'error', '-nostdin', '-y', '-f', 'rawvideo',
                         '-pix_fmt', 'bgr24', '-s', f'{width - width % 2}x{height - height % 2}', '-r', f'{fps:g}',
                         '-i', '-', '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '23', '-pix_fmt', 'yuv420p',
                         '-movflags', '+faststart', '-f', 'mp4', str(temp)],
                        stdin=subprocess.PIPE, stderr=subprocess.PIPE)
                frame = np.ascontiguousarray(frame[:height - height % 2, :width - width % 2])
                annotate_frame(frame, number, tracks, probabilities, float(record['score']), bar, frames_total)
                writer.stdin.write(frame.tobytes())
        finally:
            if writer is not None:
                writer.stdin.close()
                error = writer.stderr.read().decode(errors='replace')
                if writer.wait() != 0:
                    raise RuntimeError(f'ffmpeg could not encode {out.name}: {error.strip()[-300:]}')
    return out
