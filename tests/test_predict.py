import csv
import io
import json
import shutil
import subprocess
import sys

import pytest

from dfdc.config import load_config
from dfdc.inference import WINDOW
from tests.conftest import REPO, write_config
from tests.test_copy_weights import make_tiny_snapshots, run_copy


def published_crop_plan(entries: int) -> list[tuple[str, int, int, int, bool]]:
    """SPEC.md's indexing, written out over a whole interpolated track: (model, slot, entry, box entry, flip).

    Sequence windows start at `track[:-6:14]` and use their middle entry's box, even windows flipped; frame
    models take `track[::2]`, the i-th flipped when i is even, to the large-crop model when i % 4 < 2.
    """
    plan = []
    for window, start in enumerate(range(0, entries - 6, 14)):
        plan += [('sequence', window, start + offset, start + 3, window % 2 == 0) for offset in range(7)]
    for i, entry in enumerate(range(0, entries, 2)):
        plan.append(('large_crop' if i % 4 < 2 else 'random_erasing', i, entry, entry, i % 2 == 0))
    return plan


@pytest.mark.parametrize('detections', [1, 7, 8, 10, 13])
def test_streaming_crops_follow_the_published_indexing(detections):
    from dfdc.detectors import OpenCVDetector
    from dfdc.inference import Predictor, _TrackCrops
    from dfdc.tracking import interpolate_track
    boxes = [(10.0 * i, 5.0 * i, 10.0 * i + 40, 5.0 * i + 40) for i in range(detections)]
    predictor = Predictor(OpenCVDetector(), ensemble=None)
    predictor._crop = lambda frame, box, kind, flip: (tuple(box.tolist()), flip)
    track = {'bboxes': [], 'max_score': 1.0, 'start_frame': 1}
    state = _TrackCrops(track, first=0)
    for box in boxes:  # the track grows one detection (3 kept frames) at a time, as the tracker extends it
        track['bboxes'].append(box)
        predictor._take_crops(state, ring={k: None for k in range(3 * detections)})
    entries = 3 * (detections - 1) + 1
    _, interpolated = interpolate_track([3 * i for i in range(detections)], boxes)
    expected = sorted((kind, slot, entry, tuple(interpolated[box].tolist()), flip)
                      for kind, slot, entry, box, flip in published_crop_plan(entries))
    # The streaming path may take sequence crops of a window the track does not complete; they are dropped later.
    emitted = sorted((kind, slot, entry, *image) for kind, slot, entry, image in state.items
                     if kind != 'sequence' or 14 * slot + 6 <= entries - 1)
    assert emitted == expected


@pytest.fixture(scope='module')
def predict_setup(tmp_path_factory, synthetic_root):
    directory = tmp_path_factory.mktemp('predict')
    inputs = directory / 'videos with spaces ü'
    inputs.mkdir()
    for path in sorted((synthetic_root / 'test_videos').glob('*.mp4')):
        shutil.copy(path, inputs / path.name)
    (inputs / 'corrupt.mp4').write_bytes(b'not a video at all')
    config_path = write_config(directory, synthetic_root)
    config = load_config(config_path)
    make_tiny_snapshots(config)
    assert run_copy(config_path, '--iteration', '5').returncode == 0
    return config_path, inputs, directory


def run_predict(config_path, inputs, output, *args):
    result = subprocess.run([sys.executable, str(REPO / 'predict.py'), '--config', str(config_path), '--input',
                             str(inputs), '--output', str(output), '--detector', 'opencv', *args],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_predict_rows_reasons_details_and_resume(predict_setup, sidecar):
    config_path, inputs, directory = predict_setup
    output, details = directory / 'out.csv', directory / 'details.jsonl'
    result = run_predict(config_path, inputs, output, '--details', str(details), '--profile')
    assert 'profile (s/video): decode' in result.stdout
    rows = list(csv.DictReader(io.StringIO(output.read_text())))
    names = sorted(p.name for p in inputs.glob('*.mp4'))
    assert [r['filename'] for r in rows] == names
    scores = {r['filename']: float(r['label']) for r in rows}
    records = {json.loads(line)['video'].split('/')[-1]: json.loads(line) for line in details.read_text().splitlines()}
    assert scores['corrupt.mp4'] == 0.5 and records['corrupt.mp4']['reason']
    assert 'corrupt.mp4' in result.stderr
    faceless = [n for n in names if n != 'corrupt.mp4' and not sidecar[f'test_videos/{n}']['identities']]
    assert faceless, 'the synthetic test set has a video without faces'
    for name in faceless:
        assert scores[name] == 0.5 and records[name]['reason'].startswith('no face')
    with_faces = [n for n in names if n != 'corrupt.mp4' and n not in faceless]
    for name in with_faces:
        record = records[name]
        assert record['reason'] is None and record['tracks'] and 0 <= scores[name] <= 1 and record['frames_read'] == 90
        track = record['tracks'][0]
        assert len(track['frames']) == len(track['boxes'])
        assert track['frames'][1] - track['frames'][0] == 2  # 30 fps -> every 2nd frame
        assert {len(track['probabilities'][k]) > 0 for k in ('sequence', 'large_crop', 'random_erasing')} == {True}
        assert len(track['probabilities']['sequence']) % WINDOW == 0

    again = run_predict(config_path, inputs, output, '--resume')
    assert f'0 videos scored' in again.stdout and f'{len(names)} already done' in again.stdout
    assert list(csv.DictReader(io.StringIO(output.read_text()))) == rows


def test_predict_default_input_is_test_videos(predict_setup, synthetic_root):
    config_path, _, directory = predict_setup
    result = subprocess.run([sys.executable, str(REPO / 'predict.py'), '--config', str(config_path),
                             '--detector', 'opencv'], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    submission = load_config(config_path).SUBMISSION_PATH.read_text().splitlines()
    assert submission[0] == 'filename,label'
    assert [line.split(',')[0] for line in submission[1:]] == sorted(
        p.name for p in (synthetic_root / 'test_videos').glob('*.mp4'))


def test_missing_models_are_a_clear_error(tmp_path, synthetic_root):
    config_path = write_config(tmp_path, synthetic_root)
    result = subprocess.run([sys.executable, str(REPO / 'predict.py'), '--config', str(config_path),
                             '--detector', 'opencv'], capture_output=True, text=True)
    assert result.returncode == 2 and 'run copy_weights.py' in result.stderr


def test_a_container_without_frame_rate_is_a_reason_not_a_crash(monkeypatch, synthetic_root):
    from dfdc import inference, video
    from dfdc.detectors import OpenCVDetector
    monkeypatch.setattr(video, 'video_info', lambda path: video.VideoInfo(320, 180, 0.0, 0))
    predictor = inference.Predictor(OpenCVDetector(), ensemble=None)
    result = predictor.predict_video(next((synthetic_root / 'test_videos').glob('*.mp4')))
    assert result.score == 0.5 and result.reason == 'the container reports no frame rate' and result.tracks == []
