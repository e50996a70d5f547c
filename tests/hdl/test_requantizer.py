"""The requantize unit in Amaranth's simulator: each pipeline stage, the whole unit, its checks.

Each stage function of ``hdl/requantize.py`` is evaluated combinationally on corner and
random values against ``sim.golden.fixedpoint`` (gemmlowp's and TFLite's arithmetic);
the whole :class:`Requantizer` runs random operations back to back and with gaps against
``sim.golden.fixedpoint.requantize`` and ``pack_lanes``, cycle exact. The thorough
checks run the Verilog under cocotb (``tests/integration/test_requantize.py``).
"""

import itertools
import re

import numpy as np
import pytest
from amaranth import Module, Mux, Shape, Signal, signed, unsigned
from amaranth.lib import data
from amaranth.sim import Simulator

from hdl.params import (
    ACC_WIDTH,
    LANE_WIDTH,
    MAX_SHIFT,
    MIN_SHIFT,
    SHIFT_WIDTH,
    ChipParams,
    MacParams,
    Precision,
    Rounding,
)
from hdl.requantize import (
    LAYER_FIELDS,
    Requantizer,
    Stage,
    bias_add,
    clamp,
    half_products,
    high_mul,
    left_shift,
    multiply,
    pack_results,
    packed_bytes,
    partial_products,
    pot_divisor,
    requantize_input_layout,
    requantize_latency,
    requantize_output_layout,
    rounding_divide_by_pot,
    shared_divide,
    shared_dividend,
    shared_divisor,
    single_rounding,
    sum_partial_products,
)
from sim.golden.fixedpoint import (
    INT32_MAX,
    INT32_MIN,
    multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_single_rounding,
    requantize,
    saturating_rounding_doubling_high_mul,
)
from sim.golden.fixedpoint import (
    rounding_divide_by_pot as golden_rounding_divide_by_pot,
)
from sim.golden.simd import pack_lanes, wrap_int32
from sim.tb.requantize import layer_distance, operation
from tests.helpers import run_stream

#: Probability of an idle cycle before an operation, in the second half of the random run.
IDLE_PROBABILITY = 0.3
INT32 = signed(ACC_WIDTH)
SHIFT = signed(SHIFT_WIDTH)
HALF = 1 << 30
#: A raw precision field, so that the unused code 3 can be driven too.
PRECISION_CODE = unsigned(Shape.cast(Precision).width)
#: int32 values at and next to every edge of the arithmetic: the extremes, +-2**30, +-1, 0.
CORNERS = [INT32_MIN, INT32_MIN + 1, -HALF - 1, -HALF, -HALF + 1, -3, -2, -1, 0, 1, 2, 3,
           HALF - 1, HALF, HALF + 1, INT32_MAX - 1, INT32_MAX]


def evaluate(function, shapes, cases):
    """``function`` of input signals of ``shapes``, evaluated for every tuple in ``cases``."""
    inputs = [Signal(shape, name=f"input_{index}") for index, shape in enumerate(shapes)]
    value = function(*inputs)
    output = Signal(value.shape(), name="output")
    m = Module()
    m.d.comb += output.eq(value)
    results = []

    async def testbench(ctx):
        for case in cases:
            for signal, argument in zip(inputs, case):
                ctx.set(signal, argument)
            results.append(ctx.get(output))

    simulator = Simulator(m)
    simulator.add_testbench(testbench)
    simulator.run()
    return np.array(results, dtype=object)      # Python ints: outputs may exceed 64 bits


def random_int32(rng, count):
    return rng.integers(INT32_MIN, INT32_MAX, count, endpoint=True).tolist()


def test_bias_add_wraps(seed=1):
    rng = np.random.default_rng(seed)
    cases = list(itertools.product(CORNERS, CORNERS)) + list(zip(random_int32(rng, 100),
                                                                 random_int32(rng, 100)))
    acc, bias = np.array(cases).T
    assert (evaluate(bias_add, [INT32, INT32], cases) == wrap_int32(acc + bias)).all()


