"""The compute path of a core: operand selection, MAC array or vector unit, requantize, write-back."""

import functools

from amaranth import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .isa import Opcode, instruction_layout
from .mac import MacArray, mac_latency
from .params import ACC_WIDTH, LANE_WIDTH, CoreParams, Precision
from .pipeline import delay
from .requantize import Requantizer
from .sram import BankedSram
from .vector import VectorOp, VectorUnit

__all__ = ["Datapath", "OPERAND_LATENCY", "drain_latencies", "settings_entry_layout",
           "unpack_values"]

#: Registers between the SRAM read data and the MAC array's or vector unit's inputs. They
#: cut the path from the block RAM outputs through the banks' read crossbar into the
#: multipliers, the longest path of a core on an FPGA.
OPERAND_LATENCY = 1


def drain_latencies(params):
    """Cycles from a compute instruction's last issued element to the write of its last result.

    ``{"mac": ..., "vector": ...}`` for :class:`~hdl.params.MacParams` ``params``: the
    SRAM read, the operand register, the MAC array or the vector unit, the requantize unit.
    """
    tail = BankedSram.LATENCY + OPERAND_LATENCY + Requantizer.LATENCY
    return {"mac": tail + mac_latency(params), "vector": tail + VectorUnit.LATENCY}


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


def unpack_values(word, offset, precision, count):
    """The ``count`` values at ``precision`` starting at byte ``offset`` of ``word``, sign-extended to 8 bits.

    Value ``i`` is byte ``i`` (int8), nibble ``i`` (int4) or bit pair ``i`` (int2) from
    the offset on, as :func:`sim.golden.simd.pack_lanes` packs them.
    """
    shifted = word >> (offset * LANE_WIDTH)
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
    words (``OPERAND_LATENCY``) and delays the control to meet them. ``MAC`` elements go
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
    MAC_LATENCY, VECTOR_LATENCY : int
        Cycles from an issued element with ``last`` to the write of its tile, through the
        MAC array or the vector unit (:func:`drain_latencies`).
    """

    def __init__(self, params):
        if not isinstance(params, CoreParams):
            raise TypeError(f"Datapath params must be a CoreParams, not {params!r}")
        self._params = params
        self._mac = MacArray(params.mac)
        self._vector = VectorUnit(params.mac)
        self._requantizer = Requantizer(params.mac)
        latencies = drain_latencies(params.mac)
        self.MAC_LATENCY, self.VECTOR_LATENCY = latencies["mac"], latencies["vector"]
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
        })

    @property
    def params(self):
        return self._params

    def _issue(self, m, element, a_offset, b_offset, words):
        """Feed the MAC array or the vector unit with the registered ``words`` read for ``element``."""
        instruction = self.instruction
        columns = self._params.mac.columns
        mac, vector = self._mac.i_data, self._vector.i_data
        m.d.comb += [
            mac.valid.eq(element.valid & (instruction.opcode == Opcode.MAC)),
            mac.payload.activations.eq(words["a_word"]),
            mac.payload.weights.eq(words["weights"]),
            mac.payload.precision.eq(instruction.precision),
            mac.payload.first.eq(element.first),
            mac.payload.last.eq(element.last),
            vector.valid.eq(element.valid & (instruction.opcode != Opcode.MAC)),
            vector.payload.first.eq(element.first),
            vector.payload.last.eq(element.last),
            vector.payload.a.eq(Cat(unpack_values(words["a_word"], a_offset, instruction.precision,
                                                  columns))),
            vector.payload.b.eq(Cat(unpack_values(words["b_word"], b_offset, instruction.precision,
                                                  columns))),
        ]
        with m.Switch(instruction.opcode):
            with m.Case(Opcode.ADD):
                m.d.comb += vector.payload.op.eq(VectorOp.ADD)
            with m.Case(Opcode.MAXPOOL):
                m.d.comb += vector.payload.op.eq(VectorOp.MAX)
            with m.Default():
                m.d.comb += vector.payload.op.eq(VectorOp.SUM)
        for name in ("a_zero_point", "b_zero_point", "a_multiplier", "a_shift", "b_multiplier",
                     "b_shift"):
            m.d.comb += self._vector.settings[name].eq(instruction[name])

    def _requantize(self, m):
        instruction, requantizer = self.instruction, self._requantizer.i_data
        mac, vector = self._mac.o_acc, self._vector.o_acc
        columns = self._params.mac.columns
        m.d.comb += [
            requantizer.valid.eq(mac.valid | vector.valid),
            requantizer.payload.acc.eq(Mux(vector.valid, vector.payload, mac.payload)),
            self.tile_in.eq(requantizer.valid),
        ]
        for column in range(columns):
            m.d.comb += [
                requantizer.payload.bias[column].eq(self.settings.bias[column]),
                requantizer.payload.multiplier[column].eq(self.settings.multiplier[column]),
                requantizer.payload.shift[column].eq(self.settings.shift[column]),
            ]
        for name in ("zero_point", "clamp_min", "clamp_max", "rounding"):
            m.d.comb += requantizer.payload[name].eq(instruction[name])
        m.d.comb += requantizer.payload.precision.eq(instruction.out_precision)

    def _write_back(self, m):
        params = self._params
        output = self._requantizer.o_data
        mask = Signal(params.word_bytes)
        with m.Switch(self.instruction.out_precision):
            for precision in Precision:
                with m.Case(precision):
                    packed_bytes = params.mac.columns * precision.bits // LANE_WIDTH
                    m.d.comb += mask.eq((1 << packed_bytes) - 1)
        m.d.comb += [
            self.o_write.en.eq(output.valid),
            self.o_write.data.eq((output.payload.as_value() << (self.o_offset * LANE_WIDTH))
                                 [:LANE_WIDTH * params.word_bytes]),
            self.o_write.mask.eq((mask << self.o_offset)[:params.word_bytes]),
        ]

    def elaborate(self, platform):
        m = Module()
        m.submodules.mac = self._mac
        m.submodules.vector = self._vector
        m.submodules.requantizer = self._requantizer

        # The words read arrive BankedSram.LATENCY cycles after their element and are
        # registered for OPERAND_LATENCY more; the control is delayed to meet them.
        words = {name: delay(m, getattr(self, name), OPERAND_LATENCY, f"{name}_operand")
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
        control = delay(m, control, BankedSram.LATENCY + OPERAND_LATENCY, "control",
                        reset_less=False)
        self._issue(m, control, control.a_offset, control.b_offset, words)
        self._requantize(m)
        self._write_back(m)
        return m
