"""A real one-node SLURM cluster for the tests: munged, slurmctld and slurmd from Debian's packages, in the
foreground, in a temporary folder, on free loopback ports, with a slurm.conf sized to this machine.

No systemd and no cgroups: processes are tracked through /proc (proctrack/linuxproc), tasks are not bound
(task/none), and there is no accounting database. Clients find the cluster through `SLURM_CONF` in `env`.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ('munged', 'slurmctld', 'slurmd')


def missing_programs() -> list[str]:
    return [name for name in (*DAEMONS, 'sbatch', 'squeue', 'scancel', 'scontrol')
            if shutil.which(name) is None and not Path('/usr/sbin', name).exists()]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def program(name: str) -> str:
    return shutil.which(name) or str(Path('/usr/sbin', name))


class SlurmCluster:
    """`start()` brings the cluster up and waits for its node to be idle; `stop()` ends every daemon."""

    def __init__(self, root: Path):
        self.root = root
        self.conf = root / 'slurm.conf'
        self.processes: list[subprocess.Popen] = []
        self.env = {**os.environ, 'SLURM_CONF': str(self.conf)}
        self.node = socket.gethostname().split('.')[0]

    def start(self, timeout: float = 60) -> SlurmCluster:
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()   # no daemon outlives a failed start
            raise

    def _start(self, timeout: float) -> SlurmCluster:
        munge = self.root / 'munge'
        for folder in (munge, self.root / 'state', self.root / 'spool', self.root / 'log'):
            folder.mkdir(parents=True, exist_ok=True)
        munge.chmod(0o755)   # clients need to reach the socket
        key = munge / 'munge.key'
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        socket_path = munge / 'munge.socket'
        self._spawn('munged', '--foreground', '--force', f'--key-file={key}', f'--socket={socket_path}',
                    f'--pid-file={munge / "munged.pid"}', f'--log-file={munge / "munged.log"}',
                    f'--seed-file={munge / "munged.seed"}')
        self._wait(lambda: socket_path.exists(), timeout, 'munged did not create its socket')
        self.conf.write_text(self._config(socket_path))
        self._spawn('slurmctld', '-D', '-i', '-f', str(self.conf))
        self._spawn('slurmd', '-D', '-N', self.node, '-f', str(self.conf))
        self._wait(self._node_idle, timeout, 'the node did not become idle')
        return self

    def _config(self, socket_path: Path) -> str:
        hardware = subprocess.run([program('slurmd'), '-C'], capture_output=True, text=True, check=True)
        node_line = next(line for line in hardware.stdout.splitlines() if line.startswith('NodeName='))
        fields = dict(item.split('=', 1) for item in node_line.split())
        # Leave the machine some memory: jobs are scheduled by what they ask for, nothing is enforced.
        memory = max(1024, int(fields.pop('RealMemory')) - 2048)
        fields.pop('NodeName')
        hardware_fields = ' '.join(f'{k}={v}' for k, v in fields.items())
        root = self.root
        return f"""ClusterName=dfdctest
SlurmctldHost={self.node}(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser={os.environ.get('USER') or 'root'}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={socket_path}
StateSaveLocation={root / 'state'}
SlurmdSpoolDir={root / 'spool'}
SlurmctldPidFile={root / 'slurmctld.pid'}
SlurmdPidFile={root / 'slurmd.pid'}
SlurmctldLogFile={root / 'log' / 'slurmctld.log'}
SlurmdLogFile={root / 'log' / 'slurmd.log'}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SchedulerParameters=sched_min_interval=100000
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MinJobAge=86400
KillWait=5
InactiveLimit=0
NodeName={self.node} NodeAddr=127.0.0.1 {hardware_fields} RealMemory={memory} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""

    def restart_controller(self, timeout: float = 60) -> None:
        """SIGKILL slurmctld, as a crashed controller machine would, and start it again from its saved state."""
        [controller] = [p for p in self.processes if Path(p.args[0]).name == 'slurmctld']
        controller.kill()
        controller.wait()
        self.processes.remove(controller)
        self._spawn('slurmctld', *controller.args[1:])
        self._wait(lambda: self.run('squeue', check=False).returncode == 0, timeout, 'slurmctld did not come back')

    def _spawn(self, name: str, *arguments: str) -> None:
        log = open(self.root / 'log' / f'{name}.out', 'wb')
        self.processes.append(subprocess.Popen([program(name), *arguments], stdout=log, stderr=subprocess.STDOUT,
                                               env=self.env, start_new_session=True))

    def _node_idle(self) -> bool:
        result = self.run('sinfo', '--noheader', '--format=%t', check=False)
        return result.returncode == 0 and result.stdout.strip() == 'idle'

    def _wait(self, condition, timeout: float, message: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            dead = [p.args[0] for p in self.processes if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(f'{message} ({", ".join(dead) + " exited; " if dead else ""}logs: '
                                   f'{self.logs()})')
            time.sleep(0.2)

    def logs(self) -> str:
        return '\n'.join(f'--- {path.name}\n{path.read_text(errors="replace")[-2000:]}'
                         for path in sorted((self.root / 'log').glob('*')))

    def run(self, *command: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        result = subprocess.run(command, capture_output=True, text=True, env=self.env, timeout=timeout)
        if check and result.returncode != 0:
            raise RuntimeError(f'{" ".join(command)} failed: {result.stderr}')
        return result

    def queued(self, job_ids) -> list[str]:
        """The jobs (arrays by their array id) of `job_ids` that are still pending or running."""
        listed = self.run('squeue', '--noheader', '--format=%F').stdout.split()
        return [job for job in job_ids if job in listed]

    def wait_until_done(self, job_ids, timeout: float) -> None:
        self._wait(lambda: not self.queued(job_ids), timeout, f'jobs {job_ids} did not finish in {timeout:.0f} s')

    def job_states(self, job_id: str) -> dict[str | None, str]:
        """`JobState` of a job (key None), or of each task of an array job (key: task index), as the controller
        remembers it (MinJobAge)."""
        result = self.run('scontrol', 'show', 'job', '--oneliner', job_id)
        states = {}
        for line in result.stdout.splitlines():
            fields = dict(field.split('=', 1) for field in line.split() if '=' in field)
            states[fields.get('ArrayTaskId')] = fields['JobState']
        return states

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for process in reversed(self.processes):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        # slurmd leaves the jobs' slurmstepd behind only if it was killed; nothing else of ours runs on.
