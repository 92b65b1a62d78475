"""The training loop on the synthetic clips with tiny models."""
import json
import os
import subprocess
import sys

import pytest
import torch

from dfdc.augment import build_pipeline
from dfdc.cli import UserError
from dfdc.clips import read_single_clips, read_track_pairs
from dfdc.config import load_config
from dfdc.data import InfiniteBatchSampler, TrackPairDataset
from dfdc.train import (MODEL_SPEC_FILE, PRESETS, STATE_FILE, get_args_parser, lr_factor, make_optimizer, set_warmup,
                        single_slots, train_main)
from efficientnet import create_model
from tests.conftest import REPO

TINY = ['--arch', 'efficientnet-b0', '--override', 'width_coefficient=0.25', '--override', 'depth_coefficient=0.2',
        '--pretrained', 'none', '--batch-size', '2', '--num-workers', '0']
SCRIPTS = {'large_crop': 'train_b7_ns_aa_original_large_crop_100k.py', 're': 'train_b7_ns_aa_original_re_100k.py',
           'seq': 'train_b7_ns_seq_aa_original_100k.py'}


def test_defaults_are_the_published_ones():
    for key, preset in PRESETS.items():
        args = get_args_parser(preset).parse_args([])
        assert (args.arch, args.max_iters, args.batch_size, args.num_workers, args.lr, args.warmup_iters,
                args.snapshot_every, args.momentum, args.weight_decay) == (
            'efficientnet-b7', 100_000, 8, 8, 0.005, 100, 1000, 0.9, 1e-4)
    assert [p.seed for p in PRESETS.values()] == [30, 10, 20]


def test_warmup_trains_only_fc_in_eval_mode():
    torch.manual_seed(0)
    model = create_model('efficientnet-b0', width_coefficient=0.25, depth_coefficient=0.2)
    args = get_args_parser(PRESETS['re']).parse_args([])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    set_warmup(model, True)
    assert not model._bn0.training and model._fc.training
    optimizer = make_optimizer(model, args, warmup=True)
    loss = model(torch.randn(4, 3, 64, 64)).sum()
    loss.backward()
    optimizer.step()
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {'_fc.weight', '_fc.bias'}
    set_warmup(model, False)
    assert model.training and all(p.requires_grad for p in model.parameters())


def published_learning_rates(max_iters, warmup_iters, base_lr=0.005):
    """The published loop, written out: `iteration` counts 1..MAX_ITERS over both phases; the warm-up uses its own
    optimizer; LambdaLR((M - k) / M) steps after every iteration past the warm-up. Returns the full optimizer's lr
    in effect at each iteration (None during the warm-up)."""
    rates, k = [], 0
    for iteration in range(1, max_iters + 1):
        rates.append(None if iteration <= warmup_iters else base_lr * (max_iters - k) / max_iters)
        if iteration > warmup_iters:
            k += 1
    return rates


def test_published_schedule_counts_the_warmup_inside_max_iters():
    rates = published_learning_rates(100_000, 100)
    assert rates[100] == 0.005 and rates[-1] == pytest.approx(5.05e-6) and len(rates) == 100_000


def test_training_runs_the_published_schedule(stages, monkeypatch):
    config_path, _ = stages
    used = []
    original_step = torch.optim.SGD.step

    def recording_step(self, *args, **kwargs):
        used.append((len(self.param_groups[0]['params']), self.param_groups[0]['lr']))
        return original_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.SGD, 'step', recording_step)
    train_main(PRESETS['re'], ['--config', str(config_path), *TINY, '--run-name', 'schedule', '--warmup-iters', '2',
                               '--max-iters', '5', '--snapshot-every', '5', '--compression-p', '0'])
    fc_params = 2
    assert [count == fc_params for count, _ in used] == [True, True, False, False, False]
    assert [lr for count, lr in used if count != fc_params] == pytest.approx(published_learning_rates(5, 2)[2:])
    snapshots = load_config(config_path).snapshots_dir('schedule')
    assert sorted(p.name for p in snapshots.glob('snapshot_*')) == ['snapshot_5.pth']
    assert torch.load(snapshots / STATE_FILE, weights_only=False)['step'] == 5


