"""benchmark.py run end to end on replicas of two official layouts, with real (synthetic) videos and tiny models."""
import csv
import io
import itertools
import json
import shutil
import subprocess
import sys

import pytest

from tests import dataset_replicas as replicas
from tests.conftest import REPO


@pytest.fixture(scope='module')
def benchmark_setup(tmp_path_factory, synthetic_root, tiny_models_config):
    directory = tmp_path_factory.mktemp('benchmark')
    sources = itertools.cycle(sorted((synthetic_root / 'test_videos').glob('*.mp4')))

    def copy_video(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(next(sources), path)
    celeb = replicas.celeb_df_v2(directory / 'Celeb-DF-v2', copy_video)
    ff = replicas.faceforensics(directory / 'FaceForensics++', copy_video)
    return tiny_models_config, celeb, ff, directory


def run_benchmark(config, celeb, ff, out, *args):
    result = subprocess.run([sys.executable, str(REPO / 'benchmark.py'), 'run', '--config', str(config),
                             '--dataset', f'celeb-df-v2={celeb}', '--dataset', f'ff++={ff}', '--split', 'test',
                             '--out', str(out), '--detector', 'opencv', *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def scores(path):
    return {row['filename']: float(row['label']) for row in csv.DictReader(io.StringIO(path.read_text()))}


@pytest.fixture(scope='module')
def first_run(benchmark_setup):
    config, celeb, ff, directory = benchmark_setup
    return run_benchmark(config, celeb, ff, directory / 'results'), directory / 'results'


def test_run_writes_the_table_json_plot_and_reports_and_resumes(benchmark_setup, first_run):
    config, celeb, ff, directory = benchmark_setup
    first, out = first_run
    assert 'celeb-df-v2: 3 videos scored (3 now, 0 before), 1 listed but missing' in first.stdout
    assert 'ff++: 5 videos scored (5 now, 0 before), 1 listed but missing' in first.stdout
    results = json.loads((out / 'results.json').read_text())
    assert results['split'] == 'test' and set(results['aggregation']) == {'video', 'frame', 'accuracy', 'eer'}
    celeb_result, ff_result = results['datasets']
    assert (celeb_result['dataset'], celeb_result['videos'], celeb_result['real'], celeb_result['fake'],
            celeb_result['missing'], celeb_result['listed']) == ('celeb-df-v2', 3, 2, 1, 1, 4)
    assert set(celeb_result['video']) == {'roc_auc', 'log_loss', 'accuracy', 'eer', 'average_precision', 'brier',
                                          'ece'}
    assert celeb_result['frame']['frames'] > 0 and 'methods' not in celeb_result
    assert (ff_result['videos'], ff_result['real'], ff_result['fake'], ff_result['missing']) == (5, 2, 3, 1)
    assert {m: (b['real'], b['fake']) for m, b in ff_result['methods'].items()} == {'Deepfakes': (2, 2),
                                                                                    'FaceSwap': (2, 1)}
    table = (out / 'results.md').read_text()
    assert '| celeb-df-v2 | all | 3 (2/1) | 1 |' in table and '| ff++ | FaceSwap (vs all reals) | 3 (2/1) |' in table
    assert 'frame level: every per-frame probability' in table
    assert (out / 'roc.png').read_bytes()[:4] == b'\x89PNG'
    labels = (out / 'ff++' / 'labels.csv').read_text().splitlines()
    assert labels[0] == 'filename,label,split,method' and len(labels) == 6
    ff_scores = scores(out / 'ff++' / 'scores.csv')
    assert sorted(ff_scores) == sorted(line.split(',')[0] for line in labels[1:])   # keyed by relative path
    assert (out / 'ff++' / 'report' / 'index.html').is_file()
    assert all(json.loads(line)['key'] in ff_scores for line in (out / 'ff++' / 'details.jsonl').open())

    again = run_benchmark(config, celeb, ff, out)
    assert 'ff++: 5 videos scored (0 now, 5 before)' in again.stdout, 'nothing is scored twice'
    assert json.loads((out / 'results.json').read_text()) == results


def test_shards_merged_give_the_single_run_s_scores(benchmark_setup, first_run):
    config, celeb, ff, directory = benchmark_setup
    single = first_run[1]
    sharded = directory / 'sharded'
    for part in range(2):
        result = run_benchmark(config, celeb, ff, sharded, '--part', str(part), '--num_parts', '2')
        assert f'part {part + 1}/2 done' in result.stdout and not (sharded / 'results.json').exists()
    run_benchmark(config, celeb, ff, sharded, '--merge', '--num_parts', '2')
    for name in ('celeb-df-v2', 'ff++'):
        assert scores(sharded / name / 'scores.csv') == scores(single / name / 'scores.csv')
    assert json.loads((sharded / 'results.json').read_text())['datasets'][1]['video'] == json.loads(
        (single / 'results.json').read_text())['datasets'][1]['video']
