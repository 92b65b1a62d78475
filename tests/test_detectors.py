import numpy as np
import pytest
import torch

from dfdc.detectors import DSFDDetector, OpenCVDetector, build_detector
from dfdc.tracking import iou
from dfdc.video import iter_frames


def test_haar_detector_finds_the_synthetic_faces(synthetic_root, sidecar):
    detector = OpenCVDetector()
    hits = total = 0
    for relpath, entry in sorted(sidecar.items()):
        frames = dict(iter_frames(synthetic_root / relpath, step=15))
        results = detector.detect(list(frames.values()))
        for index, (boxes, scores) in zip(frames, results):
            assert boxes.dtype == np.float32 and scores.dtype == np.float32 and boxes.shape == (len(scores), 4)
            assert np.all((scores > 0.3) & (scores < 1))
            for truth in entry['boxes'][index]:
                total += 1
                hits += any(iou(truth, box) >= 0.5 for box in boxes)
    assert total > 20
    assert hits / total >= 0.8


class _FixedSSD(torch.nn.Module):
    """Stands in for DSFD: one face at fixed relative coordinates, and records the input it saw."""

    def __init__(self):
        super().__init__()
        self.inputs = []

    def forward(self, x):
        self.inputs.append(x.clone())
        output = torch.zeros(x.shape[0], 2, 5000, 5)
        output[:, 1, 0] = torch.tensor([0.95, 0.25, 0.5, 0.5, 0.75])
        output[:, 1, 1] = torch.tensor([0.2, 0.0, 0.0, 0.1, 0.1])  # below the 0.3 keep threshold
        return output


@pytest.mark.parametrize('resize, input_shape, expected', [
    # area: scale sqrt(512*512 / (360*640)) = 1.0667 -> 683 x 384, no padding; box relative to the frame.
    ('area', (384, 683), [160.0, 180.0, 320.0, 270.0]),
    # long: longer side 512 -> 512 x 288, padded to 512 x 288 (already a multiple of 32).
    ('long', (288, 512), [160.0, 180.0, 320.0, 270.0]),
])
def test_dsfd_detector_preprocessing_and_box_scaling(resize, input_shape, expected):
    detector = DSFDDetector(None, device='cpu', resize=resize)
    detector.model = _FixedSSD()
    frame = np.full((360, 640, 3), 200, np.uint8)
    (boxes, scores), = detector.detect([frame])
    seen = detector.model.inputs[0]
    assert tuple(seen.shape[2:]) == input_shape
    assert seen[0, :, 10, 10].tolist() == pytest.approx([200 - 104, 200 - 117, 200 - 123])
    assert scores.tolist() == pytest.approx([0.95])
    assert boxes[0].tolist() == pytest.approx(expected, rel=1e-3)


def test_long_mode_pads_batch_to_multiple_of_32_and_maps_boxes_back():
    detector = DSFDDetector(None, device='cpu', resize='long')
    detector.model = _FixedSSD()
    frame = np.zeros((300, 500, 3), np.uint8)  # -> 512 x 307, padded to 512 x 320
    (boxes, _), = detector.detect([frame])
    seen = detector.model.inputs[0]
    assert tuple(seen.shape[2:]) == (320, 512)
    assert torch.all(seen[0, :, 307:] == 0)
    # Relative to the padded input: y = 0.5 * 320 pixels of the resized image, i.e. 160 * 300 / 307 in the frame.
    assert boxes[0].tolist() == pytest.approx([0.25 * 500, 0.5 * 320 * 300 / 307, 0.5 * 500, 0.75 * 320 * 300 / 307],
                                              rel=1e-3)


def test_unknown_detector_and_missing_weights_are_clear_errors(tmp_path):
    from dfdc.cli import UserError
    with pytest.raises(UserError, match='unknown detector'):
        build_detector('yolo')
    with pytest.raises(UserError, match='does not exist'):
        build_detector('dsfd', weights=tmp_path / 'missing.pth', device='cpu')
