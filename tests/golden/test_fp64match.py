"""The single-rounding parameters of ``sim.golden.fp64match`` equal LiteRT's double rounding everywhere.

Each check runs every accumulator a fully-connected layer can reach (the whole range of
``bias + sum((x - x_zp) * w)`` over int8 inputs) through the single rounding with the
chosen ``(multiplier, shift)``, and through an independent oracle of LiteRT's reference
kernel: numpy's IEEE double product ``double(acc) * scale`` and C's ``round`` (half away
from zero, done exactly on the double), both clamped as the layer clamps. Random layers
are seeded (``SEED`` to replay).
"""

import os
from pathlib import Path

import numpy as np
import pytest

from sim.golden import activation_range, conv_requant_params, requantize
from sim.golden.fixedpoint import multiply_by_quantized_multiplier_single_rounding
from sim.golden.fp64match import accumulator_range, fp64_single_rounding_params

DIGITS = Path(__file__).resolve().parents[2] / "models" / "digits_resnet.tflite"


@pytest.fixture
def seed():
    value = int(os.environ.get("SEED", np.random.SeedSequence().entropy % (1 << 32)))
    print(f"seed {value} (replay with SEED={value})")
    return value


def litert_round(v, scale):
    """``round(double(v) * scale)`` as C computes it: the IEEE product, then half away from zero."""
    product = v.astype(np.float64) * scale
    magnitude = np.abs(product)
    whole = np.floor(magnitude)
    rounded = whole + (magnitude - whole >= 0.5)          # magnitude - whole is exact
    return np.where(product < 0, -rounded, rounded).astype(np.int64)


def real_scale(x_scale, w_scale, y_scale):
    """``double(x_scale) * double(w_scale) / double(y_scale)`` of the float32 scales."""
    return float(np.float32(x_scale)) * float(np.float32(w_scale)) / float(np.float32(y_scale))


def every_accumulator(low, high):
    return np.arange(low, high + 1, dtype=np.int64)


def disagreements(layer, multiplier, shift, rounding="single"):
    """Per channel, how many reachable accumulators the parameters requantize unlike LiteRT."""
    x_scale, x_zp, w_scales, y_scale, y_zp, w, bias, relu = layer
    low_clamp, high_clamp = activation_range(y_zp, relu=relu, bits=8)
    low, high = accumulator_range(w, bias, x_zp, 8)
    counts = []
    for channel in range(len(w)):
        v = every_accumulator(low[channel], high[channel])
        expected = np.clip(litert_round(v, real_scale(x_scale, w_scales[channel], y_scale)) + y_zp,
                           low_clamp, high_clamp)
        if rounding == "single":
            scaled = multiply_by_quantized_multiplier_single_rounding(v, multiplier[channel],
                                                                      shift[channel])
            got = np.clip(scaled.astype(np.int64) + y_zp, low_clamp, high_clamp)
        else:
            got = requantize(v, bias=np.zeros_like(v), multiplier=multiplier[channel],
                             shift=shift[channel], zero_point=y_zp, clamp_min=low_clamp,
                             clamp_max=high_clamp)
        counts.append(int((expected != got).sum()))
    return counts


def random_layer(rng, inputs, outputs):
    w = rng.integers(-127, 128, size=(outputs, inputs))
    x_scale = float(rng.uniform(0.005, 0.05))
    w_scales = [float(s) for s in rng.uniform(0.001, 0.02, size=outputs)]
    y_scale = float(rng.uniform(0.05, 0.5))
    return (x_scale, int(rng.integers(-128, 128)), w_scales, y_scale, int(rng.integers(-60, 60)),
            w, rng.integers(-5000, 5000, size=outputs), bool(rng.integers(2)))


