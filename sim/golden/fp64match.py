"""Integer parameters that reproduce LiteRT's double-precision fully-connected requantization.

LiteRT's reference ``FULLY_CONNECTED`` computes ``round(double(v) * s)`` for every biased
accumulator ``v`` (:func:`~sim.golden.fixedpoint.multiply_by_fp64_scale`). The requantize
unit has no double multiply, but its single rounding computes
``floor(v * M / 2**k + 1/2)`` with ``k = 31 - shift`` (``TFLITE_SINGLE_ROUNDING``'s
``MultiplyByQuantizedMultiplier``). :func:`fp64_single_rounding_params` picks, per output
channel, a ``(M, shift)`` for which the two agree on every accumulator the layer can
produce, and proves it:

For a biased accumulator ``v`` let ``d`` be the distance of the exact ``v * s`` to the
nearest half-integer. The double product ``fl(v * s)`` lies within ``2**-53 * |v * s|`` of
``v * s``, and ``v * M / 2**k`` within ``|v| * |M / 2**k - s|``. If ``d`` exceeds both,
both lie strictly between the same two half-integers as ``v * s`` and round to the same
integer, whatever either does at a tie. With ``A`` the largest ``|v|`` the layer reaches
and ``eps = A * max(|M / 2**k - s|, 2**-53 * s)``, only the ``v`` within ``eps / s`` of a
``h / s`` for a half-integer ``h`` can differ: since ``eps / s <= A * 2**-31 <= 1`` for a
31-bit ``M``, at most three integers around each ``h / s``. Those are computed exactly
(Python integers) with both arithmetics; the half-integers considered are
those between two outputs that stay distinct after the zero point and clamp. If one of
them differs, the next multiplier around the first choice is tried.

The reachable ``v`` are ``bias + sum((x - x_zp) * w)`` over every input ``x`` in the
precision's range (or all of int32 if that range would wrap), so the agreement holds for
every input frame, not only the tested ones.
"""

from fractions import Fraction

import numpy as np

from hdl.params import MAX_SHIFT, MIN_SHIFT

from . import checks
from .conv import effective_scales
from .fixedpoint import (
    FP64_SIGNIFICAND_BITS,
    INT32_MAX,
    INT32_MIN,
    fp64_scale,
    multiply_by_fp64_scale,
    quantize_multiplier,
)

__all__ = ["MULTIPLIER_SEARCH", "accumulator_range", "fp64_single_rounding_params"]

#: How far (in steps of one) from ``QuantizeMultiplier``'s choice the multiplier search goes.
MULTIPLIER_SEARCH = 64


def accumulator_range(w, bias, x_zp, bits):
    """Per output channel, the smallest and largest ``bias + sum((x - x_zp) * w)`` over inputs
    ``x`` in the range of ``bits``; ``(INT32_MIN, INT32_MAX)`` where that would leave int32
    (the accumulator wraps, so any value may then occur). Returns two int64 arrays."""
    precision = checks.precision(bits)
    w = np.asarray(w, np.int64).reshape(len(w), -1)
    low_x, high_x = precision.min - int(x_zp), precision.max - int(x_zp)
    low = np.asarray(bias, np.int64) + np.minimum(w * low_x, w * high_x).sum(axis=1)
    high = np.asarray(bias, np.int64) + np.maximum(w * low_x, w * high_x).sum(axis=1)
    wraps = (low < INT32_MIN) | (high > INT32_MAX)
    return np.where(wraps, INT32_MIN, low), np.where(wraps, INT32_MAX, high)


def _single(v, multiplier, shift):
    total = 31 - shift
    return (v * multiplier + (1 << (total - 1))) >> total


def _candidates(real):
    """``(multiplier, shift)`` pairs to try: ``QuantizeMultiplier``'s, then its neighbours.

    A scale below ``2**-32``, which ``QuantizeMultiplier`` flushes to zero, gets the
    smallest shift and a multiplier of fewer bits instead.
    """
    multiplier, shift = quantize_multiplier(real)
    if multiplier == 0:
        shift = MIN_SHIFT
        multiplier = round(Fraction(real) * (1 << (31 - MIN_SHIFT)))
    yield multiplier, shift
    for step in range(1, MULTIPLIER_SEARCH + 1):
        for candidate in (multiplier + step, multiplier - step):
            if 0 < candidate <= INT32_MAX:
                yield candidate, shift


