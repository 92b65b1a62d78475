import pickle
import subprocess
import sys

import numpy as np
import pytest

from dfdc.cli import UserError, shard
from dfdc.config import load_config
from dfdc.detection import run_detection_stage, training_videos
from dfdc.detectors import OpenCVDetector
from tests.conftest import REPO, write_config


@pytest.mark.parametrize('length, parts', [(0, 1), (1, 3), (10, 3), (17, 4), (9, 9), (5, 8)])
def test_shards_cover_the_list_exactly_once(length, parts):
    items = list(range(length))
    pieces = [list(shard(items, part, parts)) for part in range(parts)]
    assert sum(pieces, []) == items
    assert len(pieces[0]) == min(length, length // parts + 1)


def test_bad_shard_arguments():
    with pytest.raises(UserError):
        shard([1, 2], 2, 2)
    with pytest.raises(UserError):
        shard([1, 2], 0, 0)


def _outputs(artifacts):
    return {p.relative_to(artifacts).as_posix(): p.read_bytes() for p in sorted(artifacts.rglob('*.pkl'))}


@pytest.fixture(scope='module')
def single_run(tmp_path_factory, synthetic_root):
    directory = tmp_path_factory.mktemp('single')
    config = load_config(write_config(directory, synthetic_root))
    counts = run_detection_stage(config, OpenCVDetector(), progress=False)
    return config, counts


def test_single_run_writes_one_file_per_video(single_run, synthetic_root):
    config, counts = single_run
    videos = training_videos(synthetic_root)
    assert counts == {'videos': len(videos), 'detected': len(videos), 'skipped': 0, 'failed': 0}
    for relpath in videos:
        detections = pickle.loads(config.detections_path(relpath).read_bytes())
        assert len(detections) == 15  # 90 frames, every 6th
        for frame in detections:
            assert frame['boxes'].shape == (len(frame['scores']), 4) and np.all(frame['scores'] > 0.3)
    assert not list(config.ARTIFACTS_PATH.rglob('.*tmp*'))


def test_two_shards_equal_one_run_and_resume_redoes_only_the_missing(single_run, tmp_path, synthetic_root):
    config, _ = single_run
    sharded = load_config(write_config(tmp_path, synthetic_root))
    first = run_detection_stage(sharded, OpenCVDetector(), part=0, num_parts=2, progress=False)
    second = run_detection_stage(sharded, OpenCVDetector(), part=1, num_parts=2, progress=False)
    assert first['videos'] + second['videos'] == len(training_videos(synthetic_root))
    assert _outputs(sharded.ARTIFACTS_PATH) == _outputs(config.ARTIFACTS_PATH)

    removed = sharded.detections_path(training_videos(synthetic_root)[1])
    removed.unlink()
    counts = run_detection_stage(sharded, OpenCVDetector(), progress=False)
    assert counts['detected'] == 1 and counts['skipped'] == counts['videos'] - 1
    assert _outputs(sharded.ARTIFACTS_PATH) == _outputs(config.ARTIFACTS_PATH)


def test_corrupt_video_gives_empty_list_and_a_warning(tmp_path, caplog):
    part = tmp_path / 'data' / 'dfdc_train_part_0'
    part.mkdir(parents=True)
    (part / 'broken.mp4').write_bytes(b'this is not a video')
    config = load_config(write_config(tmp_path, tmp_path / 'data'))
    counts = run_detection_stage(config, OpenCVDetector(), progress=False)
    assert counts['failed'] == 1
    assert pickle.loads(config.detections_path('dfdc_train_part_0/broken.mp4').read_bytes()) == []
    assert any('dfdc_train_part_0/broken.mp4' in r.getMessage() for r in caplog.records if r.levelname == 'WARNING')


def test_script_runs_and_reports(tmp_path, synthetic_root):
    config = write_config(tmp_path, synthetic_root)
    result = subprocess.run([sys.executable, str(REPO / 'detect_faces_on_videos.py'), '--config', str(config),
                             '--detector', 'opencv', '--part', '1', '--num_parts', '3'],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert 'part 2/3' in result.stdout
    bad = subprocess.run([sys.executable, str(REPO / 'detect_faces_on_videos.py'), '--config',
                          str(tmp_path / 'missing.yaml')], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith('error: config file') and bad.stderr.count('\n') == 1
