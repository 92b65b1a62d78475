"""A small synthetic data set in the exact DFDC layout, for the demo and the tests.

Faces are two real photographs that installed packages ship (matplotlib's Grace Hopper, scikit-image's
astronaut) moving over textured backgrounds. Each fake is rendered from its real original frame by frame:
identical except on the face, which is swapped for the other identity's face with the artifacts real face
swaps have (rendered at low resolution then upscaled, imperfect colour match, Poisson blending boundary).
Both identities appear in reals and in fakes, so identity alone does not give the label away.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import string
import subprocess
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from .ffmpeg import find_ffmpeg
from .fileio import atomic_path, atomic_write_bytes, ensure_dir

FPS = 30
SIDECAR_NAME = 'synthetic_faces.json'
TEST_LABELS_NAME = 'test_labels.csv'
VAL_LABELS_NAME = 'val_labels.csv'
# Face square (x, y, size) in each photograph, as OpenCV's frontal-face cascade finds it.
IDENTITIES = {
    'grace_hopper': ('matplotlib', (155, 105, 222)),
    'astronaut': ('skimage', (177, 66, 95)),
}
PATCH_MARGIN = 1.7      # the pasted head patch is this many face sizes wide
PATCH_SIZE = 256        # canonical patch resolution; the face square is PATCH_SIZE / PATCH_MARGIN wide


def _photo_path(package: str) -> str:
    if package == 'matplotlib':
        import matplotlib.cbook
        return str(matplotlib.cbook.get_sample_data('grace_hopper.jpg', asfileobj=False))
    import skimage.data
    return os.path.join(os.path.dirname(skimage.data.__file__), 'astronaut.png')


def load_face_patches() -> dict[str, np.ndarray]:
    """Canonical BGR head patches (PATCH_SIZE square) with the face square centred, per identity."""
    patches = {}
    for name, (package, (x, y, size)) in IDENTITIES.items():
        photo = cv2.imread(_photo_path(package))
        if photo is None:
            raise RuntimeError(f'cannot read the {name} photograph shipped by {package}')
        cx, cy, half = x + size / 2, y + size / 2, size * PATCH_MARGIN / 2
        scale = PATCH_SIZE / (2 * half)
        matrix = np.array([[scale, 0, -(cx - half) * scale], [0, scale, -(cy - half) * scale]], dtype=np.float64)
        patches[name] = cv2.warpAffine(photo, matrix, (PATCH_SIZE, PATCH_SIZE), flags=cv2.INTER_AREA,
                                       borderMode=cv2.BORDER_REFLECT_101)
    return patches


def _soft_ellipse(size: int, radius: float, feather: float) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    c = (size - 1) / 2
    distance = np.sqrt(((xx - c) / (radius * size / 2)) ** 2 + ((yy - c) / (radius * size / 2 * 1.15)) ** 2)
    return np.clip((1 - distance) / feather, 0, 1)


@dataclasses.dataclass
class FaceMotion:
    """One face's identity and its slow pan, zoom and rotation over the video."""
    identity: str
    center_start: tuple[float, float]
    center_end: tuple[float, float]
    size_start: float
    size_end: float
    angle_start: float
    angle_end: float
    brightness: float

    def at(self, t: float) -> tuple[float, float, float, float]:
        cx = self.center_start[0] + (self.center_end[0] - self.center_start[0]) * t
        cy = self.center_start[1] + (self.center_end[1] - self.center_start[1]) * t
        size = self.size_start + (self.size_end - self.size_start) * t
        angle = self.angle_start + (self.angle_end - self.angle_start) * t
        return cx, cy, size, angle

    def box(self, t: float) -> list[float]:
        cx, cy, size, _ = self.at(t)
        return [cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2]


@dataclasses.dataclass
class VideoPlan:
    """Everything random about one video, drawn up front so rendering is a pure function of the plan."""
    width: int
    height: int
    num_frames: int
    seed: int
    faces: list[FaceMotion]
    noise_sigma: float


def _draw_faces(rng: np.random.Generator, width: int, height: int, identities: list[str]) -> list[FaceMotion]:
    faces = []
    n = len(identities)
    for k, identity in enumerate(identities):
        size0 = rng.uniform(0.30, 0.42) * height / math.sqrt(n)
        size1 = size0 * rng.uniform(0.88, 1.12)
        margin = max(size0, size1) * 0.8
        lo_x = width * k / n + margin
        hi_x = width * (k + 1) / n - margin
        if hi_x <= lo_x:
            lo_x = hi_x = width * (k + 0.5) / n
        start = (rng.uniform(lo_x, hi_x), rng.uniform(margin, height - margin))
        drift = size0 * 0.3
        end = (float(np.clip(start[0] + rng.uniform(-drift, drift), lo_x, hi_x)),
               float(np.clip(start[1] + rng.uniform(-drift, drift), margin, height - margin)))
        faces.append(FaceMotion(identity, start, end, size0, size1, rng.uniform(-6, 6), rng.uniform(-6, 6),
                                rng.uniform(0.8, 1.2)))
    return faces


