"""Convert ImageNet EfficientNet weights to efficientnet-pytorch state dicts.

    python -m efficientnet.convert tf --checkpoint noisy-student-efficientnet-b7 \
        --output external_data/noisy_student_efficientnet-b7.pth
    python -m efficientnet.convert timm --input model.safetensors \
        --output external_data/noisy_student_efficientnet-b7.pth

`tf` reads the TensorFlow checkpoint of the EfficientNet release (needs TensorFlow: `pip install tensorflow-cpu`)
and takes the exponential-moving-average value of each variable where the checkpoint has one, as the
EfficientNet evaluation code does. `timm` reads timm's `tf_efficientnet_b7.ns_jft_in1k` weights (the same Noisy
Student weights ported to PyTorch), no TensorFlow needed.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import torch
from efficientnet_pytorch import EfficientNet

EMA_SUFFIX = '/ExponentialMovingAverage'
BN_FIELDS = {'weight': 'gamma', 'bias': 'beta', 'running_mean': 'moving_mean', 'running_var': 'moving_variance'}


def _reference_model(model_name: str, num_classes: int, **overrides) -> EfficientNet:
    return EfficientNet.from_name(model_name, num_classes=num_classes, **overrides)


def _conv(kernel: np.ndarray) -> np.ndarray:
    return kernel.transpose(3, 2, 0, 1)  # HWIO -> OIHW


def _depthwise(kernel: np.ndarray) -> np.ndarray:
    return kernel.transpose(2, 3, 0, 1)  # H W C 1 -> C 1 H W


def tf_variable_map(model: EfficientNet, scope: str) -> dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]]:
    """efficientnet-pytorch parameter name -> (TensorFlow variable name, layout conversion)."""
    identity = np.asarray
    mapping: dict[str, tuple[str, Callable]] = {'_conv_stem.weight': (f'{scope}/stem/conv2d/kernel', _conv)}

    def batch_norm(prefix: str, tf_prefix: str) -> None:
        for field, tf_field in BN_FIELDS.items():
            mapping[f'{prefix}.{field}'] = (f'{tf_prefix}/{tf_field}', identity)

    batch_norm('_bn0', f'{scope}/stem/tpu_batch_normalization')
    for i, block in enumerate(model._blocks):
        tf_block, prefix = f'{scope}/blocks_{i}', f'_blocks.{i}'
        bns = iter(['tpu_batch_normalization', 'tpu_batch_normalization_1', 'tpu_batch_normalization_2'])
        convs = iter(['conv2d', 'conv2d_1'])
        if block._block_args.expand_ratio != 1:
            mapping[f'{prefix}._expand_conv.weight'] = (f'{tf_block}/{next(convs)}/kernel', _conv)
            batch_norm(f'{prefix}._bn0', f'{tf_block}/{next(bns)}')
        mapping[f'{prefix}._depthwise_conv.weight'] = (f'{tf_block}/depthwise_conv2d/depthwise_kernel', _depthwise)
        batch_norm(f'{prefix}._bn1', f'{tf_block}/{next(bns)}')
        if block.has_se:
            for name, tf_name in (('_se_reduce', 'conv2d'), ('_se_expand', 'conv2d_1')):
                mapping[f'{prefix}.{name}.weight'] = (f'{tf_block}/se/{tf_name}/kernel', _conv)
                mapping[f'{prefix}.{name}.bias'] = (f'{tf_block}/se/{tf_name}/bias', identity)
        mapping[f'{prefix}._project_conv.weight'] = (f'{tf_block}/{next(convs)}/kernel', _conv)
        batch_norm(f'{prefix}._bn2', f'{tf_block}/{next(bns)}')
    mapping['_conv_head.weight'] = (f'{scope}/head/conv2d/kernel', _conv)
    batch_norm('_bn1', f'{scope}/head/tpu_batch_normalization')
    mapping['_fc.weight'] = (f'{scope}/head/dense/kernel', lambda k: k.T)
    mapping['_fc.bias'] = (f'{scope}/head/dense/bias', identity)
    return mapping


def convert_tf_variables(get: Callable[[str], np.ndarray], names: set[str], model_name: str = 'efficientnet-b7',
                         **overrides) -> dict[str, torch.Tensor]:
    """State dict from TensorFlow variables (`get(name)`, the set of `names`), EMA values where present."""
    num_classes = get(f'{model_name}/head/dense/bias').shape[0]
    model = _reference_model(model_name, num_classes, **overrides)
    state = model.state_dict()
    mapping = tf_variable_map(model, model_name)
    converted = {}
    for key, value in state.items():
        if key.endswith('num_batches_tracked'):
            converted[key] = value
            continue
        tf_name, layout = mapping[key]
        source = tf_name + EMA_SUFFIX if tf_name + EMA_SUFFIX in names else tf_name
        if source not in names:
            raise KeyError(f'TensorFlow checkpoint has no variable {tf_name}')
        array = np.ascontiguousarray(layout(np.asarray(get(source))))
        if tuple(array.shape) != tuple(value.shape):
            raise ValueError(f'{tf_name}: shape {array.shape} after conversion, expected {tuple(value.shape)} '
                             f'for {key}')
        converted[key] = torch.from_numpy(array.astype(np.float32))
    model.load_state_dict(converted, strict=True)
    return converted


def convert_tf_checkpoint(checkpoint: str | os.PathLike, model_name: str = 'efficientnet-b7',
                          **overrides) -> dict[str, torch.Tensor]:
    """Read the checkpoint in a TensorFlow-only subprocess (TensorFlow beside PyTorch can crash), then convert."""
    import importlib.util
    import subprocess
    import tempfile
    if importlib.util.find_spec('tensorflow') is None:
        raise SystemExit('converting a TensorFlow checkpoint needs TensorFlow: pip install tensorflow-cpu '
                         '(or use the timm route, see the README)')
    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / 'variables.npz'
        result = subprocess.run([sys.executable, str(Path(__file__).with_name('tf_checkpoint_to_npz.py')),
                                 str(checkpoint), str(dump)], capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f'cannot read TensorFlow checkpoint {checkpoint}: {result.stderr.strip()[-500:]}')
        with np.load(dump) as arrays:
            variables = {name: arrays[name] for name in arrays.files}
    return convert_tf_variables(variables.__getitem__, set(variables), model_name, **overrides)


_TIMM_BLOCK = re.compile(r'^blocks\.(\d+)\.(\d+)\.(.+)$')
_TIMM_DS = {'conv_dw': '_depthwise_conv', 'bn1': '_bn1', 'se.conv_reduce': '_se_reduce', 'se.conv_expand': '_se_expand',
            'conv_pw': '_project_conv', 'bn2': '_bn2'}
_TIMM_IR = {'conv_pw': '_expand_conv', 'bn1': '_bn0', 'conv_dw': '_depthwise_conv', 'bn2': '_bn1',
            'se.conv_reduce': '_se_reduce', 'se.conv_expand': '_se_expand', 'conv_pwl': '_project_conv', 'bn3': '_bn2'}
_TIMM_TOP = {'conv_stem': '_conv_stem', 'bn1': '_bn0', 'conv_head': '_conv_head', 'bn2': '_bn1', 'classifier': '_fc'}


def convert_timm_state_dict(timm_state: Mapping[str, torch.Tensor], model_name: str = 'efficientnet-b7',
                            **overrides) -> dict[str, torch.Tensor]:
    """timm `tf_efficientnet_*` state dict -> efficientnet-pytorch names (same layouts, same block order)."""
    blocks: dict[tuple[int, int], int] = {}
    for key in timm_state:
        match = _TIMM_BLOCK.match(key)
        if match:
            blocks.setdefault((int(match.group(1)), int(match.group(2))), 0)
    flat_index = {stage_block: i for i, stage_block in enumerate(sorted(blocks))}
    converted = {}
    for key, value in timm_state.items():
        match = _TIMM_BLOCK.match(key)
        if match:
            stage, index, rest = int(match.group(1)), int(match.group(2)), match.group(3)
            is_ds = any(k.startswith(f'blocks.{stage}.{index}.conv_pwl') for k in timm_state) is False
            table = _TIMM_DS if is_ds else _TIMM_IR
            module, field = rest.rsplit('.', 1)
            if module not in table:
                raise KeyError(f'unexpected timm parameter {key}')
            converted[f'_blocks.{flat_index[(stage, index)]}.{table[module]}.{field}'] = value
        else:
            module, field = key.rsplit('.', 1)
            if module not in _TIMM_TOP:
                raise KeyError(f'unexpected timm parameter {key}')
            converted[f'{_TIMM_TOP[module]}.{field}'] = value
    num_classes = converted['_fc.bias'].shape[0]
    model = _reference_model(model_name, num_classes, **overrides)
    model.load_state_dict(converted, strict=True)
    return {k: v.float() if v.is_floating_point() else v for k, v in converted.items()}


def load_timm_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    path = Path(path)
    if path.suffix == '.safetensors':
        from safetensors.torch import load_file
        return load_file(str(path))
    state = torch.load(path, map_location='cpu', weights_only=True)
    return state.get('state_dict', state) if isinstance(state, dict) else state


def save_state_dict(state: Mapping[str, torch.Tensor], output: str | os.PathLike) -> None:
    from dfdc.fileio import atomic_path
    with atomic_path(output) as temp:
        torch.save(dict(state), temp)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='source', required=True)
    tf_parser = sub.add_parser('tf', help='TensorFlow checkpoint of the EfficientNet release')
    tf_parser.add_argument('--checkpoint', required=True, help='checkpoint directory or prefix')
    timm_parser = sub.add_parser('timm', help="timm's tf_efficientnet_b7.ns_jft_in1k weights file")
    timm_parser.add_argument('--input', required=True, help='.safetensors, .bin or .pth')
    for p in (tf_parser, timm_parser):
        p.add_argument('--output', required=True)
        p.add_argument('--model', default='efficientnet-b7')
    args = parser.parse_args(argv)
    if args.source == 'tf':
        state = convert_tf_checkpoint(args.checkpoint, args.model)
    else:
        state = convert_timm_state_dict(load_timm_file(args.input), args.model)
    save_state_dict(state, args.output)
    print(f'wrote {len(state)} tensors to {args.output}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
