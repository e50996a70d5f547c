"""The compute path of a core: operand selection, MAC array or vector unit, requantize, write-back.

``MACADD`` chains the units: the MAC array's tiles through the requantizer (the conv's
output), then with the residual tile through the vector unit's ``ADD`` and a second
requantizer (the add's output), which writes back.
"""

import functools

from amaranth import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .isa import Opcode, instruction_layout
from .mac import MacArray, mac_latency
from .params import ACC_WIDTH, LANE_WIDTH, CoreParams, Precision, Rounding
from .pipeline import delay
from .requantize import Requantizer, requantize_latency
from .sram import BankedSram
from .vector import VectorOp, VectorUnit, vector_latency

__all__ = ["Datapath", "OPERAND_LATENCY", "operand_latency", "FUSED_ADD_LATENCY", "RESIDUAL_LEAD",
           "fused_add_latency", "residual_lead", "drain_latencies",
           "settings_entry_layout", "unpack_values"]

#: Registers between the SRAM read data and the MAC array's or vector unit's inputs. They
#: cut the path from the block RAM outputs through the banks' read crossbar into the
#: multipliers, the longest path of a core on an FPGA. (A core with ``MacParams.operand_register``
#: False has none: :func:`operand_latency`.)
OPERAND_LATENCY = 1


def operand_latency(params):
    """Cycles the core registers its SRAM words before the MAC array and the vector unit, for
    :class:`~hdl.params.MacParams` ``params``: ``OPERAND_LATENCY``, or 0 without
    ``operand_register``."""
    return OPERAND_LATENCY if params.operand_register else 0


def fused_add_latency(params):
    """Cycles ``MACADD`` adds after the conv's requantizer, for :class:`~hdl.params.MacParams`
    ``params``: the vector unit's ``ADD`` of the conv's output and the residual, then the
    second requantizer."""
    return vector_latency(params) + requantize_latency(params)


def residual_lead(params):
    """Cycles from a ``MACADD`` tile entering the first requantizer (``tile_in``) to its
    residual read (``residual_read``): the word then arrives, through the SRAM and the
    operand register, in the cycle the conv's requantized tile does."""
    return requantize_latency(params) - BankedSram.LATENCY - operand_latency(params)


#: :func:`fused_add_latency` and :func:`residual_lead` with a one-stage multiply.
FUSED_ADD_LATENCY = VectorUnit.LATENCY + Requantizer.LATENCY
RESIDUAL_LEAD = Requantizer.LATENCY - BankedSram.LATENCY - OPERAND_LATENCY


def drain_latencies(params):
    """Cycles from a compute instruction's last issued element to the write of its last result.

    ``{"mac": ..., "vector": ..., "macadd": ...}`` for :class:`~hdl.params.MacParams`
    ``params``: the SRAM read, the operand register, the MAC array or the vector unit,
    the requantize unit; for ``MACADD`` the ``MAC``'s and :func:`fused_add_latency`.
    """
    tail = BankedSram.LATENCY + operand_latency(params) + requantize_latency(params)
    mac = tail + mac_latency(params)
    return {"mac": mac, "vector": tail + vector_latency(params), "macadd": mac + fused_add_latency(params)}


@functools.lru_cache(maxsize=16)
def settings_entry_layout(columns):
    """Layout of one settings-table entry: per output column a bias, a multiplier and a shift.

    In memory (and in the SRAM image) the entry is little-endian: ``columns`` int32
    biases, then ``columns`` int32 multipliers, then ``columns`` int8 shifts.
    """
    return data.StructLayout({
        "bias": data.ArrayLayout(signed(ACC_WIDTH), columns),
        "multiplier": data.ArrayLayout(signed(ACC_WIDTH), columns),
        "shift": data.ArrayLayout(signed(LANE_WIDTH), columns),
    })


def unpack_values(m, word, offset, precision, count, name):
    """The ``count`` values at ``precision`` starting at byte ``offset`` of ``word``, sign-extended to 8 bits.

    Value ``i`` is byte ``i`` (int8), nibble ``i`` (int4) or bit pair ``i`` (int2) from
    the offset on, as :func:`sim.golden.simd.pack_lanes` packs them. The word is shifted
    once, into the signal ``name`` of ``m``: a shift expression sliced for each value is
    lowered once per slice, ``3 * count`` shifters as wide as the word (at NorthPole's
    size most of the tile's combinational edges, which elaboration checks one by one).
    """
    shifted = Signal(len(word), name=name)
    m.d.comb += shifted.eq(word >> (offset * LANE_WIDTH))
    values = []
    for index in range(count):
        by_precision = {p: shifted[index * p.bits:(index + 1) * p.bits].as_signed() for p in Precision}
        values.append(Mux(precision == Precision.INT8, by_precision[Precision.INT8],
                          Mux(precision == Precision.INT4, by_precision[Precision.INT4],
                              by_precision[Precision.INT2])))
    return values


