"""Augmentations of the solution: H.264 re-encoding of face clips, and the per-frame pipelines as presets.

Every random draw comes from Python's `random` (and torch's RNG for random-erasing noise), and a group of images
that must be transformed identically (a real frame and its fake; all frames of a sequence) replays one RNG state,
so the same geometry, colour operations and erasing box reach every image of the group.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np
import torch

from .ffmpeg import find_ffmpeg

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INPUT_HEIGHT, INPUT_WIDTH = 224, 192
AUTOAUGMENT_POLICY = 'original-mstd0.5'

SOURCE_FPS = 30
TUNES = ('film', 'animation', 'grain', 'stillimage', 'fastdecode', 'zerolatency')


@contextlib.contextmanager
def replayable_rng() -> Iterator[callable]:
    """Yield `replay()`, which resets Python's and torch's RNG to their state on entry."""
    python_state, torch_state = random.getstate(), torch.random.get_rng_state()

    def replay() -> None:
        random.setstate(python_state)
        torch.random.set_rng_state(torch_state)
    yield replay


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block with Python's and torch's RNG seeded, restoring the caller's state afterwards."""
    python_state, torch_state = random.getstate(), torch.random.get_rng_state()
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(python_state)
        torch.random.set_rng_state(torch_state)


# ---------------------------------------------------------------------------------------------- compression

@dataclasses.dataclass(frozen=True)
class CompressionParams:
    fps: int
    scale: float
    crf: int
    tune: str
    pix_fmt: str | None = None  # None: what x264 picks for RGB input (4:4:4), as the published pipeline

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        return round(self.scale * height) // 2 * 2, round(self.scale * width) // 2 * 2


def draw_compression_params(pix_fmt: str | None = None) -> CompressionParams:
    """The published distributions: fps 15..29 or 30, scale U(0.25, 1) or 1, CRF 17..39, a random x264 tune."""
    fps = random.randint(15, SOURCE_FPS - 1) if random.random() < 0.5 else SOURCE_FPS
    scale = random.uniform(0.25, 1) if random.random() < 0.5 else 1.0
    crf = random.randint(17, 39)
    tune = random.choice(TUNES)
    return CompressionParams(fps, scale, crf, tune, pix_fmt)


def decoded_frame_index(index: int, num_decoded: int, track_length: int = 50) -> int:
    """Which decoded frame stands for frame `index` of the original `track_length` frames."""
    return int(np.clip(round(index / track_length * num_decoded), 0, num_decoded - 1))


def _encode_args(params: CompressionParams, height: int, width: int) -> list[str]:
    out_h, out_w = params.output_size(height, width)
    args = ['-vf', f'fps=fps={params.fps},scale={out_w}:{out_h}', '-vcodec', 'libx264', '-crf', str(params.crf),
            '-tune', params.tune]
    if params.pix_fmt:
        args += ['-pix_fmt', params.pix_fmt]
    return args


def compress_clip_published(folder: Path, params: CompressionParams, height: int, width: int) -> np.ndarray:
    """The published way, kept as the baseline: ffmpeg-python, PNGs -> H.264 pipe, then a second ffmpeg decodes.

    Returns the decoded frames, N x out_h x out_w x 3 RGB uint8.
    """
    import ffmpeg
    out_h, out_w = params.output_size(height, width)
    output_kwargs = {'format': 'h264', 'vcodec': 'libx264', 'crf': params.crf, 'tune': params.tune}
    if params.pix_fmt:
        output_kwargs['pix_fmt'] = params.pix_fmt
    encoded, _ = (ffmpeg.input(str(folder / '%d.png'), framerate=SOURCE_FPS)
                  .filter('fps', fps=params.fps).filter('scale', out_w, out_h)
                  .output('pipe:', **output_kwargs)
                  .run(cmd=find_ffmpeg(), capture_stdout=True, capture_stderr=True))
    decoded, _ = (ffmpeg.input('pipe:', format='h264')
                  .output('pipe:', format='rawvideo', pix_fmt='rgb24')
                  .run(cmd=find_ffmpeg(), input=encoded, capture_stdout=True, capture_stderr=True))
    return np.frombuffer(decoded, np.uint8).reshape(-1, out_h, out_w, 3)


def compress_clips(folders: Sequence[Path], params: CompressionParams, height: int, width: int) -> list[np.ndarray]:
    """Re-encode several clips of one size with the same parameters: one ffmpeg encodes all, one decodes all.

    Each clip is its own input and output stream, so every bitstream (and every decoded frame) is the one the
    published two-processes-per-clip pipeline makes, at two processes per call instead of two per clip.
    """
    binary = find_ffmpeg()
    out_h, out_w = params.output_size(height, width)
    with tempfile.TemporaryDirectory(prefix='dfdc-x264-', dir=_fast_tmp()) as tmp:
        tmp = Path(tmp)
        encode = [binary, '-hide_banner', '-loglevel', 'error', '-nostdin', '-y']
        for folder in folders:
            encode += ['-framerate', str(SOURCE_FPS), '-i', str(folder / '%d.png')]
        for k in range(len(folders)):
            encode += ['-map', f'{k}:v', *_encode_args(params, height, width), '-f', 'h264', str(tmp / f'{k}.h264')]
        _run(encode)
        decode = [binary, '-hide_banner', '-loglevel', 'error', '-nostdin', '-y']
        for k in range(len(folders)):
            decode += ['-f', 'h264', '-i', str(tmp / f'{k}.h264')]
        for k in range(len(folders)):
            decode += ['-map', f'{k}:v', '-f', 'rawvideo', '-pix_fmt', 'rgb24', str(tmp / f'{k}.rgb')]
        _run(decode)
        return [np.fromfile(tmp / f'{k}.rgb', np.uint8).reshape(-1, out_h, out_w, 3) for k in range(len(folders))]