def params(layer):
    x_scale, x_zp, w_scales, y_scale, y_zp, w, bias, relu = layer
    low, high = activation_range(y_zp, relu=relu, bits=8)
    return fp64_single_rounding_params(x_scale=x_scale, x_zp=x_zp, w_scale=w_scales,
                                       y_scale=y_scale, y_zp=y_zp, w=w, bias=bias,
                                       clamp_min=low, clamp_max=high)


def test_random_layers_agree_everywhere(seed):
    rng = np.random.default_rng(seed)
    double_rounding_differs = 0
    for _ in range(4):
        layer = random_layer(rng, int(rng.integers(8, 33)), 8)
        multiplier, shift = params(layer)
        assert disagreements(layer, multiplier, shift) == [0] * 8, f"seed {seed}"
        # TFLite's integer-only requantization (double rounding) does not: the check has teeth.
        x_scale, _, w_scales, y_scale, *_ = layer
        m, s = conv_requant_params(x_scale=x_scale, w_scale=w_scales, y_scale=y_scale,
                                   out_channels=8)
        double_rounding_differs += sum(disagreements(layer, m, s, rounding="double"))
    assert double_rounding_differs > 0


def test_ties_move_the_multiplier():
    """Power-of-two scales put many accumulators exactly on ties: QuantizeMultiplier's own
    multiplier rounds the negative ones toward +infinity, the chosen one away from zero."""
    rng = np.random.default_rng(5)
    w = rng.integers(-3, 4, size=(4, 16))
    layer = (2.0 ** -4, 3, [2.0 ** -3] * 4, 2.0 ** -2, -7, w, rng.integers(-40, 41, size=4), False)
    multiplier, shift = params(layer)
    m, s = conv_requant_params(x_scale=2.0 ** -4, w_scale=[2.0 ** -3] * 4, y_scale=2.0 ** -2,
                               out_channels=4)
    assert all(count > 0 for count in disagreements(layer, m, s))
    assert disagreements(layer, multiplier, shift) == [0] * 4
    assert (multiplier != m).all()


def test_digits_fully_connected_agrees_everywhere():
    from gen.tflite import import_tflite
    network = import_tflite(DIGITS).network
    fc = network.layers[-1]
    spec = network.specs()[fc.source]
    layer = (spec.scale, spec.zero_point, fc.w_scale, fc.y_scale, fc.y_zp, fc.w, fc.bias, fc.relu)
    multiplier, shift = params(layer)
    assert disagreements(layer, multiplier, shift) == [0] * len(fc.w)


def test_tiny_scales():
    """A scale below 2**-32 (QuantizeMultiplier flushes it) and one so small every output is 0."""
    w = np.full((2, 4), 127)
    layer = (1e-5, 0, [1e-5, 1e-9], 1.0, 0, w, np.array([2 ** 30, -2 ** 30]), False)
    # Channel 0: scale 1e-10, accumulators near 2**30 give outputs near 0.1: all 0.
    multiplier, shift = params(layer)
    assert multiplier[1] == 0 and disagreements(layer, multiplier, shift) == [0, 0]
    # Scale 1.7e-10, below 2**-32: the smallest shift and a 30-bit multiplier.
    layer = (1e-3, 0, [1.7e-7, 1.7e-7], 1.0, 0, w, np.array([2 ** 31 - 70000, -2 ** 31 + 70000]),
             False)
    multiplier, shift = params(layer)
    assert shift.tolist() == [-31, -31] and disagreements(layer, multiplier, shift) == [0, 0]


def test_result_beyond_int32_wrong():
    w = np.full((1, 4), 127)
    # The bias leaves no headroom: the accumulator may wrap, so any int32 value may occur.
    with pytest.raises(ValueError, match=r"^channel 0: accumulators up to 2147483648 times scale "
                                         r"\S+ leave int32$"):
        fp64_single_rounding_params(x_scale=1.0, x_zp=0, w_scale=1.0, y_scale=0.5, y_zp=0, w=w,
                                    bias=np.array([2 ** 31 - 1]), clamp_min=-128, clamp_max=127)
