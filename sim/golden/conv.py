"""Convolution and fully-connected layers, as LiteRT's int8 reference kernels compute them.

Both accumulate ``(x - x_zp) * w`` in a wrapping int32 accumulator (padding positions
contribute nothing, as if they held ``x_zp``), add the int32 bias and requantize per
output channel, but with different arithmetic:

* ``CONV_2D`` (``reference_integer_ops::ConvPerChannel``) uses the integer
  ``MultiplyByQuantizedMultiplier`` (double rounding) with the ``(multiplier, shift)``
  that ``PopulateConvolutionQuantizationParams`` derives with ``QuantizeMultiplier`` from
  ``double(x_scale) * double(w_scale[c]) / double(y_scale)``: :func:`conv_requant_params`.
* ``FULLY_CONNECTED`` (``reference_integer_ops::FullyConnected`` and
  ``FullyConnectedPerChannel``, the overloads taking float scales that LiteRT's
  ``kReference`` kernel calls since 2025) multiplies the accumulator by that same double
  and rounds with C's ``round``: :func:`fc_requant_params`, emulated exactly on integers.
  Its integer-only overloads (tflite-micro's kernels) requantize as ``CONV_2D`` does;
  :func:`fully_connected` offers both through ``requantization``.

``bits`` narrows activations and weights to int4 or int2 with the same arithmetic, and
``out_bits`` (default ``bits``) the output: "int8 in, int4 out" is ``bits=8, out_bits=4``.
"""

import numpy as np

from . import checks
from .fixedpoint import check_rescale, fp64_scale, quantize_multiplier, requantize, requantize_fp64
from .simd import wrap_int32

__all__ = ["REQUANTIZATIONS", "activation_range", "quantized_six", "effective_scales", "conv_requant_params",
           "fc_requant_params", "fold_input_zero_point", "output_size", "conv2d",
           "fully_connected"]

#: The two requantizations of :func:`fully_connected`: LiteRT's double-precision reference
#: kernel and the integer-only kernel (``CONV_2D``'s arithmetic) the hardware runs.
REQUANTIZATIONS = ("fp64", "integer")


def quantized_six(y_scale, y_zp):
    """6.0 quantized as ``CalculateActivationRangeQuantized`` does for ``RELU6``.

    ``y_zp + TfLiteRound(6.0f / y_scale)``: a float32 division, then rounding half away
    from zero (the quotient is positive), done exactly on its integer ratio.
    """
    quotient = np.float32(6.0) / np.float32(checks.scale(y_scale, "y_scale"))
    numerator, denominator = float(quotient).as_integer_ratio()
    return int(y_zp) + (2 * numerator + denominator) // (2 * denominator)


def activation_range(y_zp, *, relu, bits, relu6=False, y_scale=None):
    """The output clamp ``(min, max)``: ``CalculateActivationRangeQuantized``.

    The precision's range; with a fused ReLU (``relu`` or ``relu6``) the minimum becomes
    ``max(y_zp, min)`` (the quantized real zero); with a fused ReLU6 the maximum becomes
    ``min(max, y_zp + round(6 / y_scale))`` (:func:`quantized_six`, which needs ``y_scale``).
    """
    precision = checks.precision(bits)
    y_zp = checks.zero_point(y_zp, "y_zp", precision)
    low = max(y_zp, precision.min) if relu or relu6 else precision.min
    if not relu6:
        return low, precision.max
    if y_scale is None:
        raise ValueError("y_scale must be given with relu6, not None")
    return low, min(precision.max, quantized_six(y_scale, y_zp))


def effective_scales(*, x_scale, w_scale, y_scale, out_channels):
    """Per output channel, ``double(x_scale) * double(w_scale[c]) / double(y_scale)``.

    Each scale is first rounded to float32, as a ``.tflite`` file stores it; ``w_scale``
    is a scalar (per-tensor) or one per output channel. Returns a list of Python floats,
    each below ``2**MAX_SHIFT`` (:func:`~sim.golden.fixedpoint.check_rescale` names
    ``y_scale`` otherwise).
    """
    x_scale = checks.scale(x_scale, "x_scale")
    y_scale = checks.scale(y_scale, "y_scale")
    return check_rescale([x_scale * w / y_scale for w in checks.scales(w_scale, "w_scale", out_channels)],
                         y_scale, "x_scale * w_scale")


def conv_requant_params(*, x_scale, w_scale, y_scale, out_channels):
    """Per-output-channel ``(multiplier, shift)`` int64 arrays of a conv (the hardware's setting).

    ``QuantizeMultiplier`` of each of :func:`effective_scales`, exactly as LiteRT's
    ``PopulateConvolutionQuantizationParams`` computes them.
    """
    pairs = [quantize_multiplier(real) for real in effective_scales(
        x_scale=x_scale, w_scale=w_scale, y_scale=y_scale, out_channels=out_channels)]
    multiplier, shift = zip(*pairs)
    return np.array(multiplier, dtype=np.int64), np.array(shift, dtype=np.int64)