def test_lr_schedule_is_linear_decay_stepped_every_iteration():
    assert [lr_factor(it, 4) for it in range(4)] == [1.0, 0.75, 0.5, 0.25]
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.005)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda it: lr_factor(it, 100_000))
    lrs = []
    for _ in range(3):
        lrs.append(optimizer.param_groups[0]['lr'])
        optimizer.step()
        scheduler.step()
    assert lrs == pytest.approx([0.005, 0.005 * 99_999 / 100_000, 0.005 * 99_998 / 100_000])


def test_sampler_resumes_the_same_stream_and_splits_ranks():
    full = InfiniteBatchSampler(7, 3, seed=1)
    stream = [b for _, b in zip(range(6), full)]
    resumed = [b for _, b in zip(range(3), InfiniteBatchSampler(7, 3, seed=1, start_batch=3))]
    assert resumed == stream[3:]
    # As the published DataLoader(shuffle=True, drop_last=True): two whole batches per epoch of 7, the rest dropped.
    for epoch in range(3):
        items = [i for i, _ in stream[2 * epoch] + stream[2 * epoch + 1]]
        assert len(set(items)) == 6
    assert len({seed for batch in stream for _, seed in batch}) == 18
    tiny = [b for _, b in zip(range(4), InfiniteBatchSampler(2, 3, seed=1))]
    assert all(len(batch) == 3 for batch in tiny), 'fewer items than a batch: batches run across epochs'
    assert [b for _, b in zip(range(2), InfiniteBatchSampler(2, 3, seed=1, start_batch=2))] == tiny[2:]
    ranks = [set(i for i, _ in next(iter(InfiniteBatchSampler(6, 3, seed=1, rank=r, world_size=2)))) for r in (0, 1)]
    assert ranks[0].isdisjoint(ranks[1])


@pytest.mark.parametrize('key', sorted(SCRIPTS))
def test_each_script_runs_three_iterations_and_writes_snapshots(stages, key):
    config_path, _ = stages
    run_name = f'test-{key}'
    result = subprocess.run([sys.executable, str(REPO / SCRIPTS[key]), '--config', str(config_path), *TINY,
                             '--run-name', run_name, '--warmup-iters', '1', '--max-iters', '3',
                             '--snapshot-every', '1'], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert '3 iterations' in result.stdout
    snapshots = load_config(config_path).snapshots_dir(run_name)
    expected = [MODEL_SPEC_FILE, 'snapshot_1.pth', 'snapshot_2.pth', 'snapshot_3.pth', STATE_FILE]
    assert sorted(p.name for p in snapshots.iterdir()) == expected
    state = torch.load(snapshots / 'snapshot_3.pth', weights_only=True)
    model = create_model('efficientnet-b0', sequence_length=7 if key == 'seq' else None,
                         width_coefficient=0.25, depth_coefficient=0.2)
    model.load_state_dict(state, strict=True)
    logs = load_config(config_path).logs_dir(run_name)
    assert any(p.name.startswith('events.out.tfevents') for p in logs.iterdir())


def test_resume_continues_at_the_right_iteration_with_the_same_result(stages):
    config_path, _ = stages
    config = load_config(config_path)
    common = ['--config', str(config_path), *TINY, '--warmup-iters', '1', '--max-iters', '4', '--snapshot-every', '2',
              '--compression-p', '0.5']
    train_main(PRESETS['large_crop'], [*common, '--run-name', 'resume-full'])
    train_main(PRESETS['large_crop'], [*common, '--run-name', 'resume-split', '--stop-after', '3'])
    split = config.snapshots_dir('resume-split')
    assert sorted(p.name for p in split.glob('snapshot_*')) == ['snapshot_2.pth']
    assert torch.load(split / STATE_FILE, weights_only=False)['step'] == 2
    train_main(PRESETS['large_crop'], [*common, '--run-name', 'resume-split', '--resume'])
    full = torch.load(config.snapshots_dir('resume-full') / 'snapshot_4.pth', weights_only=True)
    resumed = torch.load(split / 'snapshot_4.pth', weights_only=True)
    assert full.keys() == resumed.keys()
    for key in full:
        assert torch.equal(full[key], resumed[key]), key


def test_clear_errors_for_missing_pairs_and_weights(tmp_path, synthetic_root, stages, caplog):
    from tests.conftest import write_config
    config_path = write_config(tmp_path, synthetic_root)
    with pytest.raises(UserError, match='track_pairs.txt does not exist'):
        train_main(PRESETS['re'], ['--config', str(config_path), *TINY])
    pairs = load_config(config_path).track_pairs_path
    pairs.parent.mkdir(parents=True)
    pairs.write_text('')
    with pytest.raises(UserError, match='lists no usable pairs'):
        train_main(PRESETS['re'], ['--config', str(config_path), *TINY])
    pairs.write_text('p/a.mp4_0_0_0,p/b.mp4_0_0_0\n')
    with pytest.raises(UserError, match='lists no usable pairs'):
        train_main(PRESETS['re'], ['--config', str(config_path), *TINY])
    assert 'p/a.mp4_0_0_0: clip named in track_pairs.txt is missing' in caplog.text
    with pytest.raises(UserError, match='pretrained weights .* do not exist'):
        train_main(PRESETS['re'], ['--config', str(stages[0]), *TINY[:-6], '--pretrained', str(tmp_path / 'x.pth')])


def test_two_process_torchrun_leaves_identical_weights(stages, labelled_stages):
    config_path, _ = stages
    validation = load_config(labelled_stages[0]).DFDC_DATA_PATH / 'val_labels.csv'
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    # Rank 0 alone validates; the other rank must wait for it, not run into the next collective.
    result = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
                             '--master_port', '29531', str(REPO / SCRIPTS['re']), '--config', str(config_path), *TINY,
                             '--run-name', 'ddp', '--warmup-iters', '1', '--max-iters', '2', '--snapshot-every', '2',
                             '--val', str(validation), '--val-detector', 'opencv', '--val-every', '1',
                             '--device', 'cpu'], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    digests = result.stdout.split('weights ')[1].split(';')[0].split(',')
    assert len(digests) == 2 and digests[0] == digests[1]
    assert (load_config(config_path).snapshots_dir('ddp') / 'snapshot_2.pth').is_file()
    assert (load_config(config_path).snapshots_dir('ddp') / 'best.json').is_file()


