"""Adapting to new fakes on synthetic data: fine-tune the demo's weights, calibrate, and measure both.

    python tools/adapt_demo.py --config config.yaml      # after tools/demo.py (make demo), which it reads

The demo's models learned one kind of face swap (blurry, Poisson-blended). This makes a second synthetic data set
with another kind (`--artefact blocky`: pixel-blocky, hard-edged swaps) in one's-own-data layout (`labels.csv`,
some fakes and reals without a pairing), with validation and test videos. It scores the test videos with the
demo's weights, runs stages 1-5 on the new set, fine-tunes each model from the demo's final weights (`--init
--finetune`, validating through the predictor and keeping the best snapshot), scores the test videos again, then
fits the score transform on the validation videos (`calibrate.py`) and scores the test videos a third time. The
test videos are used for nothing but these scores.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dfdc.cli import UserError, run_main  # noqa: E402
from dfdc.config import load_config  # noqa: E402
from dfdc.models import ENSEMBLE, weights_path  # noqa: E402
from dfdc.synthetic import TEST_LABELS_NAME, VAL_LABELS_NAME  # noqa: E402

TRAIN_SCRIPTS = {'efficientnet-b7_ns_seq_aa-original-mstd0.5_100k': 'train_b7_ns_seq_aa_original_100k.py',
                 'efficientnet-b7_ns_aa-original-mstd0.5_large_crop_100k': 'train_b7_ns_aa_original_large_crop_100k.py',
                 'efficientnet-b7_ns_aa-original-mstd0.5_re_100k': 'train_b7_ns_aa_original_re_100k.py'}
NEW_DATA = ['--layout', 'labels', '--artefact', 'blocky', '--parts', '2', '--reals-per-part', '4',
            '--fakes-per-real', '2', '--val-videos', '16', '--test-videos', '16', '--size', '320x180', '--seconds', '3',
            '--seed', '101']
TINY_DATA = ['--layout', 'labels', '--artefact', 'blocky', '--parts', '1', '--reals-per-part', '3',
             '--fakes-per-real', '1', '--val-videos', '4', '--test-videos', '4', '--size', '320x180', '--seconds', '3',
             '--seed', '101']
FINETUNE = ['--finetune', '--max-iters', '60', '--snapshot-every', '20', '--batch-size', '2', '--num-workers', '1',
            '--val-detector', 'opencv', '--lr', '0.005']
TINY_FINETUNE = ['--finetune', '--max-iters', '2', '--snapshot-every', '1', '--batch-size', '2', '--num-workers', '0',
                 '--val-detector', 'opencv']


def run(title: str, *command: str) -> str:
    print(f'\n== {title}: {" ".join(command)}', flush=True)
    result = subprocess.run([sys.executable, *command], cwd=REPO, capture_output=True, text=True)
    sys.stdout.write(result.stdout)
    if result.returncode != 0:
        sys.stderr.write(result.stderr[-3000:])
        raise SystemExit(f'adapt demo: {title} failed with exit code {result.returncode}')
    return result.stdout


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=str(REPO / 'config.yaml'), help='the demo\'s config')
    parser.add_argument('--tiny', action='store_true', help='a smaller data set and 2 iterations (the tests)')
    args = parser.parse_args(argv)
    demo = load_config(args.config)
    for run_name, _, _ in ENSEMBLE:
        if not weights_path(demo.MODELS_PATH, run_name).is_file():
            raise UserError(f'{weights_path(demo.MODELS_PATH, run_name)} does not exist; run the demo first '
                            '(make demo)')
    root = demo.ARTIFACTS_PATH / 'adapt'
    data, models = root / 'data', root / 'models'
    config = root / 'config.yaml'
    root.mkdir(parents=True, exist_ok=True)
    config.write_text(f'DFDC_DATA_PATH: {data}\nARTIFACTS_PATH: {root / "artifacts"}\nMODELS_PATH: {models}\n'
                      f'SUBMISSION_PATH: {root / "submission.csv"}\n')
    cfg = ['--config', str(config)]
    start = time.perf_counter()
    if not (data / 'labels.csv').is_file():
        run('new synthetic data, another artefact', 'tools/make_synthetic_dfdc.py', '--out', str(data),
            *(TINY_DATA if args.tiny else NEW_DATA))
    test, val = data / 'test_videos', data / VAL_LABELS_NAME
    scores = {}

    def score(name: str, models_path: Path, *extra: str) -> None:
        output = root / f'test_{name.replace(" ", "_")}.csv'
        run(f'test videos, {name}', 'predict.py', '--config', str(args.config) if models_path == demo.MODELS_PATH
            else str(config), '--detector', 'opencv', '--input', str(test), '--output', str(output), *extra)
        scores[name] = run(f'evaluation, {name}', 'evaluate.py', '--submission', str(output), '--labels',
                           str(data / TEST_LABELS_NAME)).strip().splitlines()[-1]

    score('demo weights', demo.MODELS_PATH)
    run('stage 1', 'detect_faces_on_videos.py', *cfg, '--detector', 'opencv')
    run('stage 2', 'generate_tracks.py', *cfg)
    run('stage 3', 'generate_aligned_tracks.py', *cfg)
    run('stage 4', 'extract_tracks_from_videos.py', *cfg)
    run('stage 5', 'generate_track_pairs.py', *cfg)
    for run_name, _, _ in ENSEMBLE:
        run(f'fine-tune {run_name}', TRAIN_SCRIPTS[run_name], *cfg, '--init',
            str(weights_path(demo.MODELS_PATH, run_name)), '--val', str(val), '--resume',
            *(TINY_FINETUNE if args.tiny else FINETUNE))
    run('final weights of the best snapshots', 'copy_weights.py', *cfg, '--best', '--force')
    (models / 'calibration.json').unlink(missing_ok=True)
    score('fine-tuned', models)
    details = root / 'val_details.jsonl'
    run('validation videos, fine-tuned', 'predict.py', *cfg, '--detector', 'opencv', '--input',
        str(data / 'val_videos'), '--output', str(root / 'val.csv'), '--details', str(details))
    run('calibration on the validation videos', 'calibrate.py', *cfg, '--details', str(details), '--labels', str(val))
    score('fine-tuned and calibrated', models)
    print(f'\nadapt demo finished in {time.perf_counter() - start:.0f} s; on the {len(list(test.glob("*.mp4")))} test '
          'videos of the new artefact:')
    for name, line in scores.items():
        print(f'  {name:<26} {line}')
    return 0


if __name__ == '__main__':
    sys.exit(run_main(main))
