"""One training loop for the solution's three runs: aligned mixup, `_fc` warm-up, SGD with linear decay.

Single process: `python train_b7_....py`; several GPUs or nodes: `torchrun --nproc_per_node 8 train_b7_....py`
(DDP; each process takes `--batch-size` pairs, rank 0 writes snapshots and logs).
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import os
import random
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.distributed as dist
import yaml
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from efficientnet import create_model, load_pretrained, model_spec_from_json, to_channels_last

from .augment import build_pipeline
from .cli import UserError, get_args_parser as base_parser
from .clips import BOXES_FILE, TRACK_LENGTH, read_single_clips, read_track_pairs
from .config import Config, load_config
from .data import FRAME_MODEL_FRAMES, SEQUENCE_MODEL_FRAMES, InfiniteBatchSampler, TrackPairDataset
from .detectors import load_state_dict
from .devices import resolve_device
from .fileio import atomic_path, atomic_write_bytes, ensure_dir, remove_stale_temporaries
from .models import save_weights

log = logging.getLogger('dfdc')

MAX_ITERS = 100_000
WARMUP_ITERS = 100
BATCH_SIZE = 8
NUM_WORKERS = 8
BASE_LR = 0.005
MOMENTUM = 0.9
WEIGHT_DECAY = 1e-4
SNAPSHOT_EVERY = 1000
MIXUP_ALPHA = 0.5
DEFAULT_PRETRAINED = 'external_data/noisy_student_efficientnet-b7.pth'
STATE_FILE = 'training_state.pth'
MODEL_SPEC_FILE = 'model.json'
# Fine-tuning converged final weights on a few thousand of one's own pairs: a tenth of the published initial lr
# (the published run ended at 5e-6; 0.005 would undo it in a few hundred steps), no _fc warm-up (the head is
# trained), and 2000 iterations of 8 pairs = 16,000 samples, several epochs of a few thousand clips.
FINETUNE = {'max_iters': 2000, 'warmup_iters': 0, 'lr': 0.0005, 'snapshot_every': 250}


@dataclasses.dataclass(frozen=True)
class TrainPreset:
    run_name: str
    seed: int
    frames: tuple[int, ...]
    pipeline: str
    sequence: bool


PRESETS = {
    'large_crop': TrainPreset('efficientnet-b7_ns_aa-original-mstd0.5_large_crop_100k', 30, FRAME_MODEL_FRAMES,
                              'large_crop', False),
    're': TrainPreset('efficientnet-b7_ns_aa-original-mstd0.5_re_100k', 10, FRAME_MODEL_FRAMES,
                      'random_erasing', False),
    'seq': TrainPreset('efficientnet-b7_ns_seq_aa-original-mstd0.5_100k', 20, SEQUENCE_MODEL_FRAMES, 'sequence', True),
}


def _override(text: str) -> tuple[str, Any]:
    if '=' not in text:
        raise argparse.ArgumentTypeError(f'expected KEY=VALUE, got {text!r}')
    key, value = text.split('=', 1)
    return key.strip(), yaml.safe_load(value)


def get_args_parser(preset: TrainPreset) -> argparse.ArgumentParser:
    parser = base_parser(f'train {preset.run_name}')
    parser.add_argument('--arch', default='efficientnet-b7', help='efficientnet-pytorch model name')
    parser.add_argument('--override', type=_override, action='append', default=[], metavar='KEY=VALUE',
                        help='efficientnet-pytorch global param, e.g. width_coefficient=0.1 (repeatable)')
    parser.add_argument('--pretrained', default=DEFAULT_PRETRAINED,
                        help='efficientnet-pytorch state dict to start from, or "none" to train from scratch')
    parser.add_argument('--run-name', default=preset.run_name)
    parser.add_argument('--seed', type=int, default=preset.seed)
    parser.add_argument('--max-iters', type=int, default=MAX_ITERS,
                        help='iterations in all, the warm-up included (one counter over both phases, as published)')
    parser.add_argument('--warmup-iters', type=int, default=WARMUP_ITERS,
                        help='the first iterations, which train only _fc')
    parser.add_argument('--batch-size', type=int, default=BATCH_SIZE, help='pairs per process')
    parser.add_argument('--num-workers', type=int, default=NUM_WORKERS)
    parser.add_argument('--lr', type=float, default=BASE_LR)
    parser.add_argument('--momentum', type=float, default=MOMENTUM)
    parser.add_argument('--weight-decay', type=float, default=WEIGHT_DECAY)
    parser.add_argument('--snapshot-every', type=int, default=SNAPSHOT_EVERY)
    parser.add_argument('--compression-p', type=float, default=0.5, help='probability of H.264 re-encoding a pair')
    parser.add_argument('--pix-fmt', default=None, help='x264 pixel format for re-encoding (default: 4:4:4 as '
                                                         'published; yuv420p is what DFDC videos use)')
    parser.add_argument('--device', default='auto')
    parser.add_argument('--amp', action='store_true', help='FP16 autocast on CUDA (off as in the paper)')
    parser.add_argument('--channels-last', action=argparse.BooleanOptionalAction, default=True,
                        help='NHWC weights and inputs: faster, the same numbers up to float rounding')
    parser.add_argument('--resume', action='store_true', help='continue from the latest snapshot of this run')
    parser.add_argument('--stop-after', type=int, default=None,
                        help='stop after this many iterations of this invocation (for time-limited jobs)')
    adapt = parser.add_argument_group('adapting to one\'s own data')
    adapt.add_argument('--init', default=None, metavar='WEIGHTS',
                       help='start from these final weights (copy_weights.py\'s or the published FP16 file, with '
                            'its architecture from the JSON beside it) instead of --pretrained')
    adapt.add_argument('--finetune', action='store_true',
                       help='the fine-tuning schedule (with --init): ' + ', '.join(
                           f'--{k.replace("_", "-")} {v}' for k, v in FINETUNE.items()) + ' unless given')
    adapt.add_argument('--single-ratio', type=float, default=None,
                       help='share of samples that are single clips (labels.csv data; default: their share of the '
                            'data)')
    adapt.add_argument('--val', default=None, metavar='LABELS_CSV',
                       help='validation videos (filename,label; paths relative to the CSV): log loss and ROC AUC '
                            'through the predictor every --val-every iterations; the best snapshot is kept as best.pth')
    adapt.add_argument('--val-every', type=int, default=None, help='default: --snapshot-every')
    adapt.add_argument('--val-detector', choices=('dsfd', 'opencv'), default='dsfd')
    adapt.add_argument('--val-detector-weights', default=None,
                       help='default: MODELS_PATH/WIDERFace_DSFD_RES152.fp16.pth, else external_data/...pth')
    return parser


@dataclasses.dataclass
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_name: str) -> tuple[Distributed, torch.device]:
    world_size = int(os.environ.get('WORLD_SIZE', '1'))
    if world_size <= 1:
        return Distributed(), resolve_device(device_name)
    info = Distributed(int(os.environ['RANK']), world_size, int(os.environ.get('LOCAL_RANK', '0')))
    use_cuda = device_name in ('auto', 'cuda') and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(info.local_rank)
    dist.init_process_group('nccl' if use_cuda else 'gloo')
    return info, torch.device('cuda', info.local_rank) if use_cuda else torch.device('cpu')


def model_spec(args: argparse.Namespace, preset: TrainPreset) -> dict[str, Any]:
    """The architecture to train: the `--init` weights' (from the JSON beside them; the published B7 without
    one), else `--arch` and `--override`."""
    sequence_length = len(preset.frames) if preset.sequence else None
    if args.init is None:
        return {'name': args.arch, 'overrides': dict(args.override), 'sequence_length': sequence_length}
    path = Path(args.init)
    if not path.is_file():
        raise UserError(f'--init weights {path} do not exist')
    spec_path = path.with_suffix('.json')
    spec = json.loads(spec_path.read_text()) if spec_path.is_file() else {}
    spec = {'name': spec.get('name', 'efficientnet-b7'), 'overrides': spec.get('overrides', {}),
            'sequence_length': spec.get('sequence_length', sequence_length if not spec else None)}
    if spec['sequence_length'] != sequence_length:
        raise UserError(f'--init {path} is a {"sequence" if spec["sequence_length"] else "frame"} model; '
                        f'{preset.run_name} trains a {"sequence" if sequence_length else "frame"} model')
    return spec


def build_model(args: argparse.Namespace, preset: TrainPreset) -> nn.Module:
    spec = model_spec(args, preset)
    model = create_model(**model_spec_from_json(spec))
    if args.init is not None:
        try:
            model.load_state_dict(load_state_dict(args.init), strict=True)
        except RuntimeError as error:
            reason = ' '.join(line.strip() for line in str(error).splitlines()[1:3])
            raise UserError(f'--init {args.init} does not fit {spec}: {reason}') from None
        return model
    if str(args.pretrained).lower() != 'none':
        path = Path(args.pretrained)
        if not path.is_file():
            raise UserError(f'pretrained weights {path} do not exist: run convert_tf_to_pt.sh (see README), or pass '
                            '--pretrained none to train from scratch')
        state = torch.load(path, map_location='cpu', weights_only=True)
        try:
            load_pretrained(model, state)
        except ValueError as error:
            raise UserError(f'{path}: {error}') from None
    return model


def _clip_is_there(config: Config, clip: str) -> bool:
    return all((config.clips_root / clip / name).is_file() for name in ('0.png', f'{TRACK_LENGTH - 1}.png', BOXES_FILE))


def usable_pairs(config: Config, pairs: Sequence[tuple[str, str]], warn: bool = True) -> list[tuple[str, str]]:
    """The pairs whose two clips are there (first and last PNG and the boxes); the others are warned about."""
    usable = []
    for real, fake in pairs:
        missing = next((clip for clip in (real, fake) if not _clip_is_there(config, clip)), None)
        if missing is None:
            usable.append((real, fake))
        elif warn:
            log.warning('%s: clip named in %s is missing or incomplete; leaving its pair out', missing,
                        config.track_pairs_path.name)
    return usable


def usable_singles(config: Config, warn: bool = True) -> list[tuple[str, int]]:
    """Stage 5's single clips (`labels.csv` data) that are there."""
    usable = []
    for clip, label in read_single_clips(config.single_clips_path):
        if _clip_is_there(config, clip):
            usable.append((clip, label))
        elif warn:
            log.warning('%s: clip named in %s is missing or incomplete; leaving it out', clip,
                        config.single_clips_path.name)
    return usable


