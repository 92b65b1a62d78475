"""What every entry point shares: the argument parser, sharding, logging and the error exit."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable, Sequence, TypeVar

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
        parser.add_argument('--part', type=int, default=0, help='which shard to process, 0-based')
        parser.add_argument('--num_parts', '--num-parts', type=int, default=1, help='number of shards')
    return parser


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
