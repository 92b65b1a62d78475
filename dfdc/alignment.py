"""Stage 3: pair each real face track with the fake track that follows the same face, frame by frame."""
from __future__ import annotations

from typing import Mapping, Sequence

from .tracking import iou

MIN_TRACK_LENGTH = 5
ALIGNMENT_IOU = 0.5

Track = Sequence[tuple[int, Sequence[float]]]
AlignedTrack = list[tuple[int, Sequence[float], Sequence[float]]]


def align_track_pair(real_track: Track, fake_track: Track, min_iou: float = ALIGNMENT_IOU) -> AlignedTrack | None:
    """`[(frame_index, real_bbox, fake_bbox)]` over the frames both tracks cover, if on every one of them the
    boxes overlap with IoU > min_iou; None otherwise (also when they share no frame)."""
    fake_boxes = dict(fake_track)
    aligned = [(frame, real_box, fake_boxes[frame]) for frame, real_box in real_track if frame in fake_boxes]
    if not aligned or any(iou(real_box, fake_box) <= min_iou for _, real_box, fake_box in aligned):
        return None
    return aligned


def align_tracks(video_to_tracks: Mapping[str, Sequence[Track]],
                 fake_to_real: Mapping[str, str]) -> list[tuple[str, str, AlignedTrack]]:
    """`[(real_relpath, fake_relpath, aligned_track)]`: reals sorted, each real's fakes sorted; per real track
    the first fake track (in stage 2 order) that aligns with it; tracks shorter than 5 are ignored."""
    real_to_fakes: dict[str, list[str]] = {}
    for fake, real in fake_to_real.items():
        real_to_fakes.setdefault(real, []).append(fake)
    aligned_tracks = []
    for real in sorted(real_to_fakes):
        if real not in video_to_tracks:
            continue
        real_tracks = [t for t in video_to_tracks[real] if len(t) >= MIN_TRACK_LENGTH]
        for fake in sorted(real_to_fakes[real]):
            if fake not in video_to_tracks:
                continue
            fake_tracks = [t for t in video_to_tracks[fake] if len(t) >= MIN_TRACK_LENGTH]
            for real_track in real_tracks:
                for fake_track in fake_tracks:
                    aligned = align_track_pair(real_track, fake_track)
                    if aligned is not None:
                        aligned_tracks.append((real, fake, aligned))
                        break
    return aligned_tracks
