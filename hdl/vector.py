"""The vector unit: element-wise MAX, SUM and quantized ADD, the non-MAC half of the compute path.

Its output has the shape of :class:`~hdl.mac.MacArray`'s ``o_acc`` (N int32 values) and
feeds the same :class:`~hdl.requantize.Requantizer`. The ADD path reuses the requantizer's
combinational stage functions (``multiply``, ``high_mul``, ``rounding_divide_by_pot``);
:class:`VectorUnit` registers their results, one :class:`VectorStage` per cycle.
"""

import enum

from amaranth import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib import enum as hdl_enum
from amaranth.lib.wiring import In, Out

from .mac import mac_output_layout
from .params import ACC_WIDTH, LANE_WIDTH, SHIFT_WIDTH, MacParams, Rounding
from .pipeline import delay, delay_memory, gather, phase, register, slices
from .requantize import high_mul, multiply, pot_divisor, rounding_divide_by_pot

__all__ = ["VectorOp", "VectorStage", "VectorUnit", "vector_input_layout", "vector_settings_layout",
           "vector_latency", "ADD_LEFT_SHIFT"]

#: Headroom shift of LiteRT's int8 ADD inputs, ``sim.golden.add.ADD_LEFT_SHIFT`` (tested equal;
#: hdl/ does not import the golden model).
ADD_LEFT_SHIFT = 20


class VectorOp(hdl_enum.Enum, shape=2):
    """Operation of one vector-unit input; the unused code 3 acts as ``ADD``."""
    MAX = 0     #: running per-column maximum over a window, ``first`` to ``last``
    SUM = 1     #: running per-column int32 sum over a window
    ADD = 2     #: LiteRT's int8 ADD up to the output rescale, element by element


class VectorStage(enum.IntEnum):
    """The vector unit's pipeline stages, numbered by the cycle at whose end each registers.

    A value used by stage ``s`` reaches it delayed ``s - 1`` cycles.
    """
    OPERAND = 1     #: ``x - zero_point`` (9-bit signed) and the multiplier, off the SRAM read path
    MULTIPLY = 2    #: ``(x - zero_point) * multiplier``, 9 x 32 -> 41-bit signed product
    HIGH_MUL = 3    #: ``SaturatingRoundingDoublingHighMul`` of ``product << ADD_LEFT_SHIFT``
    DIVIDE = 4      #: ``RoundingDivideByPOT(x, -shift)``
    OUTPUT = 5      #: ``a_scaled + b_scaled``, or the running max or sum, into ``o_acc``


def vector_latency(params):
    """:attr:`VectorUnit.LATENCY` for :class:`~hdl.params.MacParams` ``params``: one cycle per
    :class:`VectorStage`, and ``tile_interval - 1`` more for the ADD's columns rescaled after
    the first ``requantize_columns``, for every operation."""
    return len(VectorStage) + params.tile_interval - 1


def vector_input_layout(params):
    """Layout of one vector-unit input: ``a`` and ``b`` (N x signed(8)), ``op``, ``first``, ``last``."""
    lane = signed(LANE_WIDTH)
    return data.StructLayout({
        "a": data.ArrayLayout(lane, params.columns),
        "b": data.ArrayLayout(lane, params.columns),
        "op": VectorOp,
        "first": 1,
        "last": 1,
    })


def vector_settings_layout():
    """Layout of the per-layer ADD parameters (``sim.golden.add.add_params`` plus zero points).

    ``a_zero_point``, ``b_zero_point`` (signed(8)); ``a_multiplier``, ``b_multiplier``
    (signed(32), Q0.31); ``a_shift``, ``b_shift`` (signed(``SHIFT_WIDTH``)).
    """
    return data.StructLayout({
        "a_zero_point": signed(LANE_WIDTH),
        "b_zero_point": signed(LANE_WIDTH),
        "a_multiplier": signed(ACC_WIDTH),
        "a_shift": signed(SHIFT_WIDTH),
        "b_multiplier": signed(ACC_WIDTH),
        "b_shift": signed(SHIFT_WIDTH),
    })


