"""Annotated videos: every kept frame, boxes coloured by probability, written atomically."""
import pytest

from dfdc.annotate import annotate_video, probability_colour, track_probability_by_frame
from dfdc.video import iter_frames, video_info


def record_for(path, probability, step=2):
    info = video_info(path)
    frames = [n for n, _ in iter_frames(path, step=step)]
    box = [40.0, 40.0, 120.0, 130.0]
    points = [[f, probability] for f in frames[::2]]
    return {'video': str(path), 'score': probability, 'reason': None, 'frames_read': frames[-1] + 1,
            'width': info.width, 'height': info.height, 'fps': info.fps, 'step': step,
            'tracks': [{'frames': frames, 'boxes': [box] * len(frames),
                        'probabilities': {'sequence': [], 'large_crop': points, 'random_erasing': []},
                        'detected_frames': frames[::3], 'thumbnails': []}]}


@pytest.mark.parametrize('probability', [0.05, 0.95])
def test_annotated_video_has_every_kept_frame_and_boxes_in_the_probability_colour(tmp_path, synthetic_root,
                                                                                  probability):
    path = sorted((synthetic_root / 'test_videos').glob('*.mp4'))[0]
    out = annotate_video(record_for(path, probability), tmp_path / 'out.mp4')
    assert [p.name for p in tmp_path.iterdir()] == ['out.mp4'], 'no temporary file left'
    info = video_info(out)
    frames = [frame for _, frame in iter_frames(out)]
    assert len(frames) == len(range(0, video_info(path).frame_count, 2)) and info.fps == pytest.approx(15)
    edge = frames[len(frames) // 2][60:110, 38:42].reshape(-1, 3).mean(axis=0)   # the box's left edge, BGR
    blue, green, red = edge
    assert (red > green + 60) if probability > 0.5 else (green > red + 60), edge


def test_colours_and_per_frame_probabilities():
    assert probability_colour(0.0)[1] > 200 and probability_colour(0.0)[2] < 30       # green
    assert probability_colour(1.0)[2] > 200 and probability_colour(1.0)[1] < 30       # red
    track = {'frames': [0, 2, 4, 6, 40], 'probabilities': {'sequence': [[0, 0.2], [2, 0.4]], 'large_crop': [[40, 0.9]]}}
    by_frame = track_probability_by_frame(track, step=2)
    assert by_frame[0] == pytest.approx(0.3) and by_frame[6] == pytest.approx(0.3) and by_frame[40] == 0.9
    assert track_probability_by_frame({'frames': [0], 'probabilities': {}}, 2) == {}


def test_encoder_failure_leaves_nothing(tmp_path, synthetic_root, monkeypatch):
    import dfdc.annotate as annotate
    monkeypatch.setattr(annotate, 'find_ffmpeg', lambda: 'false')
    path = sorted((synthetic_root / 'test_videos').glob('*.mp4'))[0]
    with pytest.raises((RuntimeError, BrokenPipeError)):
        annotate_video(record_for(path, 0.5), tmp_path / 'out.mp4')
    assert list(tmp_path.iterdir()) == []
