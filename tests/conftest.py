"""Shared fixtures: one small synthetic DFDC data set per test session, and configs pointing at it."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dfdc.synthetic import SyntheticSpec, make_dataset

REPO = Path(__file__).resolve().parent.parent
# Small enough for CI (about 10 s on 2 cores), long enough for 50-frame clips and 7-entry prediction tracks.
SMALL_SPEC = SyntheticSpec(parts=2, reals_per_part=2, fakes_per_real=1, test_videos=4, width=320, height=180,
                           seconds=3.0, seed=7)


@pytest.fixture(scope='session')
def synthetic_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('synthetic_dfdc')
    make_dataset(root, SMALL_SPEC, progress=False)
    return root


@pytest.fixture(scope='session')
def tiny_models_config(tmp_path_factory, synthetic_root) -> Path:
    """A config over the synthetic data whose MODELS_PATH holds random tiny final weights (and, once a test ran
    them on the CPU, their OpenVINO cache), shared by the tests that only read the models: none may write into
    that MODELS_PATH (a calibration.json there would change every other test's scores)."""
    from tests.test_copy_weights import config_with_tiny_models
    return config_with_tiny_models(tmp_path_factory.mktemp('tiny_models'), synthetic_root)


@pytest.fixture(scope='session')
def sidecar(synthetic_root) -> dict:
    return json.loads((synthetic_root / 'synthetic_faces.json').read_text())['videos']


def write_config(directory: Path, data: Path, artifacts: Path | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / 'config.yaml'
    path.write_text(f'DFDC_DATA_PATH: {data}\nARTIFACTS_PATH: {artifacts or directory / "artifacts"}\n'
                    f'MODELS_PATH: {directory / "models"}\nSUBMISSION_PATH: {directory / "submission.csv"}\n')
    return path


@pytest.fixture
def config_path(tmp_path, synthetic_root) -> Path:
    return write_config(tmp_path, synthetic_root)


def run_script(script: str, config: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, str(REPO / script), '--config', str(config), *args],
                            capture_output=True, text=True)
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def run_stages(config: Path, shards: int = 1) -> subprocess.CompletedProcess:
    """Stages 1-5 on the synthetic data with the Haar detector; returns stage 5's result."""
    run_script('detect_faces_on_videos.py', config, '--detector', 'opencv')
    run_script('generate_tracks.py', config)
    run_script('generate_aligned_tracks.py', config)
    for part in range(shards):
        run_script('extract_tracks_from_videos.py', config, '--part', str(part), '--num_parts', str(shards))
    return run_script('generate_track_pairs.py', config)


@pytest.fixture(scope='session')
def stages(tmp_path_factory, synthetic_root):
    """A config whose ARTIFACTS_PATH holds the outputs of stages 1-5, and stage 5's stdout."""
    config_path = write_config(tmp_path_factory.mktemp('stages'), synthetic_root)
    return config_path, run_stages(config_path).stdout


# One's own data: labels.csv with every 3rd real (and its fake) unpaired, validation videos, another artefact.
LABELLED_SPEC = SyntheticSpec(parts=1, reals_per_part=3, fakes_per_real=1, test_videos=0, val_videos=4, width=320,
                              height=180, seconds=3.0, seed=13, artefact='blocky', layout='labels')


@pytest.fixture(scope='session')
def labelled_stages(tmp_path_factory):
    """A config whose data root has a labels.csv and whose ARTIFACTS_PATH holds stages 1-5's outputs."""
    root = tmp_path_factory.mktemp('labelled')
    make_dataset(root / 'data', LABELLED_SPEC, progress=False)
    config_path = write_config(root, root / 'data')
    output = run_stages(config_path).stdout
    return config_path, output
