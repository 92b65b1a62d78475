"""Stages 2-5 on the synthetic data, through the scripts."""
import filecmp
import pickle

import cv2
import numpy as np
import pytest

from dfdc.clips import TRACK_LENGTH, crop_window, draw_clip_choices, is_complete_clip, read_track_pairs
from dfdc.config import load_config
from tests.conftest import run_stages, write_config


def snapshot(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob('*')) if p.is_file()}


@pytest.fixture(scope='module')
def pipeline(stages):
    config_path, output = stages
    return load_config(config_path), config_path, output


def test_every_pair_names_two_complete_aligned_clips(pipeline):
    config, _, output = pipeline
    pairs = read_track_pairs(config.track_pairs_path)
    assert len(pairs) >= 3 and f'stage 5: {len(pairs)} track pairs' in output
    for real_clip, fake_clip in pairs:
        assert real_clip.split('_')[-3:] == fake_clip.split('_')[-3:]
        real_dir, fake_dir = config.clips_root / real_clip, config.clips_root / fake_clip
        assert is_complete_clip(real_dir) and is_complete_clip(fake_dir)
        assert len(list(real_dir.glob('*.png'))) == len(list(fake_dir.glob('*.png'))) == TRACK_LENGTH
        boxes = np.fromfile(fake_dir / 'boxes.float32', np.float32)
        assert boxes.shape == (8 * 4,) and np.fromfile(real_dir / 'boxes.float32', np.float32).shape == (32,)
        real_png, fake_png = cv2.imread(str(real_dir / '20.png')), cv2.imread(str(fake_dir / '20.png'))
        assert real_png.shape == fake_png.shape


def test_fake_clip_differs_from_real_only_around_the_face(pipeline):
    config, _, _ = pipeline
    for real_clip, fake_clip in read_track_pairs(config.track_pairs_path):
        boxes = np.fromfile(config.clips_root / fake_clip / 'boxes.float32', np.float32).reshape(-1, 4)
        x1, y1, x2, y2 = boxes[4]
        frame = 24  # the middle detected entry's frame
        real = cv2.imread(str(config.clips_root / real_clip / f'{frame}.png')).astype(np.int16)
        fake = cv2.imread(str(config.clips_root / fake_clip / f'{frame}.png')).astype(np.int16)
        diff = np.abs(real - fake).mean(axis=2)
        face = np.zeros(diff.shape, bool)
        cx, cy, w, h = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
        face[max(int(cy - h * 0.3), 0):int(cy + h * 0.3), max(int(cx - w * 0.3), 0):int(cx + w * 0.3)] = True
        around = np.zeros(diff.shape, bool)
        around[max(int(cy - h * 0.7), 0):int(cy + h * 0.7), max(int(cx - w * 0.7), 0):int(cx + w * 0.7)] = True
        if (~around).sum() > 50:
            assert diff[~around].mean() < 3
        assert diff[face].mean() > 8


def test_tracks_and_aligned_tracks_formats(pipeline):
    config, _, _ = pipeline
    tracks = pickle.loads(config.tracks_path.read_bytes())
    assert tracks and all(isinstance(k, str) and k.startswith('dfdc_train_part_') for k in tracks)
    for video_tracks in tracks.values():
        for track in video_tracks:
            frames = [f for f, _ in track]
            assert frames == list(range(frames[0], frames[0] + len(frames))) and len(track[0][1]) == 4
    aligned = pickle.loads(config.aligned_tracks_path.read_bytes())
    assert aligned and all(len(item) == 3 and len(item[2][0]) == 3 for item in aligned)


def test_rerun_is_idempotent_and_two_shards_equal_one_run(pipeline, tmp_path, synthetic_root):
    config, config_path, _ = pipeline
    before = snapshot(config.ARTIFACTS_PATH)
    output = run_stages(config_path).stdout
    assert 'stage 5' in output and snapshot(config.ARTIFACTS_PATH) == before
    sharded_config = write_config(tmp_path, synthetic_root)
    run_stages(sharded_config, shards=2)
    sharded = load_config(sharded_config)
    comparison = filecmp.dircmp(sharded.clips_root, config.clips_root)
    assert snapshot(sharded.clips_root) == snapshot(config.clips_root), comparison.report_full_closure()
    assert sharded.track_pairs_path.read_bytes() == config.track_pairs_path.read_bytes()


def test_choices_are_drawn_for_the_whole_list_and_crop_is_clipped():
    tracks = [('r', 'f', [(i, (0, 0, 1, 1), (0, 0, 1, 1)) for i in range(n)]) for n in (10, 3, 20)]
    choices = draw_clip_choices(tracks)
    assert choices[1] is None and 0 <= choices[0].start_idx <= 2 and 0 <= choices[2].start_idx <= 12
    assert draw_clip_choices(tracks) == choices
    assert crop_window((10, 20, 50, 60), 640, 360) == (0, 10, 60, 70)
    assert crop_window((600, 300, 640, 360), 640, 360) == (590, 285, 640, 360)
