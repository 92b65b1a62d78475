import random

import cv2
import numpy as np
import pytest
import torch

from dfdc.augment import (CompressionParams, build_pipeline, compress_clip_published, compress_clips,
                          decoded_frame_indices, draw_compression_params, seeded)
from dfdc.data import TrackPairDataset


def write_clip(folder, frames):
    folder.mkdir(parents=True)
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / f'{i}.png'), frame)
    np.zeros((8, 4), np.float32).tofile(folder / 'boxes.float32')


def textured_frames(count=50, height=120, width=100, seed=0):
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.integers(0, 255, (height, width, 3), dtype=np.uint8), (0, 0), 2)
    return [np.roll(base, i, axis=1) for i in range(count)]


@pytest.fixture(scope='module')
def twin_clips(tmp_path_factory):
    """Two clip folders with identical frames, and one whose 50 frames are all the same image."""
    root = tmp_path_factory.mktemp('clips')
    frames = textured_frames()
    write_clip(root / 'p' / 'real.mp4_0_0_0', frames)
    write_clip(root / 'p' / 'fake.mp4_0_0_0', frames)
    write_clip(root / 'p' / 'still.mp4_0_0_0', [frames[0]] * 50)
    return root


def published_get_params(height, width):
    """The published TrackTransform.get_params, written out: None, or (fps, height, width, crf, tune)."""
    if random.random() > 0.5:
        return None
    fps = 30
    if random.random() > 0.5:
        fps = random.randrange(15, 30)
    scale = 1.0
    if random.random() > 0.5:
        scale = random.uniform(0.25, 1)
    crf = random.randrange(17, 40)
    tune = random.choice(['film', 'animation', 'grain', 'stillimage', 'fastdecode', 'zerolatency'])
    return fps, round(scale * height) // 2 * 2, round(scale * width) // 2 * 2, crf, tune


def test_compression_parameters_are_the_published_draws():
    applied = []
    for seed in range(600):
        random.seed(seed)
        expected = published_get_params(120, 100)
        random.seed(seed)
        params = draw_compression_params()
        ours = None if params is None else (params.fps, *params.output_size(120, 100), params.crf, params.tune)
        assert ours == expected, seed
        next_draw = random.random()
        random.seed(seed)
        published_get_params(120, 100)
        assert random.random() == next_draw, 'the same number of draws'
        applied.append(params is not None)
    assert 0.4 < np.mean(applied) < 0.6
    random.seed(0)
    assert all(draw_compression_params(p=1.0) is not None for _ in range(50))


@pytest.mark.parametrize('scale, size, expected', [(1.0, (120, 100), (120, 100)), (0.25, (120, 100), (30, 24)),
                                                   (0.33, (163, 163), (54, 54)), (0.5, (57, 91), (28, 46))])
def test_output_sizes_are_even(scale, size, expected):
    assert CompressionParams(30, scale, 23, 'film').output_size(*size) == expected


def test_frame_index_mapping_is_the_published_float32_rounding():
    indices = np.arange(50)
    for decoded in range(1, 61):
        published = np.round((indices.astype(np.float32) / 50) * np.float32(decoded)).astype(np.int32)
        assert decoded_frame_indices(indices, decoded).tolist() == np.clip(published, 0, decoded - 1).tolist()
    # In float64 frame 35 of 45 decoded frames rounds to 31; the published float32 arithmetic gives 32.
    assert round(35 / 50 * 45) == 31 and decoded_frame_indices([35], 45).tolist() == [32]
    assert decoded_frame_indices([0, 9, 37, 49], 50).tolist() == [0, 9, 37, 49]


def test_pair_compression_equals_the_published_two_process_way(twin_clips):
    folder = twin_clips / 'p' / 'real.mp4_0_0_0'
    for params in (CompressionParams(17, 0.6, 30, 'grain'), CompressionParams(30, 1.0, 20, 'zerolatency')):
        published = compress_clip_published(folder, params, 120, 100)
        ours = compress_clips([folder, twin_clips / 'p' / 'fake.mp4_0_0_0'], params, 120, 100)
        assert published.shape[1:] == (*params.output_size(120, 100), 3)
        assert len(ours) == 2 and all(np.array_equal(clip, published) for clip in ours)
        if params.fps == 17:
            assert 26 <= len(published) <= 30


