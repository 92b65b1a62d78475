"""Where the networks run: PyTorch on any device, or OpenVINO on the CPU, both from the same PyTorch modules.

`--backend auto` (the default) runs OpenVINO on the CPU and PyTorch on CUDA. An OpenVINO model is converted from
the PyTorch module (`openvino.convert_model`; batch, height and width dynamic) and kept on disk, so only a first
run converts: `MODELS_PATH/openvino_cache/<name>/` (`model.xml`, `model.bin` in FP32, `key.json`), or the user's
cache folder when MODELS_PATH cannot be written, or in memory when neither can. An entry is used only when its key
(the weights' SHA-256, the model spec, the OpenVINO and torch versions, this module's format) matches; a stale or
damaged entry is rebuilt with one warning line. The precision is not part of the key: the file holds FP32 weights
and the precision is chosen when the model is compiled (`INFERENCE_PRECISION_HINT`, set explicitly, since some CPUs
default to bf16).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import numpy as np
import torch
from torch import nn

from efficientnet import to_channels_last

from .cli import UserError
from .devices import autocast, check_precision
from .fileio import replacing_directory

log = logging.getLogger('dfdc')

BACKENDS = ('auto', 'torch', 'openvino')
CACHE_FOLDER = 'openvino_cache'
CACHE_FORMAT = 1      # bump when what the conversion writes changes
_OPENVINO_PRECISIONS = {'fp32': 'f32', 'bf16': 'bf16'}


class Runner(Protocol):
    """A network ready to run: a float32 NCHW batch in, its output tensor(s) out (on `device`)."""
    device: torch.device

    def __call__(self, batch: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        ...


def openvino_available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def set_cpu_threads(threads: int) -> None:
    """Run this process's CPU work on at most `threads` threads: PyTorch, OpenVINO (models compiled afterwards)
    and OpenCV (the Haar detector). Each uses every core by default, so processes sharing a CPU (serve.py's
    workers) would otherwise oversubscribe it."""
    import cv2
    threads = max(1, threads)
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    if openvino_available():
        _core().set_property('CPU', {'INFERENCE_NUM_THREADS': threads})


def resolve_backend(name: str, device: torch.device, precision: str = 'fp32') -> str:
    """'torch' or 'openvino' for `--backend` `name` on `device`: auto = OpenVINO on the CPU (FP32 or bf16; fp16
    autocast stays on PyTorch), PyTorch on CUDA."""
    precision = check_precision(precision)
    if name not in BACKENDS:
        raise UserError(f'unknown backend {name!r}; use one of {", ".join(BACKENDS)}')
    if name == 'auto':
        usable = device.type == 'cpu' and precision in _OPENVINO_PRECISIONS and openvino_available()
        return 'openvino' if usable else 'torch'
    if name == 'openvino':
        if device.type != 'cpu':
            raise UserError(f'--backend openvino runs on the CPU; use --device cpu, or --backend torch for {device}')
        if precision not in _OPENVINO_PRECISIONS:
            raise UserError(f'--backend openvino computes in fp32 or bf16, not {precision}; '
                            'use --backend torch for fp16 autocast')
        if not openvino_available():
            raise UserError('--backend openvino needs the openvino package (pip install -r requirements.txt)')
    return name


class TorchRunner:
    """A PyTorch module on its device, in `precision` (autocast for fp16 and bf16), channels-last if asked."""

    def __init__(self, module: nn.Module, device: torch.device, precision: str = 'fp32', channels_last: bool = True):
        self.device, self.precision = device, check_precision(precision)
        self.module = module.eval().to(device)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if channels_last:   # 4-D weights only: the sequence model's 5-D temporal kernels stay as they are
            to_channels_last(self.module)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        batch = batch.to(self.device).contiguous(memory_format=self.memory_format)
        with torch.inference_mode(), autocast(self.device, self.precision):
            return self.module(batch)


class OpenVINORunner:
    """A converted model compiled for the CPU in FP32 (the published computation) or bf16."""

    device = torch.device('cpu')

    def __init__(self, model: Any, precision: str = 'fp32'):
        self.precision = check_precision(precision)
        self.compiled = _core().compile_model(model, 'CPU', {
            'INFERENCE_PRECISION_HINT': _OPENVINO_PRECISIONS[self.precision], 'PERFORMANCE_HINT': 'LATENCY'})
        self.request = self.compiled.create_infer_request()

    def __call__(self, batch: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        results = self.request.infer([batch.detach().cpu().float().contiguous().numpy()])
        # The request reuses its output buffers: copy before the next call.
        outputs = tuple(torch.from_numpy(np.array(results[output])) for output in self.compiled.outputs)
        return outputs[0] if len(outputs) == 1 else outputs


_CORE = None


def _core():
    global _CORE
    if _CORE is None:
        import openvino as ov
        _CORE = ov.Core()
    return _CORE


def state_dict_sha256(module: nn.Module) -> str:
    """SHA-256 of a module's parameters and buffers (names, shapes, values), for models built in memory."""
    digest = hashlib.sha256()
    for name, value in module.state_dict().items():
        digest.update(f'{name}:{tuple(value.shape)}:{value.dtype}'.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def cache_roots(models_path: Path | None) -> list[Path]:
    """Where converted models are kept, in order: MODELS_PATH/openvino_cache, then the user's cache folder (one
    subfolder per MODELS_PATH, so that two model folders never share entries). None: nowhere (models built in
    memory are converted for the run)."""
    if models_path is None:
        return []
    user = Path(os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache') / 'dfdc' / 'openvino'
    models_path = Path(models_path)
    tag = hashlib.sha256(str(models_path.resolve()).encode()).hexdigest()[:12]
    return [models_path / CACHE_FOLDER, user / f'{models_path.resolve().name}-{tag}']


def conversion_key(weights_sha256: str, spec: Any) -> dict[str, Any]:
    """What a converted model depends on."""
    import openvino as ov
    return {'weights_sha256': weights_sha256, 'spec': spec, 'openvino': ov.__version__,
            'torch': torch.__version__, 'format': CACHE_FORMAT}


def openvino_runner(name: str, key: dict[str, Any], build: Callable[[], tuple[nn.Module, torch.Tensor]],
                    roots: Sequence[Path], precision: str = 'fp32') -> OpenVINORunner:
    """`name`'s converted model from the first root that holds it under `key`, else converted from the module and
    example input `build()` returns and written to the first root that can be written (else kept in memory)."""
    expected = json.loads(json.dumps(key))   # as key.json gives it back (tuples become lists)
    for root in roots:
        entry = root / name
        if not (entry / 'key.json').exists():
            continue
        try:
            stored = json.loads((entry / 'key.json').read_text())
            if stored.get('key') != expected:
                log.warning('%s: the converted model in %s is stale (weights or versions changed); converting again',
                            name, entry)
                continue
            if (entry / 'model.bin').stat().st_size != stored.get('bin_bytes'):
                raise ValueError('model.bin has the wrong size')
            return OpenVINORunner(_core().read_model(str(entry / 'model.xml')), precision)
        except Exception as error:   # any damage to the entry: convert again rather than fail the run
            log.warning('%s: the converted model in %s cannot be used (%s); converting again', name, entry,
                        str(error).splitlines()[0][:200] if str(error) else type(error).__name__)
    model = _convert(name, *build(), cached=bool(roots))
    for root in roots:
        try:
            _write_entry(root / name, model, key)
            break
        except (OSError, UserError) as error:   # UserError: the folder cannot be created
            log.debug('%s: cannot write the OpenVINO cache in %s: %s', name, root, error)
    else:
        if roots:
            log.warning('%s: no writable cache folder (%s); the converted model is kept in memory for this run only',
                        name, ', '.join(str(r) for r in roots))
    return OpenVINORunner(model, precision)


def _convert(name: str, module: nn.Module, example: torch.Tensor, cached: bool = True) -> Any:
    import openvino as ov
    when = 'first run only' if cached else 'for this run'
    print(f'openvino: converting {name} ({when}; it takes a while for a B7 or DSFD)', file=sys.stderr, flush=True)
    start = time.perf_counter()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter('ignore')   # the tracer's notes on shape checks that hold for every batch
        model = ov.convert_model(module.eval(), example_input=example)
    log.info('%s: converted in %.1f s', name, time.perf_counter() - start)
    return model


def _write_entry(entry: Path, model: Any, key: dict[str, Any]) -> None:
    import openvino as ov
    with replacing_directory(entry) as temp:
        ov.save_model(model, str(temp / 'model.xml'), compress_to_fp16=False)
        record = {'key': key, 'bin_bytes': (temp / 'model.bin').stat().st_size}
        (temp / 'key.json').write_text(json.dumps(record, indent=1, sort_keys=True))
