"""Residual join: TFLite's int8 ADD (``reference_integer_ops::Add``).

Both inputs are offset by their zero points, shifted left by 20 bits, rescaled to the
larger input scale with ``MultiplyByQuantizedMultiplierSmallerThanOneExp``, summed, and
rescaled to the output; the multipliers come from ``QuantizeMultiplierSmallerThanOneExp``
as ``add.cc``'s ``Prepare`` derives them.
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
    """The integer parameters of one quantized ADD (what the hardware is programmed with)."""
    a_multiplier: int
    a_shift: int
    b_multiplier: int
    b_shift: int
    y_multiplier: int
    y_shift: int


def _smaller_than_one(real, name):
    if not real < 1.0:
        raise ValueError(f"{name} must be below one, not {real!r}")
    return quantize_multiplier(real)


def add_params(*, a_scale, b_scale, y_scale):
    """The multipliers and shifts of TFLite's int8 ADD for these scales."""
    a_scale = checks.scale(a_scale, "a_scale")
    b_scale = checks.scale(b_scale, "b_scale")
    y_scale = checks.scale(y_scale, "y_scale")
    twice_max = 2.0 * max(a_scale, b_scale)
    y_real = twice_max / float(np.float32((1 << ADD_LEFT_SHIFT) * np.float32(y_scale)))
    return AddParams(*_smaller_than_one(a_scale / twice_max, "a_scale / (2 * max input scale)"),
                     *_smaller_than_one(b_scale / twice_max, "b_scale / (2 * max input scale)"),
                     *_smaller_than_one(y_real, "2 * max input scale / (2**20 * y_scale)"))


def add(a, b, *, a_scale, a_zp, b_scale, b_zp, y_scale, y_zp, relu=False, bits=8):
    """Quantized element-wise ``a + b`` of equal-shape tensors; returns ``int8``."""
    precision = checks.precision(bits)
    a_array, b_array = np.asarray(a), np.asarray(b)
    if a_array.shape != b_array.shape:
        raise ValueError(f"b must have the shape of a {a_array.shape!r}, not {b_array.shape!r}")
    a = checks.tensor(a, "a", precision, a_array.ndim)
    b = checks.tensor(b, "b", precision, b_array.ndim)
    a_zp = checks.zero_point(a_zp, "a_zp", precision)
    b_zp = checks.zero_point(b_zp, "b_zp", precision)
    y_zp = checks.zero_point(y_zp, "y_zp", precision)
    p = add_params(a_scale=a_scale, b_scale=b_scale, y_scale=y_scale)
    a_scaled = multiply_by_quantized_multiplier((a - a_zp) << ADD_LEFT_SHIFT,
                                                p.a_multiplier, p.a_shift)
    b_scaled = multiply_by_quantized_multiplier((b - b_zp) << ADD_LEFT_SHIFT,
                                                p.b_multiplier, p.b_shift)
    total = a_scaled.astype(np.int64) + b_scaled
    y = multiply_by_quantized_multiplier(total, p.y_multiplier, p.y_shift).astype(np.int64)
    low, high = activation_range(y_zp, relu=relu, bits=bits)
    return np.clip(y + y_zp, low, high).astype(np.int8)
