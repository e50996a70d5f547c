"""cocotb testbench of the SIMD MAC array against ``sim.golden.simd.vector_matrix``.

Each test builds a list of accumulations (each a list of vectors, one precision per
vector), packs them into input words through the port's layout, drives them with no idle
cycle between accumulations (unless the test asks for gaps), and checks with the
:class:`~sim.tb.common.Scoreboard` that every accumulation's N column sums equal the
golden model's and appear exactly ``LATENCY`` cycles after its last vector. Expected
values come from the golden model only; one test gives the model a single wrong weight
and checks that exactly that accumulation and column are reported.

Parameters (``TB_PARAMS``): ``lanes``, ``columns``, ``latency``, ``seed`` (also
``cocotb.RANDOM_SEED``; replay a run with ``SEED=<seed>``).
"""

import dataclasses
import time

import cocotb
import numpy as np

from hdl.mac import mac_input_layout, mac_output_layout
from hdl.params import ACC_WIDTH, MacParams, Precision
from sim.golden.simd import pack_lanes, vector_matrix
from sim.tb.common import Scoreboard, drive_stream, pack, reset, unpack
from sim.tb.runner import testbench_params

#: Accumulations in the random tests, and their longest length in vectors.
RANDOM_ACCUMULATIONS = 150
RANDOM_MAX_LENGTH = 9
#: Probability of an idle cycle before a vector, in the test with gaps.
GAP_PROBABILITY = 0.2
#: Probability that an accumulation is abandoned (no ``last``): the next ``first`` clears it.
ABANDON_PROBABILITY = 0.05
#: Most vectors spent on covering every int8 pair in every lane position.
EXHAUSTIVE_INT8_MAX_VECTORS = 8192
#: Accumulations in the test that the checking reports a wrong model.
MUTATION_ACCUMULATIONS = 20


@dataclasses.dataclass
class Vector:
    """One input vector: unpacked activations (K * per_lane,) and weights (N, K * per_lane)."""
    precision: Precision
    activations: np.ndarray
    weights: np.ndarray


def setup(dut):
    """The testbench parameters, the array shape and this test's random generator.

    The generator is seeded with ``cocotb.RANDOM_SEED``, which cocotb derives for each
    test from the run's seed (``tb["seed"]``, what ``SEED`` replays) and the test's name.
    """
    tb = testbench_params()
    dut._log.info("seed %d (replay with SEED=%d); this test's generator seed %d",
                  tb["seed"], tb["seed"], cocotb.RANDOM_SEED)
    return tb, MacParams(tb["lanes"], tb["columns"]), np.random.default_rng(cocotb.RANDOM_SEED)


def random_vector(rng, params, precision):
    elements = params.lanes * precision.values_per_lane
    return Vector(precision, rng.integers(precision.min, precision.max + 1, elements),
                  rng.integers(precision.min, precision.max + 1, (params.columns, elements)))


