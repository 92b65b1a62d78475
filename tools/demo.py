"""The whole pipeline on the bundled synthetic data set, as `make demo` runs it.

    python tools/demo.py --config config.yaml

Generates the synthetic DFDC data into DFDC_DATA_PATH (once), then runs every stage script in order with the
CPU-friendly settings (Haar face detector) and prints what each produced.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dfdc.cli import run_main  # noqa: E402
from dfdc.config import load_config  # noqa: E402
from dfdc.synthetic import SIDECAR_NAME  # noqa: E402


def stage(title: str, *command: str) -> None:
    print(f'\n== {title}: {" ".join(command)}', flush=True)
    start = time.perf_counter()
    result = subprocess.run([sys.executable, *command], cwd=REPO)
    if result.returncode != 0:
        raise SystemExit(f'demo: {title} failed with exit code {result.returncode}')
    print(f'   ({time.perf_counter() - start:.1f} s)', flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=str(REPO / 'config.yaml'))
    args = parser.parse_args(argv)
    config = load_config(args.config)
    cfg = ['--config', str(config.source)]
    start = time.perf_counter()
    if not (config.DFDC_DATA_PATH / SIDECAR_NAME).is_file():
        stage('synthetic data', 'tools/make_synthetic_dfdc.py', '--out', str(config.DFDC_DATA_PATH))
    else:
        print(f'synthetic data already in {config.DFDC_DATA_PATH}')
    stage('stage 1, detect faces', 'detect_faces_on_videos.py', *cfg, '--detector', 'opencv')
    stage('stage 2, tracks', 'generate_tracks.py', *cfg)
    stage('stage 3, aligned tracks', 'generate_aligned_tracks.py', *cfg)
    stage('stage 4, face clips', 'extract_tracks_from_videos.py', *cfg)
    stage('stage 5, track pairs', 'generate_track_pairs.py', *cfg)
    print(f'\ndemo finished in {time.perf_counter() - start:.0f} s; artifacts in {config.ARTIFACTS_PATH}')
    return 0


if __name__ == '__main__':
    sys.exit(run_main(main))
