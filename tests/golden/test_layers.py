"""Golden layers: argument checks, hand-worked cases, and the identities the hardware relies on."""

import re

import numpy as np
import pytest

import sim.golden as golden
from sim.golden.checks import MAX_PADDING

CONV = dict(x_scale=0.05, x_zp=3, w_scale=0.01, y_scale=0.1, y_zp=-2)
POOL = dict(x_scale=0.05, x_zp=3, y_scale=0.02, y_zp=-1)
ADD = dict(a_scale=0.1, a_zp=1, b_scale=0.05, b_zp=-2, y_scale=0.12, y_zp=4)


def conv_inputs(rng, bits=8, shape=(1, 5, 5, 4), out_channels=3, kernel=3):
    low, high = -(1 << (bits - 1)), 1 << (bits - 1)
    x = rng.integers(low, high, size=shape).astype(np.int8)
    w = rng.integers(low, high, size=(out_channels, kernel, kernel, shape[3])).astype(np.int8)
    bias = rng.integers(-500, 500, size=out_channels).astype(np.int32)
    return x, w, bias


def naive_conv2d(x, w, bias, *, x_scale, x_zp, w_scale, y_scale, y_zp, stride, padding, relu,
                 bits):
    """Output pixel by output pixel, skipping taps outside the input, as ConvPerChannel does."""
    (sh, sw), (top, bottom, left, right) = stride, padding
    out_channels, kh, kw, _ = w.shape
    oh = (x.shape[1] + top + bottom - kh) // sh + 1
    ow = (x.shape[2] + left + right - kw) // sw + 1
    multiplier, shift = golden.conv_requant_params(x_scale=x_scale, w_scale=w_scale,
                                                   y_scale=y_scale, out_channels=out_channels)
    low, high = golden.activation_range(y_zp, relu=relu, bits=bits)
    y = np.zeros((x.shape[0], oh, ow, out_channels), np.int8)
    for n, row, column, channel in np.ndindex(y.shape):
        acc = 0
        for i, j in np.ndindex(kh, kw):
            r, c = row * sh - top + i, column * sw - left + j
            if 0 <= r < x.shape[1] and 0 <= c < x.shape[2]:
                acc += int(np.dot(x[n, r, c].astype(np.int64) - x_zp,
                                  w[channel, i, j].astype(np.int64)))
        y[n, row, column, channel] = golden.requantize(
            np.array([acc]), bias=bias[channel], multiplier=multiplier[channel],
            shift=shift[channel], zero_point=y_zp, clamp_min=low, clamp_max=high)[0]
    return y


@pytest.mark.parametrize("bits, shape, stride, padding, relu", [
    (8, (2, 6, 7, 4), (1, 1), (1, 1, 1, 1), False),
    (8, (1, 8, 8, 3), (2, 2), (0, 1, 0, 1), True),       # TFLite SAME, stride 2, even size
    (8, (1, 9, 6, 2), (2, 1), (2, 0, 1, 3), False),      # lopsided padding and strides
    (4, (1, 5, 5, 6), (1, 2), (1, 1, 1, 1), True),
    (2, (1, 4, 6, 8), (2, 2), (1, 0, 1, 0), False),
])
def test_conv2d_against_naive_loops(bits, shape, stride, padding, relu):
    seed = sum(shape) + bits
    rng = np.random.default_rng(seed)
    x, w, bias = conv_inputs(rng, bits, shape, out_channels=5)
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    params = dict(x_scale=0.05, x_zp=int(rng.integers(low, high + 1)),
                  w_scale=rng.uniform(0.005, 0.05, size=5), y_scale=0.08,
                  y_zp=int(rng.integers(low, high + 1)), stride=stride, padding=padding,
                  relu=relu, bits=bits)
    got = golden.conv2d(x, w, bias, **params)
    assert got.dtype == np.int8
    assert np.array_equal(got, naive_conv2d(x, w, bias, **params)), f"seed {seed}"


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
    got = golden.requantize(golden.wrap_int32(acc), bias=folded, multiplier=multiplier,
                            shift=shift, zero_point=0, clamp_min=low, clamp_max=high)
    assert np.array_equal(got.reshape(expected.shape), expected)


def test_fold_input_zero_point_wraps():
    # 2 - 100 * (2**24 + 2**24) = 2 - 100 * 2**25 = 2 - 3355443200, wrapped: + 2**32.
    w = np.full((1, 2), 1 << 24, np.int64)
    assert golden.fold_input_zero_point(w, np.array([2]), 100).tolist() == [2 - 3355443200 + (1 << 32)]


