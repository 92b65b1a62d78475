"""`create_model`: efficientnet-pytorch's EfficientNet with one output, optionally with 3D expand convolutions.

The sequence model of the solution replaces, in every MBConv block whose expand ratio is not 1, the 1x1 expand
convolution by a 3D convolution over time, kernel (3, 1, 1), padding (1, 0, 0), no bias, initialised with the 2D
kernel divided by 3 on each temporal tap. Its parameter names equal the published checkpoints'.

Padding: the published models were built, trained and evaluated with efficientnet-pytorch 0.6.3, whose static
"same" padding is computed for every convolution from the GLOBAL image size (600 for B7). From 0.7 on, each block's
padding comes from that block's own input size, which changes `_blocks.18._depthwise_conv` of B7 from (0, 1, 0, 1)
to (1, 1, 1, 1) and so every output. `create_model` builds with the installed 0.7 release and then sets every
padding the 0.6.3 way (`use_global_padding`). Why not pin 0.6.3: it is a 2020 sdist whose `from_name` takes a dict,
its memory-efficient swish calls the deprecated `ctx.saved_variables`, and a diff of the two releases shows the
padding is the only thing they compute differently; parameter names and shapes are the same.
"""
from __future__ import annotations

from typing import Any, Mapping

import math

import torch
import torch.nn.functional as F
from efficientnet_pytorch import EfficientNet
from efficientnet_pytorch.utils import Conv2dStaticSamePadding
from torch import nn

SEQUENCE_LENGTH = 7
TEMPORAL_KERNEL = 3