def fc_requant_params(*, x_scale, w_scale, y_scale, out_channels):
    """Per-output-channel ``(significand, exponent)`` int64 arrays of a fully-connected layer.

    Each of :func:`effective_scales` split exactly by :func:`~sim.golden.fixedpoint.fp64_scale`
    (``scale == significand * 2**exponent``, 53-bit significand): the double LiteRT's
    reference fully-connected kernel multiplies every accumulator by.
    """
    pairs = [fp64_scale(real) for real in effective_scales(
        x_scale=x_scale, w_scale=w_scale, y_scale=y_scale, out_channels=out_channels)]
    significand, exponent = zip(*pairs)
    return np.array(significand, dtype=np.int64), np.array(exponent, dtype=np.int64)


def fold_input_zero_point(w, bias, x_zp):
    """``bias - x_zp * sum(w)`` per output channel, wrapped to int32.

    Then ``sum((x - x_zp) * w) + bias == sum(x * w) + folded`` (mod 2**32), so the
    hardware multiplies raw activations; positions in the padding must then read as
    ``x_zp`` (not 0) for the identity to hold.

    Parameters
    ----------
    w : integer array (O, ...)
        Weights, output channel first (OHWI for a conv, [out, in] for a fully-connected).
    bias : int32-valued integer array (O,)
    x_zp : int
        The input zero point.

    Returns an ``int32`` array (O,).
    """
    w = np.asarray(w)
    if not np.issubdtype(w.dtype, np.integer) or w.ndim < 1:
        raise ValueError(f"w must be an integer array with an output-channel axis, not of "
                         f"dtype {w.dtype} and shape {w.shape!r}")
    bias = checks.int32_vector(bias, "bias", w.shape[0])
    if isinstance(x_zp, bool) or not isinstance(x_zp, (int, np.integer)):
        raise ValueError(f"x_zp must be an integer, not {x_zp!r}")
    sums = w.astype(np.int64).reshape(w.shape[0], -1).sum(axis=1)
    return wrap_int32(bias - int(x_zp) * sums)


def output_size(size, kernel, stride, before, after):
    """Output length of a window sweep over ``size`` inputs with the given padding."""
    return (size + before + after - kernel) // stride + 1


def conv2d(x, w, bias, *, x_scale, x_zp, w_scale, y_scale, y_zp, stride=(1, 1),
           padding=(0, 0, 0, 0), relu=False, bits=8, relu6=False, out_bits=None):
    """Quantized 2-D convolution (``CONV_2D``, no dilation, no groups).

    Parameters
    ----------
    x : int8 array (N, H, W, C)
        Input activations.
    w : integer array (O, KH, KW, C)
        Weights (OHWI), symmetric (zero point 0).
    bias : int32-valued integer array (O,)
    x_scale, y_scale : float
        Per-tensor scales (rounded to float32); ``x_zp``, ``y_zp`` their zero points.
    w_scale : float or sequence of O floats
        Per-tensor or per-output-channel weight scales.
    stride : (sh, sw)
    padding : (top, bottom, left, right)
        Padding positions contribute nothing to the sum; each at most
        :data:`~sim.golden.checks.MAX_PADDING`.
    relu : bool
        Fused ReLU: the output clamps at ``max(y_zp, qmin)``.
    bits : 8, 4 or 2
        Range of ``x``, ``w`` and ``x_zp``.
    relu6 : bool
        Fused ReLU6: also clamps at the quantized 6.0 (:func:`activation_range`).
    out_bits : 8, 4, 2 or None
        Range of ``y_zp`` and of the output (``None``: ``bits``).

    Returns an ``int8`` array (N, OH, OW, O).
    """
    precision = checks.precision(bits)
    x = checks.activations(x, "x", precision, 4)
    w = checks.weights(w, "w", precision, 4)
    out_channels, kh, kw, in_channels = w.shape
    if x.shape[3] != in_channels:
        raise ValueError(f"w must have {x.shape[3]} input channels like x, not {in_channels!r}")
    bias = checks.int32_vector(bias, "bias", out_channels)
    x_zp = checks.zero_point(x_zp, "x_zp", precision)
    out = checks.out_precision(out_bits, bits)
    y_zp = checks.zero_point(y_zp, "y_zp", out)
    sh, sw = checks.pair(stride, "stride", 1)
    top, bottom, left, right = checks.quad(padding, "padding")
    oh = output_size(x.shape[1], kh, sh, top, bottom)
    ow = output_size(x.shape[2], kw, sw, left, right)
    if oh < 1 or ow < 1:
        raise ValueError(f"w must fit the padded input {x.shape[1:3]!r}, not kernel {(kh, kw)!r}")
    multiplier, shift = conv_requant_params(x_scale=x_scale, w_scale=w_scale, y_scale=y_scale,
                                            out_channels=out_channels)

    offset = np.pad(x - x_zp, ((0, 0), (top, bottom), (left, right), (0, 0)))
    acc = np.zeros((x.shape[0], oh, ow, out_channels), dtype=np.int64)
    for i in range(kh):
        for j in range(kw):
            window = offset[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw, :]
            acc += window @ w[:, i, j, :].T
    low, high = activation_range(y_zp, relu=relu, bits=out.bits, relu6=relu6, y_scale=y_scale)
    return requantize(wrap_int32(acc), bias=bias, multiplier=multiplier, shift=shift,
                      zero_point=y_zp, clamp_min=low, clamp_max=high).astype(np.int8)


