"""The MAC array in Amaranth's simulator, its argument checks and Verilog; the testbench helpers.

Quick checks against ``sim.golden.simd.vector_matrix``; the thorough ones run the
Verilog under cocotb (``tests/integration/test_mac.py``). Also here: the scoreboard and
layout packing of ``sim/tb/common.py`` and the exhaustive stimulus of ``sim/tb/mac.py``,
whose failures would otherwise go unnoticed.
"""

import itertools

import numpy as np
import pytest
from amaranth import signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from gen.verilog import to_verilog
from hdl.mac import MacArray, mac_input_layout, mac_output_layout
from hdl.params import ACC_WIDTH, LANE_WIDTH, ChipParams, MacParams, Precision
from sim.golden.simd import pack_lanes, vector_matrix
from sim.tb.common import Scoreboard, pack, unpack
from sim.tb.mac import exhaustive_vectors
from tests.helpers import run_stream


def random_accumulations(rng, params, precisions, lengths):
    """Input payloads and expected ``(last input index, sums)`` for accumulations of ``lengths``."""
    inputs, expected = [], []
    for precision, length in zip(precisions, lengths):
        total = 0
        elements = params.lanes * precision.values_per_lane
        for index in range(length):
            a = pack_lanes(rng.integers(precision.min, precision.max + 1, elements), precision)
            w = pack_lanes(rng.integers(precision.min, precision.max + 1,
                                        (params.columns, elements)), precision)
            total = vector_matrix(a, w, precision, total)
            inputs.append({"activations": a.tolist(), "weights": w.tolist(), "precision": precision,
                           "first": index == 0, "last": index == length - 1})
        expected.append((len(inputs) - 1, total.tolist()))
    return inputs, expected


@pytest.mark.parametrize("lanes, columns, precisions", [
    (4, 4, tuple(Precision)), (8, 4, tuple(Precision)),
    # Arrays built for some precisions only.
    (4, 4, (Precision.INT8,)), (4, 4, (Precision.INT8, Precision.INT4)),
    (4, 4, (Precision.INT4, Precision.INT2)),
])
@pytest.mark.parametrize("multiply_stages", [1, 2])
def test_mac_array_back_to_back(lanes, columns, precisions, multiply_stages, seed=1):
    """Every precision the array is built for, accumulations of 1 to 3 vectors back to back,
    cycle-exact latency (a cycle more with the products registered twice)."""
    params = MacParams(lanes, columns, precisions=precisions, multiply_stages=multiply_stages)
    assert MacArray(params).LATENCY == MacArray(MacParams(lanes, columns)).LATENCY + multiply_stages - 1
    dut = MacArray(params)
    rng = np.random.default_rng(seed)
    chosen = [precision for precision in precisions for _ in range(3)]
    inputs, expected = random_accumulations(rng, params, chosen, [1, 2, 3] * len(precisions))
    outputs = run_stream(dut, inputs, o_port="o_acc", drain=dut.LATENCY + 2)
    assert outputs == [(last + dut.LATENCY, sums) for last, sums in expected], f"seed {seed}"


def test_mac_array_idle_cycles_and_restart(seed=2):
    """Idle cycles inside an accumulation add nothing; ``first`` discards an unfinished one."""
    params = MacParams(4, 4)
    dut = MacArray(params)
    rng = np.random.default_rng(seed)
    unfinished, _ = random_accumulations(rng, params, [Precision.INT8], [2])
    unfinished[-1]["last"] = False
    inputs, expected = random_accumulations(rng, params, [Precision.INT4, Precision.INT2], [3, 2])
    inputs = unfinished + [None] + inputs[:1] + [None, None] + inputs[1:]
    shift = len(unfinished) + 3
    outputs = run_stream(dut, inputs, o_port="o_acc", drain=dut.LATENCY + 2)
    assert outputs == [(expected[0][0] + shift + dut.LATENCY, expected[0][1]),
                       (expected[1][0] + shift + dut.LATENCY, expected[1][1])], f"seed {seed}"


