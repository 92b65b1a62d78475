"""The demo's CPU-sized settings for each stage, shared by `tools/demo.py` and `slurm/submit.sh --demo`."""
from __future__ import annotations

TRAIN_SCRIPTS = ('train_b7_ns_aa_original_large_crop_100k.py', 'train_b7_ns_aa_original_re_100k.py',
                 'train_b7_ns_seq_aa_original_100k.py')
# Tiny models trained from scratch: the higher learning rate and BatchNorm momentum (0.1 instead of 0.01) let
# them learn, and their running statistics settle, in a hundred iterations instead of 100,000.
TINY_MODEL = ('--arch', 'efficientnet-b0', '--override', 'width_coefficient=0.25', '--override',
              'depth_coefficient=0.2', '--override', 'batch_norm_momentum=0.9', '--pretrained', 'none', '--lr', '0.05')
DEMO_ITERS, TINY_ITERS = 100, 2
TINY_DATA = ('--parts', '2', '--reals-per-part', '2', '--fakes-per-real', '1', '--test-videos', '4',
             '--size', '320x180', '--seconds', '3', '--seed', '7')
DETECTOR = ('--detector', 'opencv')   # the demo has no DSFD weights


def iterations(tiny: bool) -> int:
    return TINY_ITERS if tiny else DEMO_ITERS


def train_arguments(tiny: bool) -> tuple[str, ...]:
    """What every training script gets in the demo (the run resumes: a second demo run goes straight on)."""
    iters = str(iterations(tiny))
    return (*TINY_MODEL, '--max-iters', iters, '--warmup-iters', '5', '--batch-size', '2', '--num-workers', '1',
            '--snapshot-every', iters, '--resume')


def copy_weights_arguments(tiny: bool) -> tuple[str, ...]:
    return '--iteration', str(iterations(tiny)), '--force'
