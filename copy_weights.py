"""Cast the final snapshots of the three runs (and the detector) to FP16 under the published names.

    python copy_weights.py --config config.yaml [--iteration 100000] [--force]

Writes MODELS_PATH/<run name>_v4_cad79a/snapshot_100000.fp16.pth and MODELS_PATH/WIDERFace_DSFD_RES152.fp16.pth,
each with a JSON beside it (architecture and SHA-256).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from dfdc.cli import UserError, get_args_parser, run_main
from dfdc.config import load_config
from dfdc.detectors import load_state_dict
from dfdc.fileio import atomic_path, atomic_write_bytes
from dfdc.models import DETECTOR_WEIGHTS_NAME, ENSEMBLE, published_spec, sha256_file, weights_path
from dfdc.train import MODEL_SPEC_FILE
from efficientnet import create_model, model_spec_from_json

DEFAULT_DETECTOR = 'external_data/WIDERFace_DSFD_RES152.pth'


def write_fp16(state: dict, output: Path, spec: dict, force: bool) -> str:
    if output.exists() and not force:
        raise UserError(f'{output} exists; pass --force to overwrite it')
    with atomic_path(output) as temp:
        torch.save({k: v.half() if v.is_floating_point() else v for k, v in state.items()}, temp)
    digest = sha256_file(output)
    atomic_write_bytes(output.with_suffix('.json'), json.dumps({**spec, 'sha256': digest}, indent=1).encode())
    return digest


def main(argv=None) -> int:
    parser = get_args_parser(__doc__.splitlines()[0])
    parser.add_argument('--iteration', type=int, default=100_000, help='which snapshot_<it>.pth of each run')
    parser.add_argument('--best', action='store_true',
                        help='take each run\'s best.pth (the best validation snapshot of a --val run) instead')
    parser.add_argument('--detector-weights', default=DEFAULT_DETECTOR, help='DSFD weights ("none" to skip)')
    parser.add_argument('--force', action='store_true', help='overwrite existing final weights')
    args = parser.parse_args(argv)
    config = load_config(args.config)
    for run_name, _, sequence in ENSEMBLE:
        directory = config.snapshots_dir(run_name)
        snapshot = directory / ('best.pth' if args.best else f'snapshot_{args.iteration}.pth')
        if not snapshot.is_file():
            raise UserError(f'{snapshot} does not exist; train {run_name} first (or pass '
                            f'{"--val to training" if args.best else "--iteration"})')
        spec_file = directory / MODEL_SPEC_FILE
        spec = json.loads(spec_file.read_text()) if spec_file.is_file() else published_spec(sequence)
        state = load_state_dict(snapshot)
        try:
            create_model(**model_spec_from_json(spec)).load_state_dict(state, strict=True)
        except RuntimeError as error:
            raise UserError(f'{snapshot} does not fit its architecture {spec}: {str(error).splitlines()[0]}') from None
        output = weights_path(config.MODELS_PATH, run_name)
        digest = write_fp16(state, output, {**spec, 'source': str(snapshot)}, args.force)
        print(f'{output} (sha256 {digest[:12]})')
    detector = Path(args.detector_weights)
    if args.detector_weights.lower() == 'none':
        pass
    elif detector.is_file():
        from dsfd import SSD
        state = load_state_dict(detector)
        SSD().load_state_dict(state, strict=True)
        output = config.MODELS_PATH / DETECTOR_WEIGHTS_NAME
        digest = write_fp16(state, output, {'name': 'dsfd-resnet152', 'source': str(detector)}, args.force)
        print(f'{output} (sha256 {digest[:12]})')
    else:
        print(f'note: {detector} not found, detector weights not copied (predict.py --detector opencv needs none)')
    return 0


if __name__ == '__main__':
    sys.exit(run_main(main))