class VectorUnit(wiring.Component):
    """Element-wise MAX, SUM and the rescaling half of LiteRT's int8 ADD, into N int32 values.

    Each input carries two vectors ``a`` and ``b`` of N int8 values (int4 and int2
    values arrive unpacked, sign-extended to 8 bits) and an operation. Per column ``i``:

    - ``MAX``: ``acc[i] = a[i] if first else max(acc[i], a[i])`` (``b`` is ignored);
    - ``SUM``: ``acc[i] = a[i] if first else wrap32(acc[i] + a[i])`` (``b`` is ignored);
    - ``ADD``: with ``MBQM`` TFLite's double-rounding ``MultiplyByQuantizedMultiplier``
      and ``ADD_LEFT_SHIFT = 20``::

          acc[i] = MBQM((a[i] - a_zero_point) << 20, a_multiplier, a_shift)
                 + MBQM((b[i] - b_zero_point) << 20, b_multiplier, b_shift)

      the first two thirds of ``sim.golden.add.add``; the requantizer does the output
      rescale, zero point and clamp. Each ADD input should set both ``first`` and ``last``.

    An input with ``last`` emits the N accumulators on ``o_acc``; inputs without it emit
    nothing. A MAX or SUM window runs from an input with ``first`` to one with ``last``;
    idle cycles inside it change nothing, but an ADD input inside it replaces the
    accumulators (a new ``first`` restarts the window).

    The ADD parameters come from ``settings``, which must hold from an ADD input's cycle
    until its results are on ``o_acc``, ``LATENCY`` cycles later (the core's sequencer keeps
    an instruction until its last result is written); MAX and SUM ignore them.
    A shift must lie in [``MIN_SHIFT``, 0] (-31 to 0, as ``add_params`` gives); a positive
    shift acts as 0 and the code -32 gives unspecified results. The sums cannot overflow:
    each scaled term is below ``255 * 2**20`` in magnitude.

    Fully pipelined: one input per cycle, never stalls, the same timing for every operation
    and value, one register per :class:`VectorStage` (subtract the zero point; multiply;
    rounding high half; rounding right shift; add the two terms, or max or sum into the
    accumulators). The accumulators drive ``o_acc`` directly: its payload holds between
    outputs but is only meaningful while valid.

    With ``params.requantize_columns`` R below N, the ADD's stages are built for R columns
    and an ADD input takes ``tile_interval`` = N / R cycles, R columns a cycle, from
    registers that hold its operands and settings; every operation then takes
    ``tile_interval - 1`` cycles more, so that its result still replaces the accumulators in
    one cycle. An ADD input must come at least ``tile_interval`` cycles after the one
    before (the sequencer spaces its tiles so); MAX and SUM inputs may come every cycle.
    With ``params.rescale_cycles = 2`` one pipeline rescales each slice's ``a`` columns in
    its first cycle and its ``b`` columns in its second, on half the multipliers, and
    ``tile_interval`` doubles.

    Parameters
    ----------
    params : MacParams
        N = ``params.columns`` values per vector; ``requantize_columns``, ``rescale_cycles``.

    Attributes
    ----------
    i_data : In(stream.Signature(vector_input_layout(params), always_ready=True))
        ``a``, ``b`` : ``ArrayLayout(signed(8), N)``; ``op`` : :class:`VectorOp` (2 bits);
        ``first`` : 1 and ``last`` : 1. Sampled when ``valid``.
    settings : In(vector_settings_layout())
        ``a_zero_point``, ``b_zero_point`` (signed(8)), ``a_multiplier``, ``b_multiplier``
        (signed(32)), ``a_shift``, ``b_shift`` (signed(6)); only ``ADD`` reads them.
    o_acc : Out(stream.Signature(data.ArrayLayout(signed(32), N), always_ready=True))
        The N results of a window or an ADD, valid for one cycle, ``LATENCY`` cycles after
        the input with ``last``; the same layout as ``MacArray.o_acc``.
    LATENCY : int
        Cycles from an input with ``last`` (sampled at the end of cycle t) to its
        ``o_acc.valid`` (cycle t + LATENCY), for every operation: one per
        :class:`VectorStage`, 5, and ``tile_interval - 1`` more (:func:`vector_latency`). The
        class's is the all-column unit's.
    """

    LATENCY = len(VectorStage)

    def __init__(self, params):
        if not isinstance(params, MacParams):
            raise TypeError(f"VectorUnit params must be a MacParams, not {params!r}")
        self._params = params
        self.LATENCY = vector_latency(params)
        super().__init__({
            "i_data": In(stream.Signature(vector_input_layout(params), always_ready=True)),
            "settings": In(vector_settings_layout()),
            "o_acc": Out(stream.Signature(mac_output_layout(params), always_ready=True)),
        })

    @property
    def params(self):
        """The :class:`MacParams` the unit was built with."""
        return self._params

    def _slices(self, m):
        """The ADD operands, ``requantize_columns`` columns for ``rescale_cycles`` cycles each,
        as :meth:`hdl.requantize.Requantizer._slices` takes them, and the settings, which are
        held: ``(a, b, settings, phase)`` (with one cycle a tile, ``i_data``'s and ``settings``
        themselves)."""
        params = self._params
        width, interval = params.requantize_columns, params.tile_interval
        payload = self.i_data.payload
        adds = self.i_data.valid & (payload.op != VectorOp.MAX) & (payload.op != VectorOp.SUM)
        if interval == 1:
            return payload.a, payload.b, self.settings, Const(0)
        cycle = phase(m, adds, params.rescale_cycles, "phase")
        advance = None if params.rescale_cycles == 1 else cycle == params.rescale_cycles - 1
        lane = signed(LANE_WIDTH)
        sliced = {name: Signal(data.ArrayLayout(lane, width), name=f"{name}_slice") for name in ("a", "b")}
        for name in ("a", "b"):
            m.d.comb += sliced[name].eq(slices(m, payload[name], adds, width * LANE_WIDTH, f"{name}_held",
                                               advance))
        return sliced["a"], sliced["b"], self.settings, cycle

    def _scaled(self, m, operand, values, zero_point, multiplier, shift):
        """``MBQM((x - zero_point) << ADD_LEFT_SHIFT, multiplier, shift)`` of each of ``values``,
        one :class:`VectorStage` a cycle; ``operand`` names the registers.

        The multiplier sees the 9-bit difference and the product is shifted instead:
        the same 64-bit product, with a 9 x 32 multiply. ``multiply``'s overflow flag is
        then constant 0, as it is for the shifted value (its magnitude is below 2**28).
        """
        multiplier = register(m, multiplier, f"{operand}_multiplier")
        shift = delay(m, shift, VectorStage.DIVIDE - 2, f"{operand}_shift")
        exponent, mask = (register(m, value, f"{operand}_{name}")
                          for value, name in zip(pot_divisor(shift), ("exponent", "mask")))
        scaled = []
        for column in range(len(values)):
            name = f"{operand}_{column}"
            difference = register(m, values[column] - zero_point, f"difference_{name}")
            product, overflow = multiply(difference, multiplier)
            product = register(m, product, f"product_{name}")
            overflow = register(m, overflow, f"overflow_{name}")
            high = register(m, high_mul(product << ADD_LEFT_SHIFT, overflow), f"high_{name}")
            scaled.append(register(m, rounding_divide_by_pot(high, exponent, mask, Rounding.DOUBLE),
                                    f"scaled_{name}"))
        return scaled

    def _added(self, m, a, b, settings, cycle):
        """The ADD's sums of the two scaled terms, one slice of columns each, in the cycle its
        last term leaves :meth:`_scaled` (the cycle of ``VectorStage.OUTPUT``): with one cycle
        a slice, two pipelines' terms; with two, one pipeline's, ``a`` in the slice's first
        cycle and ``b`` in its second, and ``a``'s term waits a cycle in a register."""
        def operand(name):
            return [settings[f"{name}_{field}"] for field in ("zero_point", "multiplier", "shift")]

        if self._params.rescale_cycles == 1:
            return [a_term + b_term for a_term, b_term in zip(self._scaled(m, "a", a, *operand("a")),
                                                             self._scaled(m, "b", b, *operand("b")))]
        second = cycle == 1
        values = [Mux(second, b_value, a_value) for a_value, b_value in zip(a, b)]
        chosen = [Mux(second, b_field, a_field) for a_field, b_field in zip(operand("a"), operand("b"))]
        terms = self._scaled(m, "operand", values, *chosen)
        return [register(m, term, f"a_term_{column}") + term for column, term in enumerate(terms)]

    def _accumulate(self, m, column, value, added, op, first):
        """Register ``o_acc.payload[column]`` for one valid input: ADD result, max or sum.

        One adder serves the sum and the maximum: ``acc + value`` for ``SUM``, ``acc -
        value`` (exact, 33 bits) for ``MAX``, whose sign says whether ``value`` is larger."""
        acc = self.o_acc.payload[column]
        total = acc + Mux(op == VectorOp.SUM, value, -value)
        maximum = Mux(total < 0, value, acc)
        summed = total[:ACC_WIDTH].as_signed()
        with m.Switch(op):
            with m.Case(VectorOp.MAX):
                m.d.sync += acc.eq(Mux(first, value, maximum))
            with m.Case(VectorOp.SUM):
                m.d.sync += acc.eq(Mux(first, value, summed))
            with m.Default():
                m.d.sync += acc.eq(added[:ACC_WIDTH].as_signed())

    def elaborate(self, platform):
        m = Module()
        payload = self.i_data.payload
        a, b, settings, cycle = self._slices(m)
        added = self._added(m, a, b, settings, cycle)

        # Control and the MAX/SUM operand travel alongside the ADD path to the output stage,
        # and past its slices after the first; the operand in a memory with
        # ``params.delay_memory``.
        cycles = VectorStage.OUTPUT - 1 + self._params.tile_interval - 1
        valid = delay(m, self.i_data.valid, cycles, "valid", reset_less=False)
        if self._params.delay_memory:
            values = delay_memory(m, payload.a, cycles, "a")
        else:
            values = delay(m, payload.a, cycles, "a")
        op = delay(m, payload.op, cycles, "op")
        first = delay(m, payload.first, cycles, "first")
        last = delay(m, payload.last, cycles, "last")

        if self._params.tile_interval > 1:
            # The ADD's earlier slices wait in a register that shifts one slice down a cycle.
            last_cycle = delay(m, cycle, VectorStage.OUTPUT - 1, "phase") == self._params.rescale_cycles - 1
            whole = gather(m, Cat(value[:ACC_WIDTH] for value in added), self._params.rescale_slices,
                           "earlier", last_cycle)
            added = [whole[column * ACC_WIDTH:(column + 1) * ACC_WIDTH]
                     for column in range(self._params.columns)]
        with m.If(valid):
            for column in range(self._params.columns):
                self._accumulate(m, column, values[column], added[column], op, first)
        m.d.sync += self.o_acc.valid.eq(valid & last)
        return m
