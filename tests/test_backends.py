"""The inference backends: OpenVINO computes PyTorch's FP32 numbers, converted models are cached and checked."""
import csv
import io
import json
import logging
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from dfdc import backends
from dfdc.backends import cache_roots, conversion_key, openvino_runner, resolve_backend
from dfdc.cli import UserError
from dfdc.models import ENSEMBLE, Ensemble
from dfdc.synthetic import well_conditioned_weights
from efficientnet import create_model
from tests.conftest import REPO
from tests.test_copy_weights import config_with_tiny_models

CPU = torch.device('cpu')


def tiny_models():
    return {preset: well_conditioned_weights(create_model('efficientnet-b0', sequence_length=7 if sequence else None,
                                                          width_coefficient=0.25, depth_coefficient=0.2))
            for _, preset, sequence in ENSEMBLE}


def face_like_images(count: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.stack([cv2.resize(rng.random((7, 6, 3)) * rng.uniform(0.2, 1), (192, 224)) * 255
                     for _ in range(count)]).astype(np.uint8)


def test_auto_is_openvino_on_the_cpu_and_torch_elsewhere(monkeypatch):
    assert resolve_backend('auto', CPU) == 'openvino'
    assert resolve_backend('auto', CPU, 'bf16') == 'openvino'
    assert resolve_backend('auto', CPU, 'fp16') == 'torch'
    assert resolve_backend('auto', torch.device('cuda')) == 'torch'
    assert resolve_backend('torch', CPU) == 'torch'
    with pytest.raises(UserError, match='runs on the CPU'):
        resolve_backend('openvino', torch.device('cuda'))
    with pytest.raises(UserError, match='fp32 or bf16'):
        resolve_backend('openvino', CPU, 'fp16')
    with pytest.raises(UserError, match='unknown backend'):
        resolve_backend('tensorrt', CPU)
    monkeypatch.setattr(backends, 'openvino_available', lambda: False)
    assert resolve_backend('auto', CPU) == 'torch'
    with pytest.raises(UserError, match='needs the openvino package'):
        resolve_backend('openvino', CPU)


@pytest.fixture(scope='module')
def converted():
    """The tiny models, and each converted once (as a first run would), for the tests that compile them."""
    from dfdc.backends import _convert
    from dfdc.models import _example_batch
    models = tiny_models()
    for model in models.values():
        model.set_swish(memory_efficient=False)
    return models, {preset: _convert(preset, models[preset], _example_batch(sequence), cached=False)
                    for _, preset, sequence in ENSEMBLE}


def openvino_ensemble(converted, precision='fp32'):
    from dfdc.backends import OpenVINORunner
    return Ensemble({preset: OpenVINORunner(model, precision) for preset, model in converted[1].items()}, CPU,
                    batch_size=8, backend='openvino', precision=precision)


@pytest.mark.parametrize('images', [7, 21])
def test_openvino_fp32_gives_the_pytorch_fp32_probabilities(converted, images):
    """Dynamic batch: 7 and 21 images through models converted with another batch size; sequence model included."""
    images = face_like_images(images)
    torch_ensemble = Ensemble(converted[0], CPU, batch_size=8, backend='torch')
    expected = {kind: torch_ensemble.probabilities(kind, images) for kind in torch_ensemble.members}
    ensemble = openvino_ensemble(converted)
    for kind, probabilities in expected.items():
        assert probabilities.std() > 1e-3
        assert np.abs(ensemble.probabilities(kind, images) - probabilities).max() < 1e-5, kind


def test_ensemble_converts_modules_it_is_given():
    """An Ensemble of PyTorch modules with backend='openvino' converts them itself (no cache without a folder)."""
    images = face_like_images(7)
    models = tiny_models()
    expected = Ensemble(models, CPU, backend='torch').probabilities('sequence', images)
    ensemble = Ensemble({'sequence': tiny_models()['sequence']}, CPU, backend='openvino')
    assert list(ensemble.members) == ['sequence'] and ensemble.members['sequence'].model is None
    assert np.abs(ensemble.probabilities('sequence', images) - expected).max() < 1e-5


def test_openvino_bf16_is_close_but_not_fp32(converted):
    """bf16 where the CPU has a bf16 path (OpenVINO lists BF16 among its capabilities: AVX-512 BF16 or AMX);
    on other CPUs (an AVX2-only AMD EPYC, say) OpenVINO compiles f32 instead, and the scores are FP32's."""
    import openvino
    fast_bf16 = 'BF16' in openvino.Core().get_property('CPU', 'OPTIMIZATION_CAPABILITIES')
    images = face_like_images(14)
    fp32, bf16 = openvino_ensemble(converted), openvino_ensemble(converted, 'bf16')
    hints = [e.members['large_crop'].runner.compiled.get_property('INFERENCE_PRECISION_HINT') for e in (fp32, bf16)]
    assert hints[0] == openvino.Type.f32 and (hints[1] != hints[0]) == fast_bf16, (hints, fast_bf16)
    for kind in fp32.members:
        difference = np.abs(bf16.probabilities(kind, images) - fp32.probabilities(kind, images)).max()
        assert difference < 0.05 if fast_bf16 else difference == 0, (kind, difference)


def _cached(tmp_path, module, example, key, roots, capsys):
    runner = openvino_runner('tiny', key, lambda: (module, example), roots)
    return runner, capsys.readouterr().err


def test_converted_models_are_cached_checked_and_rebuilt(tmp_path, capsys, caplog, monkeypatch):
    module = tiny_models()['large_crop'].eval()
    module.set_swish(memory_efficient=False)
    example = torch.zeros(2, 3, 224, 192)
    batch = torch.randn(3, 3, 224, 192)
    with torch.no_grad():
        expected = module(batch)
    roots = cache_roots(tmp_path / 'models')
    key = conversion_key('a' * 64, {'name': 'tiny'})
    runner, err = _cached(tmp_path, module, example, key, roots, capsys)
    assert 'openvino: converting tiny' in err
    entry = tmp_path / 'models' / 'openvino_cache' / 'tiny'
    assert sorted(p.name for p in entry.iterdir()) == ['key.json', 'model.bin', 'model.xml']
    assert torch.allclose(runner(batch), expected, atol=1e-5)
    assert not [p for p in entry.parent.iterdir() if p.name.startswith('.')], 'no temporary folders left'

    # A second run loads the entry without converting.
    def no_conversion(*args):
        raise AssertionError('converted again')
    with monkeypatch.context() as patch:
        patch.setattr(backends, '_convert', no_conversion)
        runner, err = _cached(tmp_path, module, example, key, roots, capsys)
    assert 'converting' not in err and torch.allclose(runner(batch), expected, atol=1e-5)

    # Other weights (or versions): the stale entry is rebuilt, with one warning line.
    caplog.set_level(logging.WARNING, logger='dfdc')
    other = conversion_key('b' * 64, {'name': 'tiny'})
    _, err = _cached(tmp_path, module, example, other, roots, capsys)
    assert 'converting tiny' in err and [r.message for r in caplog.records if 'stale' in r.message]
    assert json.loads((entry / 'key.json').read_text())['key']['weights_sha256'] == 'b' * 64

    # A damaged entry (cut model.bin, or garbage XML) is rebuilt too.
    for damage in (lambda: (entry / 'model.bin').write_bytes((entry / 'model.bin').read_bytes()[:1000]),
                   lambda: (entry / 'model.xml').write_text('<net>not a model')):
        caplog.clear()
        damage()
        runner, err = _cached(tmp_path, module, example, other, roots, capsys)
        assert 'converting tiny' in err and [r.message for r in caplog.records if 'cannot be used' in r.message]
        assert torch.allclose(runner(batch), expected, atol=1e-5)


def test_unwritable_models_path_falls_back_to_the_user_cache_then_memory(tmp_path, capsys, caplog, monkeypatch):
    module = tiny_models()['random_erasing'].eval()
    module.set_swish(memory_efficient=False)
    example = torch.zeros(2, 3, 224, 192)
    key = conversion_key('c' * 64, {'name': 'tiny'})
    (tmp_path / 'file').write_text('MODELS_PATH below a regular file cannot be written, even as root')
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'user-cache'))
    roots = cache_roots(tmp_path / 'file' / 'models')
    _, err = _cached(tmp_path, module, example, key, roots, capsys)
    assert 'converting' in err
    assert list((tmp_path / 'user-cache' / 'dfdc' / 'openvino').glob('models-*/tiny/model.xml'))
    _, err = _cached(tmp_path, module, example, key, roots, capsys)
    assert 'converting' not in err, 'found in the user cache'

    caplog.set_level(logging.WARNING, logger='dfdc')
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'file' / 'cache'))
    runner, err = _cached(tmp_path, module, example, key, cache_roots(tmp_path / 'file' / 'models'), capsys)
    assert 'converting' in err and [r.message for r in caplog.records if 'kept in memory' in r.message]
    assert runner(torch.zeros(1, 3, 224, 192)).shape == (1, 1)


