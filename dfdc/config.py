"""The four paths of `config.yaml` and the published constants every stage shares."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import yaml

CONFIG_KEYS = ('DFDC_DATA_PATH', 'ARTIFACTS_PATH', 'MODELS_PATH', 'SUBMISSION_PATH')
OPTIONAL_KEYS = ('SERVICE_PATH',)  # serve.py's uploads and jobs; default ARTIFACTS_PATH/service
DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / 'config.yaml'


class ConfigError(Exception):
    """A configuration problem that stops the whole run; the message is one line that says what to fix."""


@dataclasses.dataclass(frozen=True)
class Config:
    """Absolute paths of the pipeline; relative paths in the YAML file are taken relative to that file."""

    DFDC_DATA_PATH: Path
    ARTIFACTS_PATH: Path
    MODELS_PATH: Path
    SUBMISSION_PATH: Path
    source: Path
    SERVICE_PATH: Path | None = None

    def require_exists(self, *keys: str) -> None:
        """Raise ConfigError naming the key and the file when one of these paths does not exist."""
        for key in keys:
            path = getattr(self, key)
            if not path.exists():
                raise ConfigError(f'{key} in {self.source} points to {path}, which does not exist')

    @property
    def service_root(self) -> Path:
        """serve.py's folder: its SQLite job database and one folder per uploaded video."""
        return self.SERVICE_PATH or self.ARTIFACTS_PATH / 'service'

    # Artifact files shared between stages: one definition, so no script needs another's file names.
    @property
    def detections_root(self) -> Path:
        return self.ARTIFACTS_PATH / 'detections'

    def detections_path(self, relpath: str) -> Path:
        return self.detections_root / relpath / 'detections.pkl'

    @property
    def tracks_path(self) -> Path:
        return self.ARTIFACTS_PATH / 'tracks.pkl'

    @property
    def aligned_tracks_path(self) -> Path:
        return self.ARTIFACTS_PATH / 'aligned_tracks.pkl'

    @property
    def clips_root(self) -> Path:
        return self.ARTIFACTS_PATH / 'tracks'

    @property
    def track_pairs_path(self) -> Path:
        return self.ARTIFACTS_PATH / 'track_pairs.txt'

    @property
    def single_tracks_path(self) -> Path:
        """Stage 3's tracks of videos trained on their own (`labels.csv` data only)."""
        return self.ARTIFACTS_PATH / 'single_tracks.pkl'

    @property
    def single_clips_path(self) -> Path:
        """Stage 5's `clip,label` list of the clips of those videos."""
        return self.ARTIFACTS_PATH / 'single_clips.txt'

    def snapshots_dir(self, run_name: str) -> Path:
        return self.ARTIFACTS_PATH / 'snapshots' / run_name

    def logs_dir(self, run_name: str) -> Path:
        return self.ARTIFACTS_PATH / 'logs' / run_name


def load_config(path: str | os.PathLike | None = None) -> Config:
    """Read `config.yaml` with `yaml.safe_load`; every problem is a ConfigError naming the key and the file."""
    source = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    source = source.resolve()
    if not source.is_file():
        raise ConfigError(f'config file {source} does not exist; pass --config PATH to an existing config.yaml')
    try:
        data = yaml.safe_load(source.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(f'config file {source} is not valid YAML: {first_line}') from None
    if not isinstance(data, dict):
        raise ConfigError(f'config file {source} must be a mapping of {", ".join(CONFIG_KEYS)}')
    unknown = sorted(set(map(str, data)) - set(CONFIG_KEYS) - set(OPTIONAL_KEYS))
    if unknown:
        raise ConfigError(f'unknown key {unknown[0]} in {source}; the keys are '
                          f'{", ".join(CONFIG_KEYS + OPTIONAL_KEYS)} ({", ".join(OPTIONAL_KEYS)} optional)')
    values = {}
    for key in CONFIG_KEYS + OPTIONAL_KEYS:
        value = data.get(key)
        if key in OPTIONAL_KEYS and value is None:
            continue
        if value is None or (isinstance(value, str) and not value.strip()):
            raise ConfigError(f'missing key {key} in {source}')
        if not isinstance(value, str):
            raise ConfigError(f'key {key} in {source} must be a path string, got {value!r}')
        value_path = Path(os.path.expandvars(os.path.expanduser(value)))
        values[key] = value_path if value_path.is_absolute() else (source.parent / value_path).resolve()
    return Config(**values, source=source)
