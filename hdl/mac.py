"""The SIMD vector-matrix MAC array: K packed lanes times a K x N weight tile, every cycle."""

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .params import ACC_WIDTH, LANE_WIDTH, MacParams, Precision

__all__ = ["MacArray", "mac_input_layout"]

#: Adder-tree levels between two pipeline registers.
TREE_LEVELS_PER_STAGE = 2


def mac_input_layout(params):
    """Layout of one MAC-array input vector (see :class:`MacArray`)."""
    lane = unsigned(LANE_WIDTH)
    return data.StructLayout({
        "activations": data.ArrayLayout(lane, params.lanes),
        "weights": data.ArrayLayout(data.ArrayLayout(lane, params.lanes), params.columns),
        "precision": Precision,
        "first": 1,
        "last": 1,
    })


def _tree_stages(lanes):
    levels = (lanes - 1).bit_length()
    return -(-levels // TREE_LEVELS_PER_STAGE)


def _lane_product(activation, weight, precision):
    """Sum of the sub-products of one 8-bit lane pair at ``precision`` (signed, 16 bits).

    int8: one 8x8 product; int4: two 4x4 products; int2: four 2x2 products. The worst
    case, -128 x -128 = 16384, fits a signed 16-bit value.
    """
    def sub_products(bits):
        return [activation[j:j + bits].as_signed() * weight[j:j + bits].as_signed()
                for j in range(0, LANE_WIDTH, bits)]
    int8, = sub_products(Precision.INT8.bits)
    int4 = sum(sub_products(Precision.INT4.bits))
    int2 = sum(sub_products(Precision.INT2.bits))
    return Mux(precision == Precision.INT8, int8,
               Mux(precision == Precision.INT4, int4, int2))


class MacArray(wiring.Component):
    """SIMD vector-matrix multiply-accumulate array.

    Every cycle it may take one vector of K packed 8-bit activation lanes and a K x N
    tile of packed 8-bit weight lanes, and add their product into N int32 accumulators.
    Each lane carries one int8, two int4 or four int2 values (``hdl.params.Precision``,
    selected per vector); all sub-products of a lane add into the same column sum, so
    int4 doubles and int2 quadruples the multiply-accumulates per cycle.

    Activations and weights are raw two's-complement values: the compiler folds the
    input zero point into the bias, and feeds padding as the input zero point.

    The array is fully pipelined and never stalls: a vector may arrive every cycle, and
    a new accumulation (``first``) may start right after one that ended (``last``).
    Accumulators wrap as two's-complement int32, as TFLite's do.

    Pipeline: the K x N lane products are registered; the K-input adder tree of each
    column is registered every ``TREE_LEVELS_PER_STAGE`` levels; the accumulators are
    the last register, read out directly.

    Parameters
    ----------
    params : MacParams
        K = ``params.lanes``, N = ``params.columns``.

    Attributes
    ----------
    i_data : In(stream.Signature(mac_input_layout(params), always_ready=True))
        ``activations[lane]``, ``weights[column][lane]``, ``precision``; ``first``
        replaces the accumulators with this vector's product (clear), ``last`` emits
        them after adding it (read out). Both may be set.
    o_acc : Out(stream.Signature(data.ArrayLayout(signed(32), N), always_ready=True))
        The N column sums of an accumulation, valid for one cycle.
    LATENCY : int
        Cycles from an input vector with ``last`` to its ``o_acc.valid``:
        ``2 + ceil(log2(K) / TREE_LEVELS_PER_STAGE)``.
    """

    def __init__(self, params):
        if not isinstance(params, MacParams):
            raise TypeError(f"MacArray params must be a MacParams, not {params!r}")
        self._params = params
        self.LATENCY = 2 + _tree_stages(params.lanes)
        super().__init__({
            "i_data": In(stream.Signature(mac_input_layout(params), always_ready=True)),
            "o_acc": Out(stream.Signature(data.ArrayLayout(signed(ACC_WIDTH), params.columns),
                                          always_ready=True)),
        })

    @property
    def params(self):
        return self._params

    def _delay(self, m, value, cycles, name):
        for stage in range(cycles):
            delayed = Signal.like(value, name=f"{name}_{stage}")
            m.d.sync += delayed.eq(value)
            value = delayed
        return value

    def _adder_tree(self, m, values, column):
        level = 0
        while len(values) > 1:
            pairs = [values[i] + values[i + 1] for i in range(0, len(values) - 1, 2)]
            values = pairs + ([values[-1]] if len(values) % 2 else [])
            level += 1
            if level % TREE_LEVELS_PER_STAGE == 0 or len(values) == 1:
                registered = []
                for index, value in enumerate(values):
                    sum_ = Signal(signed(len(value)), name=f"tree_c{column}_l{level}_{index}")
                    m.d.sync += sum_.eq(value)
                    registered.append(sum_)
                values = registered
        return values[0]

    def elaborate(self, platform):
        m = Module()
        params, payload = self._params, self.i_data.payload

        # Stage 1: lane products.
        column_sums = []
        for column in range(params.columns):
            products = []
            for lane in range(params.lanes):
                product = Signal(signed(2 * LANE_WIDTH), name=f"product_c{column}_l{lane}")
                m.d.sync += product.eq(_lane_product(payload.activations[lane],
                                                     payload.weights[column][lane],
                                                     payload.precision))
                products.append(product)
            # Stages 2..: registered adder tree.
            column_sums.append(self._adder_tree(m, products, column))

        # Control travels alongside the data.
        control_delay = 1 + _tree_stages(params.lanes)
        valid = self._delay(m, self.i_data.valid, control_delay, "valid")
        first = self._delay(m, payload.first, control_delay, "first")
        last = self._delay(m, payload.last, control_delay, "last")

        # Last stage: accumulators, read out directly.
        for column, column_sum in enumerate(column_sums):
            accumulator = self.o_acc.payload[column]
            with m.If(valid):
                m.d.sync += accumulator.eq(Mux(first, column_sum, accumulator + column_sum))
        m.d.sync += self.o_acc.valid.eq(valid & last)
        return m
