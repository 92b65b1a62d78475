import random

import cv2
import numpy as np
import pytest
import torch

from dfdc.augment import (CompressionParams, build_pipeline, compress_clip_published, compress_clips,
                          decoded_frame_index, draw_compression_params, seeded)
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


def test_compression_parameters_follow_the_published_distributions():
    random.seed(0)
    draws = [draw_compression_params() for _ in range(4000)]
    fps = [d.fps for d in draws]
    assert set(fps) == set(range(15, 31)) and 0.45 < np.mean([f == 30 for f in fps]) < 0.56
    scales = [d.scale for d in draws]
    assert min(scales) >= 0.25 and 0.45 < np.mean([s == 1 for s in scales]) < 0.55
    assert set(d.crf for d in draws) == set(range(17, 40))
    assert set(d.tune for d in draws) == {'film', 'animation', 'grain', 'stillimage', 'fastdecode', 'zerolatency'}


@pytest.mark.parametrize('scale, size, expected', [(1.0, (120, 100), (120, 100)), (0.25, (120, 100), (30, 24)),
                                                   (0.33, (163, 163), (54, 54)), (0.5, (57, 91), (28, 46))])
def test_output_sizes_are_even(scale, size, expected):
    assert CompressionParams(30, scale, 23, 'film').output_size(*size) == expected


def test_frame_index_mapping():
    assert [decoded_frame_index(i, 50) for i in (0, 9, 37, 49)] == [0, 9, 37, 49]
    assert [decoded_frame_index(i, 25) for i in (0, 9, 13, 37, 49)] == [0, 4, 6, 18, 24]
    assert decoded_frame_index(49, 10) == 9 and decoded_frame_index(0, 1) == 0


def test_pair_compression_equals_the_published_two_process_way(twin_clips):
    folder = twin_clips / 'p' / 'real.mp4_0_0_0'
    for params in (CompressionParams(17, 0.6, 30, 'grain'), CompressionParams(30, 1.0, 20, 'zerolatency')):
        published = compress_clip_published(folder, params, 120, 100)
        ours = compress_clips([folder, twin_clips / 'p' / 'fake.mp4_0_0_0'], params, 120, 100)
        assert published.shape[1:] == (*params.output_size(120, 100), 3)
        assert len(ours) == 2 and all(np.array_equal(clip, published) for clip in ours)
        if params.fps == 17:
            assert 26 <= len(published) <= 30


@pytest.mark.parametrize('preset', ['large_crop', 'random_erasing'])
def test_real_and_fake_frames_get_the_same_transform(twin_clips, preset):
    pairs = [('p/real.mp4_0_0_0', 'p/fake.mp4_0_0_0')]
    for compression_p in (0.0, 1.0):
        dataset = TrackPairDataset(twin_clips, pairs, (9, 13, 17, 21, 25, 29, 33, 37), build_pipeline(preset),
                                   compression_p=compression_p)
        for seed in range(4):
            real, fake = dataset[(0, seed)]
            assert real.shape == (8, 3, 224, 192)
            assert torch.equal(real, fake)
        # The frames of one pair draw their own transforms.
        assert not all(torch.allclose(real[0], real[k], atol=0.5) for k in range(1, 8))
        assert torch.equal(dataset[(0, 3)][0], real), 'the same seed gives the same sample'


def test_sequence_frames_share_one_transform(twin_clips):
    dataset = TrackPairDataset(twin_clips, [('p/still.mp4_0_0_0', 'p/still.mp4_0_0_0')], range(19, 32, 2),
                               build_pipeline('sequence'), sequence=True, compression_p=0.0)
    for seed in range(6):
        real, fake = dataset[(0, seed)]
        assert real.shape == (7, 3, 224, 192) and torch.equal(real, fake)
        assert all(torch.equal(real[0], real[k]) for k in range(7))


def test_pipelines_geometry():
    image = np.full((100, 80, 3), 128, np.uint8)
    large = build_pipeline('large_crop')
    assert large.geometry(image).shape == (240, 192, 3)
    square = large.geometry(np.zeros((50, 50, 3), np.uint8))
    assert square.shape == (224, 192, 3)
    assert build_pipeline('random_erasing').geometry(image).shape == (280, 224, 3)
    out = large.evaluate(image)
    assert out.shape == (3, 224, 192)
    expected = (128 / 255 - 0.485) / 0.229
    assert out[0, 100, 100].item() == pytest.approx(expected, abs=1e-5)


def test_random_erasing_hits_real_and_fake_alike(twin_clips):
    pipeline = build_pipeline('random_erasing')
    image = textured_frames(1)[0]
    erased = 0
    for seed in range(30):
        with seeded(seed):
            real, fake = pipeline.train_group([image, image.copy()])
        assert torch.equal(real, fake)
        erased += bool((real.abs() > 2.7).any())
    assert erased > 0
