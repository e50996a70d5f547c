"""The requantize unit: int32 column sums to packed int8/int4/int2 activations.

Each pipeline stage is a small combinational function of Amaranth values (``bias_add``,
``left_shift``, ``multiply``, ``high_mul``, ``single_rounding``,
``rounding_divide_by_pot``, ``clamp``, ``pack_results``); :class:`Requantizer` registers
their results, one stage per cycle, and delays each per-column setting to the stage that
uses it; the per-layer settings are held by their source.
"""

import enum

from amaranth import Cat, Const, Module, Mux, Shape, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .params import ACC_WIDTH, LANE_WIDTH, SHIFT_WIDTH, MacParams, Precision, Rounding
from .pipeline import gather, phase, register, slice_index, slices

__all__ = ["Requantizer", "Stage", "requantize_latency", "partial_products", "half_products",
           "sum_partial_products", "shared_dividend", "shared_divisor", "shared_divide", "nudged_shift",
           "requantize_settings_layout", "requantize_input_layout",
           "requantize_output_layout", "packed_bytes"]

INT32_MIN = -(1 << (ACC_WIDTH - 1))
INT32_MAX = (1 << (ACC_WIDTH - 1)) - 1
#: Fraction bits of a quantized multiplier (TFLite's Q0.31): the high half is ``product / 2**31``.
MULTIPLIER_FRACTION_BITS = ACC_WIDTH - 1


class Stage(enum.IntEnum):
    """The requantizer's pipeline stages, numbered by the cycle at whose end each registers.

    A setting used by stage ``s`` reaches it delayed ``s - 1`` cycles.
    """
    BIAS_ADD = 1        #: ``wrap32(acc + bias)``
    LEFT_SHIFT = 2      #: ``wrap32(x << max(shift, 0))`` (double rounding only)
    MULTIPLY = 3        #: 32 x 32 -> 64-bit signed product, and the saturation flag
    HIGH_MUL = 4        #: rounded, saturated high half (or the whole single rounding)
    DIVIDE = 5          #: ``RoundingDivideByPOT(x, max(-shift, 0))`` (double rounding only)
    OUTPUT = 6          #: zero point, clamp and lane packing


#: The per-column fields of a requantize-unit input, and each one's element shape.
COLUMN_FIELDS = {"acc": signed(ACC_WIDTH), "bias": signed(ACC_WIDTH), "multiplier": signed(ACC_WIDTH),
                 "shift": signed(SHIFT_WIDTH)}


#: The per-layer fields of a requantize-unit input, and each one's shape.
LAYER_FIELDS = {"zero_point": signed(LANE_WIDTH), "clamp_min": signed(LANE_WIDTH),
                "clamp_max": signed(LANE_WIDTH), "precision": Precision, "rounding": Rounding}


def _settings_fields(columns):
    return {
        **{name: data.ArrayLayout(shape, columns)
           for name, shape in COLUMN_FIELDS.items() if name != "acc"},
        **LAYER_FIELDS,
    }


def requantize_settings_layout(columns):
    """Layout of the requantization settings of one output tile: all but the accumulators.

    Per column: ``bias``, ``multiplier`` (32 bits each) and ``shift`` (``SHIFT_WIDTH``
    bits); per layer: ``zero_point``, ``clamp_min``, ``clamp_max`` (8 bits each),
    ``precision`` (2 bits) and ``rounding`` (1 bit).
    """
    return data.StructLayout(_settings_fields(columns))


def _input_layout(columns):
    return data.StructLayout({"acc": data.ArrayLayout(signed(ACC_WIDTH), columns),
                              **_settings_fields(columns)})


def requantize_input_layout(params):
    """Layout of one requantize-unit input vector: ``acc`` (N x 32 bits) plus the settings fields."""
    return _input_layout(params.columns)


def requantize_output_layout(params):
    """Layout of one packed output vector: N bytes."""
    return data.ArrayLayout(unsigned(LANE_WIDTH), params.columns)


