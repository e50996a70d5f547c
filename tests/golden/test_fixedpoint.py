"""TFLite's fixed-point primitives, against values worked out by hand from the C definitions.

The comments give the arithmetic of each case, following gemmlowp's and TFLite's C code
(``common.h``, ``common.cc``, ``quantization_util.cc``); C's ``/`` truncates toward zero
and ``>>`` is arithmetic.
"""

import math
from fractions import Fraction

import numpy as np
import pytest

from sim.golden.fixedpoint import (
    INT32_MAX,
    INT32_MIN,
    fp64_scale,
    multiply_by_fp64_scale,
    multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_single_rounding,
    quantize_multiplier,
    requantize,
    requantize_fp64,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
    wrap_int32,
)
from sim.tb.runner import seed_from_env


@pytest.mark.parametrize("a, b, expected", [
    (INT32_MIN, INT32_MIN, INT32_MAX),        # the one overflow saturates
    (1 << 30, 3, 2),                          # (3*2**30 + 2**30) / 2**31 = 2
    (-3, 1 << 30, -1),                        # (-3*2**30 + 1 - 2**30) / 2**31 = -1.99.. -> -1
    (1 << 30, 1 << 30, 1 << 29),              # (2**60 + 2**30) / 2**31 = 2**29 + 0.5 -> 2**29
    (INT32_MAX, INT32_MAX, INT32_MAX - 1),    # (2**62 - 2**32 + 1 + 2**30) / 2**31 -> 2**31 - 2
    (INT32_MIN, INT32_MAX, INT32_MIN + 1),    # (-2**62 + 2**31 + 1 - 2**30) / 2**31 -> -2**31 + 1
    (5, 1 << 30, 3),                          # (5*2**30 + 2**30) / 2**31 = 3: 2.5 rounds up
    (-5, 1 << 30, -2),                        # (-5*2**30 + 1 - 2**30) / 2**31 = -2.99.. -> -2:
                                              # a negative tie rounds toward +infinity
    (0, INT32_MIN, 0),                        # (0 + 2**30) / 2**31 -> 0
])
def test_saturating_rounding_doubling_high_mul(a, b, expected):
    assert saturating_rounding_doubling_high_mul(a, b) == expected


@pytest.mark.parametrize("x, exponent, expected", [
    (5, 1, 3),                                # 2.5: remainder 1 > threshold 0 -> 2 + 1
    (-5, 1, -3),                              # -2.5: -5 >> 1 = -3, remainder 1 > threshold 1? no
    (1, 1, 1), (-1, 1, -1),                   # +-0.5 away from zero
    (6, 2, 2), (-6, 2, -2),                   # +-1.5 away from zero
    (7, 2, 2), (-7, 2, -2),                   # +-1.75
    (-4, 1, -2),                              # exact
    (INT32_MAX, 31, 1),                       # remainder 2**31 - 1 > 2**30 - 1 -> 0 + 1
    (INT32_MIN, 31, -1),                      # remainder 0 -> -1
    (-1, 31, 0),                              # -1 >> 31 = -1, remainder 2**31-1 > 2**30 -> 0
    (123, 0, 123),
])
def test_rounding_divide_by_pot(x, exponent, expected):
    assert rounding_divide_by_pot(x, exponent) == expected


