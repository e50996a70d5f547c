"""The golden model: integer quantized inference with TFLite int8 semantics, extended to int4/int2.

numpy is its only dependency. Every function checks its arguments and raises a
``ValueError`` naming the offending one.
"""

from .add import ADD_LEFT_SHIFT, AddParams, add, add_params
from .conv import (
                   activation_range,
                   conv2d,
                   conv_requant_params,
                   fold_input_zero_point,
                   fully_connected,
                   output_size,
)
from .fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier, requantize
from .pool import global_avg_pool, max_pool2d, mean_params
from .simd import pack_lanes, unpack_lanes, vector_matrix, wrap_int32

__all__ = [
    "quantize_multiplier", "multiply_by_quantized_multiplier", "requantize",
    "conv2d", "fully_connected", "add", "max_pool2d", "global_avg_pool", "mean_params",
    "activation_range", "conv_requant_params", "fold_input_zero_point", "output_size",
    "ADD_LEFT_SHIFT", "AddParams", "add_params",
    "pack_lanes", "unpack_lanes", "vector_matrix", "wrap_int32",
]
