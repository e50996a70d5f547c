"""The vector unit in Amaranth's simulator: MAX, SUM and ADD against ``sim.golden``, cycle exact.

Each test builds its stimulus from a seeded numpy generator and its expected outputs
from the golden model: the ADD terms from ``sim.golden.fixedpoint``'s
``multiply_by_quantized_multiplier`` with parameters from ``sim.golden.add.add_params``,
the windows from numpy and ``sim.golden.simd.wrap_int32``. ``run_stream`` returns every
cycle ``o_acc`` was valid, so comparing the whole list checks the values, the exact
``LATENCY`` and that nothing else came out.
"""

import re

import numpy as np
import pytest
from amaranth import Module, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from gen.verilog import to_verilog
from hdl.mac import mac_output_layout
from hdl.params import ACC_WIDTH, LANE_WIDTH, SHIFT_WIDTH, ChipParams, MacParams, Precision
from hdl.vector import (
    ADD_LEFT_SHIFT,
    VectorOp,
    VectorStage,
    VectorUnit,
    vector_input_layout,
    vector_latency,
    vector_settings_layout,
)
from sim.golden.add import ADD_LEFT_SHIFT as GOLDEN_ADD_LEFT_SHIFT
from sim.golden.add import add, add_params
from sim.golden.fixedpoint import INT32_MAX, multiply_by_quantized_multiplier
from sim.golden.simd import wrap_int32
from tests.helpers import run_stream

#: Probability of an idle cycle before an input, where a test asks for gaps.
IDLE_PROBABILITY = 0.3
#: Longest random MAX or SUM window.
MAX_WINDOW = 12
INT8 = Precision.INT8
#: Settings for inputs that do not read them.
NO_SETTINGS = {"a_zero_point": 0, "b_zero_point": 0, "a_multiplier": 0, "a_shift": 0,
               "b_multiplier": 0, "b_shift": 0}


def raw_op_layout(params):
    """:func:`vector_input_layout` with ``op`` as a plain 2-bit field, so that code 3 can be driven."""
    layout = vector_input_layout(params)
    return data.StructLayout({**{name: field.shape for name, field in layout},
                              "op": unsigned(layout["op"].shape.as_shape().width)})


