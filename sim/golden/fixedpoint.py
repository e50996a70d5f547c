"""TFLite's integer requantization arithmetic, vectorised over numpy arrays.

Follows ``tensorflow/lite/kernels/internal/common.h`` and ``common.cc`` (LiteRT's default
build, without ``TFLITE_SINGLE_ROUNDING``): gemmlowp's ``SaturatingRoundingDoublingHighMul``
and ``RoundingDivideByPOT``, ``MultiplyByQuantizedMultiplier`` built from them (double
rounding), and ``QuantizeMultiplier`` from ``quantization_util.cc``. Also the two other
roundings a LiteRT int8 model meets: the single-rounding ``MultiplyByQuantizedMultiplier``
of a ``TFLITE_SINGLE_ROUNDING`` build, and the ``round(double(acc) * scale)`` of LiteRT's
reference fully-connected kernel, which this module emulates exactly with integers
(:func:`multiply_by_fp64_scale`).

Every value is computed in ``int64`` (or exact Python integers) and returned as ``int32``;
floating point is used only to derive a multiplier from a real scale, as TFLite does.
"""

import math

import numpy as np

from hdl.params import MAX_SHIFT, MIN_SHIFT

from .simd import wrap_int32

__all__ = ["INT32_MIN", "INT32_MAX", "ROUNDINGS", "FP64_SIGNIFICAND_BITS", "wrap_int32",
           "saturating_rounding_doubling_high_mul", "rounding_divide_by_pot",
           "multiply_by_quantized_multiplier", "multiply_by_quantized_multiplier_single_rounding",
           "quantize_multiplier", "check_rescale", "fp64_scale", "multiply_by_fp64_scale", "requantize",
           "requantize_fp64"]

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1

#: The two integer roundings of :func:`requantize`: TFLite's default double rounding and
#: the single rounding of a ``TFLITE_SINGLE_ROUNDING`` build.
ROUNDINGS = ("double", "single")

#: Significant bits of an IEEE 754 binary64 (``double``), the hidden bit included.
FP64_SIGNIFICAND_BITS = 53


def _first_bad(values, bad):
    return int(values[bad].flat[0])


def _int32_array(values, name):
    """``values`` as ``int64``; an integer array whose every element fits int32."""
    array = np.asarray(values)
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must be an integer array, not of dtype {array.dtype}")
    array = array.astype(np.int64)
    bad = (array < INT32_MIN) | (array > INT32_MAX)
    if bad.any():
        raise ValueError(f"{name} must lie in [{INT32_MIN}, {INT32_MAX}], "
                         f"not {_first_bad(array, bad)!r}")
    return array


def _ranged_array(values, name, low, high):
    """``values`` as ``int64``; an integer array whose every element lies in [low, high]."""
    array = np.asarray(values)
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must be an integer array, not of dtype {array.dtype}")
    array = array.astype(np.int64)
    bad = (array < low) | (array > high)
    if bad.any():
        raise ValueError(f"{name} must lie in [{low}, {high}], not {_first_bad(array, bad)!r}")
    return array


def saturating_rounding_doubling_high_mul(a, b):
    """gemmlowp's ``SaturatingRoundingDoublingHighMul``: ``a * b / 2**31``, rounded.

    The 64-bit product gets a nudge of ``2**30`` when non-negative and ``1 - 2**30`` when
    negative, and is then divided by ``2**31`` truncating toward zero (C division). So a
    tie rounds toward +infinity: 2.5 becomes 3 and -2.5 becomes -2. ``a == b == INT32_MIN``
    is the only overflow and saturates to ``INT32_MAX``.

    Parameters
    ----------
    a, b : int32-valued integer arrays (broadcast together)

    Returns an ``int32`` array.
    """
    a, b = _int32_array(a, "a"), _int32_array(b, "b")
    product = a * b                                     # |product| <= 2**62: exact in int64
    nudge = np.where(product >= 0, 1 << 30, 1 - (1 << 30))
    total = product + nudge
    quotient = np.where(total >= 0, total >> 31, -((-total) >> 31))
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    return np.where(overflow, INT32_MAX, quotient).astype(np.int32)


