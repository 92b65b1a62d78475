"""Shared fixtures: one small synthetic DFDC data set per test session, and configs pointing at it."""
from __future__ import annotations

import json
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
