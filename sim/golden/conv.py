"""Convolution and fully-connected layers, as TFLite's int8 reference kernels compute them.

``reference_integer_ops::ConvPerChannel`` and ``FullyConnected``: an int32 accumulator of
``(x - x_zp) * w`` over the window (padding contributes nothing), plus the bias, then
:func:`~sim.golden.fixedpoint.requantize` with the per-channel multiplier and shift that
``QuantizeMultiplier`` derives, in double precision, from the float32 scales
(``x_scale * w_scale[c] / y_scale``, as ``PopulateConvolutionQuantizationParams`` does).
``bits`` narrows activations, weights and outputs to int4 or int2 with the same arithmetic.
"""

import numpy as np

from . import checks
from .fixedpoint import quantize_multiplier, requantize
from .simd import wrap_int32

__all__ = ["activation_range", "conv_requant_params", "fold_input_zero_point", "conv2d",
           "fully_connected", "output_size"]


def activation_range(y_zp, *, relu, bits):
    """Output clamp ``(min, max)``: the precision's range, from the zero point up with ReLU."""
    precision = checks.precision(bits)
    return (max(y_zp, precision.min) if relu else precision.min), precision.max


def conv_requant_params(*, x_scale, w_scale, y_scale, out_channels):
    """Per-output-channel ``(multiplier, shift)`` int arrays for a conv or FC layer."""
    x_scale = checks.scale(x_scale, "x_scale")
    y_scale = checks.scale(y_scale, "y_scale")
    pairs = [quantize_multiplier(x_scale * w / y_scale)
             for w in checks.scales(w_scale, "w_scale", out_channels)]
    multiplier, shift = zip(*pairs)
    return np.array(multiplier, dtype=np.int64), np.array(shift, dtype=np.int64)


def fold_input_zero_point(w, bias, x_zp):
    """``bias - x_zp * sum(w)`` per output channel, wrapped to int32.

    With it, ``sum((x - x_zp) * w) + bias == sum(x * w) + folded`` (mod 2**32), so the
    hardware multiplies raw activations; padding must then read as ``x_zp``.
    """
    w = np.asarray(w, dtype=np.int64)
    sums = w.reshape(w.shape[0], -1).sum(axis=1)
    return wrap_int32(np.asarray(bias, dtype=np.int64) - int(x_zp) * sums)


def output_size(size, kernel, stride, before, after):
    """Output length of a window sweep over ``size`` inputs with the given padding."""
    return (size + before + after - kernel) // stride + 1


def conv2d(x, w, bias, *, x_scale, x_zp, w_scale, y_scale, y_zp, stride=(1, 1),
           padding=(0, 0, 0, 0), relu=False, bits=8):
    """Quantized 2-D convolution.

    Parameters
    ----------
    x : int array (N, H, W, C)
        Input activations.
    w : int array (O, KH, KW, C)
        Weights, symmetric (zero point 0).
    bias : int32 array (O,)
    x_scale, y_scale : float
        Per-tensor scales; ``x_zp``, ``y_zp`` their zero points.
    w_scale : float or sequence of O floats
        Per-tensor or per-output-channel weight scales.
    stride : (sh, sw)
    padding : (top, bottom, left, right)
    relu : bool
        Fused ReLU: clamp at the output zero point.
    bits : 8, 4 or 2

    Returns an ``int8`` array (N, OH, OW, O).
    """
    precision = checks.precision(bits)
    x = checks.tensor(x, "x", precision, 4)
    w = checks.tensor(w, "w", precision, 4)
    out_channels, kh, kw, in_channels = w.shape
    if x.shape[3] != in_channels:
        raise ValueError(f"w must have {x.shape[3]} input channels like x, not {in_channels!r}")
    bias = checks.int32_vector(bias, "bias", out_channels)
    x_zp = checks.zero_point(x_zp, "x_zp", precision)
    y_zp = checks.zero_point(y_zp, "y_zp", precision)
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
    low, high = activation_range(y_zp, relu=relu, bits=bits)
    return requantize(wrap_int32(acc), bias=bias, multiplier=multiplier, shift=shift,
                      zero_point=y_zp, clamp_min=low, clamp_max=high).astype(np.int8)


def fully_connected(x, w, bias, *, x_scale, x_zp, w_scale, y_scale, y_zp, relu=False, bits=8):
    """Quantized fully-connected layer: ``x`` (N, I), ``w`` (O, I), ``bias`` (O,) → int8 (N, O).

    Unlike the convolution, LiteRT's reference fully-connected kernel (per-channel, as the
    converter emits it) requantizes with a single rounding (the 64-bit overload of
    ``MultiplyByQuantizedMultiplier``): an exact half rounds toward +infinity, and a
    value just below one half after the first step of double rounding is not rounded up.
    """
    precision = checks.precision(bits)
    x = checks.tensor(x, "x", precision, 2)
    w = checks.tensor(w, "w", precision, 2)
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"w must have {x.shape[1]} inputs like x, not {w.shape[1]!r}")
    bias = checks.int32_vector(bias, "bias", w.shape[0])
    x_zp = checks.zero_point(x_zp, "x_zp", precision)
    y_zp = checks.zero_point(y_zp, "y_zp", precision)
    multiplier, shift = conv_requant_params(x_scale=x_scale, w_scale=w_scale, y_scale=y_scale,
                                            out_channels=w.shape[0])
    low, high = activation_range(y_zp, relu=relu, bits=bits)
    return requantize(wrap_int32((x - x_zp) @ w.T), bias=bias, multiplier=multiplier,
                      shift=shift, zero_point=y_zp, clamp_min=low, clamp_max=high,
                      rounding="single").astype(np.int8)
