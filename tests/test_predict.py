import csv
import io
import json
import shutil
import subprocess
import sys

import pytest

from dfdc.config import load_config
from dfdc.inference import WINDOW, plan_track_crops
from tests.conftest import REPO, write_config
from tests.test_copy_weights import make_tiny_snapshots, run_copy


def test_crop_plan_follows_the_published_indexing():
    plan = plan_track_crops(0, 21)
    windows = [(slot, entry, box, flip) for kind, slot, entry, box, flip in plan if kind == 'sequence']
    assert [w[1] for w in windows] == list(range(0, 7)) + list(range(14, 21))   # track[:-6:14] -> starts 0, 14
    assert {(w[0], w[2], w[3]) for w in windows} == {(0, 3, True), (1, 17, False)}
    frames = [(kind, slot, entry, box, flip) for kind, slot, entry, box, flip in plan if kind != 'sequence']
    assert [entry for _, _, entry, _, _ in frames] == list(range(0, 21, 2))
    assert all(entry == box for _, _, entry, box, _ in frames)
    assert [kind[0] for kind, *_ in frames] == list('llrrllrrllr')
    assert [flip for *_, flip in frames] == [i % 2 == 0 for i in range(11)]
    assert [kind for kind, *_ in plan_track_crops(0, 20)].count('sequence') == WINDOW


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