AUTOAUGMENT_HPARAMS = {'translate_const': 86, 'img_mean': (124, 116, 104)}  # timm's, for a 224 x 192 input


class PublishedTransform:
    """The published training transform of one image, written out from albumentations 0.4.3 (each transform's
    probability check draws `random()` first; ToTensor draws nothing) with timm's AutoAugment and RandomErasing."""

    def __init__(self, shorter_side, pad, erasing):
        from timm.data.auto_augment import auto_augment_transform
        from timm.data.random_erasing import RandomErasing
        self.shorter_side, self.pad = shorter_side, pad
        self.autoaugment = auto_augment_transform('original-mstd0.5', dict(AUTOAUGMENT_HPARAMS))
        self.erasing = RandomErasing(0.2, mode='pixel', max_count=1, device='cpu') if erasing else None

    def __call__(self, image):
        from PIL import Image
        assert random.random() < 1.0                        # Compose(p=1)
        if random.random() < 1.0:                           # SmallestMaxSize(shorter_side)
            scale = self.shorter_side / float(min(image.shape[:2]))
            if scale != 1.0:
                image = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                                   interpolation=cv2.INTER_LINEAR)
        if self.pad and random.random() < 1.0:              # PadIfNeeded(224, 192), BORDER_REFLECT_101
            rows, cols = image.shape[:2]
            top = int((224 - rows) / 2.0) if rows < 224 else 0
            left = int((192 - cols) / 2.0) if cols < 192 else 0
            image = cv2.copyMakeBorder(image, top, max(224 - rows - top, 0), left, max(192 - cols - left, 0),
                                       cv2.BORDER_REFLECT_101)
        if random.random() < 0.5:                           # HorizontalFlip
            image = cv2.flip(image, 1)
        if random.random() < 1.0:                           # RandomCrop(224, 192)
            h_start, w_start = random.random(), random.random()
            y1, x1 = int((image.shape[0] - 224) * h_start), int((image.shape[1] - 192) * w_start)
            image = image[y1:y1 + 224, x1:x1 + 192]
        if random.random() < 0.5:                           # VisionTransform(AutoAugment, p=0.5)
            image = np.array(self.autoaugment(Image.fromarray(np.ascontiguousarray(image))))
        if random.random() < 1.0:                           # Normalize
            mean = np.array([0.485, 0.456, 0.406], dtype=np.float32)
            mean *= 255.0
            std = np.array([0.229, 0.224, 0.225], dtype=np.float32)
            std *= 255.0
            image = image.astype(np.float32)
            image -= mean
            image *= np.reciprocal(std, dtype=np.float32)
        tensor = torch.from_numpy(np.moveaxis(image / 1, -1, 0).astype(np.float32))   # ToTensor
        if self.erasing is not None and random.random() < 1.0:   # VisionTransform(RandomErasing)
            self.erasing(tensor)
        return tensor


PRESET_REFERENCES = {'large_crop': (192, True, False), 'random_erasing': (224, False, True),
                     'sequence': (224, False, False)}


@pytest.mark.parametrize('preset', sorted(PRESET_REFERENCES))
def test_training_transform_is_the_published_one_draw_for_draw(preset):
    pipeline, reference = build_pipeline(preset), PublishedTransform(*PRESET_REFERENCES[preset])
    images = [textured_frames(1, height, width, seed=height)[0] for height, width in
              ((120, 100), (97, 143), (300, 301), (224, 192), (181, 181))]
    erased = 0
    for seed in range(40):
        image = images[seed % len(images)]
        with seeded(seed):
            expected = reference(image)
            after = random.random()
        with seeded(seed):
            ours = pipeline.train(image)
            assert random.random() == after, 'the same number of draws'
        assert ours.shape == (3, 224, 192) and torch.equal(ours, expected), seed
        erased += bool((ours.abs() > 2.7).any())
    if preset == 'random_erasing':
        assert erased > 0