def test_channels_last_training_gives_the_same_weights(stages):
    """The default NHWC layout changes only float rounding: after a few iterations the weights still agree."""
    config_path, _ = stages
    config = load_config(config_path)
    common = ['--config', str(config_path), *TINY, '--warmup-iters', '1', '--max-iters', '3', '--snapshot-every', '3',
              '--compression-p', '0']
    train_main(PRESETS['large_crop'], [*common, '--run-name', 'layout-nchw', '--no-channels-last'])
    train_main(PRESETS['large_crop'], [*common, '--run-name', 'layout-nhwc'])
    plain = torch.load(config.snapshots_dir('layout-nchw') / 'snapshot_3.pth', weights_only=True)
    nhwc = torch.load(config.snapshots_dir('layout-nhwc') / 'snapshot_3.pth', weights_only=True)
    assert all(value.is_contiguous() for value in nhwc.values()), 'snapshots are stored in the plain layout'
    for key, value in plain.items():
        if value.is_floating_point():
            assert torch.allclose(value, nhwc[key], rtol=1e-4, atol=1e-5), key


def test_single_clips_train_on_their_label(labelled_stages, monkeypatch):
    """Pairs get a Beta mixup weight; a single clip comes as (clip, clip) and its target is its label."""
    config_path, _ = labelled_stages
    config = load_config(config_path)
    pairs, singles = read_track_pairs(config.track_pairs_path), read_single_clips(config.single_clips_path)
    dataset = TrackPairDataset(config.clips_root, pairs, (9, 13), build_pipeline('large_crop'), compression_p=0,
                               singles=singles)
    clip, same, label = dataset[(len(pairs), 5)]
    assert clip is same and label.item() == singles[0][1] and len(dataset) == len(pairs) + len(singles)
    assert torch.isnan(dataset[(0, 5)][2])
    targets = []
    original = torch.nn.BCEWithLogitsLoss.forward
    monkeypatch.setattr(torch.nn.BCEWithLogitsLoss, 'forward',
                        lambda self, logits, target: targets.append(target.clone()) or original(self, logits, target))
    batch = len(pairs) + len(singles)   # one epoch per batch: every pair and every single in each
    train_main(PRESETS['large_crop'], ['--config', str(config_path), *TINY[:-4], '--batch-size', str(batch),
                                       '--num-workers', '0', '--run-name', 'singles', '--warmup-iters', '1',
                                       '--max-iters', '2', '--compression-p', '0'])
    for target in targets:
        per_sample = target.view(batch, -1)
        exact = sorted(row[0].item() for row in per_sample if row[0] in (0.0, 1.0) and (row == row[0]).all())
        assert exact == sorted(float(label) for _, label in singles)
    assert single_slots(10, 4, None) == 4 and single_slots(10, 4, 0.5) == 10 and single_slots(0, 4, 0.9) == 4
    with pytest.raises(UserError, match='single-ratio'):
        single_slots(10, 4, 1.0)