def test_conv2d_hand_worked():
    # One 2x2 input channel, a 2x2 kernel of ones, no padding: acc = sum(x - 1) = 10 - 4.
    # Scale 0.5 * 0.25 / 0.5 = 0.25 (multiplier 2**30, shift -1): (6 + 10) * 0.25 = 4, + 5.
    x = np.array([[1, 2], [3, 4]], np.int8).reshape(1, 2, 2, 1)
    w = np.ones((1, 2, 2, 1), np.int8)
    y = golden.conv2d(x, w, np.array([10]), x_scale=0.5, x_zp=1, w_scale=0.25, y_scale=0.5,
                      y_zp=5)
    assert y.tolist() == [[[[9]]]]


def test_conv2d_padding_contributes_nothing():
    # 3x3 ones over a 1x1 input of value x_zp + 4 with padding 1: only the centre counts.
    x = np.full((1, 1, 1, 1), 7, np.int8)
    y = golden.conv2d(x, np.ones((1, 3, 3, 1), np.int8), np.zeros(1, np.int32), x_scale=1.0,
                      x_zp=3, w_scale=1.0, y_scale=1.0, y_zp=0, padding=(1, 1, 1, 1))
    assert y.tolist() == [[[[4]]]]


def test_accumulator_wraps_as_int32():
    # 140000 products of (127 - -128) * 127 = 32385: 4533900000, wraps to 238932704;
    # times 2**-8 * 2**-8 / 2**8 = 2**-24 is 14.24 -> 14. Unwrapped it would clamp at 127.
    x = np.full((1, 140000), 127, np.int8)
    w = np.full((1, 140000), 127, np.int8)
    scales = dict(x_scale=2.0 ** -8, x_zp=-128, w_scale=2.0 ** -8, y_scale=2.0 ** 8, y_zp=0)
    assert golden.fully_connected(x, w, np.zeros(1, np.int32), **scales).tolist() == [[14]]
    y = golden.conv2d(x.reshape(1, 1, 1, -1), w.reshape(1, 1, 1, -1), np.zeros(1, np.int32),
                      **scales)
    assert y.tolist() == [[[[14]]]]


@pytest.mark.parametrize("bits", [4, 2])
def test_narrow_conv_is_the_int8_conv_clamped(bits):
    """Same arithmetic at every precision: only the output range narrows."""
    rng = np.random.default_rng(7 + bits)
    x, w, bias = conv_inputs(rng, bits, out_channels=6)
    params = dict(CONV, x_zp=1, y_zp=-1)
    narrow = golden.conv2d(x, w, bias, bits=bits, **params)
    wide = golden.conv2d(x, w, bias, bits=8, **params)
    assert np.array_equal(narrow, np.clip(wide, -(1 << (bits - 1)), (1 << (bits - 1)) - 1))
    assert narrow.min() < narrow.max()


def test_fully_connected_relu_clamps_at_zero_point():
    x = np.full((1, 4), -100, np.int8)
    w = np.ones((2, 4), np.int8)
    y = golden.fully_connected(x, w, np.zeros(2, np.int32), x_scale=0.1, x_zp=0, w_scale=0.1,
                               y_scale=0.1, y_zp=5, relu=True)
    assert (y == 5).all()   # a negative result clamps at the output zero point


def test_fully_connected_rounds_ties_away_from_zero():
    # acc = x - 0 with w = 1; scale 2**-1: -1 -> -0.5 -> -1, 1 -> 1, -3 -> -2, 3 -> 2.
    x = np.array([[-1], [1], [-3], [3]], np.int8)
    y = golden.fully_connected(x, np.ones((1, 1), np.int8), np.zeros(1, np.int32),
                               x_scale=0.5, x_zp=0, w_scale=1.0, y_scale=1.0, y_zp=0)
    assert y.ravel().tolist() == [-1, 1, -2, 2]


def test_fully_connected_per_tensor_equals_per_channel():
    rng = np.random.default_rng(11)
    x = rng.integers(-128, 128, size=(3, 20)).astype(np.int8)
    w = rng.integers(-127, 128, size=(6, 20)).astype(np.int8)
    bias = rng.integers(-1000, 1000, size=6).astype(np.int32)
    common = dict(x_scale=0.03, x_zp=-5, y_scale=0.2, y_zp=2)
    assert np.array_equal(golden.fully_connected(x, w, bias, w_scale=0.004, **common),
                          golden.fully_connected(x, w, bias, w_scale=[0.004] * 6, **common))


