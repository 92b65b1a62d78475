"""Stage 1 throughput on CPU: videos/hour with the Haar detector and with DSFD, and the share of decoding.

    python bench/detect.py [--runs 3] [--dsfd-frames 4] [--json bench/results.jsonl]

Decoding alone is timed on the 1080p 10 s video as stage 1 decodes it (every frame, every 6th kept); the Haar
detector runs on all 50 detected frames; DSFD (random weights, the published architecture and input size) on
`--dsfd-frames` of them, scaled to 50. Baseline: decoding alone.
"""
from __future__ import annotations

import argparse
import time

from common import make_1080p_video, report, stats


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
    from dfdc.video import iter_frames
    video = make_1080p_video(seconds=args.seconds)
    frames = [frame for _, frame in iter_frames(video, step=DETECTOR_STEP)]
    haar = OpenCVDetector()
    torch.manual_seed(0)
    dsfd = DSFDDetector(None, device='cpu', resize='area', batch_size=1)
    with torch.no_grad():   # random weights: make every score low so NMS stays cheap, as with real faces
        for head in dsfd.model.conf:
            head.conv4.weight.zero_()
    timings = {'decode': [], 'haar': [], 'dsfd': []}
    for _ in range(args.runs):
        start = time.perf_counter()
        count = sum(1 for _ in iter_frames(video, step=DETECTOR_STEP))
        timings['decode'].append(time.perf_counter() - start)
        start = time.perf_counter()
        haar.detect(frames)
        timings['haar'].append(time.perf_counter() - start)
        start = time.perf_counter()
        dsfd.detect(frames[:args.dsfd_frames])
        timings['dsfd'].append((time.perf_counter() - start) * count / args.dsfd_frames)
    decode = stats(timings['decode'])['median']
    results = {'decode only (stage 1 frames)': {'wall_s': stats(timings['decode'])}}
    for name, key in (('opencv (Haar)', 'haar'), ('dsfd (ResNet-152)', 'dsfd')):
        total = [d + t for d, t in zip(timings['decode'], timings[key])]
        median = stats(total)['median']
        results[f'stage 1 with {name}'] = {'wall_s': stats(total), 'videos_per_hour': 3600 / median,
                                           'decode_share': decode / median}
        print(f'  {name}: {3600 / median:.0f} videos/hour, {100 * decode / median:.0f}% of the time decoding')
    report('stage 1 on CPU, 1080p 10 s video', results, 'decode only (stage 1 frames)', args.json,
           {'detected_frames': count})
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
