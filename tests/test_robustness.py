"""Every stage against bad input, SIGKILL and concurrent shards (see tests/bad_inputs.py for the inputs)."""
from __future__ import annotations

import csv
import io
import json
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dfdc.config import load_config
from dfdc.synthetic import SyntheticSpec, make_dataset
from tests.bad_inputs import BAD_VIDEOS, make_bad_videos, odd_path, text_file, truncated, zero_byte
from tests.conftest import REPO, run_script, write_config
from tests.test_copy_weights import config_with_tiny_models

UNREADABLE = [name for name, (_, unreadable) in BAD_VIDEOS.items() if unreadable]


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob('*')) if p.is_file()}


def warning_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith('WARNING')]


@pytest.fixture(scope='module')
def bad_data(tmp_path_factory, synthetic_root):
    """Part 0 of the synthetic set, part 9 with every bad video and bad metadata entries, part 8 malformed."""
    root = tmp_path_factory.mktemp('bad') / 'data'
    shutil.copytree(synthetic_root / 'dfdc_train_part_0', root / 'dfdc_train_part_0')
    source = sorted((root / 'dfdc_train_part_0').glob('*.mp4'))[0]
    part9 = root / 'dfdc_train_part_9'
    made = make_bad_videos(source, part9)
    for path in made.values():
        if path.suffix != '.mp4':
            path.rename(path.with_suffix('.mp4'))
    odd = part9 / 'vidéo à tester avec espaces.mp4'
    shutil.copy(source, odd)
    for name in ('nolabel.mp4', 'orphan_fake.mp4', 'dangling_fake.mp4'):
        shutil.copy(source, part9 / name)
    metadata = {f'{name}.mp4': {'label': 'REAL', 'split': 'train'} for name in BAD_VIDEOS}
    metadata[odd.name] = {'label': 'REAL', 'split': 'train'}
    metadata['nolabel.mp4'] = {'split': 'train'}
    metadata['orphan_fake.mp4'] = {'label': 'FAKE', 'split': 'train'}
    metadata['dangling_fake.mp4'] = {'label': 'FAKE', 'split': 'train', 'original': 'gone.mp4'}
    (part9 / 'metadata.json').write_text(json.dumps(metadata))
    (root / 'dfdc_train_part_8').mkdir()
    shutil.copy(source, root / 'dfdc_train_part_8' / 'lonely.mp4')
    (root / 'dfdc_train_part_8' / 'metadata.json').write_text('{"lonely.mp4": {"label": ')
    return root


def test_stages_1_to_3_go_on_past_bad_videos_and_metadata(tmp_path, bad_data):
    config_path = write_config(tmp_path, bad_data)
    config = load_config(config_path)
    result = run_script('detect_faces_on_videos.py', config_path, '--detector', 'opencv')
    warnings = warning_lines(result.stderr)
    for name in UNREADABLE:
        assert sum(f'dfdc_train_part_9/{name}.mp4' in line for line in warnings) == 1, name
        assert pickle.loads(config.detections_path(f'dfdc_train_part_9/{name}.mp4').read_bytes()) == []
    assert len(warnings) == len(UNREADABLE)
    lengths = {name: len(pickle.loads(config.detections_path(f'dfdc_train_part_9/{name}.mp4').read_bytes()))
               for name in BAD_VIDEOS if name not in UNREADABLE}
    # The source has 90 frames (3 s at 30 fps): every 6th frame is detected on.
    assert lengths['one_frame'] == 1 and lengths['fps_60'] == 30 and lengths['tiny_64x64'] == 15
    assert lengths['portrait_1080x1920'] == 10 and lengths['zero_frame_count'] == 15
    assert config.detections_path('dfdc_train_part_9/vidéo à tester avec espaces.mp4').is_file()
    assert not [p for p in config.ARTIFACTS_PATH.rglob('*') if '.tmp-' in p.name]

    run_script('generate_tracks.py', config_path)
    aligned = run_script('generate_aligned_tracks.py', config_path)
    warnings = warning_lines(aligned.stderr)
    for fragment in ('dfdc_train_part_8/metadata.json: malformed', 'nolabel.mp4 has no label',
                     'orphan_fake.mp4 is FAKE without an original', 'dangling_fake.mp4 has original gone.mp4'):
        assert sum(fragment in line for line in warnings) == 1, fragment
    assert pickle.loads(config.aligned_tracks_path.read_bytes())


