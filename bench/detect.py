"""Stage 1 throughput on CPU: videos/hour with the Haar detector and with DSFD, and the share of decoding.

    python bench/detect.py [--runs 3] [--dsfd-frames 4] [--json bench/results.jsonl]

Decoding alone is timed on the 1080p 10 s video as stage 1 decodes it (every frame, every 6th kept); the Haar
detector runs on all 50 detected frames; DSFD (random weights, the published architecture and input size) on
`--dsfd-frames` of them, scaled to 50: PyTorch FP32 NCHW, PyTorch FP32 channels-last (the default before the
OpenVINO backend), OpenVINO FP32 (the default on the CPU now), PyTorch bf16 channels-last and OpenVINO bf16, in
rounds of alternating order. Baseline: decoding alone; each DSFD variant is also compared with PyTorch FP32
channels-last, and OpenVINO's conversion time (a first run's) is reported apart.
"""
from __future__ import annotations

import argparse
import time

from common import cpu_name, make_1080p_video, report, stats


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--dsfd-frames', type=int, default=4)
    parser.add_argument('--seconds', type=int, default=10)
    parser.add_argument('--json', default=None)
    args = parser.parse_args(argv)
    import torch
    from dfdc.detection import DETECTOR_STEP
    from dfdc.detectors import DSFDDetector, OpenCVDetector
    from dfdc.synthetic import quiet_face_scores
    from dfdc.video import iter_frames
    video = make_1080p_video(seconds=args.seconds)
    frames = [frame for _, frame in iter_frames(video, step=DETECTOR_STEP)]
    haar = OpenCVDetector()
    variants = {'dsfd torch fp32 NCHW': ('torch', 'fp32', False),
                'dsfd torch fp32 channels-last (before)': ('torch', 'fp32', True),
                'dsfd openvino fp32 (default)': ('openvino', 'fp32', True),
                'dsfd torch bf16 channels-last': ('torch', 'bf16', True),
                'dsfd openvino bf16': ('openvino', 'bf16', True)}
    detectors = {}
    for key, (backend, precision, channels_last) in variants.items():
        torch.manual_seed(0)
        detectors[key] = DSFDDetector(None, device='cpu', resize='area', batch_size=1, precision=precision,
                                      channels_last=channels_last, backend=backend)
        quiet_face_scores(detectors[key].model)
        start = time.perf_counter()
        detectors[key].detect(frames[:1])  # warm-up (oneDNN primitives for this size; OpenVINO: converts)
        if backend == 'openvino' and precision == 'fp32':
            print(f'  openvino conversion and compilation of DSFD (a first run): {time.perf_counter() - start:.1f} s')
    timings = {'decode': [], 'haar': [], **{key: [] for key in variants}}
    for round_index in range(args.runs):
        start = time.perf_counter()
        count = sum(1 for _ in iter_frames(video, step=DETECTOR_STEP))
        timings['decode'].append(time.perf_counter() - start)
        start = time.perf_counter()
        haar.detect(frames)
        timings['haar'].append(time.perf_counter() - start)
        for key in (list(variants) if round_index % 2 == 0 else list(reversed(variants))):
            start = time.perf_counter()
            detectors[key].detect(frames[:args.dsfd_frames])
            timings[key].append((time.perf_counter() - start) * count / args.dsfd_frames)
    decode = stats(timings['decode'])['median']
    results = {'decode only (stage 1 frames)': {'wall_s': stats(timings['decode'])}}
    reference = stats(timings['dsfd torch fp32 channels-last (before)'])['median']
    for key in variants:
        print(f'  {key}: {stats(timings[key])["median"] / count:.3f} s/frame, '
              f'{reference / stats(timings[key])["median"]:.2f}x PyTorch FP32 channels-last')
    for name, key in (('opencv (Haar)', 'haar'), *((k, k) for k in variants)):
        total = [d + t for d, t in zip(timings['decode'], timings[key])]
        median = stats(total)['median']
        results[f'stage 1 with {name}'] = {'wall_s': stats(total), 'videos_per_hour': 3600 / median,
                                           'decode_share': decode / median}
        print(f'  {name}: {3600 / median:.0f} videos/hour, {100 * decode / median:.0f}% of the time decoding')
    report('stage 1 on CPU, 1080p 10 s video', results, 'decode only (stage 1 frames)', args.json,
           {'detected_frames': count, 'cpu': cpu_name()})
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