def packed_bytes(params, precision):
    """Bytes of an output vector that hold results at ``precision``: ``N * bits / 8``.

    N for int8, N/2 for int4, N/4 for int2; the remaining bytes of the N are zero.
    """
    return params.columns * Precision(precision).bits // LANE_WIDTH


def bias_add(acc, bias):
    """``acc + bias`` wrapped to int32, as TFLite's int32 addition does."""
    return (acc + bias)[:ACC_WIDTH].as_signed()


def left_shift(x, shift, rounding):
    """``x * 2**max(shift, 0)`` wrapped to int32 (TFLite's ``x * (1 << left_shift)``).

    The single rounding applies the whole shift later, so it passes ``x`` unchanged.
    """
    amount = Mux(shift > 0, shift, 0)[:SHIFT_WIDTH - 1]
    return Mux(rounding == Rounding.SINGLE, x, (x << amount)[:ACC_WIDTH].as_signed())


def multiply(x, multiplier):
    """The exact 64-bit product (a plain signed multiply, for DSP inference) and its overflow flag.

    The flag marks ``INT32_MIN * INT32_MIN``, the one product whose doubled high half
    leaves int32.
    """
    return x * multiplier, (x == INT32_MIN) & (multiplier == INT32_MIN)


#: Bits of the halves a split multiply (``MacParams.multiply_stages = 2``) takes apart.
HALF_WIDTH = ACC_WIDTH // 2


def partial_products(x, multiplier):
    """``x * multiplier`` as the four products of their 16-bit halves, each within one DSP
    block: ``(high x high, high x low, low x high, low x low)``, the high halves signed and
    the low ones unsigned."""
    x_high, x_low = x[HALF_WIDTH:].as_signed(), x[:HALF_WIDTH]
    m_high, m_low = multiplier[HALF_WIDTH:].as_signed(), multiplier[:HALF_WIDTH]
    return x_high * m_high, x_high * m_low, x_low * m_high, x_low * m_low


def half_products(x, multiplier, high):
    """``x`` times one 16-bit half of ``multiplier``, as two products each within one DSP
    block: ``(x high x half, x low x half)``. The half is the low one, or the high one if
    ``high``, unsigned either way, so that each block keeps its operands' signedness from
    one half to the next: with the products of the other half, :func:`sum_partial_products`
    gives ``x * unsigned(multiplier)``, and ``x * multiplier`` if ``x`` is taken from the
    high half's high product when the multiplier is negative (``x * 2**32`` less)."""
    x_high, x_low = x[HALF_WIDTH:].as_signed(), x[:HALF_WIDTH]
    half = Mux(high, multiplier[HALF_WIDTH:], multiplier[:HALF_WIDTH])
    return x_high * half, x_low * half


def sum_partial_products(high, high_low, low_high, low):
    """The exact 64-bit product from :func:`partial_products`'s four."""
    total = (high << ACC_WIDTH) + ((high_low + low_high) << HALF_WIDTH) + low
    return total[:2 * ACC_WIDTH].as_signed()


def requantize_latency(params):
    """:attr:`Requantizer.LATENCY` for :class:`~hdl.params.MacParams` ``params``: one cycle
    per :class:`Stage` (but ``LEFT_SHIFT`` with ``scales_below_one``), one more when the
    multiply takes two stages, and ``tile_interval - 1`` more for the columns rescaled after
    the first ``requantize_columns``."""
    return len(Stage) - params.scales_below_one + params.multiply_stages - 1 + params.tile_interval - 1


def high_mul(product, overflow):
    """gemmlowp's ``SaturatingRoundingDoublingHighMul`` from the 64-bit product.

    ``(product + nudge) / 2**31`` truncated toward zero, with ``nudge = 2**30`` for a
    non-negative product and ``1 - 2**30`` for a negative one; ``INT32_MAX`` if
    ``overflow``. Both are ``floor((product + 2**30) / 2**31)``: for a non-negative sum
    truncation is the floor, and for a negative product it is the ceiling,
    ``floor((product + 1 - 2**30 + 2**31 - 1) / 2**31)``. So the product's low 30 bits do
    not matter: ``((product >> 30) + 1) >> 1``, a 34-bit increment where the nudge would
    take a 64-bit adder and a second one for the truncation.
    """
    rounded = ((product >> (MULTIPLIER_FRACTION_BITS - 1)) + 1) >> 1
    return Mux(overflow, INT32_MAX, rounded[:ACC_WIDTH].as_signed())