def test_stages_4_and_5_skip_bad_videos_and_incomplete_clips(tmp_path, stages, synthetic_root):
    reference = load_config(stages[0])
    config_path = write_config(tmp_path, synthetic_root)
    config = load_config(config_path)
    config.ARTIFACTS_PATH.mkdir()
    aligned = pickle.loads(reference.aligned_tracks_path.read_bytes())
    # A pair whose fake video is a zero-byte file, added at the end so the other draws stay the same.
    zero = synthetic_root / 'dfdc_train_part_0' / 'zero.mp4'
    zero_byte(None, zero)
    try:
        real, _, track = next(item for item in aligned if len(item[2]) >= 8)
        config.aligned_tracks_path.write_bytes(pickle.dumps(aligned + [(real, 'dfdc_train_part_0/zero.mp4', track)]))
        result = run_script('extract_tracks_from_videos.py', config_path)
    finally:
        zero.unlink()
    assert sum('dfdc_train_part_0/zero.mp4' in line for line in warning_lines(result.stderr)) == 1
    assert tree(config.clips_root) == tree(reference.clips_root)

    pairs = reference.track_pairs_path.read_text().splitlines()
    incomplete = config.clips_root / pairs[0].split(',')[1]
    (incomplete / '30.png').unlink()
    result = run_script('generate_track_pairs.py', config_path)
    assert sum(incomplete.name in line for line in warning_lines(result.stderr)) == 1
    assert config.track_pairs_path.read_text().splitlines() == pairs[1:]


def test_errors_that_stop_the_run_exit_2_with_one_line(tmp_path, synthetic_root):
    missing = tmp_path / 'nope' / 'config.yaml'
    for script in ('detect_faces_on_videos.py', 'generate_tracks.py', 'extract_tracks_from_videos.py',
                   'train_b7_ns_aa_original_re_100k.py', 'predict.py'):
        result = run_script(script, missing, check=False)
        assert result.returncode == 2 and result.stderr.count('\n') == 1, script
        assert 'pass --config PATH' in result.stderr
    blocker = tmp_path / 'artifacts_is_a_file'
    blocker.write_text('')
    config_path = write_config(tmp_path / 'cfg', synthetic_root, artifacts=blocker / 'sub')
    result = run_script('detect_faces_on_videos.py', config_path, '--detector', 'opencv', check=False)
    assert result.returncode == 2 and 'cannot create output directory' in result.stderr
    assert 'point ARTIFACTS_PATH elsewhere' in result.stderr and result.stderr.count('\n') == 1


