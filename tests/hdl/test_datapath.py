"""The datapath in Amaranth's simulator: operands unpacked at ``precision``, results packed
and byte-masked at ``out_precision``, for every pairing, at the same latency."""

import itertools

import numpy as np
import pytest
from amaranth.sim import Simulator

from hdl.datapath import FUSED_ADD_LATENCY, Datapath
from hdl.isa import Instruction, Opcode, encode
from hdl.params import LANE_WIDTH, CoreParams, MacParams, Precision
from hdl.sram import BankedSram
from sim.golden.add import ADD_LEFT_SHIFT
from sim.golden.fixedpoint import multiply_by_quantized_multiplier, requantize
from sim.golden.simd import pack_lanes, unpack_lanes, vector_matrix
from tests.helpers import CLOCK_PERIOD

PARAMS = CoreParams(MacParams(lanes=4, columns=4))
#: The requantize unit's identity (``MultiplyByQuantizedMultiplier(x, 2**30, 1) == x``).
IDENTITY_MULTIPLIER, IDENTITY_SHIFT = 1 << 30, 1
#: Elements of the one tile each case accumulates.
ELEMENTS = 3


def word_of(values):
    return int.from_bytes(bytes(np.asarray(values, np.uint8)), "little")


def run_tile(instruction, a_words, weights, bias, a_offset, o_offset, r_word=0, r_offset=0):
    """Issue one tile of ``len(a_words)`` elements; ``[(cycle, data, mask)]`` of its writes.

    Element ``k`` is issued in cycle ``k``; its words arrive ``BankedSram.LATENCY`` cycles
    later, as the SRAM returns them; ``r_word`` arrives likewise after ``residual_read``.
    """
    dut = Datapath(PARAMS)
    columns, word = PARAMS.mac.columns, PARAMS.word_bytes * LANE_WIDTH
    writes = []

    async def driver(ctx):
        ctx.set(dut.instruction.as_value(), encode(instruction, PARAMS))
        ctx.set(dut.a_offset, a_offset)
        ctx.set(dut.o_offset, o_offset)
        for column in range(columns):
            ctx.set(dut.settings.bias[column], int(bias[column]))
            ctx.set(dut.settings.multiplier[column], IDENTITY_MULTIPLIER)
            ctx.set(dut.settings.shift[column], IDENTITY_SHIFT)
        count = len(a_words)
        for cycle in range(count + BankedSram.LATENCY):
            issue = cycle < count
            ctx.set(dut.element.valid, issue)
            ctx.set(dut.element.first, issue and cycle == 0)
            ctx.set(dut.element.last, issue and cycle == count - 1)
            arrived = cycle - BankedSram.LATENCY
            if arrived >= 0:
                ctx.set(dut.a_word, a_words[arrived])
                ctx.set(dut.weights, sum(w << (column * word)
                                         for column, w in enumerate(weights[arrived])))
            await ctx.tick()
        ctx.set(dut.element.valid, 0)

    async def monitor(ctx):
        cycle = 0
        async for _, _, en, data, mask in ctx.tick().sample(dut.o_write.en, dut.o_write.data,
                                                            dut.o_write.mask):
            if en:
                writes.append((cycle, int(data), int(mask)))
            cycle += 1

    async def residual(ctx):
        ctx.set(dut.r_offset, r_offset)
        async for _, _, read in ctx.tick().sample(dut.residual_read):
            ctx.set(dut.r_word, r_word if read else 0)

    simulator = Simulator(dut)
    simulator.add_clock(CLOCK_PERIOD)
    simulator.add_testbench(driver)
    simulator.add_process(monitor)
    simulator.add_process(residual)
    simulator.run_until(CLOCK_PERIOD * (len(a_words) + dut.MACADD_LATENCY + 4))
    return writes, dut


def random_mac_tile(rng, precision):
    """A tile's activations and weights at ``precision``, a bias and the column sums."""
    lanes, columns = PARAMS.mac.lanes, PARAMS.mac.columns
    values = lanes * precision.values_per_lane
    activations = rng.integers(precision.min, precision.max + 1, (ELEMENTS, values))
    weights = rng.integers(precision.min, precision.max + 1, (ELEMENTS, columns, values))
    bias = rng.integers(-20, 21, columns)
    total = np.zeros(columns, np.int64)
    for a, w in zip(activations, weights):
        total = vector_matrix(pack_lanes(a, precision), pack_lanes(w, precision), precision, total)
    return activations, weights, bias, total


def check_write(writes, expected, out, o_offset, latency, context):
    """The one write: at ``latency`` after the last element, the packed results at
    ``o_offset`` under a mask of exactly their ``columns * out.bits / 8`` bytes."""
    packed = pack_lanes(expected, out)
    assert len(writes) == 1, f"{context}: {len(writes)} writes"
    cycle, data, mask = writes[0]
    assert cycle == ELEMENTS - 1 + latency, f"{context}: written in cycle {cycle}"
    assert mask == ((1 << len(packed)) - 1) << o_offset, f"{context}: mask {mask:#b}"
    got = unpack_lanes(np.frombuffer(data.to_bytes(PARAMS.word_bytes, "little"), np.uint8)
                       [o_offset:o_offset + len(packed)], out)
    assert got.tolist() == list(expected), f"{context}: expected {list(expected)}, got {got.tolist()}"


