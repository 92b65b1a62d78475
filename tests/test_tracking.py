import random

import numpy as np
import pytest

from dfdc.tracking import interpolate_track, iou, track_iou, video_tracks


def published_track_iou(detections, sigma_l, sigma_h, sigma_iou, t_min):
    """The tracker as published by Bochinski et al. (iou-tracker), kept verbatim as the oracle."""
    tracks_active = []
    tracks_finished = []
    for frame_num, detections_frame in enumerate(detections, start=1):
        dets = [det for det in detections_frame if det['score'] >= sigma_l]
        updated_tracks = []
        for track in tracks_active:
            if len(dets) > 0:
                best_match = max(dets, key=lambda x: iou(track['bboxes'][-1], x['bbox']))
                if iou(track['bboxes'][-1], best_match['bbox']) >= sigma_iou:
                    track['bboxes'].append(best_match['bbox'])
                    track['max_score'] = max(track['max_score'], best_match['score'])
                    updated_tracks.append(track)
                    del dets[dets.index(best_match)]
            if len(updated_tracks) == 0 or track is not updated_tracks[-1]:
                if track['max_score'] >= sigma_h and len(track['bboxes']) >= t_min:
                    tracks_finished.append(track)
        new_tracks = [{'bboxes': [det['bbox']], 'max_score': det['score'], 'start_frame': frame_num} for det in dets]
        tracks_active = updated_tracks + new_tracks
    tracks_finished += [track for track in tracks_active
                        if track['max_score'] >= sigma_h and len(track['bboxes']) >= t_min]
    return tracks_finished


def det(x, y, size=10.0, score=0.95):
    return {'bbox': (x, y, x + size, y + size), 'score': score}


def test_iou_values():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (10, 0, 20, 10)) == 0
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0


def test_gap_ends_a_track_and_starts_a_new_one():
    frames = [[det(0, 0)], [det(1, 0)], [], [det(2, 0)], [det(3, 0)]]
    tracks = track_iou(frames, 0.3, 0.9, 0.3, 1)
    assert [(t['start_frame'], len(t['bboxes'])) for t in tracks] == [(1, 2), (4, 2)]


def test_two_faces_crossing_keep_their_identity_while_overlap_is_best():
    # Face A moves right, face B moves left; each frame's best IoU match is its own previous box.
    frames = [[det(10 * i, 0, size=30), det(100 - 10 * i, 0, size=30)] for i in range(11)]
    tracks = track_iou(frames, 0.3, 0.9, 0.3, 1)
    assert len(tracks) == 2
    assert [b[0] for b in tracks[0]['bboxes']] == [10 * i for i in range(11)]
    assert [b[0] for b in tracks[1]['bboxes']] == [100 - 10 * i for i in range(11)]


def test_low_score_track_is_dropped_by_sigma_h_and_below_sigma_l_ignored():
    frames = [[det(0, 0, score=0.5), det(50, 50, score=0.2)] for _ in range(5)]
    frames[2].append(det(100, 100, score=0.95))
    tracks = track_iou(frames, 0.3, 0.9, 0.3, 1)
    assert [(t['start_frame'], len(t['bboxes']), t['max_score']) for t in tracks] == [(3, 1, 0.95)]
    frames[3][0] = det(0, 0, score=0.91)
    tracks = track_iou(frames, 0.3, 0.9, 0.3, 1)
    assert sorted((t['start_frame'], len(t['bboxes'])) for t in tracks) == [(1, 5), (3, 1)]


def test_t_min():
    frames = [[det(0, 0)]] * 6 + [[]] + [[det(50, 50)]] * 7
    assert [len(t['bboxes']) for t in track_iou(frames, 0.3, 0.9, 0.3, 7)] == [7]
    assert [len(t['bboxes']) for t in track_iou(frames, 0.3, 0.9, 0.3, 1)] == [6, 7]


def test_matches_published_tracker_on_random_inputs():
    rng = random.Random(1234)
    for _ in range(1500):
        frames = []
        for _ in range(rng.randint(0, 12)):
            frame = []
            for _ in range(rng.randint(0, 4)):
                # Coarse grid positions make IoU ties and duplicates common.
                x, y, s = rng.choice(range(0, 40, 5)), rng.choice(range(0, 40, 5)), rng.choice([10, 15, 20])
                frame.append({'bbox': (x, y, x + s, y + s), 'score': rng.choice([0.2, 0.3, 0.5, 0.9, 0.95])})
            frames.append(frame)
        params = (rng.choice([0.0, 0.3]), rng.choice([0.5, 0.9]), rng.choice([0.0, 0.3, 0.5]), rng.choice([1, 2, 3]))
        copy = [[dict(d) for d in frame] for frame in frames]
        assert track_iou(frames, *params) == published_track_iou(copy, *params)


def test_video_tracks_use_zero_based_detected_frame_indices():
    detections = [{'boxes': np.zeros((0, 4), np.float32), 'scores': np.zeros(0, np.float32)}] + [
        {'boxes': np.array([[10, 10, 50, 50]], np.float32), 'scores': np.array([0.99], np.float32)}] * 3
    assert video_tracks(detections) == [[(1, (10.0, 10.0, 50.0, 50.0)), (2, (10.0, 10.0, 50.0, 50.0)),
                                         (3, (10.0, 10.0, 50.0, 50.0))]]


def test_interpolation_fills_every_frame_linearly():
    frames, boxes = interpolate_track([0, 3, 4], [(0, 0, 10, 10), (3, 6, 13, 16), (10, 10, 20, 20)])
    assert frames.tolist() == [0, 1, 2, 3, 4]
    assert boxes.tolist() == [[0, 0, 10, 10], [1, 2, 11, 12], [2, 4, 12, 14], [3, 6, 13, 16], [10, 10, 20, 20]]
    frames, boxes = interpolate_track([5], [(1, 2, 3, 4)])
    assert frames.tolist() == [5] and boxes.tolist() == [[1, 2, 3, 4]]
    with pytest.raises(ValueError):
        interpolate_track([2, 1], [(0, 0, 1, 1), (0, 0, 1, 1)])
