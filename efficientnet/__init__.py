"""EfficientNet models of the solution: efficientnet-pytorch's network, its 3D sequence variant, weight conversion."""
from .model import (SEQUENCE_LENGTH, TemporalConv, create_model, global_same_padding, inflate_state_dict,
                    load_pretrained, model_spec_from_json, strip_module_prefix, to_channels_last,
                    use_global_padding)

__all__ = ['SEQUENCE_LENGTH', 'TemporalConv', 'create_model', 'global_same_padding', 'inflate_state_dict',
           'load_pretrained', 'model_spec_from_json', 'strip_module_prefix', 'to_channels_last', 'use_global_padding']
