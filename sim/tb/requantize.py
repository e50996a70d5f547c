"""cocotb testbench of the requantize unit against ``sim.golden.requantize`` and lane packing.

One vector per cycle, back to back; every output byte is compared with the golden model
and must appear exactly ``LATENCY`` cycles after its input. Parameters (``TB_PARAMS``):
``lanes``, ``columns``, ``latency``, ``seed``.
"""

import cocotb
import numpy as np

from hdl.params import LANE_WIDTH, MAX_SHIFT, MIN_SHIFT, MacParams, Precision, Rounding
from hdl.requantize import requantize_input_layout
from sim.golden.fixedpoint import INT32_MAX, INT32_MIN, quantize_multiplier, requantize
from sim.golden.simd import pack_lanes
from sim.tb.common import Scoreboard, drive_stream, reset, split_words
from sim.tb.runner import testbench_params


def _setup():
    tb = testbench_params()
    return tb, MacParams(tb["lanes"], tb["columns"]), np.random.default_rng(tb["seed"])


def operation(rng, columns, precision=None, **fixed):
    """One random input vector; ``fixed`` overrides fields (scalars broadcast to columns).

    Single rounding is drawn only with non-negative multipliers (its precondition).
    """
    precision = Precision(int(rng.integers(len(Precision)))) if precision is None else precision
    zero_point = int(rng.integers(precision.min, precision.max + 1))
    clamp_min = int(rng.integers(precision.min, zero_point + 1))
    clamp_max = int(rng.integers(zero_point, precision.max + 1))
    vector = {
        "acc": rng.integers(-(1 << 20), 1 << 20, columns),
        "bias": rng.integers(-(1 << 12), 1 << 12, columns),
        "multiplier": rng.integers(1 << 30, 1 << 31, columns),
        "shift": rng.integers(-12, 1, columns),
        "zero_point": zero_point, "clamp_min": clamp_min, "clamp_max": clamp_max,
        "precision": precision,
        "rounding": Rounding(int(rng.integers(len(Rounding)))),
    }
    for name, value in fixed.items():
        vector[name] = np.broadcast_to(value, (columns,)).copy() if name in \
            ("acc", "bias", "multiplier", "shift") else value
    if "rounding" not in fixed and (np.asarray(vector["multiplier"]) < 0).any():
        vector["rounding"] = Rounding.DOUBLE
    return vector


def expected_bytes(vector, columns):
    results = requantize(vector["acc"], bias=vector["bias"], multiplier=vector["multiplier"],
                         shift=vector["shift"], zero_point=vector["zero_point"],
                         clamp_min=vector["clamp_min"], clamp_max=vector["clamp_max"],
                         rounding=vector["rounding"].name.lower())
    packed = [int(b) for b in pack_lanes(results, vector["precision"])]
    return packed + [0] * (columns - len(packed))


async def check_operations(dut, tb, params, vectors, name):
    layout = requantize_input_layout(params)
    words = [layout.const({key: (value.tolist() if isinstance(value, np.ndarray) else value)
                           for key, value in vector.items()}).as_bits() for vector in vectors]
    await reset(dut)
    outputs, rate = await drive_stream(dut, words, drain=tb["latency"] + 2)
    dut._log.info("%s: %d vectors, %.0f simulated cycles/s", name, len(words), rate)
    scoreboard = Scoreboard(f"requantizer N={params.columns} {name}", tb["seed"], field="byte")
    assert len(outputs) == len(vectors), \
        f"seed {tb['seed']}: {len(outputs)} outputs for {len(vectors)} inputs"
    for index, ((cycle, word), vector) in enumerate(zip(outputs, vectors)):
        if cycle - index != tb["latency"]:
            scoreboard.errors.append(f"operation {index}: out after {cycle - index} cycles, "
                                     f"LATENCY is {tb['latency']}")
        got = split_words(word, LANE_WIDTH, params.columns)
        scoreboard.compare(f"operation {index} (int{vector['precision'].bits}, "
                           f"{vector['rounding'].name.lower()} rounding)",
                           expected_bytes(vector, params.columns), got)
    scoreboard.check(len(vectors))