@pytest.mark.parametrize("precision, out", list(itertools.product(Precision, Precision)))
def test_mac_pairing(precision, out, seed=7):
    """A ``MAC`` tile reads activations and weights at ``precision`` and writes at ``out``."""
    rng = np.random.default_rng(seed)
    columns = PARAMS.mac.columns
    activations, weights, bias, total = random_mac_tile(rng, precision)
    zero_point = int(rng.integers(out.min, out.max + 1))
    expected = requantize(total, bias=bias, multiplier=np.full(columns, IDENTITY_MULTIPLIER),
                          shift=np.full(columns, IDENTITY_SHIFT), zero_point=zero_point,
                          clamp_min=out.min, clamp_max=out.max)
    o_offset = PARAMS.word_bytes - columns * out.bits // LANE_WIDTH     # the word's last bytes
    instruction = Instruction(Opcode.MAC, precision, reduce_levels=1, counts=(ELEMENTS,),
                              zero_point=zero_point, clamp_min=out.min, clamp_max=out.max,
                              out_precision=out)
    writes, dut = run_tile(instruction, [word_of(pack_lanes(a, precision)) for a in activations],
                           [[word_of(pack_lanes(c, precision)) for c in w] for w in weights],
                           bias, 0, o_offset)
    check_write(writes, expected, out, o_offset, dut.MAC_LATENCY,
                f"seed {seed}: MAC int{precision.bits} -> int{out.bits}")


@pytest.mark.parametrize("precision, out", list(itertools.product(Precision, Precision)))
def test_avgpool_pairing(precision, out, seed=8):
    """An ``AVGPOOL`` tile unpacks ``columns`` values at ``precision`` from the operand
    word's byte offset, sums them per column and writes at ``out``."""
    rng = np.random.default_rng(seed)
    columns, word_bytes = PARAMS.mac.columns, PARAMS.word_bytes
    a_offset = word_bytes - columns * precision.bits // LANE_WIDTH
    words = rng.integers(precision.min, precision.max + 1,
                         (ELEMENTS, word_bytes * precision.values_per_lane))
    tile = [unpack_lanes(pack_lanes(w, precision)[a_offset:], precision)[:columns] for w in words]
    bias = rng.integers(-5, 6, columns)
    expected = requantize(np.sum(tile, axis=0), bias=bias,
                          multiplier=np.full(columns, IDENTITY_MULTIPLIER),
                          shift=np.full(columns, IDENTITY_SHIFT), zero_point=0,
                          clamp_min=out.min, clamp_max=out.max)
    instruction = Instruction(Opcode.AVGPOOL, precision, reduce_levels=1, counts=(ELEMENTS,),
                              clamp_min=out.min, clamp_max=out.max, out_precision=out)
    writes, dut = run_tile(instruction, [word_of(pack_lanes(w, precision)) for w in words],
                           [[0] * columns] * ELEMENTS, bias, a_offset, 0)
    check_write(writes, expected, out, 0, dut.VECTOR_LATENCY,
                f"seed {seed}: AVGPOOL int{precision.bits} -> int{out.bits}")


@pytest.mark.parametrize("precision, out", list(itertools.product(Precision, Precision)))
@pytest.mark.parametrize("seed", range(3))
def test_macadd(precision, out, seed):
    """A ``MACADD`` tile: the ``MAC``'s result at the conv's zero point and clamp, then
    LiteRT's ADD with the residual tile at ``out`` (from its byte offset), written
    ``FUSED_ADD_LATENCY`` after the ``MAC`` would write."""
    rng = np.random.default_rng(seed)
    columns = PARAMS.mac.columns
    activations, weights, bias, total = random_mac_tile(rng, precision)
    a_zp, b_zp, zero_point = (int(rng.integers(out.min, out.max + 1)) for _ in range(3))
    mid_min = int(rng.choice([out.min, a_zp]))          # the conv's ReLU or none
    mid = requantize(total, bias=bias, multiplier=np.full(columns, IDENTITY_MULTIPLIER),
                     shift=np.full(columns, IDENTITY_SHIFT), zero_point=a_zp,
                     clamp_min=mid_min, clamp_max=out.max)
    r_offset = PARAMS.word_bytes - columns * out.bits // LANE_WIDTH
    residual_values = rng.integers(out.min, out.max + 1, PARAMS.word_bytes * out.values_per_lane)
    packed = pack_lanes(residual_values, out)
    residual = unpack_lanes(packed[r_offset:], out)[:columns]
    a_mul, b_mul, y_mul = (int(rng.integers(1 << 30, 1 << 31)) for _ in range(3))
    a_shift, b_shift, y_shift = (int(rng.integers(-12, 1)) for _ in range(3))
    scaled = (multiply_by_quantized_multiplier((mid - a_zp) << ADD_LEFT_SHIFT, a_mul, a_shift)
              + multiply_by_quantized_multiplier((residual - b_zp) << ADD_LEFT_SHIFT, b_mul, b_shift))
    expected = np.clip(multiply_by_quantized_multiplier(scaled, y_mul, y_shift) + zero_point,
                       out.min, out.max)
    instruction = Instruction(Opcode.MACADD, precision, reduce_levels=1, counts=(ELEMENTS,),
                              zero_point=zero_point, clamp_min=out.min, clamp_max=out.max,
                              out_precision=out, a_zero_point=a_zp, b_zero_point=b_zp,
                              a_multiplier=a_mul, a_shift=a_shift, b_multiplier=b_mul, b_shift=b_shift,
                              mid_clamp_min=mid_min, mid_clamp_max=out.max, add_multiplier=y_mul,
                              add_shift=y_shift)
    writes, dut = run_tile(instruction, [word_of(pack_lanes(a, precision)) for a in activations],
                           [[word_of(pack_lanes(c, precision)) for c in w] for w in weights],
                           bias, 0, 0, word_of(packed), r_offset)
    assert dut.MACADD_LATENCY == dut.MAC_LATENCY + FUSED_ADD_LATENCY
    check_write(writes, expected, out, 0, dut.MACADD_LATENCY,
                f"seed {seed}: MACADD int{precision.bits} -> int{out.bits}")
