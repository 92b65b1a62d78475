import importlib.util
import subprocess
import sys

import numpy as np
import pytest
import torch
from efficientnet_pytorch import EfficientNet

from efficientnet.convert import convert_timm_state_dict, convert_tf_checkpoint

TINY = dict(width_coefficient=0.25, depth_coefficient=0.2)


def published_tf_names(model: EfficientNet, scope: str) -> dict[str, str]:
    """SPEC.md's variable names, written out independently of the converter: torch name -> TF name."""
    names = {'_conv_stem.weight': f'{scope}/stem/conv2d/kernel', '_conv_head.weight': f'{scope}/head/conv2d/kernel',
             '_fc.weight': f'{scope}/head/dense/kernel', '_fc.bias': f'{scope}/head/dense/bias'}
    bn = {'weight': 'gamma', 'bias': 'beta', 'running_mean': 'moving_mean', 'running_var': 'moving_variance'}
    for field, tf_field in bn.items():
        names[f'_bn0.{field}'] = f'{scope}/stem/tpu_batch_normalization/{tf_field}'
        names[f'_bn1.{field}'] = f'{scope}/head/tpu_batch_normalization/{tf_field}'
    for i, block in enumerate(model._blocks):
        b = f'{scope}/blocks_{i}'
        expand = block._block_args.expand_ratio != 1
        names[f'_blocks.{i}._depthwise_conv.weight'] = f'{b}/depthwise_conv2d/depthwise_kernel'
        names[f'_blocks.{i}._se_reduce.weight'] = f'{b}/se/conv2d/kernel'
        names[f'_blocks.{i}._se_reduce.bias'] = f'{b}/se/conv2d/bias'
        names[f'_blocks.{i}._se_expand.weight'] = f'{b}/se/conv2d_1/kernel'
        names[f'_blocks.{i}._se_expand.bias'] = f'{b}/se/conv2d_1/bias'
        if expand:
            names[f'_blocks.{i}._expand_conv.weight'] = f'{b}/conv2d/kernel'
            names[f'_blocks.{i}._project_conv.weight'] = f'{b}/conv2d_1/kernel'
            norms = {'_bn0': '', '_bn1': '_1', '_bn2': '_2'}
        else:
            names[f'_blocks.{i}._project_conv.weight'] = f'{b}/conv2d/kernel'
            norms = {'_bn1': '', '_bn2': '_1'}
        for module, suffix in norms.items():
            for field, tf_field in bn.items():
                names[f'_blocks.{i}.{module}.{field}'] = f'{b}/tpu_batch_normalization{suffix}/{tf_field}'
    return names


def to_tf_layout(name: str, tensor: torch.Tensor) -> np.ndarray:
    array = tensor.numpy()
    if name.endswith('depthwise_kernel'):
        return array.transpose(2, 3, 0, 1)
    if name.endswith('dense/kernel'):
        return array.T
    if array.ndim == 4:
        return array.transpose(2, 3, 1, 0)
    return array


WRITE_CHECKPOINT = """
import sys, numpy as np, tensorflow as tf
arrays = np.load(sys.argv[1])
variables = {name: tf.Variable(arrays[name]) for name in arrays.files}
tf.compat.v1.train.Saver(var_list=variables).save(None, sys.argv[2])
"""


@pytest.mark.skipif(importlib.util.find_spec('tensorflow') is None, reason='TensorFlow is in requirements-dev.txt')
def test_tensorflow_checkpoint_converts_with_ema_values(tmp_path):
    torch.manual_seed(0)
    model = EfficientNet.from_name('efficientnet-b0', num_classes=10, **TINY)
    expected, variables = {}, {}
    names = published_tf_names(model, 'efficientnet-b0')
    assert set(names) == {k for k in model.state_dict() if not k.endswith('num_batches_tracked')}
    for index, (key, tf_name) in enumerate(sorted(names.items())):
        raw = torch.randn_like(model.state_dict()[key])
        variables[tf_name] = to_tf_layout(tf_name, raw)
        expected[key] = raw
        if index % 3:  # most variables have a moving-average shadow, which must win
            ema = torch.randn_like(raw)
            variables[tf_name + '/ExponentialMovingAverage'] = to_tf_layout(tf_name, ema)
            expected[key] = ema
    variables['global_step'] = np.int64(7)
    np.savez(tmp_path / 'variables.npz', **variables)
    # A real TensorFlow checkpoint, written by TensorFlow in its own process.
    subprocess.run([sys.executable, '-c', WRITE_CHECKPOINT, str(tmp_path / 'variables.npz'),
                    str(tmp_path / 'model.ckpt')], check=True, capture_output=True)
    assert (tmp_path / 'model.ckpt.index').is_file()
    (tmp_path / 'checkpoint').write_text('model_checkpoint_path: "model.ckpt"\n')
    state = convert_tf_checkpoint(tmp_path, 'efficientnet-b0', **TINY)
    for key, value in expected.items():
        assert torch.equal(state[key], value), key
    EfficientNet.from_name('efficientnet-b0', num_classes=10, **TINY).load_state_dict(state, strict=True)


def test_timm_weights_convert_to_the_same_function():
    timm = pytest.importorskip('timm')
    torch.manual_seed(0)
    reference = timm.create_model('tf_efficientnet_b0', pretrained=False).eval()
    with torch.no_grad():
        for module in reference.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
    state = convert_timm_state_dict(reference.state_dict(), 'efficientnet-b0')
    model = EfficientNet.from_name('efficientnet-b0', num_classes=1000)
    model.load_state_dict(state, strict=True)
    model.eval()
    x = torch.randn(2, 3, 224, 192)
    with torch.no_grad():
        expected, actual = reference(x), model(x)
    assert torch.allclose(actual, expected, atol=1e-4, rtol=1e-4)