ARTEFACTS = ('blend', 'blocky')


@dataclasses.dataclass(frozen=True)
class SwapStyle:
    """How one fake was made: the resolution the new face was synthesised at, how well its colour matches, and
    the artefact kind: 'blend' (smooth upscaling, Poisson blending: the default set) or 'blocky' (nearest-neighbour
    upscaling and a hard-edged paste: a kind of fake the default set never shows)."""
    downscale: float = 3.0
    color_mix: float = 0.5
    artefact: str = 'blend'


def _roi(matrix: np.ndarray, width: int, height: int, pad: int = 2) -> tuple[int, int, int, int]:
    """Bounding box, clipped to the frame, of the canonical patch square after the affine `matrix`."""
    corners = np.array([[0, 0, 1], [PATCH_SIZE, 0, 1], [0, PATCH_SIZE, 1], [PATCH_SIZE, PATCH_SIZE, 1]], np.float64)
    points = corners @ matrix.T
    x0, y0 = np.floor(points.min(axis=0)).astype(int) - pad
    x1, y1 = np.ceil(points.max(axis=0)).astype(int) + pad
    return max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)


def _warp_into(image: np.ndarray, matrix: np.ndarray, roi: tuple[int, int, int, int], flags: int) -> np.ndarray:
    x0, y0, x1, y1 = roi
    shifted = matrix.copy()
    shifted[:, 2] -= (x0, y0)
    return cv2.warpAffine(image, shifted, (x1 - x0, y1 - y0), flags=flags)


