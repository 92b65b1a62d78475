"""Dump every variable of a TensorFlow checkpoint to an .npz file (TensorFlow and NumPy only).

    python efficientnet/tf_checkpoint_to_npz.py CHECKPOINT_DIR_OR_PREFIX OUT.npz

Run as its own process by `efficientnet.convert`: TensorFlow and PyTorch in one process can crash.
"""
import sys

import numpy as np


def main(checkpoint: str, output: str) -> int:
    import os
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    import tensorflow as tf
    prefix = tf.train.latest_checkpoint(checkpoint) if os.path.isdir(checkpoint) else checkpoint
    if prefix is None:
        print(f'no TensorFlow checkpoint in {checkpoint}', file=sys.stderr)
        return 2
    reader = tf.train.load_checkpoint(prefix)
    arrays = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
    np.savez(output, **arrays)
    return 0


if __name__ == '__main__':
    sys.exit(main(*sys.argv[1:3]))