def rounding_divide_by_pot(x, exponent):
    """gemmlowp's ``RoundingDivideByPOT``: ``x / 2**exponent``, a tie rounding away from zero.

    ``remainder = x & mask``, ``threshold = (mask >> 1) + (x < 0)``, then
    ``(x >> exponent) + (remainder > threshold)`` with an arithmetic shift.

    Parameters
    ----------
    x : int32-valued integer array
    exponent : integer array, each in [0, 31] (broadcasts against ``x``)

    Returns an ``int32`` array.
    """
    x = _int32_array(x, "x")
    exponent = _ranged_array(exponent, "exponent", 0, 31)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return ((x >> exponent) + (remainder > threshold)).astype(np.int32)


def multiply_by_quantized_multiplier(x, multiplier, shift):
    """TFLite's ``MultiplyByQuantizedMultiplier`` (default build): ``x * multiplier * 2**shift / 2**31``.

    ``left_shift = max(shift, 0)``, ``right_shift = max(-shift, 0)``, then
    ``RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x * 2**left_shift, multiplier),
    right_shift)``. ``x * 2**left_shift`` wraps to int32 as the C code's
    ``x * (1 << left_shift)`` does on every TFLite target. Two roundings: a tie of the
    high product rounds toward +infinity, a tie of the division away from zero.

    Parameters
    ----------
    x, multiplier : int32-valued integer arrays
    shift : integer array, each in [``MIN_SHIFT``, ``MAX_SHIFT``] (-31 to 30)
        Positive shifts left. May be per element (per channel); all three broadcast.

    Returns an ``int32`` array.
    """
    x = _int32_array(x, "x")
    multiplier = _int32_array(multiplier, "multiplier")
    shift = _ranged_array(shift, "shift", MIN_SHIFT, MAX_SHIFT)
    shifted = wrap_int32(x << np.maximum(shift, 0))     # |x| << 30 < 2**61: exact in int64
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier),
                                  np.maximum(-shift, 0))


def multiply_by_quantized_multiplier_single_rounding(x, multiplier, shift):
    """The single-rounding ``MultiplyByQuantizedMultiplier`` of a ``TFLITE_SINGLE_ROUNDING`` build.

    ``(x * multiplier + 2**(30 - shift)) >> (31 - shift)`` in 64 bits: one rounding, a tie
    toward +infinity (``-0.5`` becomes 0). LiteRT's pip build does not use it; the
    requantize unit offers it as a cheaper mode. ``multiplier`` must be non-negative.

    Parameters
    ----------
    x : int32-valued integer array
    multiplier : integer array, each in [0, 2**31 - 1]
    shift : integer array, each in [``MIN_SHIFT``, ``MAX_SHIFT``]

    Returns an ``int32`` array (the result wraps if it leaves int32; TFLite asserts it
    does not).
    """
    x = _int32_array(x, "x")
    multiplier = _ranged_array(multiplier, "multiplier", 0, INT32_MAX)
    shift = _ranged_array(shift, "shift", MIN_SHIFT, MAX_SHIFT)
    total = 31 - shift
    return wrap_int32((x * multiplier + (np.int64(1) << (total - 1))) >> total)


