"""Each reader on a replica of its data set's official layout: the exact listing, missing videos, bad layouts."""
import shutil
import subprocess
import sys

import pytest

from dfdc.datasets import LayoutError, Video, read_dataset
from tests import dataset_replicas as replicas
from tests.conftest import REPO


def rows(listing):
    return sorted((v.path, v.label, v.split, v.method) for v in listing.videos)


def test_faceforensics_every_method_split_and_missing_video(tmp_path):
    root = replicas.faceforensics(tmp_path / 'ff')
    listing = read_dataset('ff++', root, 'test')
    youtube, deepfakes, faceswap = ('original_sequences/youtube/c23/videos', 'manipulated_sequences/Deepfakes/c23/'
                                    'videos', 'manipulated_sequences/FaceSwap/c23/videos')
    assert rows(listing) == [
        (f'{deepfakes}/004_005.mp4', 1, 'test', 'Deepfakes'), (f'{deepfakes}/005_004.mp4', 1, 'test', 'Deepfakes'),
        (f'{faceswap}/004_005.mp4', 1, 'test', 'FaceSwap'),
        (f'{youtube}/004.mp4', 0, 'test', 'youtube'), (f'{youtube}/005.mp4', 0, 'test', 'youtube')]
    assert listing.missing == [Video(f'{faceswap}/005_004.mp4', 1, 'test', 'FaceSwap')]
    everything = read_dataset('ff++', root)
    assert len(everything.videos) == 5 + 11 and {v.split for v in everything.videos} == {'train', 'val', 'test'}
    assert sorted(v.path for v in everything.missing) == [f'{faceswap}/005_004.mp4', f'{youtube}/003.mp4']
    assert not [v for v in everything.videos if 'c40' in v.path or 'masks' in v.path or 'actors' in v.path]


def test_faceforensics_raw_is_also_called_c0_and_splits_may_be_elsewhere(tmp_path):
    root = replicas.faceforensics(tmp_path / 'ff')
    for folder in ('original_sequences/youtube', 'manipulated_sequences/Deepfakes'):
        (root / folder / 'c23').rename(root / folder / 'c0')
    (root / 'splits').rename(tmp_path / 'official_splits')
    listing = read_dataset('ff++', root, 'val', compression='raw', splits_dir=tmp_path / 'official_splits')
    assert rows(listing) == [('manipulated_sequences/Deepfakes/c0/videos/002_003.mp4', 1, 'val', 'Deepfakes'),
                             ('manipulated_sequences/Deepfakes/c0/videos/003_002.mp4', 1, 'val', 'Deepfakes'),
                             ('original_sequences/youtube/c0/videos/002.mp4', 0, 'val', 'youtube')]
    assert [v.path for v in listing.missing] == ['original_sequences/youtube/c0/videos/003.mp4']
    with pytest.raises(LayoutError, match='must hold train.json, val.json and test.json'):
        read_dataset('ff++', root, compression='raw', splits_dir=tmp_path)


def test_deepfakedetection_is_all_test(tmp_path):
    root = replicas.faceforensics(tmp_path / 'ff')
    assert rows(read_dataset('dfd', root, 'test')) == [
        ('manipulated_sequences/DeepFakeDetection/c23/videos/01_02__talking__AB12CD34.mp4', 1, 'test',
         'DeepFakeDetection'), ('original_sequences/actors/c23/videos/01__talking.mp4', 0, 'test', 'actors')]


def test_celeb_df_v2_inverted_test_list(tmp_path):
    root = replicas.celeb_df_v2(tmp_path / 'Celeb-DF-v2')
    listing = read_dataset('celeb-df-v2', root)
    assert rows(listing) == [
        ('Celeb-real/id0_0000.mp4', 0, 'test', 'Celeb-real'), ('Celeb-real/id1_0001.mp4', 0, 'train', 'Celeb-real'),
        ('Celeb-synthesis/id0_id1_0000.mp4', 1, 'test', 'Celeb-synthesis'),
        ('Celeb-synthesis/id1_id0_0001.mp4', 1, 'train', 'Celeb-synthesis'),
        ('YouTube-real/00000.mp4', 0, 'train', 'YouTube-real'), ('YouTube-real/00001.mp4', 0, 'test', 'YouTube-real')]
    assert listing.missing == [Video('Celeb-synthesis/id9_id8_0009.mp4', 1, 'test', 'Celeb-synthesis')]
    assert len(read_dataset('celeb-df-v2', root, 'test').videos) == 3


def test_dfdc_training_parts_and_the_organisers_test_and_validation_sets(tmp_path):
    listing = read_dataset('dfdc', replicas.dfdc(tmp_path / 'dfdc'))
    assert rows(listing) == [
        ('dfdc_train_part_0/aaaaaaaaaa.mp4', 1, 'train', ''), ('dfdc_train_part_0/bbbbbbbbbb.mp4', 0, 'train', ''),
        ('dfdc_train_part_1/dddddddddd.mp4', 0, 'train', ''),
        ('test/videos/eeeeeeeeee.mp4', 1, 'test', ''), ('test/videos/ffffffffff.mp4', 0, 'test', ''),
        ('validation/gggggggggg.mp4', 1, 'val', ''), ('validation/hhhhhhhhhh.mp4', 0, 'val', '')]
    assert listing.missing == [Video('dfdc_train_part_1/cccccccccc.mp4', 1, 'train', '')]