def test_init_starts_from_final_weights_and_finetune_sets_the_schedule(labelled_stages, tmp_path):
    from tests.test_copy_weights import make_tiny_snapshots, run_copy
    from dfdc.models import weights_path
    config_path, _ = labelled_stages
    config = load_config(config_path)
    make_tiny_snapshots(config)
    assert run_copy(config_path, '--iteration', '5', '--force').returncode == 0
    init = weights_path(config.MODELS_PATH, PRESETS['re'].run_name)
    args = get_args_parser(PRESETS['re']).parse_args(['--finetune', '--init', str(init)])
    assert (args.max_iters, args.warmup_iters, args.lr) == (100_000, 100, 0.005), 'train_main applies the preset'
    train_main(PRESETS['re'], ['--config', str(config_path), '--init', str(init), '--finetune', '--lr', '0',
                               '--max-iters', '1', '--batch-size', '2', '--num-workers', '0', '--run-name', 'init',
                               '--compression-p', '0'])
    snapshots = config.snapshots_dir('init')
    assert json.loads((snapshots / MODEL_SPEC_FILE).read_text())['overrides'] == {'width_coefficient': 0.25,
                                                                                  'depth_coefficient': 0.2}
    start = torch.load(init, weights_only=True)
    after = torch.load(snapshots / 'snapshot_1.pth', weights_only=True)
    model = create_model('efficientnet-b0', width_coefficient=0.25, depth_coefficient=0.2)
    for name, _ in model.named_parameters():   # lr 0: the weights are the --init weights (BN statistics move)
        assert torch.equal(after[name], start[name].float()), name
    sequence_init = weights_path(config.MODELS_PATH, PRESETS['seq'].run_name)
    with pytest.raises(UserError, match='is a sequence model'):
        train_main(PRESETS['re'], ['--config', str(config_path), '--init', str(sequence_init), '--max-iters', '1'])
    with pytest.raises(UserError, match='--finetune fine-tunes final weights'):
        train_main(PRESETS['re'], ['--config', str(config_path), '--finetune', *TINY])


def test_validation_through_the_predictor_keeps_the_best_snapshot(labelled_stages, capsys):
    config_path, _ = labelled_stages
    config = load_config(config_path)
    train_main(PRESETS['large_crop'], ['--config', str(config_path), *TINY, '--run-name', 'validated',
                                       '--warmup-iters', '1', '--max-iters', '2', '--snapshot-every', '1',
                                       '--compression-p', '0', '--val', str(config.DFDC_DATA_PATH / 'val_labels.csv'),
                                       '--val-detector', 'opencv'])
    snapshots = config.snapshots_dir('validated')
    best = json.loads((snapshots / 'best.json').read_text())
    assert best['iteration'] in (1, 2) and best['videos'] == 4 and 0 < best['log_loss'] < 5
    model = create_model('efficientnet-b0', width_coefficient=0.25, depth_coefficient=0.2)
    model.load_state_dict(torch.load(snapshots / 'best.pth', weights_only=True), strict=True)
    assert 'validation log loss' in capsys.readouterr().out