class Renderer:
    """Renders the frames of a plan; with a SwapStyle every face is swapped for the other identity's."""

    def __init__(self):
        self.patches = load_face_patches()
        self.patch_alpha = _soft_ellipse(PATCH_SIZE, 0.95, 0.25)
        self.swap_mask = (_soft_ellipse(PATCH_SIZE, 0.62, 0.05) > 0.5).astype(np.uint8) * 255
        names = sorted(self.patches)
        self.other = {names[0]: names[1], names[1]: names[0]}

    @staticmethod
    def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
        pad = 64
        h, w = height + 2 * pad, width + 2 * pad
        base = rng.uniform(30, 220, size=(2, 3))
        ramp = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
        image = (base[0] * (1 - ramp) + base[1] * ramp).repeat(h, axis=0).astype(np.float32)
        for _ in range(int(rng.integers(6, 14))):
            color = tuple(float(c) for c in rng.uniform(0, 255, size=3))
            center = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            if rng.random() < 0.5:
                cv2.circle(image, center, int(rng.integers(10, 80)), color, -1)
            else:
                corner = (center[0] + int(rng.integers(20, 160)), center[1] + int(rng.integers(20, 120)))
                cv2.rectangle(image, center, corner, color, -1)
        return cv2.GaussianBlur(image, (0, 0), 3)

    @staticmethod
    def _matrix(face: FaceMotion, t: float) -> np.ndarray:
        cx, cy, size, angle = face.at(t)
        scale = size * PATCH_MARGIN / PATCH_SIZE
        matrix = cv2.getRotationMatrix2D((PATCH_SIZE / 2, PATCH_SIZE / 2), angle, scale)
        matrix[:, 2] += (cx - PATCH_SIZE / 2, cy - PATCH_SIZE / 2)
        return matrix

    def render(self, plan: VideoPlan, swap: SwapStyle | None = None):
        """Yield BGR uint8 frames; the real render and every fake render of one plan share all other draws."""
        rng = np.random.default_rng(plan.seed)
        background = self._background(rng, plan.width, plan.height)
        pan = rng.uniform(-40, 40, size=2)
        noise_bank = rng.standard_normal((4, plan.height + 16, plan.width + 16, 3), dtype=np.float32)
        noise_bank *= plan.noise_sigma
        size = (plan.width, plan.height)
        for index in range(plan.num_frames):
            t = index / max(plan.num_frames - 1, 1)
            ox, oy = 64 + pan[0] * (t - 0.5), 64 + pan[1] * (t - 0.5)
            shift = np.array([[1, 0, -ox], [0, 1, -oy]], dtype=np.float64)
            frame = cv2.warpAffine(background, shift, size, flags=cv2.INTER_LINEAR)
            matrices = [self._matrix(face, t) for face in plan.faces]
            for face, matrix in zip(plan.faces, matrices):
                x0, y0, x1, y1 = roi = _roi(matrix, plan.width, plan.height)
                patch = self.patches[face.identity].astype(np.float32) * face.brightness
                warped = _warp_into(patch, matrix, roi, cv2.INTER_LINEAR)
                alpha = _warp_into(self.patch_alpha, matrix, roi, cv2.INTER_LINEAR)[..., None]
                frame[y0:y1, x0:x1] = frame[y0:y1, x0:x1] * (1 - alpha) + warped * alpha
            dy, dx = rng.integers(0, 16, size=2)
            frame += noise_bank[index % len(noise_bank), dy:dy + plan.height, dx:dx + plan.width]
            frame = np.clip(frame, 0, 255).astype(np.uint8)
            if swap is not None:
                for face, matrix in zip(plan.faces, matrices):
                    self._swap(frame, face, matrix, swap)
            yield frame

    def _swap(self, frame: np.ndarray, face: FaceMotion, matrix: np.ndarray, style: SwapStyle) -> None:
        """Replace the face in `frame` (in place) by the other identity's."""
        height, width = frame.shape[:2]
        # Keep one pixel of frame around the region: seamlessClone needs a border to blend against.
        x0, y0, x1, y1 = roi = _roi(matrix, width, height, pad=4)
        x0, y0, x1, y1 = max(x0, 1), max(y0, 1), min(x1, width - 1), min(y1, height - 1)
        roi = (x0, y0, x1, y1)
        mask = _warp_into(self.swap_mask, matrix, roi, cv2.INTER_NEAREST)
        mask[[0, -1], :] = 0
        mask[:, [0, -1]] = 0
        if not mask.any():
            return
        # Synthesised at low resolution, then upscaled: the blur real face-swap generators leave (or, 'blocky',
        # the pixel blocks of nearest-neighbour upscaling).
        low = int(PATCH_SIZE / style.downscale)
        source = self.patches[self.other[face.identity]]
        upscale = cv2.INTER_NEAREST if style.artefact == 'blocky' else cv2.INTER_LINEAR
        source = cv2.resize(cv2.resize(source, (low, low), interpolation=cv2.INTER_AREA), (PATCH_SIZE, PATCH_SIZE),
                            interpolation=upscale).astype(np.float32) * face.brightness
        warped = _warp_into(source, matrix, roi, cv2.INTER_LINEAR)
        target = frame[y0:y1, x0:x1]
        region = mask > 0
        # Imperfect colour match: move the new face's mean colour only part of the way to the old one's.
        warped += (target[region].mean(axis=0) - warped[region].mean(axis=0)) * style.color_mix
        warped = np.clip(warped, 0, 255).astype(np.uint8)
        if style.artefact == 'blocky':
            target[region] = warped[region]   # pasted with a hard edge, no blending
            return
        center = ((target.shape[1]) // 2, (target.shape[0]) // 2)
        frame[y0:y1, x0:x1] = cv2.seamlessClone(warped, np.ascontiguousarray(target), mask, center,
                                                cv2.NORMAL_CLONE)


_RENDERER: Renderer | None = None


def _renderer() -> Renderer:
    global _RENDERER
    if _RENDERER is None:
        _RENDERER = Renderer()
    return _RENDERER


def encode_video(frames, path: Path, width: int, height: int, fps: int = FPS, crf: int = 18) -> int:
    """Encode BGR frames to H.264 mp4 through an ffmpeg pipe; written atomically. Returns the frame count."""
    count = 0
    with atomic_path(path) as temp:
        command = [find_ffmpeg(), '-hide_banner', '-loglevel', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'bgr24',
                   '-s', f'{width}x{height}', '-r', str(fps), '-i', '-', '-c:v', 'libx264', '-preset', 'veryfast',
                   '-crf', str(crf), '-pix_fmt', 'yuv420p', '-threads', '1', '-fflags', '+bitexact',
                   '-flags:v', '+bitexact', '-map_metadata', '-1', '-f', 'mp4', str(temp)]
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            for frame in frames:
                process.stdin.write(np.ascontiguousarray(frame).tobytes())
                count += 1
        finally:
            process.stdin.close()
            stderr = process.stderr.read().decode(errors='replace')
            process.wait()
        if process.returncode != 0:
            raise RuntimeError(f'ffmpeg failed encoding {path}: {stderr.strip()}')
    return count


def _render_job(job: tuple[str, VideoPlan, SwapStyle | None]) -> str:
    path, plan, swap = job
    encode_video(_renderer().render(plan, swap=swap), Path(path), plan.width, plan.height)
    return path


@dataclasses.dataclass
class SyntheticSpec:
    parts: int = 2
    reals_per_part: int = 3
    fakes_per_real: int = 2
    test_videos: int = 10
    width: int = 640
    height: int = 360
    seconds: float = 4.0
    seed: int = 0
    artefact: str = 'blend'      # the fakes' face-swap artefact, one of ARTEFACTS
    layout: str = 'dfdc'         # 'dfdc' (dfdc_train_part_N/ + metadata.json) or 'labels' (videos/ + labels.csv)
    val_videos: int = 0          # also write val_videos/ and val_labels.csv (paths relative to the root)


def _random_names(rng: np.random.Generator, count: int) -> list[str]:
    letters = np.array(list(string.ascii_lowercase))
    names: list[str] = []
    while len(names) < count:
        name = ''.join(rng.choice(letters, size=10)) + '.mp4'
        if name not in names:
            names.append(name)
    return names


def make_dataset(out: str | os.PathLike, spec: SyntheticSpec = SyntheticSpec(), workers: int | None = None,
                 progress: bool = True) -> dict:
    """Write the data set under `out` (deterministic for `spec.seed`); returns a summary."""
    from tqdm import tqdm

    out = ensure_dir(Path(out))
    rng = np.random.default_rng(spec.seed)
    num_frames = int(round(spec.seconds * FPS))
    identities = sorted(IDENTITIES)
    other = {identities[0]: identities[1], identities[1]: identities[0]}
    max_videos = spec.parts * spec.reals_per_part * (1 + spec.fakes_per_real) + spec.test_videos + spec.val_videos
    names = iter(_random_names(rng, max_videos))
    jobs: list[tuple[str, VideoPlan, SwapStyle | None]] = []
    sidecar: dict[str, dict] = {}

    def new_plan(index: int) -> VideoPlan:
        # One face in most videos, two in every 5th of 7, none in every 7th (never the first), alternating identity.
        kind = index % 7
        chosen = identities[:] if kind == 5 else [] if kind == 6 else [identities[index % 2]]
        plan_seed = int(rng.integers(0, 2 ** 31))
        plan_rng = np.random.default_rng(plan_seed)
        return VideoPlan(spec.width, spec.height, num_frames, plan_seed,
                         _draw_faces(plan_rng, spec.width, spec.height, chosen),
                         noise_sigma=float(plan_rng.uniform(1.5, 4.0)))

    if spec.artefact not in ARTEFACTS:
        raise ValueError(f'unknown artefact {spec.artefact!r}; choose from {", ".join(ARTEFACTS)}')

    def new_swap() -> SwapStyle:
        return SwapStyle(downscale=float(rng.uniform(2.5, 4.0)), color_mix=float(rng.uniform(0.3, 0.7)),
                         artefact=spec.artefact)

    def add(relpath: str, plan: VideoPlan, swap: SwapStyle | None) -> None:
        jobs.append((str(out / relpath), plan, swap))
        sidecar[relpath] = {
            'label': 'REAL' if swap is None else 'FAKE',
            'identities': [f.identity if swap is None else other[f.identity] for f in plan.faces],
            'boxes': [[[round(v, 2) for v in face.box(i / max(num_frames - 1, 1))] for face in plan.faces]
                      for i in range(num_frames)],
        }

    video_index = 0
    rows = []   # the 'labels' layout's labels.csv: (relpath, label, original)
    for part in range(spec.parts):
        part_dir = ensure_dir(out / (f'dfdc_train_part_{part}' if spec.layout == 'dfdc' else f'videos/set_{part}'))
        folder = part_dir.relative_to(out).as_posix()
        metadata = {}
        for k in range(spec.reals_per_part):
            plan = new_plan(video_index)
            video_index += 1
            real = next(names)
            metadata[real] = {'label': 'REAL', 'split': 'train'}
            add(f'{folder}/{real}', plan, None)
            rows.append((f'{folder}/{real}', 0, ''))
            # Every 3rd real of a 'labels' set has fakes whose original is not listed: all of them train alone.
            paired = spec.layout == 'dfdc' or k % 3 != 2
            # A fake of a video without faces would equal its original; like DFDC, such a real has no fakes.
            for _ in range(spec.fakes_per_real if plan.faces else 0):
                fake = next(names)
                metadata[fake] = {'label': 'FAKE', 'split': 'train', 'original': real}
                add(f'{folder}/{fake}', plan, new_swap())
                rows.append((f'{folder}/{fake}', 1, f'{folder}/{real}' if paired else ''))
        if spec.layout == 'dfdc':
            atomic_write_bytes(part_dir / 'metadata.json',
                               json.dumps(dict(sorted(metadata.items())), indent=1).encode())
    if spec.layout == 'labels':
        atomic_write_bytes(out / 'labels.csv', ('filename,label,original\n' + ''.join(
            f'{name},{label},{original}\n' for name, label, original in sorted(rows))).encode())
    elif spec.layout != 'dfdc':
        raise ValueError(f'unknown layout {spec.layout!r}; use dfdc or labels')

    for folder, count, labels_name, prefix in (('test_videos', spec.test_videos, TEST_LABELS_NAME, ''),
                                               ('val_videos', spec.val_videos, VAL_LABELS_NAME, 'val_videos/')):
        if not count:
            continue
        ensure_dir(out / folder)
        labels = []
        for k in range(count):
            plan = new_plan(video_index)
            video_index += 1
            is_fake = k % 2 == 1 and bool(plan.faces)
            name = next(names)
            labels.append((f'{prefix}{name}', int(is_fake)))
            add(f'{folder}/{name}', plan, new_swap() if is_fake else None)
        csv = 'filename,label\n' + ''.join(f'{n},{y}\n' for n, y in sorted(labels))
        atomic_write_bytes(out / labels_name, csv.encode())

    workers = workers or min(len(jobs), os.cpu_count() or 1)
    bar = tqdm(total=len(jobs), desc='synthetic videos', unit='video', disable=not progress)
    if workers <= 1:
        for job in jobs:
            _render_job(job)
            bar.update()
    else:
        with ProcessPoolExecutor(workers) as pool:
            for _ in pool.map(_render_job, jobs):
                bar.update()
    bar.close()
    atomic_write_bytes(out / SIDECAR_NAME, json.dumps({'fps': FPS, 'videos': sidecar}).encode())
    return {'train_videos': len(jobs) - spec.test_videos - spec.val_videos, 'test_videos': spec.test_videos,
            'val_videos': spec.val_videos, 'root': str(out)}


def quiet_face_scores(dsfd) -> None:
    """Random DSFD weights score every anchor a face; this makes every face score near 0, as on most anchors of a
    real frame, so a benchmark's NMS costs what it does on real video (the network still runs in full)."""
    import torch
    with torch.no_grad():
        for k, head in enumerate(dsfd.conf):
            head.conv4.weight.zero_()
            head.conv4.bias.zero_()
            # The face score is the softmax's second of (max(c0, c1, c2), c3) at source 0, of (c3, max) elsewhere.
            head.conv4.bias[3 if k == 0 else slice(0, 3)] = -20.0


def well_conditioned_weights(model, batch_shape: tuple[int, int, int, int] = (14, 3, 224, 192), seed: int = 0,
                             residual_scale: float = 0.2):
    """Random weights for the published architectures that keep the signal alive, for tests and benchmarks
    without the published weights (PyTorch's default init makes a deep EfficientNet's output constant and DSFD's
    overflow): He-initialised convolutions, the last BatchNorm of each EfficientNet block with a skip connection
    scaled by `residual_scale` (so 55 blocks of B7 do not amplify small differences chaotically), and BatchNorm
    statistics taken from one batch of varied images. Returns the model in eval mode."""
    import torch
    torch.manual_seed(seed)
    momenta = {}
    for module in model.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Conv3d)):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity='relu')
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, torch.nn.Linear):
            torch.nn.init.normal_(module.weight, std=module.in_features ** -0.5)
            torch.nn.init.zeros_(module.bias)
        elif isinstance(module, torch.nn.BatchNorm2d):
            momenta[module], module.momentum = module.momentum, 1.0  # running statistics = this batch's
        args = getattr(module, '_block_args', None)
        if args is not None and args.id_skip and args.stride == 1 and args.input_filters == args.output_filters:
            with torch.no_grad():
                module._bn2.weight.fill_(residual_scale)
    count, channels, height, width = batch_shape
    batch = (torch.rand(count, channels, 1, 1) * 2 - 1 + torch.randn(*batch_shape) * torch.rand(count, 1, 1, 1))
    with torch.no_grad():
        model.train()(batch)
    for module, momentum in momenta.items():
        module.momentum = momentum
    return model.eval()
