import csv
import io
import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from dfdc.config import load_config
from dfdc.models import WINDOW
from dfdc.synthetic import well_conditioned_weights
from tests.conftest import REPO, write_config
from tests.test_clips import published_crop
from tests.test_copy_weights import config_with_tiny_models


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
    return config_with_tiny_models(directory, synthetic_root), inputs, directory


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
    assert '0 videos scored' in again.stdout and f'{len(names)} already done' in again.stdout
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


# ------------------------------------------------------------------ the published predictor, written out from SPEC

def published_geometry(face, model):
    """albumentations' SmallestMaxSize (+ PadIfNeeded for the large-crop model), CenterCrop(224, 192), Normalize
    and ToTensor."""
    face = published_resize_and_crop(face, model).astype(np.float32)
    face -= np.array([0.485, 0.456, 0.406], np.float32) * np.float32(255.0)
    face *= np.reciprocal(np.array([0.229, 0.224, 0.225], np.float32) * np.float32(255.0), dtype=np.float32)
    return torch.from_numpy(np.moveaxis(face, -1, 0).astype(np.float32))


def published_resize_and_crop(face, model):
    shorter = 192 if model == 'large_crop' else 224
    height, width = face.shape[:2]
    scale = shorter / float(min(width, height))
    if scale != 1.0:
        face = cv2.resize(face, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_LINEAR)
    if model == 'large_crop':
        rows, cols = face.shape[:2]
        top, left = int(max(224 - rows, 0) / 2.0), int(max(192 - cols, 0) / 2.0)
        face = cv2.copyMakeBorder(face, top, max(224 - rows, 0) - top, left, max(192 - cols, 0) - left,
                                  cv2.BORDER_REFLECT_101)
    y1, x1 = (face.shape[0] - 224) // 2, (face.shape[1] - 192) // 2
    return face[y1:y1 + 224, x1:x1 + 192]


def published_face(frame, bbox, flip):
    """extract_face: a 1.5x box (the published crop arithmetic), RGB, flipped first."""
    xmin, ymin, xmax, ymax = published_crop(bbox, frame.shape[1], frame.shape[0])
    face = cv2.cvtColor(frame[ymin:ymax, xmin:xmax], cv2.COLOR_BGR2RGB)
    return face[:, ::-1].copy() if flip else face


def published_predict(path, detector, models):
    """SPEC "Prediction", in the published predictor's order: all kept frames in memory, detect every 3rd, IoU
    tracks (t_min 7) interpolated per coordinate, per-track batches, probabilities concatenated as published."""
    from dfdc.tracking import track_iou
    capture = cv2.VideoCapture(str(path))
    frame_count, fps = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), int(capture.get(cv2.CAP_PROP_FPS))
    step, frames = round(fps / 15), []
    for i in range(frame_count):
        capture.grab()
        if i % step == 0:
            frames.append(capture.retrieve()[1])
    detections = detector.detect(frames[::3])
    tracks = track_iou([[{'bbox': tuple(box.tolist()), 'score': score} for box, score in zip(*frame)]
                        for frame in detections], 0.3, 0.9, 0.3, 7)
    interpolated = []
    for track in tracks:
        boxes = np.array(track['bboxes'], np.float32)
        detected = np.arange(track['start_frame'] - 1, track['start_frame'] - 1 + len(boxes)) * 3
        kept = np.arange(detected[0], detected[-1] + 1)
        inter = np.zeros((len(kept), 4), np.float32)
        for k in range(4):
            inter[:, k] = np.interp(kept, detected, boxes[:, k])
        interpolated.append(list(zip(kept, inter)))

    def probabilities(model, faces):
        with torch.no_grad():
            return torch.sigmoid(models[model](torch.stack(faces))).flatten().numpy()

    if not interpolated:
        return np.zeros(0, np.float32), 0
    sequence_scores, face_scores = [], []
    for track in interpolated:
        sequences = []
        for i, (start, _) in enumerate(track[:-6:14]):
            bbox = track[i * 14 + 3][1]
            sequences += [published_geometry(published_face(frames[start + k], bbox, i % 2 == 0), 'sequence')
                          for k in range(7)]
        sequence_scores.append(probabilities('sequence', sequences))
    for track in interpolated:
        first, second = [], []
        for i, (frame_index, bbox) in enumerate(track[::2]):
            model = 'large_crop' if i % 4 < 2 else 'random_erasing'
            (first if i % 4 < 2 else second).append(published_geometry(published_face(frames[frame_index], bbox,
                                                                                      i % 2 == 0), model))
        face_scores.append(np.concatenate((probabilities('large_crop', first),
                                           probabilities('random_erasing', second))))
    return np.concatenate((np.concatenate(sequence_scores), np.concatenate(face_scores))), len(interpolated)


