"""Train the frame model with random erasing, `PRESETS['re']` of dfdc/train.py (defaults: B7, 100k iterations, batch 8).

    python train_b7_ns_aa_original_re_100k.py --config config.yaml
    torchrun --nproc_per_node 8 train_b7_ns_aa_original_re_100k.py --config config.yaml

Writes ARTIFACTS_PATH/snapshots/<run name>/snapshot_<it>.pth and TensorBoard logs under ARTIFACTS_PATH/logs/.
"""
import sys

from dfdc.cli import run_main
from dfdc.train import PRESETS, train_main


def main(argv=None) -> int:
    return train_main(PRESETS['re'], argv)


if __name__ == '__main__':
    sys.exit(run_main(main))