def test_fully_connected_as_1x1_conv_differs_by_at_most_one():
    """The integer requantization of a 1x1 conv against LiteRT's double one: rarely 1 apart."""
    seed = 3
    rng = np.random.default_rng(seed)
    differ = compared = 0
    for _ in range(200):
        inputs, outputs = int(rng.integers(1, 300)), 8
        x = rng.integers(-128, 128, size=(4, inputs)).astype(np.int8)
        w = rng.integers(-127, 128, size=(outputs, inputs)).astype(np.int8)
        bias = rng.integers(-5000, 5000, size=outputs).astype(np.int32)
        params = dict(x_scale=float(rng.uniform(0.001, 0.1)), x_zp=int(rng.integers(-128, 128)),
                      w_scale=rng.uniform(1e-4, 1e-2, size=outputs),
                      y_scale=float(rng.uniform(0.01, 1.0)), y_zp=int(rng.integers(-128, 128)))
        fc = golden.fully_connected(x, w, bias, **params).astype(np.int64)
        conv = golden.conv2d(x.reshape(4, 1, 1, inputs), w.reshape(outputs, 1, 1, inputs), bias,
                             **params).reshape(4, outputs)
        assert np.abs(fc - conv).max() <= 1, f"seed {seed}"
        differ += int((fc != conv).sum())
        compared += fc.size
    assert 0 < differ < compared // 1000, f"seed {seed}: {differ} of {compared} differ"


def fc_inputs(rng, bits, batch, inputs, outputs, *, ties):
    """Random fully-connected operands whose outputs mostly land inside the range of ``bits``.

    With ``ties``, per-tensor power-of-two scales (an effective scale of 2**-k, k >= 1)
    make exact ties common; at k = 1 the two requantizations round negative ones apart.
    """
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    x = rng.integers(low, high + 1, size=(batch, inputs)).astype(np.int8)
    w = rng.integers(low, high + 1, size=(outputs, inputs)).astype(np.int8)
    x_zp, y_zp = int(rng.integers(low, high + 1)), int(rng.integers(low, high + 1))
    acc = (x.astype(np.int64) - x_zp) @ w.astype(np.int64).T
    spread = max(int(acc.std()), 1)
    bias = rng.integers(-spread, spread + 1, size=outputs).astype(np.int32)
    if ties:
        x_scale, w_scale = 2.0 ** -int(rng.integers(3, 8)), 2.0 ** -int(rng.integers(3, 8))
        shift = max(1, round(np.log2(spread / (high + 1))) + int(rng.integers(-1, 2)))
        y_scale = x_scale * w_scale * 2.0 ** shift
    else:
        x_scale, w_scale = float(rng.uniform(0.001, 0.1)), rng.uniform(1e-4, 1e-2, size=outputs)
        y_scale = x_scale * float(np.median(w_scale)) * spread / (high + 1) \
            * float(rng.uniform(0.5, 2))
    params = dict(x_scale=x_scale, x_zp=x_zp, w_scale=w_scale, y_scale=y_scale, y_zp=y_zp,
                  relu=bool(rng.integers(2)), bits=bits)
    return x, w, bias, params


@pytest.mark.parametrize("bits", [8, 4, 2])
def test_fully_connected_integer_is_the_1x1_conv(bits):
    """The integer-only kernel requantizes as CONV_2D: exactly a 1x1 conv, within 1 of fp64."""
    seed = 20 + bits
    rng = np.random.default_rng(seed)
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    inside = differ = compared = 0
    for case in range(200):
        batch, inputs, outputs = 3, int(rng.integers(1, 200)), 6
        x, w, bias, params = fc_inputs(rng, bits, batch, inputs, outputs, ties=case % 2 == 1)
        integer = golden.fully_connected(x, w, bias, requantization="integer", **params)
        fp64 = golden.fully_connected(x, w, bias, requantization="fp64", **params)
        conv = golden.conv2d(x.reshape(batch, 1, 1, inputs), w.reshape(outputs, 1, 1, inputs),
                             bias, **params)
        assert integer.dtype == np.int8
        assert np.array_equal(integer, conv.reshape(batch, outputs)), f"seed {seed}"
        assert np.abs(integer.astype(np.int64) - fp64).max() <= 1, f"seed {seed}"
        assert low <= integer.min() and integer.max() <= high, f"seed {seed}"
        inside += int(((integer > low) & (integer < high)).sum())
        differ += int((integer != fp64).sum())
        compared += integer.size
    assert compared == 200 * 3 * 6, f"seed {seed}"
    assert inside > compared // 5, f"seed {seed}: only {inside} of {compared} unclamped"
    assert 0 < differ < compared // 4, f"seed {seed}: {differ} of {compared} differ"


def test_fully_connected_default_is_fp64():
    rng = np.random.default_rng(5)
    x, w, bias, params = fc_inputs(rng, 8, 4, 50, 8, ties=False)
    assert np.array_equal(golden.fully_connected(x, w, bias, **params),
                          golden.fully_connected(x, w, bias, requantization="fp64", **params))