@pytest.mark.parametrize("x, multiplier, shift, expected", [
    (1000, 1 << 30, 0, 500),                  # times 0.5
    (1000, 1 << 30, -1, 250),                 # times 0.25
    (1000, 1 << 30, 1, 1000),                 # (1000 << 1) times 0.5
    (3, 1 << 30, -31, 0),                     # SRDHM 2, then 2 / 2**31 -> 0
    (INT32_MAX, INT32_MAX, -31, 1),           # SRDHM 2**31 - 2, then / 2**31 = 0.99.. -> 1
    (INT32_MIN, INT32_MAX, -31, -1),          # SRDHM -2**31 + 1, remainder 1 <= 2**30 -> -1
    (1 << 30, 1 << 30, -31, 0),               # SRDHM 2**29, then / 2**31 = 0.25 -> 0
    (1, 1 << 30, 30, 1 << 29),                # the largest shift: 2**30 * 0.5
    (2, 1 << 30, 30, -(1 << 30)),             # 2 << 30 wraps to -2**31, times 0.5
    (3, 1 << 30, 30, -(1 << 29)),             # 3 << 30 wraps to -2**30, times 0.5 -> -2**29
    (-1, INT32_MIN, 0, 1),                    # negative multiplier: (2**31 + 2**30) / 2**31 -> 1
    (-1, 1 << 30, -1, 0),                     # SRDHM(-1, 2**30) = 0 (-0.5 -> 0), then 0
    (-3, 1 << 30, -1, -1),                    # SRDHM -1 (-1.5 -> -1), then -0.5 -> -1
])
def test_multiply_by_quantized_multiplier(x, multiplier, shift, expected):
    assert multiply_by_quantized_multiplier(x, multiplier, shift) == expected


def test_multiply_by_quantized_multiplier_per_element_shift():
    got = multiply_by_quantized_multiplier(np.array([[1000, 1000, 1000]]), 1 << 30,
                                           np.array([-1, 0, 1]))
    assert got.dtype == np.int32 and got.tolist() == [[250, 500, 1000]]


@pytest.mark.parametrize("x, multiplier, shift, expected", [
    (1, 1 << 30, 0, 1),                       # (2**30 + 2**30) >> 31 = 1: +0.5 rounds up
    (-1, 1 << 30, 0, 0),                      # (-2**30 + 2**30) >> 31 = 0: -0.5 rounds up too
    (-3, 1 << 30, 0, -1),                     # (-3*2**30 + 2**30) >> 31 = -1: -1.5 -> -1
    (4066, 2129324917, -7, 31),               # 8657835112522 / 2**38 = 31.497 -> 31
    (INT32_MAX, INT32_MAX, -31, 1),           # ((2**31-1)**2 + 2**61) >> 62 = 1
    (1, 1 << 30, 30, 1 << 29),                # (2**30 + 2**0) >> 1 = 2**29
])
def test_single_rounding(x, multiplier, shift, expected):
    assert multiply_by_quantized_multiplier_single_rounding(x, multiplier, shift) == expected


def test_double_rounding_differs_from_single():
    # SRDHM: 8657835112522 / 2**31 = 4031.58 -> 4032; then 4032 / 2**7 = 31.5 -> 32.
    assert multiply_by_quantized_multiplier(4066, 2129324917, -7) == 32


@pytest.mark.parametrize("real, expected", [
    (0.5, (1 << 30, 0)),                      # frexp (0.5, 0); 0.5 * 2**31
    (1.0, (1 << 30, 1)),                      # frexp (0.5, 1)
    (0.25, (1 << 30, -1)),
    (0.75, (3 << 29, 0)),
    (0.0, (0, 0)),
    (0.1, (1717986918, -3)),                  # frexp (0.8, -3); 0.8 * 2**31 = 1717986918.4
    (0.5 + 2.0 ** -32, ((1 << 30) + 1, 0)),   # q * 2**31 = 2**30 + 0.5: half away from zero
    (0.5 + 2.0 ** -33, (1 << 30, 0)),         # 2**30 + 0.25
    (1.0 - 2.0 ** -40, (1 << 30, 1)),         # rounds to 2**31: halved, shift + 1
    (2.0 ** -32, (1 << 30, -31)),             # the smallest shift kept
    (2.0 ** -33, (0, 0)),                     # shift -32 < -31 flushes to zero
    (2.0 ** 40, (1 << 30, 41)),               # a large shift is returned as it is
])
def test_quantize_multiplier(real, expected):
    assert quantize_multiplier(real) == expected


@pytest.mark.parametrize("real", [-1.0, float("inf"), float("nan"), "0.5", True])
def test_quantize_multiplier_wrong(real):
    with pytest.raises(ValueError, match=r"^real must be a finite non-negative number, not .+$"):
        quantize_multiplier(real)


