"""cocotb testbench of the requantize unit against ``sim.golden.fixedpoint.requantize`` and lane packing.

Each test builds a list of operations (one input vector each: accumulators and
settings), packs them through the input port's layout, drives them one per cycle with
no idle cycle (unless the test asks for gaps, or an operation's per-layer settings differ
from the one's before: it then waits until that one's results are out, as the unit needs
them held, :func:`layer_distance`), and checks every output: the N column
results, read back out of the packed bytes at the operation's precision, must equal
``sim.golden.fixedpoint.requantize`` (whose bytes are ``sim.golden.simd.pack_lanes``'s),
the bytes past the packed results must be zero, and each output must appear exactly
``LATENCY`` cycles after its input. A mismatch is reported with the operation index,
the column, the expected and the received value and the seed. Expected values come from
the golden model only; one test gives the model a single wrong accumulator and checks
that exactly that operation and column are reported.

Parameters (``TB_PARAMS``): ``lanes``, ``columns``, ``latency``, ``seed`` (replay a run
with ``SEED=<seed>``; each test seeds numpy with ``cocotb.RANDOM_SEED``, derived from it
and the test's name).
"""

import collections

import cocotb
import numpy as np

from hdl.params import MAX_SHIFT, MIN_SHIFT, MacParams, Precision, Rounding
from hdl.requantize import LAYER_FIELDS, packed_bytes, requantize_input_layout, requantize_output_layout
from sim.golden.fixedpoint import INT32_MAX, INT32_MIN, quantize_multiplier, requantize
from sim.golden.simd import pack_lanes, unpack_lanes
from sim.tb.common import Scoreboard, drive_stream, pack, reset, unpack
from sim.tb.runner import testbench_params

#: Operations in the random tests.
RANDOM_OPERATIONS = 300
#: Operations, and the probability of an idle cycle before each, in the test with gaps.
GAP_OPERATIONS = 100
GAP_PROBABILITY = 0.3
#: Operations in the test that the checking reports a wrong model.
MUTATION_OPERATIONS = 20
#: Multipliers (Q0.31) of exactly 0.5 and -1.0: the first halves (ties on odd inputs), the
#: second negates exactly, so that ``RoundingDivideByPOT`` sees any chosen value.
HALF = 1 << 30
MINUS_ONE = INT32_MIN
#: Fields given per column; the others are per operation.
PER_COLUMN = ("acc", "bias", "multiplier", "shift")
#: Shifts of the "in range" random operations: from this to 0 (accumulators up to 2**(bits - shift)).
IN_RANGE_MIN_SHIFT = -20
#: Their biases are up to 2**-BIAS_SCALE_BITS of their accumulators' range.
BIAS_SCALE_BITS = 3
#: Magnitude, in bits, of the accumulators of the small-multiplier columns of ``every_shift``.
SMALL_MULTIPLIER_ACC_BITS = 10
#: How often a random operation clamps to the precision's whole range, to a fused ReLU's
#: (from the zero point up), or to a random range; the rest is a random range.
FULL_RANGE_PROBABILITY = 0.5
RELU_PROBABILITY = 0.25


def setup(dut):
    """The testbench parameters, the unit's shape and this test's random generator."""
    tb = testbench_params()
    dut._log.info("seed %d (replay with SEED=%d); this test's generator seed %d",
                  tb["seed"], tb["seed"], cocotb.RANDOM_SEED)
    return tb, MacParams(tb["lanes"], tb["columns"]), np.random.default_rng(cocotb.RANDOM_SEED)


def clamp_range(rng, precision, zero_point):
    """A random ``(clamp_min, clamp_max)`` within ``precision``'s range.

    The whole range, a fused ReLU's ``[zero_point, max]`` or a random sub-range, with
    the probabilities above.
    """
    draw = rng.random()
    if draw < FULL_RANGE_PROBABILITY:
        return precision.min, precision.max
    if draw < FULL_RANGE_PROBABILITY + RELU_PROBABILITY:
        return zero_point, precision.max
    low, high = sorted(rng.integers(precision.min, precision.max, 2, endpoint=True))
    return int(low), int(high)