def test_fully_connected_integer_rounds_ties_upward():
    # As test_fully_connected_rounds_ties_away_from_zero, but through QuantizeMultiplier(0.5)
    # = (2**30, 0): SaturatingRoundingDoublingHighMul rounds a tie toward +infinity, so
    # -0.5 -> 0, 0.5 -> 1, -1.5 -> -1, 1.5 -> 2, where the double kernel gives -1, 1, -2, 2.
    x = np.array([[-1], [1], [-3], [3]], np.int8)
    y = golden.fully_connected(x, np.ones((1, 1), np.int8), np.zeros(1, np.int32),
                               x_scale=0.5, x_zp=0, w_scale=1.0, y_scale=1.0, y_zp=0,
                               requantization="integer")
    assert y.ravel().tolist() == [0, 1, -1, 2]


def test_add_hand_worked():
    # Equal scales 0.5 and output 1.0: y = ((a - 1) + (b - 1)) / 2 + 0, a tie away from zero.
    a = np.array([2, 1, 0, 5], np.int8)
    b = np.array([1, 1, 1, 2], np.int8)
    y = golden.add(a, b, a_scale=0.5, a_zp=1, b_scale=0.5, b_zp=1, y_scale=1.0, y_zp=0)
    assert y.tolist() == [1, 0, -1, 3]       # 0.5 -> 1, 0, -0.5 -> -1, 2.5 -> 3


def test_add_params():
    # a 0.25, b 0.125, y 0.5: twice_max 0.5; 0.25 / 0.5 = 0.5 -> (2**30, 0);
    # 0.125 / 0.5 = 0.25 -> (2**30, -1); 0.5 / (2**20 * 0.5) = 2**-20 -> (2**30, -19).
    params = golden.add_params(a_scale=0.25, b_scale=0.125, y_scale=0.5)
    assert params == golden.AddParams(1 << 30, 0, 1 << 30, -1, 1 << 30, -19, 20)


def test_max_pool_padding_never_wins():
    x = np.full((1, 2, 2, 1), -128, np.int8)
    y = golden.max_pool2d(x, kernel=(3, 3), stride=(2, 2), padding=(1, 1, 1, 1))
    assert y.tolist() == [[[[-128]]]]


def test_max_pool_hand_worked():
    x = np.arange(16, dtype=np.int8).reshape(1, 4, 4, 1) - 8
    y = golden.max_pool2d(x, kernel=(3, 3), stride=(2, 2), padding=(0, 1, 0, 1))
    assert y[0, :, :, 0].tolist() == [[2, 3], [6, 7]]     # windows rows 0-2/2-3, cols 0-2/2-3


def test_global_avg_pool_hand_worked():
    # Equal quantization: mean of (x - 0) over 2x2 = 6 / 4 = 1.5. Multiplier 2**30, shift 1;
    # count 4 folds in k = 2: (2**30 << 2) // 4 = 2**30, shift -1. SRDHM(6, 2**30) = 3,
    # then 3 / 2 = 1.5 -> 2.
    x = np.array([0, 1, 2, 3], np.int8).reshape(1, 2, 2, 1)
    assert golden.global_avg_pool(x, x_scale=0.1, x_zp=0, y_scale=0.1, y_zp=0).tolist() == [[2]]


def test_mean_params():
    # x_scale / y_scale = 2.5 = 0.625 * 2**2 -> (0.625 * 2**31, 2) = (1342177280, 2);
    # count 49: k = min(5, 32, 31 + 2) = 5, 42949672960 // 49 = 876523937, shift 2 - 5 = -3.
    assert golden.mean_params(x_scale=0.625, y_scale=0.25, count=49) == (876523937, -3)


def naive_max_pool2d(x, *, kernel, stride, padding):
    """Output pixel by output pixel over the window clipped to the input, in Python ints."""
    (kh, kw), (sh, sw), (top, bottom, left, right) = kernel, stride, padding
    oh = (x.shape[1] + top + bottom - kh) // sh + 1
    ow = (x.shape[2] + left + right - kw) // sw + 1
    y = np.zeros((x.shape[0], oh, ow, x.shape[3]), np.int8)
    for n, row, column, channel in np.ndindex(y.shape):
        y[n, row, column, channel] = max(
            int(x[n, r, c, channel])
            for r in range(max(row * sh - top, 0), min(row * sh - top + kh, x.shape[1]))
            for c in range(max(column * sw - left, 0), min(column * sw - left + kw, x.shape[2])))
    return y