@pytest.mark.parametrize('box', [(100.3, 2.0, 181.1, 40.7), (3.5, 60.2, 70.9, 120.4), (150.0, 100.0, 205.3, 179.9),
                                 (40.2, 30.1, 97.7, 101.3), (280.6, 20.2, 319.9, 75.5)])
def test_face_crops_are_flipped_before_resize_pad_and_centre_crop(box):
    """Where the resized crop's margin is odd, the centre crop of a flipped face is not the flipped centre crop."""
    from dfdc.inference import Predictor
    from dfdc.models import ENSEMBLE, Ensemble
    from efficientnet import create_model
    models = {preset: create_model('efficientnet-b0', sequence_length=7 if sequence else None, width_coefficient=0.25,
                                   depth_coefficient=0.2) for _, preset, sequence in ENSEMBLE}
    predictor = Predictor(None, Ensemble(models, torch.device('cpu')))
    frame = (np.random.default_rng(1).random((180, 320, 3)) * 255).astype(np.uint8)
    box = np.array(box, np.float32)
    for model in ('sequence', 'large_crop', 'random_erasing'):
        for flip in (False, True):
            expected = published_resize_and_crop(published_face(frame, box, flip), model)
            assert np.array_equal(predictor._crop(frame, box, model, flip), expected), (model, flip)