def full_range(rng, columns, low=INT32_MIN, high=INT32_MAX):
    return rng.integers(low, high, columns, endpoint=True, dtype=np.int64)


def operation(rng, columns, *, precision=None, rounding=None, in_range=True, max_shift=MAX_SHIFT, **fixed):
    """One random operation: a dict of the input layout's fields (per-column ones as arrays).

    ``in_range`` draws accumulators whose scaled results mostly land in the output range
    (shifts ``IN_RANGE_MIN_SHIFT`` to 0, multipliers of 0.5 to 1); otherwise accumulators, biases,
    multipliers and shifts are uniform over their whole ranges. The zero point is random
    in the precision's range, the clamp range as :func:`clamp_range`. ``fixed`` overrides fields
    (a scalar per-column field is broadcast). The single rounding gets non-negative
    multipliers (its precondition). Shifts go up to ``max_shift`` (0 for a requantizer with
    ``MacParams.scales_below_one``).
    """
    precision = Precision(int(rng.integers(len(Precision)))) if precision is None else precision
    rounding = Rounding(int(rng.integers(len(Rounding)))) if rounding is None else rounding
    zero_point = int(rng.integers(precision.min, precision.max, endpoint=True))
    clamp_min, clamp_max = clamp_range(rng, precision, zero_point)
    low_multiplier = 0 if rounding == Rounding.SINGLE else INT32_MIN
    if in_range:
        shift = rng.integers(IN_RANGE_MIN_SHIFT, 0, columns, endpoint=True)
        limit = np.left_shift(1, precision.bits - shift)
        fields = {"acc": rng.integers(-limit, limit), "bias": rng.integers(-limit, limit) >> BIAS_SCALE_BITS,
                  "multiplier": rng.integers(HALF, INT32_MAX, columns, endpoint=True),
                  "shift": shift}
    else:
        fields = {"acc": full_range(rng, columns), "bias": full_range(rng, columns),
                  "multiplier": full_range(rng, columns, low=low_multiplier),
                  "shift": rng.integers(MIN_SHIFT, max_shift, columns, endpoint=True)}
    fields.update(zero_point=zero_point, clamp_min=clamp_min, clamp_max=clamp_max,
                  precision=precision,
                  rounding=rounding)
    for name, value in fixed.items():
        fields[name] = np.resize(np.asarray(value, dtype=np.int64), columns) \
            if name in PER_COLUMN else value
    return fields


def int8_full_scale(**fields):
    """Fields of an int8 operation with zero point 0 and no clamp inside int8's range."""
    int8 = Precision.INT8
    return dict(precision=int8, zero_point=0, clamp_min=int8.min, clamp_max=int8.max, **fields)


def expected_results(fields):
    """The golden model's N results of one operation."""
    return requantize(fields["acc"], bias=fields["bias"], multiplier=fields["multiplier"],
                      shift=fields["shift"], zero_point=fields["zero_point"],
                      clamp_min=fields["clamp_min"], clamp_max=fields["clamp_max"],
                      rounding=fields["rounding"].name.lower())


def layer_distance(previous, fields, latency):
    """Cycles from operation ``previous`` (``None`` for none) to the earliest for ``fields``:
    1, or ``latency`` if their per-layer settings differ, which the unit needs held until
    an operation's results are out (the core's sequencer drains between instructions)."""
    if previous is None or all(previous[name] == fields[name] for name in LAYER_FIELDS):
        return 1
    return latency


def describe(index, fields):
    return f"operation {index} (int{fields['precision'].bits}, " \
           f"{fields['rounding'].name.lower()} rounding)"


