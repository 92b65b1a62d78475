"""Prediction cost per video on a GPU: DSFD and the three B7 models (random weights, published architecture).

    bash bench/gpu.sh                      # CUDA, FP16 autocast, 20 generated 1080p 10 s videos
    bash bench/gpu.sh --device cpu --tiny  # the CI mode: tiny models, 1 small video, DSFD on 2 frames

Per video, as predict.py does it: decode (every 2nd frame at 30 fps), DSFD on every 3rd kept frame in batches of
16, and the classifiers on one face track through the whole video (11 sequence windows of 7 crops, 75 frame crops
split between the two frame models). Prints s/video per stage and the GPU memory peak. Target: under 1 s/video on
a current GPU (Kaggle's budget was 8.1 s/video on a P100).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from common import make_1080p_video, report, stats


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--device', default='cuda')
    parser.add_argument('--tiny', action='store_true', help='tiny EfficientNets, 2 small videos (CPU check)')
    parser.add_argument('--videos', type=int, default=None)
    parser.add_argument('--json', default=None)
    args = parser.parse_args(argv)
    import torch
    from dfdc.detectors import DSFDDetector
    from dfdc.inference import DETECT_EVERY, DETECTOR_BATCH_SIZE, ENSEMBLE, Ensemble
    from dfdc.video import frame_events
    from efficientnet import create_model

    device = torch.device(args.device)
    videos_count = args.videos or (1 if args.tiny else 20)
    size, seconds = ('320x180', 1) if args.tiny else ('1920x1080', 10)
    videos = [make_1080p_video(seconds=seconds, size=size)] * videos_count
    torch.manual_seed(0)
    detector = DSFDDetector(None, device=device, resize='rcnn', batch_size=DETECTOR_BATCH_SIZE)
    with torch.no_grad():  # random weights: keep face scores low so NMS and tracking stay as cheap as on real video
        for head in detector.model.conf:
            head.conv4.weight.zero_()
    overrides = {'width_coefficient': 0.25, 'depth_coefficient': 0.2} if args.tiny else {}
    name = 'efficientnet-b0' if args.tiny else 'efficientnet-b7'
    ensemble = Ensemble({preset: create_model(name, sequence_length=7 if sequence else None, **overrides)
                         for _, preset, sequence in ENSEMBLE}, device, batch_size=32)
    crops = {'sequence': 77, 'large_crop': 38, 'random_erasing': 37}
    images = {k: np.random.default_rng(1).integers(0, 255, (n, 224, 192, 3), dtype=np.uint8) for k, n in crops.items()}
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    timings = {'decode': [], 'detect': [], 'classify': []}
    # The first video warms up (cuDNN, allocator); the CPU check skips that and detects on 2 frames only.
    warmup = videos[:0] if args.tiny else videos[:1]
    for index, video in enumerate(warmup + videos):
        start = time.perf_counter()
        detection_frames = []
        for event in frame_events([video]):
            if event and event[0] == 'frame' and event[1] % DETECT_EVERY == 0:
                detection_frames.append(detector.prepare(event[2]))
        decode = time.perf_counter() - start
        start = time.perf_counter()
        detector.detect_prepared(detection_frames[:2] if args.tiny else detection_frames)
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
    medians = {k: stats(v)['median'] for k, v in timings.items()}
    models = medians['detect'] + medians['classify']
    results = {stage: {'wall_s': stats(values)} for stage, values in timings.items()}
    results['per video, decode overlapped'] = {'wall_s': stats([max(medians['decode'], models)])}
    memory = torch.cuda.max_memory_allocated() / 2 ** 30 if device.type == 'cuda' else None
    print(f'{"tiny" if args.tiny else "B7"} on {device}: decode {medians["decode"]:.3f}, '
          f'detect {medians["detect"]:.3f}, classify {medians["classify"]:.3f} s/video; '
          f'{max(medians["decode"], models):.3f} s/video with decoding overlapped'
          + (f'; GPU memory peak {memory:.2f} GiB' if memory is not None else ''))
    report('prediction per video (GPU benchmark)', results, 'per video, decode overlapped', args.json,
           {'device': str(device), 'tiny': args.tiny, 'videos': videos_count, 'gpu_memory_gib': memory})
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