@pytest.mark.parametrize("bits, shape, kernel, stride, padding", [
    (4, (2, 6, 7, 3), (3, 3), (2, 2), (1, 1, 1, 1)),
    (4, (1, 8, 8, 5), (2, 2), (2, 2), (0, 0, 0, 0)),
    (2, (1, 9, 6, 4), (3, 2), (2, 1), (2, 0, 1, 1)),     # lopsided padding and strides
    (2, (2, 5, 5, 2), (3, 3), (1, 1), (2, 2, 2, 2)),     # corner windows hold one input
])
def test_narrow_max_pool_against_naive_loops(bits, shape, kernel, stride, padding):
    seed = sum(shape) + bits
    rng = np.random.default_rng(seed)
    x = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), size=shape).astype(np.int8)
    got = golden.max_pool2d(x, kernel=kernel, stride=stride, padding=padding, bits=bits)
    assert got.dtype == np.int8
    expected = naive_max_pool2d(x, kernel=kernel, stride=stride, padding=padding)
    assert np.array_equal(got, expected), f"seed {seed}"
    assert expected.min() < expected.max(), f"seed {seed}"


def naive_global_avg_pool(x, *, x_scale, x_zp, y_scale, y_zp, bits):
    """Channel by channel in Python ints: sum, less x_zp * count, rescale, add y_zp, clamp."""
    count = x.shape[1] * x.shape[2]
    multiplier, shift = golden.mean_params(x_scale=x_scale, y_scale=y_scale, count=count)
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    y = np.zeros((x.shape[0], x.shape[3]), np.int8)
    unclamped = []
    for n, channel in np.ndindex(y.shape):
        total = sum(int(value) for value in x[n, :, :, channel].flat) - x_zp * count
        scaled = int(golden.multiply_by_quantized_multiplier(np.array([total]), multiplier,
                                                             shift)[0])
        unclamped.append(scaled + y_zp)
        y[n, channel] = min(max(scaled + y_zp, low), high)
    return y, unclamped


@pytest.mark.parametrize("bits, shape, scales", [
    (4, (2, 5, 5, 16), (0.05, 0.02)),
    (4, (1, 7, 7, 8), (0.1, 0.03)),
    (2, (2, 4, 4, 16), (0.05, 0.02)),
    (2, (1, 3, 6, 12), (0.3, 0.25)),
])
def test_narrow_global_avg_pool_against_python_ints(bits, shape, scales):
    seed = sum(shape) + bits
    rng = np.random.default_rng(seed)
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    x = rng.integers(low, high + 1, size=shape).astype(np.int8)
    # Mostly-high or mostly-low channels, so that some means leave the range and clamp.
    x[:, :, :, ::3] = np.maximum(x[:, :, :, ::3], high - 1)
    x[:, :, :, 1::3] = np.minimum(x[:, :, :, 1::3], low + 1)
    x_scale, y_scale = scales
    params = dict(x_scale=x_scale, x_zp=int(rng.integers(low, high + 1)), y_scale=y_scale,
                  y_zp=int(rng.integers(low, high + 1)), bits=bits)
    got = golden.global_avg_pool(x, **params)
    assert got.dtype == np.int8
    expected, unclamped = naive_global_avg_pool(x, **params)
    assert np.array_equal(got, expected), f"seed {seed}"
    assert min(unclamped) < low or max(unclamped) > high, f"seed {seed}: the clamp never acted"
    assert expected.min() < expected.max(), f"seed {seed}"


# Argument checks: one test per rule, each matching the whole message.

def test_conv2d_bits_wrong():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"^bits must be one of 8, 4, 2, not 3$"):
        golden.conv2d(*conv_inputs(rng), bits=3, **CONV)


