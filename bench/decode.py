"""Decode benchmark: the predictor's frame source on a 1080p 10 s video vs the ffmpeg floor and the published way.

    python bench/decode.py [--runs 5] [--json bench/results.jsonl]

floor: `ffmpeg -threads 2 -i v.mp4 -f null -`. published: OpenCV grabs every frame, retrieves every 2nd and keeps
all 150 in a list. ours: the predictor's decoding thread (every 2nd frame at 30 fps, frames dropped once used).
Targets: ours at most 1.15x the floor in wall time and at most 250 MB peak RSS.
"""
from __future__ import annotations

import argparse

from common import child, interleaved, make_1080p_video, python_child, report

PUBLISHED = '''
import cv2
capture = cv2.VideoCapture(sys.argv[1])
frames = []
for i in range(int(capture.get(cv2.CAP_PROP_FRAME_COUNT))):
    capture.grab()
    if i % 2 == 0:
        frames.append(capture.retrieve()[1])
print(len(frames))
'''

OURS = '''
from pathlib import Path
from dfdc.video import frame_events
kept = 0
for event in frame_events([Path(sys.argv[1])]):
    if event is not None and event[0] == 'frame':
        kept += 1
print(kept)
'''


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--seconds', type=int, default=10)
    parser.add_argument('--size', default='1920x1080')
    parser.add_argument('--json', default=None)
    args = parser.parse_args(argv)
    from dfdc.ffmpeg import find_ffmpeg
    video = str(make_1080p_video(seconds=args.seconds, size=args.size))
    floor = [find_ffmpeg(), '-hide_banner', '-loglevel', 'error', '-threads', '2', '-i', video, '-f', 'null', '-']
    results = interleaved({'ffmpeg floor': child(floor),
                           'published (OpenCV, keep all)': child(python_child(PUBLISHED, video)),
                           'ours (predictor frame source)': child(python_child(OURS, video))}, args.runs)
    report('decode', results, 'ffmpeg floor', args.json, {'video': video})
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
