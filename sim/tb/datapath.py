"""cocotb testbench: one output row of a ResNet conv through MAC array + requantize unit.

The stimulus is what a core's address generators produce for a convolution: for every
output pixel of the row, one packed activation vector and one weight tile per kernel tap
(``first`` on the first tap, ``last`` on the last), with out-of-bounds taps reading the
input zero point (padding) and the zero point folded into the bias. Every output vector
is compared with ``sim.golden.conv2d`` on the same layer, and must appear exactly
``LATENCY`` cycles after its last input vector.

Parameters (``TB_PARAMS``): ``lanes``, ``columns``, ``latency``, ``bits``, ``stride``,
``padding`` (top, bottom, left, right), ``width`` (input width), ``row`` (output row),
``relu``.
"""

import cocotb
import numpy as np

import sim.golden as golden
from hdl.mac import mac_input_layout
from hdl.params import LANE_WIDTH, MacParams, Precision, Rounding
from hdl.requantize import requantize_settings_layout
from sim.golden.simd import pack_lanes
from sim.tb.common import Scoreboard, drive_stream, reset, split_words
from sim.tb.runner import testbench_params


def random_conv_layer(rng, *, params, precision, stride, padding, width, relu):
    """A random quantized 3x3 conv with the given padding, sized to one MAC tile."""
    in_channels = params.lanes * precision.values_per_lane
    out_channels = params.columns
    lo, hi = precision.min, precision.max + 1
    layer = dict(
        x=rng.integers(lo, hi, size=(1, 3 + 2 * stride, width, in_channels)).astype(np.int8),
        w=rng.integers(lo, hi, size=(out_channels, 3, 3, in_channels)).astype(np.int8),
        bias=rng.integers(-2000, 2000, size=out_channels).astype(np.int32),
        x_scale=float(rng.uniform(0.01, 0.1)), x_zp=int(rng.integers(lo, hi)),
        w_scale=rng.uniform(0.001, 0.02, size=out_channels),
        y_scale=float(rng.uniform(0.02, 0.3)), y_zp=int(rng.integers(lo, hi)),
        stride=(stride, stride), padding=tuple(padding), relu=relu, bits=precision.bits)
    return layer


def conv_row_stimulus(layer, *, precision, row):
    """Per output pixel of ``row``: the nine (packed activations, weight tile) taps."""
    x, w = layer["x"], layer["w"]
    stride, _ = layer["stride"]
    top, bottom, left, right = layer["padding"]
    padded = np.pad(x[0].astype(np.int64), ((top, bottom), (left, right), (0, 0)),
                    constant_values=layer["x_zp"])
    out_width = (x.shape[2] + left + right - 3) // stride + 1
    pixels = []
    for column in range(out_width):
        taps = []
        for kh in range(3):
            for kw in range(3):
                vector = padded[row * stride + kh, column * stride + kw]
                taps.append((pack_lanes(vector, precision),
                             pack_lanes(w[:, kh, kw, :], precision)))
        pixels.append(taps)
    return pixels


@cocotb.test()
async def conv_row_matches_golden(dut):
    tb = testbench_params()
    params = MacParams(tb["lanes"], tb["columns"])
    precision = Precision.from_bits(tb["bits"])
    seed = tb["seed"]
    rng = np.random.default_rng(seed)
    dut._log.info("seed %d (replay with SEED=%d)", seed, seed)

    layer = random_conv_layer(rng, params=params, precision=precision, stride=tb["stride"],
                              padding=tb["padding"], width=tb["width"], relu=tb["relu"])
    expected = golden.conv2d(**layer)[0, tb["row"]]             # (out_width, columns)
    multiplier, shift = golden.conv_requant_params(
        x_scale=layer["x_scale"], w_scale=layer["w_scale"], y_scale=layer["y_scale"],
        out_channels=params.columns)
    clamp_min, clamp_max = golden.activation_range(layer["y_zp"], relu=layer["relu"],
                                                   bits=layer["bits"])
    settings = requantize_settings_layout(params.columns).const({
        "bias": golden.fold_input_zero_point(layer["w"], layer["bias"], layer["x_zp"]).tolist(),
        "multiplier": multiplier.tolist(), "shift": shift.tolist(),
        "zero_point": layer["y_zp"], "clamp_min": clamp_min, "clamp_max": clamp_max,
        "precision": precision, "rounding": Rounding.DOUBLE})
    pixels = conv_row_stimulus(layer, precision=precision, row=tb["row"])

    input_layout = mac_input_layout(params)
    inputs = []
    for taps in pixels:
        for tap, (activations, weights) in enumerate(taps):
            inputs.append(input_layout.const({
                "activations": activations.tolist(), "weights": weights.tolist(),
                "precision": precision, "first": tap == 0, "last": tap == len(taps) - 1,
            }).as_bits())

    dut.settings.value = settings.as_bits()
    await reset(dut)
    outputs, rate = await drive_stream(dut, inputs, drain=tb["latency"] + 2)

    scoreboard = Scoreboard(f"ResNet conv row {tb['row']}, int{precision.bits}", seed,
                            field="byte")
    assert len(outputs) == len(pixels), \
        f"seed {seed}: {len(outputs)} output vectors, expected {len(pixels)}"
    bytes_per_vector = params.columns * precision.bits // 8
    for column, ((cycle, word), want) in enumerate(zip(outputs, expected)):
        last_input_cycle = len(pixels[0]) * (column + 1) - 1
        if cycle - last_input_cycle != tb["latency"]:
            scoreboard.errors.append(f"pixel {column}: out after {cycle - last_input_cycle} "
                                     f"cycles, LATENCY is {tb['latency']}")
        want_bytes = [int(b) for b in pack_lanes(want, precision)]
        want_bytes += [0] * (params.columns - bytes_per_vector)
        scoreboard.compare(f"output pixel (row {tb['row']}, column {column})", want_bytes,
                           split_words(word, LANE_WIDTH, params.columns))
    scoreboard.check(len(pixels))
    dut._log.info("%d output vectors match sim.golden.conv2d (%.0f simulated cycles/s)",
                  len(outputs), rate)