def test_conv2d_value_wrong():
    rng = np.random.default_rng(0)
    x, w, bias = conv_inputs(rng, 4)
    with pytest.raises(ValueError, match=r"^x must lie in \[-8, 7\] for int4, not 100$"):
        golden.conv2d(np.full_like(x, 100), w, bias, bits=4, **dict(CONV, x_zp=0, y_zp=0))
    with pytest.raises(ValueError, match=r"^w must lie in \[-2, 1\] for int2, not -8$"):
        golden.conv2d(x // 4, np.full_like(w, -8), bias, bits=2, **dict(CONV, x_zp=0, y_zp=0))


def test_conv2d_dtype_wrong():
    rng = np.random.default_rng(0)
    x, w, bias = conv_inputs(rng)
    with pytest.raises(ValueError, match=r"^x must be an int8 array, not of dtype float64$"):
        golden.conv2d(x.astype(float), w, bias, **CONV)
    with pytest.raises(ValueError, match=r"^x must be an int8 array, not of dtype int32$"):
        golden.conv2d(x.astype(np.int32), w, bias, **CONV)
    with pytest.raises(ValueError, match=r"^w must be an integer array, not of dtype float32$"):
        golden.conv2d(x, w.astype(np.float32), bias, **CONV)
    with pytest.raises(ValueError, match=r"^bias must be an integer array, not of dtype float64$"):
        golden.conv2d(x, w, bias.astype(float), **CONV)


def test_conv2d_shape_wrong():
    rng = np.random.default_rng(0)
    x, w, bias = conv_inputs(rng)
    with pytest.raises(ValueError, match=r"^x must have 4 dimensions, not shape \(5, 5, 4\)$"):
        golden.conv2d(x[0], w, bias, **CONV)
    with pytest.raises(ValueError, match=r"^w must have 4 dimensions, not shape \(3, 9, 4\)$"):
        golden.conv2d(x, w.reshape(3, 9, 4), bias, **CONV)
    with pytest.raises(ValueError, match=r"^w must have 4 input channels like x, not 2$"):
        golden.conv2d(x, w[..., :2], bias, **CONV)
    with pytest.raises(ValueError, match=r"^bias must have shape \(3,\), not \(2,\)$"):
        golden.conv2d(x, w, bias[:2], **CONV)
    with pytest.raises(ValueError, match=r"^w must fit the padded input \(5, 5\), "
                                         r"not kernel \(7, 7\)$"):
        golden.conv2d(x, np.zeros((3, 7, 7, 4), np.int8), bias, **CONV)


def test_conv2d_stride_wrong():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"^stride must be two integers of at least 1, "
                                         r"not \(0, 1\)$"):
        golden.conv2d(*conv_inputs(rng), stride=(0, 1), **CONV)
    with pytest.raises(ValueError, match=r"^stride must be two integers of at least 1, not 2$"):
        golden.conv2d(*conv_inputs(rng), stride=2, **CONV)


@pytest.mark.parametrize("padding", [(1, 1, -1, 1), (1, 1), (0, MAX_PADDING + 1, 0, 0), (10 ** 9,) * 4])
def test_conv2d_padding_wrong(padding):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=rf"^padding must be four integers in \[0, {MAX_PADDING}\] "
                                         rf"\(top, bottom, left, right\), not {re.escape(repr(padding))}$"):
        golden.conv2d(*conv_inputs(rng), padding=padding, **CONV)


def test_conv2d_output_channels_wrong():
    rng = np.random.default_rng(0)
    x, w, bias = conv_inputs(rng)
    with pytest.raises(ValueError, match=r"^w must have no empty dimension, not shape \(0, 3, 3, 4\)$"):
        golden.conv2d(x, w[:0], bias[:0], **CONV)
    with pytest.raises(ValueError, match=r"^w must have no empty dimension, not shape \(0, 4\)$"):
        golden.fully_connected(x.reshape(-1, 4)[:1], np.zeros((0, 4), np.int8), bias[:0], **CONV)


@pytest.mark.parametrize("requantization", ["fp64", "integer"])
@pytest.mark.parametrize("x_scale, w_scale, y_scale", [(1e30, 1e30, 1e-30), (1.0, 1.0, 1e-30)])
def test_y_scale_too_small_wrong(requantization, x_scale, w_scale, y_scale):
    """A rescale of 2**30 or more: refused naming y_scale, whatever the layer, never an overflow."""
    rng = np.random.default_rng(0)
    x, w, bias = conv_inputs(rng)
    scales = dict(CONV, x_scale=x_scale, w_scale=w_scale, y_scale=y_scale)
    message = r"^y_scale must exceed x_scale \* w_scale / 2\*\*30 = [0-9.e+-]+, not [0-9.e+-]+$"
    with pytest.raises(ValueError, match=message):
        golden.conv2d(x, w, bias, **scales)
    with pytest.raises(ValueError, match=message):
        golden.fully_connected(np.ones((1, 4), np.int8), w[:, 0, 0, :], bias, **scales,
                               requantization=requantization)
    with pytest.raises(ValueError, match=r"^y_scale must exceed x_scale / 2\*\*30 = [0-9.e+-]+, "
                                         r"not [0-9.e+-]+$"):
        golden.global_avg_pool(x, x_scale=x_scale, x_zp=0, y_scale=y_scale, y_zp=0)


@pytest.mark.parametrize("name", ["x_scale", "w_scale", "y_scale"])
@pytest.mark.parametrize("value", [0.0, -0.5, float("inf"), float("nan"), 1e-50, "0.1"])
def test_scale_wrong(name, value):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=rf"^{name} must be a finite positive number, not .+$"):
        golden.conv2d(*conv_inputs(rng), **dict(CONV, **{name: value}))


