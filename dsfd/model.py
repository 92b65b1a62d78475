"""The DSFD network with the parameter names of the published `WIDERFace_DSFD_RES152.pth`.

Layout, anchors, max-in-out and decoding follow SPEC.md ("DSFD face detector"); the state dict equals
`shared/reference/dsfd_resnet152_state_dict.tsv`, so the published weights load with `strict=True`.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

BGR_MEAN = (104.0, 117.0, 123.0)
SOURCE_CHANNELS = (256, 512, 1024, 2048, 512, 256)
STEPS = (4, 8, 16, 32, 64, 128)
MIN_SIZES = (16, 32, 64, 128, 256, 512)
ASPECT_RATIO = 1.5
VARIANCES = (0.1, 0.2)
LOC_CHANNELS = (4, 8, 12, 12, 12, 12)
CONF_CHANNELS = (4, 6, 8, 8, 8, 8)
CONF_THRESHOLD = 0.01
NMS_THRESHOLD = 0.3
TOP_K = 5000


class FEM(nn.Module):
    """Feature enhance module: three dilated branches concatenated to 512 channels."""

    def __init__(self, channels: int):
        super().__init__()
        self.cpm1 = nn.Conv2d(channels, 256, kernel_size=3, dilation=1, padding=1)
        self.cpm2 = nn.Conv2d(channels, 256, kernel_size=3, dilation=2, padding=2)
        self.cpm3 = nn.Conv2d(256, 128, kernel_size=3, dilation=1, padding=1)
        self.cpm4 = nn.Conv2d(256, 128, kernel_size=3, dilation=2, padding=2)
        self.cpm5 = nn.Conv2d(128, 128, kernel_size=3, dilation=1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch1 = F.relu(self.cpm1(x))
        branch2 = F.relu(self.cpm2(x))
        branch2_1 = F.relu(self.cpm3(branch2))
        branch2_2 = F.relu(self.cpm4(branch2))
        branch3 = F.relu(self.cpm5(branch2_2))
        return torch.cat([branch1, branch2_1, branch3], dim=1)


class DeepHead(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 256, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(256, 256, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(256, 256, kernel_size=3, padding=1)
        self.conv4 = nn.Conv2d(256, out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.relu(self.conv3(x))
        return self.conv4(x)


def _extra_layer(in_channels: int, mid_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, mid_channels, kernel_size=1), nn.BatchNorm2d(mid_channels), nn.ReLU(inplace=True),
        nn.Conv2d(mid_channels, out_channels, kernel_size=3, stride=2, padding=1), nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True))


def prior_boxes(image_size: tuple[int, int], feature_maps: list[tuple[int, int]]) -> torch.Tensor:
    """Anchors (cx, cy, w, h), one per feature-map location, in the published order and arithmetic.

    The published code divides the anchor size by the image width for the first size term and by the height
    for the second (`s_k_i = size / W`, `s_k_j = size / H`); that is kept so the published weights see the
    anchors they were trained with.
    """
    height, width = image_size
    priors = []
    for k, (rows, cols) in enumerate(feature_maps):
        f_k_i = height / STEPS[k]
        f_k_j = width / STEPS[k]
        i, j = np.meshgrid(np.arange(rows, dtype=np.float64), np.arange(cols, dtype=np.float64), indexing='ij')
        cx = (j + 0.5) / f_k_j
        cy = (i + 0.5) / f_k_i
        s_k_i = MIN_SIZES[k] / width
        s_k_j = MIN_SIZES[k] / height
        w = np.full_like(cx, s_k_i / math.sqrt(ASPECT_RATIO))
        h = np.full_like(cx, s_k_j * math.sqrt(ASPECT_RATIO))
        priors.append(np.stack([cx, cy, w, h], axis=-1).reshape(-1, 4))
    output = torch.from_numpy(np.concatenate(priors).astype(np.float32))
    return output.clamp_(min=0, max=1)


def decode_boxes(loc: torch.Tensor, priors: torch.Tensor, variances: tuple[float, float] = VARIANCES) -> torch.Tensor:
    """Standard SSD decoding of (..., 4) offsets against (N, 4) priors into x1, y1, x2, y2."""
    centers = priors[..., :2] + loc[..., :2] * variances[0] * priors[..., 2:]
    sizes = priors[..., 2:] * torch.exp(loc[..., 2:] * variances[1])
    top_left = centers - sizes / 2
    return torch.cat([top_left, top_left + sizes], dim=-1)


class SSD(nn.Module):
    """DSFD: `forward(x)` on B x 3 x H x W mean-subtracted BGR pixels returns detections (B, 2, 5000, 5).

    Rows are [score, x1, y1, x2, y2] with coordinates in 0..1 of the input's width and height, class 1 = face,
    highest score first, zero rows after the last detection.
    """

    def __init__(self):
        super().__init__()
        resnet = torchvision.models.resnet152(weights=None)
        self.layer1 = nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool, resnet.layer1)
        self.layer2 = nn.Sequential(resnet.layer2)
        self.layer3 = nn.Sequential(resnet.layer3)
        self.layer4 = nn.Sequential(resnet.layer4)
        self.layer5 = _extra_layer(2048, 512, 512)
        self.layer6 = _extra_layer(512, 128, 256)

        self.latlayer3 = nn.Conv2d(2048, 1024, kernel_size=1)
        self.latlayer2 = nn.Conv2d(1024, 512, kernel_size=1)
        self.latlayer1 = nn.Conv2d(512, 256, kernel_size=1)
        self.smooth3 = nn.Conv2d(1024, 1024, kernel_size=1)
        self.smooth2 = nn.Conv2d(512, 512, kernel_size=1)
        self.smooth1 = nn.Conv2d(256, 256, kernel_size=1)

        self.cpm3_3, self.cpm4_3, self.cpm5_3, self.cpm7, self.cpm6_2, self.cpm7_2 = (
            FEM(c) for c in SOURCE_CHANNELS)
        self.loc = nn.ModuleList(DeepHead(512, c) for c in LOC_CHANNELS)
        self.conf = nn.ModuleList(DeepHead(512, c) for c in CONF_CHANNELS)
        self._priors_cache: dict[tuple, torch.Tensor] = {}

    @staticmethod
    def _upsample_product(x: torch.Tensor, lateral: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=lateral.shape[2:], mode='bilinear', align_corners=False) * lateral

    @staticmethod
    def _max_in_out(conf: torch.Tensor, source_index: int) -> torch.Tensor:
        """The (background, face) logit pair of one source after max-in-out."""
        background_max = torch.max(torch.max(conf[:, 0:1], conf[:, 1:2]), conf[:, 2:3])
        if source_index == 0:
            return torch.cat([background_max, conf[:, 3:4]], dim=1)
        return torch.cat([conf[:, 3:4], background_max], dim=1)

    def head_outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[tuple[int, int]]]:
        """Box offsets (B, P, 4), face/background softmax (B, P, 2) and the six feature-map sizes."""
        conv3_3 = self.layer1(x)
        conv4_3 = self.layer2(conv3_3)
        conv5_3 = self.layer3(conv4_3)
        fc7 = self.layer4(conv5_3)
        conv6_2 = self.layer5(fc7)
        conv7_2 = self.layer6(conv6_2)

        lfpn3 = self._upsample_product(self.latlayer3(fc7), self.smooth3(conv5_3))
        lfpn2 = self._upsample_product(self.latlayer2(lfpn3), self.smooth2(conv4_3))
        lfpn1 = self._upsample_product(self.latlayer1(lfpn2), self.smooth1(conv3_3))

        sources = [lfpn1, lfpn2, lfpn3, fc7, conv6_2, conv7_2]
        fems = [self.cpm3_3, self.cpm4_3, self.cpm5_3, self.cpm7, self.cpm6_2, self.cpm7_2]
        locs, confs, feature_maps = [], [], []
        for k, (source, fem, loc_head, conf_head) in enumerate(zip(sources, fems, self.loc, self.conf)):
            feature = fem(source)
            feature_maps.append((feature.shape[2], feature.shape[3]))
            loc = loc_head(feature)[:, :4]
            conf = self._max_in_out(conf_head(feature), k)
            locs.append(loc.permute(0, 2, 3, 1).reshape(x.shape[0], -1, 4))
            confs.append(conf.permute(0, 2, 3, 1).reshape(x.shape[0], -1, 2))
        return torch.cat(locs, dim=1), torch.softmax(torch.cat(confs, dim=1), dim=-1), feature_maps

    def priors(self, image_size: tuple[int, int], device: torch.device) -> torch.Tensor:
        """The anchors of an input of `image_size` (height, width), cached per size and device."""
        key = (tuple(image_size), str(device))
        if key not in self._priors_cache:
            self._priors_cache[key] = prior_boxes(image_size, feature_map_sizes(*image_size)).to(device)
        return self._priors_cache[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        loc, conf = self.heads(x)
        return self.detections(loc, conf, (x.shape[2], x.shape[3]))

    def heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The network alone (what an inference backend runs): box offsets (B, P, 4), face/background (B, P, 2)."""
        loc, conf, _ = self.head_outputs(x)
        return loc, conf

    def detections(self, loc: torch.Tensor, conf: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
        """Decoding and NMS of `heads`' outputs for an input of `image_size` (height, width): `forward`'s output."""
        priors = self.priors(tuple(image_size), loc.device)
        boxes = decode_boxes(loc.float(), priors)
        return detect(boxes, conf[..., 1].float())


class Heads(nn.Module):
    """`SSD.heads` as a module's forward, for tracing into another inference backend."""

    def __init__(self, ssd: SSD):
        super().__init__()
        self.ssd = ssd

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.ssd.heads(x)


def feature_map_sizes(height: int, width: int) -> list[tuple[int, int]]:
    """The six source maps' sizes for an input of height x width: ResNet's stem halves twice (conv1 stride 2, max
    pool stride 2), then each of layers 2-4 and the two extra layers halves once, rounding up (3x3 or 1x1
    convolutions of stride 2 with padding 1 or 0)."""
    def halve(size: int) -> int:
        return -(-size // 2)   # ceil(size / 2)

    sizes = [(halve(halve(height)), halve(halve(width)))]
    for _ in range(5):
        sizes.append((halve(sizes[-1][0]), halve(sizes[-1][1])))
    return sizes


def detect(boxes: torch.Tensor, scores: torch.Tensor, conf_threshold: float = CONF_THRESHOLD,
           nms_threshold: float = NMS_THRESHOLD, top_k: int = TOP_K) -> torch.Tensor:
    """Per image: candidates above `conf_threshold`, the `top_k` best, greedy NMS; the (B, 2, top_k, 5) tensor."""
    batch = boxes.shape[0]
    output = boxes.new_zeros((batch, 2, top_k, 5))
    for i in range(batch):
        mask = scores[i] > conf_threshold
        candidate_scores = scores[i][mask]
        if candidate_scores.numel() == 0:
            continue
        candidate_boxes = boxes[i][mask]
        order = candidate_scores.argsort(descending=True, stable=True)[:top_k]
        candidate_boxes, candidate_scores = candidate_boxes[order], candidate_scores[order]
        keep = torchvision.ops.nms(candidate_boxes, candidate_scores, nms_threshold)[:top_k]
        output[i, 1, :len(keep), 0] = candidate_scores[keep]
        output[i, 1, :len(keep), 1:] = candidate_boxes[keep]
    return output