def test_dsfd_on_openvino_computes_pytorch_s_network_and_detections():
    """The network (dynamic batch, height and width) on OpenVINO, decoding and NMS in PyTorch's code."""
    from dfdc.detectors import DSFDDetector
    detector = DSFDDetector(None, device='cpu', resize='rcnn', backend='openvino', keep_threshold=0.0)
    well_conditioned_weights(detector.model, (2, 3, 96, 160))
    frames = [(np.random.default_rng(k).random((90, 160, 3)) * 255).astype(np.uint8) for k in range(2)]
    detections = detector.detect(frames)                      # converts on this first batch
    for shape in ((2, 3, 96, 160), (1, 3, 128, 96)):
        batch = torch.randn(shape) * 50
        with torch.inference_mode():
            expected = detector.model.heads(batch)
        for ours, theirs in zip(detector._openvino()(batch), expected):
            assert ours.shape == theirs.shape
            assert (ours - theirs).abs().max() <= 1e-4 * theirs.abs().max()
    with torch.inference_mode():
        reference = detector.model(torch.stack([detector.prepare(f).image for f in frames]))[:, 1].numpy()
    for (boxes, scores), rows in zip(detections, reference):
        rows = rows[rows[:, 0] > 0]
        assert len(scores) == len(rows) > 10   # (random box offsets overflow exp(): boxes are not compared)
        # Same scores in the same order up to float rounding (near-ties may swap places after NMS).
        assert np.abs(np.sort(scores) - np.sort(rows[:, 0])).max() < 1e-4