def test_streaming_predictor_computes_what_the_published_predictor_computed(synthetic_root):
    from dfdc.detectors import OpenCVDetector
    from dfdc.inference import Predictor
    from dfdc.models import ENSEMBLE, Ensemble
    from efficientnet import create_model
    models = {preset: well_conditioned_weights(create_model('efficientnet-b0', sequence_length=7 if sequence else None,
                                                    width_coefficient=0.25, depth_coefficient=0.2))
              for _, preset, sequence in ENSEMBLE}
    ensemble = Ensemble(models, torch.device('cpu'), batch_size=8)
    calls = []
    predictor = Predictor(OpenCVDetector(), ensemble, progress=lambda *call: calls.append(call))
    checked = 0
    for path in sorted((synthetic_root / 'test_videos').glob('*.mp4')):
        calls.clear()
        result = predictor.predict_video(path)
        expected, tracks = published_predict(path, OpenCVDetector(), models)
        # Progress (serve.py's): from frame 0, once per kept frame, up to the frames read, then 'classify'.
        frames = [frames for stage, frames, _ in calls if stage == 'detect']
        assert calls[0] == ('detect', 0, result.frames_read) and frames == sorted(frames)
        assert len(frames) == 1 + -(-result.frames_read // result.info['step']) and frames[-1] <= result.frames_read
        if not tracks:
            assert result.reason is not None and calls[-1][0] == 'detect'
            continue
        assert calls[-1] == ('classify', result.frames_read, result.frames_read)
        ours = [p for t in result.tracks for p in t.probabilities['sequence']]
        ours = [p for _, p in ours]
        ours += [p for t in result.tracks for k in ('large_crop', 'random_erasing') for _, p in t.probabilities[k]]
        assert len(result.tracks) == tracks and len(ours) == len(expected) and expected.std() > 1e-3
        assert np.abs(np.array(ours) - expected).max() < 1e-6, path.name  # details round to 6 decimals
        assert result.score == pytest.approx(video_score_written_out(expected), abs=1e-6)
        checked += 1
    assert checked >= 2


def video_score_written_out(track_probs):
    from tests.test_scoring import published_video_score
    return published_video_score(track_probs)


def test_channels_last_gives_the_same_probabilities():
    """The default NHWC layout changes only float rounding."""
    from dfdc.models import ENSEMBLE, Ensemble
    from efficientnet import create_model
    rng = np.random.default_rng(0)
    images = np.stack([cv2.resize(rng.random((7, 6, 3)) * rng.uniform(0.2, 1), (192, 224)) * 255
                       for _ in range(14)]).astype(np.uint8)
    outputs = {}
    for channels_last in (False, True):
        models = {preset: well_conditioned_weights(create_model(
            'efficientnet-b0', sequence_length=7 if sequence else None, width_coefficient=0.25, depth_coefficient=0.2))
                  for _, preset, sequence in ENSEMBLE}
        ensemble = Ensemble(models, torch.device('cpu'), batch_size=8, channels_last=channels_last)
        weight = ensemble.members['large_crop'].model._conv_stem.weight
        assert weight.is_contiguous(memory_format=torch.channels_last) == channels_last
        outputs[channels_last] = {kind: ensemble.probabilities(kind, images) for kind in ensemble.members}
    for kind in outputs[True]:
        assert outputs[True][kind].std() > 1e-3
        assert np.abs(outputs[True][kind] - outputs[False][kind]).max() < 1e-6, kind


def test_three_shards_merged_equal_one_run_byte_for_byte(predict_setup):
    config_path, inputs, directory = predict_setup
    single = directory / 'single.csv'
    run_predict(config_path, inputs, single, '--details', str(directory / 'single.jsonl'))
    sharded = directory / 'sharded.csv'
    details = directory / 'sharded.jsonl'
    for part in range(3):
        result = run_predict(config_path, inputs, sharded, '--part', str(part), '--num_parts', '3',
                             '--details', str(details))
        assert f'sharded.part{part}-of-3.csv' in result.stdout
    assert not sharded.exists()
    merged = run_predict(config_path, inputs, sharded, '--merge', '--num_parts', '3', '--details', str(details))
    assert 'merged 3 shards' in merged.stdout
    assert sharded.read_bytes() == single.read_bytes()
    records = sorted(json.loads(line)['video'] for line in details.read_text().splitlines())
    single_records = (directory / 'single.jsonl').read_text().splitlines()
    assert records == sorted(json.loads(line)['video'] for line in single_records)


def test_merge_refuses_missing_and_disagreeing_shards(predict_setup):
    config_path, inputs, directory = predict_setup
    output = directory / 'refuse.csv'
    for part in (0, 1):
        (directory / f'refuse.part{part}-of-3.csv').write_text(f'filename,label\nv{part}.mp4,0.25\nshared.mp4,0.5\n')
    command = [sys.executable, str(REPO / 'predict.py'), '--config', str(config_path), '--output', str(output),
               '--merge', '--num_parts', '3']
    missing = subprocess.run(command, capture_output=True, text=True)
    assert missing.returncode == 2 and '1 of 3 shards are missing (refuse.part2-of-3.csv)' in missing.stderr
    (directory / 'refuse.part2-of-3.csv').write_text('filename,label\nshared.mp4,0.7\n')
    disagree = subprocess.run(command, capture_output=True, text=True)
    assert disagree.returncode == 2 and 'shards 1 and 2 disagree on shared.mp4' in disagree.stderr
    assert not output.exists()


def test_predict_applies_the_fitted_calibration_and_says_so(predict_setup):
    from dfdc.calibration import record_probabilities
    from dfdc.scoring import ScoreTransform, video_score
    config_path, inputs, directory = predict_setup
    calibration = load_config(config_path).MODELS_PATH / 'calibration.json'
    transform = ScoreTransform(power=0.3, weight_power=2.0, temperature=0.5)
    calibration.write_text(json.dumps({'power': 0.3, 'weight_power': 2.0, 'temperature': 0.5}))
    try:
        output, details = directory / 'calibrated.csv', directory / 'calibrated.jsonl'
        result = run_predict(config_path, inputs, output, '--details', str(details))
        assert 'applying' in result.stdout and 'temperature 0.500' in result.stdout
        published = run_predict(config_path, inputs, directory / 'published.csv', '--no-calibration')
        assert 'applying' not in published.stdout
    finally:
        calibration.unlink()
    scores = {r['filename']: float(r['label']) for r in csv.DictReader(io.StringIO(output.read_text()))}
    plain = {r['filename']: float(r['label']) for r in
             csv.DictReader(io.StringIO((directory / 'published.csv').read_text()))}
    changed = 0
    for line in details.read_text().splitlines():
        record = json.loads(line)
        name = record['video'].split('/')[-1]
        probs = record_probabilities(record)
        if probs is None:
            assert scores[name] == plain[name] == 0.5
            continue
        assert scores[name] == pytest.approx(video_score(probs, transform), abs=2e-5)
        assert plain[name] == pytest.approx(video_score(probs), abs=2e-5)
        changed += scores[name] != plain[name]
    assert changed
