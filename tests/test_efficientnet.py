import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from efficientnet import TemporalConv, create_model, inflate_state_dict, load_pretrained
from tests.test_dsfd import read_manifest

REFERENCE = Path(__file__).resolve().parents[2] / 'shared' / 'reference'
TINY = dict(width_coefficient=0.25, depth_coefficient=0.2, image_size=64)


@pytest.mark.skipif(not REFERENCE.exists(), reason='shared/reference is beside the checkout')
@pytest.mark.parametrize('sequence_length, manifest', [(None, 'efficientnet_b7_frame_state_dict.tsv'),
                                                       (7, 'efficientnet_b7_seq_state_dict.tsv')])
def test_b7_state_dicts_equal_the_published_manifests(sequence_length, manifest):
    model = create_model('efficientnet-b7', sequence_length=sequence_length)
    actual = [(k, tuple(v.shape), str(v.dtype).replace('torch.', '')) for k, v in model.state_dict().items()]
    assert actual == read_manifest(REFERENCE / manifest)


def test_overrides_reach_global_params():
    model = create_model('efficientnet-b0', **TINY)
    assert model._global_params.width_coefficient == 0.25 and model._fc.out_features == 1
    assert sum(p.numel() for p in model.parameters()) < 200_000


def test_temporal_conv_inflation_and_reshape():
    conv = TemporalConv(4, 6, sequence_length=3)
    weight = torch.randn(6, 4, 1, 1)
    conv.init_from_2d(weight)
    assert torch.allclose(conv.conv.weight[:, :, 1, 0, 0], weight[:, :, 0, 0] / 3)
    x = torch.randn(2 * 3, 4, 5, 5)
    y = conv(x)
    assert y.shape == (6, 6, 5, 5)
    # Frame 1 of sequence 0 sees frames 0, 1, 2 of that sequence only.
    expected = sum(torch.einsum('oi,ihw->ohw', weight[:, :, 0, 0] / 3, x[k]) for k in range(3))
    assert torch.allclose(y[1], expected, atol=1e-5)
    with pytest.raises(ValueError):
        conv(torch.randn(4, 4, 5, 5))


@pytest.mark.parametrize('channels_last', [False, True])
def test_temporal_conv_as_2d_equals_conv3d(channels_last):
    """The 1x1 convolution over [previous, current, next] frames is nn.Conv3d((3, 1, 1), padding (1, 0, 0))."""
    torch.manual_seed(0)
    conv = TemporalConv(8, 12, sequence_length=7)
    torch.nn.init.normal_(conv.conv.weight)
    x = torch.randn(3 * 7, 8, 6, 5)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        expected = F.conv3d(x.reshape(3, 7, 8, 6, 5).transpose(1, 2), conv.conv.weight, padding=(1, 0, 0))
        expected = expected.transpose(1, 2).reshape(21, 12, 6, 5)
        actual = conv(x)
    assert torch.allclose(actual, expected, atol=1e-5, rtol=1e-5)
    assert torch.allclose(conv.forward_conv3d(x), expected, atol=1e-5, rtol=1e-5)
    assert actual.is_contiguous(memory_format=torch.channels_last) == channels_last
    assert list(dict(conv.state_dict())) == ['conv.weight'], 'the published parameter, nothing else'
    # Gradients flow to the published 5-D parameter (training uses the same module).
    conv(x).sum().backward()
    assert conv.conv.weight.grad.shape == (12, 8, 3, 1, 1)


def test_inflated_sequence_model_equals_2d_model_at_interior_time_steps():
    torch.manual_seed(0)
    frame_model = create_model('efficientnet-b0', **TINY).eval()
    temporal_layers = sum(b._block_args.expand_ratio != 1 for b in frame_model._blocks)
    length = 2 * temporal_layers + 3
    sequence_model = create_model('efficientnet-b0', sequence_length=length, **TINY).eval()
    sequence_model.load_state_dict(inflate_state_dict(frame_model.state_dict(), sequence_model), strict=True)
    image = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = frame_model.extract_features(image)
        output = sequence_model.extract_features(image.repeat(length, 1, 1, 1))
        logits = sequence_model(image.repeat(length, 1, 1, 1))
    interior = output[temporal_layers:length - temporal_layers]
    scale = expected.abs().max()
    assert torch.allclose(interior, expected.expand_as(interior), atol=1e-4 * scale)
    assert (output[0] - expected[0]).abs().max() > 1e-2 * scale, 'the zero-padded ends do differ'
    assert torch.allclose(logits[temporal_layers:length - temporal_layers], frame_model(image).expand(
        length - 2 * temporal_layers, 1), atol=1e-5)


def test_load_pretrained_drops_classifier_and_inflates():
    source = create_model('efficientnet-b0', **TINY)
    state = {k: v for k, v in source.state_dict().items()}
    state['_fc.weight'] = torch.randn(1000, state['_fc.weight'].shape[1])
    state['_fc.bias'] = torch.randn(1000)
    target = create_model('efficientnet-b0', sequence_length=7, **TINY)
    load_pretrained(target, {f'module.{k}': v for k, v in state.items()})
    key = next(k for k in target.state_dict() if k.endswith('_expand_conv.conv.weight'))
    two_d = state[key.replace('.conv.weight', '.weight')]
    assert torch.allclose(target.state_dict()[key][:, :, 0], two_d / 3)
    with pytest.raises(ValueError, match='do not fit'):
        load_pretrained(create_model('efficientnet-b0', width_coefficient=0.5, depth_coefficient=0.2), state)


def padding_of_efficientnet_pytorch_0_6_3(kernel, stride, dilation, image_size=600):
    """SPEC "Model construction": pad = max((ceil(600 / s) - 1) * s + (k - 1) * d + 1 - 600, 0) per axis, split
    pad // 2 before and the rest after; as nn.ZeroPad2d's (left, right, top, bottom)."""
    pad = max((math.ceil(image_size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - image_size, 0)
    return (pad // 2, pad - pad // 2) * 2


@pytest.mark.parametrize('sequence_length', [None, 7])
def test_b7_pads_every_convolution_from_the_global_image_size(sequence_length):
    model = create_model('efficientnet-b7', sequence_length=sequence_length)
    convs = {name: m for name, m in model.named_modules() if hasattr(m, 'static_padding')}
    assert len(convs) > 200
    for name, conv in convs.items():
        (kernel, _), (stride, _), (dilation, _) = conv.weight.shape[-2:], conv.stride, conv.dilation
        expected = padding_of_efficientnet_pytorch_0_6_3(kernel, stride, dilation)
        actual = tuple(getattr(conv.static_padding, 'padding', (0, 0, 0, 0)))
        assert actual == expected, name
    # The one convolution where efficientnet-pytorch 0.7 (padding from the block's own input size) differs.
    assert convs['_blocks.18._depthwise_conv'].static_padding.padding == (0, 1, 0, 1)


def test_b7_block_18_computes_the_0_6_3_convolution():
    torch.manual_seed(0)
    conv = create_model('efficientnet-b7')._blocks[18]._depthwise_conv
    x = torch.randn(1, conv.in_channels, 28, 24)
    expected = F.conv2d(F.pad(x, (0, 1, 0, 1)), conv.weight, None, 2, 0, 1, conv.groups)
    with torch.no_grad():
        assert torch.equal(conv(x), expected)