def exhaustive_vectors(params, precision, *, activation_bases=None):
    """Vectors in which every element position sees every (activation, weight) pair.

    With M values per operand, E elements (K lanes times values per lane) and
    G = ceil(M / N), vector ``v`` sets element ``e`` to activation index
    ``(v // G + e * S) mod M``, S = max(1, M // E), and column ``c``'s weight there to
    ``((v mod G) * N + c + e) mod M`` (indices into the M values, lowest first). For each
    element that is a bijection of the M * G * N >= M * M (vector, column) slots onto the
    pairs, so M * G vectors (M * M / N when N <= M) cover all pairs everywhere.

    ``activation_bases`` keeps only the vectors with ``v // G`` below it: with at least
    ``M // E`` of them (``M * G // E`` vectors), element ``e`` still sees every pair with
    activation index in ``[e * S, e * S + activation_bases)``, and so every pair is still
    seen, in some element position.
    """
    values = np.arange(precision.min, precision.max + 1)
    count = len(values)
    groups = -(-count // params.columns)
    elements = np.arange(params.lanes * precision.values_per_lane)
    stride = max(1, count // len(elements))
    columns = np.arange(params.columns)[:, None]
    vectors = []
    for index in range(groups * min(count, activation_bases or count)):
        activation_base, group = divmod(index, groups)
        activations = values[(activation_base + elements * stride) % count]
        weights = values[(group * params.columns + columns + elements) % count]
        vectors.append(Vector(precision, activations, weights))
    return vectors


async def run_accumulations(dut, tb, params, accumulations, name, *, gaps=None,
                            abandoned=frozenset(), model=None):
    """Drive ``accumulations`` (lists of :class:`Vector`) back to back; return the scoreboard.

    ``gaps[k]`` idle cycles go before vector ``k``; accumulations whose index is in
    ``abandoned`` get no ``last`` and so produce no output. The expected sums come from
    ``sim.golden.simd.vector_matrix`` on ``model`` (by default the vectors driven), due
    ``LATENCY`` cycles after each accumulation's last vector. Returns the
    :class:`~sim.tb.common.Scoreboard`, every output received but not yet checked, and
    the simulated cycles per second of the drive loop.
    """
    input_layout, output_layout = mac_input_layout(params), mac_output_layout(params)
    scoreboard = Scoreboard(f"MAC array {params.lanes}x{params.columns} {name}", tb["seed"])
    model = accumulations if model is None else model
    words, packed_words, sent = [], {}, 0
    for number, (vectors, model_vectors) in enumerate(zip(accumulations, model, strict=True)):
        total = 0
        for index, (vector, model_vector) in enumerate(zip(vectors, model_vectors, strict=True)):
            activations = pack_lanes(vector.activations, vector.precision)
            weights = pack_lanes(vector.weights, vector.precision)
            if model_vector is vector:
                total = vector_matrix(activations, weights, vector.precision, total)
            else:
                total = vector_matrix(pack_lanes(model_vector.activations, model_vector.precision),
                                      pack_lanes(model_vector.weights, model_vector.precision),
                                      model_vector.precision, total)
            last = index == len(vectors) - 1 and number not in abandoned
            key = (vector.precision, activations.tobytes(), weights.tobytes(), index == 0, last)
            if key not in packed_words:
                packed_words[key] = pack(input_layout, {
                    "activations": activations.tolist(), "weights": weights.tolist(),
                    "precision": vector.precision, "first": index == 0, "last": last})
            words += [None] * (int(gaps[sent]) if gaps is not None else 0)
            words.append(packed_words[key])
            sent += 1
        if number not in abandoned:
            precisions = sorted({f"int{vector.precision.bits}" for vector in vectors})
            scoreboard.expect(f"accumulation {number} ({'/'.join(precisions)}, "
                              f"{len(vectors)} vectors)", total,
                              cycle=len(words) - 1 + tb["latency"])

    await reset(dut)
    outputs, rate = await drive_stream(dut, words, drain=tb["latency"] + 2, o_port="o_acc")
    for cycle, word in outputs:
        scoreboard.receive(unpack(output_layout, word), cycle=cycle)
    dut._log.info("%s: %d cycles, %d accumulations compared, %.0f simulated cycles/s",
                  scoreboard.name, len(words), scoreboard.compared, rate)
    return scoreboard, rate


async def check_accumulations(dut, tb, params, accumulations, name, **options):
    """:func:`run_accumulations`, then check every sum; returns the simulated cycles per second."""
    scoreboard, rate = await run_accumulations(dut, tb, params, accumulations, name, **options)
    scoreboard.check()
    return rate


@cocotb.test()
async def every_int4_int2_operand_pair_in_every_position(dut):
    """Every int4 and int2 (activation, weight) pair in every lane and sub-slot."""
    tb, params, _ = setup(dut)
    accumulations = [[vector] for precision in (Precision.INT4, Precision.INT2)
                     for vector in exhaustive_vectors(params, precision)]
    await check_accumulations(dut, tb, params, accumulations, "exhaustive int4/int2")


@cocotb.test()
async def every_int8_operand_pair(dut):
    """Every int8 pair in every lane if that takes at most ``EXHAUSTIVE_INT8_MAX_VECTORS``.

    Otherwise (N < 8) every int8 pair in some lane (see :func:`exhaustive_vectors`).
    Each vector is a one-vector accumulation, and the run logs the simulation speed.
    """
    tb, params, _ = setup(dut)
    int8 = Precision.INT8
    values = int8.max - int8.min + 1
    vectors = exhaustive_vectors(params, int8)
    name = "exhaustive int8, every pair in every lane"
    if len(vectors) > EXHAUSTIVE_INT8_MAX_VECTORS:
        vectors = exhaustive_vectors(params, int8, activation_bases=values // params.lanes)
        name = "exhaustive int8, every pair in some lane"
    started = time.perf_counter()
    rate = await check_accumulations(dut, tb, params, [[vector] for vector in vectors], name)
    dut._log.info("simulation speed, K=%d N=%d: %.0f cycles/s with a new vector every cycle "
                  "(drive loop), %.1f s with packing and checking",
                  params.lanes, params.columns, rate, time.perf_counter() - started)


@cocotb.test()
async def random_int8(dut):
    """Random int8 accumulations of 1 to ``RANDOM_MAX_LENGTH`` vectors, back to back."""
    tb, params, rng = setup(dut)
    accumulations = [[random_vector(rng, params, Precision.INT8)
                      for _ in range(int(rng.integers(1, RANDOM_MAX_LENGTH + 1)))]
                     for _ in range(RANDOM_ACCUMULATIONS)]
    await check_accumulations(dut, tb, params, accumulations, "random int8")


def random_mixed(rng, params):
    """Accumulations of random lengths, each vector at a random precision."""
    return [[random_vector(rng, params, Precision(int(rng.integers(len(Precision)))))
             for _ in range(int(rng.integers(1, RANDOM_MAX_LENGTH + 1)))]
            for _ in range(RANDOM_ACCUMULATIONS)]


@cocotb.test()
async def random_mixed_precision_back_to_back(dut):
    """Random lengths and precisions (changing within an accumulation), no idle cycles."""
    tb, params, rng = setup(dut)
    await check_accumulations(dut, tb, params, random_mixed(rng, params), "random mixed")


@cocotb.test()
async def random_mixed_precision_with_gaps_and_abandoned(dut):
    """As the back-to-back test, with random idle cycles and a few accumulations never ended."""
    tb, params, rng = setup(dut)
    accumulations = random_mixed(rng, params)
    vectors = sum(len(vectors) for vectors in accumulations)
    gaps = rng.geometric(1 - GAP_PROBABILITY, size=vectors) - 1
    abandoned = {index for index in range(len(accumulations) - 1)
                 if rng.random() < ABANDON_PROBABILITY}
    await check_accumulations(dut, tb, params, accumulations, "random mixed with gaps",
                              gaps=gaps, abandoned=abandoned)


@cocotb.test()
async def extremes_and_int32_wrap(dut):
    """-128 x -128 in every lane past INT32_MAX, -128 x 127 past INT32_MIN; every extreme pairing.

    Even columns take weights -128 (column sum +2**14 per lane and vector), odd columns
    127 (-16256): enough vectors that both wrap.
    """
    tb, params, _ = setup(dut)
    int8 = Precision.INT8
    activations = np.full(params.lanes, int8.min)
    weights = np.where(np.arange(params.columns)[:, None] % 2, int8.max, int8.min) \
        * np.ones(params.lanes, dtype=np.int64)
    smallest_step = params.lanes * -int8.min * int8.max
    count = -(-(1 << (ACC_WIDTH - 1)) // smallest_step) + 1
    accumulations = [[Vector(int8, activations, weights)] * count]
    for precision in Precision:
        elements = params.lanes * precision.values_per_lane
        for a in (precision.min, precision.max):
            for w in (precision.min, precision.max):
                accumulations.append([Vector(precision, np.full(elements, a),
                                             np.full((params.columns, elements), w))] * 3)
    await check_accumulations(dut, tb, params, accumulations, "extremes and wrap")


@cocotb.test()
async def a_wrong_model_is_reported(dut):
    """The checking can fail: one weight element off by one in the model, and only there.

    The model sees one random element of one column of one vector of a random int8
    accumulation with its lowest bit flipped (the activation there is nonzero, so the
    sum changes). The scoreboard must report exactly that accumulation and column, with
    the seed, and match every other accumulation.
    """
    tb, params, rng = setup(dut)
    int8 = Precision.INT8
    accumulations = [[random_vector(rng, params, int8)
                      for _ in range(int(rng.integers(1, RANDOM_MAX_LENGTH + 1)))]
                     for _ in range(MUTATION_ACCUMULATIONS)]
    number = int(rng.integers(len(accumulations)))
    index = int(rng.integers(len(accumulations[number])))
    column, element = int(rng.integers(params.columns)), int(rng.integers(params.lanes))
    vector = accumulations[number][index]
    vector.activations[element] = vector.activations[element] or int8.max
    mutated = dataclasses.replace(vector, weights=vector.weights.copy())
    mutated.weights[column, element] ^= 1
    model = [list(vectors) for vectors in accumulations]
    model[number][index] = mutated
    scoreboard, _ = await run_accumulations(dut, tb, params, accumulations, "wrong model",
                                            model=model)
    assert len(scoreboard.errors) == 1 and \
        scoreboard.errors[0].startswith(f"accumulation {number} ") and \
        f", column {column}: expected " in scoreboard.errors[0], \
        f"seed {tb['seed']}: expected one mismatch, accumulation {number} column {column}; " \
        f"got {scoreboard.errors}"
    assert scoreboard.matched == MUTATION_ACCUMULATIONS - 1, f"seed {tb['seed']}"
    try:
        scoreboard.check()
    except AssertionError as error:
        assert f"SEED={tb['seed']}" in str(error) and scoreboard.errors[0] in str(error)
        dut._log.info("reported as expected: %s", scoreboard.errors[0])
    else:
        raise AssertionError(f"seed {tb['seed']}: the scoreboard passed a wrong model")