def exact_quantized_multiplier(real):
    """``QuantizeMultiplier`` derived again in exact rationals, without ``frexp``: the
    ``shift`` with ``m = real / 2**shift`` in [1/2, 1), ``multiplier = m * 2**31`` rounded
    half away from zero; ``2**31`` becomes ``2**30`` with ``shift + 1``; a shift then under
    -31, and zero, give ``(0, 0)``."""
    exact = Fraction(real)
    if exact == 0:
        return 0, 0
    shift = 0
    while exact / Fraction(2) ** shift >= 1:
        shift += 1
    while exact / Fraction(2) ** shift < Fraction(1, 2):
        shift -= 1
    scaled = exact / Fraction(2) ** shift * 2 ** 31
    multiplier = math.floor(scaled + Fraction(1, 2))
    if multiplier == 2 ** 31:
        multiplier, shift = 2 ** 30, shift + 1
    return (0, 0) if shift < -31 else (multiplier, shift)


def rounding_boundaries(rng, count):
    """Reals whose ``m * 2**31`` is exactly ``k + 1/2`` (a tie), each with the doubles either
    side: ``count`` random ``k`` and shifts, and ``k = 2**31 - 1``, whose tie rounds up to
    ``2**31`` (halved, shift + 1) and whose lower neighbour does not; and the doubles just
    below a power of two, which round up to ``2**31`` too."""
    ties = [(int(k), int(shift)) for k, shift in zip(rng.integers(1 << 30, 1 << 31, size=count),
                                                     rng.integers(-33, 33, size=count))]
    ties += [((1 << 31) - 1, shift) for shift in (-32, -31, -5, 0, 1, 30)]
    reals = []
    for k, shift in ties:
        tie = math.ldexp(2 * k + 1, shift - 32)           # 33 significant bits: exact
        reals += [tie, math.nextafter(tie, 0.0), math.nextafter(tie, math.inf)]
    for shift in (-32, -31, -5, 0, 3, 30):
        reals += [math.ldexp(1.0 - ulps * 2.0 ** -53, shift) for ulps in range(1, 4)]
    return reals


def test_quantize_multiplier_against_exact_rationals():
    """Over random scales (the ratios of float32 scales the layers use, and any double) and
    over the rounding boundaries, against :func:`exact_quantized_multiplier`."""
    seed = seed_from_env()
    rng = np.random.default_rng(seed)
    scales = rng.uniform(1e-4, 1.0, size=(3, 2000)).astype(np.float32).astype(np.float64)
    reals = [float(real) for real in scales[0] * scales[1] / scales[2]]   # input * weight / output
    reals += [math.ldexp(float(m), int(e)) for m, e in zip(rng.uniform(0.5, 1.0, size=2000),
                                                           rng.integers(-40, 35, size=2000))]
    reals += rounding_boundaries(rng, 500)
    reals += [math.ldexp(1.0, e) for e in range(-34, 32)]
    wrong = [(real, quantize_multiplier(real), exact_quantized_multiplier(real)) for real in reals
             if quantize_multiplier(real) != exact_quantized_multiplier(real)]
    assert not wrong, f"SEED={seed}: {len(wrong)} of {len(reals)} scales differ, first " \
                      f"{wrong[0][0]!r}: got {wrong[0][1]}, expected {wrong[0][2]}"


def test_shift_wrong():
    with pytest.raises(ValueError, match=r"^shift must lie in \[-31, 30\], not 31$"):
        multiply_by_quantized_multiplier(1, 1 << 30, 31)
    with pytest.raises(ValueError, match=r"^shift must lie in \[-31, 30\], not -32$"):
        multiply_by_quantized_multiplier_single_rounding(1, 1 << 30, np.array([0, -32]))


def test_exponent_wrong():
    with pytest.raises(ValueError, match=r"^exponent must lie in \[0, 31\], not 32$"):
        rounding_divide_by_pot(1, 32)


def test_x_wrong():
    with pytest.raises(ValueError, match=r"^x must lie in \[-2147483648, 2147483647\], "
                                         r"not 2147483648$"):
        multiply_by_quantized_multiplier(1 << 31, 1 << 30, 0)
    with pytest.raises(ValueError, match=r"^x must be an integer array, not of dtype float64$"):
        multiply_by_quantized_multiplier(1.0, 1 << 30, 0)


