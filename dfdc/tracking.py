"""The IoU tracker of Bochinski, Eiselein and Sikora (AVSS 2017) as the published solution uses it.

`iou` and `track_iou` reproduce the published functions operation for operation, tie-breaks included.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

# Stage 2 (training tracks) and prediction use the same thresholds; only t_min differs.
TRACKER_SIGMA_L = 0.3
TRACKER_SIGMA_H = 0.9
TRACKER_SIGMA_IOU = 0.3
TRACKER_T_MIN = 1
PREDICT_TRACKER_T_MIN = 7

Box = Sequence[float]


def iou(bbox1: Box, bbox2: Box) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes; 0 when they do not overlap."""
    x0_1, y0_1, x1_1, y1_1 = (float(v) for v in bbox1)
    x0_2, y0_2, x1_2, y1_2 = (float(v) for v in bbox2)
    overlap_x0 = max(x0_1, x0_2)
    overlap_y0 = max(y0_1, y0_2)
    overlap_x1 = min(x1_1, x1_2)
    overlap_y1 = min(y1_1, y1_2)
    if overlap_x1 - overlap_x0 <= 0 or overlap_y1 - overlap_y0 <= 0:
        return 0
    size_1 = (x1_1 - x0_1) * (y1_1 - y0_1)
    size_2 = (x1_2 - x0_2) * (y1_2 - y0_2)
    size_intersection = (overlap_x1 - overlap_x0) * (overlap_y1 - overlap_y0)
    size_union = size_1 + size_2 - size_intersection
    return size_intersection / size_union


class OnlineIoUTracker:
    """The published IoU tracker fed one frame at a time; `track_iou` is this run over a whole list.

    After `update`, `active` holds the live tracks (dicts that keep their identity while they grow) and
    `finished` the kept tracks that ended, in the published order; `finish()` closes the remaining ones.
    """

    def __init__(self, sigma_l: float, sigma_h: float, sigma_iou: float, t_min: int):
        self.sigma_l, self.sigma_h, self.sigma_iou, self.t_min = sigma_l, sigma_h, sigma_iou, t_min
        self.active: list[dict] = []
        self.finished: list[dict] = []
        self.frame_num = 0

    def _keep(self, track: dict) -> bool:
        return track['max_score'] >= self.sigma_h and len(track['bboxes']) >= self.t_min

    def update(self, detections_frame: Sequence[dict]) -> None:
        self.frame_num += 1
        dets = [det for det in detections_frame if det['score'] >= self.sigma_l]
        updated_tracks = []
        for track in self.active:
            extended = False
            if dets:
                last = track['bboxes'][-1]
                overlaps = [iou(last, det['bbox']) for det in dets]
                best = max(range(len(dets)), key=overlaps.__getitem__)  # the first of equal overlaps
                if overlaps[best] >= self.sigma_iou:
                    track['bboxes'].append(dets[best]['bbox'])
                    track['max_score'] = max(track['max_score'], dets[best]['score'])
                    updated_tracks.append(track)
                    del dets[best]
                    extended = True
            if not extended and self._keep(track):
                self.finished.append(track)
        new_tracks = [{'bboxes': [det['bbox']], 'max_score': det['score'], 'start_frame': self.frame_num}
                      for det in dets]
        self.active = updated_tracks + new_tracks

    def finish(self) -> list[dict]:
        self.finished += [track for track in self.active if self._keep(track)]
        self.active = []
        return self.finished


def track_iou(detections: Sequence[Sequence[dict]], sigma_l: float, sigma_h: float, sigma_iou: float,
              t_min: int) -> list[dict]:
    """Link per-frame detections `{'bbox', 'score'}` into tracks `{'bboxes', 'max_score', 'start_frame'}`.

    Frames are numbered from 1. Per frame: detections below sigma_l are dropped; each active track, in
    order, takes the remaining detection of highest IoU with its last box (the first such on ties) if that
    IoU >= sigma_iou; a track not extended ends and is kept if its max score >= sigma_h and it has at
    least t_min boxes; the detections left start new tracks.
    """
    tracker = OnlineIoUTracker(sigma_l, sigma_h, sigma_iou, t_min)
    for detections_frame in detections:
        tracker.update(detections_frame)
    return tracker.finish()


def detections_to_tracker_input(detections: Sequence[dict]) -> list[list[dict]]:
    """`detections.pkl` entries (`{'boxes', 'scores'}` per detected frame) as the tracker's per-frame dicts."""
    return [[{'bbox': tuple(float(v) for v in box), 'score': float(score)}
             for box, score in zip(frame['boxes'], frame['scores'])] for frame in detections]


def video_tracks(detections: Sequence[dict], t_min: int = TRACKER_T_MIN) -> list[list[tuple[int, tuple]]]:
    """Tracks of one video as stage 2 stores them: lists of `(detected_frame_index, bbox)`, index 0-based."""
    tracks = track_iou(detections_to_tracker_input(detections), TRACKER_SIGMA_L, TRACKER_SIGMA_H,
                       TRACKER_SIGMA_IOU, t_min)
    return [[(track['start_frame'] - 1 + i, tuple(bbox)) for i, bbox in enumerate(track['bboxes'])]
            for track in tracks]


def interpolate_track(frame_indices: Sequence[int], boxes: Sequence[Box]) -> tuple[np.ndarray, np.ndarray]:
    """Boxes linearly interpolated (per coordinate) to every integer frame from the first to the last index.

    Returns (frames, boxes float32 N x 4); the given frames keep their boxes exactly.
    """
    frame_indices = np.asarray(frame_indices, dtype=np.float64)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(frame_indices) != len(boxes) or len(boxes) == 0:
        raise ValueError('need one box per frame index and at least one box')
    if np.any(np.diff(frame_indices) <= 0):
        raise ValueError('frame indices must be strictly increasing')
    frames = np.arange(int(frame_indices[0]), int(frame_indices[-1]) + 1)
    interpolated = np.stack([np.interp(frames, frame_indices, boxes[:, k]) for k in range(4)], axis=1)
    return frames, interpolated.astype(np.float32)