@cocotb.test()
async def random_all_precisions(dut):
    """Random accumulators, multipliers, shifts and clamps in int8, int4 and int2."""
    tb, params, rng = _setup()
    vectors = [operation(rng, params.columns) for _ in range(300)]
    vectors += [operation(rng, params.columns,
                          acc=rng.integers(INT32_MIN, INT32_MAX + 1, params.columns,
                                           dtype=np.int64),
                          multiplier=rng.integers(INT32_MIN, INT32_MAX + 1, params.columns,
                                                  dtype=np.int64),
                          shift=rng.integers(MIN_SHIFT, MAX_SHIFT + 1, params.columns))
                for _ in range(200)]
    await check_operations(dut, tb, params, vectors, "random")


@cocotb.test()
async def every_shift(dut):
    """Every shift from -31 to +30, with wrapping left shifts and large accumulators."""
    tb, params, rng = _setup()
    vectors = [operation(rng, params.columns, precision=Precision.INT8, shift=shift,
                         acc=rng.integers(INT32_MIN, INT32_MAX + 1, params.columns,
                                          dtype=np.int64), clamp_min=-128, clamp_max=127)
               for shift in range(MIN_SHIFT, MAX_SHIFT + 1)]
    await check_operations(dut, tb, params, vectors, "every shift")


@cocotb.test()
async def corner_values(dut):
    """Saturation, int32 wrap of the bias add, multiplier extremes and rounding ties."""
    tb, params, rng = _setup()
    int8 = dict(precision=Precision.INT8, zero_point=0, clamp_min=-128, clamp_max=127)
    vectors = [
        # SaturatingRoundingDoublingHighMul's one overflow: INT32_MIN * INT32_MIN.
        operation(rng, params.columns, acc=INT32_MIN, bias=0, multiplier=INT32_MIN, shift=0,
                  **int8),
        operation(rng, params.columns, acc=INT32_MIN, bias=0, multiplier=INT32_MIN, shift=-31,
                  **int8),
        # acc + bias wraps both ways.
        operation(rng, params.columns, acc=INT32_MAX, bias=INT32_MAX, shift=-24, **int8),
        operation(rng, params.columns, acc=INT32_MIN, bias=INT32_MIN, shift=-24, **int8),
        operation(rng, params.columns, acc=INT32_MAX, bias=1, shift=-31, **int8),
    ]
    for multiplier in (0, 1, 1 << 30, INT32_MAX, INT32_MIN, -1,
                       quantize_multiplier(1e-9)[0], quantize_multiplier(0.999999)[0]):
        vectors.append(operation(rng, params.columns, multiplier=multiplier,
                                 acc=rng.integers(INT32_MIN, INT32_MAX + 1, params.columns,
                                                  dtype=np.int64), **int8))
    # Exact ties: times 0.5 then / 2**k, on odd and negative accumulators.
    for shift in (0, -1, -2, -3):
        for acc in (range(-8, 8), range(-7, 9)):
            values = np.resize(np.array(list(acc)), params.columns)
            vectors.append(operation(rng, params.columns, acc=values, bias=0,
                                     multiplier=1 << 30, shift=shift, **int8))
    # Where the two roundings part: 4066 * m / 2**38 = 31.497 is 31 once, 32 twice rounded.
    for rounding in Rounding:
        vectors.append(operation(rng, params.columns, acc=4066, bias=0, multiplier=2129324917,
                                 shift=-7, rounding=rounding, **int8))
    # Single-rounding ties (+-0.5 both round up) at the shift extremes.
    for shift in (MIN_SHIFT, -1, 0, MAX_SHIFT):
        vectors.append(operation(rng, params.columns, acc=np.resize([1, -1, 3, -3], params.columns),
                                 bias=0, multiplier=1 << 30, shift=shift,
                                 rounding=Rounding.SINGLE, **int8))
    # ReLU: the clamp floor at the zero point, in every precision.
    for precision in Precision:
        vectors.append(operation(rng, params.columns, precision=precision,
                                 acc=rng.integers(-(1 << 16), 1 << 16, params.columns),
                                 zero_point=0, clamp_min=0, clamp_max=precision.max))
    await check_operations(dut, tb, params, vectors, "corners")
