"""The pipeline on a real scheduler: `slurm/submit.sh` (dfdc/slurm.py) against a one-node SLURM cluster that the
tests start from Debian's slurm-wlm and munge (`make test` installs them), compared with a serial run.

The cluster and the serial run are built once for the module; the two submissions take about two minutes each.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dfdc import demo
from dfdc.cli import UserError, shard
from dfdc.config import load_config
from dfdc.detection import training_videos
from dfdc.slurm import JOBS_FILE, RESOURCES, build_chain, get_args_parser, submit as submit_chain
from tests.conftest import REPO, write_config
from tests.slurm_cluster import SlurmCluster, free_port, missing_programs

SUBMIT = str(REPO / 'slurm' / 'submit.sh')
CHAIN_TIMEOUT = 900


def chain_for(*argv: str, config_path: Path):
    args = get_args_parser().parse_args(['--config', str(config_path), *argv])
    return build_chain(args, load_config(config_path))


def test_chain_order_dependencies_and_resources(tmp_path):
    config_path = write_config(tmp_path, tmp_path / 'data')
    chain = chain_for('--parts', '8', config_path=config_path)
    keys = [job.key for job in chain]
    assert keys == ['detect', 'tracks', 'aligned-tracks', 'clips', 'pairs', 'train-aa-original-large-crop',
                    'train-aa-original-re', 'train-seq-aa-original', 'copy-weights', 'predict', 'merge']
    jobs = {job.key: job for job in chain}
    assert jobs['copy-weights'].after == keys[5:8] and all(jobs[k].after == ['pairs'] for k in keys[5:8])
    sharded = ('detect', 'clips', 'predict')
    assert {k: jobs[k].array for k in sharded} == dict.fromkeys(sharded, 8)
    assert '--gres=gpu:1' in jobs['detect'].resources and '--gres=gpu:1' in jobs['predict'].resources
    assert not any(r.startswith('--gres') for r in jobs['clips'].resources)   # stage 4 is CPU only
    assert jobs['train-aa-original-re'].arguments[:4] == ['1', 'train_b7_ns_aa_original_re_100k.py', '--config',
                                                          str(config_path.resolve())]
    assert jobs['merge'].arguments[-2:] == ['--num_parts', '8']
    # Every job in an earlier position than the jobs that wait for it.
    assert all(keys.index(after) < keys.index(job.key) for job in chain for after in job.after if after in keys)
    cpu = {job.key: job for job in chain_for('--parts', '1', '--gpus-per-task', '0', '--train-gpus', '2',
                                             '--train-nodes', '4', '--resources', 'train=--time=1:00:00',
                                             config_path=config_path)}
    assert 'merge' not in cpu and not any(r.startswith('--gres') for r in cpu['detect'].resources)
    assert cpu['train-seq-aa-original'].resources[-4:] == ['--time=1:00:00', '--nodes=4', '--ntasks-per-node=1',
                                                           '--gres=gpu:2']
    assert cpu['train-seq-aa-original'].arguments[0] == '2'   # one process per GPU
    assert chain_for('--parts', '1', '--demo', '--train-procs', '3',
                     config_path=config_path)[-3].arguments[0] == '3'
    later = chain_for('--parts', '2', '--from', 'copy-weights', config_path=config_path)
    assert [job.key for job in later] == ['copy-weights', 'predict', 'merge']


def test_demo_chain_generates_missing_data_and_fits_a_small_node(tmp_path):
    config_path = write_config(tmp_path, tmp_path / 'data')
    chain = chain_for('--parts', '2', '--demo', '--tiny', config_path=config_path)
    assert chain[0].key == 'data' and chain[0].arguments == ['--out', str(tmp_path / 'data'), *demo.TINY_DATA]
    assert all('--cpus-per-task=1' in job.resources and not any('gpu' in r for r in job.resources) for job in chain)
    assert chain[1].arguments[-2:] == list(demo.DETECTOR)
    assert chain[6].key.startswith("train") and chain[6].arguments[4:] == list(demo.train_arguments(tiny=True))
    with pytest.raises(UserError, match='STAGE=OPTIONS'):
        chain_for('--parts', '2', '--resources', 'training=--mem=1G', config_path=config_path)
    with pytest.raises(UserError, match='--parts must be at least 1'):
        chain_for('--parts', '0', config_path=config_path)
    assert set(RESOURCES) == {job.stage for job in chain}


def test_dry_run_prints_the_sbatch_commands_and_submits_nothing(tmp_path):
    config_path = write_config(tmp_path, tmp_path / 'data')
    result = subprocess.run([SUBMIT, '--config', str(config_path), '--parts', '3', '--partition', 'gpu',
                             '--sbatch=--qos=long', '--dry-run'], capture_output=True, text=True,
                            env={'PATH': '/usr/bin:/bin', 'DFDC_PYTHON': sys.executable})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith('# dry run: nothing submitted; 11 jobs')
    assert all(line.startswith('sbatch --parsable --job-name=dfdc-') and '--partition=gpu' in line
               and '--qos=long' in line for line in lines[1:])
    assert '--array=0-2' in lines[1] and "'--dependency=afterok:<detect>'" in lines[2]
    assert "'--dependency=afterok:<train-aa-original-large-crop>:<train-aa-original-re>:<train-seq-aa-original>'" \
        in lines[9]
    assert not (tmp_path / 'artifacts').exists()


def test_without_sbatch_the_submission_says_where_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv('PATH', str(tmp_path))
    with pytest.raises(UserError, match='sbatch not found: submit from a SLURM login node'):
        submit_chain(['--config', str(write_config(tmp_path, tmp_path / 'data')), '--parts', '2'])
    assert not (tmp_path / 'artifacts').exists()


# ---------------------------------------------------------------------------------------------- on the cluster

@pytest.fixture(scope='module')
def cluster(tmp_path_factory):
    missing = missing_programs()
    assert not missing, f'{", ".join(missing)} not found: `make slurm` installs Debian\'s slurm-wlm and munge'
    slurm = SlurmCluster(tmp_path_factory.mktemp('slurm')).start()
    yield slurm
    slurm.stop()


@pytest.fixture(scope='module')
def serial_run(tmp_path_factory) -> Path:
    """The demo's tiny pipeline as one process after another, no scheduler, no shards (as `tools/demo.py`)."""
    root = tmp_path_factory.mktemp('serial')
    config_path = write_config(root, root / 'data')
    cfg = ['--config', str(config_path)]
    steps = [('tools/make_synthetic_dfdc.py', '--out', str(root / 'data'), *demo.TINY_DATA),
             ('detect_faces_on_videos.py', *cfg, *demo.DETECTOR), ('generate_tracks.py', *cfg),
             ('generate_aligned_tracks.py', *cfg), ('extract_tracks_from_videos.py', *cfg),
             ('generate_track_pairs.py', *cfg),
             *((script, *cfg, *demo.train_arguments(tiny=True)) for script in demo.TRAIN_SCRIPTS),
             ('copy_weights.py', *cfg, *demo.copy_weights_arguments(tiny=True)),
             ('predict.py', *cfg, *demo.DETECTOR)]
    for script, *arguments in steps:
        result = subprocess.run([sys.executable, script, *arguments], cwd=REPO, capture_output=True, text=True)
        assert result.returncode == 0, (script, result.stderr[-3000:])
    return config_path


