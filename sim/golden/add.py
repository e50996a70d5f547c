"""Residual join: LiteRT's int8 ADD (``add.cc``, ``reference_integer_ops::AddFunc``).

Both inputs are offset by their zero points, shifted left by 20 bits, rescaled to the
larger input scale with ``MultiplyByQuantizedMultiplierSmallerThanOneExp`` (the double
rounding of ``MultiplyByQuantizedMultiplier`` with a shift of at most 0), summed in int32,
rescaled to the output the same way, offset by the output zero point and clamped. The
multipliers come from ``QuantizeMultiplierSmallerThanOneExp`` as ``add.cc``'s ``Prepare``
derives them from the float32 scales: ``twice_max_input_scale = 2 * max(a_scale, b_scale)``,
``a_scale / twice_max``, ``b_scale / twice_max`` and ``twice_max / (2**20 * y_scale)``.
"""

from dataclasses import dataclass

import numpy as np

from . import checks
from .conv import activation_range
from .fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier

__all__ = ["ADD_LEFT_SHIFT", "AddParams", "add_params", "add"]

#: Headroom shift TFLite applies to int8 ADD inputs.
ADD_LEFT_SHIFT = 20


@dataclass(frozen=True)
class AddParams:
    """The integer parameters of one quantized ADD (what the hardware is programmed with).

    Every shift is at most 0 (a right shift); ``left_shift`` is the input headroom shift.
    """
    a_multiplier: int
    a_shift: int
    b_multiplier: int
    b_shift: int
    y_multiplier: int
    y_shift: int
    left_shift: int = ADD_LEFT_SHIFT


def _smaller_than_one(real, name):
    """``QuantizeMultiplierSmallerThanOneExp``: ``real`` in (0, 1), so the shift is at most 0."""
    if not 0.0 < real < 1.0:
        raise ValueError(f"{name} must lie strictly between 0 and 1, not {real!r}")
    return quantize_multiplier(real)


def add_params(*, a_scale, b_scale, y_scale):
    """The multipliers and shifts of LiteRT's int8 ADD for these scales, as :class:`AddParams`.

    Scales are rounded to float32 first, as a ``.tflite`` file stores them; the ratios are
    then taken in double, as ``add.cc`` does.
    """
    a_scale = checks.scale(a_scale, "a_scale")
    b_scale = checks.scale(b_scale, "b_scale")
    y_scale = checks.scale(y_scale, "y_scale")
    twice_max = 2.0 * max(a_scale, b_scale)
    y_real = twice_max / float(np.float32((1 << ADD_LEFT_SHIFT) * np.float32(y_scale)))
    return AddParams(*_smaller_than_one(a_scale / twice_max, "a_scale / (2 * max input scale)"),
                     *_smaller_than_one(b_scale / twice_max, "b_scale / (2 * max input scale)"),
                     *_smaller_than_one(y_real, "2 * max input scale / (2**20 * y_scale)"))


def add(a, b, *, a_scale, a_zp, b_scale, b_zp, y_scale, y_zp, relu=False, bits=8, relu6=False,
        out_bits=None):
    """Quantized element-wise ``a + b`` of two equal-shape tensors (``ADD``, no broadcast).

    Parameters
    ----------
    a, b : int8 arrays of one shape
    a_scale, a_zp, b_scale, b_zp : the inputs' scales and zero points
    y_scale, y_zp : the output's
    relu : bool
        Fused ReLU: the output clamps at ``max(y_zp, qmin)``.
    relu6 : bool
        Fused ReLU6: also clamps at the quantized 6.0 (``activation_range``).
    bits : 8, 4 or 2
        Range of both inputs and their zero points (same arithmetic).
    out_bits : 8, 4, 2 or None
        Range of ``y_zp`` and of the output (``None``: ``bits``).

    Returns an ``int8`` array of the inputs' shape.
    """
    precision = checks.precision(bits)
    a = checks.activations(a, "a", precision)
    b = checks.activations(b, "b", precision)
    if a.shape != b.shape:
        raise ValueError(f"b must have the shape of a {a.shape!r}, not {b.shape!r}")
    a_zp = checks.zero_point(a_zp, "a_zp", precision)
    b_zp = checks.zero_point(b_zp, "b_zp", precision)
    out = checks.out_precision(out_bits, bits)
    y_zp = checks.zero_point(y_zp, "y_zp", out)
    p = add_params(a_scale=a_scale, b_scale=b_scale, y_scale=y_scale)
    a_scaled = multiply_by_quantized_multiplier((a - a_zp) << ADD_LEFT_SHIFT,
                                                p.a_multiplier, p.a_shift)
    b_scaled = multiply_by_quantized_multiplier((b - b_zp) << ADD_LEFT_SHIFT,
                                                p.b_multiplier, p.b_shift)
    total = a_scaled.astype(np.int64) + b_scaled
    y = multiply_by_quantized_multiplier(total, p.y_multiplier, p.y_shift).astype(np.int64)
    low, high = activation_range(y_zp, relu=relu, bits=out.bits, relu6=relu6, y_scale=y_scale)
    return np.clip(y + y_zp, low, high).astype(np.int8)