async def run_operations(dut, tb, params, operations, name, *, gaps=None, model=None):
    """Drive ``operations`` one per cycle (``gaps[k]`` idle cycles before operation ``k``).

    Each output is compared column by column with the golden model run on ``model`` (by
    default the operations driven) and must arrive ``LATENCY`` cycles after its input.
    Returns the :class:`~sim.tb.common.Scoreboard`, not yet checked.
    """
    input_layout, output_layout = requantize_input_layout(params), requantize_output_layout(params)
    scoreboard = Scoreboard(f"requantizer N={params.columns} {name}", tb["seed"])
    model = operations if model is None else model
    words, expected = [], collections.deque()
    previous, previous_cycle = None, 0
    for index, (fields, model_fields) in enumerate(zip(operations, model, strict=True)):
        earliest = previous_cycle + layer_distance(previous, fields, tb["latency"])
        words += [None] * max(int(gaps[index]) if gaps is not None else 0, earliest - len(words))
        previous, previous_cycle = fields, len(words)
        words.append(pack(input_layout, {key: value.tolist() if isinstance(value, np.ndarray)
                                         else value for key, value in fields.items()}))
        results = expected_results(model_fields)
        # The bytes the golden packing gives must be what the unit's documentation says.
        assert len(pack_lanes(results, fields["precision"])) == \
            packed_bytes(params, fields["precision"])
        expected.append((describe(index, fields), fields["precision"], results,
                         len(words) - 1 + tb["latency"]))

    await reset(dut)
    outputs, rate = await drive_stream(dut, words, drain=tb["latency"] + 2)
    for cycle, word in outputs:
        if not expected:
            scoreboard.error(f"unexpected output {unpack(output_layout, word)} in cycle {cycle}")
            continue
        operation_name, precision, results, due = expected.popleft()
        if cycle != due:
            scoreboard.error(f"{operation_name}: came in cycle {cycle}, expected in cycle {due} "
                             f"({cycle - due:+d})")
        got = unpack(output_layout, word)
        count = packed_bytes(params, precision)
        if any(got[count:]):
            scoreboard.error(f"{operation_name}: bytes {count} to {params.columns - 1} must be "
                             f"zero, got {got[count:]}")
        scoreboard.compare(operation_name, results, unpack_lanes(got[:count], precision))
    for operation_name, *_ in expected:
        scoreboard.error(f"{operation_name}: no output")
    dut._log.info("%s: %d operations in %d cycles, %.0f simulated cycles/s",
                  scoreboard.name, len(operations), len(words), rate)
    return scoreboard


async def check_operations(dut, tb, params, operations, name, **options):
    """:func:`run_operations`, then assert that every operation matched."""
    scoreboard = await run_operations(dut, tb, params, operations, name, **options)
    scoreboard.check(len(operations))


@cocotb.test()
async def random_all_precisions(dut):
    """Random operations in int8, int4 and int2, both roundings: near the output range, and full range."""
    tb, params, rng = setup(dut)
    operations = [operation(rng, params.columns, in_range=index % 2 == 0)
                  for index in range(RANDOM_OPERATIONS)]
    await check_operations(dut, tb, params, operations, "random")


@cocotb.test()
async def random_with_gaps(dut):
    """Random operations with random idle cycles between them: ``o_data.valid`` follows ``i_data.valid``."""
    tb, params, rng = setup(dut)
    operations = [operation(rng, params.columns) for _ in range(GAP_OPERATIONS)]
    gaps = rng.geometric(1 - GAP_PROBABILITY, size=GAP_OPERATIONS) - 1
    await check_operations(dut, tb, params, operations, "random with gaps", gaps=gaps)


@cocotb.test()
async def every_shift(dut):
    """Every shift from -31 to +30 in both roundings, each with three kinds of column.

    Columns ``3j``: full-range accumulators and biases (left shifts wrap, the bias add
    wraps). Columns ``3j + 1``: accumulators scaled so that the result lands near int8's
    range. Columns ``3j + 2``: for a positive shift, a multiplier small enough (about
    ``2**-shift``) that the shifted accumulator's low bits show in the result.
    """
    tb, params, rng = setup(dut)
    kind = np.arange(params.columns) % 3
    operations = []
    for shift in range(MIN_SHIFT, MAX_SHIFT + 1):
        for rounding in Rounding:
            scaled = 1 << min(max(Precision.INT8.bits - shift, 1), 31)
            small = 1 << max(HALF.bit_length() - 1 - max(shift, 0), 0)
            acc = np.select([kind == 0, kind == 1],
                            [full_range(rng, params.columns),
                             rng.integers(-scaled, scaled, params.columns)],
                            rng.integers(-(1 << SMALL_MULTIPLIER_ACC_BITS),
                                         1 << SMALL_MULTIPLIER_ACC_BITS, params.columns))
            multiplier = np.where(kind == 2, rng.integers(small, 2 * small, params.columns),
                                  rng.integers(HALF, INT32_MAX, params.columns, endpoint=True))
            operations.append(operation(rng, params.columns, rounding=rounding,
                                        **int8_full_scale(shift=shift, acc=acc,
                                                          bias=np.where(kind == 0, full_range(
                                                              rng, params.columns), 0),
                                                          multiplier=multiplier)))
    await check_operations(dut, tb, params, operations, "every shift")