def _check_real(real, name):
    if isinstance(real, bool) or not isinstance(real, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a finite non-negative number, not {real!r}")
    value = float(real)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite non-negative number, not {real!r}")
    return value


def quantize_multiplier(real):
    """TFLite's ``QuantizeMultiplier``: ``real ~= multiplier * 2**shift / 2**31``.

    ``q, shift = frexp(real)``; ``multiplier = round(q * 2**31)`` rounding half away from
    zero (``TfLiteRound``), computed exactly; if that is ``2**31`` it is halved and
    ``shift`` incremented; a ``shift`` below -31 flushes to ``(0, 0)``, as does zero. A
    ``shift`` above 30 is returned as is (TFLite does so too); :func:`requantize` rejects it.

    Parameters
    ----------
    real : float
        Finite and non-negative (a ratio of scales, computed in double as TFLite does).

    Returns ``(multiplier, shift)`` as Python ints, ``multiplier`` in [2**30, 2**31 - 1]
    or 0.
    """
    real = _check_real(real, "real")
    if real == 0.0:
        return 0, 0
    fraction, shift = math.frexp(real)
    numerator, denominator = fraction.as_integer_ratio()     # denominator a power of two
    scaled = numerator << 31
    q_fixed = (scaled + denominator // 2) // denominator     # half away from zero: q > 0
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return int(q_fixed), int(shift)


def check_rescale(reals, y_scale, numerator):
    """Refuse a ``y_scale`` so small that a rescale ``numerator / y_scale`` (each of ``reals``)
    quantizes to a shift above ``MAX_SHIFT``: a multiplier of ``2**MAX_SHIFT`` or more, which
    TFLite's requantization does not take and which would leave int32 for any non-zero sum."""
    reals = list(reals)
    if any(quantize_multiplier(real)[1] > MAX_SHIFT for real in reals):
        limit = max(reals) * y_scale / 2.0 ** MAX_SHIFT
        raise ValueError(f"y_scale must exceed {numerator} / 2**{MAX_SHIFT} = {limit:.6g}, "
                         f"not {y_scale!r}")
    return reals


def fp64_scale(real):
    """A double split exactly into integers: ``real == significand * 2**exponent``.

    ``significand`` lies in [2**52, 2**53) (53 bits, the hidden bit set), or is 0 with
    exponent 0 for a zero ``real``. This is the parameter :func:`multiply_by_fp64_scale`
    takes: the exact double LiteRT's reference fully-connected kernel multiplies by.

    Parameters
    ----------
    real : float
        Finite and non-negative.
    """
    real = _check_real(real, "real")
    if real == 0.0:
        return 0, 0
    fraction, exponent = math.frexp(real)
    significand = int(fraction * (1 << FP64_SIGNIFICAND_BITS))       # exact: a power-of-2 scaling
    return significand, exponent - FP64_SIGNIFICAND_BITS


def _round_fp64_product(x, significand, exponent):
    """``round(double(x) * double(significand * 2**exponent))`` as C computes it, exactly."""
    product = abs(x) * significand
    # The double multiply: round the exact product to 53 significant bits, ties to even.
    # (A subnormal result would round coarser, but is far below 0.5 and ends as 0 anyway.)
    excess = product.bit_length() - FP64_SIGNIFICAND_BITS
    if excess > 0:
        kept, dropped = product >> excess, product & ((1 << excess) - 1)
        half = 1 << (excess - 1)
        if dropped > half or (dropped == half and kept & 1):
            kept += 1
        product, exponent = kept, exponent + excess
    # C's round(): to the nearest integer, a tie away from zero.
    if exponent >= 0:
        magnitude = product << exponent
    else:
        magnitude = (product + (1 << (-exponent - 1))) >> -exponent
    return -magnitude if x < 0 else magnitude


def multiply_by_fp64_scale(x, significand, exponent):
    """``round(double(x) * scale)`` with ``scale = significand * 2**exponent``, emulated with integers.

    What LiteRT's reference fully-connected kernel computes for every accumulator
    (``static_cast<int32_t>(round(static_cast<double>(acc) * effective_output_scale))``):
    the IEEE double product (rounded to 53 significant bits, ties to even), then C's
    ``round`` (half away from zero). Both roundings are reproduced exactly on integers.

    Parameters
    ----------
    x : int32-valued integer array
    significand : integer array, each 0 or in [2**52, 2**53)
    exponent : integer array
        From :func:`fp64_scale`; all three broadcast (per-channel along the last axis).

    Returns an ``int64`` array: results beyond int32 are returned as they are (the C cast
    would be undefined there); the caller clamps.
    """
    x = _int32_array(x, "x")
    significand = np.asarray(significand)
    exponent = np.asarray(exponent)
    for name, array in (("significand", significand), ("exponent", exponent)):
        if not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"{name} must be an integer array, not of dtype {array.dtype}")
    significand = significand.astype(np.int64)
    bad = (significand != 0) & ((significand < 1 << (FP64_SIGNIFICAND_BITS - 1))
                                | (significand >= 1 << FP64_SIGNIFICAND_BITS))
    if bad.any():
        raise ValueError(f"significand must be 0 or lie in [{1 << (FP64_SIGNIFICAND_BITS - 1)}, "
                         f"{(1 << FP64_SIGNIFICAND_BITS) - 1}], not {_first_bad(significand, bad)!r}")
    x, significand, exponent = np.broadcast_arrays(x, significand, exponent.astype(np.int64))
    result = np.empty(x.shape, dtype=np.int64)
    for index in np.ndindex(x.shape):
        result[index] = _round_fp64_product(int(x[index]), int(significand[index]),
                                            int(exponent[index]))
    return result


def _clamp_range(zero_point, clamp_min, clamp_max):
    for name, value in (("zero_point", zero_point), ("clamp_min", clamp_min),
                        ("clamp_max", clamp_max)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name} must be an integer, not {value!r}")
    if clamp_min > clamp_max:
        raise ValueError(f"clamp_min must not exceed clamp_max {clamp_max!r}, not {clamp_min!r}")
    return int(zero_point), int(clamp_min), int(clamp_max)


def requantize(acc, *, bias, multiplier, shift, zero_point, clamp_min, clamp_max,
               rounding="double"):
    """The output stage of TFLite's int8 convolution, and of the hardware requantize unit.

    ``clip(MultiplyByQuantizedMultiplier(wrap32(acc + bias), multiplier, shift) +
    zero_point, clamp_min, clamp_max)``, as ``reference_integer_ops::ConvPerChannel``
    computes it after accumulating.

    Parameters
    ----------
    acc : int32-valued integer array
        Accumulators; the last axis is the output channel.
    bias, multiplier, shift : integer arrays
        Per channel (broadcast along the last axis) or scalars; int32 values, shifts in
        [``MIN_SHIFT``, ``MAX_SHIFT``].
    zero_point, clamp_min, clamp_max : int
        The output zero point and the output range (``clamp_min <= clamp_max``).
    rounding : ``"double"`` or ``"single"``
        :func:`multiply_by_quantized_multiplier` (TFLite's default, used by LiteRT's conv,
        ADD and MEAN) or :func:`multiply_by_quantized_multiplier_single_rounding`.

    Returns an ``int32`` array.
    """
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding must be one of {', '.join(ROUNDINGS)}, not {rounding!r}")
    zero_point, clamp_min, clamp_max = _clamp_range(zero_point, clamp_min, clamp_max)
    summed = wrap_int32(_int32_array(acc, "acc") + _int32_array(bias, "bias"))
    scale = multiply_by_quantized_multiplier if rounding == "double" else \
        multiply_by_quantized_multiplier_single_rounding
    scaled = scale(summed, multiplier, shift).astype(np.int64)
    return np.clip(scaled + zero_point, clamp_min, clamp_max).astype(np.int32)


def requantize_fp64(acc, *, bias, significand, exponent, zero_point, clamp_min, clamp_max):
    """The output stage of LiteRT's reference int8 fully-connected kernel.

    ``clip(round(double(wrap32(acc + bias)) * scale) + zero_point, clamp_min, clamp_max)``
    with the per-channel double ``scale = significand * 2**exponent`` (see
    :func:`fp64_scale` and :func:`multiply_by_fp64_scale`), all on integers. Arguments
    broadcast as in :func:`requantize`. Returns an ``int32`` array.
    """
    zero_point, clamp_min, clamp_max = _clamp_range(zero_point, clamp_min, clamp_max)
    summed = wrap_int32(_int32_array(acc, "acc") + _int32_array(bias, "bias"))
    scaled = multiply_by_fp64_scale(summed, significand, exponent)
    return np.clip(scaled + zero_point, clamp_min, clamp_max).astype(np.int32)