def test_single_rounding_multiplier_wrong():
    with pytest.raises(ValueError, match=r"^multiplier must lie in \[0, 2147483647\], not -1$"):
        multiply_by_quantized_multiplier_single_rounding(1, -1, 0)


def test_wrap_int32():
    assert wrap_int32([INT32_MAX + 1, INT32_MIN - 1, 1 << 32]).tolist() == [INT32_MIN, INT32_MAX, 0]


def test_requantize_wraps_bias_and_clamps():
    # INT32_MAX + 1 wraps to INT32_MIN; times 0.5 is -2**30; + 3, clamped to -128.
    assert requantize(np.array([INT32_MAX]), bias=np.array([1]), multiplier=np.array([1 << 30]),
                      shift=np.array([0]), zero_point=3, clamp_min=-128, clamp_max=127) == -128
    # (10 + 6) * 0.5 + 3 = 11, clamped at 10.
    assert requantize(np.array([10]), bias=np.array([6]), multiplier=np.array([1 << 30]),
                      shift=np.array([0]), zero_point=3, clamp_min=-5, clamp_max=10) == 10


def test_requantize_per_channel():
    # Channel c: (acc + bias[c]) * 0.5 * 2**shift[c] + 1; the last axis is the channel.
    acc = np.array([[100, 100, -100], [7, 7, 7]])
    got = requantize(acc, bias=np.array([0, 20, 0]), multiplier=np.array([1 << 30] * 3),
                     shift=np.array([0, -1, 1]), zero_point=1, clamp_min=-128, clamp_max=127)
    # [100*0.5, 120*0.25, -100*1] + 1 and [3.5 -> 4, 27*0.25 = 6.75 -> 7, 7] + 1
    assert got.dtype == np.int32 and got.tolist() == [[51, 31, -99], [5, 8, 8]]


def test_requantize_single():
    # Times 0.25 (multiplier 2**30, shift -1).
    # 3: double: SRDHM (3*2**30 + 2**30) / 2**31 = 2, then 2 / 2 = 1;
    #    single: (3*2**30 + 2**31) >> 32 = 1 (0.75 -> 1).
    # 5: double: SRDHM (5*2**30 + 2**30) / 2**31 = 3, then 3 / 2 = 1.5 -> 2;
    #    single: (5*2**30 + 2**31) >> 32 = 1 (1.25 -> 1).
    kwargs = dict(bias=0, multiplier=1 << 30, shift=-1, zero_point=0, clamp_min=-128,
                  clamp_max=127)
    assert requantize(np.array([3, 5]), **kwargs).tolist() == [1, 2]
    assert requantize(np.array([3, 5]), rounding="single", **kwargs).tolist() == [1, 1]


def test_rounding_wrong():
    with pytest.raises(ValueError, match=r"^rounding must be one of double, single, "
                                         r"not 'nearest'$"):
        requantize(0, bias=0, multiplier=1, shift=0, zero_point=0, clamp_min=0, clamp_max=0,
                   rounding="nearest")


def test_clamp_wrong():
    with pytest.raises(ValueError, match=r"^clamp_min must not exceed clamp_max 3, not 4$"):
        requantize(0, bias=0, multiplier=1, shift=0, zero_point=0, clamp_min=4, clamp_max=3)
    with pytest.raises(ValueError, match=r"^zero_point must be an integer, not 0\.5$"):
        requantize(0, bias=0, multiplier=1, shift=0, zero_point=0.5, clamp_min=0, clamp_max=3)


def test_bias_wrong():
    with pytest.raises(ValueError, match=r"^bias must lie in \[-2147483648, 2147483647\], "
                                         r"not -2147483649$"):
        requantize(0, bias=INT32_MIN - 1, multiplier=1, shift=0, zero_point=0, clamp_min=0,
                   clamp_max=0)