@pytest.mark.parametrize("rounding", Rounding)
def test_left_shift_wraps_for_double_rounding_only(rounding, seed=2):
    rng = np.random.default_rng(seed)
    cases = list(itertools.product(CORNERS + random_int32(rng, 8), range(MIN_SHIFT, MAX_SHIFT + 1),
                                   [rounding]))
    x, shift, _ = np.array(cases).T
    expected = x if rounding == Rounding.SINGLE else wrap_int32(x << np.maximum(shift, 0))
    assert (evaluate(left_shift, [INT32, SHIFT, Rounding], cases) == expected).all()


def test_high_mul_matches_gemmlowp(seed=3):
    """Every pair of corners (INT32_MIN x INT32_MIN saturates), ties of both signs, random pairs."""
    rng = np.random.default_rng(seed)
    ties = [(odd, HALF) for odd in (1, 3, 5, -1, -3, -5, INT32_MAX, INT32_MIN + 1)]
    cases = list(itertools.product(CORNERS, CORNERS)) + ties + \
        list(zip(random_int32(rng, 200), random_int32(rng, 200)))
    a, b = np.array(cases).T
    got = evaluate(lambda x, y: high_mul(*multiply(x, y)), [INT32, INT32], cases)
    assert (got == saturating_rounding_doubling_high_mul(a, b)).all()
    assert got[cases.index((INT32_MIN, INT32_MIN))] == INT32_MAX
    assert list(got[len(CORNERS) ** 2:][:6]) == [1, 2, 3, 0, -1, -2]   # ties toward +infinity


def test_single_rounding_matches_tflite(seed=4):
    """Every shift, with corner and random inputs and non-negative multipliers."""
    rng = np.random.default_rng(seed)
    values = CORNERS + random_int32(rng, 4)
    multipliers = [0, 1, HALF, INT32_MAX] + rng.integers(0, INT32_MAX, 2).tolist()
    cases = list(itertools.product(values, multipliers, range(MIN_SHIFT, MAX_SHIFT + 1)))
    x, multiplier, shift = np.array(cases).T
    got = evaluate(lambda x, m, s: single_rounding(multiply(x, m)[0], s), [INT32, INT32, SHIFT],
                   cases)
    assert (got == multiply_by_quantized_multiplier_single_rounding(x, multiplier, shift)).all()


@pytest.mark.parametrize("rounding", Rounding)
def test_rounding_divide_by_pot_matches_gemmlowp(rounding, seed=5):
    """Every exponent 0 to 31 (shifts 0 to -31) with corners and exact ties of both signs."""
    rng = np.random.default_rng(seed)
    cases = []
    for exponent in range(-MIN_SHIFT + 1):
        tie = 1 << (exponent - 1) if exponent else 0
        ties = [tie * odd for odd in (1, -1, 3, -3) if INT32_MIN <= tie * odd <= INT32_MAX]
        for x in CORNERS + random_int32(rng, 4) + ties:
            cases.append((x, -exponent, rounding))
    cases += [(x, shift, rounding) for x in CORNERS for shift in range(1, MAX_SHIFT + 1)]
    x, shift, _ = np.array(cases).T
    expected = x if rounding == Rounding.SINGLE else \
        golden_rounding_divide_by_pot(x, np.maximum(-shift, 0))

    def divide(x, shift, rounding):
        return rounding_divide_by_pot(x, *pot_divisor(shift), rounding)
    assert (evaluate(divide, [INT32, SHIFT, Rounding], cases) == expected).all()