def _fast_tmp() -> str | None:
    return '/dev/shm' if os.path.isdir('/dev/shm') and os.access('/dev/shm', os.W_OK) else None


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True)
    if result.returncode != 0:
        raise RuntimeError(f'ffmpeg failed: {result.stderr.decode(errors="replace").strip()[-500:]}')


# ------------------------------------------------------------------------------------------- frame pipelines

def resize_shorter_side(image: np.ndarray, size: int) -> np.ndarray:
    height, width = image.shape[:2]
    scale = size / min(height, width)
    new_size = (max(size, round(width * scale)), max(size, round(height * scale)))
    if (new_size[1], new_size[0]) == (height, width):
        return image
    return cv2.resize(image, new_size, interpolation=cv2.INTER_LINEAR)


def pad_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pad (centred) with BORDER_REFLECT_101 to at least height x width."""
    pad_h, pad_w = max(height - image.shape[0], 0), max(width - image.shape[1], 0)
    if not pad_h and not pad_w:
        return image
    return cv2.copyMakeBorder(image, pad_h // 2, pad_h - pad_h // 2, pad_w // 2, pad_w - pad_w // 2,
                              cv2.BORDER_REFLECT_101)


def center_crop(image: np.ndarray, height: int, width: int) -> np.ndarray:
    top, left = (image.shape[0] - height) // 2, (image.shape[1] - width) // 2
    return image[top:top + height, left:left + width]


@dataclasses.dataclass
class FramePipeline:
    """Resize the shorter side, optionally pad, then (training) flip, random crop, AutoAugment, normalise and
    random-erase; (evaluation) centre crop and normalise. The presets below are the solution's three."""

    shorter_side: int = INPUT_HEIGHT
    pad: bool = False
    hflip_p: float = 0.5
    autoaugment_p: float = 0.5
    random_erasing_p: float = 0.0
    height: int = INPUT_HEIGHT
    width: int = INPUT_WIDTH

    def __post_init__(self):
        from timm.data.auto_augment import auto_augment_transform
        from timm.data.random_erasing import RandomErasing
        hparams = {'translate_const': int(min(self.height, self.width) * 0.45),
                   'img_mean': tuple(min(255, round(255 * m)) for m in IMAGENET_MEAN)}
        self.autoaugment = auto_augment_transform(AUTOAUGMENT_POLICY, hparams)
        self.random_erasing = (RandomErasing(self.random_erasing_p, mode='pixel', max_count=1, device='cpu')
                               if self.random_erasing_p > 0 else None)
        self._mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD).view(3, 1, 1)

    def geometry(self, image: np.ndarray) -> np.ndarray:
        image = resize_shorter_side(image, self.shorter_side)
        return pad_to(image, self.height, self.width) if self.pad else image

    def to_tensor(self, image: np.ndarray) -> torch.Tensor:
        image = np.ascontiguousarray(image)
        if not image.flags.writeable:
            image = image.copy()
        tensor = torch.from_numpy(image).permute(2, 0, 1).float().div_(255)
        return (tensor - self._mean) / self._std

    def evaluate_geometry(self, image: np.ndarray) -> np.ndarray:
        """Prediction's deterministic geometry: resize, pad, centre crop; RGB uint8 in, height x width x 3 out."""
        return np.ascontiguousarray(center_crop(self.geometry(image), self.height, self.width))

    def evaluate(self, image: np.ndarray) -> torch.Tensor:
        """Deterministic transform of one RGB uint8 image for prediction."""
        return self.to_tensor(self.evaluate_geometry(image))

    def train_group(self, images: Sequence[np.ndarray]) -> list[torch.Tensor]:
        """Transform RGB uint8 images that share every random draw (same size required)."""
        from PIL import Image
        images = [self.geometry(image) for image in images]
        height, width = images[0].shape[:2]
        if any(image.shape[:2] != (height, width) for image in images):
            raise ValueError('a group of images must share one size')
        flip = random.random() < self.hflip_p
        top = random.randint(0, height - self.height)
        left = random.randint(0, width - self.width)
        images = [image[top:top + self.height, left:left + self.width] for image in images]
        if flip:
            images = [image[:, ::-1] for image in images]
        if random.random() < self.autoaugment_p:
            augmented = []
            with replayable_rng() as replay:
                for image in images:
                    replay()
                    augmented.append(np.asarray(self.autoaugment(Image.fromarray(np.ascontiguousarray(image)))))
            images = augmented
        tensors = [self.to_tensor(image) for image in images]
        if self.random_erasing is not None:
            with replayable_rng() as replay:
                for tensor in tensors:
                    replay()
                    self.random_erasing(tensor)
        return tensors


PIPELINES = {
    # shorter side -> 192, reflect-pad to 224 x 192, flip, random crop, AutoAugment p 0.5
    'large_crop': dict(shorter_side=INPUT_WIDTH, pad=True),
    # shorter side -> 224, flip, random crop, AutoAugment p 0.5, random erasing p 0.2
    'random_erasing': dict(shorter_side=INPUT_HEIGHT, random_erasing_p=0.2),
    # shorter side -> 224, flip, random crop, AutoAugment p 0.5 (the sequence model)
    'sequence': dict(shorter_side=INPUT_HEIGHT),
}


def build_pipeline(name: str) -> FramePipeline:
    if name not in PIPELINES:
        raise ValueError(f'unknown pipeline {name!r}; choose from {", ".join(PIPELINES)}')
    return FramePipeline(**PIPELINES[name])