def test_w_scale_count_wrong():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"^w_scale must be a scalar or have 3 elements, "
                                         r"not shape \(2,\)$"):
        golden.conv2d(*conv_inputs(rng), **dict(CONV, w_scale=[0.1, 0.2]))


def test_zero_point_wrong():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"^x_zp must lie in \[-128, 127\], not 200$"):
        golden.conv2d(*conv_inputs(rng), **dict(CONV, x_zp=200))
    with pytest.raises(ValueError, match=r"^y_zp must lie in \[-2, 1\], not 3$"):
        golden.conv2d(*conv_inputs(rng, 2), bits=2, **dict(CONV, x_zp=0, y_zp=3))
    with pytest.raises(ValueError, match=r"^y_zp must be an integer, not 1\.5$"):
        golden.conv2d(*conv_inputs(rng), **dict(CONV, y_zp=1.5))


def test_bias_wrong():
    rng = np.random.default_rng(0)
    x, w, _ = conv_inputs(rng)
    with pytest.raises(ValueError, match=r"^bias must lie in \[-2147483648, 2147483647\], "
                                         r"not 1099511627776$"):
        golden.conv2d(x, w, np.full(3, 1 << 40), **CONV)


def test_fully_connected_shape_wrong():
    x = np.zeros((1, 4), np.int8)
    bias = np.zeros(2, np.int32)
    with pytest.raises(ValueError, match=r"^w must have 4 inputs like x, not 5$"):
        golden.fully_connected(x, np.zeros((2, 5), np.int8), bias, **CONV)
    with pytest.raises(ValueError, match=r"^x must have 2 dimensions, not shape \(4,\)$"):
        golden.fully_connected(x[0], np.zeros((2, 4), np.int8), bias, **CONV)
    with pytest.raises(ValueError, match=r"^bias must have shape \(2,\), not \(3,\)$"):
        golden.fully_connected(x, np.zeros((2, 4), np.int8), np.zeros(3, np.int32), **CONV)


def test_add_shape_wrong():
    with pytest.raises(ValueError, match=r"^b must have the shape of a \(2, 2\), not \(2, 3\)$"):
        golden.add(np.zeros((2, 2), np.int8), np.zeros((2, 3), np.int8), **ADD)


def test_add_dtype_wrong():
    with pytest.raises(ValueError, match=r"^b must be an int8 array, not of dtype int64$"):
        golden.add(np.zeros(3, np.int8), np.zeros(3, np.int64), **ADD)


def test_add_value_wrong():
    with pytest.raises(ValueError, match=r"^a must lie in \[-8, 7\] for int4, not 8$"):
        golden.add(np.full(3, 8, np.int8), np.zeros(3, np.int8), bits=4, **ADD)


def test_add_scale_wrong():
    with pytest.raises(ValueError, match=r"^b_scale must be a finite positive number, not 0$"):
        golden.add(np.zeros(3, np.int8), np.zeros(3, np.int8), **dict(ADD, b_scale=0))
    # 2 * 0.1 / (2**20 * 1e-7) = 1.9: QuantizeMultiplierSmallerThanOneExp refuses it.
    with pytest.raises(ValueError, match=r"^2 \* max input scale / \(2\*\*20 \* y_scale\) must "
                                         r"lie strictly between 0 and 1, not 1\.9\d+$"):
        golden.add(np.zeros(3, np.int8), np.zeros(3, np.int8), **dict(ADD, y_scale=1e-7))


def test_max_pool_padding_wrong():
    with pytest.raises(ValueError, match=r"^padding must be smaller than the kernel \(3, 3\), "
                                         r"not \(3, 0, 0, 0\)$"):
        golden.max_pool2d(np.zeros((1, 4, 4, 1), np.int8), kernel=(3, 3), stride=(2, 2),
                          padding=(3, 0, 0, 0))


def test_max_pool_kernel_wrong():
    with pytest.raises(ValueError, match=r"^kernel must be two integers of at least 1, "
                                         r"not \(3, 0\)$"):
        golden.max_pool2d(np.zeros((1, 4, 4, 1), np.int8), kernel=(3, 0), stride=(1, 1),
                          padding=(0, 0, 0, 0))
    with pytest.raises(ValueError, match=r"^kernel must fit the padded input \(2, 2\), "
                                         r"not \(3, 3\)$"):
        golden.max_pool2d(np.zeros((1, 2, 2, 1), np.int8), kernel=(3, 3), stride=(1, 1),
                          padding=(0, 0, 0, 0))


