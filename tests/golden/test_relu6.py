"""RELU6's clamp: 6.0 quantized as TFLite's ``CalculateActivationRangeQuantized`` does (hand-computed)."""

import pytest

from sim.golden import activation_range, quantized_six


@pytest.mark.parametrize("y_scale, y_zp, expected", [
    (0.1, -100, -40),              # 6 / 0.1 = 60 (float32: 59.999996 -> 60)
    (6.0 / 255.0, -128, 127),      # the calibrated scale: 6.0 is the int8 maximum
    (0.5, 0, 12),
    (4.0, 0, 2),                   # 1.5 rounds away from zero, to 2
    (12.0 / 5.0, 3, 6),            # 2.5 -> 3
])
def test_quantized_six(y_scale, y_zp, expected):
    assert quantized_six(y_scale, y_zp) == expected


def test_relu6_range():
    assert activation_range(-100, relu=False, relu6=True, y_scale=0.1, bits=8) == (-100, -40)
    assert activation_range(-100, relu=True, bits=8) == (-100, 127)
    assert activation_range(-128, relu=False, relu6=True, y_scale=0.01, bits=8) == (-128, 127)
    assert activation_range(0, relu=False, relu6=True, y_scale=1.0, bits=4) == (0, 6)
    assert activation_range(0, relu=False, relu6=True, y_scale=0.5, bits=4) == (0, 7)


def test_relu6_range_wrong():
    with pytest.raises(ValueError, match=r"^y_scale must be given with relu6, not None$"):
        activation_range(0, relu=False, relu6=True, bits=8)