def _kill_when(process: subprocess.Popen, ready, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None and not ready():
        time.sleep(0.05)
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait()


def _popen(script: str, config: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(REPO / script), '--config', str(config), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_sigkill_then_rerun_gives_the_uninterrupted_outputs(tmp_path, stages, synthetic_root):
    reference = load_config(stages[0])
    config_path = write_config(tmp_path, synthetic_root)
    config = load_config(config_path)
    detections = config.detections_root
    process = _popen('detect_faces_on_videos.py', config_path, '--detector', 'opencv')
    _kill_when(process, lambda: len(list(detections.rglob('detections.pkl'))) >= 2)
    assert process.returncode == -signal.SIGKILL
    run_script('detect_faces_on_videos.py', config_path, '--detector', 'opencv')
    assert tree(detections) == tree(reference.detections_root)

    for script, output, delay in (('generate_tracks.py', config.tracks_path, 2.5),
                                  ('generate_aligned_tracks.py', config.aligned_tracks_path, 2.5)):
        process = _popen(script, config_path)
        start = time.time()
        _kill_when(process, lambda: time.time() - start > delay)
        run_script(script, config_path)
        assert output.read_bytes() == (reference.ARTIFACTS_PATH / output.name).read_bytes()

    process = _popen('extract_tracks_from_videos.py', config_path)
    _kill_when(process, lambda: config.clips_root.is_dir() and any(
        p.name.endswith('.png') for p in config.clips_root.rglob('*.png')))
    run_script('extract_tracks_from_videos.py', config_path)
    assert tree(config.clips_root) == tree(reference.clips_root)

    process = _popen('generate_track_pairs.py', config_path)
    start = time.time()
    _kill_when(process, lambda: time.time() - start > 2.5)
    run_script('generate_track_pairs.py', config_path)
    assert config.track_pairs_path.read_bytes() == reference.track_pairs_path.read_bytes()
    assert not [p for p in config.ARTIFACTS_PATH.rglob('*') if '.tmp-' in p.name]


def test_training_killed_resumes_from_its_last_snapshot(stages):
    import torch
    config_path, _ = stages
    config = load_config(config_path)
    common = ['--arch', 'efficientnet-b0', '--override', 'width_coefficient=0.25', '--override',
              'depth_coefficient=0.2', '--pretrained', 'none', '--batch-size', '2', '--num-workers', '0',
              '--warmup-iters', '1', '--max-iters', '6', '--snapshot-every', '2']
    script = 'train_b7_ns_aa_original_large_crop_100k.py'
    run_script(script, config_path, *common, '--run-name', 'kill-full')
    process = _popen(script, config_path, *common, '--run-name', 'kill-split')
    split = config.snapshots_dir('kill-split')
    _kill_when(process, lambda: (split / 'snapshot_2.pth').is_file() and (split / 'training_state.pth').is_file())
    assert process.returncode == -signal.SIGKILL and not (split / 'snapshot_6.pth').exists()
    result = run_script(script, config_path, *common, '--run-name', 'kill-split', '--resume')
    assert 'resuming kill-split from snapshot_' in result.stdout
    full = torch.load(config.snapshots_dir('kill-full') / 'snapshot_6.pth', weights_only=True)
    resumed = torch.load(split / 'snapshot_6.pth', weights_only=True)
    assert all(torch.equal(full[k], resumed[k]) for k in full)


def test_concurrent_shards_equal_a_single_run(tmp_path, stages, synthetic_root):
    reference = load_config(stages[0])
    config_path = write_config(tmp_path, synthetic_root)
    config = load_config(config_path)
    processes = [_popen('detect_faces_on_videos.py', config_path, '--detector', 'opencv', '--part', str(i),
                        '--num_parts', '2') for i in range(2)]
    assert [p.wait() for p in processes] == [0, 0]
    assert tree(config.detections_root) == tree(reference.detections_root)
    shutil.copy(reference.aligned_tracks_path, config.aligned_tracks_path)
    processes = [_popen('extract_tracks_from_videos.py', config_path, '--part', str(i), '--num_parts', '2')
                 for i in range(2)]
    assert [p.wait() for p in processes] == [0, 0]
    assert tree(config.clips_root) == tree(reference.clips_root)


@pytest.fixture(scope='module')
def predict_models(tmp_path_factory, synthetic_root):
    directory = tmp_path_factory.mktemp('robust_predict')
    return config_with_tiny_models(directory, synthetic_root), directory


def _predict(config_path, inputs, output, *args):
    return subprocess.run([sys.executable, str(REPO / 'predict.py'), '--config', str(config_path), '--input',
                           *map(str, inputs), '--output', str(output), '--detector', 'opencv', *args],
                          capture_output=True, text=True)


def _rows(path):
    return {r['filename']: r['label'] for r in csv.DictReader(io.StringIO(path.read_text()))}


def test_predict_scores_40_good_videos_as_without_the_10_bad(predict_models, tmp_path):
    config_path, _ = predict_models
    good = tmp_path / 'good'
    make_dataset(good, SyntheticSpec(parts=0, test_videos=40, width=320, height=180, seconds=2.0, seed=11),
                 progress=False)
    good_videos = sorted((good / 'test_videos').glob('*.mp4'))
    assert len(good_videos) == 40
    bad = tmp_path / 'bad'
    source = good_videos[0]
    made = make_bad_videos(source, bad, ['zero_byte', 'text_file', 'truncated', 'audio_only', 'one_frame',
                                         'tiny_64x64'])
    zero_byte(source, bad / 'empty.avi')
    text_file(source, bad / 'notes.mkv')
    (bad / 'cut.mov').write_bytes(source.read_bytes()[:2000])
    truncated(source, bad / 'half.webm')
    bad_videos = sorted(list(made.values()) + [bad / 'empty.avi', bad / 'notes.mkv', bad / 'cut.mov',
                                               bad / 'half.webm'])
    assert len(bad_videos) == 10

    alone = _predict(config_path, [good / 'test_videos'], tmp_path / 'good.csv')
    assert alone.returncode == 0, alone.stderr[-2000:]
    details = tmp_path / 'details.jsonl'
    mixed = _predict(config_path, [good / 'test_videos', bad], tmp_path / 'mixed.csv', '--details', str(details))
    assert mixed.returncode == 0, mixed.stderr[-2000:]
    good_rows, mixed_rows = _rows(tmp_path / 'good.csv'), _rows(tmp_path / 'mixed.csv')
    assert len(mixed_rows) == 50
    assert {name: mixed_rows[name] for name in good_rows} == good_rows
    records = {Path(json.loads(line)['video']).name: json.loads(line) for line in details.read_text().splitlines()}
    for path in bad_videos:
        assert float(mixed_rows[path.name]) == 0.5
        assert records[path.name]['reason'], path.name
        assert sum(path.name in line for line in warning_lines(mixed.stderr)) == 1, path.name


def test_predict_handles_unusual_but_valid_videos_and_resumes_after_sigkill(predict_models, tmp_path, synthetic_root):
    config_path, _ = predict_models
    source = sorted((synthetic_root / 'test_videos').glob('*.mp4'))[1]
    made = make_bad_videos(source, tmp_path / 'odd', ['fps_60', 'variable_frame_rate', 'portrait_1080x1920',
                                                      'zero_frame_count', 'zero_fps'])
    odd = odd_path(source, tmp_path / 'odd' / 'x')
    inputs = sorted(made.values()) + [odd]
    output = tmp_path / 'odd.csv'
    result = _predict(config_path, inputs, output, '--details', str(tmp_path / 'odd.jsonl'))
    assert result.returncode == 0, result.stderr[-2000:]
    rows = _rows(output)
    assert sorted(rows) == sorted(p.name for p in inputs)
    records = [json.loads(line) for line in (tmp_path / 'odd.jsonl').read_text().splitlines()]
    frames = {Path(r['video']).name: r['frames_read'] for r in records}
    assert frames['fps_60.mp4'] == 180 and frames['portrait_1080x1920.mp4'] == 60 and frames[odd.name] == 90

    everything = [synthetic_root / 'test_videos', *inputs]
    full = _predict(config_path, everything, tmp_path / 'full.csv')
    assert full.returncode == 0
    process = subprocess.Popen([sys.executable, str(REPO / 'predict.py'), '--config', str(config_path), '--input',
                                *map(str, everything), '--output', str(tmp_path / 'killed.csv'), '--detector',
                                'opencv'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial = tmp_path / 'killed.csv.partial'
    _kill_when(process, lambda: partial.is_file() and partial.read_text().count('\n') >= 3)
    assert process.returncode == -signal.SIGKILL and not (tmp_path / 'killed.csv').exists()
    resumed = _predict(config_path, everything, tmp_path / 'killed.csv', '--resume')
    assert resumed.returncode == 0 and 'already done' in resumed.stdout
    assert _rows(tmp_path / 'killed.csv') == _rows(tmp_path / 'full.csv')
