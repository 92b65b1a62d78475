"""Prediction cost per video on a GPU: DSFD and the three B7 models (random weights, published architecture).

    bash bench/gpu.sh                      # CUDA: every precision and layout, 20 generated 1080p 10 s videos
    bash bench/gpu.sh --variants fp16-cl   # CUDA, one variant
    bash bench/gpu.sh --device cpu --tiny  # the CI mode: tiny models, 1 small video, DSFD on 2 frames

Per video, as predict.py does it: decode (every 2nd frame at 30 fps), DSFD on every 3rd kept frame in batches of
16, and the classifiers on one face track through the whole video (11 sequence windows of 7 crops, 75 frame crops
split between the two frame models). Variants: fp32-nchw (plain FP32, the baseline), fp32-cl (FP32 channels-last,
predict.py's default), fp16-cl and bf16-cl (`--precision fp16/bf16`). Prints s/video per stage, the GPU memory
peak and each variant's ratio to plain FP32. Target: under 1 s/video on a current datacenter GPU, decoding
included (Kaggle's budget was 8.1 s/video on a P100).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from common import make_1080p_video, report, stats

VARIANTS = {'fp32-nchw': ('fp32', False), 'fp32-cl': ('fp32', True), 'fp16-cl': ('fp16', True),
            'bf16-cl': ('bf16', True)}


def run_variant(args, device, videos, precision: str, channels_last: bool) -> dict[str, list[float]]:
    import torch
    from dfdc.detectors import DSFDDetector
    from dfdc.inference import DETECT_EVERY, DETECTOR_BATCH_SIZE
    from dfdc.models import ENSEMBLE, Ensemble
    from dfdc.synthetic import quiet_face_scores
    from dfdc.video import frame_events
    from efficientnet import create_model
    torch.manual_seed(0)
    detector = DSFDDetector(None, device=device, resize='rcnn', batch_size=DETECTOR_BATCH_SIZE, precision=precision,
                            channels_last=channels_last)
    quiet_face_scores(detector.model)
    overrides = {'width_coefficient': 0.25, 'depth_coefficient': 0.2} if args.tiny else {}
    name = 'efficientnet-b0' if args.tiny else 'efficientnet-b7'
    ensemble = Ensemble({preset: create_model(name, sequence_length=7 if sequence else None, **overrides)
                         for _, preset, sequence in ENSEMBLE}, device, batch_size=32, precision=precision,
                        channels_last=channels_last)
    crops = {'sequence': 77, 'large_crop': 38, 'random_erasing': 37}
    images = {k: np.random.default_rng(1).integers(0, 255, (n, 224, 192, 3), dtype=np.uint8) for k, n in crops.items()}
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    timings = {'decode': [], 'detect': [], 'classify': []}
    # The first video warms up (cuDNN, allocator); the CPU check skips that and detects on 2 frames only.
    warmup = videos[:0] if args.tiny else videos[:1]
    for index, video in enumerate(warmup + videos):
        start = time.perf_counter()
        prepared = []
        for event in frame_events([video]):
            if event and event[0] == 'frame' and event[1] % DETECT_EVERY == 0:
                prepared.append(detector.prepare(event[2]))
        decode = time.perf_counter() - start
        start = time.perf_counter()
        detector.detect_prepared(prepared[:2] if args.tiny else prepared)
        if device.type == 'cuda':
            torch.cuda.synchronize()
        detect = time.perf_counter() - start
        start = time.perf_counter()
        for kind, batch in images.items():
            ensemble.probabilities(kind, batch)
        if device.type == 'cuda':
            torch.cuda.synchronize()
        classify = time.perf_counter() - start
        if index >= len(warmup):
            for key, value in (('decode', decode), ('detect', detect), ('classify', classify)):
                timings[key].append(value)
    timings['memory'] = [torch.cuda.max_memory_allocated() / 2 ** 30 if device.type == 'cuda' else 0.0]
    return timings


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--device', default='cuda')
    parser.add_argument('--tiny', action='store_true', help='tiny EfficientNets, 2 small videos (CPU check)')
    parser.add_argument('--videos', type=int, default=None)
    parser.add_argument('--variants', default=None, help=f'comma-separated, of {", ".join(VARIANTS)} '
                                                         '(default: all on CUDA, fp32-nchw and bf16-cl on the CPU)')
    parser.add_argument('--json', default=None)
    args = parser.parse_args(argv)
    import torch
    device = torch.device(args.device)
    names = (args.variants.split(',') if args.variants else
             list(VARIANTS) if device.type == 'cuda' else ['fp32-nchw', 'bf16-cl'])
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f'unknown variant(s) {", ".join(unknown)}')
    videos_count = args.videos or (1 if args.tiny else 20)
    size, seconds = ('320x180', 1) if args.tiny else ('1920x1080', 10)
    videos = [make_1080p_video(seconds=seconds, size=size)] * videos_count
    results = {}
    for name in names:
        timings = run_variant(args, device, videos, *VARIANTS[name])
        medians = {k: stats(v)['median'] for k, v in timings.items() if k != 'memory'}
        per_video = max(medians['decode'], medians['detect'] + medians['classify'])
        results[name] = {'wall_s': {**stats([per_video]), 'runs': len(videos)},
                         'stages_s_per_video': medians, 'gpu_memory_gib': timings['memory'][0]}
        print(f'{"tiny" if args.tiny else "B7"} on {device}, {name}: decode {medians["decode"]:.3f}, detect '
              f'{medians["detect"]:.3f}, classify {medians["classify"]:.3f} s/video; {per_video:.3f} s/video with '
              f'decoding overlapped' + (f'; GPU memory peak {timings["memory"][0]:.2f} GiB'
                                         if device.type == 'cuda' else ''))
    gpu = torch.cuda.get_device_name(device) if device.type == 'cuda' else None
    report('prediction per video (GPU benchmark)', results, names[0], args.json,
           {'device': str(device), 'gpu': gpu, 'tiny': args.tiny, 'videos': videos_count})
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
