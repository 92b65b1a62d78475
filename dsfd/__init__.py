"""DSFD (Li et al., CVPR 2019), ResNet-152 variant trained on WIDER FACE, inference branch only."""
from .model import SSD, prior_boxes, decode_boxes, BGR_MEAN

__all__ = ['SSD', 'prior_boxes', 'decode_boxes', 'BGR_MEAN']
