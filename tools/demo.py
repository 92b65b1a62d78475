"""The whole pipeline on the bundled synthetic data set, as `make demo` runs it.

    python tools/demo.py --config config.yaml [--tiny]

Generates the synthetic DFDC data into DFDC_DATA_PATH (once), then runs every stage script in order with
CPU-sized settings: the Haar face detector, and tiny EfficientNets (efficientnet-b0 scaled to width 0.25 and
depth 0.2, from scratch) instead of B7 from Noisy Student weights. Prints each stage's report and, at the end,
the log loss and ROC AUC on the synthetic test videos, then writes the HTML report (`artifacts/report/`), the
annotated videos (`artifacts/annotated/`) and a screenshot of the report taken in headless Chromium
(`artifacts/report.png`). `--tiny` is the few-second version the tests run.
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
from dfdc.demo import DETECTOR, TINY_DATA, TRAIN_SCRIPTS, copy_weights_arguments, train_arguments  # noqa: E402
from dfdc.report import screenshot  # noqa: E402
from dfdc.synthetic import SIDECAR_NAME, TEST_LABELS_NAME  # noqa: E402

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
    parser.add_argument('--tiny', action='store_true', help='a smaller data set and 2 training iterations')
    args = parser.parse_args(argv)
    config = load_config(args.config)
    cfg = ['--config', str(config.source)]
    start = time.perf_counter()
    if not (config.DFDC_DATA_PATH / SIDECAR_NAME).is_file():
        stage('synthetic data', 'tools/make_synthetic_dfdc.py', '--out', str(config.DFDC_DATA_PATH),
              *(TINY_DATA if args.tiny else []))
    else:
        print(f'synthetic data already in {config.DFDC_DATA_PATH}')
    stage('stage 1, detect faces', 'detect_faces_on_videos.py', *cfg, *DETECTOR)
    stage('stage 2, tracks', 'generate_tracks.py', *cfg)
    stage('stage 3, aligned tracks', 'generate_aligned_tracks.py', *cfg)
    stage('stage 4, face clips', 'extract_tracks_from_videos.py', *cfg)
    stage('stage 5, track pairs', 'generate_track_pairs.py', *cfg)
    for script in TRAIN_SCRIPTS:
        stage(f'training, {script}', script, *cfg, *train_arguments(args.tiny))
    stage('final FP16 weights', 'copy_weights.py', *cfg, *copy_weights_arguments(args.tiny))
    details = config.ARTIFACTS_PATH / 'predict_details.jsonl'
    annotated = config.ARTIFACTS_PATH / 'annotated'
    stage('prediction', 'predict.py', *cfg, *DETECTOR, '--details', str(details), '--profile',
          '--annotate', str(annotated))
    labels = str(config.DFDC_DATA_PATH / TEST_LABELS_NAME)
    stage('evaluation', 'evaluate.py', '--submission', str(config.SUBMISSION_PATH), '--labels', labels, '--plot',
          str(config.ARTIFACTS_PATH / 'roc.png'), '--json', str(config.ARTIFACTS_PATH / 'metrics.json'))
    report = config.ARTIFACTS_PATH / 'report'
    stage('report', 'report.py', '--details', str(details), '--labels', labels, '--out', str(report))
    print(f'\ndemo finished in {time.perf_counter() - start:.0f} s; artifacts in {config.ARTIFACTS_PATH}')
    print(f'open the report: {(report / "index.html").resolve().as_uri()}')
    videos = sorted(annotated.glob('*.mp4'))
    if videos:
        print(f'annotated videos: {annotated} ({len(videos)}, e.g. {videos[0].name})')
    try:
        screenshot(report, config.ARTIFACTS_PATH / 'report.png')
        print(f'screenshot of the report (headless Chromium): {config.ARTIFACTS_PATH / "report.png"}')
    except RuntimeError as error:
        print(f'note: no screenshot of the report: {error}')
    return 0


if __name__ == '__main__':
    sys.exit(run_main(main))
