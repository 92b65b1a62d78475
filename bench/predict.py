"""predict.py end to end on 1080p videos: memory with tiny models, or speed at the published model sizes.

    python bench/predict.py [--videos 2] [--runs 3] [--json bench/results.jsonl]
    python bench/predict.py --models published [--detector dsfd|haar] [--videos 1] [--runs 2] [--json FILE]

Tiny models (default): `predict.py --backend torch --profile` (one streaming pass, crops kept, decoding in a thread)
against the published memory behaviour (the same predictor fed from a list of all kept frames of the video,
decoded first, as the published predictor does), and `predict.py --annotate` (what writing the annotated videos
adds). Reports s/video, peak RSS and the per-stage breakdown. (PyTorch on both sides: this one is about frames.)

`--models published`: the predictor at the published sizes on the CPU (three EfficientNet-B7 and, with `--detector
dsfd`, DSFD ResNet-152 on every detection frame; random well-conditioned weights saved once under bench/.cache and
loaded as predict.py loads MODELS_PATH) for each backend and precision, against the code before the OpenVINO
backend (PyTorch FP32 channels-last with the temporal convolution through nn.Conv3d) and against PyTorch FP32,
measured in the same run, in rounds of alternating order. Random DSFD weights find no faces, so the boxes come
from the Haar detector while DSFD still runs on every detection frame (its cost is in `detect`); the synthetic
videos' faces then give about as many B7 crops as a DFDC video. `--detector haar` leaves DSFD out: the
classifier-heavy case. Also reports the start-up (loading the models): once with an empty OpenVINO cache (the
conversion of a first run) and warm, and each variant's largest score difference from the two references.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

from common import CACHE, REPO, cpu_name, interleaved, python_child, report, run_child, stats

KEEP_ALL = '''
import json
from pathlib import Path
import dfdc.inference as inference
from dfdc.detectors import OpenCVDetector
from dfdc.devices import resolve_device
from dfdc.video import iter_frames, video_info

def keep_all_frames(paths, queue_frames=8):
    for path in paths:
        info = video_info(path)
        step = max(1, round(int(info.fps) / 15))
        frames = [frame for _, frame in iter_frames(path, step=step)]   # every kept frame, held at once
        yield ('start', step, info)
        for kept, frame in enumerate(frames):
            yield ('frame', kept, frame)
        yield ('end', len(frames) * step, 0.0)
        del frames
    yield None

class KeepAll:
    def __init__(self, it): self.it = it
    def __next__(self): return next(self.it)
    def close(self): pass

inference.frame_events = lambda paths, queue_frames=8: KeepAll(keep_all_frames(paths))
ensemble = Ensemble.load(Path(sys.argv[1]), resolve_device('cpu'))
predictor = inference.Predictor(OpenCVDetector(), ensemble)
results = list(predictor.predict_all([Path(p) for p in sys.argv[2:]]))
print(json.dumps([r.score for r in results]))
'''


LOADED_ONLY = '''
from pathlib import Path
import dfdc.inference as inference
from dfdc.detectors import OpenCVDetector
from dfdc.devices import resolve_device
from dfdc.models import Ensemble
ensemble = Ensemble.load(Path(sys.argv[1]), resolve_device('cpu'))
predictor = inference.Predictor(OpenCVDetector(), ensemble)
'''


PUBLISHED_SIZES = '''
import json, time
from pathlib import Path
import torch
import dfdc.inference as inference
from dfdc.backends import cache_roots
from dfdc.detectors import DSFDDetector, OpenCVDetector
from dfdc.models import Ensemble
from efficientnet import TemporalConv

backend, precision, before, detector, models, dsfd_weights = sys.argv[1:7]
paths = [Path(p) for p in sys.argv[7:]]
if before == 'before':
    # The code before the OpenVINO issue: the temporal convolution through nn.Conv3d (5-D transposes).
    TemporalConv.forward = TemporalConv.forward_conv3d


class DSFDCostHaarBoxes:
    """Haar's boxes at DSFD's cost: random DSFD weights find no faces, but the network runs on every frame."""
    def __init__(self):
        self.dsfd = DSFDDetector(dsfd_weights, device='cpu', resize='rcnn', precision=precision, backend=backend,
                                 cache_roots=cache_roots(Path(models)))
        self.haar = OpenCVDetector()

    def prepare(self, frame):
        return self.dsfd.prepare(frame), self.haar.prepare(frame)

    def detect_prepared(self, prepared):
        self.dsfd.detect_prepared([dsfd for dsfd, _ in prepared])
        return self.haar.detect_prepared([haar for _, haar in prepared])


start = time.perf_counter()
ensemble = Ensemble.load(Path(models), torch.device('cpu'), batch_size=8, precision=precision, backend=backend)
face_detector = DSFDCostHaarBoxes() if detector == 'dsfd' else OpenCVDetector()
if detector == 'dsfd' and backend == 'openvino':
    face_detector.dsfd._openvino()
load = time.perf_counter() - start
predictor = inference.Predictor(face_detector, ensemble)
start = time.perf_counter()
results = list(predictor.predict_all(paths))
wall = time.perf_counter() - start
crops = sum(len(t.probabilities[k]) for r in results for t in r.tracks for k in t.probabilities)
print(json.dumps({'wall': wall, 'load': load, 'scores': [r.score for r in results], 'crops': crops,
                  'stages': {k: sum(r.timings[k] for r in results) for k in results[0].timings}}))
'''

# name: (backend, precision, 'before' for the code before the OpenVINO backend and the 2-D temporal convolution)
PUBLISHED_VARIANTS = {'before: torch fp32 channels-last, Conv3d': ('torch', 'fp32', 'before'),
                      'torch fp32 channels-last': ('torch', 'fp32', 'now'),
                      'openvino fp32 (default)': ('openvino', 'fp32', 'now'),
                      'torch bf16 channels-last': ('torch', 'bf16', 'now'),
                      'openvino bf16': ('openvino', 'bf16', 'now')}
BEFORE, TORCH_FP32 = 'before: torch fp32 channels-last, Conv3d', 'torch fp32 channels-last'


def published_weights() -> tuple[Path, Path]:
    """Random well-conditioned weights of the published architectures, saved once as predict.py reads them
    (MODELS_PATH layout, FP16 files), so every variant loads them through Ensemble.load and the same caches."""
    import torch
    from dfdc.models import ENSEMBLE, weights_path
    from dfdc.synthetic import quiet_face_scores, well_conditioned_weights
    from dsfd import SSD
    from efficientnet import create_model
    models = CACHE / 'published_models'
    dsfd = models / 'dsfd_random.fp16.pth'
    for run_name, _, sequence in ENSEMBLE:
        path = weights_path(models, run_name)
        if not path.is_file():
            model = well_conditioned_weights(create_model('efficientnet-b7', sequence_length=7 if sequence else None))
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save({k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}, path)
    if not dsfd.is_file():
        model = SSD().eval()
        well_conditioned_weights(model, (2, 3, 288, 512))
        quiet_face_scores(model)
        torch.save({k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}, dsfd)
    return models, dsfd


def published_sizes(videos: list[str], runs: int, json_path: str | None, detector: str) -> int:
    import shutil
    from dfdc.backends import CACHE_FOLDER
    models, dsfd = published_weights()
    outputs: dict[str, list[dict]] = {name: [] for name in PUBLISHED_VARIANTS}

    def child(name):
        _, peak, out = run_child(python_child(PUBLISHED_SIZES, *PUBLISHED_VARIANTS[name], detector, str(models),
                                              str(dsfd), *videos))
        return json.loads(out.strip().splitlines()[-1]), peak

    # Start-up: converting on a first run (empty cache), then loading the converted models.
    shutil.rmtree(models / CACHE_FOLDER, ignore_errors=True)
    cold, _ = child('openvino fp32 (default)')
    outputs['openvino fp32 (default)'].append(cold)
    print(f'  start-up, openvino, first run (converts {"DSFD and " if detector == "dsfd" else ""}the three B7): '
          f'{cold["load"]:.1f} s')

    def variant(name):
        def run():
            record, peak = child(name)
            outputs[name].append(record)
            return record['wall'] / len(videos), peak
        return run

    results = interleaved({name: variant(name) for name in PUBLISHED_VARIANTS}, runs)
    for name, record in outputs.items():
        warm = [r['load'] for r in (record[1:] if name == 'openvino fp32 (default)' else record)]
        results[name]['load_s'] = stats(warm)
        last = record[-1]
        stages = {k: v / len(videos) for k, v in last['stages'].items()}
        differences = {reference: max(abs(a - b) for a, b in zip(last['scores'], outputs[reference][-1]['scores']))
                       for reference in (BEFORE, TORCH_FP32)}
        results[name].update({'stages_s_per_video': stages, 'crops_per_video': last['crops'] / len(videos),
                              'max_score_difference': differences,
                              'ratio_to_torch_fp32': results[TORCH_FP32]['wall_s']['median'] /
                              results[name]['wall_s']['median']})
        print(f'  {name}: ' + ', '.join(f'{k} {v:.2f}' for k, v in stages.items()) +
              f' s/video; {last["crops"] / len(videos):.0f} B7 crops/video; start-up {stats(warm)["median"]:.1f} s; '
              f'{results[name]["ratio_to_torch_fp32"]:.2f}x torch fp32; scores differ from before by '
              f'{differences[BEFORE]:.1e}, from torch fp32 by {differences[TORCH_FP32]:.1e} at most')
    report(f'predict at the published sizes ({"DSFD" if detector == "dsfd" else "Haar"} + 3 x B7), CPU, '
           f'{len(videos)} x 1080p 10 s', results, BEFORE, json_path,
           {'videos': len(videos), 'threads': __import__('torch').get_num_threads(), 'cpu': cpu_name(),
            'detector': detector, 'first_run_load_s': cold['load']})
    return 0


def make_models(directory: Path) -> Path:
    import torch
    from dfdc.models import ENSEMBLE, weights_path
    from efficientnet import create_model
    torch.manual_seed(0)
    for run_name, _, sequence in ENSEMBLE:
        spec = {'name': 'efficientnet-b0', 'overrides': {'width_coefficient': 0.25, 'depth_coefficient': 0.2},
                'sequence_length': 7 if sequence else None}
        model = create_model('efficientnet-b0', sequence_length=spec['sequence_length'], **spec['overrides'])
        path = weights_path(directory, run_name)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}, path)
        path.with_suffix('.json').write_text(json.dumps(spec))
    return directory


def make_face_videos(count: int) -> list[Path]:
    """1080p 10 s synthetic videos with faces (rendered once, cached)."""
    from dfdc.synthetic import SyntheticSpec, make_dataset
    root = CACHE / f'faces_1080p_{count}'
    videos = sorted((root / 'test_videos').glob('*.mp4'))
    if len(videos) < count:
        make_dataset(root, SyntheticSpec(parts=0, test_videos=count, width=1920, height=1080, seconds=10, seed=5))
        videos = sorted((root / 'test_videos').glob('*.mp4'))
    return videos


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--models', choices=('tiny', 'published'), default='tiny')
    parser.add_argument('--videos', type=int, default=None, help='default: 2 (tiny), 1 (published)')
    parser.add_argument('--detector', choices=('dsfd', 'haar'), default='dsfd',
                        help='published sizes: DSFD on every detection frame (boxes from Haar), or Haar alone '
                             '(classifier-heavy)')
    parser.add_argument('--runs', type=int, default=None, help='default: 3 (tiny), 2 (published)')
    parser.add_argument('--json', default=None)
    args = parser.parse_args(argv)
    videos = [str(v) for v in make_face_videos(args.videos or (1 if args.models == 'published' else 2))]
    if args.models == 'published':
        return published_sizes(videos, args.runs or 2, args.json, args.detector)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        models = make_models(tmp / 'models')
        config = tmp / 'config.yaml'
        config.write_text(f'DFDC_DATA_PATH: {tmp}\nARTIFACTS_PATH: {tmp}/a\nMODELS_PATH: {models}\n'
                          f'SUBMISSION_PATH: {tmp}/s.csv\n')
        profiles = []

        def ours():
            wall, peak, out = run_child([sys.executable, str(REPO / 'predict.py'), '--config', str(config),
                                         '--input', *videos, '--output', str(tmp / 'o.csv'), '--detector', 'opencv',
                                         '--device', 'cpu', '--backend', 'torch', '--profile'])
            profiles.append(out)
            return wall / len(videos), peak

        def ours_annotated():
            wall, peak, _ = run_child([sys.executable, str(REPO / 'predict.py'), '--config', str(config),
                                       '--input', *videos, '--output', str(tmp / 'a.csv'), '--detector', 'opencv',
                                       '--device', 'cpu', '--backend', 'torch', '--annotate', str(tmp / 'annotated')])
            return wall / len(videos), peak

        def keep_all():
            wall, peak, _ = run_child(python_child(KEEP_ALL, str(models), *videos))
            return wall / len(videos), peak

        def loaded_only():
            wall, peak, _ = run_child(python_child(LOADED_ONLY, str(models)))
            return wall / len(videos), peak

        results = interleaved({'published memory (keep all frames)': keep_all, 'ours (predict.py)': ours,
                               'ours with --annotate': ours_annotated,
                               'torch and models loaded, no video': loaded_only}, args.runs or 3)
    profile = re.search(r'profile \(s/video\): (.*)', profiles[-1])
    breakdown = dict((k, float(v)) for k, v in re.findall(r'(\w+) ([\d.]+)', profile.group(1))) if profile else {}
    print('(wall_s is seconds per video; stage times of ours, per video: '
          + ', '.join(f'{k} {v:.2f}' for k, v in breakdown.items()) + ')')
    ratio = results['ours (predict.py)']['peak_rss_mb']['median'] / results[
        'published memory (keep all frames)']['peak_rss_mb']['median']
    floor = results['torch and models loaded, no video']['peak_rss_mb']['median']
    added = (results['ours (predict.py)']['peak_rss_mb']['median'] - floor) / (
        results['published memory (keep all frames)']['peak_rss_mb']['median'] - floor)
    print(f'peak RSS of ours: {100 * ratio:.0f}% of the baseline; memory added by the video beyond loading torch '
          f'and the models ({floor:.0f} MB): {100 * added:.0f}% of the baseline\'s')
    annotate_rss = (results['ours with --annotate']['peak_rss_mb']['median']
                    - results['ours (predict.py)']['peak_rss_mb']['median'])
    annotate_s = results['ours with --annotate']['wall_s']['median'] - results['ours (predict.py)']['wall_s']['median']
    print(f'--annotate adds {annotate_s:.2f} s per video and {annotate_rss:.0f} MB of peak RSS')
    report('predict 1080p, tiny models, CPU', results, 'published memory (keep all frames)', args.json,
           {'videos': len(videos), 'stages_s_per_video': breakdown, 'peak_rss_ratio': ratio,
            'added_rss_ratio': added})
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
