"""Stages 2-5 on the synthetic data, through the scripts."""
import filecmp
import pickle
import random

import cv2
import numpy as np
import pytest

from dfdc.clips import (SINGLE_SEED, TRACK_LENGTH, crop_window, draw_clip_choices, is_complete_clip, read_single_clips,
                        read_track_pairs)
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
        real_png, fake_png = cv2.imread(str(real_dir / '20.png')), cv2.imread(str(fake_dir / '20.png'))
        assert real_png.shape == fake_png.shape


def test_boxes_file_holds_every_box_of_its_side_of_the_aligned_track(pipeline):
    """As published: all N boxes of the aligned track (not only the clip's 8), minus the crop origin, float32."""
    config, _, _ = pipeline
    aligned = pickle.loads(config.aligned_tracks_path.read_bytes())
    pairs = read_track_pairs(config.track_pairs_path)
    for real_clip, fake_clip in pairs:
        start, xmin, ymin = (int(v) for v in real_clip.rsplit('_', 3)[1:])
        real_video, fake_video = real_clip.rsplit('_', 3)[0], fake_clip.rsplit('_', 3)[0]
        track = next(t for r, f, t in aligned if (r, f) == (real_video, fake_video) and
                     any(frame * 6 == start for frame, _, _ in t))
        assert len(track) > 8
        for clip, side in ((real_clip, 1), (fake_clip, 2)):
            expected = np.array([entry[side] for entry in track], np.float32)
            expected[:, [0, 2]] -= xmin
            expected[:, [1, 3]] -= ymin
            stored = np.fromfile(config.clips_root / clip / 'boxes.float32', np.float32)
            assert stored.tolist() == expected.reshape(-1).tolist()


def test_fake_clip_differs_from_real_only_around_the_face(pipeline):
    config, _, _ = pipeline
    aligned = pickle.loads(config.aligned_tracks_path.read_bytes())
    for real_clip, fake_clip in read_track_pairs(config.track_pairs_path):
        boxes = np.fromfile(config.clips_root / fake_clip / 'boxes.float32', np.float32).reshape(-1, 4)
        start = int(fake_clip.rsplit('_', 3)[1]) // 6
        first = next(t for r, f, t in aligned if f == fake_clip.rsplit('_', 3)[0] and
                     any(frame == start for frame, _, _ in t))[0][0]
        x1, y1, x2, y2 = boxes[start - first + 4]
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


def test_choices_are_the_published_draws_over_the_whole_list():
    tracks = [('r', 'f', [(i, (0, 0, 1, 1), (0, 0, 1, 1)) for i in range(n)]) for n in (10, 3, 20, 8, 7, 31) * 30]
    choices = draw_clip_choices(tracks)
    random.seed(0xDEADFACE)
    for (_, _, track), choice in zip(tracks, choices):
        if len(track) < 8:
            assert choice is None
            continue
        start_idx = random.randint(0, len(track) - 8)
        use_real_box = random.choice([False, True])
        assert (choice.start_idx, choice.use_real_box) == (start_idx, use_real_box)
    assert {c.use_real_box for c in choices if c} == {False, True}
    assert draw_clip_choices(tracks) == choices


def published_crop(bbox, width, height):
    """The published crop arithmetic, written out with NumPy 1.x's promotion: float32 minus float32 stays
    float32; a NumPy scalar with a Python number becomes float64."""
    xmin, ymin, xmax, ymax = bbox
    box_w, box_h = np.float64(xmax - xmin), np.float64(ymax - ymin)
    xcenter, ycenter = np.float64(xmin) + box_w / 2, np.float64(ymin) + box_h / 2
    box_w, box_h = box_w * 1.5, box_h * 1.5
    xmin, ymin = xcenter - box_w / 2, ycenter - box_h / 2
    xmax, ymax = xmin + box_w, ymin + box_h
    return max(int(xmin), 0), max(int(ymin), 0), min(int(xmax), width), min(int(ymax), height)


def test_crop_window_is_the_published_arithmetic():
    rng = np.random.default_rng(0)
    for _ in range(20000):
        x1, x2 = sorted(rng.uniform(-50, 700, 2))
        y1, y2 = sorted(rng.uniform(-50, 500, 2))
        for box in (np.array([x1, y1, x2, y2], np.float32), (float(x1), float(y1), float(x2), float(y2))):
            assert crop_window(box, 640, 480) == published_crop(box, 640, 480)
    # Boxes where computing from the centre and half-size (x +- 1.5 w / 2) lands one pixel off.
    assert crop_window(np.array([138.04582, 127.35219, 448.40915, 136.33708], np.float32), 640, 480)[2] == 526
    assert crop_window(np.array([168.28468, 2.9317417, 582.86365, 204.58635], np.float32), 640, 480)[3] == 254
    assert crop_window((10, 20, 50, 60), 640, 360) == (0, 10, 60, 70)
    assert crop_window((600, 300, 640, 360), 640, 360) == (590, 285, 640, 360)


def test_labelled_data_gives_pairs_and_single_clips(labelled_stages):
    import csv
    config_path, output = labelled_stages
    config = load_config(config_path)
    rows = {r['filename']: r for r in csv.DictReader(open(config.DFDC_DATA_PATH / 'labels.csv'))}
    pairs = read_track_pairs(config.track_pairs_path)
    singles = read_single_clips(config.single_clips_path)
    assert pairs and singles and 'single clips' in output
    for real, fake in pairs:
        assert rows[fake.rsplit('_', 3)[0]]['original'] == real.rsplit('_', 3)[0]
    for clip, label in singles:
        video = clip.rsplit('_', 3)[0]
        assert int(rows[video]['label']) == label and not rows[video]['original']
        assert is_complete_clip(config.clips_root / clip) and clip.startswith('videos/set_0/')
    assert {label for _, label in singles} == {0, 1}
    # The pairs' draws are the published ones; the singles draw from their own seed.
    single = pickle.loads(config.single_tracks_path.read_bytes())
    random.seed(SINGLE_SEED)
    for (video, label, track), (clip, _) in zip([t for t in single if len(t[2]) >= 8], singles):
        start = random.randint(0, len(track) - 8)
        assert clip.startswith(f'{video}_{track[start][0] * 6}_')
