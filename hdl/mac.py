"""The SIMD vector-matrix MAC array: K packed lanes times a K x N weight tile, every cycle."""

import functools
import operator

from amaranth import Cat, ClockSignal, Const, Instance, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .params import ACC_WIDTH, LANE_WIDTH, MacParams, Precision
from .pipeline import delay, register

__all__ = ["MacArray", "mac_input_layout", "mac_output_layout", "product_stages", "mac_latency"]

#: Adder-tree levels between two pipeline registers.
TREE_LEVELS_PER_STAGE = 2
#: Width of the registered sum of one lane's sub-products: an int8 x int8 product (the
#: widest case, -128 x -128 = 2**14) needs twice the lane width; two int4 or four int2
#: sub-products sum to at most 2 * 8 * 8 = 128 or 4 * 2 * 2 = 16.
PRODUCT_WIDTH = 2 * LANE_WIDTH


def mac_input_layout(params):
    """Layout of one MAC-array input vector (see :class:`MacArray`), ``K * 8 * (N + 1) + 4`` bits."""
    lane = unsigned(LANE_WIDTH)
    return data.StructLayout({
        "activations": data.ArrayLayout(lane, params.lanes),
        "weights": data.ArrayLayout(data.ArrayLayout(lane, params.lanes), params.columns),
        "precision": Precision,
        "first": 1,
        "last": 1,
    })


def mac_output_layout(params):
    """Layout of the N column sums of one accumulation, ``N * 32`` bits."""
    return data.ArrayLayout(signed(ACC_WIDTH), params.columns)


def product_stages(params):
    """Registers of each lane product for ``params``: ``multiply_stages``, or 1 in an
    SB_MAC16 (``dsp_block``), whose own output register already sits beside the block."""
    return 1 if params.dsp_block == "SB_MAC16" else params.multiply_stages


def mac_latency(params):
    """:attr:`MacArray.LATENCY` for ``params``, without building the array: products
    (:func:`product_stages`), tree, accumulators."""
    return product_stages(params) + tree_stages(params.lanes) + 1


