"""The requantize unit: int32 column sums to packed int8/int4/int2 activations."""

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .params import ACC_WIDTH, LANE_WIDTH, SHIFT_WIDTH, MacParams, Precision, Rounding

__all__ = ["Requantizer", "requantize_settings_layout", "requantize_input_layout"]

_INT32_MIN = -(1 << (ACC_WIDTH - 1))
#: Fraction bits of a quantized multiplier (TFLite's Q0.31).
_MULTIPLIER_FRACTION_BITS = ACC_WIDTH - 1


def _settings_fields(columns):
    return {
        "bias": data.ArrayLayout(signed(ACC_WIDTH), columns),
        "multiplier": data.ArrayLayout(signed(ACC_WIDTH), columns),
        "shift": data.ArrayLayout(signed(SHIFT_WIDTH), columns),
        "zero_point": signed(LANE_WIDTH),
        "clamp_min": signed(LANE_WIDTH),
        "clamp_max": signed(LANE_WIDTH),
        "precision": Precision,
        "rounding": Rounding,
    }


def requantize_settings_layout(columns):
    """Layout of the requantization settings of one output tile: all but the accumulators.

    Per column: ``bias``, ``multiplier``, ``shift``; per layer: ``zero_point``,
    ``clamp_min``, ``clamp_max``, ``precision``, ``rounding``.
    """
    return data.StructLayout(_settings_fields(columns))


def requantize_input_layout(params):
    """Layout of one requantize-unit input vector: ``acc`` plus the settings fields."""
    return data.StructLayout({"acc": data.ArrayLayout(signed(ACC_WIDTH), params.columns),
                              **_settings_fields(params.columns)})