def saturation_and_wrap(rng, columns):
    """INT32_MIN * INT32_MIN (also reached through a wrapping bias add) and the int32 wraps."""
    operations = []
    for shift in (0, -24, -25, MIN_SHIFT, 1):
        operations.append(operation(rng, columns, rounding=Rounding.DOUBLE, **int8_full_scale(
            acc=INT32_MIN, bias=0, multiplier=INT32_MIN, shift=shift)))
        operations.append(operation(rng, columns, rounding=Rounding.DOUBLE, **int8_full_scale(
            acc=INT32_MAX, bias=1, multiplier=INT32_MIN, shift=shift)))
    for rounding in Rounding:
        for acc, bias in ((INT32_MAX, INT32_MAX), (INT32_MAX, 1), (INT32_MIN, INT32_MIN),
                          (INT32_MIN, -1), (INT32_MAX, INT32_MIN), (INT32_MIN, 0)):
            operations.append(operation(rng, columns, rounding=rounding, **int8_full_scale(
                acc=acc, bias=bias, multiplier=HALF, shift=-24)))
    return operations


def multiplier_extremes(rng, columns):
    """0, 1, 0.5, the largest and (double rounding only) -1 and -2**-31, and TFLite's own.

    The multipliers ``quantize_multiplier`` makes of tiny and large scales come with their
    own shifts; every accumulator is of a random magnitude.
    """
    fixed = [(multiplier, shift) for multiplier in (0, 1, HALF, INT32_MAX, MINUS_ONE, -1)
             for shift in (0, -8, MIN_SHIFT, MAX_SHIFT)]
    fixed += [quantize_multiplier(real) for real in (2.0 ** -32, 3e-10, 1e-9, 1e-4, 0.999999,
                                                     1.0, 1000.0, 5e8)]
    operations = []
    for multiplier, shift in fixed:
        for rounding in Rounding:
            if rounding == Rounding.SINGLE and multiplier < 0:
                continue
            magnitude = np.left_shift(1, rng.integers(0, 31, columns, endpoint=True))
            operations.append(operation(rng, columns, rounding=rounding, **int8_full_scale(
                acc=rng.integers(-magnitude, magnitude), bias=0, multiplier=multiplier,
                shift=shift)))
    return operations


def rounding_ties(rng, columns):
    """Results exactly half-way between two integers, positive and negative, at every step.

    Double rounding: ``SaturatingRoundingDoublingHighMul`` ties (odd accumulators times
    0.5) round toward +infinity; ``RoundingDivideByPOT`` ties (``x = (2q + 1) * 2**(e-1)``
    for every exponent ``e`` from 1 to 31, reached exactly through a multiplier of -1)
    round away from zero. Single rounding: ``(2q + 1) * 2**k`` times 0.5 with shift
    ``-k`` for every ``k`` from 0 to 31, ties toward +infinity. The signs alternate by
    column; ``q`` is random while the value fits int32.
    """
    sign = np.where(np.arange(columns) % 2, -1, 1)

    def odd(bits):
        """Random odd values of magnitude below ``2**bits`` and at most 255, alternating in sign."""
        limit = min(1 << bits, Precision.INT8.max + 1) // 2
        return sign * (2 * rng.integers(0, limit, columns) + 1)

    operations = [operation(rng, columns, rounding=Rounding.DOUBLE, **int8_full_scale(
        acc=odd(9), bias=0, multiplier=HALF, shift=0))]
    for exponent in range(1, -MIN_SHIFT + 1):
        x = odd(32 - exponent) << (exponent - 1)
        operations.append(operation(rng, columns, rounding=Rounding.DOUBLE, **int8_full_scale(
            acc=-x, bias=0, multiplier=MINUS_ONE, shift=-exponent)))
    for exponent in range(-MIN_SHIFT + 1):
        # At the last exponent only INT32_MIN, -2**31, is an odd multiple in int32.
        acc = odd(31 - exponent) << exponent if exponent < -MIN_SHIFT else INT32_MIN
        operations.append(operation(rng, columns, rounding=Rounding.SINGLE, **int8_full_scale(
            acc=acc, bias=0, multiplier=HALF, shift=-exponent)))
    # Where the two roundings part: 4066 * m / 2**38 = 31.497 is 31 once, 32 twice rounded.
    for rounding in Rounding:
        operations.append(operation(rng, columns, rounding=rounding, **int8_full_scale(
            acc=4066, bias=0, multiplier=2129324917, shift=-7)))
    return operations