def single_slots(num_pairs: int, num_singles: int, ratio: float | None) -> int:
    """How many of an epoch's items are single clips: all of them by default, else `ratio` of all items."""
    if ratio is None or not num_pairs or not num_singles:
        return num_singles
    if not 0 <= ratio < 1:
        raise UserError(f'--single-ratio must be in [0, 1), got {ratio}')
    return round(ratio / (1 - ratio) * num_pairs)


def lr_factor(full_model_steps: int, max_iters: int) -> float:
    """Linear decay of the main phase, `(MAX_ITERS - k) / MAX_ITERS` after k full-model steps: iteration 101
    uses the base lr, iteration 100,000 uses base * 101 / 100,000 (the published LambdaLR)."""
    return (max_iters - full_model_steps) / max_iters


def set_warmup(model: nn.Module, warmup: bool) -> None:
    """Warm-up: only `_fc` trains and everything else is frozen in eval mode; after it, all of the model trains."""
    for name, param in model.named_parameters():
        param.requires_grad = not warmup or name.startswith('_fc.')
    model.train(not warmup)
    model._fc.train()


def make_optimizer(model: nn.Module, args: argparse.Namespace, warmup: bool) -> torch.optim.SGD:
    params = model._fc.parameters() if warmup else model.parameters()
    return torch.optim.SGD(params, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay, nesterov=True)


