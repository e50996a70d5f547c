"""The golden model: integer quantized inference with LiteRT's int8 semantics, extended to int4/int2.

numpy is its only dependency. Every layer checks its arguments and raises a
``ValueError`` naming the offending one. ``tests/golden/test_litert.py`` checks each
layer byte for byte against LiteRT's reference kernels on the models in ``tests/vectors/``.
"""

from .add import ADD_LEFT_SHIFT, AddParams, add, add_params
from .conv import (
    activation_range,
    conv2d,
    conv_requant_params,
    effective_scales,
    fc_requant_params,
    fold_input_zero_point,
    fully_connected,
    output_size,
    quantized_six,
)
from .fixedpoint import (
    fp64_scale,
    multiply_by_fp64_scale,
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    requantize,
    requantize_fp64,
)
from .pool import global_average_pool2d, global_avg_pool, max_pool2d, mean_params
from .simd import pack_lanes, unpack_lanes, vector_matrix, wrap_int32

__all__ = [
    "quantize_multiplier", "multiply_by_quantized_multiplier", "requantize",
    "fp64_scale", "multiply_by_fp64_scale", "requantize_fp64",
    "conv2d", "fully_connected", "add", "max_pool2d", "global_avg_pool", "global_average_pool2d",
    "activation_range", "effective_scales", "conv_requant_params", "fc_requant_params",
    "fold_input_zero_point", "output_size", "mean_params", "quantized_six",
    "ADD_LEFT_SHIFT", "AddParams", "add_params",
    "pack_lanes", "unpack_lanes", "vector_matrix", "wrap_int32",
]
