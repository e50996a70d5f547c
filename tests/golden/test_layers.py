"""Golden layers: argument checks, int4/int2 ranges, and the identities the hardware relies on."""

import numpy as np
import pytest

import sim.golden as golden

CONV = dict(x_scale=0.05, x_zp=3, w_scale=0.01, y_scale=0.1, y_zp=-2)


def conv_inputs(rng, bits=8, shape=(1, 5, 5, 4), out_channels=3):
    low, high = -(1 << (bits - 1)), 1 << (bits - 1)
    x = rng.integers(low, high, size=shape).astype(np.int8)
    w = rng.integers(low, high, size=(out_channels, 3, 3, shape[3])).astype(np.int8)
    bias = rng.integers(-500, 500, size=out_channels).astype(np.int32)
    return x, w, bias


@pytest.mark.parametrize("bits", [8, 4, 2])
def test_folded_zero_point_and_zero_point_padding(bits):
    """Raw x times w plus the folded bias, with padding read as x_zp, is conv2d exactly."""
    rng = np.random.default_rng(bits)
    zp = {8: 3, 4: -2, 2: 1}[bits]
    x, w, bias = conv_inputs(rng, bits)
    params = dict(CONV, x_zp=zp, y_zp=0, bits=bits)
    expected = golden.conv2d(x, w, bias, padding=(1, 1, 1, 1), **params)
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=zp)
    folded = golden.fold_input_zero_point(w, bias, zp)
    multiplier, shift = golden.conv_requant_params(x_scale=0.05, w_scale=0.01, y_scale=0.1,
                                                   out_channels=w.shape[0])
    out_h, out_w = x.shape[1], x.shape[2]
    acc = np.zeros((out_h, out_w, w.shape[0]), np.int64)
    for row in range(out_h):
        for column in range(out_w):
            window = padded[0, row:row + 3, column:column + 3, :].astype(np.int64)
            acc[row, column] = np.tensordot(w.astype(np.int64), window, axes=3)
    low, high = golden.activation_range(0, relu=False, bits=bits)
    got = golden.requantize(acc, bias=folded, multiplier=multiplier, shift=shift, zero_point=0,
                            clamp_min=low, clamp_max=high)
    assert np.array_equal(got.reshape(expected.shape), expected)


@pytest.mark.parametrize("bits", [4, 2])
def test_narrow_outputs_stay_in_range(bits):
    rng = np.random.default_rng(7)
    x, w, bias = conv_inputs(rng, bits)
    y = golden.conv2d(x, w, bias, bits=bits, **dict(CONV, x_zp=0, y_zp=0))
    assert y.min() >= -(1 << (bits - 1)) and y.max() <= (1 << (bits - 1)) - 1


def test_conv2d_value_wrong():
    rng = np.random.default_rng(0)
    x, w, bias = conv_inputs(rng, 8)
    with pytest.raises(ValueError, match=r"^x must lie in \[-8, 7\] for int4, not -?\d+$"):
        golden.conv2d(x * 0 + 100, w // 16, bias, bits=4, **dict(CONV, x_zp=0, y_zp=0))


def test_conv2d_bits_wrong():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"^bits must be one of 8, 4, 2, not 3$"):
        golden.conv2d(*conv_inputs(rng), bits=3, **CONV)


def test_conv2d_dtype_wrong():
    rng = np.random.default_rng(0)
    x, w, bias = conv_inputs(rng)
    with pytest.raises(ValueError, match=r"^x must be an int8 array, not of dtype float64$"):
        golden.conv2d(x.astype(float), w, bias, **CONV)


def test_conv2d_channels_wrong():
    rng = np.random.default_rng(0)
    x, w, bias = conv_inputs(rng)
    with pytest.raises(ValueError, match=r"^w must have 4 input channels like x, not 2$"):
        golden.conv2d(x, w[..., :2], bias, **CONV)


@pytest.mark.parametrize("value", [0.0, -0.5, float("inf"), float("nan")])
def test_scale_wrong(value):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"^y_scale must be a finite positive number, not .*$"):
        golden.conv2d(*conv_inputs(rng), **dict(CONV, y_scale=value))


def test_w_scale_count_wrong():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"^w_scale must be a scalar or have 3 elements, "
                                         r"not shape \(2,\)$"):
        golden.conv2d(*conv_inputs(rng), **dict(CONV, w_scale=[0.1, 0.2]))


def test_zero_point_wrong():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"^x_zp must lie in \[-128, 127\], not 200$"):
        golden.conv2d(*conv_inputs(rng), **dict(CONV, x_zp=200))


def test_bias_wrong():
    rng = np.random.default_rng(0)
    x, w, _ = conv_inputs(rng)
    with pytest.raises(ValueError, match=r"^bias must lie in \[-2147483648, 2147483647\], "
                                         r"not 1099511627776$"):
        golden.conv2d(x, w, np.full(3, 1 << 40), **CONV)


def test_add_shape_wrong():
    with pytest.raises(ValueError, match=r"^b must have the shape of a \(2, 2\), not \(2, 3\)$"):
        golden.add(np.zeros((2, 2), np.int8), np.zeros((2, 3), np.int8), a_scale=0.1, a_zp=0,
                   b_scale=0.1, b_zp=0, y_scale=0.1, y_zp=0)


def test_max_pool_padding_wrong():
    with pytest.raises(ValueError, match=r"^padding must be smaller than the kernel \(3, 3\), "
                                         r"not \(3, 0, 0, 0\)$"):
        golden.max_pool2d(np.zeros((1, 4, 4, 1), np.int8), kernel=(3, 3), stride=(2, 2),
                          padding=(3, 0, 0, 0))


def test_fully_connected_relu_clamps_at_zero_point():
    x = np.full((1, 4), -100, np.int8)
    w = np.ones((2, 4), np.int8)
    y = golden.fully_connected(x, w, np.zeros(2, np.int32), x_scale=0.1, x_zp=0, w_scale=0.1,
                               y_scale=0.1, y_zp=5, relu=True)
    assert (y == 5).all()   # a negative result clamps at the output zero point