def _channel(real, low, high, zero_point, clamp_min, clamp_max, channel):
    """The ``(multiplier, shift)`` of one channel (see the module docstring)."""
    significand, exponent = fp64_scale(real)
    bound = max(abs(low), abs(high))
    if bound * real >= 2 ** 31:
        raise ValueError(f"channel {channel}: accumulators up to {bound} times scale {real!r} "
                         f"leave int32")
    scale = Fraction(real)
    if 4 * bound * scale < 1:
        # |v * s| < 1/4, so fl(v * s) < 1/2 for every reachable v: every output is 0, as
        # with multiplier 0.
        return 0, 0
    outputs = range(clamp_min - zero_point, clamp_max - zero_point)    # t, with t + 1 distinct
    # Exact integers over the denominator 2**precision: s, and s * 2**-53.
    if exponent >= 0:
        significand, exponent_offset = significand << exponent, 0
    else:
        exponent_offset = -exponent
    for multiplier, shift in _candidates(real):
        if shift > MAX_SHIFT:
            raise ValueError(f"channel {channel}: scale {real!r} needs shift {shift}, more than "
                             f"{MAX_SHIFT}")
        fraction_bits = 31 - shift
        precision = max(fraction_bits, exponent_offset) + FP64_SIGNIFICAND_BITS
        scaled = significand << (precision - exponent_offset)                   # s * 2**precision
        approximation = multiplier << (precision - fraction_bits)
        epsilon = bound * max(abs(approximation - scaled),
                              significand << (precision - exponent_offset - FP64_SIGNIFICAND_BITS))
        dangerous = []
        for t in outputs:
            half = (2 * t + 1) << (precision - 1)                                # h * 2**precision
            first = max(-((epsilon - half) // scaled), low)      # ceil((h - eps) / s)
            last = min((half + epsilon) // scaled, high)         # floor((h + eps) / s)
            dangerous.extend(range(first, last + 1))
        if not dangerous:
            return multiplier, shift
        values = np.array(sorted(set(dangerous)), np.int64)
        expected = np.clip(multiply_by_fp64_scale(values, *fp64_scale(real)) + zero_point,
                           clamp_min, clamp_max)
        got = np.clip(np.array([_single(int(v), multiplier, shift) for v in values], np.int64)
                      + zero_point, clamp_min, clamp_max)
        if np.array_equal(expected, got):
            return multiplier, shift
    raise ValueError(f"channel {channel}: no multiplier within {MULTIPLIER_SEARCH} of "
                     f"QuantizeMultiplier({real!r}) matches the double-precision rounding")


def fp64_single_rounding_params(*, x_scale, x_zp, w_scale, y_scale, y_zp, w, bias, clamp_min,
                                clamp_max, bits=8):
    """Per output channel ``(multiplier, shift)`` int64 arrays for the single rounding that
    equal LiteRT's double-precision fully-connected requantization on every reachable input.

    Parameters
    ----------
    x_scale, x_zp, w_scale, y_scale, y_zp : as for :func:`~sim.golden.fully_connected`
    w : integer array (O, ...)
        The weights, output channel first.
    bias : int32-valued integer array (O,)
    clamp_min, clamp_max : int
        The output clamp (:func:`~sim.golden.activation_range`).
    bits : 8, 4 or 2
        The precision of the inputs.

    Raises ``ValueError`` naming the channel where no multiplier within
    :data:`MULTIPLIER_SEARCH` of ``QuantizeMultiplier``'s agrees (not met in practice).
    """
    w = np.asarray(w)
    bias = checks.int32_vector(bias, "bias", w.shape[0])
    reals = effective_scales(x_scale=x_scale, w_scale=w_scale, y_scale=y_scale,
                             out_channels=w.shape[0])
    low, high = accumulator_range(w, bias, x_zp, bits)
    pairs = [_channel(real, int(low[c]), int(high[c]), int(y_zp), int(clamp_min), int(clamp_max), c)
             for c, real in enumerate(reals)]
    multiplier, shift = zip(*pairs)
    return np.array(multiplier, dtype=np.int64), np.array(shift, dtype=np.int64)