def test_pipelines_geometry():
    image = np.full((100, 80, 3), 128, np.uint8)
    large = build_pipeline('large_crop')
    assert large.geometry(image).shape == (240, 192, 3)
    square = large.geometry(np.zeros((50, 50, 3), np.uint8))
    assert square.shape == (224, 192, 3)
    assert build_pipeline('random_erasing').geometry(image).shape == (280, 224, 3)
    out = large.evaluate(image)
    assert out.shape == (3, 224, 192)
    expected = (np.float32(128) - np.float32(0.485) * np.float32(255)) * (1 / (np.float32(0.229) * np.float32(255)))
    assert out[0, 100, 100].item() == pytest.approx(float(expected), abs=1e-6)


@pytest.mark.parametrize('preset', ['large_crop', 'random_erasing'])
def test_real_and_fake_frames_get_the_same_transform(twin_clips, preset):
    pairs = [('p/real.mp4_0_0_0', 'p/fake.mp4_0_0_0')]
    for compression_p in (0.0, 1.0):
        dataset = TrackPairDataset(twin_clips, pairs, (9, 13, 17, 21, 25, 29, 33, 37), build_pipeline(preset),
                                   compression_p=compression_p)
        for seed in range(4):
            real, fake, _ = dataset[(0, seed)]
            assert real.shape == (8, 3, 224, 192)
            if preset == 'large_crop':
                assert torch.equal(real, fake)
        # The frames of one pair draw their own transforms.
        assert not all(torch.allclose(real[0], real[k], atol=0.5) for k in range(1, 8))
        assert torch.equal(dataset[(0, 3)][0], real), 'the same seed gives the same sample'


def test_pair_replays_python_random_only_as_published(twin_clips):
    """Real frames first, then `random` is rewound and the fake frames replay it; torch's generator runs on, so
    random erasing cuts the same rectangle from the real and the fake frame but fills it with other noise."""
    frames = (9, 13, 17, 21, 25, 29, 33, 37)
    dataset = TrackPairDataset(twin_clips, [('p/real.mp4_0_0_0', 'p/fake.mp4_0_0_0')], frames,
                               build_pipeline('random_erasing'), compression_p=0.0)
    reference = PublishedTransform(*PRESET_REFERENCES['random_erasing'])
    images = [cv2.cvtColor(cv2.imread(str(twin_clips / 'p' / 'real.mp4_0_0_0' / f'{i}.png')), cv2.COLOR_BGR2RGB)
              for i in frames]
    rectangles = 0
    for seed in range(12):
        with seeded(seed):
            assert random.random() > 0.0                  # get_params: no re-encoding at p = 0
            state = random.getstate()
            expected_real = [reference(image) for image in images]
            random.setstate(state)
            expected_fake = [reference(image) for image in images]
        real, fake, _ = dataset[(0, seed)]
        assert torch.equal(real, torch.stack(expected_real)) and torch.equal(fake, torch.stack(expected_fake))
        for r, f in zip(real, fake):
            differ = (r != f).any(dim=0).numpy()
            if differ.any():
                rows, cols = np.nonzero(differ.any(axis=1))[0], np.nonzero(differ.any(axis=0))[0]
                assert differ[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].all(), 'one rectangle of noise'
                rectangles += 1
    assert rectangles > 0


def test_sequence_frames_share_one_transform(twin_clips):
    dataset = TrackPairDataset(twin_clips, [('p/still.mp4_0_0_0', 'p/still.mp4_0_0_0')], range(19, 32, 2),
                               build_pipeline('sequence'), sequence=True, compression_p=0.0)
    for seed in range(6):
        real, fake, _ = dataset[(0, seed)]
        assert real.shape == (7, 3, 224, 192) and torch.equal(real, fake)
        assert all(torch.equal(real[0], real[k]) for k in range(7))
