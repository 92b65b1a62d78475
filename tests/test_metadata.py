import json
import logging

from dfdc.metadata import fake_to_real, read_metadata


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