def test_dfdc_preview_dataset_json(tmp_path):
    listing = read_dataset('dfdc-preview', replicas.dfdc_preview(tmp_path / 'DFDCP'), 'test')
    assert rows(listing) == [
        ('method_A/1255229/1255229_A/1255229_A_001_x.mp4', 1, 'test', 'method_A'),
        ('method_B/1255229/1255229_B/1255229_B_002_y.mp4', 1, 'test', 'method_B'),
        ('original_videos/1255229/1255229_B_002.mp4', 0, 'test', 'original_videos')]
    assert read_dataset('dfdc-preview', tmp_path / 'DFDCP', 'train').missing == [
        Video('method_B/1255229/1255229_C/1255229_C_003_z.mp4', 1, 'train', 'method_B')]


def test_deeperforensics_reals_come_from_faceforensics(tmp_path):
    root = replicas.deeperforensics(tmp_path / 'DeeperForensics-1.0')
    ff = replicas.faceforensics(tmp_path / 'ff')
    listing = read_dataset('deeperforensics', root, ff_root=ff)
    youtube = (ff / 'original_sequences/youtube/c23/videos').resolve()
    assert rows(listing) == sorted([
        ('manipulated_videos/end_to_end/000_M001.mp4', 1, 'train', 'end_to_end'),
        ('manipulated_videos/end_to_end/002_W002.mp4', 1, 'val', 'end_to_end'),
        ('manipulated_videos/end_to_end/004_M003.mp4', 1, 'test', 'end_to_end'),
        (str(youtube / '000.mp4'), 0, 'train', 'youtube'), (str(youtube / '002.mp4'), 0, 'val', 'youtube'),
        (str(youtube / '004.mp4'), 0, 'test', 'youtube')])
    assert listing.absolute(listing.videos[-1]).is_file()
    fakes_only = read_dataset('deeperforensics', root, 'test')
    assert rows(fakes_only) == [('manipulated_videos/end_to_end/004_M003.mp4', 1, 'test', 'end_to_end')]


def test_plain_labels_csv(tmp_path):
    (tmp_path / 'clips').mkdir()
    for name in ('a.mp4', 'clips/b.mp4'):
        (tmp_path / name).write_bytes(b'')
    (tmp_path / 'labels.csv').write_text('filename,label,split,method\na.mp4,0,test,\nclips/b.mp4,1,test,swap\n'
                                         'c.mp4,1,train,swap\n')
    listing = read_dataset('labels', tmp_path)
    assert rows(listing) == [('a.mp4', 0, 'test', ''), ('clips/b.mp4', 1, 'test', 'swap')]
    assert listing.missing == [Video('c.mp4', 1, 'train', 'swap')]


@pytest.mark.parametrize('dataset, damage, message', [
    ('celeb-df-v2', lambda root: (root / 'List_of_testing_videos.txt').unlink(), 'List_of_testing_videos.txt is missing'),
    ('celeb-df-v2', lambda root: (root / 'List_of_testing_videos.txt').write_text('Celeb-real/id0_0000.mp4 1\n'),
     'line 1 is not'),
    ('celeb-df-v2', lambda root: (root / 'YouTube-real').rename(root / 'youtube'), 'YouTube-real is missing'),
    ('ff++', lambda root: (root / 'original_sequences').rename(root / 'originals'), 'youtube is missing'),
    ('ff++', lambda root: (root / 'original_sequences/youtube/c23').rename(root / 'x'), 'choose the compression'),
    ('dfdc', lambda root: [shutil.rmtree(p) for p in root.iterdir()], 'has neither dfdc_train_part_'),
    ('dfdc', lambda root: (root / 'dfdc_train_part_1' / 'metadata.json').unlink(), 'part_1/metadata.json is missing'),
    ('dfdc', lambda root: (root / 'test' / 'labels.csv').write_text('name,fake\nx.mp4,1\n'), 'filename,label'),
    ('dfdc-preview', lambda root: (root / 'dataset.json').write_text('{broken'), 'cannot be read as JSON'),
    ('deeperforensics', lambda root: (root / 'lists' / 'splits' / 'val.txt').unlink(), 'val.txt is missing'),
])
def test_a_layout_that_does_not_match_says_what_is_missing(tmp_path, dataset, damage, message):
    make = {'celeb-df-v2': replicas.celeb_df_v2, 'ff++': replicas.faceforensics, 'dfdc': replicas.dfdc,
            'dfdc-preview': replicas.dfdc_preview, 'deeperforensics': replicas.deeperforensics}[dataset]
    root = make(tmp_path / 'root')
    damage(root)
    with pytest.raises(LayoutError, match=message):
        read_dataset(dataset, root)


def test_benchmark_labels_command_writes_the_labels_and_counts_missing(tmp_path):
    root = replicas.celeb_df_v2(tmp_path / 'Celeb-DF-v2')
    out = tmp_path / 'labels.csv'
    result = subprocess.run([sys.executable, str(REPO / 'benchmark.py'), 'labels', '--dataset', 'celeb-df-v2',
                             '--root', str(root), '--split', 'test', '--out', str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert out.read_text() == ('filename,label,split,method\nCeleb-real/id0_0000.mp4,0,test,Celeb-real\n'
                               'Celeb-synthesis/id0_id1_0000.mp4,1,test,Celeb-synthesis\n'
                               'YouTube-real/00001.mp4,0,test,YouTube-real\n')
    assert '3 videos (2 real, 1 fake), 1 listed but missing' in result.stdout
    assert 'Celeb-synthesis/id9_id8_0009.mp4' in result.stderr
    bad = subprocess.run([sys.executable, str(REPO / 'benchmark.py'), 'labels', '--dataset', 'ff++', '--root',
                          str(root), '--out', str(out)], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count('\n') == 1 and 'original_sequences/youtube is missing' in bad.stderr
