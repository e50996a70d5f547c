"""TFLite's fixed-point primitives, against values worked out by hand from the C definitions."""

import numpy as np
import pytest

from sim.golden.fixedpoint import (
    INT32_MAX,
    INT32_MIN,
    multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_single_rounding,
    quantize_multiplier,
    requantize,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
)


@pytest.mark.parametrize("a, b, expected", [
    (INT32_MIN, INT32_MIN, INT32_MAX),        # the one overflow saturates
    (1 << 30, 3, 2),                          # (3*2**30 + 2**30) / 2**31 = 2
    (-3, 1 << 30, -1),                        # (-3*2**30 + 1 - 2**30) / 2**31 = -1.99.. -> -1
    (1 << 30, 1 << 30, 1 << 29),              # 2**60 / 2**31, nudge too small to carry
    (INT32_MAX, INT32_MAX, INT32_MAX - 1),    # (2**31-1)**2 / 2**31 rounds to 2**31 - 2
    (5, 1 << 30, 3),                          # (5*2**30 + 2**30) / 2**31 = 3: 2.5 rounds up
    (-5, 1 << 30, -2),                        # (-5*2**30 + 1 - 2**30) / 2**31 = -2.99.. -> -2: a
                                              # negative tie rounds toward zero
])
def test_saturating_rounding_doubling_high_mul(a, b, expected):
    assert saturating_rounding_doubling_high_mul(a, b) == expected


@pytest.mark.parametrize("x, exponent, expected", [
    (5, 1, 3), (-5, 1, -3), (6, 2, 2), (-6, 2, -2), (7, 2, 2), (-7, 2, -2),
    (INT32_MAX, 31, 1), (INT32_MIN, 31, -1), (123, 0, 123), (-1, 31, 0),
])
def test_rounding_divide_by_pot(x, exponent, expected):
    assert rounding_divide_by_pot(x, exponent) == expected


@pytest.mark.parametrize("x, multiplier, shift, expected", [
    (1000, 1 << 30, 0, 500),                  # times 0.5
    (1000, 1 << 30, -1, 250),                 # times 0.25
    (1000, 1 << 30, 1, 1000),                 # x*2, times 0.5
    (3, 1 << 30, -31, 0),                     # the smallest shift
    (1, 1 << 30, 30, 1 << 29),                # the largest: 2**30 * 0.5
    (3, 1 << 30, 30, -(1 << 29)),             # 3 << 30 wraps to -2**30, times 0.5
])
def test_multiply_by_quantized_multiplier(x, multiplier, shift, expected):
    assert multiply_by_quantized_multiplier(x, multiplier, shift) == expected


@pytest.mark.parametrize("real, expected", [
    (0.5, (1 << 30, 0)), (1.0, (1 << 30, 1)), (0.25, (1 << 30, -1)), (0.0, (0, 0)),
    (0.75, (3 << 29, 0)),
    (1.0 - 2.0 ** -40, (1 << 30, 1)),         # rounds up to 2**31: halved, shift + 1
    (2.0 ** -40, (0, 0)),                     # shift below -31 flushes to zero
])
def test_quantize_multiplier(real, expected):
    assert quantize_multiplier(real) == expected


def test_quantize_multiplier_wrong():
    with pytest.raises(ValueError, match=r"^real must be a finite non-negative number, not -1\.0$"):
        quantize_multiplier(-1.0)


def test_shift_wrong():
    with pytest.raises(ValueError, match=r"^shift must lie in \[-31, 30\], not array\(31\)$"):
        multiply_by_quantized_multiplier(1, 1 << 30, 31)


def test_requantize_wraps_bias_and_clamps():
    # INT32_MAX + 1 wraps to INT32_MIN; times 0.5 is -2**30; + 3, clamped to -128.
    assert requantize(np.array([INT32_MAX]), bias=np.array([1]), multiplier=np.array([1 << 30]),
                      shift=np.array([0]), zero_point=3, clamp_min=-128, clamp_max=127) == -128
    # (10 + 6) * 0.5 + 3 = 11, clamped at 10.
    assert requantize(np.array([10]), bias=np.array([6]), multiplier=np.array([1 << 30]),
                      shift=np.array([0]), zero_point=3, clamp_min=-5, clamp_max=10) == 10


@pytest.mark.parametrize("x, multiplier, shift, expected", [
    (1, 1 << 30, 0, 1),                       # (2**30 + 2**30) >> 31 = 1: +0.5 rounds up
    (-1, 1 << 30, 0, 0),                      # (-2**30 + 2**30) >> 31 = 0: -0.5 rounds up too
    (-3, 1 << 30, 0, -1),                     # -1.5 -> -1
    (4066, 2129324917, -7, 31),               # 4066 * m / 2**38 = 31.497: rounds to 31
])
def test_single_rounding(x, multiplier, shift, expected):
    assert multiply_by_quantized_multiplier_single_rounding(x, multiplier, shift) == expected


def test_double_rounding_differs_where_litert_fc_and_conv_differ():
    # 4066 * m / 2**31 = 4031.6 rounds to 4032, and 4032 / 2**7 = 31.5 rounds to 32.
    assert multiply_by_quantized_multiplier(4066, 2129324917, -7) == 32