def clamps(rng, columns):
    """Fused ReLU (clamp floor at the zero point), a one-value range and the extreme zero points.

    The zero point is added to results as large as INT32_MAX and INT32_MIN: the sum must
    clamp, not wrap.
    """
    operations = []
    for precision in Precision:
        for rounding in Rounding:
            zero_point = int(rng.integers(precision.min, precision.max, endpoint=True))
            operations.append(operation(rng, columns, precision=precision, rounding=rounding,
                                        zero_point=zero_point, clamp_min=zero_point,
                                        clamp_max=precision.max))
            operations.append(operation(rng, columns, precision=precision, rounding=rounding,
                                        clamp_min=zero_point, clamp_max=zero_point))
        for zero_point in (precision.min, precision.max):
            operations.append(operation(
                rng, columns, precision=precision, rounding=Rounding.DOUBLE,
                acc=[INT32_MIN, INT32_MAX, INT32_MIN, 1], bias=0,
                multiplier=[INT32_MIN, INT32_MAX, INT32_MAX, 0], shift=0, zero_point=zero_point,
                clamp_min=precision.min, clamp_max=precision.max))
    return operations


@cocotb.test()
async def corner_values(dut):
    """Saturation, int32 wraps, multiplier extremes, rounding ties in both roundings, clamps."""
    tb, params, rng = setup(dut)
    operations = saturation_and_wrap(rng, params.columns) + \
        multiplier_extremes(rng, params.columns) + rounding_ties(rng, params.columns) + \
        clamps(rng, params.columns)
    await check_operations(dut, tb, params, operations, "corners")


@cocotb.test()
async def a_wrong_model_is_reported(dut):
    """The checking can fail: the model's accumulator off by 2 in one column of one operation.

    That operation is int8, halves (zero point 0, no clamp in range), so the model's
    result there is one higher. The scoreboard must report exactly that operation and
    column, with the seed, and match every other operation.
    """
    tb, params, rng = setup(dut)
    operations = [operation(rng, params.columns) for _ in range(MUTATION_OPERATIONS)]
    index, column = int(rng.integers(MUTATION_OPERATIONS)), int(rng.integers(params.columns))
    operations[index] = operation(rng, params.columns, rounding=Rounding.DOUBLE, **int8_full_scale(
        acc=2 * rng.integers(-100, 100, params.columns), bias=0, multiplier=HALF, shift=0))
    model = list(operations)
    model[index] = dict(operations[index], acc=operations[index]["acc"].copy())
    model[index]["acc"][column] += 2
    scoreboard = await run_operations(dut, tb, params, operations, "wrong model", model=model)
    assert len(scoreboard.errors) == 1 and \
        scoreboard.errors[0].startswith(f"operation {index} ") and \
        f", column {column}: expected " in scoreboard.errors[0], \
        f"seed {tb['seed']}: expected one mismatch, operation {index} column {column}; " \
        f"got {scoreboard.errors}"
    assert scoreboard.matched == MUTATION_OPERATIONS - 1, f"seed {tb['seed']}"
    try:
        scoreboard.check(MUTATION_OPERATIONS)
    except AssertionError as error:
        assert f"SEED={tb['seed']}" in str(error) and scoreboard.errors[0] in str(error)
        dut._log.info("reported as expected: %s", scoreboard.errors[0])
    else:
        raise AssertionError(f"seed {tb['seed']}: the scoreboard passed a wrong model")
