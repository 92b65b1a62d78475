"""Shards from the scheduler: `--part auto` / `--num_parts auto` (dfdc/cli.py)."""
import os
import subprocess
import sys

import pytest

from dfdc.cli import UserError, get_args_parser, resolve_shard, shard
from tests.conftest import REPO


def parse(*argv: str, environ: dict[str, str]):
    return resolve_shard(get_args_parser(sharded=True).parse_args(argv), environ)


def slurm_array(task: int, first: int, last: int, **extra: str) -> dict[str, str]:
    return {'SLURM_ARRAY_TASK_ID': str(task), 'SLURM_ARRAY_TASK_MIN': str(first), 'SLURM_ARRAY_TASK_MAX': str(last),
            'SLURM_ARRAY_TASK_COUNT': str(last - first + 1), 'SLURM_ARRAY_TASK_STEP': '1', **extra}


def test_explicit_numbers_need_no_environment():
    args = parse('--part', '3', '--num_parts', '8', environ={})
    assert (args.part, args.num_parts) == (3, 8)
    args = parse(environ=slurm_array(5, 0, 7))   # defaults stay 0 of 1 inside an array too
    assert (args.part, args.num_parts) == (0, 1)


def test_slurm_array_gives_part_and_count():
    for task in range(4):
        args = parse('--part', 'auto', '--num_parts', 'auto', environ=slurm_array(task, 0, 3))
        assert (args.part, args.num_parts) == (task, 4)
    # A 1-based array is the same four shards.
    assert [parse('--part', 'auto', '--num_parts', 'auto', environ=slurm_array(t, 1, 4)).part
            for t in range(1, 5)] == [0, 1, 2, 3]
    # Only the count known: still the whole array.
    environ = {'SLURM_ARRAY_TASK_ID': '2', 'SLURM_ARRAY_TASK_MIN': '0', 'SLURM_ARRAY_TASK_COUNT': '3'}
    assert vars(parse('--part', 'auto', '--num_parts', 'auto', environ=environ)) == {
        'config': None, 'part': 2, 'num_parts': 3}


def test_explicit_count_takes_the_array_index_as_the_shard():
    """A resubmission of two failed shards (`--array=3,17`) still names shards 3 and 17 of 32."""
    environ = {'SLURM_ARRAY_TASK_ID': '17', 'SLURM_ARRAY_TASK_MIN': '3', 'SLURM_ARRAY_TASK_MAX': '17',
               'SLURM_ARRAY_TASK_COUNT': '2'}
    args = parse('--part', 'auto', '--num_parts', '32', environ=environ)
    assert (args.part, args.num_parts) == (17, 32)
    with pytest.raises(UserError, match='not a shard of --num_parts 4.*--array=0-3'):
        parse('--part', 'auto', '--num_parts', '4', environ=slurm_array(4, 1, 4))
    with pytest.raises(UserError, match='contiguous array'):
        parse('--part', 'auto', '--num_parts', 'auto', environ=environ)
    with pytest.raises(UserError, match='contiguous array'):
        parse('--part', 'auto', '--num_parts', 'auto', environ=slurm_array(2, 0, 8, SLURM_ARRAY_TASK_STEP='2'))


def test_kubernetes_indexed_job():
    args = parse('--part', 'auto', '--num_parts', '6', environ={'JOB_COMPLETION_INDEX': '5'})
    assert (args.part, args.num_parts) == (5, 6)
    with pytest.raises(UserError, match='spec.completions'):
        parse('--part', 'auto', '--num_parts', 'auto', environ={'JOB_COMPLETION_INDEX': '5'})


def test_auto_outside_an_array_task_names_the_variables():
    with pytest.raises(UserError, match='SLURM_ARRAY_TASK_ID.*JOB_COMPLETION_INDEX.*--part I --num_parts K'):
        parse('--part', 'auto', '--num_parts', '4', environ={'SLURM_JOB_ID': '12'})
    with pytest.raises(SystemExit):
        get_args_parser(sharded=True).parse_args(['--part', 'some'])


def test_a_stage_script_outside_an_array_task_fails_with_one_line(tmp_path):
    environ = {k: v for k, v in os.environ.items() if not k.startswith('SLURM_') and k != 'JOB_COMPLETION_INDEX'}
    for script in ('detect_faces_on_videos.py', 'extract_tracks_from_videos.py', 'predict.py'):
        result = subprocess.run([sys.executable, str(REPO / script), '--part', 'auto', '--num_parts', 'auto'],
                                capture_output=True, text=True, env=environ, cwd=tmp_path)
        assert result.returncode == 2, (script, result.stderr[-2000:])
        assert result.stderr.startswith('error: --part auto / --num_parts auto need the environment of an array '
                                        'task: SLURM_ARRAY_TASK_ID'), (script, result.stderr)


def test_auto_shards_cover_every_item_once():
    items = list(range(23))
    covered = []
    for task in range(1, 6):
        args = parse('--part', 'auto', '--num_parts', 'auto', environ=slurm_array(task, 1, 5))
        covered += shard(items, args.part, args.num_parts)
    assert covered == items
