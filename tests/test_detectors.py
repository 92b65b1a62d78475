import math

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

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


def test_haar_detections_come_in_one_order_whatever_the_thread_count(synthetic_root, sidecar):
    """OpenCV's cascade collects candidates from its threads in the order they finish; two faces' tracks must not
    swap with the machine's load (a CI run saw that), so detections are sorted: strongest first, ties by position."""
    import cv2
    detector = OpenCVDetector()
    frames = [frame for relpath, entry in sorted(sidecar.items()) if max(map(len, entry['boxes'])) > 1
              for _, frame in iter_frames(synthetic_root / relpath, step=5)]
    threads = cv2.getNumThreads()
    try:
        cv2.setNumThreads(1)
        serial = [detector.detect_one(frame) for frame in frames]
        cv2.setNumThreads(16)
        for _ in range(3):
            for (boxes, scores), (serial_boxes, serial_scores) in zip(map(detector.detect_one, frames), serial):
                assert np.array_equal(boxes, serial_boxes) and np.array_equal(scores, serial_scores)
    finally:
        cv2.setNumThreads(threads)
    assert sum(len(scores) > 1 for _, scores in serial) >= 5
    for _, scores in serial:
        assert np.all(np.diff(scores) <= 0)


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


RELATIVE_BOX = np.array([0.25, 0.5, 0.5, 0.75], np.float32)
MEAN = np.array([104, 117, 123], np.float32)


def test_stage_1_input_and_boxes_are_the_published_detect_on_image():
    """SPEC stage 1: resize by f = sqrt(512 * 512 / (H * W)) with INTER_AREA, minus the mean; boxes are the relative
    coordinates times (w_resized / f, h_resized / f), in float64, stored as float32."""
    detector = DSFDDetector(None, device='cpu', resize='area')
    detector.model = _FixedSSD()
    frame = (np.random.default_rng(0).random((1080, 1920, 3)) * 255).astype(np.uint8)
    (boxes, scores), = detector.detect([frame])
    f = np.sqrt(512 * 512 / (1080 * 1920))
    resized = cv2.resize(frame, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    expected_input = torch.from_numpy(resized.astype(np.float32) - MEAN).permute(2, 0, 1)
    assert torch.equal(detector.model.inputs[0][0], expected_input)
    h_resized, w_resized = resized.shape[:2]
    scale = np.array([w_resized / f, h_resized / f, w_resized / f, h_resized / f])
    expected = (RELATIVE_BOX.astype(np.float64) * scale).astype(np.float32)
    assert boxes.dtype == np.float32 and boxes[0].tolist() == expected.tolist()
    assert scores.tolist() == [np.float32(0.95)]
    # Not the frame size: w_resized / f is 1919.6 here, so x2 is 0.2 px left of 0.5 * 1920.
    assert abs(boxes[0, 2] - 0.5 * 1920) > 0.1


@pytest.mark.parametrize('height, width', [(400, 600), (1080, 1920), (1920, 1080), (300, 500), (180, 320)])
def test_predictor_input_and_boxes_are_the_published_rcnn_transform(height, width):
    """SPEC prediction: float frame minus the mean, bilinear interpolate to floor(side * 512 / max side), zero-padded
    to a multiple of 32; boxes are relative coordinates times the UNPADDED resized size, then W / w_resized in x and
    H / h_resized in y, in float32."""
    detector = DSFDDetector(None, device='cpu', resize='rcnn')
    detector.model = _FixedSSD()
    frame = (np.random.default_rng(height).random((height, width, 3)) * 255).astype(np.uint8)
    (boxes, _), = detector.detect([frame])
    scale = 512 / max(height, width)
    h_resized, w_resized = math.floor(height * scale), math.floor(width * scale)
    image = torch.from_numpy(frame.astype(np.float32) - MEAN).permute(2, 0, 1)[None]
    resized = F.interpolate(image, size=(h_resized, w_resized), mode='bilinear', align_corners=False)[0]
    padded = torch.zeros(3, math.ceil(h_resized / 32) * 32, math.ceil(w_resized / 32) * 32)
    padded[:, :h_resized, :w_resized] = resized
    assert torch.equal(detector.model.inputs[0][0], padded)
    x_ratio, y_ratio = np.float32(width / w_resized), np.float32(height / h_resized)
    expected = RELATIVE_BOX * np.array([w_resized, h_resized] * 2, np.float32)
    expected = expected * np.array([x_ratio, y_ratio] * 2, np.float32)
    assert boxes[0].tolist() == expected.tolist()


def test_a_padded_batch_shrinks_boxes_towards_the_origin_as_published():
    detector = DSFDDetector(None, device='cpu', resize='rcnn')
    detector.model = _FixedSSD()
    (boxes, _), = detector.detect([np.zeros((400, 600, 3), np.uint8)])  # 341 rows, padded to 352
    assert tuple(detector.model.inputs[0].shape[2:]) == (352, 512)
    assert torch.all(detector.model.inputs[0][0, :, 341:] == 0)
    # y is relative to the padded 352 rows but scaled by the unpadded 341: 0.5 * 400, not 0.5 * 352 * 400 / 341.
    assert boxes[0, 1] == pytest.approx(200, abs=1e-3) and boxes[0, 0] == pytest.approx(150, abs=1e-3)


def test_unknown_detector_and_missing_weights_are_clear_errors(tmp_path):
    from dfdc.cli import UserError
    with pytest.raises(UserError, match='unknown detector'):
        build_detector('yolo')
    with pytest.raises(UserError, match='does not exist'):
        build_detector('dsfd', weights=tmp_path / 'missing.pth', device='cpu')


class _AutocastProbe(_FixedSSD):
    def forward(self, x):
        self.autocast = torch.is_autocast_enabled('cpu'), torch.get_autocast_dtype('cpu')
        return super().forward(x)


def test_fp32_is_the_default_and_precision_selects_autocast(capsys):
    import detect_faces_on_videos
    import predict
    for precision, expected in (('fp32', False), ('bf16', True)):
        detector = DSFDDetector(None, device='cpu', resize='rcnn', precision=precision)
        detector.model = _AutocastProbe()
        detector.detect([np.zeros((90, 160, 3), np.uint8)])
        assert detector.model.autocast[0] == expected
        if expected:
            assert detector.model.autocast[1] == torch.bfloat16
    assert DSFDDetector(None, device='cpu').precision == 'fp32'
    for script in (detect_faces_on_videos, predict):
        with pytest.raises(SystemExit):
            script.main(['--help'])
        text = ' '.join(capsys.readouterr().out.split())
        assert '--precision {fp32,fp16,bf16}' in text and '(default: fp32)' in text.split('--precision')[-1]