def single_rounding(product, shift):
    """``(product + 2**(30 - shift)) >> (31 - shift)`` wrapped to int32: ``TFLITE_SINGLE_ROUNDING``.

    Computed as ``((product >> (30 - shift)) + 1) >> 1``, the same floor with one
    barrel shifter and a short increment instead of a 64-bit adder.
    """
    amount = (MULTIPLIER_FRACTION_BITS - 1 - shift)[:SHIFT_WIDTH]
    return (((product >> amount) + 1) >> 1)[:ACC_WIDTH].as_signed()


def shared_dividend(product, overflow, rounding):
    """The dividend of :func:`shared_divide`, 34 bits: for the single rounding
    ``floor(product / 2**30)``, for the double the rounded high half (:func:`high_mul`)."""
    single = product >> (MULTIPLIER_FRACTION_BITS - 1)
    return Mux(rounding == Rounding.SINGLE, single, high_mul(product, overflow))


def shared_divisor(shift, rounding):
    """:func:`shared_divide`'s exponent and remainder mask ``2**exponent - 1``: the exponent
    is ``RoundingDivideByPOT``'s ``max(-shift, 0)`` for the double rounding, and ``1 - shift``
    for the single (``31 - shift`` in all, with the 30 of :func:`shared_dividend`; a
    positive single-rounding shift is not taken)."""
    exponent = (Mux(shift < 0, -shift, 0) + (rounding == Rounding.SINGLE))[:SHIFT_WIDTH]
    wide = unsigned(ACC_WIDTH + 2)
    mask = ((Const(1, wide) << exponent)[:wide.width] - 1)[:ACC_WIDTH + 1]
    return exponent, mask


def shared_divide(x, exponent, mask, rounding):
    """Both roundings' last step, wrapped to int32: ``(x >> exponent) + (remainder >
    threshold)`` with ``remainder = x & mask`` and ``threshold = (mask >> 1)``, plus one for
    a negative ``x`` with the double rounding. That is ``RoundingDivideByPOT`` (ties away
    from zero) for the double rounding, and for the single ``floor((x + 2**(exponent - 1))
    / 2**exponent)`` (ties up), of ``x = floor(product / 2**30)``: TFLite's
    ``(product + 2**(30 - shift)) >> (31 - shift)``, one barrel shifter for the two. Both
    are :func:`nudged_shift`, with the ties down for a negative ``x`` with the double
    rounding."""
    return nudged_shift(x, exponent, mask, (rounding == Rounding.DOUBLE) & (x < 0))


def pot_divisor(shift):
    """``RoundingDivideByPOT``'s exponent ``max(-shift, 0)`` and remainder mask ``2**exponent - 1``.

    They depend on the shift alone, so a pipeline computes them a stage ahead of the
    dividend and registers them, off the divide's path.
    """
    exponent = Mux(shift < 0, -shift, 0)[:SHIFT_WIDTH]
    mask = ((Const(1, unsigned(ACC_WIDTH + 1)) << exponent)[:ACC_WIDTH + 1] - 1)[:ACC_WIDTH]
    return exponent, mask


def nudged_shift(x, exponent, mask, down):
    """``floor((x + nudge) / 2**exponent)`` wrapped to int32, ``x`` rounded to the nearest
    multiple of ``2**exponent`` with ties up, or down if ``down``: the nudge is half the
    divisor, ``2**(exponent - 1)``, or one less (0 if ``exponent`` is 0).

    Computed as ``(x >> exponent)`` plus one if the remainder ``x & mask`` reaches half the
    divisor, the bit ``2**(exponent - 1)`` (the remainder mask's top bit, ``mask ^ (mask >>
    1)``), or with ``down`` passes it (that bit and some bit below it set): a barrel shifter
    and an increment, with no adder before them and no comparison. (An adder of the nudge
    before the shifter, and a threshold's adder and comparison beside it, were the
    iCEBreaker core's longest paths.)"""
    value = x.as_unsigned()
    half = (value & (mask ^ (mask >> 1))).any()
    below = (value & (mask >> 1)).any()
    return ((x >> exponent) + (half & (~down | below)))[:ACC_WIDTH].as_signed()


