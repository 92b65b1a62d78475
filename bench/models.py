"""Each network alone on the CPU, per backend, layout and precision: ms per image and the output difference.

    python bench/models.py [--runs 5] [--models frame,sequence,dsfd] [--json bench/results.jsonl]

The B7 frame model on batches of 8 crops (224 x 192), the B7 sequence model on one 7-frame window, DSFD on one
512 x 288 frame (prediction's input for 1080p), random well-conditioned weights. Variants: PyTorch FP32 NCHW,
PyTorch FP32 channels-last (the PyTorch backend's layout, kept only because it is faster for every model here),
OpenVINO FP32 (the CPU default), PyTorch bf16 channels-last, OpenVINO bf16; for the sequence model also the code
before the OpenVINO issue (the temporal convolution through nn.Conv3d, channels-last). Rounds alternate forward
and mirrored order. Differences are the largest absolute output difference from PyTorch FP32 NCHW (logits for the
classifiers, DSFD's face probabilities).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from common import cpu_name, report, stats

VARIANTS = {'torch fp32 NCHW': ('torch', 'fp32', False), 'torch fp32 channels-last': ('torch', 'fp32', True),
            'openvino fp32': ('openvino', 'fp32', True), 'torch bf16 channels-last': ('torch', 'bf16', True),
            'openvino bf16': ('openvino', 'bf16', True)}


def build(kind: str):
    """(module, input batch, images per batch, output picker) for one of frame, sequence, dsfd."""
    import torch
    from dfdc.synthetic import well_conditioned_weights
    if kind == 'dsfd':
        from dsfd import SSD, Heads
        model = SSD().eval()
        well_conditioned_weights(model, (2, 3, 288, 512))
        return Heads(model), torch.randn(1, 3, 288, 512) * 50, 1, lambda out: out[1][..., 1]
    from efficientnet import create_model
    sequence = kind == 'sequence'
    model = well_conditioned_weights(create_model('efficientnet-b7', sequence_length=7 if sequence else None))
    model.set_swish(memory_efficient=False)
    count = 7 if sequence else 8
    return model, torch.randn(count, 3, 224, 192), count, lambda out: out


def runners(kind: str):
    import copy
    import torch
    from dfdc.backends import OpenVINORunner, TorchRunner, _convert
    from efficientnet import TemporalConv
    module, batch, count, pick = build(kind)
    made = {}
    converted = _convert(kind, module, batch[:2] if kind != 'sequence' else batch, cached=False)
    for name, (backend, precision, channels_last) in VARIANTS.items():
        if backend == 'openvino':
            made[name] = OpenVINORunner(converted, precision)
        else:
            made[name] = TorchRunner(copy.deepcopy(module), torch.device('cpu'), precision, channels_last)
    if kind == 'sequence':
        before = copy.deepcopy(module)
        for layer in before.modules():
            if isinstance(layer, TemporalConv):
                layer.forward = layer.forward_conv3d
        made['before: torch fp32 channels-last, Conv3d'] = TorchRunner(before, torch.device('cpu'), 'fp32', True)
    return made, batch, count, pick


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--models', default='frame,sequence,dsfd')
    parser.add_argument('--json', default=None)
    args = parser.parse_args(argv)
    for kind in args.models.split(','):
        made, batch, count, pick = runners(kind)
        outputs = {name: pick(runner(batch)).float().numpy() for name, runner in made.items()}   # also warms up
        times: dict[str, list[float]] = {name: [] for name in made}
        for round_index in range(args.runs):
            for name in (list(made) if round_index % 2 == 0 else list(reversed(made))):
                start = time.perf_counter()
                made[name](batch)
                times[name].append((time.perf_counter() - start) * 1000 / count)
        reference = outputs['torch fp32 NCHW']
        results = {}
        for name in made:
            difference = float(np.abs(outputs[name] - reference).max())
            results[name] = {'wall_s': stats([t / 1000 for t in times[name]]), 'max_output_difference': difference}
            print(f'  {kind} {name}: {stats(times[name])["median"]:.1f} ms/image, output differs by {difference:.1e}'
                  f' (output scale {np.abs(reference).max():.1f})')
        report(f'{kind} model alone, CPU, seconds per image', results, 'torch fp32 NCHW', args.json,
               {'cpu': cpu_name(), 'images_per_batch': count})
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