def enter_phase(model: nn.Module, args: argparse.Namespace, warmup: bool, distributed: Distributed):
    """Optimizer, LR scheduler and DDP wrapper of a phase: the warm-up (`_fc` only, no scheduler, no DDP: its
    gradients are averaged by hand) or the main phase (everything, linear decay, DDP when distributed)."""
    set_warmup(model, warmup)
    optimizer = make_optimizer(model, args, warmup)
    if warmup:
        return optimizer, None, None
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda it: lr_factor(it, args.max_iters))
    return optimizer, scheduler, nn.parallel.DistributedDataParallel(model) if distributed.enabled else None


def _rng_state(mixup_rng: np.random.Generator) -> dict:
    state = {'python': random.getstate(), 'numpy': np.random.get_state(), 'torch': torch.random.get_rng_state(),
             'mixup': mixup_rng.bit_generator.state}
    if torch.cuda.is_available():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict, mixup_rng: np.random.Generator) -> None:
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.random.set_rng_state(state['torch'])
    mixup_rng.bit_generator.state = state['mixup']
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


def save_snapshot(directory: Path, iteration: int, model: nn.Module, optimizer, scheduler, step: int,
                  mixup_rng: np.random.Generator) -> Path:
    """`snapshot_<it>.pth` (the plain model state dict), then the resumable state that names it."""
    snapshot = directory / f'snapshot_{iteration}.pth'
    save_weights(model, snapshot)
    state = {'step': step, 'snapshot': snapshot.name, 'optimizer': optimizer.state_dict(),
             'scheduler': scheduler.state_dict() if scheduler is not None else None, 'rng': _rng_state(mixup_rng)}
    with atomic_path(directory / STATE_FILE) as temp:
        torch.save(state, temp)
    return snapshot