def test_max_pool_dtype_wrong():
    with pytest.raises(ValueError, match=r"^x must be an int8 array, not of dtype uint8$"):
        golden.max_pool2d(np.zeros((1, 4, 4, 1), np.uint8), kernel=(2, 2), stride=(2, 2),
                          padding=(0, 0, 0, 0))


def test_global_avg_pool_shape_wrong():
    with pytest.raises(ValueError, match=r"^x must have 4 dimensions, not shape \(4, 4\)$"):
        golden.global_avg_pool(np.zeros((4, 4), np.int8), **POOL)
    with pytest.raises(ValueError, match=r"^x must have a non-empty H x W, "
                                         r"not shape \(1, 0, 4, 2\)$"):
        golden.global_avg_pool(np.zeros((1, 0, 4, 2), np.int8), **POOL)


def test_global_avg_pool_quantization_wrong():
    with pytest.raises(ValueError, match=r"^y_zp must lie in \[-128, 127\], not -129$"):
        golden.global_avg_pool(np.zeros((1, 2, 2, 1), np.int8), **dict(POOL, y_zp=-129))
    with pytest.raises(ValueError, match=r"^x_scale must be a finite positive number, not -1$"):
        golden.global_avg_pool(np.zeros((1, 2, 2, 1), np.int8), **dict(POOL, x_scale=-1))


def test_max_pool_value_wrong():
    with pytest.raises(ValueError, match=r"^x must lie in \[-8, 7\] for int4, not 8$"):
        golden.max_pool2d(np.full((1, 4, 4, 1), 8, np.int8), kernel=(2, 2), stride=(2, 2),
                          padding=(0, 0, 0, 0), bits=4)
    with pytest.raises(ValueError, match=r"^x must lie in \[-2, 1\] for int2, not -3$"):
        golden.max_pool2d(np.full((1, 4, 4, 1), -3, np.int8), kernel=(2, 2), stride=(2, 2),
                          padding=(0, 0, 0, 0), bits=2)


def test_max_pool_bits_wrong():
    with pytest.raises(ValueError, match=r"^bits must be one of 8, 4, 2, not 16$"):
        golden.max_pool2d(np.zeros((1, 4, 4, 1), np.int8), kernel=(2, 2), stride=(2, 2),
                          padding=(0, 0, 0, 0), bits=16)


def test_global_avg_pool_value_wrong():
    narrow = dict(POOL, x_zp=0, y_zp=0, bits=4)
    with pytest.raises(ValueError, match=r"^x must lie in \[-8, 7\] for int4, not -9$"):
        golden.global_avg_pool(np.full((1, 2, 2, 1), -9, np.int8), **narrow)
    with pytest.raises(ValueError, match=r"^x_zp must lie in \[-8, 7\], not 8$"):
        golden.global_avg_pool(np.zeros((1, 2, 2, 1), np.int8), **dict(narrow, x_zp=8))
    with pytest.raises(ValueError, match=r"^y_zp must lie in \[-8, 7\], not -9$"):
        golden.global_avg_pool(np.zeros((1, 2, 2, 1), np.int8), **dict(narrow, y_zp=-9))


def test_global_avg_pool_bits_wrong():
    with pytest.raises(ValueError, match=r"^bits must be one of 8, 4, 2, not 3$"):
        golden.global_avg_pool(np.zeros((1, 2, 2, 1), np.int8), **dict(POOL, bits=3))


def test_fully_connected_requantization_wrong():
    x = np.zeros((1, 4), np.int8)
    with pytest.raises(ValueError, match=r"^requantization must be one of fp64, integer, "
                                         r"not 'x'$"):
        golden.fully_connected(x, np.zeros((2, 4), np.int8), np.zeros(2, np.int32),
                               requantization="x", **CONV)


def test_mean_params_count_wrong():
    with pytest.raises(ValueError, match=r"^count must be a positive integer, not 0$"):
        golden.mean_params(x_scale=0.1, y_scale=0.1, count=0)


def test_fold_input_zero_point_wrong():
    with pytest.raises(ValueError, match=r"^w must be an integer array with an output-channel "
                                         r"axis, not of dtype float64 and shape \(2, 3\)$"):
        golden.fold_input_zero_point(np.zeros((2, 3)), np.zeros(2, np.int32), 1)
    with pytest.raises(ValueError, match=r"^x_zp must be an integer, not 0\.5$"):
        golden.fold_input_zero_point(np.zeros((2, 3), np.int8), np.zeros(2, np.int32), 0.5)


def test_activation_range_wrong():
    with pytest.raises(ValueError, match=r"^bits must be one of 8, 4, 2, not 16$"):
        golden.activation_range(0, relu=True, bits=16)
