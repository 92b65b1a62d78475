"""A smaller end-to-end run of the whole pipeline, through the demo script the README's demo command runs."""
import json
import subprocess
import sys

from tests.conftest import REPO, write_config


def test_tiny_demo_runs_every_stage_and_prints_metrics(tmp_path):
    config_path = write_config(tmp_path, tmp_path / 'data')
    result = subprocess.run([sys.executable, str(REPO / 'tools' / 'demo.py'), '--config', str(config_path), '--tiny'],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for report in ('stage 1:', 'stage 2:', 'stage 3:', 'stage 4:', 'stage 5:', 'snapshot_100000.fp16.pth',
                   'predict: 4 videos scored', 'log loss', 'ROC AUC', 'demo finished'):
        assert report in result.stdout, report
    metrics = json.loads((tmp_path / 'artifacts' / 'metrics.json').read_text())
    assert metrics['videos'] == 4 and 0 <= metrics['log_loss'] < 10
    assert (tmp_path / 'submission.csv').read_text().startswith('filename,label\n')
    assert (tmp_path / 'artifacts' / 'roc.png').is_file()
    assert (tmp_path / 'artifacts' / 'report' / 'index.html').is_file() and 'open the report: file://' in result.stdout
    assert list((tmp_path / 'artifacts' / 'annotated').glob('*.mp4'))
    assert (tmp_path / 'artifacts' / 'report.png').read_bytes()[:4] == b'\x89PNG'
    adapt = subprocess.run([sys.executable, str(REPO / 'tools' / 'adapt_demo.py'), '--config', str(config_path),
                            '--tiny'], capture_output=True, text=True, timeout=900)
    assert adapt.returncode == 0, adapt.stdout[-3000:] + adapt.stderr[-3000:]
    summary = adapt.stdout.split('adapt demo finished')[1]
    for line in ('demo weights', 'fine-tuned', 'fine-tuned and calibrated'):
        assert f'  {line} ' in summary and 'log loss' in summary, line
    assert 'single clips' in adapt.stdout and 'calibrate: ' in adapt.stdout
    assert (tmp_path / 'artifacts' / 'adapt' / 'models' / 'calibration.json').is_file()