def weights_digest(model: nn.Module) -> str:
    """Hash of the parameters (BatchNorm running statistics are per rank between DDP's broadcasts)."""
    digest = hashlib.sha256()
    for value in model.parameters():
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def train(args: argparse.Namespace, preset: TrainPreset, config: Config) -> dict[str, Any]:
    """Run (or resume) one training run; returns a summary with the first and last losses."""
    distributed, device = init_distributed(args.device)
    try:
        return _train(args, preset, config, distributed, device)
    finally:
        if distributed.enabled:
            dist.destroy_process_group()


def _train(args, preset, config, distributed: Distributed, device: torch.device) -> dict[str, Any]:
    if not config.track_pairs_path.is_file():
        raise UserError(f'{config.track_pairs_path} does not exist; run stages 1-5 (generate_track_pairs.py) first')
    pairs = usable_pairs(config, read_track_pairs(config.track_pairs_path), warn=distributed.is_main)
    singles = usable_singles(config, warn=distributed.is_main)
    if not pairs and not singles:
        raise UserError(f'{config.track_pairs_path} lists no usable pairs; check stages 4-5 '
                        '(extract_tracks_from_videos.py, generate_track_pairs.py)')
    if args.finetune and args.init is None:
        raise UserError('--finetune fine-tunes final weights: give them with --init')
    if args.max_iters < 1 or args.warmup_iters < 0 or args.batch_size < 1 or args.snapshot_every < 1:
        raise UserError('--max-iters, --batch-size and --snapshot-every must be positive, --warmup-iters >= 0')
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = True
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed + distributed.rank)
    mixup_rng = np.random.default_rng([args.seed, distributed.rank])
    snapshots = config.snapshots_dir(args.run_name)
    if distributed.is_main:
        ensure_dir(snapshots)
        remove_stale_temporaries(snapshots, recursive=False)
        # The architecture beside the snapshots, so copy_weights.py and predict.py rebuild the same model.
        atomic_write_bytes(snapshots / MODEL_SPEC_FILE, json.dumps(model_spec(args, preset), indent=1).encode())

    model = build_model(args, preset).to(device)
    if args.channels_last:
        to_channels_last(model)
    # The same function either way; the memory-saving autograd version is slower on CPU.
    model.set_swish(memory_efficient=device.type == 'cuda')
    # One counter over both phases, as published: iterations 1..warmup train `_fc`, the rest the whole model,
    # and snapshot_N is written at iteration N.
    total_steps = args.max_iters
    step, resume_state = 0, None
    if args.resume:
        state_path = snapshots / STATE_FILE
        if state_path.is_file():
            resume_state = torch.load(state_path, map_location='cpu', weights_only=False)
            model.load_state_dict(torch.load(snapshots / resume_state['snapshot'], map_location='cpu',
                                             weights_only=True))
            step = resume_state['step']
            if distributed.is_main:
                print(f'resuming {args.run_name} from {resume_state["snapshot"]} (step {step})')
        elif distributed.is_main:
            print(f'nothing to resume in {snapshots}; starting from the beginning')
    if step >= total_steps:
        if distributed.is_main:
            print(f'{args.run_name} already finished ({step} steps)')
        return {'steps': 0, 'first_loss': None, 'last_loss': None}

    dataset = TrackPairDataset(config.clips_root, pairs, preset.frames, build_pipeline(preset.pipeline),
                               sequence=preset.sequence, compression_p=args.compression_p, pix_fmt=args.pix_fmt,
                               singles=singles, single_slots=single_slots(len(pairs), len(singles),
                                                                          args.single_ratio))
    validator = None
    if args.val is not None and distributed.is_main:
        from .validation import Validator
        validator = Validator(args, config, preset, device, snapshots)
    sampler = InfiniteBatchSampler(len(dataset), args.batch_size, args.seed, distributed.rank,
                                   distributed.world_size, start_batch=step)
    # Its own generator, so creating the loader does not draw from the global RNG that dropout uses and that a
    # resumed run restores; all data randomness comes from the per-sample seeds.
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=args.num_workers,
                        pin_memory=device.type == 'cuda', persistent_workers=args.num_workers > 0,
                        generator=torch.Generator().manual_seed(args.seed), worker_init_fn=_worker_init)

    if distributed.enabled:
        # The warm-up runs without DDP, so every rank must start from rank 0's weights explicitly.
        with torch.no_grad():
            for tensor in model.state_dict().values():
                buffer = tensor.contiguous()  # channels-last weights are not contiguous; collectives want them so
                dist.broadcast(buffer, src=0)
                if buffer is not tensor:
                    tensor.copy_(buffer)
    warmup = step < args.warmup_iters
    optimizer, scheduler, ddp = enter_phase(model, args, warmup, distributed)
    if resume_state is not None:
        optimizer.load_state_dict(resume_state['optimizer'])
        if scheduler is not None and resume_state['scheduler'] is not None:
            scheduler.load_state_dict(resume_state['scheduler'])
        _set_rng_state(resume_state['rng'], mixup_rng)

    use_amp = args.amp and device.type == 'cuda'
    scaler = torch.amp.GradScaler('cuda', enabled=use_amp)
    writer = None
    if distributed.is_main:
        SummaryWriter = _summary_writer_class()
        writer = SummaryWriter(str(ensure_dir(config.logs_dir(args.run_name))))
    if writer is not None and step == 0:
        # The published logs the main phase's learning rate at iteration 0, then after every scheduler step.
        writer.add_scalar('train/max_lr', args.lr, 0)
    criterion = nn.BCEWithLogitsLoss()
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    stop_at = total_steps if args.stop_after is None else min(total_steps, step + args.stop_after)
    losses: list[float] = []
    bar = tqdm(total=stop_at - step, desc=args.run_name, unit='it', disable=not distributed.is_main)
    start_time = time.perf_counter()
    for real, fake, target in loader:
        if step >= stop_at:
            break
        if warmup and step >= args.warmup_iters:
            warmup = False
            optimizer, scheduler, ddp = enter_phase(model, args, warmup, distributed)
        real, fake = real.to(device, non_blocking=True), fake.to(device, non_blocking=True)
        batch, frames = real.shape[:2]
        # One mixing weight per frame for the frame models, one per sequence for the sequence model.
        t_shape = (batch, 1) if preset.sequence else (batch, frames)
        t = torch.from_numpy(mixup_rng.beta(MIXUP_ALPHA, MIXUP_ALPHA, size=t_shape).astype(np.float32))
        # A single clip (target not NaN) trains on its label: plain BCE, its "mix" is the clip itself.
        target = target.view(batch, 1)
        t = torch.where(torch.isnan(target), t, target).expand(batch, frames).to(device)
        inputs = (1 - t[..., None, None, None]) * real + t[..., None, None, None] * fake
        inputs = inputs.reshape(batch * frames, *inputs.shape[2:]).contiguous(memory_format=memory_format)
        max_lr = max(group['lr'] for group in optimizer.param_groups)
        with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
            logits = (ddp or model)(inputs).squeeze(1)
            loss = criterion(logits.float(), t.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if warmup and distributed.enabled:
            for param in model._fc.parameters():
                dist.all_reduce(param.grad)
                param.grad /= distributed.world_size
        scaler.step(optimizer)
        scaler.update()
        step += 1
        if scheduler is not None:
            scheduler.step()
            if writer is not None:
                writer.add_scalar('train/max_lr', max(group['lr'] for group in optimizer.param_groups), step)
        losses.append(loss.item())
        if writer is not None:
            writer.add_scalar('train/loss', losses[-1], step)
        bar.update()
        bar.set_postfix(loss=f'{losses[-1]:.4f}', lr=f'{max_lr:.2e}')
        if step % args.snapshot_every == 0 or step == total_steps:
            if distributed.is_main:
                save_snapshot(snapshots, step, model, optimizer, scheduler, step, mixup_rng)
            if distributed.enabled:
                dist.barrier()
        if args.val is not None and (step % (args.val_every or args.snapshot_every) == 0 or step == total_steps):
            if validator is not None:  # rank 0 validates; the other ranks wait for it
                metrics = validator(model, step)
                bar.write(f'{args.run_name} iteration {step}: validation log loss {metrics["log_loss"]:.4f}, '
                          f'ROC AUC {metrics["roc_auc"]:.4f}' + (' (best so far)' if metrics['best'] else ''))
                if writer is not None:
                    writer.add_scalar('val/log_loss', metrics['log_loss'], step)
                    writer.add_scalar('val/roc_auc', metrics['roc_auc'], step)
            if distributed.enabled:
                dist.barrier()
    bar.close()
    if writer is not None:
        writer.close()
    digests = [weights_digest(model)]
    if distributed.enabled:
        gathered: list[str] = [''] * distributed.world_size
        dist.all_gather_object(gathered, digests[0])
        digests = gathered
        if len(set(digests)) != 1:
            raise RuntimeError(f'ranks ended with different weights: {digests}')
    elapsed = time.perf_counter() - start_time
    return {'steps': len(losses), 'seconds': elapsed, 'first_loss': _mean(losses[:10]),
            'last_loss': _mean(losses[-10:]),
            'digests': digests, 'snapshots': snapshots, 'is_main': distributed.is_main}


def _summary_writer_class():
    """torch's SummaryWriter without TensorFlow: tensorboard imports TensorFlow when it is installed unless its
    `notf` marker module exists, and TensorFlow beside PyTorch slows start-up and can crash the process."""
    import sys
    import types
    sys.modules.setdefault('tensorboard.compat.notf', types.ModuleType('tensorboard.compat.notf'))
    from torch.utils.tensorboard import SummaryWriter
    return SummaryWriter


def _worker_init(_: int) -> None:
    # One thread per loader worker: the workers already run in parallel with the training process.
    import cv2
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


def train_main(preset: TrainPreset, argv: Sequence[str] | None = None) -> int:
    """Entry point of the three training scripts."""
    parser = get_args_parser(preset)
    args = parser.parse_args(argv)
    if args.finetune:  # the fine-tuning schedule's defaults; what the command line gives still wins
        parser.set_defaults(**FINETUNE)
        args = parser.parse_args(argv)
    config = load_config(args.config)
    summary = train(args, preset, config)
    if summary.get('is_main') and summary['steps']:
        print(f'{args.run_name}: {summary["steps"]} iterations in {summary["seconds"]:.0f} s, loss '
              f'{summary["first_loss"]:.4f} (first 10) -> {summary["last_loss"]:.4f} (last 10); '
              f'weights {",".join(summary["digests"])}; snapshots in {summary["snapshots"]}')
    return 0