class Requantizer(wiring.Component):
    """Bias add, TFLite fixed-point requantization, zero point, clamp and lane packing.

    Per column ``i``, exactly TFLite's conv/fully-connected output stage. With
    ``rounding = DOUBLE`` (TFLite's default)::

        x = wrap32(acc[i] + bias[i])
        x = wrap32(x << max(shift[i], 0))
        x = SaturatingRoundingDoublingHighMul(x, multiplier[i])
        x = RoundingDivideByPOT(x, max(-shift[i], 0))
        y = clamp(x + zero_point, clamp_min, clamp_max)

    With ``rounding = SINGLE`` (a ``TFLITE_SINGLE_ROUNDING`` build of TFLite), the
    middle three steps are ``x = wrap32((x * multiplier[i] + 2**(30 - shift[i])) >>
    (31 - shift[i]))``, for a non-negative multiplier.

    The N results are then packed for ``precision``: int8 puts result ``i`` in byte ``i``
    (N bytes); int4 puts it in nibble ``i``, low nibble first (N/2 bytes); int2 in
    bit pair ``i`` (N/4 bytes). Bytes past the packed results are zero. ``clamp_min`` and
    ``clamp_max`` must lie within the precision's range (the compiler computes them; a
    fused ReLU is ``clamp_min = zero_point``); only the low bits of each result are packed.

    Fully pipelined, one vector per cycle, never stalls. Stages: bias add; left shift;
    32 x 32 multiply; rounding high half with saturation (or the single rounding);
    rounding right shift; zero point, clamp and packing.

    Parameters
    ----------
    params : MacParams
        N = ``params.columns`` results per vector.

    Attributes
    ----------
    i_data : In(stream.Signature(requantize_input_layout(params), always_ready=True))
        Accumulators, per-column bias, multiplier (Q0.31) and shift (positive: left),
        per-layer zero point, clamp range and output precision.
    o_data : Out(stream.Signature(data.ArrayLayout(unsigned(8), N), always_ready=True))
        The packed results.
    LATENCY : int
        Cycles from ``i_data.valid`` to ``o_data.valid``: 6.
    """

    LATENCY = 6

    def __init__(self, params):
        if not isinstance(params, MacParams):
            raise TypeError(f"Requantizer params must be a MacParams, not {params!r}")
        self._params = params
        super().__init__({
            "i_data": In(stream.Signature(requantize_input_layout(params), always_ready=True)),
            "o_data": Out(stream.Signature(data.ArrayLayout(unsigned(LANE_WIDTH), params.columns),
                                           always_ready=True)),
        })

    @property
    def params(self):
        return self._params

    def _register(self, m, value, name):
        register = Signal.like(value, name=name) if isinstance(value, Signal) \
            else Signal(value.shape(), name=name)
        m.d.sync += register.eq(value)
        return register

    def _column(self, m, column, stages):
        """Stages 1-5 of one column; ``stages[k]`` is the input record delayed by k cycles."""
        def field(stage, name):
            return stages[stage][name][column]

        def single(stage):
            return stages[stage].rounding == Rounding.SINGLE

        biased = self._register(m, (field(0, "acc") + field(0, "bias"))[:ACC_WIDTH].as_signed(),
                                f"biased_{column}")
        shift = field(1, "shift")
        left = Mux(shift > 0, shift, 0)[:SHIFT_WIDTH - 1]
        shifted = self._register(m, Mux(single(1), biased, (biased << left)[:ACC_WIDTH].as_signed()),
                                 f"shifted_{column}")
        multiplier = field(2, "multiplier")
        product = self._register(m, shifted * multiplier, f"product_{column}")
        overflow = self._register(m, (shifted == _INT32_MIN) & (multiplier == _INT32_MIN),
                                  f"overflow_{column}")
        # SaturatingRoundingDoublingHighMul: nudge, then divide by 2**31 toward zero.
        nudge = Mux(product >= 0, 1 << 30, 1 - (1 << 30))
        nudged = Signal(signed(2 * ACC_WIDTH + 1), name=f"nudged_{column}")
        m.d.comb += nudged.eq(product + nudge)
        toward_zero = Mux(nudged < 0, (1 << _MULTIPLIER_FRACTION_BITS) - 1, 0)
        high = (nudged + toward_zero) >> _MULTIPLIER_FRACTION_BITS
        # Single rounding: (product + 2**(30 - shift)) >> (31 - shift), for shift in [-31, 30].
        total_shift = (_MULTIPLIER_FRACTION_BITS - field(3, "shift"))[:SHIFT_WIDTH + 1]
        rounded = (product + (Const(1, unsigned(2 * ACC_WIDTH)) << (total_shift - 1)[:SHIFT_WIDTH + 1])) \
            >> total_shift
        high_mul = self._register(m, Mux(single(3), rounded[:ACC_WIDTH].as_signed(),
                                         Mux(overflow, (1 << (ACC_WIDTH - 1)) - 1,
                                             high[:ACC_WIDTH].as_signed())), f"high_mul_{column}")
        # RoundingDivideByPOT.
        shift = field(4, "shift")
        right = Mux(shift < 0, -shift, 0)[:SHIFT_WIDTH]
        mask = (Const(1, unsigned(ACC_WIDTH + 1)) << right) - 1
        remainder = high_mul.as_unsigned() & mask
        threshold = (mask >> 1) + (high_mul < 0)
        return self._register(m, Mux(single(4), high_mul,
                                     (high_mul >> right) + (remainder > threshold)),
                              f"scaled_{column}")

    def _pack(self, results, precision):
        """Pack ``results`` (clamped, signed) into lanes for ``precision``, zero-extended."""
        total = LANE_WIDTH * len(results)
        packed = {p: Cat(*(value[:p.bits] for value in results)) for p in Precision}
        return Mux(precision == Precision.INT8, packed[Precision.INT8],
                   Mux(precision == Precision.INT4, packed[Precision.INT4],
                       packed[Precision.INT2]))[:total]

    def elaborate(self, platform):
        m = Module()
        # The input record, delayed 0..5 cycles, provides each stage's per-op fields.
        stages = [self.i_data.payload]
        valid = self.i_data.valid
        for stage in range(1, self.LATENCY):
            stages.append(self._register(m, stages[-1], f"record_{stage}"))
            valid = self._register(m, valid, f"valid_{stage}")
        record = stages[-1]

        results = []
        for column in range(self._params.columns):
            scaled = self._column(m, column, stages)
            offset = scaled + record.zero_point
            clamped = Mux(offset < record.clamp_min, record.clamp_min,
                          Mux(offset > record.clamp_max, record.clamp_max, offset))
            results.append(clamped)
        m.d.sync += [
            self.o_data.payload.eq(self._pack(results, record.precision)),
            self.o_data.valid.eq(valid),
        ]
        return m
