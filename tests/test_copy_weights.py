import json
import subprocess
import sys

import pytest
import torch

from dfdc.config import load_config
from dfdc.models import ENSEMBLE, load_classifier, sha256_file, weights_path
from efficientnet import create_model
from tests.conftest import REPO, write_config
from tests.test_dsfd import read_manifest
from tests.test_efficientnet import REFERENCE

TINY = {'width_coefficient': 0.25, 'depth_coefficient': 0.2}


def make_tiny_snapshots(config, iteration=5, ddp_prefix=False):
    """Random tiny snapshots of the three runs, with the model.json training writes."""
    torch.manual_seed(0)
    for run_name, _, sequence in ENSEMBLE:
        directory = config.snapshots_dir(run_name)
        directory.mkdir(parents=True, exist_ok=True)
        spec = {'name': 'efficientnet-b0', 'overrides': TINY, 'sequence_length': 7 if sequence else None}
        (directory / 'model.json').write_text(json.dumps(spec))
        model = create_model('efficientnet-b0', sequence_length=spec['sequence_length'], **TINY)
        with torch.no_grad():
            model._fc.bias.fill_(0.3)
        state = model.state_dict()
        if ddp_prefix:
            state = {f'module.{k}': v for k, v in state.items()}
        torch.save(state, directory / f'snapshot_{iteration}.pth')


def config_with_tiny_models(directory, data_root):
    """A config over `data_root` whose MODELS_PATH holds final weights of random tiny models (copy_weights.py's)."""
    config_path = write_config(directory, data_root)
    make_tiny_snapshots(load_config(config_path))
    assert run_copy(config_path, '--iteration', '5').returncode == 0
    return config_path


def run_copy(config_path, *args):
    return subprocess.run([sys.executable, str(REPO / 'copy_weights.py'), '--config', str(config_path), *args],
                          capture_output=True, text=True)


def test_round_trip_refuses_overwrite_and_records_hash(tmp_path, synthetic_root):
    config_path = write_config(tmp_path, synthetic_root)
    config = load_config(config_path)
    make_tiny_snapshots(config, ddp_prefix=True)
    result = run_copy(config_path, '--iteration', '5')
    assert result.returncode == 0, result.stderr
    for run_name, _, sequence in ENSEMBLE:
        path = weights_path(config.MODELS_PATH, run_name)
        assert path.name == 'snapshot_100000.fp16.pth' and path.parent.name == f'{run_name}_v4_cad79a'
        saved = torch.load(path, weights_only=True)
        assert all(v.dtype == torch.float16 for v in saved.values() if v.is_floating_point())
        spec = json.loads(path.with_suffix('.json').read_text())
        assert spec['sha256'] == sha256_file(path) and spec['sequence_length'] == (7 if sequence else None)
        source = torch.load(config.snapshots_dir(run_name) / 'snapshot_5.pth', weights_only=True)
        model = load_classifier(path, sequence)
        for key, value in model.state_dict().items():
            assert torch.equal(value, source[f'module.{key}'].half().to(value.dtype)), key
    again = run_copy(config_path, '--iteration', '5')
    assert again.returncode == 2 and 'pass --force' in again.stderr
    assert run_copy(config_path, '--iteration', '5', '--force').returncode == 0
    missing = run_copy(config_path, '--iteration', '7', '--force')
    assert missing.returncode == 2 and 'snapshot_7.pth does not exist' in missing.stderr


def test_changed_weights_are_detected(tmp_path, synthetic_root):
    config_path = write_config(tmp_path, synthetic_root)
    config = load_config(config_path)
    make_tiny_snapshots(config)
    assert run_copy(config_path, '--iteration', '5').returncode == 0
    path = weights_path(config.MODELS_PATH, ENSEMBLE[1][0])
    state = torch.load(path, weights_only=True)
    state['_fc.bias'] += 1
    torch.save(state, path)
    with pytest.raises(ValueError, match='SHA-256'):
        load_classifier(path, sequence=False)


def random_state_from_manifest(manifest):
    """Random weights in the published files' layout: every tensor FP16, the BatchNorm batch counters too (the
    published copy_weights.py cast them, so 100,000 became inf)."""
    state = {}
    for name, shape, dtype in read_manifest(manifest):
        if dtype == 'int64':
            state[name] = torch.tensor(100_000).half()
            assert torch.isinf(state[name])
        else:
            state[name] = torch.randn(shape).half()
    return state


@pytest.mark.skipif(not REFERENCE.exists(), reason='shared/reference is beside the checkout')
@pytest.mark.parametrize('manifest, sequence', [('efficientnet_b7_frame_state_dict.tsv', False),
                                                ('efficientnet_b7_seq_state_dict.tsv', True)])
def test_published_b7_weights_load_without_json(tmp_path, manifest, sequence):
    path = tmp_path / 'snapshot_100000.fp16.pth'
    state = random_state_from_manifest(REFERENCE / manifest)
    torch.save(state, path)
    model = load_classifier(path, sequence)
    name = '_blocks.4._expand_conv.conv.weight' if sequence else '_blocks.4._expand_conv.weight'
    assert torch.equal(model.state_dict()[name], state[name].float())


@pytest.mark.skipif(not REFERENCE.exists(), reason='shared/reference is beside the checkout')
def test_published_detector_weights_load_strictly(tmp_path):
    from dfdc.detectors import DSFDDetector
    path = tmp_path / 'WIDERFace_DSFD_RES152.fp16.pth'
    state = random_state_from_manifest(REFERENCE / 'dsfd_resnet152_state_dict.tsv')
    torch.save(state, path)
    detector = DSFDDetector(path, device='cpu', resize='rcnn')
    assert torch.equal(detector.model.state_dict()['loc.5.conv4.bias'], state['loc.5.conv4.bias'].float())