def outputs(config_path: Path) -> dict[str, str]:
    """SHA-256 of everything the pipeline wrote that a scheduler could change: synthetic data, detections, tracks,
    aligned tracks, every clip file, the pairs, snapshots, final weights and the submission."""
    config = load_config(config_path)
    roots = [config.DFDC_DATA_PATH, config.detections_root, config.clips_root, config.ARTIFACTS_PATH / 'snapshots',
             config.MODELS_PATH]
    files = [path for root in roots for path in root.rglob('*') if path.is_file() and path.suffix != '.json'
             and 'openvino_cache' not in path.parts]
    files += [config.tracks_path, config.aligned_tracks_path, config.track_pairs_path, config.SUBMISSION_PATH]
    base = config_path.parent
    digests = {str(path.relative_to(base)): hashlib.sha256(path.read_bytes()).hexdigest() for path in files}
    for weights in config.MODELS_PATH.rglob('*.fp16.json'):   # their 'source' names the workspace
        digests[str(weights.relative_to(base))] = json.loads(weights.read_text())['sha256']
    return digests


def submit(cluster: SlurmCluster, config_path: Path, *extra: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([SUBMIT, '--config', str(config_path), '--parts', '2', '--demo', '--tiny', *extra],
                            capture_output=True, text=True, env={**cluster.env, 'DFDC_PYTHON': sys.executable},
                            timeout=120)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def submitted_jobs(result: subprocess.CompletedProcess) -> dict[str, str]:
    """Job name -> job id, from what submit.sh printed."""
    return dict(re.findall(r'^(dfdc-\S+)\s+(\d+)', result.stdout, re.MULTILINE))


def submission_logs(config_path: Path) -> list[Path]:
    return sorted((load_config(config_path).ARTIFACTS_PATH / 'slurm').iterdir())


def stage_reports(logs: Path, job: str, prefix: str) -> list[str]:
    """The lines of a job's logs that start with `prefix`, array tasks in order."""
    paths = sorted(logs.glob(f'{job}-*.out'), key=lambda path: int(path.stem.rpartition('_')[2] or 0))
    return [line for path in paths for line in path.read_text().splitlines() if line.startswith(prefix)]


def test_demo_pipeline_on_slurm_equals_a_serial_run(cluster, request, tmp_path):
    config_path = write_config(tmp_path, tmp_path / 'data')
    result = submit(cluster, config_path)
    serial_run = request.getfixturevalue('serial_run')   # made while the cluster works through the chain
    jobs = submitted_jobs(result)
    assert list(jobs) == ['dfdc-data', 'dfdc-detect', 'dfdc-tracks', 'dfdc-aligned-tracks', 'dfdc-clips',
                          'dfdc-pairs', 'dfdc-train-aa-original-large-crop', 'dfdc-train-aa-original-re',
                          'dfdc-train-seq-aa-original', 'dfdc-copy-weights', 'dfdc-predict', 'dfdc-merge']
    assert f'watch: squeue --jobs={",".join(jobs.values())}' in result.stdout
    cluster.wait_until_done(list(jobs.values()), CHAIN_TIMEOUT)
    states = {name: cluster.job_states(job) for name, job in jobs.items()}
    [logs] = submission_logs(config_path)
    assert all(state == 'COMPLETED' for by_task in states.values() for state in by_task.values()), \
        (states, '\n'.join(p.read_text()[-1500:] for p in logs.glob('*.out')))
    assert states['dfdc-detect'].keys() == states['dfdc-predict'].keys() == {'0', '1'}
    # Each array task took its own shard through --part auto --num_parts auto.
    assert stage_reports(logs, 'dfdc-detect', 'stage 1:') == [
        'stage 1: 5 videos in part 1/2: 5 detected, 0 already done, 0 unreadable',
        'stage 1: 3 videos in part 2/2: 3 detected, 0 already done, 0 unreadable']
    assert [line.split(':')[1].split(' in part ')[1] for line in stage_reports(logs, 'dfdc-clips', 'stage 4:')] == [
        '1/2', '2/2']
    keys = [name.removeprefix('dfdc-') for name in jobs]
    assert (logs / JOBS_FILE).read_text().splitlines()[1:] == [
        f'{key}\t{job}\t{"train" if key.startswith("train") else key}' for key, job in zip(keys, jobs.values())]
    assert outputs(config_path) == outputs(serial_run)


def test_cancelled_array_task_then_resubmission_finishes_without_redoing_work(cluster, serial_run, tmp_path):
    config_path = write_config(tmp_path, tmp_path / 'data')
    shutil.copytree(load_config(serial_run).DFDC_DATA_PATH, tmp_path / 'data')   # no data job this time
    config = load_config(config_path)
    first = submitted_jobs(submit(cluster, config_path))
    assert 'dfdc-data' not in first
    refused = submit(cluster, config_path, check=False)
    assert refused.returncode == 2 and 'jobs of an earlier submission are still queued or running' in refused.stderr
    assert len(submission_logs(config_path)) == 1

    # Freeze stage 1's first task as soon as it wrote its first video, count, then cancel it.
    shard_videos = shard(training_videos(config.DFDC_DATA_PATH), 0, 2)
    detect = first['dfdc-detect']
    deadline = time.monotonic() + 300
    while not any(config.detections_path(v).is_file() for v in shard_videos):
        assert time.monotonic() < deadline, cluster.logs()
        time.sleep(0.02)
    cluster.run('scontrol', 'suspend', f'{detect}_0')
    done_before_cancel = sum(config.detections_path(v).is_file() for v in shard_videos)
    cluster.run('scancel', f'{detect}_0')
    cluster.wait_until_done(list(first.values()), CHAIN_TIMEOUT)
    assert 1 <= done_before_cancel < len(shard_videos)
    assert cluster.job_states(detect)['0'] == 'CANCELLED'
    # The rest of the chain was cancelled with it (--kill-on-invalid-dep), not left pending.
    assert all(state == 'CANCELLED' for name, job in first.items() if name not in ('dfdc-detect',)
               for state in cluster.job_states(job).values())
    assert not (config.ARTIFACTS_PATH / 'tracks.pkl').exists()

    second = submitted_jobs(submit(cluster, config_path))
    assert set(second.values()).isdisjoint(first.values())
    cluster.wait_until_done(list(second.values()), CHAIN_TIMEOUT)
    first_logs, second_logs = submission_logs(config_path)
    assert all(state == 'COMPLETED' for job in second.values() for state in cluster.job_states(job).values()), \
        '\n'.join(p.read_text()[-1500:] for p in second_logs.glob('*.out'))
    # Nothing done twice: what the cancelled task finished is skipped, the other shard is skipped whole.
    assert stage_reports(second_logs, 'dfdc-detect', 'stage 1:') == [
        f'stage 1: 5 videos in part 1/2: {5 - done_before_cancel} detected, {done_before_cancel} already done, '
        '0 unreadable',
        'stage 1: 3 videos in part 2/2: 0 detected, 3 already done, 0 unreadable']
    assert stage_reports(first_logs, 'dfdc-detect', 'stage 1:') == [
        'stage 1: 3 videos in part 2/2: 3 detected, 0 already done, 0 unreadable']
    # Nothing lost: no temporary files left behind, and the outputs are the serial run's.
    leftovers = [p for p in config.ARTIFACTS_PATH.rglob('.*')]
    assert not leftovers, leftovers
    assert outputs(config_path) == outputs(serial_run)


def test_a_refused_job_stops_the_submission_with_the_reason(cluster, tmp_path):
    config_path = write_config(tmp_path, tmp_path / 'data')
    result = submit(cluster, config_path, '--partition', 'nosuchpartition', check=False)
    assert result.returncode == 2 and result.stderr.startswith('error: sbatch refused dfdc-data:'), result.stderr
    assert 'partition' in result.stderr.lower()
    [logs] = submission_logs(config_path)
    assert (logs / JOBS_FILE).read_text() == 'key\tjob_id\tstage\n'


def test_auto_shards_inside_an_array_task(cluster, tmp_path):
    """Any sharded script finds its shard from the array task: here the resolution alone, printed per task."""
    probe = ('from dfdc.cli import get_args_parser, resolve_shard; '
             'a = resolve_shard(get_args_parser(sharded=True).parse_args(["--part", "auto", "--num_parts", "auto"])); '
             'print(a.part, a.num_parts)')
    job = cluster.run('sbatch', '--parsable', '--array=1-3', '--cpus-per-task=1', '--mem=100M', f'--chdir={REPO}',
                      f'--output={tmp_path}/task-%a.out', '--wrap', f"{sys.executable} -c '{probe}'").stdout.strip()
    cluster.wait_until_done([job], 120)
    assert [(tmp_path / f'task-{t}.out').read_text().strip() for t in (1, 2, 3)] == ['0 3', '1 3', '2 3']


def test_training_job_runs_torchrun_through_srun(cluster, serial_run, tmp_path):
    """train.sbatch's multi-process path (srun, then torchrun with a c10d rendezvous on the job's first node), here
    with two CPU processes over gloo: both ranks end with the same weights, rank 0 writes the snapshot."""
    serial = load_config(serial_run)
    config_path = write_config(tmp_path, serial.DFDC_DATA_PATH, artifacts=serial.ARTIFACTS_PATH)
    run_name = 'srun-torchrun'
    log = tmp_path / 'train.out'
    environ = {**cluster.env, 'DFDC_PYTHON': sys.executable, 'DFDC_RDZV_PORT': str(free_port())}
    result = subprocess.run(['sbatch', '--parsable', f'--chdir={REPO}', f'--output={log}', '--cpus-per-task=1',
                             '--mem=2G', 'slurm/train.sbatch', '2', demo.TRAIN_SCRIPTS[1], '--config',
                             str(config_path), *demo.train_arguments(tiny=True), '--run-name', run_name,
                             '--device', 'cpu'], capture_output=True, text=True, env=environ, cwd=REPO)
    assert result.returncode == 0, result.stderr
    job = result.stdout.strip()
    try:
        cluster.wait_until_done([job], 300)
        output = log.read_text()
        assert cluster.job_states(job) == {None: 'COMPLETED'}, output[-3000:]
        digests = output.split('weights ')[1].split(';')[0].split(',')
        assert len(digests) == 2 and digests[0] == digests[1], output[-3000:]
        assert (serial.snapshots_dir(run_name) / f'snapshot_{demo.TINY_ITERS}.pth').is_file()
    finally:
        for folder in (serial.snapshots_dir(run_name), serial.logs_dir(run_name)):
            shutil.rmtree(folder, ignore_errors=True)   # the serial run's artifacts stay as they were


def test_jobs_survive_a_killed_and_restarted_controller(cluster, tmp_path):
    """slurmctld killed with SIGKILL while an array and a job that waits for it are queued: started again, it
    recovers both from its state folder and runs them in order."""
    array = cluster.run('sbatch', '--parsable', '--array=0-1', '--cpus-per-task=1', '--mem=100M',
                        f'--output={tmp_path}/array-%a.out', '--wrap', 'sleep 3; date +%s.%N').stdout.strip()
    after = cluster.run('sbatch', '--parsable', f'--dependency=afterok:{array}', '--kill-on-invalid-dep=yes',
                        '--mem=100M', f'--output={tmp_path}/after.out', '--wrap', 'date +%s.%N').stdout.strip()
    # slurmctld writes its job state asynchronously, a moment after accepting a job: killed before that, it forgets
    # the job. Kill it once both jobs are on disk.
    submitted, deadline = time.time(), time.monotonic() + 60
    while (cluster.root / 'state' / 'job_state').stat().st_mtime <= submitted:
        assert time.monotonic() < deadline, 'slurmctld did not save its job state'
        time.sleep(0.2)
    cluster.restart_controller()
    cluster.wait_until_done([array, after], 120)
    assert cluster.job_states(array) == {'0': 'COMPLETED', '1': 'COMPLETED'}
    assert cluster.job_states(after) == {None: 'COMPLETED'}
    ends = [float((tmp_path / f'array-{task}.out').read_text()) for task in (0, 1)]
    assert float((tmp_path / 'after.out').read_text()) >= max(ends)
