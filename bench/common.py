"""What every benchmark shares: test videos, repeated timing, peak memory of child processes, the report."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
CACHE = REPO / 'bench' / '.cache'


def make_1080p_video(path: Path | None = None, seconds: int = 10, fps: int = 30, size: str = '1920x1080') -> Path:
    """A DFDC-like H.264 video (noisy test pattern, so the bit rate is realistic); cached between runs."""
    from dfdc.ffmpeg import find_ffmpeg
    path = path or CACHE / f'pattern_{size}_{fps}fps_{seconds}s.mp4'
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([find_ffmpeg(), '-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
                        f'testsrc2=size={size}:rate={fps}', '-t', str(seconds), '-vf', 'noise=alls=10:allf=t',
                        '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '23', '-pix_fmt', 'yuv420p', str(path)],
                       check=True)
    return path


def run_child(command: Sequence[str], env: dict | None = None) -> tuple[float, float, str]:
    """Run a command; returns (wall seconds, peak RSS in MB of the process, its stdout)."""
    start = time.perf_counter()
    process = subprocess.Popen(list(command), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               env={**os.environ, **(env or {})})
    stdout = process.stdout.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f'{command[:3]} failed')
    return wall, usage.ru_maxrss / 1024, stdout


def python_child(code: str, *args: str) -> list[str]:
    return [sys.executable, '-c', f'import sys; sys.path.insert(0, {str(REPO)!r})\n' + code, *args]


def stats(values: Sequence[float]) -> dict[str, float]:
    return {'median': statistics.median(values), 'min': min(values), 'max': max(values), 'runs': len(values)}


def interleaved(variants: dict[str, Callable[[], tuple[float, float]]], runs: int) -> dict[str, dict]:
    """Run each variant (returning wall seconds and peak MB) `runs` times, in rounds of alternately forward and
    mirrored order, so that a slow moment of the machine, or a drift across the run, hits every variant alike."""
    walls: dict[str, list] = {name: [] for name in variants}
    peaks: dict[str, list] = {name: [] for name in variants}
    for round_index in range(runs):
        order = list(variants) if round_index % 2 == 0 else list(reversed(variants))
        for name in order:
            wall, peak = variants[name]()
            walls[name].append(wall)
            peaks[name].append(peak)
    return {name: {'wall_s': stats(walls[name]), 'peak_rss_mb': stats(peaks[name])} for name in variants}


def cpu_name() -> str:
    """The processor's model name, which every CPU figure must be reported with."""
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or platform.machine()


def child(command: Sequence[str]) -> Callable[[], tuple[float, float]]:
    def run() -> tuple[float, float]:
        wall, peak, _ = run_child(command)
        return wall, peak
    return run


def report(benchmark: str, results: dict[str, dict], baseline: str, json_path: str | None = None,
           extra: dict | None = None) -> dict:
    """Print median (min-max) and the ratio to the baseline measured in the same run; append one JSON line."""
    base = results[baseline]['wall_s']['median']
    print(f'{benchmark}:')
    for name, result in results.items():
        wall, peak = result['wall_s'], result.get('peak_rss_mb')
        line = (f'  {name:<28} {wall["median"]:8.3f} s  ({wall["min"]:.3f}-{wall["max"]:.3f}, {wall["runs"]} runs)  '
                f'{wall["median"] / base:5.2f}x {baseline}')
        if peak:
            line += f'  peak RSS {peak["median"]:7.1f} MB'
        print(line)
    record = {'benchmark': benchmark, 'baseline': baseline, 'results': results, **(extra or {}),
              'time': time.strftime('%Y-%m-%dT%H:%M:%S')}
    line = json.dumps(record)
    print(line)
    if json_path:
        with open(json_path, 'a') as f:
            f.write(line + '\n')
    return record