def test_mac_array_extremes():
    """-128 x -128 in every lane of every column, and the extreme int4 and int2 pairs."""
    params = MacParams(4, 4)
    dut = MacArray(params)
    inputs = []
    for precision, a, w in [(Precision.INT8, -128, -128), (Precision.INT8, -128, 127),
                            (Precision.INT4, -8, -8), (Precision.INT2, -2, -2),
                            (Precision.INT2, 1, -2)]:
        elements = params.lanes * precision.values_per_lane
        inputs.append({"activations": pack_lanes(np.full(elements, a), precision).tolist(),
                       "weights": pack_lanes(np.full((params.columns, elements), w),
                                             precision).tolist(),
                       "precision": precision, "first": 1, "last": 1})
    expected = [[4 * 16384] * 4, [4 * -16256] * 4, [8 * 64] * 4, [16 * 4] * 4, [16 * -2] * 4]
    assert [sums for _, sums in run_stream(dut, inputs, o_port="o_acc", drain=dut.LATENCY + 2)] == expected


@pytest.mark.parametrize("lanes, latency", [(4, 3), (8, 4), (16, 4), (32, 5)])
def test_latency(lanes, latency):
    """Products, ceil(log2(K) / 2) tree registers, accumulators."""
    assert MacArray(MacParams(lanes, 4)).LATENCY == latency


def test_signature():
    params = MacParams(8, 4)
    lane = unsigned(LANE_WIDTH)
    assert MacArray(params).signature.members == wiring.SignatureMembers({
        "i_data": In(stream.Signature(data.StructLayout({
            "activations": data.ArrayLayout(lane, 8),
            "weights": data.ArrayLayout(data.ArrayLayout(lane, 8), 4),
            "precision": Precision, "first": 1, "last": 1}), always_ready=True)),
        "o_acc": Out(stream.Signature(data.ArrayLayout(signed(ACC_WIDTH), 4), always_ready=True)),
    })
    assert mac_input_layout(params) == data.StructLayout({
        "activations": data.ArrayLayout(lane, 8),
        "weights": data.ArrayLayout(data.ArrayLayout(lane, 8), 4),
        "precision": Precision, "first": 1, "last": 1})


@pytest.mark.parametrize("params", [8, None, (4, 4), ChipParams()])
def test_params_wrong(params):
    with pytest.raises(TypeError, match=rf"^MacArray params must be a MacParams, "
                                        rf"not {params!r}$".replace("(", r"\(").replace(")", r"\)")):
        MacArray(params)


@pytest.mark.parametrize("lanes, columns", [(4, 4), (16, 4)])
def test_verilog_is_deterministic(lanes, columns):
    first = to_verilog(MacArray(MacParams(lanes, columns)), "mac_array")
    assert first == to_verilog(MacArray(MacParams(lanes, columns)), "mac_array")
    assert first != to_verilog(MacArray(MacParams(lanes, columns * 2)), "mac_array")


# The testbench helpers.