class Datapath(wiring.Component):
    """Everything between the core's SRAM read ports and its write-back port.

    The sequencer issues one element a cycle: ``element`` and the operands' byte
    offsets arrive with the read addresses, and the words read (``a_word``, ``b_word``,
    ``weights``) one cycle later (``BankedSram.LATENCY``). The datapath registers the
    words (:func:`operand_latency`) and delays the control to meet them. ``MAC`` elements go
    to the :class:`~hdl.mac.MacArray` (``a_word`` as the packed activation lanes, the
    weight tile's ``columns`` words as its columns); ``ADD``, ``MAXPOOL`` and ``AVGPOOL``
    elements to the :class:`~hdl.vector.VectorUnit`, with the ``columns`` values of one
    tile unpacked at the instruction's precision from each operand word at its byte
    offset. Each finished tile enters the :class:`~hdl.requantize.Requantizer`
    (``tile_in``) with ``settings``, the settings-table entry read for it, and the
    instruction's zero point, clamp, output precision and rounding. ``LATENCY`` cycles
    after an element with ``last`` was issued, its packed tile leaves on ``o_write``: the
    ``columns * out_precision.bits / 8`` bytes placed at byte ``o_offset`` of a word,
    with the byte mask to write just them. Operands are unpacked at ``precision`` and
    results packed at ``out_precision``; the two only select multiplexers, so the timing
    is the same for every pairing.

    ``MACADD`` runs its elements through the MAC array and its tiles through the
    requantizer with the instruction's ``a_zero_point`` and ``mid_clamp_*`` (the conv's
    output). :func:`residual_lead` cycles after a tile's ``tile_in``, ``residual_read`` asks
    for its residual word (``r_offset`` with it), which arrives ``BankedSram.LATENCY``
    cycles later on ``r_word``. The requantized tile (``columns`` values unpacked at
    ``out_precision``) and the residual's ``columns`` values at ``out_precision`` then
    take the vector unit's ``ADD`` and a second requantizer (bias 0, ``add_multiplier``,
    ``add_shift``, double rounding, the instruction's zero point and clamp), whose packed
    tile is written :func:`fused_add_latency` cycles after the ``MAC``'s would be.

    Parameters
    ----------
    params : CoreParams

    Attributes
    ----------
    instruction : In(instruction_layout(params))
        The instruction being executed, held until its last result is written.
    element : In(Signature(valid, first, last))
    a_offset, b_offset : In(log2(lanes))
        Byte offsets of operands a and b within their words (vector instructions).
    a_word, b_word : In(lanes * 8)
        Operand words, the cycle after ``element``.
    weights : In(columns * lanes * 8)
        Weight tile, the cycle after ``element``: word ``j`` is column ``j``.
    settings : In(settings_entry_layout(columns))
        The settings entry of the tile entering the requantize unit this cycle.
    tile_in : Out(1)
        A tile enters the requantize unit.
    o_offset : In(log2(lanes))
        Byte offset of the tile being written.
    o_write : Out(Signature(en, data, mask))
        The write-back: one word of data and a byte mask.
    residual_read : Out(1)
        ``MACADD``: read the residual word of the next tile to add.
    r_offset : In(log2(lanes))
        Byte offset of that residual tile within its word, with ``residual_read``.
    r_word : In(lanes * 8)
        The residual word, ``BankedSram.LATENCY`` cycles after ``residual_read``.
    MAC_LATENCY, VECTOR_LATENCY, MACADD_LATENCY : int
        Cycles from an issued element with ``last`` to the write of its tile, through the
        MAC array, the vector unit, or the MAC array and the fused add
        (:func:`drain_latencies`).
    """

    def __init__(self, params):
        if not isinstance(params, CoreParams):
            raise TypeError(f"Datapath params must be a CoreParams, not {params!r}")
        self._params = params
        self._mac = MacArray(params.mac)
        self._vector = VectorUnit(params.mac)
        self._requantizer = Requantizer(params.mac)
        self._add_requantizer = Requantizer(params.mac) if params.fused_add else None
        latencies = drain_latencies(params.mac)
        self.MAC_LATENCY, self.VECTOR_LATENCY = latencies["mac"], latencies["vector"]
        self.MACADD_LATENCY = latencies["macadd"]
        word = LANE_WIDTH * params.word_bytes
        offset = (params.word_bytes - 1).bit_length()
        super().__init__({
            "instruction": In(instruction_layout(params)),
            "element": In(wiring.Signature({"valid": Out(1), "first": Out(1), "last": Out(1)})),
            "a_offset": In(offset),
            "b_offset": In(offset),
            "a_word": In(word),
            "b_word": In(word),
            "weights": In(word * params.mac.columns),
            "settings": In(settings_entry_layout(params.mac.columns)),
            "tile_in": Out(1),
            "o_offset": In(offset),
            "o_write": Out(wiring.Signature({"en": Out(1), "data": Out(word),
                                             "mask": Out(params.word_bytes)})),
            "residual_read": Out(1),
            "r_offset": In(offset),
            "r_word": In(word),
        })

    @property
    def params(self):
        return self._params

    def _fused(self):
        """Whether the instruction is a ``MACADD`` the core fuses (``CoreParams.fused_add``;
        without it the compilers emit none, and one would run as a ``MAC``)."""
        if not self._params.fused_add:
            return Const(0)
        return self.instruction.opcode == Opcode.MACADD

    def _issue(self, m, element, a_offset, b_offset, words):
        """Feed the MAC array or the vector unit with the registered ``words`` read for
        ``element``; for ``MACADD``, the vector unit with the conv's requantized tiles."""
        instruction = self.instruction
        columns = self._params.mac.columns
        mac, vector = self._mac.i_data, self._vector.i_data
        multiplies = (instruction.opcode == Opcode.MAC) | self._fused()
        m.d.comb += [
            mac.valid.eq(element.valid & multiplies),
            mac.payload.activations.eq(words["a_word"]),
            mac.payload.weights.eq(words["weights"]),
            mac.payload.precision.eq(instruction.precision),
            mac.payload.first.eq(element.first),
            mac.payload.last.eq(element.last),
        ]
        fused_input = self._add_residual(m, vector) if self._params.fused_add else []
        a_values, b_values = (
            Cat(unpack_values(m, words[f"{operand}_word"], offset, instruction.precision, columns,
                              f"{operand}_unpacked"))
            for operand, offset in (("a", a_offset), ("b", b_offset)))
        with m.If(self._fused()):
            m.d.comb += fused_input
        with m.Else():
            m.d.comb += [
                vector.valid.eq(element.valid & ~multiplies),
                vector.payload.first.eq(element.first),
                vector.payload.last.eq(element.last),
                vector.payload.a.eq(a_values),
                vector.payload.b.eq(b_values),
            ]
        with m.Switch(instruction.opcode):
            with m.Case(Opcode.ADD, Opcode.MACADD):
                m.d.comb += vector.payload.op.eq(VectorOp.ADD)
            with m.Case(Opcode.MAXPOOL):
                m.d.comb += vector.payload.op.eq(VectorOp.MAX)
            with m.Default():
                m.d.comb += vector.payload.op.eq(VectorOp.SUM)
        for name in ("a_zero_point", "b_zero_point", "a_multiplier", "a_shift", "b_multiplier",
                     "b_shift"):
            m.d.comb += self._vector.settings[name].eq(instruction[name])

    def _add_residual(self, m, vector):
        """``MACADD``'s vector-unit input (statements to apply while it runs): the conv's
        requantized tile as operand a, the residual tile read :func:`residual_lead` cycles after
        its ``tile_in`` as operand b."""
        instruction, columns = self.instruction, self._params.mac.columns
        lead = residual_lead(self._params.mac)
        m.d.comb += self.residual_read.eq(delay(m, self.tile_in & self._fused(), lead, "residual_read",
                                                reset_less=False))
        operands = operand_latency(self._params.mac)
        offset = delay(m, self.r_offset, BankedSram.LATENCY + operands, "r_offset")
        residual = delay(m, self.r_word, operands, "r_word_operand")
        conv = self._requantizer.o_data
        return [
            vector.valid.eq(conv.valid),
            vector.payload.first.eq(1),
            vector.payload.last.eq(1),
            vector.payload.a.eq(Cat(unpack_values(m, conv.payload.as_value(), 0, instruction.out_precision,
                                                  columns, "conv_unpacked"))),
            vector.payload.b.eq(Cat(unpack_values(m, residual, offset, instruction.out_precision, columns,
                                                  "residual_unpacked"))),
        ]

    def _requantize(self, m):
        """The requantizer takes the MAC array's or the vector unit's tiles; for ``MACADD``
        the MAC array's, at the conv's zero point and clamp, and the second requantizer the
        vector unit's, at the add's output scale (where the core has it, ``CoreParams.fused_add``)."""
        requantizer, mac, vector = self._requantizer.i_data, self._mac.o_acc, self._vector.o_acc
        fused = self._fused()
        m.d.comb += [
            requantizer.valid.eq(mac.valid | (vector.valid & ~fused)),
            requantizer.payload.acc.eq(Mux(vector.valid & ~fused, vector.payload, mac.payload)),
            self.tile_in.eq(requantizer.valid),
        ]
        self._requantize_settings(m)
        if self._params.fused_add:
            self._requantize_add(m)

    def _requantize_settings(self, m):
        """The requantizer's settings: the entry read for the tile, the instruction's zero
        point, clamp, rounding and output precision (for ``MACADD`` the conv's)."""
        instruction, requantizer = self.instruction, self._requantizer.i_data
        columns = self._params.mac.columns
        fused = self._fused()
        for column in range(columns):
            m.d.comb += [
                requantizer.payload.bias[column].eq(self.settings.bias[column]),
                requantizer.payload.multiplier[column].eq(self.settings.multiplier[column]),
                requantizer.payload.shift[column].eq(self.settings.shift[column]),
            ]
        m.d.comb += [
            requantizer.payload.zero_point.eq(instruction.zero_point),
            requantizer.payload.clamp_min.eq(instruction.clamp_min),
            requantizer.payload.clamp_max.eq(instruction.clamp_max),
            requantizer.payload.rounding.eq(instruction.rounding),
            requantizer.payload.precision.eq(instruction.out_precision),
        ]
        if self._params.fused_add:
            with m.If(fused):
                m.d.comb += [
                    requantizer.payload.zero_point.eq(instruction.a_zero_point),
                    requantizer.payload.clamp_min.eq(instruction.mid_clamp_min),
                    requantizer.payload.clamp_max.eq(instruction.mid_clamp_max),
                ]

    def _requantize_add(self, m):
        """``MACADD``'s second requantizer: the vector unit's sums at the add's output scale."""
        instruction, vector = self.instruction, self._vector.o_acc
        fused, added = self._fused(), self._add_requantizer.i_data
        columns = self._params.mac.columns
        m.d.comb += [
            added.valid.eq(vector.valid & fused),
            added.payload.acc.eq(vector.payload),
            added.payload.rounding.eq(Rounding.DOUBLE),
            added.payload.precision.eq(instruction.out_precision),
        ]
        for column in range(columns):
            m.d.comb += [
                added.payload.multiplier[column].eq(instruction.add_multiplier),
                added.payload.shift[column].eq(instruction.add_shift),
            ]
        for name in ("zero_point", "clamp_min", "clamp_max"):
            m.d.comb += added.payload[name].eq(instruction[name])

    def _write_back(self, m):
        params = self._params
        main = self._requantizer.o_data
        valid, payload = main.valid, main.payload.as_value()
        if params.fused_add:
            fused, added = self._fused(), self._add_requantizer.o_data
            valid = Mux(fused, added.valid, valid)
            payload = Mux(fused, added.payload.as_value(), payload)
        mask = Signal(params.word_bytes)
        with m.Switch(self.instruction.out_precision):
            for precision in Precision:
                with m.Case(precision):
                    packed_bytes = params.mac.columns * precision.bits // LANE_WIDTH
                    m.d.comb += mask.eq((1 << packed_bytes) - 1)
        m.d.comb += [
            self.o_write.en.eq(valid),
            self.o_write.data.eq((payload << (self.o_offset * LANE_WIDTH))
                                 [:LANE_WIDTH * params.word_bytes]),
            self.o_write.mask.eq((mask << self.o_offset)[:params.word_bytes]),
        ]

    def elaborate(self, platform):
        m = Module()
        m.submodules.mac = self._mac
        m.submodules.vector = self._vector
        m.submodules.requantizer = self._requantizer
        if self._add_requantizer is not None:
            m.submodules.add_requantizer = self._add_requantizer

        # The words read arrive BankedSram.LATENCY cycles after their element and are
        # registered for operand_latency more; the control is delayed to meet them.
        operands = operand_latency(self._params.mac)
        words = {name: delay(m, getattr(self, name), operands, f"{name}_operand")
                 for name in ("a_word", "b_word", "weights")}
        control = Signal(data.StructLayout({
            "valid": 1, "first": 1, "last": 1,
            "a_offset": len(self.a_offset), "b_offset": len(self.b_offset)}))
        m.d.comb += [
            control.valid.eq(self.element.valid),
            control.first.eq(self.element.first),
            control.last.eq(self.element.last),
            control.a_offset.eq(self.a_offset),
            control.b_offset.eq(self.b_offset),
        ]
        control = delay(m, control, BankedSram.LATENCY + operands, "control",
                        reset_less=False)
        self._issue(m, control, control.a_offset, control.b_offset, words)
        self._requantize(m)
        self._write_back(m)
        return m