@pytest.mark.parametrize("real, expected", [
    (0.5, (1 << 52, -53)),                    # 2**52 * 2**-53
    (1.0, (1 << 52, -52)),
    (0.75, (3 << 51, -53)),
    (0.1, (0x1999999999999A, -56)),           # 0.1 is 0x3FB999999999999A: 1.6 * 2**-4
    (0.0, (0, 0)),
])
def test_fp64_scale(real, expected):
    assert fp64_scale(real) == expected
    significand, exponent = expected
    assert math.ldexp(significand, exponent) == real


def test_fp64_scale_wrong():
    with pytest.raises(ValueError, match=r"^real must be a finite non-negative number, "
                                         r"not -0\.5$"):
        fp64_scale(-0.5)


@pytest.mark.parametrize("x, real, expected", [
    (3, 0.5, 2),                              # 1.5: C's round takes a tie away from zero
    (-3, 0.5, -2),                            # -1.5 -> -2
    (-1, 0.5, -1),                            # -0.5 -> -1 (double rounding gives 0)
    (5, 0.25, 1),                             # 1.25 -> 1 (double rounding gives 2)
    (7, 0.1, 1),                              # 0.7000000000000001 -> 1
    (-7, 0.1, -1),
    (25, 0.1, 3),                             # exactly 2.5 + 1.4e-16, a double 2.5 -> 3
    (INT32_MIN, 1.0, INT32_MIN),
    (INT32_MAX, 2.0, 2 * INT32_MAX),          # beyond int32: returned as it is
    # The double product rounds first: 933468520 * 0x1.a065eb6fcb6b2p-24 is exactly
    # 90.5 - 3.3e-15, within half an ulp (2**-47) of 90.5, so the double product is 90.5
    # and round() gives 91, where rounding the exact product would give 90.
    (933468520, float.fromhex("0x1.a065eb6fcb6b2p-24"), 91),
    (-933468520, float.fromhex("0x1.a065eb6fcb6b2p-24"), -91),
])
def test_multiply_by_fp64_scale(x, real, expected):
    assert multiply_by_fp64_scale(x, *fp64_scale(real)) == expected


def test_multiply_by_fp64_scale_rounds_the_product_first():
    real = float.fromhex("0x1.a065eb6fcb6b2p-24")
    exact = Fraction(933468520) * Fraction(real)
    assert 0 < Fraction(181, 2) - exact < Fraction(1, 2 ** 47)        # below 90.5, < half ulp
    assert float(933468520) * real == 90.5


def test_multiply_by_fp64_scale_against_ieee_doubles():
    """Against the processor's own double multiply, with C's round written out exactly."""
    seed = 20261125
    rng = np.random.default_rng(seed)
    x = rng.integers(INT32_MIN, INT32_MAX, size=2000, endpoint=True)
    x[:500] = rng.integers(-4000, 4000, size=500)
    for real in [float(np.float32(s)) for s in rng.uniform(1e-4, 2.0, size=20)] + [0.5, 0.25]:
        products = x.astype(np.float64) * real
        expected = [int(math.copysign(math.floor(abs(p)) + (abs(p) - math.floor(abs(p)) >= 0.5),
                                      p)) for p in products]
        got = multiply_by_fp64_scale(x, *fp64_scale(real))
        assert got.tolist() == expected, f"seed {seed}, scale {real!r}"


def test_significand_wrong():
    with pytest.raises(ValueError, match=r"^significand must be 0 or lie in "
                                         r"\[4503599627370496, 9007199254740991\], not 12$"):
        multiply_by_fp64_scale(1, 12, 0)


def test_requantize_fp64():
    # Channel 0: -1 * 0.5 = -0.5 -> -1, + 2 = 1.
    # Channel 1: (9 + 2) * 0.25 = 2.75 -> 3, + 2 = 5, clamped to 4.
    significand, exponent = zip(fp64_scale(0.5), fp64_scale(0.25))
    got = requantize_fp64(np.array([[-1, 9]]), bias=np.array([0, 2]),
                          significand=np.array(significand), exponent=np.array(exponent),
                          zero_point=2, clamp_min=-128, clamp_max=4)
    assert got.dtype == np.int32 and got.tolist() == [[1, 4]]