@pytest.mark.parametrize("precision", [Precision.INT4, Precision.INT2, Precision.INT8])
@pytest.mark.parametrize("lanes, columns", [(4, 4), (4, 8), (16, 4)])
def test_exhaustive_vectors_cover_every_pair_everywhere(precision, lanes, columns):
    params = MacParams(lanes, columns)
    vectors = exhaustive_vectors(params, precision)
    values = range(precision.min, precision.max + 1)
    count = len(values)
    assert len(vectors) == count * -(-count // columns)
    seen = np.zeros((lanes * precision.values_per_lane, count, count), dtype=bool)
    elements = np.arange(seen.shape[0])
    for vector in vectors:
        for column in range(columns):
            seen[elements, vector.activations - precision.min,
                 vector.weights[column] - precision.min] = True
    assert seen.all()


@pytest.mark.parametrize("lanes", [4, 8, 16, 32])
def test_exhaustive_int8_subset_covers_every_pair_somewhere(lanes):
    params, int8 = MacParams(lanes, 4), Precision.INT8
    count = int8.max - int8.min + 1
    vectors = exhaustive_vectors(params, int8, activation_bases=count // lanes)
    assert len(vectors) == count * count // (4 * lanes)
    seen = np.zeros((count, count), dtype=bool)
    for vector in vectors:
        for column in range(4):
            seen[vector.activations - int8.min, vector.weights[column] - int8.min] = True
    assert seen.all()


def test_pack_unpack_round_trip():
    params = MacParams(4, 4)
    fields = {"activations": [1, 2, 3, 255], "weights": [[4, 5, 6, 7]] * 3 + [[0, 0, 0, 128]],
              "precision": Precision.INT2, "first": 1, "last": 0}
    bits = pack(mac_input_layout(params), fields)
    assert unpack(mac_input_layout(params), bits) == {**fields, "precision": Precision.INT2.value}
    # Lane 0 of the activations is the least significant byte.
    assert bits & 0xFF == 1
    sums = [-1, 0, 2**31 - 1, -2**31]
    assert unpack(mac_output_layout(params), pack(mac_output_layout(params), sums)) == sums


PACK_WRONG = [
    ([0, 0, 0], r"^value must be a sequence of 4 elements, not \[0, 0, 0\]$"),
    ([0, 0, 0, 1 << 31], r"^\[3\] must be an integer in \[-2147483648, 2147483647\], not 2147483648$"),
    ({"x": 1}, r"^value must be a sequence of 4 elements, not \{'x': 1\}$"),
]


@pytest.mark.parametrize("fields, message", PACK_WRONG)
def test_pack_wrong(fields, message):
    with pytest.raises(ValueError, match=message):
        pack(mac_output_layout(MacParams(4, 4)), fields)


def test_pack_struct_wrong():
    layout = mac_input_layout(MacParams(4, 4))
    fields = {"activations": [0] * 4, "weights": [[0] * 4] * 4, "precision": Precision.INT8,
              "first": 1, "last": 1}
    with pytest.raises(ValueError, match=r"^weights\[3\]\[1\] must be an integer in \[0, 255\], "
                                         r"not 256$"):
        pack(layout, {**fields, "weights": [[0] * 4] * 3 + [[0, 256, 0, 0]]})
    with pytest.raises(ValueError, match=r"^precision must be one of INT8, INT4, INT2, not 3$"):
        pack(layout, {**fields, "precision": 3})
    with pytest.raises(ValueError, match=r"^value must be a dict with the fields activations, "
                                         r"weights, precision, first, last, not \{'first': 1\}$"):
        pack(layout, {"first": 1})


def test_scoreboard_reports_wrong_word_with_diff():
    scoreboard = Scoreboard("MAC array 4x4 unit", 42)
    scoreboard.expect("accumulation 0", [1, 2, 3])
    scoreboard.expect("accumulation 1", [1, -2, 3])
    scoreboard.receive([1, 2, 3])
    scoreboard.receive([1, 5, 3])
    with pytest.raises(AssertionError, match=r"^MAC array 4x4 unit \(seed 42; replay with SEED=42\): "
                                             r"1 mismatches:\naccumulation 1, column 1: expected -2, "
                                             r"got 5 \(difference \+7\)$"):
        scoreboard.check()
    assert (scoreboard.matched, scoreboard.compared) == (1, 2)


def test_scoreboard_wrong_cycle():
    scoreboard = Scoreboard("unit", 1)
    scoreboard.expect("accumulation 0", [7], cycle=5)
    scoreboard.receive([7], cycle=6)
    with pytest.raises(AssertionError, match=r"accumulation 0: came in cycle 6, expected in cycle 5 "
                                             r"\(\+1\)$"):
        scoreboard.check()


def test_scoreboard_not_drained():
    scoreboard = Scoreboard("unit", 1)
    for number in range(3):
        scoreboard.expect(f"accumulation {number}", [number])
    scoreboard.receive([0])
    with pytest.raises(AssertionError, match=r"^unit \(seed 1; replay with SEED=1\): 2 expected words "
                                             r"never came, the first accumulation 1$"):
        scoreboard.check()


def test_scoreboard_unexpected_word():
    scoreboard = Scoreboard("unit", 1)
    scoreboard.expect("accumulation 0", [0])
    scoreboard.receive([0], cycle=3)
    scoreboard.receive([9], cycle=4)
    with pytest.raises(AssertionError, match=r"unexpected word \[9\] in cycle 4: nothing was expected$"):
        scoreboard.check()


def test_scoreboard_nothing_checked():
    with pytest.raises(AssertionError, match=r"^unit \(seed 1; replay with SEED=1\): nothing was checked$"):
        Scoreboard("unit", 1).check()


def test_scoreboard_wrong_length():
    scoreboard = Scoreboard("unit", 1, field="byte")
    scoreboard.compare("operation 0", [1, 2], [1])
    with pytest.raises(AssertionError, match=r"operation 0: 1 bytes, expected 2$"):
        scoreboard.check()


def test_scoreboard_counts():
    scoreboard = Scoreboard("unit", 1)
    for expected, got in itertools.product([[1], [2]], repeat=2):
        scoreboard.compare("operation", expected, got)
    assert (scoreboard.matched, scoreboard.compared, len(scoreboard.errors)) == (2, 4, 2)