def rounding_divide_by_pot(x, exponent, mask, rounding):
    """gemmlowp's ``RoundingDivideByPOT(x, exponent)``; the single rounding passes ``x``.

    ``exponent`` and ``mask`` come from :func:`pot_divisor`. gemmlowp's quotient ``(x >>
    exponent) + (remainder > threshold)``, with ``remainder = x & mask`` and ``threshold =
    (mask >> 1) + (x < 0)``, is ``x / 2**exponent`` rounded to nearest, ties away from zero:
    :func:`nudged_shift` with the ties down for a negative ``x``.
    """
    return Mux(rounding == Rounding.SINGLE, x, nudged_shift(x, exponent, mask, x < 0))


def clamp(x, zero_point, clamp_min, clamp_max):
    """``x + zero_point`` (exact, 33 bits) limited to ``[clamp_min, clamp_max]``."""
    offset = x + zero_point
    return Mux(offset < clamp_min, clamp_min, Mux(offset > clamp_max, clamp_max, offset))


def pack_results(results, precision):
    """The low ``precision.bits`` of each result, packed lowest first into ``len(results)`` bytes.

    int8: result ``i`` is byte ``i``; int4: nibble ``i`` (result ``2j`` in the low nibble
    of byte ``j``); int2: bit pair ``i``. Bytes past the packed results are zero. Any other
    ``precision`` code (3) packs as int2, as the MAC array reads it.
    """
    packed = {p: Cat(*(value[:p.bits] for value in results)) for p in Precision}
    chosen = Mux(precision == Precision.INT8, packed[Precision.INT8],
                 Mux(precision == Precision.INT4, packed[Precision.INT4], packed[Precision.INT2]))
    return chosen[:LANE_WIDTH * len(results)]


def _cycles(extra, left_shift=True):
    """``{stage: cycle}``: the cycle at whose end each stage registers, the stages after the
    multiply ``extra`` cycles later and, without the ``left_shift`` stage, the stages after it
    a cycle earlier; and ``{cycle: name}`` of the registers of each cycle."""
    stages = [stage for stage in Stage if left_shift or stage != Stage.LEFT_SHIFT]
    cycles = {stage: cycle + (extra if stage > Stage.MULTIPLY else 0)
              for cycle, stage in enumerate(stages, start=Stage.BIAS_ADD)}
    names = {cycle: stage.name.lower() for stage, cycle in cycles.items()}
    names.update({cycles[Stage.MULTIPLY] + 1 + index: f"sum_{index}" for index in range(extra)})
    return cycles, names


def _delay_line(m, value, name, last_cycle, names, *, reset_less=True):
    """``value`` as each cycle up to ``last_cycle`` sees it: ``{cycle: value delayed cycle - 1}``."""
    line = {Stage.BIAS_ADD: value}
    for cycle in range(Stage.BIAS_ADD + 1, last_cycle + 1):
        line[cycle] = value = register(m, value, f"{name}_{names[cycle]}", reset_less=reset_less)
    return line


