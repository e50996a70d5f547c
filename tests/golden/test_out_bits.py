"""Golden layers with an output precision of their own: operands checked at ``bits``, the
output zero point and clamp at ``out_bits``, the same integer arithmetic in between."""

import numpy as np
import pytest

import sim.golden as golden
from hdl.params import Precision
from tests.golden.test_layers import conv_inputs, naive_conv2d

#: (bits, out_bits) pairs: widening, narrowing, and both ways across int4.
PAIRS = [(8, 4), (4, 8), (4, 2), (2, 8), (8, 2)]


def values(rng, bits, shape):
    p = Precision.from_bits(bits)
    return rng.integers(p.min, p.max + 1, size=shape).astype(np.int8)


def ramp(rng, bits, shape):
    """Random values at ``bits`` whose channels climb from the lowest to the highest values,
    so that maxima and means spread over every output range."""
    p = Precision.from_bits(bits)
    centre = np.linspace(p.min, p.max, shape[-1])
    noise = rng.integers(-(p.max // 2) - 1, p.max // 2 + 1, size=shape)
    return np.clip(np.round(centre).astype(np.int64) + noise, p.min, p.max).astype(np.int8)


def layers(rng, bits):
    """Each golden layer as ``f(out_bits)``, on random operands at ``bits``; the zero points
    are int2 values, in every output range."""
    x, w, bias = conv_inputs(rng, bits, (1, 5, 6, 8), out_channels=6)
    a, b = ramp(rng, bits, (1, 4, 4, 8)), values(rng, bits, (1, 4, 4, 8))
    conv = dict(x_scale=0.05, x_zp=-1, w_scale=0.01, y_scale=0.03, y_zp=1)
    return {
        "conv2d": lambda out_bits: golden.conv2d(x, w, bias, padding=(1, 1, 1, 1), bits=bits,
                                                 out_bits=out_bits, **conv),
        "fully_connected": lambda out_bits: golden.fully_connected(
            x.reshape(1, -1)[:, :40], w.reshape(6, -1)[:, :40], bias, bits=bits,
            out_bits=out_bits, requantization="integer", **conv),
        "add": lambda out_bits: golden.add(a, b, a_scale=0.1, a_zp=0, b_scale=0.05, b_zp=-1,
                                           y_scale=0.02, y_zp=1, bits=bits, out_bits=out_bits),
        "max_pool2d": lambda out_bits: golden.max_pool2d(a, kernel=(2, 2), stride=(2, 2),
                                                         padding=(0, 0, 0, 0), bits=bits,
                                                         out_bits=out_bits),
        "global_avg_pool": lambda out_bits: golden.global_avg_pool(
            a, x_scale=0.05, x_zp=1, y_scale=0.004, y_zp=-1, bits=bits, out_bits=out_bits),
        "global_average_pool2d": lambda out_bits: golden.global_average_pool2d(
            a, bits=bits, out_bits=out_bits),
    }


@pytest.mark.parametrize("bits, out_bits", PAIRS)
@pytest.mark.parametrize("layer", ["conv2d", "fully_connected", "add", "max_pool2d",
                                   "global_avg_pool", "global_average_pool2d"])
def test_out_bits_only_moves_the_clamp(layer, bits, out_bits, seed=11):
    """``out_bits`` changes nothing but the final clamp: the result is the int8-output
    result clamped to the output range, and the default is ``bits``."""
    rng = np.random.default_rng(seed + bits)
    run = layers(rng, bits)[layer]
    out = Precision.from_bits(out_bits)
    got, wide = run(out_bits), run(8)
    assert got.dtype == np.int8
    assert np.array_equal(got, np.clip(wide, out.min, out.max)), f"seed {seed}: {layer}"
    assert np.array_equal(run(None), run(bits)), f"seed {seed}: {layer}"
    assert got.min() < got.max(), f"seed {seed}: {layer} is constant"


@pytest.mark.parametrize("bits, out_bits", PAIRS)
def test_conv2d_out_bits_against_naive_loops(bits, out_bits, seed=5):
    rng = np.random.default_rng(seed + 10 * bits + out_bits)
    x, w, bias = conv_inputs(rng, bits, (1, 6, 5, 3), out_channels=4)
    out = Precision.from_bits(out_bits)
    params = dict(x_scale=0.05, x_zp=int(values(rng, bits, ())), w_scale=0.02, y_scale=0.05,
                  y_zp=int(rng.integers(out.min, out.max + 1)), stride=(2, 1),
                  padding=(1, 0, 1, 1), relu=True)
    got = golden.conv2d(x, w, bias, bits=bits, out_bits=out_bits, **params)
    assert np.array_equal(got, naive_conv2d(x, w, bias, bits=out_bits, **params)), f"seed {seed}"
    assert got.min() >= max(params["y_zp"], out.min) and got.max() <= out.max, f"seed {seed}"


def test_out_bits_wrong():
    rng = np.random.default_rng(0)
    x, w, bias = conv_inputs(rng, 8)
    conv = dict(x_scale=0.05, x_zp=3, w_scale=0.01, y_scale=0.1)
    with pytest.raises(ValueError, match=r"^out_bits must be one of 8, 4, 2, not 3$"):
        golden.conv2d(x, w, bias, y_zp=0, out_bits=3, **conv)
    with pytest.raises(ValueError, match=r"^y_zp must lie in \[-8, 7\], not 9$"):
        golden.conv2d(x, w, bias, y_zp=9, out_bits=4, **conv)
    # The operands stay at bits: an int8 input is refused by an int4 layer with int8 outputs.
    with pytest.raises(ValueError, match=r"^x must lie in \[-8, 7\] for int4, not -128$"):
        golden.conv2d(np.full((1, 3, 3, 4), -128, np.int8), np.ones((1, 3, 3, 4), np.int8),
                      bias[:1], y_zp=100, bits=4, out_bits=8, **dict(conv, x_zp=0))
    with pytest.raises(ValueError, match=r"^a_zp must lie in \[-2, 1\], not 2$"):
        golden.add(values(rng, 2, (1, 2, 2, 4)), values(rng, 2, (1, 2, 2, 4)), a_scale=0.1,
                   a_zp=2, b_scale=0.1, b_zp=0, y_scale=0.1, y_zp=100, bits=2, out_bits=8)
    with pytest.raises(ValueError, match=r"^y_zp must lie in \[-2, 1\], not 5$"):
        golden.global_avg_pool(values(rng, 8, (1, 2, 2, 4)), x_scale=0.1, x_zp=100,
                               y_scale=0.1, y_zp=5, out_bits=2)
    with pytest.raises(ValueError, match=r"^out_bits must be one of 8, 4, 2, not True$"):
        golden.max_pool2d(values(rng, 8, (1, 2, 2, 4)), kernel=(2, 2), stride=(2, 2),
                          padding=(0, 0, 0, 0), out_bits=True)
