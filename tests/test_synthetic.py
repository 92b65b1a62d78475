import json

import cv2
import numpy as np

from dfdc.synthetic import SIDECAR_NAME, TEST_LABELS_NAME, SyntheticSpec, make_dataset
from dfdc.video import iter_frames, video_info
from tests.conftest import SMALL_SPEC


def test_layout_is_dfdc(synthetic_root):
    parts = sorted(p.name for p in synthetic_root.glob('dfdc_train_part_*'))
    assert parts == [f'dfdc_train_part_{i}' for i in range(SMALL_SPEC.parts)]
    labels = set()
    for part in parts:
        metadata = json.loads((synthetic_root / part / 'metadata.json').read_text())
        videos = {p.name for p in (synthetic_root / part).glob('*.mp4')}
        assert set(metadata) == videos
        for name, entry in metadata.items():
            assert entry['split'] == 'train'
            labels.add(entry['label'])
            if entry['label'] == 'FAKE':
                assert metadata[entry['original']]['label'] == 'REAL'
    assert labels == {'REAL', 'FAKE'}
    test_labels = (synthetic_root / TEST_LABELS_NAME).read_text().splitlines()
    assert test_labels[0] == 'filename,label'
    rows = [line.split(',') for line in test_labels[1:]]
    assert sorted(n for n, _ in rows) == sorted(p.name for p in (synthetic_root / 'test_videos').glob('*.mp4'))
    assert {y for _, y in rows} == {'0', '1'}


def test_videos_decode_at_size_and_fps(synthetic_root, sidecar):
    for relpath, entry in sidecar.items():
        info = video_info(synthetic_root / relpath)
        assert (info.width, info.height) == (SMALL_SPEC.width, SMALL_SPEC.height)
        assert round(info.fps) == 30
        assert sum(1 for _ in iter_frames(synthetic_root / relpath)) == len(entry['boxes']) == 90


def test_both_identities_in_reals_and_in_fakes_and_some_videos_without_or_with_two_faces(sidecar):
    by_label = {'REAL': set(), 'FAKE': set()}
    face_counts = set()
    for entry in sidecar.values():
        by_label[entry['label']].update(entry['identities'])
        face_counts.add(len(entry['identities']))
    assert by_label['REAL'] == by_label['FAKE'] == {'astronaut', 'grace_hopper'}
    assert {0, 1, 2} <= face_counts


def test_fake_equals_its_original_away_from_the_face(synthetic_root, sidecar):
    metadata = json.loads((synthetic_root / 'dfdc_train_part_0' / 'metadata.json').read_text())
    fake, entry = next((k, v) for k, v in metadata.items() if v['label'] == 'FAKE')
    real_frames = dict(iter_frames(synthetic_root / 'dfdc_train_part_0' / entry['original'], step=30))
    fake_frames = dict(iter_frames(synthetic_root / 'dfdc_train_part_0' / fake, step=30))
    boxes = sidecar[f'dfdc_train_part_0/{fake}']['boxes']
    for index, real in real_frames.items():
        diff = np.abs(real.astype(np.int16) - fake_frames[index]).mean(axis=2)
        face = np.zeros(diff.shape, bool)
        for x1, y1, x2, y2 in boxes[index]:
            face[int(y1):int(y2), int(x1):int(x2)] = True
        around = cv2.dilate(face.astype(np.uint8), np.ones((41, 41), np.uint8)).astype(bool)
        assert diff[face].mean() > 10, 'the face is swapped'
        assert diff[~around].mean() < 2, 'the rest is pixel-aligned (up to compression noise)'


def test_deterministic_for_a_seed(tmp_path):
    spec = SyntheticSpec(parts=1, reals_per_part=1, fakes_per_real=1, test_videos=1, width=160, height=96,
                         seconds=0.5, seed=3)
    make_dataset(tmp_path / 'a', spec, workers=1, progress=False)
    make_dataset(tmp_path / 'b', spec, workers=2, progress=False)
    files_a = sorted(p.relative_to(tmp_path / 'a') for p in (tmp_path / 'a').rglob('*') if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / 'b') for p in (tmp_path / 'b').rglob('*') if p.is_file())
    assert files_a == files_b and len(files_a) >= 6
    for relpath in files_a:
        assert (tmp_path / 'a' / relpath).read_bytes() == (tmp_path / 'b' / relpath).read_bytes(), relpath
    other = SyntheticSpec(**{**spec.__dict__, 'seed': 4})
    make_dataset(tmp_path / 'c', other, workers=1, progress=False)
    assert (tmp_path / 'c' / SIDECAR_NAME).read_bytes() != (tmp_path / 'a' / SIDECAR_NAME).read_bytes()
