"""cocotb testbench of the SIMD MAC array against ``sim.golden.simd.vector_matrix``.

Each test builds a list of accumulations (each a list of packed vectors at one
precision), drives them back to back with no idle cycle, and checks that every
accumulation's N column sums equal the golden model's and appear exactly ``LATENCY``
cycles after its last vector. Parameters (``TB_PARAMS``): ``lanes``, ``columns``,
``latency``, ``seed``.
"""

import cocotb
import numpy as np

from hdl.mac import mac_input_layout
from hdl.params import ACC_WIDTH, MacParams, Precision
from sim.golden.simd import pack_lanes, vector_matrix
from sim.tb.common import Scoreboard, drive_stream, reset, split_words
from sim.tb.runner import testbench_params


def _setup():
    tb = testbench_params()
    return tb, MacParams(tb["lanes"], tb["columns"]), np.random.default_rng(tb["seed"])


def random_values(rng, precision, shape):
    return rng.integers(precision.min, precision.max + 1, size=shape)


def random_vector(rng, params, precision):
    """Unpacked activations (K * per_lane,) and weights (N, K * per_lane)."""
    elements = params.lanes * precision.values_per_lane
    return (random_values(rng, precision, elements),
            random_values(rng, precision, (params.columns, elements)))


async def check_accumulations(dut, tb, params, accumulations, name):
    """Drive ``accumulations`` (lists of (precision, activations, weights)) and check them."""
    layout = mac_input_layout(params)
    words, expected, last_cycles = [], [], []
    for vectors in accumulations:
        total = np.zeros(params.columns, dtype=np.int64)
        for index, (precision, activations, weights) in enumerate(vectors):
            packed_a = pack_lanes(activations, precision)
            packed_w = pack_lanes(weights, precision)
            total = vector_matrix(packed_a, packed_w, precision, total)
            words.append(layout.const({
                "activations": packed_a.tolist(), "weights": packed_w.tolist(),
                "precision": precision, "first": index == 0, "last": index == len(vectors) - 1,
            }).as_bits())
        expected.append([int(v) for v in total])
        last_cycles.append(len(words) - 1)

    await reset(dut)
    outputs, rate = await drive_stream(dut, words, drain=tb["latency"] + 2, o_port="o_acc")
    dut._log.info("%s: %d vectors, %d accumulations, %.0f simulated cycles/s", name,
                  len(words), len(accumulations), rate)
    scoreboard = Scoreboard(f"MAC array {params.lanes}x{params.columns} {name}", tb["seed"])
    assert len(outputs) == len(expected), \
        f"seed {tb['seed']}: {len(outputs)} outputs for {len(expected)} accumulations"
    for index, ((cycle, word), want, last) in enumerate(zip(outputs, expected, last_cycles)):
        if cycle - last != tb["latency"]:
            scoreboard.errors.append(f"accumulation {index}: out after {cycle - last} cycles, "
                                     f"LATENCY is {tb['latency']}")
        got = split_words(word, ACC_WIDTH, params.columns, signed=True)
        scoreboard.compare(f"accumulation {index}", want, got)
    scoreboard.check(len(expected))


@cocotb.test()
async def every_operand_pair_in_every_position(dut):
    """int4 and int2 exhaustively: each (activation, weight) pair in each lane and sub-slot.

    One single-vector accumulation per (lane, slot, activation value, weight group): the
    focused element takes the activation value, and each column's weight at that
    element takes a different weight value; every other element is random.
    """
    tb, params, rng = _setup()
    accumulations = []
    for precision in (Precision.INT4, Precision.INT2):
        values = np.arange(precision.min, precision.max + 1)
        groups = -(-len(values) // params.columns)
        for element in range(params.lanes * precision.values_per_lane):
            for a in values:
                for group in range(groups):
                    activations, weights = random_vector(rng, params, precision)
                    activations[element] = a
                    weights[:, element] = np.resize(np.roll(values, -group * params.columns),
                                                    params.columns)
                    accumulations.append([(precision, activations, weights)])
    await check_accumulations(dut, tb, params, accumulations, "exhaustive int4/int2")


@cocotb.test()
async def random_mixed_precision_back_to_back(dut):
    """Random accumulations of 1..9 vectors, random precision each, no gaps between them."""
    tb, params, rng = _setup()
    accumulations = []
    for _ in range(120):
        precision = Precision(int(rng.integers(len(Precision))))
        accumulations.append([(precision, *random_vector(rng, params, precision))
                              for _ in range(int(rng.integers(1, 10)))])
    await check_accumulations(dut, tb, params, accumulations, "random")


@cocotb.test()
async def extremes_and_int32_wrap(dut):
    """-128 x -128 in every lane, accumulated past INT32_MAX; then every extreme pairing."""
    tb, params, _ = _setup()
    elements = params.lanes
    most_negative = np.full(elements, -128)
    per_vector = elements * 128 * 128
    count = (1 << (ACC_WIDTH - 1)) // per_vector + 2            # just past INT32_MAX
    wrap = [(Precision.INT8, most_negative, np.full((params.columns, elements), -128))] * count
    accumulations = [wrap]
    for precision in Precision:
        n = params.lanes * precision.values_per_lane
        for a in (precision.min, precision.max):
            for w in (precision.min, precision.max):
                accumulations.append([(precision, np.full(n, a),
                                       np.full((params.columns, n), w))] * 3)
    await check_accumulations(dut, tb, params, accumulations, "extremes")
