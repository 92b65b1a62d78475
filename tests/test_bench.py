"""The benchmarks with tiny settings, so they keep working (their figures are not checked here)."""
import json
import subprocess
import sys

from tests.conftest import REPO


def run_bench(*command):
    result = subprocess.run(list(command), capture_output=True, text=True, cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads(next(line for line in result.stdout.splitlines() if line.startswith('{')))
    assert record['results'] and record['baseline'] in record['results']
    return record


def test_gpu_benchmark_cpu_mode():
    record = run_bench('bash', 'bench/gpu.sh', '--device', 'cpu', '--tiny')
    assert record['device'] == 'cpu' and record['tiny']


def test_loader_benchmark_tiny(tmp_path):
    record = run_bench(sys.executable, 'bench/loader.py', '--runs', '1', '--pairs', '1', '--size', '64')
    assert record['results']['ours (2 ffmpeg per pair)']['pairs_per_s'] > 0
