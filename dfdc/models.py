"""The models of the solution as files and as runnable networks: final weights' names and architectures, loading
and saving, and the three-classifier ensemble on the chosen backend (dfdc/backends.py)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from efficientnet import create_model, model_spec_from_json

from .augment import INPUT_HEIGHT, INPUT_WIDTH, FramePipeline, build_pipeline, normalization_constants
from .backends import Runner, TorchRunner, cache_roots, conversion_key, openvino_runner, state_dict_sha256
from .detectors import load_state_dict
from .devices import check_precision
from .fileio import atomic_path

WINDOW = 7                  # sequence model: 7 consecutive kept frames
RUN_SUFFIX = '_v4_cad79a'
WEIGHTS_NAME = 'snapshot_100000.fp16.pth'
DETECTOR_WEIGHTS_NAME = 'WIDERFace_DSFD_RES152.fp16.pth'
CALIBRATION_NAME = 'calibration.json'   # calibrate.py's fitted score transform, applied by predict.py
# Run name, pipeline preset (shared with training), whether it is the sequence model.
ENSEMBLE = (
    ('efficientnet-b7_ns_seq_aa-original-mstd0.5_100k', 'sequence', True),
    ('efficientnet-b7_ns_aa-original-mstd0.5_large_crop_100k', 'large_crop', False),
    ('efficientnet-b7_ns_aa-original-mstd0.5_re_100k', 'random_erasing', False),
)


def weights_path(models_path: Path, run_name: str) -> Path:
    return models_path / f'{run_name}{RUN_SUFFIX}' / WEIGHTS_NAME


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def published_spec(sequence: bool) -> dict[str, Any]:
    """The architecture of the published weights: B7, with 7-frame 3D expand convolutions for the sequence run."""
    return {'name': 'efficientnet-b7', 'overrides': {}, 'sequence_length': WINDOW if sequence else None}


def classifier_spec(path: Path, sequence: bool) -> tuple[dict[str, Any], str | None]:
    """The architecture of a final weights file (the JSON beside it, else the published B7), and its SHA-256 when
    the JSON records one (checked against the file)."""
    spec_path = path.with_suffix('.json')
    if not spec_path.is_file():
        return published_spec(sequence), None
    spec = json.loads(spec_path.read_text())
    if spec.get('sha256') and spec['sha256'] != sha256_file(path):
        raise ValueError(f'{path} does not match the SHA-256 in {spec_path.name}; re-run copy_weights.py')
    return spec, spec.get('sha256')


def load_classifier(path: Path, sequence: bool, spec: dict[str, Any] | None = None) -> nn.Module:
    """A final weights file in its architecture (`spec`, else from `classifier_spec`), loaded strictly."""
    if spec is None:
        spec, _ = classifier_spec(path, sequence)
    model = create_model(**model_spec_from_json(spec))
    model.load_state_dict(load_state_dict(path), strict=True)
    return model.eval()


def save_weights(model: nn.Module, path: Path) -> None:
    """The model's state dict, written atomically, in contiguous tensors so that the file's bytes do not depend on
    the memory layout it was trained in."""
    with atomic_path(path) as temp:
        torch.save({k: v.contiguous() for k, v in model.state_dict().items()}, temp)


def _example_batch(sequence: bool) -> torch.Tensor:
    """What a classifier is traced with for conversion (its batch size does not matter: it stays dynamic)."""
    return torch.zeros(WINDOW if sequence else 2, 3, INPUT_HEIGHT, INPUT_WIDTH)


def classifier_runner(model: nn.Module, sequence: bool, device: torch.device, backend: str = 'torch',
                      precision: str = 'fp32', channels_last: bool = True, name: str = 'classifier',
                      models_path: Path | None = None) -> Runner:
    """A classifier module ready to run on `backend` ('torch' or 'openvino', as `resolve_backend` gives)."""
    if backend == 'torch':
        model.set_swish(memory_efficient=False)
        return TorchRunner(model, device, precision, channels_last)
    key = conversion_key(state_dict_sha256(model), {'in_memory': name, 'sequence': sequence})
    return _openvino_classifier(name, key, lambda: model, sequence, models_path, precision)


def _openvino_classifier(name: str, key: dict[str, Any], build: Callable[[], nn.Module], sequence: bool,
                         models_path: Path | None, precision: str) -> Runner:
    """A classifier on OpenVINO: from the cache, or converted from the module `build` returns."""
    def module_and_example() -> tuple[nn.Module, torch.Tensor]:
        model = build()
        model.set_swish(memory_efficient=False)
        return model, _example_batch(sequence)
    return openvino_runner(name, key, module_and_example, cache_roots(models_path), precision)


@dataclasses.dataclass
class EnsembleModel:
    name: str
    runner: Runner
    pipeline: FramePipeline
    sequence: bool

    @property
    def model(self) -> nn.Module | None:
        """The PyTorch module (torch backend); None for a converted model."""
        return getattr(self.runner, 'module', None)


class Ensemble:
    """The three classifiers, in FP32 (the published computation) unless `precision` asks for fp16 or bf16.

    `backend` 'torch' runs the modules with PyTorch, channels-last by default (NHWC weights and inputs: faster on
    every one of the three models, the same numbers up to float rounding; tests/test_predict.py); 'openvino'
    converts them (dfdc/backends.py). Each model's input is normalised here, once, in float32."""

    def __init__(self, models: dict[str, nn.Module | Runner], device: torch.device, batch_size: int = 32,
                 precision: str = 'fp32', channels_last: bool = True, backend: str = 'torch',
                 models_path: Path | None = None):
        """`models` maps each pipeline preset of ENSEMBLE (all three, or a subset) to its classifier module (or a
        runner already built)."""
        self.device, self.batch_size, self.precision = device, batch_size, check_precision(precision)
        mean, inverse_std = normalization_constants()
        self._mean = torch.from_numpy(mean).to(device).view(1, 3, 1, 1)
        self._inverse_std = torch.from_numpy(inverse_std).to(device).view(1, 3, 1, 1)
        self.members = {}
        for run_name, preset, sequence in ENSEMBLE:
            if preset not in models:   # a subset scores with what it has (validation of one model)
                continue
            runner = models[preset]
            if isinstance(runner, nn.Module):
                runner = classifier_runner(runner, sequence, device, backend, precision, channels_last,
                                           f'{run_name}-in-memory', models_path)
            self.members[preset] = EnsembleModel(preset, runner, build_pipeline(preset), sequence)

    @classmethod
    def load(cls, models_path: Path, device: torch.device, batch_size: int = 32, precision: str = 'fp32',
             channels_last: bool = True, backend: str = 'torch') -> 'Ensemble':
        """The final weights in MODELS_PATH under the published names. On OpenVINO, a model converted before is
        loaded from the cache without building the PyTorch module."""
        runners: dict[str, Runner] = {}
        for run_name, preset, sequence in ENSEMBLE:
            path = weights_path(models_path, run_name)
            if not path.is_file():
                from .cli import UserError
                raise UserError(f'model weights {path} do not exist; run copy_weights.py or download the published '
                                'weights into MODELS_PATH')
            spec, digest = classifier_spec(path, sequence)
            if backend == 'torch':
                runners[preset] = classifier_runner(load_classifier(path, sequence, spec), sequence, device,
                                                    'torch', precision, channels_last)
                continue
            key = conversion_key(digest or sha256_file(path), {k: v for k, v in spec.items() if k != 'sha256'})
            runners[preset] = _openvino_classifier(path.parent.name, key, partial(load_classifier, path, sequence,
                                                                                  spec), sequence, models_path,
                                                   precision)
        return cls(runners, device, batch_size, precision, channels_last, backend, models_path)

    def probabilities(self, name: str, images: np.ndarray) -> np.ndarray:
        """Sigmoid outputs for N x H x W x 3 uint8 model-size RGB images (sequence: N a multiple of 7)."""
        member = self.members[name]
        step = self.batch_size - self.batch_size % WINDOW if member.sequence else self.batch_size
        step = max(step, WINDOW if member.sequence else 1)
        outputs = []
        for start in range(0, len(images), step):
            batch = torch.from_numpy(images[start:start + step]).to(self.device).permute(0, 3, 1, 2).float()
            # albumentations' Normalize, as the published predictor: (x - 255 mean) * (1 / (255 std)) in float32.
            batch = (batch - self._mean) * self._inverse_std
            logits = member.runner(batch)
            outputs.append(torch.sigmoid(logits.float()).squeeze(1).cpu().numpy())
        return np.concatenate(outputs) if outputs else np.zeros(0, np.float32)
