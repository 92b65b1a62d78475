"""DSFD (Li et al., CVPR 2019), ResNet-152 variant trained on WIDER FACE, inference branch only."""
from .model import SSD, BGR_MEAN, Heads, decode_boxes, feature_map_sizes, prior_boxes

__all__ = ['SSD', 'BGR_MEAN', 'Heads', 'decode_boxes', 'feature_map_sizes', 'prior_boxes']
