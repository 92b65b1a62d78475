"""The scoring worker's per-face summary (what the API shows of a done job): it points at the report's files and
agrees with the report's page (the worker's queue handling is tested in test_service.py, against a real server)."""
import re

from dfdc.report import verdict, write_report
from dfdc.service.worker import REPORT_DIR, summarise
from tests.test_report import scored_record, thumbnail


def test_face_summary_averages_each_model_and_names_the_report_files(tmp_path):
    record = scored_record()
    second = dict(record['tracks'][0], frames=[40, 42], detected_frames=[40], thumbnails=[{'frame': 40,
                                                                                         'jpeg': thumbnail(200)}],
                  probabilities={'large_crop': [[40, 0.25], [42, 0.5]]})
    record['tracks'].append(second)
    write_report([record], tmp_path / REPORT_DIR)
    summary = summarise(record, annotated=True)
    assert (summary['verdict'], summary['verdict_text']) == verdict(record) and summary['annotated'] is True
    page = (tmp_path / summary['report']).read_text()
    first, other = summary['faces']
    assert (first['face'], first['first_frame'], first['last_frame'], first['detections']) == (1, 0, 58, 10)
    assert first['probability'] == round((14 * 0.8 + 4 * 0.95 + 4 * 0.9) / 22, 6) and first['max_probability'] == 0.95
    assert {kind: (m['predictions'], m['probability']) for kind, m in first['models'].items()} == {
        'sequence': (14, 0.8), 'large_crop': (4, 0.95), 'random_erasing': (4, 0.9)}
    assert (other['first_frame'], other['last_frame'], other['detections']) == (40, 42, 1)
    assert other['probability'] == 0.375 and other['max_probability'] == 0.5 and list(other['models']) == ['large_crop']
    for face in summary['faces']:
        for model in face['models'].values():   # named as the report's page names them
            assert re.search(re.escape(f'{model["predictions"]} from the {model["name"]}') + '[,.]', page)
        assert [t['frame'] for t in face['thumbnails']] == [t['frame'] for t in record['tracks'][face['face'] - 1]
                                                            ['thumbnails']]
        for path in [t['file'] for t in face['thumbnails']] + [face['timeline']]:
            assert (tmp_path / path).is_file() and path.rsplit('/', 1)[-1] in page
