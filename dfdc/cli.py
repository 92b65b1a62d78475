"""What every entry point shares: the argument parser, sharding, logging and the error exit."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Callable, Mapping, Sequence, TypeVar

from .config import ConfigError

T = TypeVar('T')
log = logging.getLogger('dfdc')


class UserError(Exception):
    """An error that stops the whole run (bad arguments, unwritable output); the message says what to do."""


def get_args_parser(description: str | None = None, sharded: bool = False) -> argparse.ArgumentParser:
    """The parser every script starts from: `--config`, and `--part/--num_parts` for the sharded stages."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--config', default=None, help='path to config.yaml (default: the one in the repository)')
    if sharded:
        parser.add_argument('--part', type=shard_number, default=0,
                            help='which shard to process, 0-based; auto: the array task\'s (SLURM_ARRAY_TASK_ID or '
                                 'JOB_COMPLETION_INDEX)')
        parser.add_argument('--num_parts', '--num-parts', type=shard_number, default=1,
                            help='number of shards; auto: the SLURM array\'s size')
    return parser


def shard_number(text: str) -> int | str:
    """`--part`/`--num_parts`: a whole number, or `auto` (resolved by `resolve_shard` from the environment)."""
    if text == 'auto':
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a whole number or auto, got {text!r}') from None


SHARD_VARIABLES = ('SLURM_ARRAY_TASK_ID (a SLURM array task: sbatch --array) or JOB_COMPLETION_INDEX '
                   '(a Kubernetes Indexed Job)')


def resolve_shard(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> argparse.Namespace:
    """Replace `--part auto` and `--num_parts auto` with the shard of the array task this process runs in.

    SLURM: with `--num_parts auto` the whole array is the set of shards (`--array=0-31` or `1-32`: 32 parts, the
    task's index minus the array's first); with an explicit `--num_parts K` the array index is the shard number
    itself, so a resubmission of some shards (`--array=3,17`) works. Kubernetes Indexed Jobs: the completion index
    is the shard; the number of completions is not visible to a pod, so `--num_parts` must be given."""
    environ = os.environ if environ is None else environ
    part, num_parts = args.part, args.num_parts
    if part != 'auto' and num_parts != 'auto':
        return args
    slurm, kubernetes = environ.get('SLURM_ARRAY_TASK_ID'), environ.get('JOB_COMPLETION_INDEX')
    if slurm is not None:
        index, first = int(slurm), int(environ.get('SLURM_ARRAY_TASK_MIN', '0'))
        if num_parts == 'auto':
            num_parts = slurm_array_size(environ)
            index -= first
    elif kubernetes is not None:
        if num_parts == 'auto':
            raise UserError('--num_parts auto: a Kubernetes pod cannot see its Job\'s completions; pass --num_parts '
                            'equal to the Job\'s spec.completions')
        index = int(kubernetes)
    else:
        raise UserError(f'--part auto / --num_parts auto need the environment of an array task: {SHARD_VARIABLES}, '
                        'and neither is set; outside one, pass --part I --num_parts K')
    if part == 'auto':
        part = index
    if not 0 <= part < num_parts:
        raise UserError(f'array task {index} is not a shard of --num_parts {num_parts}: with an explicit --num_parts '
                        f'K, submit the array as --array=0-{num_parts - 1}')
    args.part, args.num_parts = part, num_parts
    return args


def slurm_array_size(environ: Mapping[str, str]) -> int:
    """The number of tasks of the SLURM array, which must be contiguous (`--array=A-B`, step 1)."""
    first, last = int(environ.get('SLURM_ARRAY_TASK_MIN', '0')), environ.get('SLURM_ARRAY_TASK_MAX')
    count, step = environ.get('SLURM_ARRAY_TASK_COUNT'), int(environ.get('SLURM_ARRAY_TASK_STEP', '1'))
    if last is None and count is None:
        raise UserError('--num_parts auto: SLURM_ARRAY_TASK_MAX and SLURM_ARRAY_TASK_COUNT are not set; pass '
                        '--num_parts K')
    span = int(last) - first + 1 if last is not None else int(count)
    if step != 1 or (count is not None and int(count) != span):
        raise UserError(f'--num_parts auto needs a contiguous array (--array=A-B); this one has '
                        f'{count or "?"} tasks from {first} to {last} in steps of {step}: pass --num_parts K')
    return span


def shard(items: Sequence[T], part: int, num_parts: int) -> Sequence[T]:
    """The published sharding: `part_size = len // K + 1`; part I covers `[I*part_size, min((I+1)*part_size, len))`."""
    if num_parts < 1:
        raise UserError(f'--num_parts must be at least 1, got {num_parts}')
    if not 0 <= part < num_parts:
        raise UserError(f'--part must be in [0, {num_parts - 1}], got {part}')
    part_size = len(items) // num_parts + 1
    return items[part * part_size:min((part + 1) * part_size, len(items))]


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(message)s', stream=sys.stderr)
    # tqdm bars and warnings share stderr; keep the warnings on their own lines.
    logging.captureWarnings(True)


def run_main(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    """Run a script's main; configuration and user errors become one line on stderr and exit code 2."""
    from tqdm.contrib.logging import logging_redirect_tqdm

    setup_logging()
    try:
        # Warnings are printed above the progress bars instead of breaking them.
        with logging_redirect_tqdm():
            return main(argv) or 0
    except (ConfigError, UserError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('interrupted; completed outputs are kept, re-run the same command to continue', file=sys.stderr)
        return 130
