"""Pooling: TFLite's int8 MAX_POOL_2D and the MEAN that stands for a global average pool."""

import numpy as np

from hdl.params import Precision

from . import checks
from .conv import output_size
from .fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier
from .simd import wrap_int32

__all__ = ["max_pool2d", "global_avg_pool", "mean_params"]


def max_pool2d(x, *, kernel, stride, padding):
    """Max pooling (``reference_integer_ops::MaxPool``): padding never wins.

    ``x`` int8 (N, H, W, C); ``kernel`` (kh, kw); ``stride`` (sh, sw); ``padding``
    (top, bottom, left, right). Every window must hold at least one input. Returns int8.
    """
    x = checks.tensor(x, "x", Precision.INT8, 4)
    kh, kw = checks.pair(kernel, "kernel", 1)
    sh, sw = checks.pair(stride, "stride", 1)
    top, bottom, left, right = checks.quad(padding, "padding")
    if top >= kh or bottom >= kh or left >= kw or right >= kw:
        raise ValueError(f"padding must be smaller than the kernel {(kh, kw)!r}, "
                         f"not {(top, bottom, left, right)!r}")
    oh = output_size(x.shape[1], kh, sh, top, bottom)
    ow = output_size(x.shape[2], kw, sw, left, right)
    if oh < 1 or ow < 1:
        raise ValueError(f"kernel must fit the padded input {x.shape[1:3]!r}, not {(kh, kw)!r}")
    lowest = np.iinfo(np.int64).min
    padded = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=lowest)
    y = np.full((x.shape[0], oh, ow, x.shape[3]), lowest, dtype=np.int64)
    for i in range(kh):
        for j in range(kw):
            y = np.maximum(y, padded[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw, :])
    return y.astype(np.int8)


def mean_params(*, x_scale, y_scale, count):
    """The ``(multiplier, shift)`` LiteRT's int8 MEAN applies to a sum of ``count`` inputs.

    ``PrepareMeanOrSum`` quantizes ``x_scale / y_scale``; ``QuantizedMeanOrSum`` then
    folds in ``1 / count``: with ``k = min(floor(log2(count)), 32, 31 + shift)``, the
    multiplier becomes ``(multiplier << k) // count`` and the shift ``shift - k``.
    """
    multiplier, shift = quantize_multiplier(checks.scale(x_scale, "x_scale")
                                            / checks.scale(y_scale, "y_scale"))
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a positive integer, not {count!r}")
    k = min(count.bit_length() - 1, 32, 31 + shift)
    return (multiplier << k) // count, shift - k


def global_avg_pool(x, *, x_scale, x_zp, y_scale, y_zp):
    """Global average pool over H and W: TFLite's int8 MEAN as LiteRT's reference kernel runs it.

    The TFLite converter turns Keras' ``GlobalAveragePooling2D`` into ``MEAN`` over axes
    (1, 2) with ``keep_dims=False``. LiteRT's reference kernel for int8
    (``reference_ops::QuantizedMeanOrSum``) is integer-only: the int32 sum of the raw
    inputs, less ``x_zp * count``, goes through ``MultiplyByQuantizedMultiplier`` with the
    parameters of :func:`mean_params` (``x_scale / y_scale`` with ``1 / count`` folded
    in), plus ``y_zp``, clamped to int8. ``x`` int8 (N, H, W, C); returns int8 (N, C).
    """
    x = checks.tensor(x, "x", Precision.INT8, 4)
    x_zp = checks.zero_point(x_zp, "x_zp", Precision.INT8)
    y_zp = checks.zero_point(y_zp, "y_zp", Precision.INT8)
    count = x.shape[1] * x.shape[2]
    if count == 0:
        raise ValueError(f"x must have a non-empty H x W, not shape {x.shape!r}")
    multiplier, shift = mean_params(x_scale=x_scale, y_scale=y_scale, count=count)
    sums = wrap_int32(x.sum(axis=(1, 2)) - x_zp * count)
    y = multiply_by_quantized_multiplier(sums, multiplier, shift).astype(np.int64) + y_zp
    return np.clip(y, Precision.INT8.min, Precision.INT8.max).astype(np.int8)