def tree_stages(lanes):
    """Registers in the adder tree of ``lanes`` inputs: one every ``TREE_LEVELS_PER_STAGE`` levels."""
    levels = (lanes - 1).bit_length()
    return -(-levels // TREE_LEVELS_PER_STAGE)


def lane_product(activation, weight, precision, precisions=tuple(Precision)):
    """Sum of the sub-products of one 8-bit lane pair at ``precision`` (combinational).

    int8: one 8 x 8 product; int4: the two 4 x 4 products of the nibbles; int2: the four
    2 x 2 products of the bit pairs, sub-slot ``j`` of the activation times sub-slot
    ``j`` of the weight. Only the ``precisions`` given are built: any other ``precision``
    code (3, or a precision left out) selects the narrowest of them. Fits
    ``signed(PRODUCT_WIDTH)``.
    """
    def sub_products_sum(bits):
        products = [activation[j:j + bits].as_signed() * weight[j:j + bits].as_signed()
                    for j in range(0, LANE_WIDTH, bits)]
        return functools.reduce(operator.add, products)
    *wider, narrowest = sorted(precisions)
    chosen = sub_products_sum(narrowest.bits)
    for option in reversed(wider):
        chosen = Mux(precision == option, sub_products_sum(option.bits), chosen)
    return chosen


def sb_mac16_pair(m, pair, name):
    """Two signed int8 products ``a * w`` of ``pair`` (two ``(a, w)`` of 8-bit values) in one
    iCE40 SB_MAC16 in its 8 x 8 mode, each registered in the block (its 8 x 8 product
    registers): ``[pair[0]'s, pair[1]'s]``, ``signed(PRODUCT_WIDTH)`` each, the cycle after
    their operands. The block's input registers, accumulators and output registers stay
    unused; the instance is ``<name>_dsp`` in ``m``."""
    (a_low, w_low), (a_high, w_high) = pair
    out = Signal(2 * PRODUCT_WIDTH, name=f"{name}_dsp_o")
    m.submodules[f"{name}_dsp"] = Instance(
        "SB_MAC16",
        p_MODE_8x8=Const(1, 1), p_A_SIGNED=Const(1, 1), p_B_SIGNED=Const(1, 1),
        p_TOP_8x8_MULT_REG=Const(1, 1), p_BOT_8x8_MULT_REG=Const(1, 1),
        # The outputs: the upper 8 x 8 product (F) and the lower (G), as registered.
        p_TOPOUTPUT_SELECT=Const(2, 2), p_BOTOUTPUT_SELECT=Const(2, 2),
        i_CLK=ClockSignal(), i_CE=Const(1, 1),
        i_A=Cat(a_low, a_high), i_B=Cat(w_low, w_high), i_C=Const(0, 16), i_D=Const(0, 16),
        **{f"i_{port}": Const(0, 1) for port in (
            "AHOLD", "BHOLD", "CHOLD", "DHOLD", "IRSTTOP", "IRSTBOT", "ORSTTOP", "ORSTBOT", "OLOADTOP",
            "OLOADBOT", "ADDSUBTOP", "ADDSUBBOT", "OHOLDTOP", "OHOLDBOT", "CI", "ACCUMCI", "SIGNEXTIN")},
        o_O=out)
    return [out[:PRODUCT_WIDTH].as_signed(), out[PRODUCT_WIDTH:].as_signed()]


def adder_tree(m, values, name):
    """Sum ``values`` pairwise, registering every ``TREE_LEVELS_PER_STAGE`` levels and at the root.

    Widths grow one bit per level, so the sum is exact; takes ``tree_stages(len(values))``
    cycles.
    """
    level = 0
    while len(values) > 1:
        pairs = [values[i] + values[i + 1] for i in range(0, len(values) - 1, 2)]
        values = pairs + ([values[-1]] if len(values) % 2 else [])
        level += 1
        if level % TREE_LEVELS_PER_STAGE == 0 or len(values) == 1:
            registered = []
            for index, value in enumerate(values):
                partial_sum = Signal(value.shape(), name=f"{name}_level{level}_{index}")
                m.d.sync += partial_sum.eq(value)
                registered.append(partial_sum)
            values = registered
    return values[0]


class MacArray(wiring.Component):
    """SIMD vector-matrix multiply-accumulate array.

    Every cycle it may take one vector of K packed 8-bit activation lanes and a K x N
    tile of packed 8-bit weight lanes, and add their product into N int32 accumulators.
    Each lane carries one int8, two int4 or four int2 values (``hdl.params.Precision``,
    selected per vector, packed as ``sim.golden.simd.pack_lanes`` does); all sub-products
    of a lane add into the same column sum, so int4 doubles and int2 quadruples the
    multiply-accumulates per cycle. Only ``params.precisions`` are built; a vector at
    another gives unspecified sums.

    Activations and weights are raw two's-complement values: the compiler folds the
    input zero point into the bias, and feeds padding as the input zero point.

    The array is fully pipelined and never stalls (no ``ready``): a vector may arrive
    every cycle, and a new accumulation (``first``) may start right after one that ended
    (``last``). Accumulators wrap as two's-complement int32, as TFLite's do.

    Pipeline: the K x N lane products (``signed(PRODUCT_WIDTH)``) are registered (twice
    with ``params.multiply_stages = 2``, so that an FPGA's placer can put a register beside
    each DSP block instead of routing across the die to and from it, but once in an
    SB_MAC16, whose output register is in the block: :func:`product_stages`); the
    K-input adder tree of each column is registered every ``TREE_LEVELS_PER_STAGE``
    levels and at its root; the accumulators are the last register and drive ``o_acc``
    directly (its payload holds between outputs but is only meaningful while valid).

    Parameters
    ----------
    params : MacParams
        K = ``params.lanes``, N = ``params.columns``.

    Attributes
    ----------
    i_data : In(stream.Signature(mac_input_layout(params), always_ready=True))
        ``activations : ArrayLayout(unsigned(8), K)``,
        ``weights : ArrayLayout(ArrayLayout(unsigned(8), K), N)`` (``weights[column][lane]``),
        ``precision : Precision`` (2 bits; the unused code 3 acts as int2), ``first : 1``
        and ``last : 1``. ``first`` replaces the accumulators with this vector's product
        (clear), ``last`` emits them after adding it (read out); both may be set. Sampled
        when ``valid``; idle cycles inside an accumulation add nothing.
    o_acc : Out(stream.Signature(data.ArrayLayout(signed(32), N), always_ready=True))
        The N column sums of an accumulation, valid for one cycle, ``LATENCY`` cycles
        after the input with ``last``.
    LATENCY : int
        Cycles from an input vector with ``last`` (sampled at the end of cycle t) to its
        ``o_acc.valid`` (cycle t + LATENCY): :func:`product_stages` (products) +
        ``tree_stages(K)`` (adder tree, ``ceil(log2(K) / TREE_LEVELS_PER_STAGE)``) + 1
        (accumulators). With one product stage, K = 4: 3; K = 8 or 16: 4; K = 32: 5.
    """

    def __init__(self, params):
        if not isinstance(params, MacParams):
            raise TypeError(f"MacArray params must be a MacParams, not {params!r}")
        self._params = params
        super().__init__({
            "i_data": In(stream.Signature(mac_input_layout(params), always_ready=True)),
            "o_acc": Out(stream.Signature(mac_output_layout(params), always_ready=True)),
        })

    @property
    def params(self):
        """The :class:`MacParams` the array was built with."""
        return self._params

    @property
    def LATENCY(self):
        """Cycles from an input with ``last`` to its ``o_acc.valid``: products, tree, accumulators."""
        return mac_latency(self._params)

    def _lane(self, member, index):
        """Lane ``index`` of payload member ``member`` (``activations``, or ``weights`` with
        lane ``column * lanes + lane``), sliced from the payload signal itself.

        Amaranth lowers each statement's expression anew, so a lane taken through the
        payload's views (``payload.weights[column][lane]``, a slice of a slice of the whole
        member) costs the member's width in every statement that reads it: with a lane
        product per lane and column, a cost quadratic in the array's size. A slice of the
        signal costs the lane's width.
        """
        start = mac_input_layout(self._params)[member].offset + index * LANE_WIDTH
        return self.i_data.payload.as_value()[start:start + LANE_WIDTH]

    def _registered_products(self, m, column):
        """The lane products of ``column``, each registered once: in the fabric, or in an
        SB_MAC16 for every two lanes (``MacParams.dsp_block``)."""
        lanes, precision = self._params.lanes, self.i_data.payload.precision
        operands = [(self._lane("activations", lane), self._lane("weights", column * lanes + lane))
                    for lane in range(lanes)]
        if self._params.dsp_block == "SB_MAC16":
            return [product for lane in range(0, lanes, 2)
                    for product in sb_mac16_pair(m, operands[lane:lane + 2], f"product_c{column}_l{lane}")]
        products = []
        for lane, (activation, weight) in enumerate(operands):
            product = Signal(signed(PRODUCT_WIDTH), name=f"product_c{column}_l{lane}")
            m.d.sync += product.eq(lane_product(activation, weight, precision, self._params.precisions))
            products.append(product)
        return products

    def _column_sum(self, m, column):
        """Registered lane products of ``column``, summed by a registered adder tree."""
        products = []
        for lane, product in enumerate(self._registered_products(m, column)):
            for stage in range(1, product_stages(self._params)):
                product = register(m, product, f"product_c{column}_l{lane}_{stage}")
            products.append(product)
        return adder_tree(m, products, name=f"tree_c{column}")

    def elaborate(self, platform):
        m = Module()
        column_sums = [self._column_sum(m, column) for column in range(self._params.columns)]

        # Control travels alongside the data, through the product and tree registers.
        control_delay = self.LATENCY - 1
        valid = delay(m, self.i_data.valid, control_delay, "valid", reset_less=False)
        first = delay(m, self.i_data.payload.first, control_delay, "first")
        last = delay(m, self.i_data.payload.last, control_delay, "last")

        # Accumulators, read out directly; the sum keeps its low ACC_WIDTH bits (int32 wrap).
        for column, column_sum in enumerate(column_sums):
            accumulator = self.o_acc.payload[column]
            wrapped = (accumulator + column_sum)[:ACC_WIDTH].as_signed()
            with m.If(valid):
                m.d.sync += accumulator.eq(Mux(first, column_sum, wrapped))
        m.d.sync += self.o_acc.valid.eq(valid & last)
        return m
