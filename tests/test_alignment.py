from dfdc.alignment import align_track_pair, align_tracks


def track(start, length, x=0.0, dx=0.0, size=100.0):
    return [(start + i, (x + dx * i, 0.0, x + dx * i + size, size)) for i in range(length)]


def shifted(t, shift):
    return [(f, (b[0] + shift, b[1], b[2] + shift, b[3])) for f, b in t]


def test_iou_just_above_and_below_one_half():
    real = track(0, 6)
    # Width-100 boxes shifted by s overlap with IoU (100 - s) / (100 + s): 0.5 at s = 100 / 3.
    assert align_track_pair(real, shifted(real, 33.0)) is not None
    assert align_track_pair(real, shifted(real, 33.5)) is None


def test_partial_overlap_in_time_covers_the_common_range():
    real = track(0, 10)
    fake = track(4, 10)
    aligned = align_track_pair(real, fake)
    assert [f for f, _, _ in aligned] == list(range(4, 10))
    assert aligned[0] == (4, real[4][1], fake[0][1])
    assert align_track_pair(track(0, 5), track(5, 5)) is None


def test_one_bad_frame_breaks_alignment():
    real = track(0, 8)
    fake = list(real)
    fake[3] = (3, (60.0, 0.0, 160.0, 100.0))
    assert align_track_pair(real, fake) is None


def test_align_tracks_order_first_match_and_filters():
    real_face = track(0, 8)
    other_face = track(0, 8, x=500)
    video_to_tracks = {
        'p/real_b.mp4': [real_face],
        'p/real_a.mp4': [real_face, other_face, track(0, 4, x=900)],
        'p/fake_a2.mp4': [other_face, shifted(real_face, 5), real_face],
        'p/fake_a1.mp4': [real_face],
        'p/fake_b.mp4': [],
    }
    fake_to_real = {'p/fake_a2.mp4': 'p/real_a.mp4', 'p/fake_a1.mp4': 'p/real_a.mp4', 'p/fake_b.mp4': 'p/real_b.mp4',
                    'p/fake_c.mp4': 'p/real_c.mp4'}
    aligned = align_tracks(video_to_tracks, fake_to_real)
    assert [(r, f) for r, f, _ in aligned] == [('p/real_a.mp4', 'p/fake_a1.mp4'), ('p/real_a.mp4', 'p/fake_a2.mp4'),
                                                ('p/real_a.mp4', 'p/fake_a2.mp4')]
    # The first fake track that aligns is taken: the shifted one, not the identical one after it.
    assert aligned[1][2][0][2] == shifted(real_face, 5)[0][1]
    assert aligned[2][2][0][1] == other_face[0][1]


def test_short_tracks_are_ignored():
    assert align_tracks({'p/r.mp4': [track(0, 4)], 'p/f.mp4': [track(0, 4)]}, {'p/f.mp4': 'p/r.mp4'}) == []
    assert len(align_tracks({'p/r.mp4': [track(0, 5)], 'p/f.mp4': [track(0, 5)]}, {'p/f.mp4': 'p/r.mp4'})) == 1