@pytest.mark.parametrize("rounding", Rounding)
def test_shared_rounding_matches_both(rounding, seed=19):
    """The one barrel shifter of ``MacParams.scales_below_one`` after the multiply: TFLite's
    double and single roundings for every shift up to 0 (the single with non-negative
    multipliers), on corners, ties and random inputs."""
    rng = np.random.default_rng(seed)
    values = CORNERS + random_int32(rng, 4) + [HALF, -HALF, 3 * HALF // 2, -3 * HALF // 2]
    if rounding == Rounding.SINGLE:
        multipliers = [0, 1, HALF, INT32_MAX] + rng.integers(0, INT32_MAX, 2).tolist()
        shifts = range(MIN_SHIFT, 1)
    else:
        multipliers, shifts = CORNERS + random_int32(rng, 2), range(MIN_SHIFT, 1)
    cases = list(itertools.product(values, multipliers, shifts, [rounding]))
    x, multiplier, shift, _ = np.array(cases).T
    golden = (multiply_by_quantized_multiplier_single_rounding if rounding == Rounding.SINGLE
              else multiply_by_quantized_multiplier)

    def rescale(x, multiplier, shift, rounding):
        product, overflow = multiply(x, multiplier)
        exponent, mask = shared_divisor(shift, rounding)
        return shared_divide(shared_dividend(product, overflow, rounding), exponent, mask, rounding)
    got = evaluate(rescale, [INT32, INT32, SHIFT, Rounding], cases)
    assert (got == golden(x, multiplier, shift)).all(), f"seed {seed}"


def test_clamp_adds_zero_point_without_wrap():
    int8 = signed(LANE_WIDTH)
    cases = [(x, zero_point, low, high) for x in CORNERS
             for zero_point in (-128, -1, 0, 5, 127) for low, high in ((-128, 127), (0, 127), (3, 3))]
    x, zero_point, low, high = np.array(cases).T
    got = evaluate(clamp, [INT32, int8, int8, int8], cases)
    assert (got == np.clip(x + zero_point, low, high)).all()


@pytest.mark.parametrize("precision", Precision)
def test_pack_results_matches_pack_lanes(precision, seed=6, columns=8):
    rng = np.random.default_rng(seed)
    cases = [rng.integers(precision.min, precision.max, columns, endpoint=True).tolist()
             for _ in range(20)]
    got = evaluate(lambda *values: pack_results(values[:-1], values[-1]),
                   [signed(LANE_WIDTH)] * columns + [PRECISION_CODE],
                   [case + [precision] for case in cases])
    for word, values in zip(got, cases):
        packed = pack_lanes(values, precision)
        expected = sum(int(byte) << (LANE_WIDTH * index) for index, byte in enumerate(packed))
        assert int(word) == expected, f"{values}: {int(word):#x}, expected {expected:#x}"


def test_precision_code_3_packs_as_int2():
    values = [1, -2, 0, -1]
    got = evaluate(lambda *v: pack_results(v[:-1], v[-1]), [signed(LANE_WIDTH)] * 4 + [PRECISION_CODE],
                   [values + [3], values + [Precision.INT2]])
    assert got[0] == got[1] == pack_lanes(values, Precision.INT2)[0]


@pytest.mark.parametrize("columns, multiply_stages, requantize_columns, rescale_cycles, below_one",
                         [(4, 1, None, 1, False), (8, 1, None, 1, False), (4, 2, None, 1, False),
                          (8, 2, None, 1, False), (8, 1, 2, 1, False), (4, 1, 1, 1, False),
                          (8, 2, 1, 1, False), (4, 2, 1, 2, False), (4, 2, None, 2, False),
                          (8, 2, 2, 2, False), (4, 1, None, 1, True), (4, 2, 1, 2, True)])
def test_requantizer_matches_golden(columns, multiply_stages, requantize_columns, rescale_cycles,
                                    below_one, seed=7, operations=60):
    """Random operations (every precision, both roundings), back to back (one every
    ``tile_interval`` cycles) then with idle cycles; the split multiply gives the same
    results a cycle later, fewer requantized columns a cycle ``tile_interval - 1`` later,
    and so does a multiply by halves over two cycles; with scales below one the same
    results in the same cycles, for shifts up to 0."""
    params = MacParams(4, columns, multiply_stages=multiply_stages, requantize_columns=requantize_columns,
                       rescale_cycles=rescale_cycles, scales_below_one=below_one)
    latency = Requantizer(params).LATENCY
    rng = np.random.default_rng(seed)
    inputs, expected = [], []
    previous = None
    for index in range(operations):
        if index % 4 == 0:      # four operations a layer, its settings held
            layer = operation(rng, columns)
        fields = operation(rng, columns, in_range=index % 3 != 0, max_shift=0 if below_one else MAX_SHIFT,
                           **{name: layer[name] for name in LAYER_FIELDS})
        if index:
            earliest = previous + max(params.tile_interval, layer_distance(inputs[previous], fields, latency))
            inputs.extend([None] * (earliest - len(inputs)))
        if index >= operations // 2 and rng.random() < IDLE_PROBABILITY:
            inputs.append(None)
        previous = len(inputs)
        results = requantize(fields["acc"], bias=fields["bias"], multiplier=fields["multiplier"],
                             shift=fields["shift"], zero_point=fields["zero_point"],
                             clamp_min=fields["clamp_min"], clamp_max=fields["clamp_max"],
                             rounding=fields["rounding"].name.lower())
        packed = pack_lanes(results, fields["precision"]).tolist()
        expected.append((len(inputs) + latency,
                         packed + [0] * (columns - len(packed))))
        inputs.append({key: value.tolist() if isinstance(value, np.ndarray) else value
                       for key, value in fields.items()})
    got = run_stream(Requantizer(params), inputs, o_port="o_data", drain=latency + 2)
    assert got == expected, f"seed {seed}"


def test_latency_is_one_cycle_per_stage():
    assert Requantizer.LATENCY == len(Stage) == max(Stage) == 6
    assert Requantizer(MacParams(4, 4)).LATENCY == requantize_latency(MacParams(4, 4)) == 6
    assert Requantizer(MacParams(4, 4, multiply_stages=2)).LATENCY == 7
    assert Requantizer(MacParams(4, 8, requantize_columns=2)).LATENCY == 6 + 3
    assert Requantizer(MacParams(4, 8, multiply_stages=2, requantize_columns=2, rescale_cycles=2)).LATENCY \
        == 7 + 7
    assert Requantizer(MacParams(4, 4, scales_below_one=True)).LATENCY == 5


def test_signature():
    params = MacParams(lanes=8, columns=4)
    members = Requantizer(params).signature.members
    assert members["i_data"].signature.members["payload"].shape == requantize_input_layout(params)
    assert members["o_data"].signature.members["payload"].shape == \
        requantize_output_layout(params) == \
        data.ArrayLayout(unsigned(LANE_WIDTH), 4)
    assert members["i_data"].signature.always_ready and members["o_data"].signature.always_ready
    assert list(requantize_input_layout(params).members) == [
        "acc", "bias", "multiplier", "shift", "zero_point", "clamp_min", "clamp_max",
        "precision", "rounding"]


def test_packed_bytes():
    params = MacParams(lanes=4, columns=8)
    assert [packed_bytes(params, precision) for precision in Precision] == [8, 4, 2]


@pytest.mark.parametrize("value", [8, None, ChipParams()])
def test_params_wrong(value):
    with pytest.raises(TypeError, match=rf"^Requantizer params must be a MacParams, "
                                        rf"not {re.escape(repr(value))}$"):
        Requantizer(value)


def _four_partials(x, multiplier):
    return sum_partial_products(*partial_products(x, multiplier))


def _by_halves(x, multiplier):
    (high, low_high), (high_low, low) = half_products(x, multiplier, 1), half_products(x, multiplier, 0)
    return sum_partial_products(high - Mux(multiplier < 0, x, 0), high_low, low_high, low)


@pytest.mark.parametrize("split", [_four_partials, _by_halves])
@pytest.mark.parametrize("seed", [18])
def test_split_multiply_is_exact(split, seed):
    """The four 16-bit partial products add up to the exact 64-bit product, and so do the
    two halves' unsigned products less the sign correction: the extremes of int32 and their
    halves' boundaries, then random pairs."""
    edges = [INT32_MIN, INT32_MIN + 1, -(1 << 16), -(1 << 16) + 1, -1, 0, 1, (1 << 16) - 1, 1 << 16,
             INT32_MAX - 1, INT32_MAX]
    rng = np.random.default_rng(seed)
    pairs = list(itertools.product(edges, repeat=2))
    pairs += [tuple(int(v) for v in rng.integers(INT32_MIN, INT32_MAX, 2, endpoint=True)) for _ in range(200)]
    m = Module()
    x, multiplier = Signal(signed(ACC_WIDTH)), Signal(signed(ACC_WIDTH))
    product = Signal(signed(2 * ACC_WIDTH))
    m.d.comb += product.eq(split(x, multiplier))
    got = []

    async def testbench(ctx):
        for a, b in pairs:
            ctx.set(x, a)
            ctx.set(multiplier, b)
            got.append(ctx.get(product))

    simulator = Simulator(m)
    simulator.add_testbench(testbench)
    simulator.run()
    assert got == [a * b for a, b in pairs], f"seed {seed}"