class Requantizer(wiring.Component):
    """Bias add, TFLite fixed-point requantization, zero point, clamp and lane packing.

    Per column ``i``, exactly TFLite's conv/fully-connected output stage. With
    ``rounding = DOUBLE`` (TFLite's default, ``MultiplyByQuantizedMultiplier``)::

        x = wrap32(acc[i] + bias[i])
        x = wrap32(x << max(shift[i], 0))
        x = SaturatingRoundingDoublingHighMul(x, multiplier[i])
        x = RoundingDivideByPOT(x, max(-shift[i], 0))
        y = clamp(x + zero_point, clamp_min, clamp_max)

    With ``rounding = SINGLE`` (a ``TFLITE_SINGLE_ROUNDING`` build of TFLite), the
    middle three steps are ``x = wrap32((x * multiplier[i] + 2**(30 - shift[i])) >>
    (31 - shift[i]))``, for a non-negative multiplier.

    The N results are then packed for ``precision``: int8 puts result ``i`` in byte ``i``
    (N bytes); int4 puts it in nibble ``i``, result ``2j`` in the low nibble of byte
    ``j`` (N/2 bytes); int2 in bit pair ``i``, four per byte (N/4 bytes); see
    :func:`packed_bytes`. The bytes past the packed results are zero. ``clamp_min <=
    clamp_max`` must lie within the precision's range (the compiler computes them; a
    fused ReLU is ``clamp_min = zero_point``): only the low bits of each result are
    packed. A shift must lie in [``MIN_SHIFT``, ``MAX_SHIFT``] (-31 to 30), or in
    [``MIN_SHIFT``, 0] with ``params.scales_below_one``; the other codes of the field give
    unspecified results.

    Fully pipelined: one vector per cycle, never stalls, one register per :class:`Stage`
    (bias add; left shift; 32 x 32 multiply; rounding high half with saturation, or the
    single rounding; rounding right shift; zero point, clamp and packing). With
    ``params.multiply_stages = 2`` the multiply registers the four partial products of
    its 16-bit halves and adds them in the next cycle, one cycle more. With
    ``params.scales_below_one`` there is no left shift, and no ``LEFT_SHIFT`` stage: one
    cycle less.

    With ``params.requantize_columns`` R below N, the stages are built for R columns and an
    input takes ``tile_interval`` = N / R cycles: its first R columns go on in the cycle it
    arrives, the next R in the cycle after, and so on, and the packed vector leaves when the
    last R have passed, ``tile_interval - 1`` cycles later than with N. Inputs must then be
    at least ``tile_interval`` cycles apart (the sequencer spaces its tiles so); one that
    comes sooner replaces the rest of the vector in progress. With
    ``params.rescale_cycles = 2`` (and a two-stage multiply) each slice takes two cycles,
    and ``tile_interval`` doubles: the multiply takes the multiplier's low 16 bits in the
    first and its high 16 bits in the second, on half the multipliers, and adds the four
    partial products (:func:`half_products`) a cycle after the second.

    The input's per-layer settings (``zero_point``, ``clamp_min``, ``clamp_max``,
    ``precision``, ``rounding``) must hold from its cycle until its results are on
    ``o_data``, ``LATENCY`` cycles later, and with ``tile_interval`` above 1 its per-column
    settings (``bias``, ``multiplier``, ``shift``) for the ``tile_interval`` cycles from
    its own: the core's sequencer keeps an instruction until its last result is written,
    and its settings memory a tile's entry until the tile's last slice has entered
    (``hdl.sequencer``). Only the accumulators are taken in the input's cycle.

    Parameters
    ----------
    params : MacParams
        N = ``params.columns`` results per vector; ``multiply_stages``, ``requantize_columns``,
        ``rescale_cycles``.

    Attributes
    ----------
    i_data : In(stream.Signature(requantize_input_layout(params), always_ready=True))
        Accumulators ``acc`` (N x signed(32)); per column ``bias`` (signed(32)),
        ``multiplier`` (signed(32), Q0.31) and ``shift`` (signed(SHIFT_WIDTH), positive
        shifts left); per layer ``zero_point``, ``clamp_min``, ``clamp_max``
        (signed(8)), ``precision`` and ``rounding``.
    o_data : Out(stream.Signature(data.ArrayLayout(unsigned(8), N), always_ready=True))
        The packed results.
    LATENCY : int
        Cycles from ``i_data.valid`` to ``o_data.valid``: one per :class:`Stage`, 6 (5
        with ``scales_below_one``), one more with a two-stage multiply, and
        ``tile_interval - 1`` more (:func:`requantize_latency`). The class's is the
        one-stage, all-column unit's.
    """

    LATENCY = len(Stage)

    def __init__(self, params):
        if not isinstance(params, MacParams):
            raise TypeError(f"Requantizer params must be a MacParams, not {params!r}")
        self._params = params
        self.LATENCY = requantize_latency(params)
        super().__init__({
            "i_data": In(stream.Signature(requantize_input_layout(params), always_ready=True)),
            "o_data": Out(stream.Signature(requantize_output_layout(params), always_ready=True)),
        })

    @property
    def params(self):
        return self._params

    def _slices(self, m):
        """The input, ``requantize_columns`` columns for ``rescale_cycles`` cycles each:
        ``(payload, valid, last, phase)``.

        With one cycle a tile this is ``i_data`` itself. Otherwise the accumulators are
        taken whole: their first slice goes on in the same cycle, the others from a register
        that shifts one slice down every ``rescale_cycles`` cycles, for ``tile_interval - 1``
        cycles more. The settings are read from the input itself, which holds them (a slice
        counter picks the per-column ones); ``last`` marks the tile's last cycle and
        ``phase`` counts each slice's cycles.
        """
        params = self._params
        width, interval = params.requantize_columns, params.tile_interval
        payload, valid = self.i_data.payload, self.i_data.valid
        if interval == 1:
            return payload, valid, None, Const(0)
        sliced = Signal(_input_layout(width))
        remaining = Signal(range(interval), init=0)
        cycle = phase(m, valid, params.rescale_cycles, "phase")
        advance = None if params.rescale_cycles == 1 else cycle == params.rescale_cycles - 1
        index = slice_index(m, valid, params.rescale_slices, "slice", advance)
        for name, shape in COLUMN_FIELDS.items():
            bits = width * Shape.cast(shape).width
            if name == "acc":
                m.d.comb += sliced.acc.eq(slices(m, payload.acc, valid, bits, "acc_held", advance))
            else:
                m.d.comb += sliced[name].eq(payload[name].as_value().word_select(index, bits))
        for name in LAYER_FIELDS:
            m.d.comb += sliced[name].eq(payload[name])
        with m.If(valid):
            m.d.sync += remaining.eq(interval - 1)
        with m.Elif(remaining != 0):
            m.d.sync += remaining.eq(remaining - 1)
        return sliced, valid | (remaining != 0), ~valid & (remaining == 1), cycle

    def _output(self, m, results, precision, valid, last, cycle):
        """Register ``o_data``: the packed results, the tile's earlier slices (a tile's
        slices pass one every ``rescale_cycles`` cycles, each complete in its last,
        ``cycle``) from a register that shifts one slice down after each."""
        params = self._params
        if params.tile_interval == 1:
            m.d.sync += [self.o_data.payload.eq(pack_results(results, precision)),
                         self.o_data.valid.eq(valid)]
            return
        whole = gather(m, Cat(result[:LANE_WIDTH] for result in results), params.rescale_slices, "earlier",
                       cycle == params.rescale_cycles - 1)
        m.d.sync += [
            self.o_data.payload.eq(pack_results([whole[index * LANE_WIDTH:(index + 1) * LANE_WIDTH]
                                                 for index in range(self._params.columns)], precision)),
            self.o_data.valid.eq(valid & last),
        ]

    def _rounded(self, m, stage, product, overflow, shift, rounding, at):
        """The ``HIGH_MUL`` and ``DIVIDE`` stages: the rounded 32-bit ``scaled`` value of each
        column's 64-bit product. Each rounding has a barrel shifter of its own, or with
        ``params.scales_below_one`` (shifts up to 0) they share one (:func:`shared_divide`)."""
        columns = range(self._params.requantize_columns)
        single = rounding == Rounding.SINGLE
        if self._params.scales_below_one:
            high = stage("high", (shared_dividend(product[c], overflow[c], rounding) for c in columns))
            divisors = [shared_divisor(shift[at[Stage.HIGH_MUL]][c], rounding) for c in columns]
            divide = shared_divide
        else:
            high = stage("high", (Mux(single, single_rounding(product[c], shift[at[Stage.HIGH_MUL]][c]),
                                      high_mul(product[c], overflow[c])) for c in columns))
            divisors = [pot_divisor(shift[at[Stage.HIGH_MUL]][c]) for c in columns]
            divide = rounding_divide_by_pot
        exponent = stage("exponent", (exponent for exponent, _ in divisors))
        mask = stage("mask", (mask for _, mask in divisors))
        return stage("scaled", (divide(high[c], exponent[c], mask[c], rounding) for c in columns))

    def elaborate(self, platform):
        m = Module()
        payload, valid, last, cycle = self._slices(m)
        columns = range(self._params.requantize_columns)

        def stage(name, values):
            return [register(m, value, f"{name}_{column}") for column, value in zip(columns, values)]

        extra = self._params.multiply_stages - 1
        below_one = self._params.scales_below_one
        at, names = _cycles(extra, left_shift=not below_one)

        # Each per-column setting, delayed to the stages that use it; the per-layer ones are
        # held by the source.
        shift = _delay_line(m, payload.shift, "shift", at[Stage.HIGH_MUL], names)
        multiplier = _delay_line(m, payload.multiplier, "multiplier", at[Stage.MULTIPLY], names)
        rounding = payload.rounding
        valid = _delay_line(m, valid, "valid", at[Stage.OUTPUT], names, reset_less=False)[at[Stage.OUTPUT]]
        if last is not None:
            last = _delay_line(m, last, "last", at[Stage.OUTPUT], names)[at[Stage.OUTPUT]]
        cycle = _delay_line(m, cycle, "phase", at[Stage.OUTPUT], names)

        biased = stage("biased", (bias_add(payload.acc[c], payload.bias[c]) for c in columns))
        if below_one:       # no shift is positive: the multiply takes the biased sum
            shifted = biased
        else:
            shifted = stage("shifted", (left_shift(biased[c], shift[at[Stage.LEFT_SHIFT]][c], rounding)
                                        for c in columns))
        products = [multiply(shifted[c], multiplier[at[Stage.MULTIPLY]][c]) for c in columns]
        if extra and self._params.rescale_cycles > 1:
            # A half of the multiplier a cycle, the low one first: its partial products
            # wait a cycle for the high one's.
            overflow = stage("overflow", (overflow for _, overflow in products))
            halves = [[register(m, value, f"partial_{c}_{index}") for index, value in
                       enumerate(half_products(shifted[c], multiplier[at[Stage.MULTIPLY]][c],
                                               cycle[at[Stage.MULTIPLY]] == 1))]
                      for c in columns]
            earlier = [[register(m, value, f"earlier_{c}_{index}") for index, value in enumerate(halves[c])]
                       for c in columns]
            negative = stage("negative", (Mux(multiplier[at[Stage.MULTIPLY]][c] < 0, shifted[c], 0)
                                          for c in columns))
            product = stage("product", (sum_partial_products(halves[c][0] - negative[c], earlier[c][0],
                                                             halves[c][1], earlier[c][1]) for c in columns))
            overflow = stage("overflow_sum", overflow)
        elif extra:     # the partial products, then their sum
            overflow = stage("overflow", (overflow for _, overflow in products))
            partials = [[register(m, value, f"partial_{c}_{index}") for index, value in
                         enumerate(partial_products(shifted[c], multiplier[at[Stage.MULTIPLY]][c]))]
                        for c in columns]
            product = stage("product", (sum_partial_products(*partials[c]) for c in columns))
            overflow = stage("overflow_sum", overflow)
        else:
            product = stage("product", (product for product, _ in products))
            overflow = stage("overflow", (overflow for _, overflow in products))
        scaled = self._rounded(m, stage, product, overflow, shift, rounding, at)
        results = [clamp(scaled[c], payload.zero_point, payload.clamp_min, payload.clamp_max)
                   for c in columns]
        self._output(m, results, payload.precision, valid, last, cycle[at[Stage.OUTPUT]])
        return m
