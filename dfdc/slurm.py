"""The whole pipeline as one SLURM submission: a chain of batch jobs joined by `--dependency=afterok`.

    slurm/submit.sh --config config.yaml --parts 32 [--gpus-per-task 1] [--partition gpu] [--from STAGE] [--dry-run]

Each step is one batch script in `slurm/` that runs one of the stage scripts; the sharded steps (stage 1, stage 4,
prediction) are job arrays whose tasks find their shard with `--part auto --num_parts auto`. Every job is submitted
with `--kill-on-invalid-dep=yes`, so a failed or cancelled job takes the rest of its chain with it instead of
leaving it pending forever. Submitting again re-runs only what is not done: each stage skips the outputs it
finds, training resumes from its latest snapshot and prediction from its scores. A submission refuses to start
while jobs of an earlier one are still queued or running, so no two jobs ever work on the same shard.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from . import demo
from .cli import UserError, run_main
from .config import Config, load_config
from .synthetic import SIDECAR_NAME

REPO = Path(__file__).resolve().parent.parent
STAGES = ('data', 'detect', 'tracks', 'aligned-tracks', 'clips', 'pairs', 'train', 'copy-weights', 'predict',
          'merge')
JOBS_FILE = 'jobs.tsv'
# Sized for the published run (119,000 training videos, B7 at 100,000 iterations of 8 pairs on one GPU each, as
# published): override any of them with --resources STEP='--time=... --mem=...'.
RESOURCES = {
    'data': '--cpus-per-task=1 --mem=4G --time=01:00:00',
    'detect': '--cpus-per-task=8 --mem=32G --time=08:00:00',
    'tracks': '--cpus-per-task=2 --mem=16G --time=02:00:00',
    'aligned-tracks': '--cpus-per-task=2 --mem=16G --time=02:00:00',
    'clips': '--cpus-per-task=4 --mem=16G --time=08:00:00',
    'pairs': '--cpus-per-task=1 --mem=8G --time=01:00:00',
    # ffmpeg re-encodes every training pair on the fly: the CPUs feed the GPU.
    'train': '--cpus-per-task=16 --mem=96G --time=3-00:00:00',
    'copy-weights': '--cpus-per-task=2 --mem=16G --time=01:00:00',
    'predict': '--cpus-per-task=8 --mem=32G --time=04:00:00',
    'merge': '--cpus-per-task=1 --mem=4G --time=00:30:00',
}
DEMO_RESOURCES = '--cpus-per-task=1 --mem=2G --time=01:00:00'   # the demo's tiny run fits a 2-core node
STAGE_ARGUMENT_EXAMPLES = {'detect': '--batch-size 32', 'train': '--num-workers 8',
                           'copy-weights': '--iteration 50000', 'predict': '--details details.jsonl'}


@dataclasses.dataclass
class Job:
    """One `sbatch` call: `key` names it in the chain, `after` lists the keys it waits for."""
    key: str
    stage: str
    script: str
    arguments: list[str]
    resources: list[str]
    after: list[str] = dataclasses.field(default_factory=list)
    array: int | None = None

    @property
    def name(self) -> str:
        return f'dfdc-{self.key}'


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='slurm/submit.sh', description='Submit the whole pipeline to SLURM as one chain of dependent jobs.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog='Stages: ' + ', '.join(STAGES) + ' (data only with --demo). Run it again after a failure or a cancel: '
               'only what is not done runs.')
    parser.add_argument('--config', required=True, help='config.yaml on the shared file system')
    parser.add_argument('--parts', type=int, required=True,
                        help='array tasks for stage 1, stage 4 and prediction (shards of the videos)')
    parser.add_argument('--gpus-per-task', type=int, default=1,
                        help='GPUs of each stage-1 and prediction task (0: run them on CPUs)')
    parser.add_argument('--train-gpus', type=int, default=1,
                        help='GPUs per node of each training job (published: one; 0: train on CPUs); several run '
                             'torchrun with one process per GPU, each taking --batch-size pairs')
    parser.add_argument('--train-nodes', type=int, default=1, help='nodes of each training job (torchrun over all)')
    parser.add_argument('--train-procs', type=int, default=None,
                        help='training processes per node (default: --train-gpus, one per GPU; on CPUs, several '
                             'train over gloo)')
    parser.add_argument('--partition', default=None, help='partition of every job (default: the cluster\'s)')
    parser.add_argument('--account', default=None, help='account to charge')
    parser.add_argument('--sbatch', default='', metavar='OPTIONS', help='more sbatch options for every job, '
                        'e.g. --sbatch="--qos=normal --constraint=v100" (with "=" when it is one option)')
    parser.add_argument('--resources', action='append', default=[], metavar='STAGE=OPTIONS',
                        help='sbatch options of one stage, after the defaults (repeatable), e.g. '
                             'train="--time=2-00:00:00 --mem=128G"')
    parser.add_argument('--from', dest='start', choices=STAGES, default=None,
                        help='start the chain at this stage (its inputs must exist)')
    parser.add_argument('--dry-run', action='store_true', help='print the sbatch commands, submit nothing')
    for stage, example in STAGE_ARGUMENT_EXAMPLES.items():
        parser.add_argument(f'--{stage}-args', default='', metavar='ARGS',
                            help=f'more arguments for the {stage} script(s), e.g. "{example}"')
    parser.add_argument('--demo', action='store_true',
                        help='the demo: synthetic data (generated by the first job when missing), Haar detector, '
                             'tiny models, CPUs only, small jobs')
    parser.add_argument('--tiny', action='store_true', help='with --demo: the smaller data and 2 iterations')
    return parser


def build_chain(args: argparse.Namespace, config: Config) -> list[Job]:
    """The jobs of one submission, in submission order, from `--from` on."""
    if args.parts < 1:
        raise UserError(f'--parts must be at least 1, got {args.parts}')
    if args.tiny and not args.demo:
        raise UserError('--tiny goes with --demo')
    extra = {stage: shlex.split(getattr(args, f'{stage.replace("-", "_")}_args')) for stage in STAGE_ARGUMENT_EXAMPLES}
    resources = dict(RESOURCES)
    gpus, train_gpus = args.gpus_per_task, args.train_gpus
    if args.demo:
        resources = dict.fromkeys(RESOURCES, DEMO_RESOURCES)
        gpus = train_gpus = 0
        extra['detect'][:0] = demo.DETECTOR
        extra['train'][:0] = demo.train_arguments(args.tiny)
        extra['copy-weights'][:0] = demo.copy_weights_arguments(args.tiny)
        extra['predict'][:0] = demo.DETECTOR
    for item in args.resources:
        stage, separator, options = item.partition('=')
        if not separator or stage not in RESOURCES:
            raise UserError(f'--resources takes STAGE=OPTIONS with STAGE one of {", ".join(RESOURCES)}, got {item!r}')
        resources[stage] += ' ' + options
    gpu = [f'--gres=gpu:{gpus}'] if gpus else []
    train_gpu = [f'--gres=gpu:{train_gpus}'] if train_gpus else []
    procs = str(train_gpus if args.train_procs is None else args.train_procs)
    cfg = ['--config', str(config.source)]

    def job(key: str, script: str, arguments: Sequence[str], after: Sequence[str] = (), array: int | None = None,
            more: Sequence[str] = (), stage: str | None = None) -> Job:
        stage = stage or key
        return Job(key, stage, f'slurm/{script}.sbatch', list(arguments), [*shlex.split(resources[stage]), *more],
                   list(after), array)

    chain = []
    if args.demo and not (config.DFDC_DATA_PATH / SIDECAR_NAME).is_file():
        chain.append(job('data', 'make_synthetic_dfdc',
                         ['--out', str(config.DFDC_DATA_PATH), *(demo.TINY_DATA if args.tiny else ())]))
    chain += [
        job('detect', 'detect_faces_on_videos', [*cfg, *extra['detect']], ['data'], args.parts, gpu),
        job('tracks', 'generate_tracks', cfg, ['detect']),
        job('aligned-tracks', 'generate_aligned_tracks', cfg, ['tracks']),
        job('clips', 'extract_tracks_from_videos', cfg, ['aligned-tracks'], args.parts),
        job('pairs', 'generate_track_pairs', cfg, ['clips']),
    ]
    # train.sbatch takes the processes per node and the training script first.
    trainings = [job('train-' + script.removeprefix('train_b7_ns_').removesuffix('_100k.py').replace('_', '-'),
                     'train', [procs, script, *cfg, *extra['train']], ['pairs'],
                     more=[f'--nodes={args.train_nodes}', '--ntasks-per-node=1', *train_gpu], stage='train')
                 for script in demo.TRAIN_SCRIPTS]
    chain += trainings
    chain.append(job('copy-weights', 'copy_weights', [*cfg, *extra['copy-weights']], [t.key for t in trainings]))
    chain.append(job('predict', 'predict', [*cfg, *extra['predict']], ['copy-weights'], args.parts, gpu))
    if args.parts > 1:
        chain.append(job('merge', 'predict_merge', [*cfg, *extra['predict'], '--num_parts', str(args.parts)],
                         ['predict']))
    if args.start is not None:
        if args.start == 'data' and chain[0].stage != 'data':
            raise UserError('--from data: the demo data already exist (and data is a stage of --demo only)')
        first = STAGES.index(args.start)
        chain = [j for j in chain if STAGES.index(j.stage) >= first]
    return chain


def sbatch_command(job: Job, logs: Path, job_ids: dict[str, str], args: argparse.Namespace) -> list[str]:
    """`sbatch` for one job; dependencies only on jobs of this submission (earlier stages are done)."""
    after = [job_ids[key] for key in job.after if key in job_ids]
    log = logs / (f'{job.name}-%A_%a.out' if job.array else f'{job.name}-%j.out')
    return ['sbatch', '--parsable', f'--job-name={job.name}', f'--chdir={REPO}', f'--output={log}',
            '--kill-on-invalid-dep=yes', '--export=ALL',
            *([f'--dependency=afterok:{":".join(after)}'] if after else []),
            *([f'--array=0-{job.array - 1}'] if job.array else []),
            *([f'--partition={args.partition}'] if args.partition else []),
            *([f'--account={args.account}'] if args.account else []),
            *job.resources, *shlex.split(args.sbatch), job.script, *job.arguments]


def live_jobs(log_root: Path) -> list[str]:
    """Ids of jobs of earlier submissions under `log_root` that SLURM still lists as pending or running."""
    recorded = set()
    for jobs_file in log_root.glob(f'*/{JOBS_FILE}'):
        for line in jobs_file.read_text().splitlines()[1:]:
            recorded.add(line.split('\t')[1])
    if not recorded:
        return []
    result = subprocess.run(['squeue', '--noheader', '--format=%F'], capture_output=True, text=True)
    if result.returncode != 0:
        raise UserError(f'squeue failed: {result.stderr.strip() or result.returncode}')
    return sorted(recorded & set(result.stdout.split()), key=int)


def submit(argv: Sequence[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    config = load_config(args.config)
    chain = build_chain(args, config)
    log_root = config.ARTIFACTS_PATH / 'slurm'   # one folder per submission, named by its time
    stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S')
    logs = next(log_root / name for name in (stamp, *(f'{stamp}-{n}' for n in range(2, 100)))
                if not (log_root / name).exists())
    if args.dry_run:
        print(f'# dry run: nothing submitted; {len(chain)} jobs, logs would go to {logs}')
        placeholders = {}
        for job in chain:
            print(shlex.join(sbatch_command(job, logs, placeholders, args)))
            placeholders[job.key] = f'<{job.key}>'
        return 0
    if shutil.which('sbatch') is None:
        raise UserError('sbatch not found: submit from a SLURM login node (or see the commands with --dry-run)')
    live = live_jobs(log_root)
    if live:
        raise UserError(f'jobs of an earlier submission are still queued or running ({", ".join(live)}); wait for '
                        f'them or cancel them (scancel {" ".join(live)}), then submit again')
    logs.mkdir(parents=True, exist_ok=True)
    job_ids: dict[str, str] = {}
    jobs_file = logs / JOBS_FILE
    jobs_file.write_text('key\tjob_id\tstage\n')
    for job in chain:
        result = subprocess.run(sbatch_command(job, logs, job_ids, args), capture_output=True, text=True)
        if result.returncode != 0:
            submitted = ' '.join(job_ids.values())
            raise UserError(f'sbatch refused {job.name}: {result.stderr.strip()}'
                            + (f'; cancel what was submitted with: scancel {submitted}' if submitted else ''))
        job_ids[job.key] = result.stdout.strip().split(';')[0]
        # Recorded as each job is accepted, so an interrupted submission still knows its jobs.
        with jobs_file.open('a') as handle:
            handle.write(f'{job.key}\t{job_ids[job.key]}\t{job.stage}\n')
        array = f' (array of {job.array})' if job.array else ''
        print(f'{job.name:36} {job_ids[job.key]}{array}')
    ids = ','.join(job_ids.values())
    print(f'submitted {len(chain)} jobs; logs in {logs}')
    print(f'watch: squeue --jobs={ids}   (when done: sacct --jobs={ids} --format=JobID,JobName%30,State,Elapsed)')
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return submit(argv)


if __name__ == '__main__':
    sys.exit(run_main(main))
