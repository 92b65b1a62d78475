import json
import logging

import pytest

from dfdc.metadata import (fake_to_real, read_dataset, read_labels_file, read_metadata, single_videos,
                           uses_labels_file)


def _part(root, index, metadata, files=None, raw=None):
    part = root / f'dfdc_train_part_{index}'
    part.mkdir(parents=True)
    for name in files if files is not None else metadata:
        (part / name).write_bytes(b'')
    (part / 'metadata.json').write_text(raw if raw is not None else json.dumps(metadata))


def test_valid_entries_become_one_table(tmp_path):
    _part(tmp_path, 0, {'r.mp4': {'label': 'REAL', 'split': 'train'},
                        'f.mp4': {'label': 'FAKE', 'split': 'train', 'original': 'r.mp4'}})
    _part(tmp_path, 1, {'x.mp4': {'label': 'REAL', 'split': 'train'}})
    table = read_metadata(tmp_path)
    assert table['video'].tolist() == ['dfdc_train_part_0/f.mp4', 'dfdc_train_part_0/r.mp4', 'dfdc_train_part_1/x.mp4']
    assert fake_to_real(table) == {'dfdc_train_part_0/f.mp4': 'dfdc_train_part_0/r.mp4'}


def test_bad_entries_and_files_are_warnings_and_skipped(tmp_path, caplog):
    _part(tmp_path, 0, {'r.mp4': {'label': 'REAL'},
                        'nolabel.mp4': {'split': 'train'},
                        'orphan.mp4': {'label': 'FAKE'},
                        'dangling.mp4': {'label': 'FAKE', 'original': 'gone.mp4'},
                        'weird.mp4': {'label': 'MAYBE'},
                        'missing.mp4': {'label': 'REAL'}},
          files=['r.mp4', 'nolabel.mp4', 'orphan.mp4', 'dangling.mp4', 'weird.mp4'])
    _part(tmp_path, 1, {}, raw='{"a.mp4": {"label": ')
    with caplog.at_level(logging.WARNING, logger='dfdc'):
        table = read_metadata(tmp_path)
    assert table['video'].tolist() == ['dfdc_train_part_0/r.mp4']
    messages = [r.getMessage() for r in caplog.records]
    expected = {'nolabel.mp4 has no label', 'orphan.mp4 is FAKE without an original',
                'dangling.mp4 has original gone.mp4, which does not exist', "weird.mp4 has label 'MAYBE'",
                'missing.mp4 names a video file that does not exist', 'dfdc_train_part_1/metadata.json: malformed'}
    for fragment in expected:
        assert sum(fragment in m for m in messages) == 1, fragment
    assert all('\n' not in m for m in messages)


def _labelled(root, rows, files):
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b'')
    (root / 'labels.csv').write_text('filename,label,original\n' + ''.join(f'{r}\n' for r in rows))


def test_labels_file_is_the_data_set_when_present(tmp_path):
    _labelled(tmp_path, ['a/real.mp4,0,', 'a/fake.mp4,1,a/real.mp4', 'b/lone_fake.mp4,1,', 'b/lone_real.mp4,0,'],
              ['a/real.mp4', 'a/fake.mp4', 'b/lone_fake.mp4', 'b/lone_real.mp4'])
    _part(tmp_path, 0, {'x.mp4': {'label': 'REAL'}})   # ignored: labels.csv wins
    assert uses_labels_file(tmp_path)
    table = read_dataset(tmp_path)
    assert table['video'].tolist() == ['a/fake.mp4', 'a/real.mp4', 'b/lone_fake.mp4', 'b/lone_real.mp4']
    assert fake_to_real(table) == {'a/fake.mp4': 'a/real.mp4'}
    assert single_videos(table) == {'b/lone_fake.mp4': 1, 'b/lone_real.mp4': 0}
    from dfdc.detection import training_videos
    assert training_videos(tmp_path) == table['video'].tolist()


def test_bad_label_rows_are_warnings_naming_the_row(tmp_path, caplog):
    rows = ['r.mp4,0,', 'f.mp4,1,r.mp4', 'gone.mp4,1,', 'maybe.mp4,2,', 'fake_of_fake.mp4,1,f.mp4',
            'orphan.mp4,1,nowhere.mp4', 'odd_real.mp4,real,r.mp4']
    _labelled(tmp_path, rows, ['r.mp4', 'f.mp4', 'maybe.mp4', 'fake_of_fake.mp4', 'orphan.mp4', 'odd_real.mp4'])
    with caplog.at_level(logging.WARNING, logger='dfdc'):
        table = read_labels_file(tmp_path)
    assert table['video'].tolist() == ['f.mp4', 'odd_real.mp4', 'r.mp4']
    messages = [r.getMessage() for r in caplog.records]
    expected = ["line 4: video 'gone.mp4' does not exist", "line 5 (maybe.mp4): unknown label '2'",
                'line 6 (fake_of_fake.mp4): its original f.mp4 is itself fake',
                'line 7 (orphan.mp4): its original nowhere.mp4 is not a listed, existing video',
                'line 8 (odd_real.mp4): a real video with an original']
    for fragment in expected:
        assert sum(fragment in m for m in messages) == 1, (fragment, messages)
    (tmp_path / 'labels.csv').write_text('video,is_fake\n')
    from dfdc.cli import UserError
    with pytest.raises(UserError, match='filename,label'):
        read_labels_file(tmp_path)