def fully_connected(x, w, bias, *, x_scale, x_zp, w_scale, y_scale, y_zp, relu=False, bits=8,
                    requantization="fp64", relu6=False, out_bits=None):
    """Quantized fully-connected layer (``FULLY_CONNECTED``).

    Both variants accumulate ``(x - x_zp) @ w.T`` in a wrapping int32 accumulator and add
    the bias; they differ in how that is requantized.

    ``requantization="fp64"`` (the default) is LiteRT's reference kernel, per-tensor or
    per-channel, which requantizes in double precision:
    ``round(double(acc) * (double(x_scale) * double(w_scale[c]) / double(y_scale)))``,
    C's ``round`` taking a tie away from zero. It is emulated exactly with integers
    (:func:`~sim.golden.fixedpoint.requantize_fp64` with :func:`fc_requant_params`).

    ``requantization="integer"`` is TFLite's integer-only kernel (tflite-micro's
    ``reference_integer_ops::FullyConnected`` and ``FullyConnectedPerChannel`` taking
    ``output_multiplier``/``output_shift``): the ``(multiplier, shift)`` of
    :func:`conv_requant_params` and the double-rounding ``MultiplyByQuantizedMultiplier``
    (:func:`~sim.golden.fixedpoint.requantize`), exactly as :func:`conv2d` requantizes, so
    it equals :func:`conv2d` of ``x.reshape(N, 1, 1, I)`` with ``w.reshape(O, 1, 1, I)``.
    The hardware runs this variant: its requantize unit implements only that fixed-point
    arithmetic, with no double multiply.

    The two differ by at most 1: at ties (-0.5 becomes -1 with ``"fp64"``, 0 through
    ``MultiplyByQuantizedMultiplier``) and where the 31-bit multiplier's error moves the
    product across a rounding boundary, i.e. only where the double product lies within
    about one part in 2**30 of a rounding boundary (tested).

    Parameters
    ----------
    x : int8 array (N, I)
    w : integer array (O, I)
    bias : int32-valued integer array (O,)
    x_scale, x_zp, w_scale, y_scale, y_zp, relu, bits, relu6, out_bits
        As for :func:`conv2d`.
    requantization : ``"fp64"`` or ``"integer"``
        One of :data:`REQUANTIZATIONS`, as above.

    Returns an ``int8`` array (N, O).
    """
    if requantization not in REQUANTIZATIONS:
        raise ValueError(f"requantization must be one of {', '.join(REQUANTIZATIONS)}, "
                         f"not {requantization!r}")
    precision = checks.precision(bits)
    x = checks.activations(x, "x", precision, 2)
    w = checks.weights(w, "w", precision, 2)
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"w must have {x.shape[1]} inputs like x, not {w.shape[1]!r}")
    bias = checks.int32_vector(bias, "bias", w.shape[0])
    x_zp = checks.zero_point(x_zp, "x_zp", precision)
    out = checks.out_precision(out_bits, bits)
    y_zp = checks.zero_point(y_zp, "y_zp", out)
    low, high = activation_range(y_zp, relu=relu, bits=out.bits, relu6=relu6, y_scale=y_scale)
    acc = wrap_int32((x - x_zp) @ w.T)
    if requantization == "integer":
        multiplier, shift = conv_requant_params(x_scale=x_scale, w_scale=w_scale,
                                                y_scale=y_scale, out_channels=w.shape[0])
        return requantize(acc, bias=bias, multiplier=multiplier, shift=shift, zero_point=y_zp,
                          clamp_min=low, clamp_max=high).astype(np.int8)
    significand, exponent = fc_requant_params(x_scale=x_scale, w_scale=w_scale, y_scale=y_scale,
                                              out_channels=w.shape[0])
    return requantize_fp64(acc, bias=bias, significand=significand, exponent=exponent,
                           zero_point=y_zp, clamp_min=low, clamp_max=high).astype(np.int8)
