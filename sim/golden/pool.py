"""Pooling: LiteRT's int8 MAX_POOL_2D and the MEAN that stands for a global average pool.

``bits`` narrows inputs and their zero points to int4 or int2 with the same arithmetic;
``out_bits`` (default ``bits``) the output zero point and the output clamp.
"""

import numpy as np

from . import checks
from .conv import output_size
from .fixedpoint import check_rescale, multiply_by_quantized_multiplier, quantize_multiplier
from .simd import wrap_int32

__all__ = ["max_pool2d", "global_avg_pool", "global_average_pool2d", "mean_params"]


def max_pool2d(x, *, kernel, stride, padding, bits=8, out_bits=None):
    """Max pooling (``reference_integer_ops::MaxPool``): padding positions never win.

    Each output is the maximum of the inputs its window covers; the window is clipped to
    the input, as the reference kernel clips ``filter_x_start``/``filter_x_end``. A
    maximum of values in a precision's range stays in it, so int4 and int2 inputs go
    through the same arithmetic.

    Parameters
    ----------
    x : int8 array (N, H, W, C)
        Values in the range of ``bits``.
    kernel : (kh, kw)
    stride : (sh, sw)
    padding : (top, bottom, left, right)
        Each smaller than the kernel, so that every window holds at least one input.
    bits : 8, 4 or 2
        Range of ``x``.
    out_bits : 8, 4, 2 or None
        Range of the output (``None``: ``bits``): each maximum is clamped to it (the
        hardware's identity requantization and clamp).

    Returns an ``int8`` array (N, OH, OW, C).
    """
    x = checks.activations(x, "x", checks.precision(bits), 4)
    out = checks.out_precision(out_bits, bits)
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
    return np.clip(y, out.min, out.max).astype(np.int8)


def mean_params(*, x_scale, y_scale, count):
    """The ``(multiplier, shift)`` LiteRT's int8 MEAN applies to a sum of ``count`` inputs.

    ``PrepareMeanOrSum`` quantizes ``double(x_scale) / double(y_scale)`` with
    ``QuantizeMultiplier``; ``reference_ops::QuantizedMeanOrSum`` then folds in
    ``1 / count``: with ``k = min(floor(log2(count)), 32, 31 + shift)``, the multiplier
    becomes ``(multiplier << k) // count`` (64-bit, truncating) and the shift ``shift - k``.
    """
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise ValueError(f"count must be a positive integer, not {count!r}")
    count = int(count)
    x_scale, y_scale = checks.scale(x_scale, "x_scale"), checks.scale(y_scale, "y_scale")
    (real,) = check_rescale([x_scale / y_scale], y_scale, "x_scale")
    multiplier, shift = quantize_multiplier(real)
    k = min(count.bit_length() - 1, 32, 31 + shift)
    return (multiplier << k) // count, shift - k


def global_avg_pool(x, *, x_scale, x_zp, y_scale, y_zp, bits=8, out_bits=None):
    """Global average pool over H and W: int8 ``MEAN`` as LiteRT 2.3's reference kernel runs it.

    TF 2.21's converter turns Keras' ``GlobalAveragePooling2D`` into one ``MEAN`` over
    axes (1, 2) with ``keep_dims=False``, output scale and zero point of its own (not the
    input's). ``reduce.cc``'s ``EvalMean<kReference>`` sends every int8 input, whatever
    ``keep_dims`` and whether or not the scales match, to ``EvalQuantizedMean`` →
    ``reference_ops::QuantizedMeanOrSum(compute_sum=false)``, which is integer-only: the
    int32 sum of the raw inputs, less ``x_zp * count``, goes through the int32 (double
    rounding) ``MultiplyByQuantizedMultiplier`` with the parameters of :func:`mean_params`
    (``x_scale / y_scale`` with ``1 / count`` folded in), plus ``y_zp``, clamped to int8.
    (Only the optimized kernel special-cases a 4-D ``keep_dims=True`` mean over H and W.)
    At int4 and int2 the arithmetic is the same and only the final clamp narrows, to the
    range of ``bits`` ([``Precision.min``, ``Precision.max``] of :class:`~hdl.params.Precision`).

    Parameters
    ----------
    x : int8 array (N, H, W, C)
        Values in the range of ``bits``.
    x_scale, x_zp, y_scale, y_zp : the input's and output's quantization
        ``x_zp`` in the range of ``bits``, ``y_zp`` in that of ``out_bits``.
    bits : 8, 4 or 2
        Range of ``x`` and ``x_zp``.
    out_bits : 8, 4, 2 or None
        Range of ``y_zp`` and of the output (``None``: ``bits``).

    Returns an ``int8`` array (N, C).
    """
    precision = checks.precision(bits)
    x = checks.activations(x, "x", precision, 4)
    x_zp = checks.zero_point(x_zp, "x_zp", precision)
    out = checks.out_precision(out_bits, bits)
    y_zp = checks.zero_point(y_zp, "y_zp", out)
    count = x.shape[1] * x.shape[2]
    if count == 0:
        raise ValueError(f"x must have a non-empty H x W, not shape {x.shape!r}")
    multiplier, shift = mean_params(x_scale=x_scale, y_scale=y_scale, count=count)
    sums = wrap_int32(x.sum(axis=(1, 2)) - x_zp * count)
    y = multiply_by_quantized_multiplier(sums, multiplier, shift).astype(np.int64) + y_zp
    return np.clip(y, out.min, out.max).astype(np.int8)


def global_average_pool2d(x, *, bits=8, out_bits=None):
    """``AVERAGE_POOL_2D`` with the window the whole input (``reference_integer_ops::AveragePool``).

    Unlike ``MEAN`` it does not requantize (the converter gives input and output one
    quantization): the int32 sum of the raw inputs over H x W, divided by the count with
    a tie rounding away from zero (``(acc +- count / 2) / count`` with C's truncating
    division), clamped to the precision's range (no fused activation).

    Parameters
    ----------
    x : int8 array (N, H, W, C)
        Values in the range of ``bits``.
    bits : 8, 4 or 2
        Range of ``x``.
    out_bits : 8, 4, 2 or None
        Range of the output (``None``: ``bits``).

    Returns an ``int8`` array (N, C).
    """
    precision = checks.precision(bits)
    x = checks.activations(x, "x", precision, 4)
    out = checks.out_precision(out_bits, bits)
    count = x.shape[1] * x.shape[2]
    if count == 0:
        raise ValueError(f"x must have a non-empty H x W, not shape {x.shape!r}")
    sums = x.sum(axis=(1, 2))
    half = count // 2
    magnitude = (np.abs(sums) + half) // count           # truncation toward zero of |acc| +- half
    y = np.where(sums > 0, magnitude, -magnitude)
    return np.clip(y, out.min, out.max).astype(np.int8)
