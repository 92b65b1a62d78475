"""Augmentations of the solution: H.264 re-encoding of face clips, and the per-frame pipelines as presets.

The published training composed albumentations 0.4.3 transforms with timm's AutoAugment and random erasing. Every
random draw comes from Python's `random`, in the published order, the probability checks that albumentations
makes even for transforms that always apply included, so one state of `random` gives the published transform;
random-erasing noise comes from torch's generator. Images that must be transformed identically (a real frame and
its fake; all frames of a sequence) replay the state of `random` only (`TrackPairDataset`), as published: they
get the same geometry, colour operations and erasing rectangle, but independent erasing noise.
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


def draw_compression_params(pix_fmt: str | None = None, p: float = 0.5) -> CompressionParams | None:
    """The published draws (`TrackTransform.get_params`), in its order: None (no re-encoding) when
    `random() > p`; fps `randrange(15, 30)` when `random() > 0.5`, else 30; scale `uniform(0.25, 1)` when
    `random() > 0.5`, else 1; CRF `randrange(17, 40)`; a random x264 tune."""
    if random.random() > p:
        return None
    fps = random.randrange(15, SOURCE_FPS) if random.random() > 0.5 else SOURCE_FPS
    scale = random.uniform(0.25, 1) if random.random() > 0.5 else 1.0
    crf = random.randrange(17, 40)
    tune = random.choice(TUNES)
    return CompressionParams(fps, scale, crf, tune, pix_fmt)


def decoded_frame_indices(indices: Sequence[int], num_decoded: int, track_length: int = 50) -> np.ndarray:
    """Which decoded frames stand for frames `indices` of the original `track_length`: `round(i / 50 * n)`
    clipped to [0, n - 1], in float32 as published (the rounding of halves depends on it)."""
    scaled = (np.asarray(indices).astype(np.float32) / track_length) * num_decoded
    return np.round(scaled).astype(np.int32).clip(0, num_decoded - 1)


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
    """albumentations' SmallestMaxSize: both sides times `size / shorter side`, rounded, bilinear."""
    height, width = image.shape[:2]
    scale = size / float(min(width, height))
    if scale == 1.0:
        return image
    return cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_LINEAR)


def normalization_constants() -> tuple[np.ndarray, np.ndarray]:
    """albumentations' Normalize: `255 * mean` and `1 / (255 * std)` of ImageNet, in float32 as it computes them."""
    mean = np.array(IMAGENET_MEAN, np.float32) * np.float32(255)
    inverse_std = np.reciprocal(np.array(IMAGENET_STD, np.float32) * np.float32(255), dtype=np.float32)
    return mean, inverse_std


def normalize(image: np.ndarray) -> torch.Tensor:
    """An RGB uint8 H x W x 3 image as the normalised float32 3 x H x W tensor the models take."""
    mean, inverse_std = normalization_constants()
    normalized = image.astype(np.float32)
    normalized -= mean
    normalized *= inverse_std
    return torch.from_numpy(np.ascontiguousarray(normalized.transpose(2, 0, 1)))


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
    """Resize the shorter side and optionally pad; then (training) flip, random crop, AutoAugment, normalise and
    random-erase, or (evaluation) centre crop and normalise. The presets below are the solution's three."""

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
        # timm's transforms_imagenet_train hyperparameters for a 224 x 192 input (no interpolation given, so
        # each geometric operation draws bilinear or bicubic).
        hparams = {'translate_const': int(min(self.height, self.width) * 0.45),
                   'img_mean': tuple(min(255, round(255 * m)) for m in IMAGENET_MEAN)}
        self.autoaugment = auto_augment_transform(AUTOAUGMENT_POLICY, hparams)
        self.random_erasing = (RandomErasing(self.random_erasing_p, mode='pixel', max_count=1, device='cpu')
                               if self.random_erasing_p > 0 else None)

    def geometry(self, image: np.ndarray) -> np.ndarray:
        image = resize_shorter_side(image, self.shorter_side)
        return pad_to(image, self.height, self.width) if self.pad else image

    def evaluate_geometry(self, image: np.ndarray) -> np.ndarray:
        """Prediction's deterministic geometry: resize, pad, centre crop; RGB uint8 in, height x width x 3 out."""
        return np.ascontiguousarray(center_crop(self.geometry(image), self.height, self.width))

    def evaluate(self, image: np.ndarray) -> torch.Tensor:
        """Deterministic transform of one RGB uint8 image for prediction."""
        return normalize(self.evaluate_geometry(image))

    def train(self, image: np.ndarray) -> torch.Tensor:
        """The training transform of one RGB uint8 image, drawing from Python's `random` exactly as the published
        albumentations 0.4.3 `Compose` did: Compose and every transform first draw `random()` for their
        probability check (also at p = 1; ToTensor alone draws nothing), RandomCrop draws its two offsets."""
        from PIL import Image
        draw = random.random
        draw()                                  # Compose
        draw()                                  # SmallestMaxSize
        image = resize_shorter_side(image, self.shorter_side)
        if self.pad:
            draw()                              # PadIfNeeded
            image = pad_to(image, self.height, self.width)
        if draw() < self.hflip_p:               # HorizontalFlip
            image = image[:, ::-1]
        draw()                                  # RandomCrop
        top_fraction, left_fraction = draw(), draw()
        top = int((image.shape[0] - self.height) * top_fraction)
        left = int((image.shape[1] - self.width) * left_fraction)
        image = image[top:top + self.height, left:left + self.width]
        if draw() < self.autoaugment_p:         # AutoAugment
            image = np.asarray(self.autoaugment(Image.fromarray(np.ascontiguousarray(image))))
        draw()                                  # Normalize
        tensor = normalize(image)
        if self.random_erasing is not None:
            draw()                              # the erasing wrapper (p = 1)
            self.random_erasing(tensor)
        return tensor


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