class TemporalConv(nn.Module):
    """A (3, 1, 1) convolution over time applied to a (B*T, C, H, W) batch of T-frame sequences.

    The parameter is the published `conv.weight` (O, I, 3, 1, 1) of an `nn.Conv3d` with padding (1, 0, 0), but the
    sum is computed as one 1x1 2-D convolution over the channel-concatenated previous, current and next frame
    (zeros beyond each sequence's ends): the same products and sums, without the 5-D transposes that eager PyTorch
    and OpenVINO run slowly, and in the input's memory layout (channels-last stays channels-last).
    """

    def __init__(self, in_channels: int, out_channels: int, sequence_length: int = SEQUENCE_LENGTH):
        super().__init__()
        self.sequence_length = sequence_length
        self.conv = nn.Conv3d(in_channels, out_channels, kernel_size=(TEMPORAL_KERNEL, 1, 1),
                              padding=(TEMPORAL_KERNEL // 2, 0, 0), bias=False)
        first = torch.ones(1, sequence_length, 1, 1, 1)
        first[:, 0] = 0
        # 0 at the first and last frame of a sequence, where the previous / next frame is the zero padding.
        self.register_buffer('_has_previous', first, persistent=False)
        self.register_buffer('_has_next', first.flip(1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames, channels, height, width = x.shape
        if frames % self.sequence_length:
            raise ValueError(f'batch of {frames} frames is not a multiple of the sequence length '
                             f'{self.sequence_length}')
        zero = torch.zeros_like(x[:1])
        previous = torch.cat([zero, x[:-1]]).view(-1, self.sequence_length, channels, height, width)
        following = torch.cat([x[1:], zero]).view(-1, self.sequence_length, channels, height, width)
        previous = (previous * self._has_previous.to(x.dtype)).view(frames, channels, height, width)
        following = (following * self._has_next.to(x.dtype)).view(frames, channels, height, width)
        # Input channel k * I + i of the 1x1 kernel is tap k (previous, current, next) of input channel i.
        weight = self.conv.weight.transpose(1, 2).reshape(self.conv.out_channels, -1, 1, 1)
        return F.conv2d(torch.cat([previous, x, following], dim=1), weight.to(x.dtype))

    def forward_conv3d(self, x: torch.Tensor) -> torch.Tensor:
        """The same convolution through `nn.Conv3d` (the published computation; tests compare the two)."""
        frames, channels, height, width = x.shape
        x = x.reshape(-1, self.sequence_length, channels, height, width).transpose(1, 2)
        x = self.conv(x)
        return x.transpose(1, 2).reshape(frames, -1, height, width)

    @torch.no_grad()
    def init_from_2d(self, weight_2d: torch.Tensor) -> None:
        self.conv.weight.copy_(inflate_kernel(weight_2d))


def inflate_kernel(weight_2d: torch.Tensor) -> torch.Tensor:
    """(O, I, 1, 1) -> (O, I, 3, 1, 1), the 2D kernel divided by 3 on each temporal tap."""
    return (weight_2d / TEMPORAL_KERNEL).unsqueeze(2).repeat(1, 1, TEMPORAL_KERNEL, 1, 1)


def global_same_padding(kernel_size: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
                        image_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """TensorFlow "same" padding (left, right, top, bottom) of a conv as if its input were the whole image."""
    pads = []
    for kernel, step, dil, size in zip(kernel_size, stride, dilation, image_size):
        total = max((math.ceil(size / step) - 1) * step + (kernel - 1) * dil + 1 - size, 0)
        pads.append((total // 2, total - total // 2))
    (top, bottom), (left, right) = pads
    return left, right, top, bottom


def use_global_padding(model: EfficientNet) -> None:
    """Set every static-padding convolution's padding from the global image size, as efficientnet-pytorch 0.6.3
    did (see the module docstring). Models without an image size pad dynamically and are left as they are."""
    image_size = model._global_params.image_size
    if image_size is None:
        return
    image_size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    for module in model.modules():
        if isinstance(module, Conv2dStaticSamePadding):
            padding = global_same_padding(tuple(module.weight.shape[-2:]), tuple(module.stride),
                                          tuple(module.dilation), image_size)
            module.static_padding = nn.ZeroPad2d(padding) if any(padding) else nn.Identity()


def create_model(name: str = 'efficientnet-b7', sequence_length: int | None = None, **overrides: Any) -> EfficientNet:
    """An efficientnet-pytorch EfficientNet with `num_classes=1` and efficientnet-pytorch 0.6.3's padding.

    `overrides` are efficientnet-pytorch global params (`width_coefficient`, `depth_coefficient`, `image_size`,
    `dropout_rate`, ...), so tests and the demo build tiny models through the same code.
    """
    model = EfficientNet.from_name(name, num_classes=1, **overrides)
    use_global_padding(model)
    if sequence_length:
        for block in model._blocks:
            if block._block_args.expand_ratio != 1:
                conv = block._expand_conv
                temporal = TemporalConv(conv.in_channels, conv.out_channels, sequence_length)
                temporal.init_from_2d(conv.weight)
                block._expand_conv = temporal
    return model


def strip_module_prefix(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove the `module.` prefix DistributedDataParallel adds."""
    return {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state_dict.items()}


def inflate_state_dict(state_dict: Mapping[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """A 2D EfficientNet state dict for a sequence `model`: each inflated expand kernel becomes 2D / 3 per tap."""
    target = model.state_dict()
    converted = {}
    for key, value in state_dict.items():
        temporal_key = key.replace('_expand_conv.weight', '_expand_conv.conv.weight')
        if temporal_key != key and temporal_key in target:
            converted[temporal_key] = inflate_kernel(value)
        else:
            converted[key] = value
    return converted


def load_pretrained(model: EfficientNet, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Load ImageNet weights (any classifier is dropped); every other parameter must match exactly."""
    state_dict = {k: v for k, v in strip_module_prefix(state_dict).items() if not k.startswith('_fc.')}
    is_sequence = any(isinstance(m, TemporalConv) for m in model.modules())
    if is_sequence:
        state_dict = inflate_state_dict(state_dict, model)
    try:
        missing, unexpected = model.load_state_dict(state_dict, strict=False)
    except RuntimeError as error:
        raise ValueError(f'pretrained weights do not fit the model: {str(error).splitlines()[-1].strip()}') from None
    missing = [k for k in missing if not k.startswith('_fc.')]
    if missing or unexpected:
        raise ValueError(f'pretrained weights do not fit the model: missing {missing[:5]}, unexpected {unexpected[:5]}')


def model_spec_from_json(spec: Mapping[str, Any] | None) -> dict[str, Any]:
    """Keyword arguments of `create_model` from a weights file's JSON (None: the published B7 frame model)."""
    spec = dict(spec or {})
    return {'name': spec.get('name', 'efficientnet-b7'), 'sequence_length': spec.get('sequence_length'),
            **spec.get('overrides', {})}


def to_channels_last(model: nn.Module) -> nn.Module:
    """Store every 4D weight channels-last (NHWC), which oneDNN and cuDNN convolve faster; the 3D temporal kernels
    stay as they are. Feed the model channels-last inputs too. Same results up to float rounding."""
    with torch.no_grad():
        for module in model.modules():
            for param in module.parameters(recurse=False):
                if param.dim() == 4:
                    param.data = param.data.contiguous(memory_format=torch.channels_last)
    return model
