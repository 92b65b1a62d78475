from pathlib import Path

import pytest

from dfdc.config import CONFIG_KEYS, ConfigError, load_config


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / 'config.yaml'
    path.write_text(text)
    return path


def test_relative_paths_resolve_against_the_config_file(tmp_path):
    path = _write(tmp_path, 'DFDC_DATA_PATH: data\nARTIFACTS_PATH: art\nMODELS_PATH: /abs/models\n'
                            'SUBMISSION_PATH: sub.csv\n')
    config = load_config(path)
    assert config.DFDC_DATA_PATH == tmp_path / 'data'
    assert config.MODELS_PATH == Path('/abs/models')
    assert config.tracks_path == tmp_path / 'art' / 'tracks.pkl'
    expected = tmp_path / 'art/detections/dfdc_train_part_0/a.mp4/detections.pkl'
    assert config.detections_path('dfdc_train_part_0/a.mp4') == expected


def test_repository_config_has_the_four_keys():
    config = load_config()
    assert all(getattr(config, key).is_absolute() for key in CONFIG_KEYS)


def test_missing_file_is_one_line_naming_it(tmp_path):
    with pytest.raises(ConfigError, match='does not exist') as info:
        load_config(tmp_path / 'nope.yaml')
    assert 'nope.yaml' in str(info.value) and '\n' not in str(info.value)


@pytest.mark.parametrize('text, message', [
    ('ARTIFACTS_PATH: a\nMODELS_PATH: m\nSUBMISSION_PATH: s\n', 'missing key DFDC_DATA_PATH'),
    ('DFDC_DATA_PATH: d\nARTIFACTS_PATH: a\nMODELS_PATH: m\nSUBMISSION_PATH: s\nEXTRA: 1\n', 'unknown key EXTRA'),
    ('DFDC_DATA_PATH: [1, 2]\nARTIFACTS_PATH: a\nMODELS_PATH: m\nSUBMISSION_PATH: s\n', 'must be a path'),
    ('DFDC_DATA_PATH: d\n  bad: : indentation\n', 'not valid YAML'),
    ('- a list\n', 'must be a mapping'),
])
def test_bad_content_names_key_and_file(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value) and '\n' not in str(info.value)


def test_unsafe_yaml_tags_are_rejected(tmp_path):
    path = _write(tmp_path, 'DFDC_DATA_PATH: !!python/object/apply:os.system ["true"]\n')
    with pytest.raises(ConfigError, match='not valid YAML'):
        load_config(path)


def test_required_path_that_does_not_exist(tmp_path):
    path = _write(tmp_path, 'DFDC_DATA_PATH: missing\nARTIFACTS_PATH: a\nMODELS_PATH: m\nSUBMISSION_PATH: s\n')
    with pytest.raises(ConfigError, match=r'DFDC_DATA_PATH in .*config.yaml points to .*missing, which does not exist'):
        load_config(path).require_exists('DFDC_DATA_PATH')


def test_service_path_is_optional_and_defaults_inside_the_artifacts(tmp_path):
    base = 'DFDC_DATA_PATH: d\nARTIFACTS_PATH: art\nMODELS_PATH: m\nSUBMISSION_PATH: s\n'
    assert load_config(_write(tmp_path, base)).service_root == tmp_path / 'art' / 'service'
    config = load_config(_write(tmp_path, base + 'SERVICE_PATH: jobs\n'))
    assert config.SERVICE_PATH == config.service_root == tmp_path / 'jobs'
