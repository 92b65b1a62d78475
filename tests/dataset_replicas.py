"""Small replicas of the public benchmarks' official layouts (../shared/DATASETS.md): the folder trees, list,
split and metadata files in their real formats, and a video file per listed video, some left out on purpose.

`write_video(path)` makes each video file: empty placeholders for the readers' tests, copies of real synthetic
videos for the end-to-end benchmark run.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

VideoWriter = Callable[[Path], None]


def placeholder(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b'')


def _videos(root: Path, relpaths, write_video: VideoWriter) -> None:
    for relpath in relpaths:
        write_video(root / relpath)


def faceforensics(root: Path, write_video: VideoWriter = placeholder) -> Path:
    """Pairs (000, 001) train, (002, 003) val, (004, 005) test; real 003 and FaceSwap's 005_004 are missing; a c40
    copy and a masks folder that must be ignored; DeepFakeDetection with one real and one fake."""
    splits = root / 'splits'
    splits.mkdir(parents=True)
    for split, pair in (('train', ['000', '001']), ('val', ['002', '003']), ('test', ['004', '005'])):
        (splits / f'{split}.json').write_text(json.dumps([pair]))
    reals = [f'original_sequences/youtube/c23/videos/{n}.mp4' for n in ('000', '001', '002', '004', '005')]
    fakes = [f'manipulated_sequences/{method}/c23/videos/{a}_{b}.mp4' for method in ('Deepfakes', 'FaceSwap')
             for a, b in (('000', '001'), ('001', '000'), ('002', '003'), ('003', '002'), ('004', '005'),
                          ('005', '004')) if (method, a) != ('FaceSwap', '005')]
    others = ['manipulated_sequences/Deepfakes/c40/videos/000_001.mp4',
              'manipulated_sequences/Deepfakes/masks/videos/000_001.mp4',
              'original_sequences/actors/c23/videos/01__talking.mp4',
              'manipulated_sequences/DeepFakeDetection/c23/videos/01_02__talking__AB12CD34.mp4']
    _videos(root, reals + fakes + others, write_video)
    return root


def celeb_df_v2(root: Path, write_video: VideoWriter = placeholder) -> Path:
    """Two videos per folder; the test list (1 = REAL, 0 = FAKE) names three of them, one unlisted fake is missing,
    and it ends with a blank line."""
    _videos(root, ['Celeb-real/id0_0000.mp4', 'Celeb-real/id1_0001.mp4', 'YouTube-real/00000.mp4',
                   'YouTube-real/00001.mp4', 'Celeb-synthesis/id0_id1_0000.mp4',
                   'Celeb-synthesis/id1_id0_0001.mp4'], write_video)
    (root / 'List_of_testing_videos.txt').write_text(
        '1 Celeb-real/id0_0000.mp4\n1 YouTube-real/00001.mp4\n0 Celeb-synthesis/id0_id1_0000.mp4\n'
        '0 Celeb-synthesis/id9_id8_0009.mp4\n\n')
    return root


def dfdc(root: Path, write_video: VideoWriter = placeholder) -> Path:
    """Two training parts (a REAL without `original`, a FAKE, one FAKE missing on disk), the organiser release's
    test set (labels.csv, videos in test/videos/) and validation set (metadata.json with is_fake, videos beside)."""
    (root / 'dfdc_train_part_0').mkdir(parents=True)
    (root / 'dfdc_train_part_0' / 'metadata.json').write_text(json.dumps({
        'bbbbbbbbbb.mp4': {'label': 'REAL', 'split': 'train'},
        'aaaaaaaaaa.mp4': {'label': 'FAKE', 'split': 'train', 'original': 'bbbbbbbbbb.mp4'}}))
    (root / 'dfdc_train_part_1').mkdir()
    (root / 'dfdc_train_part_1' / 'metadata.json').write_text(json.dumps({
        'cccccccccc.mp4': {'label': 'FAKE', 'split': 'train', 'original': 'dddddddddd.mp4'},
        'dddddddddd.mp4': {'label': 'REAL', 'split': 'train', 'original': None}}))
    (root / 'test').mkdir()
    (root / 'test' / 'labels.csv').write_text('filename,label\neeeeeeeeee.mp4,1\nffffffffff.mp4,0\n')
    (root / 'validation').mkdir()
    (root / 'validation' / 'metadata.json').write_text(json.dumps({
        'gggggggggg.mp4': {'augmentations': {'blur': 1}, 'is_fake': 1},
        'hhhhhhhhhh.mp4': {'augmentations': {}, 'is_fake': 0}}))
    _videos(root, ['dfdc_train_part_0/aaaaaaaaaa.mp4', 'dfdc_train_part_0/bbbbbbbbbb.mp4',
                   'dfdc_train_part_1/dddddddddd.mp4', 'test/videos/eeeeeeeeee.mp4', 'test/videos/ffffffffff.mp4',
                   'validation/gggggggggg.mp4', 'validation/hhhhhhhhhh.mp4'], write_video)
    return root


def dfdc_preview(root: Path, write_video: VideoWriter = placeholder) -> Path:
    entries = {
        'original_videos/1255229/1255229_A_001.mp4': {'label': 'real', 'set': 'train', 'target_id': '1255229'},
        'original_videos/1255229/1255229_B_002.mp4': {'label': 'real', 'set': 'test', 'target_id': '1255229'},
        'method_A/1255229/1255229_A/1255229_A_001_x.mp4': {'label': 'fake', 'set': 'test', 'target_id': '1255229',
                                                            'swapped_id': '7'},
        'method_B/1255229/1255229_B/1255229_B_002_y.mp4': {'label': 'fake', 'set': 'test', 'target_id': '1255229',
                                                            'swapped_id': '8'},
        'method_B/1255229/1255229_C/1255229_C_003_z.mp4': {'label': 'fake', 'set': 'train', 'target_id': '1255229',
                                                            'swapped_id': '9'},
    }
    root.mkdir(parents=True)
    (root / 'dataset.json').write_text(json.dumps(entries))
    _videos(root, [k for k in entries if not k.endswith('_z.mp4')], write_video)
    return root


def deeperforensics(root: Path, write_video: VideoWriter = placeholder) -> Path:
    """One fake per split (the list lines with and without .mp4), and another variant that must be ignored."""
    (root / 'lists' / 'splits').mkdir(parents=True)
    (root / 'lists' / 'splits' / 'train.txt').write_text('000_M001.mp4\n')
    (root / 'lists' / 'splits' / 'val.txt').write_text('002_W002\n')
    (root / 'lists' / 'splits' / 'test.txt').write_text('004_M003.mp4\n\n')
    _videos(root, ['manipulated_videos/end_to_end/000_M001.mp4', 'manipulated_videos/end_to_end/002_W002.mp4',
                   'manipulated_videos/end_to_end/004_M003.mp4', 'manipulated_videos/end_to_end_level_1/000_M001.mp4'],
            write_video)
    return root