class SettingsPerInput(wiring.Component):
    """A :class:`VectorUnit` whose ``settings`` arrive in the input payload, for ``run_stream``.

    ``i_data.payload`` is ``{"data": <vector input, op as a raw code>, "settings": ...}``.
    """

    def __init__(self, params):
        self.unit = VectorUnit(params)
        super().__init__({
            "i_data": In(stream.Signature(data.StructLayout({
                "data": raw_op_layout(params), "settings": vector_settings_layout()}),
                always_ready=True)),
            "o_acc": Out(stream.Signature(mac_output_layout(params), always_ready=True)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = unit = self.unit
        m.d.comb += [
            unit.i_data.valid.eq(self.i_data.valid),
            unit.i_data.payload.as_value().eq(self.i_data.payload.data.as_value()),
            unit.settings.eq(self.i_data.payload.settings),
            self.o_acc.valid.eq(unit.o_acc.valid),
            self.o_acc.payload.eq(unit.o_acc.payload),
        ]
        return m


def run(params, inputs):
    """``run_stream`` over ``inputs`` (payloads of :class:`SettingsPerInput` or ``None``)."""
    return run_stream(SettingsPerInput(params), inputs, o_port="o_acc", drain=vector_latency(params) + 2)


def vector_input(op, a, b=None, *, first=True, last=True, settings=NO_SETTINGS):
    b = np.zeros_like(a) if b is None else b
    return {"data": {"a": [int(x) for x in a], "b": [int(x) for x in b], "op": op.value,
                     "first": int(first), "last": int(last)},
            "settings": settings}


def add_terms(a, b, settings):
    """The golden ``a_scaled + b_scaled`` of ``sim.golden.add.add`` (int64, before the output rescale)."""
    def scaled(x, operand):
        difference = np.asarray(x, dtype=np.int64) - settings[f"{operand}_zero_point"]
        return multiply_by_quantized_multiplier(difference << GOLDEN_ADD_LEFT_SHIFT,
                                                settings[f"{operand}_multiplier"],
                                                settings[f"{operand}_shift"]).astype(np.int64)
    return (scaled(a, "a") + scaled(b, "b")).tolist()


def test_add_terms_are_the_golden_add_before_its_output_rescale(seed=12, count=200):
    """The model above, rescaled, offset and clamped, is ``sim.golden.add.add`` itself."""
    rng = np.random.default_rng(seed)
    a, b = random_values(rng, count).astype(np.int8), random_values(rng, count).astype(np.int8)
    a_scale, b_scale, y_scale = 10.0 ** rng.uniform(-3, -1, 3)
    a_zero_point, b_zero_point, y_zero_point = random_values(rng, 3).tolist()
    p = add_params(a_scale=a_scale, b_scale=b_scale, y_scale=y_scale)
    terms = add_terms(a, b, {"a_zero_point": a_zero_point, "b_zero_point": b_zero_point,
                             "a_multiplier": p.a_multiplier, "a_shift": p.a_shift,
                             "b_multiplier": p.b_multiplier, "b_shift": p.b_shift})
    y = multiply_by_quantized_multiplier(terms, p.y_multiplier, p.y_shift).astype(np.int64)
    expected = add(a, b, a_scale=a_scale, a_zp=a_zero_point, b_scale=b_scale, b_zp=b_zero_point,
                   y_scale=y_scale, y_zp=y_zero_point)
    assert (np.clip(y + y_zero_point, INT8.min, INT8.max) == expected).all(), f"seed {seed}"


def random_settings(rng):
    """Zero points and the multipliers and shifts ``add_params`` derives from random scales."""
    a_scale, b_scale, y_scale = 10.0 ** rng.uniform(-3, -1, 3)
    p = add_params(a_scale=a_scale, b_scale=b_scale, y_scale=y_scale)
    a_zero_point, b_zero_point = rng.integers(INT8.min, INT8.max, 2, endpoint=True).tolist()
    return {"a_zero_point": a_zero_point, "b_zero_point": b_zero_point,
            "a_multiplier": p.a_multiplier, "a_shift": p.a_shift,
            "b_multiplier": p.b_multiplier, "b_shift": p.b_shift}


def random_values(rng, count, precision=INT8):
    return rng.integers(precision.min, precision.max, count, endpoint=True)


class Program:
    """Inputs for the unit and the outputs the golden model expects, ``[(cycle, values)]``."""

    def __init__(self, rng, params, idle_probability=0.0):
        self.rng, self.columns, self.idle_probability = rng, params.columns, idle_probability
        self.interval, self.latency = params.tile_interval, vector_latency(params)
        self.inputs, self.expected = [], []
        self._last_add = self._settings = None

    def _append(self, payload, expected=None):
        if self.rng.random() < self.idle_probability:
            self.inputs.append(None)
        if self._last_add is not None and payload["settings"] != self._settings:
            # The settings hold until the last ADD's results are out.
            self.inputs += [None] * max(0, self._last_add + self.latency - len(self.inputs))
        self._settings = payload["settings"]
        if payload["data"]["op"] not in (VectorOp.MAX.value, VectorOp.SUM.value):
            # An ADD comes at least tile_interval cycles after the one before.
            if self._last_add is not None:
                self.inputs += [None] * max(0, self._last_add + self.interval - len(self.inputs))
            self._last_add = len(self.inputs)
        self.inputs.append(payload)
        if expected is not None:
            self.expected.append((len(self.inputs) - 1 + self.latency, expected))

    def add(self, a=None, b=None, settings=None):
        a = random_values(self.rng, self.columns) if a is None else np.asarray(a)
        b = random_values(self.rng, self.columns) if b is None else np.asarray(b)
        settings = random_settings(self.rng) if settings is None else settings
        self._append(vector_input(VectorOp.ADD, a, b, settings=settings), add_terms(a, b, settings))

    def window(self, op, values=None, length=None):
        """A MAX or SUM window over the rows of ``values`` (random ones of ``length`` if None).

        ``b`` and the settings are random: the unit must ignore them.
        """
        if values is None:
            precision = Precision(self.rng.integers(len(Precision)))
            values = random_values(self.rng, (length, self.columns), precision)
        values = np.asarray(values, dtype=np.int64)
        result = values.max(axis=0) if op == VectorOp.MAX else wrap_int32(values.sum(axis=0))
        for index, row in enumerate(values):
            last = index == len(values) - 1
            self._append(vector_input(op, row, random_values(self.rng, self.columns),
                                      first=index == 0, last=last,
                                      settings=random_settings(self.rng)),
                         result.tolist() if last else None)

    def random_op(self):
        op = VectorOp(self.rng.integers(len(VectorOp)))
        if op == VectorOp.ADD:
            self.add()
        else:
            self.window(op, length=int(self.rng.integers(1, MAX_WINDOW, endpoint=True)))

    def check(self, params, seed):
        assert self.expected, "nothing to check"
        assert run(params, self.inputs) == self.expected, f"seed {seed}"


#: The all-column units, ones rescaling fewer columns a cycle, and ones rescaling an ADD's
#: two operands in turn (one of them delaying the MAX/SUM operands in a memory).
SLICED = [MacParams(4, 4), MacParams(4, 8), MacParams(4, 8, requantize_columns=2),
          MacParams(4, 4, requantize_columns=1),
          MacParams(4, 2, multiply_stages=2, requantize_columns=1, rescale_cycles=2, delay_memory=True),
          MacParams(4, 4, multiply_stages=2, rescale_cycles=2)]


def _name(params):
    memory = "m" if params.delay_memory else ""
    return f"{params.columns}c{params.requantize_columns}r{params.rescale_cycles}x{memory}"


@pytest.mark.parametrize("params", SLICED, ids=_name)
@pytest.mark.parametrize("seed", [1, 2])
def test_add_matches_golden(params, seed, operations=40):
    """Random inputs, zero points and scales: four ADDs with one settings back to back (one
    every ``tile_interval`` cycles), the next four's settings after their results (the
    settings are held until then)."""
    program = Program(np.random.default_rng(seed), params)
    for index in range(operations):
        if index % 4 == 0:
            settings = random_settings(program.rng)
        program.add(settings=settings)
    program.check(params, seed)


ADD_CORNER_ZERO_POINTS = [(127, -128), (-128, 127), (127, 127), (-128, -128), (0, 0), (-1, 1)]
ADD_CORNER_MULTIPLIERS = [(INT32_MAX, 1 << 30), (1 << 30, INT32_MAX), (INT32_MAX, INT32_MAX),
                          (1 << 30, 1 << 30)]
ADD_CORNER_SHIFTS = [(-31, 0), (0, -31), (0, 0), (-31, -31), (-1, -20)]


def test_add_corners():
    """a = -128 against zero point 127, b = 127 against -128, the extreme multipliers and shifts."""
    params = MacParams(4, 4)
    program = Program(np.random.default_rng(3), params)
    a, b = [-128, 127, -128, 127], [127, -128, -128, 127]
    for a_zero_point, b_zero_point in ADD_CORNER_ZERO_POINTS:
        for a_multiplier, b_multiplier in ADD_CORNER_MULTIPLIERS:
            for a_shift, b_shift in ADD_CORNER_SHIFTS:
                program.add(a, b, {"a_zero_point": a_zero_point, "b_zero_point": b_zero_point,
                                   "a_multiplier": a_multiplier, "a_shift": a_shift,
                                   "b_multiplier": b_multiplier, "b_shift": b_shift})
    # The widest sums: twice (+-255 << 20) times INT32_MAX / 2**31, both ways.
    sums = [value for _, values in program.expected for value in values]
    assert (min(sums), max(sums)) == (-255 << 21, 255 << 21)
    program.check(params, 3)


@pytest.mark.parametrize("op", [VectorOp.MAX, VectorOp.SUM])
@pytest.mark.parametrize("seed", [4, 5])
def test_windows_with_gaps(op, seed, windows=12):
    """Windows of 1 to ``MAX_WINDOW`` inputs at every precision, idle cycles between inputs."""
    params = MacParams(4, 4)
    program = Program(np.random.default_rng(seed), params, IDLE_PROBABILITY)
    for _ in range(windows):
        program.window(op, length=int(program.rng.integers(1, MAX_WINDOW, endpoint=True)))
    program.check(params, seed)


@pytest.mark.parametrize("params", SLICED[1:], ids=_name)
@pytest.mark.parametrize("idle_probability", [0.0, IDLE_PROBABILITY])
@pytest.mark.parametrize("seed", [6, 7])
def test_mixed_ops(params, idle_probability, seed, operations=30):
    """Random MAX and SUM windows and ADDs, back to back or with idle cycles (the ADDs
    ``tile_interval`` cycles apart)."""
    program = Program(np.random.default_rng(seed), params, idle_probability)
    for _ in range(operations):
        program.random_op()
    assert len(program.expected) == operations
    program.check(params, seed)


def test_window_extremes():
    """MAX of -128s sign-extends; single-input windows; a max reached last; an all-equal window."""
    params = MacParams(4, 4)
    program = Program(np.random.default_rng(8), params)
    program.window(VectorOp.SUM, [[127, 127, -128, 1]] * 3)
    program.window(VectorOp.MAX, [[-128] * 4] * 2)
    program.window(VectorOp.MAX, [[127, -128, 0, -1]])
    program.window(VectorOp.MAX, [[-5, -128, 0, 3], [-4, -127, 1, 127]])
    program.window(VectorOp.SUM, [[-128, 127, 0, -1]])
    program.window(VectorOp.SUM, [[-128, 127, 0, -1], [-128, 127, 0, 1]])
    program.check(params, 8)


def test_long_sums(length=600):
    """Sums far beyond int16: ``length`` x -128, x 127, and random values, one window each."""
    params = MacParams(4, 4)
    rng = np.random.default_rng(9)
    program = Program(rng, params)
    program.window(VectorOp.SUM, np.full((length, 4), INT8.min))
    program.window(VectorOp.SUM, np.full((length, 4), INT8.max))
    program.window(VectorOp.SUM, random_values(rng, (length, 4)))
    assert program.expected[0][1] == [length * INT8.min] * 4 and length * INT8.max > 1 << 16
    program.check(params, 9)


def test_restart_and_silent_inputs():
    """Inputs without ``last`` emit nothing; ``first`` discards an unfinished window."""
    params = MacParams(4, 4)
    program = Program(np.random.default_rng(10), params)
    program.inputs.append(vector_input(VectorOp.SUM, [100, 100, 100, 100], last=False))
    program.inputs.append(vector_input(VectorOp.ADD, [1, 2, 3, 4], last=False,
                                       settings=random_settings(program.rng)))
    program.inputs.append(vector_input(VectorOp.MAX, [126, 126, 126, 126], last=False))
    program.window(VectorOp.MAX, [[-3, -2, -1, 0], [-4, -5, -6, 7]])
    program.inputs.append(vector_input(VectorOp.SUM, [9, 9, 9, 9], first=False, last=False))
    program.window(VectorOp.SUM, [[1, 2, 3, 4], [1, 1, 1, 1]])
    program.inputs += [None] * 3
    program.add()
    program.check(params, 10)


def test_op_code_3_acts_as_add(seed=11):
    params = MacParams(4, 4)
    program = Program(np.random.default_rng(seed), params)
    for _ in range(4):
        program.add()
        program.inputs[-1]["data"]["op"] = 3
    program.check(params, seed)


def test_latency():
    """One register per stage, for every lanes and columns (the class's an ``int``), and
    ``tile_interval - 1`` more with fewer columns rescaled a cycle."""
    assert VectorUnit.LATENCY == len(VectorStage) == max(VectorStage) == 5
    assert VectorUnit(MacParams(4, 4)).LATENCY == VectorUnit(MacParams(32, 32)).LATENCY == 5
    assert type(VectorUnit.LATENCY) is int
    assert VectorUnit(MacParams(4, 8, requantize_columns=2)).LATENCY == vector_latency(
        MacParams(4, 8, requantize_columns=2)) == 5 + 3
    two_cycles = MacParams(4, 2, multiply_stages=2, requantize_columns=1, rescale_cycles=2)
    assert VectorUnit(two_cycles).LATENCY == 5 + 3


def test_add_left_shift_is_the_golden_one():
    assert ADD_LEFT_SHIFT == GOLDEN_ADD_LEFT_SHIFT


def test_signature():
    params = MacParams(8, 4)
    lane = signed(LANE_WIDTH)
    input_layout = data.StructLayout({"a": data.ArrayLayout(lane, 4), "b": data.ArrayLayout(lane, 4),
                                      "op": VectorOp, "first": 1, "last": 1})
    settings_layout = data.StructLayout({
        "a_zero_point": lane, "b_zero_point": lane,
        "a_multiplier": signed(ACC_WIDTH), "a_shift": signed(SHIFT_WIDTH),
        "b_multiplier": signed(ACC_WIDTH), "b_shift": signed(SHIFT_WIDTH)})
    assert VectorUnit(params).signature.members == wiring.SignatureMembers({
        "i_data": In(stream.Signature(input_layout, always_ready=True)),
        "settings": In(settings_layout),
        "o_acc": Out(stream.Signature(data.ArrayLayout(signed(ACC_WIDTH), 4), always_ready=True)),
    })
    assert vector_input_layout(params) == input_layout
    assert vector_settings_layout() == settings_layout
    assert mac_output_layout(params) == data.ArrayLayout(signed(ACC_WIDTH), 4)
    assert [(op.name, op.value) for op in VectorOp] == [("MAX", 0), ("SUM", 1), ("ADD", 2)]


@pytest.mark.parametrize("params", [8, None, (4, 4), ChipParams()])
def test_params_wrong(params):
    with pytest.raises(TypeError, match=rf"^VectorUnit params must be a MacParams, "
                                        rf"not {re.escape(repr(params))}$"):
        VectorUnit(params)


def test_verilog_is_deterministic():
    first = to_verilog(VectorUnit(MacParams(4, 4)), "np_vector")
    assert first == to_verilog(VectorUnit(MacParams(4, 4)), "np_vector")
    assert first != to_verilog(VectorUnit(MacParams(4, 8)), "np_vector")
