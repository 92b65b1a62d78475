import math
from pathlib import Path

import pytest
import torch

from dsfd import SSD, decode_boxes, prior_boxes, feature_map_sizes
from dsfd.model import detect

MANIFEST = Path(__file__).resolve().parents[2] / 'shared' / 'reference' / 'dsfd_resnet152_state_dict.tsv'


def read_manifest(path: Path) -> list[tuple[str, tuple[int, ...], str]]:
    rows = []
    for line in path.read_text().splitlines()[1:]:
        name, shape, dtype = line.split('\t')
        rows.append((name, tuple(int(v) for v in shape.split('x')) if shape else (), dtype))
    return rows


@pytest.fixture(scope='module')
def model() -> SSD:
    torch.manual_seed(0)
    return SSD().eval()


@pytest.mark.skipif(not MANIFEST.exists(), reason='shared/reference is beside the checkout')
def test_state_dict_equals_published_manifest(model):
    expected = read_manifest(MANIFEST)
    actual = [(k, tuple(v.shape), str(v.dtype).replace('torch.', '')) for k, v in model.state_dict().items()]
    assert actual == expected


def test_fp16_weights_load_strictly(model, tmp_path):
    from dfdc.detectors import DSFDDetector
    path = tmp_path / 'dsfd.fp16.pth'
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}, path)
    detector = DSFDDetector(path, device='cpu')
    first = next(iter(model.state_dict()))
    assert torch.allclose(detector.model.state_dict()[first], model.state_dict()[first].half().float())


def test_forward_returns_sorted_detections_tensor(model):
    x = torch.randn(2, 3, 96, 128) * 50
    with torch.no_grad():
        output = model(x)
    assert output.shape == (2, 2, 5000, 5)
    assert torch.all(output[:, 0] == 0)
    for image in output[:, 1]:
        scores = image[:, 0]
        count = int((scores > 0).sum())
        assert count > 0
        assert torch.all(scores[:count] > 0.01) and torch.all(image[count:] == 0)
        assert torch.all(scores[:count - 1] >= scores[1:count])


def test_detect_applies_threshold_and_nms():
    boxes = torch.tensor([[[0.1, 0.1, 0.5, 0.5], [0.12, 0.1, 0.52, 0.5], [0.6, 0.6, 0.9, 0.9], [0, 0, 0.2, 0.2]]])
    scores = torch.tensor([[0.9, 0.8, 0.7, 0.005]])
    output = detect(boxes, scores, top_k=10)
    kept = output[0, 1]
    assert kept[:2, 0].tolist() == pytest.approx([0.9, 0.7])
    assert kept[1, 1:].tolist() == pytest.approx([0.6, 0.6, 0.9, 0.9])
    assert torch.all(kept[2:] == 0)


def test_prior_boxes_match_hand_computation():
    height, width = 64, 96
    feature_maps = [(16, 24), (8, 12), (4, 6), (2, 3), (1, 2), (1, 1)]
    priors = prior_boxes((height, width), feature_maps)
    assert priors.shape == (sum(r * c for r, c in feature_maps), 4)
    # Source 0, row 1, column 2: step 4, size 16.
    cx, cy, w, h = priors[1 * 24 + 2].tolist()
    assert cx == pytest.approx(2.5 * 4 / width)
    assert cy == pytest.approx(1.5 * 4 / height)
    assert w == pytest.approx(16 / width / math.sqrt(1.5))
    assert h == pytest.approx(16 / height * math.sqrt(1.5))
    # Source 2 (step 16, size 64), row 3, column 5; then clamped to 1.
    offset = 16 * 24 + 8 * 12
    cx, cy, w, h = priors[offset + 3 * 6 + 5].tolist()
    assert (cx, cy) == pytest.approx((5.5 * 16 / width, 3.5 * 16 / height))
    assert (w, h) == pytest.approx((64 / width / math.sqrt(1.5), min(1.0, 64 / height * math.sqrt(1.5))))
    # The last source: size 512 is wider than the image, so clamped.
    assert priors[-1].tolist() == pytest.approx([0.5 * 128 / width, 1.0, 1.0, 1.0])


def test_decode_is_standard_ssd():
    priors = torch.tensor([[0.5, 0.5, 0.2, 0.4]])
    loc = torch.tensor([[1.0, -1.0, 0.0, math.log(2) / 0.2]])
    x1, y1, x2, y2 = decode_boxes(loc, priors)[0].tolist()
    cx, cy = 0.5 + 0.1 * 0.2, 0.5 - 0.1 * 0.4
    assert (x1, y1, x2, y2) == pytest.approx((cx - 0.1, cy - 0.4, cx + 0.1, cy + 0.4))


def test_channels_last_detector_computes_the_same_head_outputs():
    from dfdc.detectors import DSFDDetector
    torch.manual_seed(0)
    frame = (torch.rand(90, 160, 3) * 255).to(torch.uint8).numpy()
    heads = {}
    for channels_last in (False, True):
        detector = DSFDDetector(None, device='cpu', resize='rcnn', channels_last=channels_last)
        torch.manual_seed(0)
        detector.model.load_state_dict(SSD().state_dict())
        seen = []
        detector.model.loc[0].register_forward_hook(lambda module, args, output: seen.append(output))
        detector.model.conf[1].register_forward_hook(lambda module, args, output: seen.append(output))
        detector.detect([frame])
        heads[channels_last] = [t.contiguous() for t in seen]
    for plain, nhwc in zip(heads[False], heads[True]):
        scale = plain.abs().max()
        assert torch.isfinite(scale) and scale > 0
        assert (plain - nhwc).abs().max() <= 1e-5 * scale


@pytest.mark.parametrize('height, width', [(288, 512), (384, 683), (97, 131), (64, 64)])
def test_feature_map_sizes_equal_the_network_s(model, height, width):
    """Post-processing computes the anchors' grid from the input size, so a backend need return only loc and conf."""
    with torch.inference_mode():
        _, _, feature_maps = model.head_outputs(torch.zeros(1, 3, height, width))
    assert feature_map_sizes(height, width) == feature_maps
