"""TFLite's integer requantization arithmetic, vectorised over numpy arrays.

Follows ``tensorflow/lite/kernels/internal/common.h`` (default build, double rounding):
gemmlowp's ``SaturatingRoundingDoublingHighMul`` and ``RoundingDivideByPOT``, and
``MultiplyByQuantizedMultiplier``; ``QuantizeMultiplier`` from ``quantization_util.cc``.
Everything is computed in ``int64`` and returned as ``int32``; no floating point touches
a value, only the derivation of a multiplier from a real scale.
"""

import math

import numpy as np

from hdl.params import MAX_SHIFT, MIN_SHIFT

from .simd import wrap_int32

__all__ = ["INT32_MIN", "INT32_MAX", "wrap_int32", "saturating_rounding_doubling_high_mul",
           "rounding_divide_by_pot", "multiply_by_quantized_multiplier",
           "multiply_by_quantized_multiplier_single_rounding", "quantize_multiplier",
           "requantize", "ROUNDINGS"]

#: The two rounding variants of TFLite's requantization (see :func:`requantize`).
ROUNDINGS = ("double", "single")

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


def _int64(values, name):
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"{name} must be an integer array, not of dtype {values.dtype}")
    values = values.astype(np.int64)
    if values.size and (values.min() < INT32_MIN or values.max() > INT32_MAX):
        raise ValueError(f"{name} must lie in [{INT32_MIN}, {INT32_MAX}]")
    return values


def saturating_rounding_doubling_high_mul(a, b):
    """gemmlowp's ``SaturatingRoundingDoublingHighMul``: ``round(a * b / 2**31)``.

    The rounding nudge is ``2**30`` for a non-negative product and ``1 - 2**30`` for a
    negative one, then the sum is divided by ``2**31`` truncating toward zero (C
    semantics). ``a == b == INT32_MIN`` is the only overflow and saturates to INT32_MAX.
    """
    a, b = _int64(a, "a"), _int64(b, "b")
    product = a * b
    nudge = np.where(product >= 0, 1 << 30, 1 - (1 << 30))
    total = product + nudge
    quotient = np.where(total >= 0, total >> 31, -((-total) >> 31))
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    return np.where(overflow, INT32_MAX, quotient).astype(np.int32)


def rounding_divide_by_pot(x, exponent):
    """gemmlowp's ``RoundingDivideByPOT``: ``x / 2**exponent``, rounding half away from zero.

    ``exponent`` lies in ``[0, 31]``.
    """
    x = _int64(x, "x")
    exponent = np.asarray(exponent, dtype=np.int64)
    if exponent.size and (exponent.min() < 0 or exponent.max() > 31):
        raise ValueError(f"exponent must lie in [0, 31], not {exponent!r}")
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return ((x >> exponent) + (remainder > threshold)).astype(np.int32)


def multiply_by_quantized_multiplier(x, multiplier, shift):
    """TFLite's ``MultiplyByQuantizedMultiplier``: ``x * multiplier * 2**shift / 2**31``.

    A positive ``shift`` multiplies ``x`` by ``2**shift`` first, wrapping to int32 as the
    C code's ``x * (1 << left_shift)`` does on every TFLite target; a negative one
    divides the high product by ``2**-shift`` with :func:`rounding_divide_by_pot`.
    ``shift`` lies in ``[MIN_SHIFT, MAX_SHIFT]`` (-31 to 30).
    """
    x = _int64(x, "x")
    shift = np.asarray(shift)
    if not np.issubdtype(shift.dtype, np.integer):
        raise ValueError(f"shift must be an integer array, not of dtype {shift.dtype}")
    shift = shift.astype(np.int64)
    if shift.size and (shift.min() < MIN_SHIFT or shift.max() > MAX_SHIFT):
        raise ValueError(f"shift must lie in [{MIN_SHIFT}, {MAX_SHIFT}], not {shift!r}")
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    shifted = wrap_int32(x << left)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), right)


def multiply_by_quantized_multiplier_single_rounding(x, multiplier, shift):
    """TFLite's int64 ``MultiplyByQuantizedMultiplier``: one rounding, ties toward +infinity.

    ``(x * multiplier + 2**(30 - shift)) >> (31 - shift)`` in 64 bits, as the overload
    for a 64-bit ``x`` computes it (LiteRT's per-channel fully-connected kernel uses it).
    ``multiplier`` is non-negative; ``shift`` lies in ``[MIN_SHIFT, MAX_SHIFT]``.
    """
    x = _int64(x, "x")
    multiplier = _int64(multiplier, "multiplier")
    if multiplier.size and multiplier.min() < 0:
        raise ValueError("multiplier must be non-negative for single rounding")
    shift = np.asarray(shift)
    if not np.issubdtype(shift.dtype, np.integer):
        raise ValueError(f"shift must be an integer array, not of dtype {shift.dtype}")
    shift = shift.astype(np.int64)
    if shift.size and (shift.min() < MIN_SHIFT or shift.max() > MAX_SHIFT):
        raise ValueError(f"shift must lie in [{MIN_SHIFT}, {MAX_SHIFT}], not {shift!r}")
    total = 31 - shift
    return wrap_int32((x * multiplier + (np.int64(1) << (total - 1))) >> total)


def _round_half_away(value):
    magnitude = math.floor(abs(value) + 0.5)  # exact: |value| <= 2**31 has <= 22 fraction bits
    return magnitude if value >= 0 else -magnitude


def quantize_multiplier(real):
    """TFLite's ``QuantizeMultiplier``: ``real ~= multiplier * 2**shift / 2**31``.

    Returns ``(multiplier, shift)`` with ``multiplier`` in ``[2**30, 2**31 - 1]`` (or 0 for
    a zero or vanishingly small ``real``). ``real`` must be finite and non-negative.
    """
    real = float(real)
    if not math.isfinite(real) or real < 0:
        raise ValueError(f"real must be a finite non-negative number, not {real!r}")
    if real == 0.0:
        return 0, 0
    fraction, shift = math.frexp(real)
    q_fixed = _round_half_away(fraction * (1 << 31))
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return int(q_fixed), int(shift)


def requantize(acc, *, bias, multiplier, shift, zero_point, clamp_min, clamp_max,
               rounding="double"):
    """TFLite's conv/fully-connected output stage for every accumulator.

    ``clip(MultiplyByQuantizedMultiplier(wrap32(acc + bias), multiplier, shift) +
    zero_point, clamp_min, clamp_max)``. ``rounding`` picks the variant: ``"double"``
    (:func:`multiply_by_quantized_multiplier`, what LiteRT's conv and the hardware
    requantize unit use) or ``"single"`` (:func:`multiply_by_quantized_multiplier_single_
    rounding`, what LiteRT's per-channel fully-connected kernel uses). Per-channel
    ``bias``, ``multiplier`` and ``shift`` broadcast along the last axis. Returns int32.
    """
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding must be one of {', '.join(ROUNDINGS)}, not {rounding!r}")
    summed = wrap_int32(_int64(acc, "acc") + _int64(bias, "bias"))
    scale = multiply_by_quantized_multiplier if rounding == "double" else \
        multiply_by_quantized_multiplier_single_rounding
    scaled = scale(summed, multiplier, shift).astype(np.int64)
    if clamp_min > clamp_max:
        raise ValueError(f"clamp_min must not exceed clamp_max {clamp_max!r}, not {clamp_min!r}")
    return np.clip(scaled + int(zero_point), clamp_min, clamp_max).astype(np.int32)