def test_predict_uses_openvino_by_default_with_torch_s_scores(tmp_path, synthetic_root):
    config_path = config_with_tiny_models(tmp_path, synthetic_root)
    inputs = str(synthetic_root / 'test_videos')

    def predict(output, *args):
        result = subprocess.run([sys.executable, str(REPO / 'predict.py'), '--config', str(config_path), '--input',
                                 inputs, '--output', str(tmp_path / output), '--detector', 'opencv', *args],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-3000:]
        scores = {r['filename']: float(r['label'])
                  for r in csv.DictReader(io.StringIO((tmp_path / output).read_text()))}
        return scores, result.stderr

    default, first = predict('default.csv')
    assert first.count('openvino: converting') == 3
    assert len(list((tmp_path / 'models' / 'openvino_cache').glob('*/model.xml'))) == 3
    _, second = predict('again.csv')
    assert 'converting' not in second, 'a second run loads the converted models'
    reference, _ = predict('torch.csv', '--backend', 'torch')
    assert set(default) == set(reference) and any(0.5 != s for s in reference.values())
    assert max(abs(default[name] - reference[name]) for name in reference) < 1e-5


def test_cpu_threads_cap_pytorch_openvino_and_opencv():
    """serve.py's workers share the CPU: each caps all three libraries, not only PyTorch."""
    import openvino as ov
    before = torch.get_num_threads(), cv2.getNumThreads()
    model = ov.convert_model(torch.nn.Conv2d(3, 4, 3).eval(), example_input=torch.zeros(1, 3, 8, 8))
    try:
        backends.set_cpu_threads(1)
        assert torch.get_num_threads() == 1 and cv2.getNumThreads() == 1
        assert backends.OpenVINORunner(model).compiled.get_property('INFERENCE_NUM_THREADS') == 1
    finally:
        torch.set_num_threads(before[0])
        cv2.setNumThreads(before[1])
        backends._core().set_property('CPU', {'INFERENCE_NUM_THREADS': 0})   # 0: OpenVINO's own choice
    if (os.cpu_count() or 1) > 1:
        assert backends.OpenVINORunner(model).compiled.get_property('INFERENCE_NUM_THREADS') > 1
