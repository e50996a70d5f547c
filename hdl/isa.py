"""The core's instruction set: encoding, fields and timing, the one place they are defined.

A core runs two programs of wide instructions from its program memory, each one
instruction at a time until its ``HALT``: the **compute program** from index 0 on the
compute sequencer, which drives the MAC array and the vector unit, and the **message
program** from :func:`message_entry` (the last index of the first bank) downward on the message sequencer,
which sends while the other computes. Either may hold any instruction; the
compiler gives the compute instructions to the first and the ``SEND`` s to the second, and
the core's run lasts until both have halted. There are no branches and no data-dependent control: every
instruction's duration follows from its fields alone (the one exception, ``WAIT``,
waits for a token the array's schedule has already sent).

Loop nest
---------
A compute instruction (``MAC``, ``MACADD``, ``ADD``, ``MAXPOOL``, ``AVGPOOL``) runs a nest of
``LOOP_LEVELS`` = 6 counted loops, level 0 innermost; level ``i`` runs ``counts[i]``
times (1 to ``2**count_width``, ``CoreParams.count_width``), so the nest issues
``prod(counts)`` elements, one per cycle. The innermost ``reduce_levels`` levels (0 to
3) form one *tile*: the MAC array or vector unit accumulates over a tile and hands one
result vector to the requantize unit at its last element; the outer levels enumerate tiles.

Five affine address streams follow the nest, each ``base + sum(stride[i] * index[i])``:

==========  ==================================  ===============  =====================
stream      reads or writes                     units            advances per
==========  ==================================  ===============  =====================
``a``       operand a (activations)             activation byte  element (all levels)
``b``       ``MAC``: weight tile; ``ADD``:      byte             element (all levels)
            operand b (activations)
``o``       write-back of each result tile      activation byte  tile (levels >= reduce)
``s``       settings-table entry of each tile   entry            tile (levels >= reduce)
``r``       ``MACADD``: residual tile added to  activation byte  tile (levels >= reduce)
            each result tile
==========  ==================================  ===============  =====================

``o``, ``s`` and ``r`` strides of the reduction levels must be 0. The encoding stores, for each
level, the *step*: the change of address when that level is the outermost one to advance
(all inner levels wrapping to 0), ``step[i] = stride[i] - sum(stride[j] * (counts[j] - 1)
for the stream's levels j < i)``, so the hardware needs one adder per stream.

Operands. ``a`` and ``b`` addresses are byte addresses: the word holding the byte is
read, and for the vector unit the ``columns`` values of one tile (``columns * bits / 8``
bytes) start at the byte offset within the word. ``MAC`` reads the whole word of ``a``
(``lanes`` packed lanes) and the ``columns`` consecutive words of the weight tile at
``b`` (``b`` word-aligned). ``o`` writes the tile's packed bytes at its byte offset.

Opcodes
-------
``HALT``: stop; the core raises ``done``.
``MAC``: conv and fully-connected layers: ``a`` times weight tiles ``b`` accumulated over
    each tile, requantized with entry ``s`` of the settings table (bias, multiplier, shift
    per output channel) and the instruction's ``zero_point``/``clamp_*``/``rounding``,
    packed at ``out_precision`` and stored at ``o``.
``MACADD``: a ``MAC`` with the residual ``ADD`` that follows it fused in: each result tile
    is requantized as the conv's own output would be (entry ``s``, zero point
    ``a_zero_point``, clamp ``mid_clamp_min`` to ``mid_clamp_max``: the conv's fused ReLU
    or the precision's range), then added LiteRT's way to the residual tile read at ``r``
    (``columns`` values at ``out_precision`` from its byte offset): per column
    ``MBQM((mid - a_zero_point) << 20, a_multiplier, a_shift) + MBQM((r - b_zero_point)
    << 20, b_multiplier, b_shift)``, requantized with ``add_multiplier`` and ``add_shift``
    (bias 0, double rounding) and the instruction's ``zero_point``/``clamp_*``, packed at
    ``out_precision`` and stored at ``o``. The conv's output, the residual and the result
    all have ``out_precision``. The residual is read through its own SRAM read channel,
    so it meets no other read; bit for bit, a ``MAC`` storing the conv's output followed
    by an ``ADD``.
``ADD``: residual add: per element, LiteRT's int8 ADD of operands ``a`` and ``b``
    (``a_zero_point``, ``a_multiplier``, ``a_shift``, and ``b_*``), requantized with
    entry ``s`` (multiplier and shift of the output scale, bias 0) and stored at ``o``.
``MAXPOOL``: max of ``a`` over each tile (the pooling window), passed through entry ``s``
    (multiplier ``2**30``, shift 1: the identity) and stored.
``AVGPOOL``: sum of ``a`` over each tile (all pixels), requantized with entry ``s``
    (bias ``-count * zero point``, LiteRT MEAN's multiplier and shift) and stored.
``SIGNAL``: pulse token ``token`` for one cycle on the core's ``o_tokens`` and send it to
    the cores of the destination rectangle (below) as one token message.
``WAIT``: wait until ``counts[0]`` pulses of token ``token`` have arrived (they may have
    arrived earlier; the core counts each token's pulses), and consume them.
``SEND``: copy activation words to the cores of the destination rectangle: per element,
    the word at ``a`` of this core's activation SRAM is written at ``o`` of every
    destination's. No reduction (``reduce_levels`` 0), word-aligned streams; ``b`` and
    ``s`` are unused.
``DELAY``: do nothing for ``prod(counts)`` cycles (the compiler's way to keep two
    messages off one network link in one cycle; see ``gen.array``).

The destination rectangle of ``SEND`` and ``SIGNAL`` is every core in columns ``dest_x``
to ``dest_x_last`` and rows ``dest_y`` to ``dest_y_last`` (both inclusive; the last ones
default to the first, a single core). Each message is injected once and replicated by
the routers along the XY tree (``hdl.router``): a multicast costs the sender one word a
cycle whatever the rectangle's size. The rectangle must lie within the array: the
instruction checks it against the largest array, :func:`check_destinations` against
a given one.

Precisions
----------
Every compute instruction selects two precisions (int8, int4 or int2). ``precision`` is
that of the operands read: the activations of ``a`` and ``b`` and, for ``MAC``, the
weights (the MAC array's modes are symmetric: weights are at the layer's input
precision). ``out_precision`` is that of the result: each tile is requantized, clamped
and packed at it, ``columns * out_precision.bits / 8`` bytes written at ``o`` with a byte
mask. ``zero_point``, ``clamp_min`` and ``clamp_max`` are the output's and must lie in
``out_precision``'s range (checked for compute opcodes; the other opcodes ignore them).
``out_precision`` defaults to ``precision`` (``None`` in :class:`Instruction`), so
"int8 in, int4 out" is ``precision=INT8, out_precision=INT4``. ``SEND`` copies whole
words and ignores both. Neither precision changes an instruction's timing.

Requantize-and-store is not a separate instruction: every
compute instruction ends each tile with it, so accumulators never leave the pipeline and
the next tile starts on the next cycle (on a core that requantizes fewer columns a cycle,
``MacParams.requantize_columns``, ``tile_interval`` cycles after the tile before began, if
that is later).

Timing
------
Every instruction is fetched in :func:`fetch_cycles` cycles: 2 (program-memory read,
decode), or on a core with ``CoreParams.narrow_program`` one read per word of the
instruction and the decode, ``instruction_words + 1``; with ``CoreParams.program_steps``
one read per word before the steps of streams a and b (:func:`steps_row`) and the
decode, ``steps_row + 1``.
A compute instruction then issues its ``prod(counts)`` elements on consecutive cycles (each
tile ``tile_interval`` cycles after the one before at the earliest) and
drains for ``BankedSram.LATENCY + operand_latency + unit LATENCY + Requantizer.LATENCY``
cycles (``hdl.datapath.drain_latencies``), the last of which writes the last result; the
next instruction is fetched after that. ``MACADD`` drains for the ``MAC``'s drain plus
``VectorUnit.LATENCY + Requantizer.LATENCY`` (the add's rescaling and its output
requantization), and reads each residual tile ``BankedSram.LATENCY`` cycles before the
conv's requantized tile leaves the first requantizer. ``SEND`` issues one word a cycle likewise and
drains for ``BankedSram.LATENCY`` cycles: each word leaves for the network in the cycle
after its read. ``DELAY`` takes ``prod(counts)`` cycles and no drain. ``SIGNAL`` takes
one more cycle (its message leaves in it), ``WAIT`` one plus the cycles spent waiting,
``HALT`` none: ``done`` rises the cycle after its decode.
``sim.cycle`` computes a program's cycles from this; a run lasts as long as the longer of
the two programs.
"""

import enum as py_enum
import functools
from dataclasses import dataclass, field

from amaranth import Shape, signed, unsigned
from amaranth.lib import data, enum

from .bits import const_bits
from .params import (
    COUNT_WIDTH,
    LANE_WIDTH,
    LOOP_LEVELS,
    MAX_CORE_COLUMNS,
    MAX_CORE_ROWS,
    MAX_SHIFT,
    MIN_SHIFT,
    SHIFT_WIDTH,
    TOKENS,
    CoreParams,
    Precision,
    Rounding,
    ceil_log2,
)

__all__ = ["Opcode", "fetch_words", "fetch_cycles", "program_row_words_log2", "program_row_width",
           "program_address_width", "stream_address_width", "DEST_X_WIDTH", "DEST_Y_WIDTH",
           "MAX_REDUCE_LEVELS", "Stream",
           "Instruction", "FUSED_ADD_FIELDS", "instruction_layout", "instruction_words", "place_words_log2",
           "encode", "decode", "steps", "strides", "steps_row", "PROGRAM_STEP_STREAMS", "check_destinations",
           "message_entry"]

#: Innermost loop levels that may form one tile.
MAX_REDUCE_LEVELS = 3
#: Widths of the destination core's column and row of ``SEND`` and ``SIGNAL``.
DEST_X_WIDTH = (MAX_CORE_COLUMNS - 1).bit_length()
DEST_Y_WIDTH = (MAX_CORE_ROWS - 1).bit_length()


class Opcode(enum.Enum, shape=4):
    HALT = 0
    MAC = 1
    ADD = 2
    MAXPOOL = 3
    AVGPOOL = 4
    SIGNAL = 5
    WAIT = 6
    SEND = 7
    DELAY = 8
    MACADD = 9

    @property
    def computes(self):
        """Whether the instruction runs a loop nest through the compute path."""
        return self in (Opcode.MAC, Opcode.MACADD, Opcode.ADD, Opcode.MAXPOOL, Opcode.AVGPOOL)

    @property
    def multiplies(self):
        """Whether the instruction runs through the MAC array (its ``b`` reads weight tiles)."""
        return self in (Opcode.MAC, Opcode.MACADD)

    @property
    def streams(self):
        """Whether the instruction's address streams are used (and checked against memory)."""
        return self.computes or self == Opcode.SEND

    @property
    def messages(self):
        """Whether the instruction sends to the core (``dest_x``, ``dest_y``)."""
        return self in (Opcode.SEND, Opcode.SIGNAL)


class StreamName(py_enum.Enum):
    A = "a"
    B = "b"
    O = "o"  # noqa: E741
    S = "s"
    R = "r"

    @property
    def per_tile(self):
        """Whether the stream advances once per tile (over the levels outside the tile)."""
        return self in (StreamName.O, StreamName.S, StreamName.R)


def _stream_layout(address_width):
    return data.StructLayout({
        "base": unsigned(address_width),
        "steps": data.ArrayLayout(signed(address_width + 1), LOOP_LEVELS),
    })


#: The fields only ``MACADD`` reads, which a core without the fused add
#: (``CoreParams.fused_add``) leaves out of its instructions.
FUSED_ADD_FIELDS = ("r", "mid_clamp_min", "mid_clamp_max", "add_multiplier", "add_shift")


def stream_address_width(params, name):
    """Width of stream ``name``'s addresses on a core with ``params``: a settings entry's
    for ``s``, a byte's in the activation SRAM for ``a``, ``o`` and ``r`` (which only read
    and write activations, the ``o`` of a ``SEND`` another core's), and in the larger of the
    two SRAMs for ``b`` (weights, or an ``ADD``'s second operand)."""
    if name == "s":
        return params.settings_width
    return params.address_width if name == "b" else params.activation_address_width


@functools.lru_cache(maxsize=16)
def instruction_layout(params):
    """Layout of one instruction word for a core with ``params`` (:class:`CoreParams`);
    without ``CoreParams.fused_add``, without :data:`FUSED_ADD_FIELDS`. Each address
    stream is as wide as its addresses (:func:`stream_address_width`)."""
    fields = {
        "opcode": Opcode,
        "precision": Precision,
        "out_precision": Precision,
        "rounding": Rounding,
        "reduce_levels": unsigned(2),
        "token": unsigned((params.tokens - 1).bit_length()),
        "dest_x": unsigned(DEST_X_WIDTH),
        "dest_y": unsigned(DEST_Y_WIDTH),
        "dest_x_last": unsigned(DEST_X_WIDTH),
        "dest_y_last": unsigned(DEST_Y_WIDTH),
        "counts": data.ArrayLayout(unsigned(params.count_width), LOOP_LEVELS),   # count - 1
        **{name: _stream_layout(stream_address_width(params, name)) for name in STREAMS},
        "zero_point": signed(8),
        "clamp_min": signed(8),
        "clamp_max": signed(8),
        "a_zero_point": signed(8),
        "b_zero_point": signed(8),
        "a_multiplier": signed(32),
        "a_shift": signed(SHIFT_WIDTH),
        "b_multiplier": signed(32),
        "b_shift": signed(SHIFT_WIDTH),
        "mid_clamp_min": signed(8),
        "mid_clamp_max": signed(8),
        "add_multiplier": signed(32),
        "add_shift": signed(SHIFT_WIDTH),
    }
    if not params.fused_add:
        fields = {name: shape for name, shape in fields.items() if name not in FUSED_ADD_FIELDS}
    if params.program_steps:
        return _program_steps_layout(params, fields)
    return data.StructLayout(fields)


#: The streams whose steps a core with ``CoreParams.program_steps`` reads from its program
#: memory as it runs, one level's of each in one word, the first's in the low bits.
PROGRAM_STEP_STREAMS = ("a", "b")


def _program_steps_layout(params, fields):
    """``fields`` one after another as a ``StructLayout`` places them, but the steps of
    ``PROGRAM_STEP_STREAMS``: those from the next program word on, level ``l``'s in the
    ``l``-th word after it (:func:`steps_row`)."""
    word = LANE_WIDTH * params.word_bytes
    shapes = {name: fields[name].members["steps"].elem_shape for name in PROGRAM_STEP_STREAMS}
    widths = [Shape.cast(shape).width for shape in shapes.values()]
    if sum(widths) > word:
        raise ValueError(f"core program_steps: a level's steps of streams {' and '.join(shapes)} "
                         f"({' + '.join(map(str, widths))} bits) must fit one program word of {word} bits")
    placed, bases, offset = {}, {}, 0
    for name, shape in fields.items():
        if name in shapes:
            bases[name], shape = offset, fields[name].members["base"]
        else:
            placed[name] = data.Field(shape, offset)
        offset += Shape.cast(shape).width
    start = -(-offset // word) * word
    low = 0
    for name, shape in shapes.items():
        width = Shape.cast(shape).width
        steps = data.FlexibleLayout((LOOP_LEVELS - 1) * word + low + width,
                                    {level: data.Field(shape, level * word + low)
                                     for level in range(LOOP_LEVELS)})
        distance = start - bases[name]
        stream = data.FlexibleLayout(distance + steps.size,
                                     {"base": data.Field(fields[name].members["base"], 0),
                                      "steps": data.Field(steps, distance)})
        placed[name] = data.Field(stream, bases[name])
        low += width
    return data.FlexibleLayout(start + LOOP_LEVELS * word, placed)


def steps_row(params):
    """The row within an instruction's place that holds level 0's steps of
    ``PROGRAM_STEP_STREAMS`` on a core with ``CoreParams.program_steps`` (level ``l``'s in row
    ``steps_row + l``): the rows before it are what a fetch reads."""
    stream = instruction_layout(params)[PROGRAM_STEP_STREAMS[0]]
    return (stream.offset + stream.shape["steps"].offset) // (LANE_WIDTH * params.word_bytes)


def _names(layout):
    """The field names of an instruction ``layout``."""
    return {name for name, _ in layout}


def instruction_words(params):
    """SRAM words (``lanes`` bytes each) one instruction occupies in the program memory."""
    bits = instruction_layout(params).size
    return -(-bits // (8 * params.word_bytes))


def place_words_log2(params):
    """``log2`` of the host words one instruction's place takes in the host's address map
    (``hdl.core``): its words, rounded up to a power of two."""
    return ceil_log2(instruction_words(params))


def program_row_words_log2(params):
    """``log2`` of the program-memory rows one instruction's place takes: 0 (a row is an
    instruction), or with ``CoreParams.narrow_program`` a row a host word
    (:func:`place_words_log2`)."""
    return place_words_log2(params) if params.narrow_program else 0


def program_row_width(params):
    """Bits of one program-memory row: the instruction's words, or with
    ``CoreParams.narrow_program`` one word (``lanes`` bytes)."""
    return LANE_WIDTH * params.word_bytes * (1 if params.narrow_program else instruction_words(params))


def program_address_width(params):
    """Width of a program-memory row address: the instruction index above the row within
    the instruction (:func:`program_row_words_log2` bits)."""
    return params.program_width + program_row_words_log2(params)


def fetch_words(params):
    """Program-memory reads that fetch one instruction: its :func:`instruction_words` on a
    core with ``CoreParams.narrow_program`` (those before :func:`steps_row` with
    ``CoreParams.program_steps``), else 1."""
    if params.program_steps:
        return steps_row(params)
    return instruction_words(params) if params.narrow_program else 1


def fetch_cycles(params):
    """Cycles from an instruction's first program-memory read to the cycle after its
    decode: one per read (:func:`fetch_words`) and the decode."""
    return fetch_words(params) + 1


@dataclass(frozen=True)
class Stream:
    """An affine address stream: ``base + sum(strides[i] * index[i])``."""
    base: int = 0
    strides: tuple = (0,) * LOOP_LEVELS

    def __post_init__(self):
        given = tuple(self.strides)
        if len(given) > LOOP_LEVELS or not all(_is_int(x) for x in given):
            raise ValueError(f"stream strides must be at most {LOOP_LEVELS} integers, not {given!r}")
        object.__setattr__(self, "strides", given + (0,) * (LOOP_LEVELS - len(given)))
        if not _is_int(self.base) or self.base < 0:
            raise ValueError(f"stream base must be a non-negative integer, not {self.base!r}")


@dataclass(frozen=True)
class Instruction:
    """One instruction, with strides (not the encoded steps); see the module documentation.

    ``out_precision`` (keyword) is the result's precision; ``None`` means ``precision``.
    ``r``, ``mid_clamp_min``, ``mid_clamp_max``, ``add_multiplier`` and ``add_shift``
    (keywords) are ``MACADD``'s.
    """
    opcode: Opcode
    precision: Precision = Precision.INT8
    rounding: Rounding = Rounding.DOUBLE
    reduce_levels: int = 0
    token: int = 0
    counts: tuple = (1,) * LOOP_LEVELS
    a: Stream = field(default_factory=Stream)
    b: Stream = field(default_factory=Stream)
    o: Stream = field(default_factory=Stream)
    s: Stream = field(default_factory=Stream)
    zero_point: int = 0
    clamp_min: int = -128
    clamp_max: int = 127
    a_zero_point: int = 0
    b_zero_point: int = 0
    a_multiplier: int = 0
    a_shift: int = 0
    b_multiplier: int = 0
    b_shift: int = 0
    dest_x: int = 0
    dest_y: int = 0
    dest_x_last: int = None
    dest_y_last: int = None
    out_precision: Precision = None
    r: Stream = field(default_factory=Stream)
    mid_clamp_min: int = -128
    mid_clamp_max: int = 127
    add_multiplier: int = 0
    add_shift: int = 0

    def __post_init__(self):
        object.__setattr__(self, "opcode", Opcode(self.opcode))
        object.__setattr__(self, "precision", Precision(self.precision))
        object.__setattr__(self, "out_precision", Precision(
            self.precision if self.out_precision is None else self.out_precision))
        object.__setattr__(self, "rounding", Rounding(self.rounding))
        counts = tuple(self.counts) + (1,) * (LOOP_LEVELS - len(tuple(self.counts)))
        object.__setattr__(self, "counts", counts)
        if len(counts) != LOOP_LEVELS:
            raise ValueError(f"counts must be at most {LOOP_LEVELS} loop counts, not {self.counts!r}")
        for level, count in enumerate(counts):
            if not _is_int(count) or not 1 <= count <= 1 << COUNT_WIDTH:
                raise ValueError(f"count of loop level {level} must lie in [1, {1 << COUNT_WIDTH}], "
                                 f"not {count!r}")
        for name, high in (("reduce_levels", MAX_REDUCE_LEVELS), ("token", TOKENS - 1),
                           ("dest_x", MAX_CORE_COLUMNS - 1), ("dest_y", MAX_CORE_ROWS - 1)):
            value = getattr(self, name)
            if not _is_int(value) or not 0 <= value <= high:
                raise ValueError(f"{name} must lie in [0, {high}], not {value!r}")
        for name, high in (("dest_x", MAX_CORE_COLUMNS - 1), ("dest_y", MAX_CORE_ROWS - 1)):
            last = getattr(self, f"{name}_last")
            if last is None:
                object.__setattr__(self, f"{name}_last", getattr(self, name))
            elif not _is_int(last) or not getattr(self, name) <= last <= high:
                raise ValueError(f"{name}_last must lie in [{name} = {getattr(self, name)}, {high}], "
                                 f"not {last!r}")
        for name in SCALARS_8:
            _check_range(name, getattr(self, name), -128, 127)
        if self.opcode.computes:
            out = self.out_precision
            fused = ("a_zero_point", "b_zero_point", "mid_clamp_min", "mid_clamp_max")
            for name in ("zero_point", "clamp_min", "clamp_max") + (fused if self.opcode == Opcode.MACADD
                                                                    else ()):
                value = getattr(self, name)
                if not out.min <= value <= out.max:
                    raise ValueError(f"{name} must lie in [{out.min}, {out.max}] of out_precision "
                                     f"int{out.bits}, not {value!r}")
        for name in ("a_multiplier", "b_multiplier", "add_multiplier"):
            _check_range(name, getattr(self, name), -(1 << 31), (1 << 31) - 1)
        for name in ("a_shift", "b_shift", "add_shift"):
            _check_range(name, getattr(self, name), MIN_SHIFT, MAX_SHIFT)
        for name in StreamName:
            stream = getattr(self, name.value)
            if name.per_tile and any(stream.strides[:self.reduce_levels]):
                raise ValueError(f"stream {name.value} advances per tile: its strides of the "
                                 f"{self.reduce_levels} reduction levels must be 0, "
                                 f"not {stream.strides!r}")
        if self.opcode == Opcode.SEND and self.reduce_levels:
            raise ValueError(f"SEND has no reduction: reduce_levels must be 0, not {self.reduce_levels!r}")
        if self.opcode == Opcode.MACADD and self.mid_clamp_min > self.mid_clamp_max:
            raise ValueError(f"mid_clamp_min must be at most mid_clamp_max = {self.mid_clamp_max}, "
                             f"not {self.mid_clamp_min!r}")

    @property
    def destinations(self):
        """The ``(x, y)`` of every core of the destination rectangle, row by row."""
        return [(x, y) for y in range(self.dest_y, self.dest_y_last + 1)
                for x in range(self.dest_x, self.dest_x_last + 1)]

    @property
    def elements(self):
        """Elements the loop nest issues, one a cycle."""
        total = 1
        for count in self.counts:
            total *= count
        return total

    @property
    def tiles(self):
        """Result tiles the loop nest produces."""
        total = 1
        for count in self.counts[self.reduce_levels:]:
            total *= count
        return total

    def reach(self, name):
        """``(lowest, highest)`` address stream ``name`` reaches over the whole nest."""
        stream = getattr(self, name)
        low = high = stream.base
        for stride, count in zip(stream.strides, self.counts):
            extent = stride * (count - 1)
            low, high = low + min(extent, 0), high + max(extent, 0)
        return low, high


def message_entry(params):
    """The instruction a core's message sequencer starts at: the last of the program
    memory's first bank (``CoreParams.program_banks``). The message program runs from there
    downward (its ``k``-th instruction at ``bank_instructions - 1 - k``), the compute
    program upward from 0: together they may fill the bank in any proportion. A run in the
    second bank fetches the same indices from it."""
    return params.bank_instructions - 1


def check_destinations(instruction, rows, columns):
    """Raise ``ValueError`` naming the field and the limit if a ``SEND`` or ``SIGNAL`` of
    ``instruction`` reaches past a ``rows x columns`` array (the routers would hold such a
    message at the mesh's edge for ever), or is in a 1x1 array at all (its lone core has no
    other to send to, and its tile, which has no routers, refuses it: ``hdl.tile``)."""
    if not instruction.opcode.messages:
        return
    if rows == columns == 1:
        raise ValueError(f"{instruction.opcode.name} has no destination in a 1x1 array: its core is the "
                         f"only one")
    for name, high in (("dest_x_last", columns - 1), ("dest_y_last", rows - 1)):
        if getattr(instruction, name) > high:
            raise ValueError(f"{instruction.opcode.name} {name} must be at most {high} in a "
                             f"{rows}x{columns} array, not {getattr(instruction, name)}")


#: The 8-bit signed scalar fields.
SCALARS_8 = ("zero_point", "clamp_min", "clamp_max", "a_zero_point", "b_zero_point", "mid_clamp_min",
             "mid_clamp_max")
#: Every scalar field of the arithmetic, encoded as it is.
ARITHMETIC_FIELDS = SCALARS_8 + ("a_multiplier", "a_shift", "b_multiplier", "b_shift", "add_multiplier",
                                 "add_shift")
#: The address streams, in encoding order.
STREAMS = tuple(name.value for name in StreamName)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _check_range(name, value, low, high):
    if not _is_int(value) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], not {value!r}")


def _levels(name, reduce_levels):
    return range(reduce_levels if StreamName(name).per_tile else 0, LOOP_LEVELS)


def steps(strides, counts, levels):
    """The encoded step of each level (0 outside ``levels``) from the strides."""
    result, carried = [0] * LOOP_LEVELS, 0
    for level in levels:
        result[level] = strides[level] - carried
        carried += strides[level] * (counts[level] - 1)
    return tuple(result)


def strides(steps_, counts, levels):
    """Inverse of :func:`steps`."""
    result, carried = [0] * LOOP_LEVELS, 0
    for level in levels:
        result[level] = steps_[level] + carried
        carried += result[level] * (counts[level] - 1)
    return tuple(result)


def encode(instruction, params):
    """The instruction word of ``instruction`` for a core with ``params``, as an integer.

    Raises ``ValueError`` naming the stream and the limit if an address stream leaves its
    memory (or the address field) or a step does not fit its field, naming the precision
    if a ``MAC`` or ``MACADD`` is at one the core's MAC array does not multiply at, and
    naming the loop level or the token if a count or a token is beyond the core's
    (``CoreParams.count_width``, ``CoreParams.tokens``).
    """
    if not isinstance(params, CoreParams):
        raise TypeError(f"params must be a CoreParams, not {params!r}")
    if instruction.opcode == Opcode.MACADD and not params.fused_add:
        raise ValueError("MACADD: the core has no fused add (CoreParams.fused_add)")
    if instruction.opcode.multiplies and instruction.precision not in params.mac.precisions:
        names = ", ".join(f"int{precision.bits}" for precision in params.mac.precisions)
        raise ValueError(f"{instruction.opcode.name} at int{instruction.precision.bits}: the core's MAC "
                         f"array multiplies at {names} only")
    columns = params.mac.columns
    if instruction.opcode.computes and Precision.INT2 in (instruction.precision, instruction.out_precision) \
            and columns * Precision.INT2.bits < LANE_WIDTH:
        raise ValueError(f"{instruction.opcode.name} at int2: a tile of the core's {columns} columns is "
                         f"{columns * Precision.INT2.bits} bits of int2 values, and the SRAM reads and "
                         f"writes whole bytes (int2 needs {LANE_WIDTH // Precision.INT2.bits} columns)")
    for level, count in enumerate(instruction.counts):
        if count > 1 << params.count_width:
            raise ValueError(f"{instruction.opcode.name}: count {count} of loop level {level} is more than "
                             f"the core's loops run ({1 << params.count_width}, count_width "
                             f"{params.count_width})")
    if instruction.token >= params.tokens:
        raise ValueError(f"{instruction.opcode.name}: token {instruction.token} is not one of the core's "
                         f"{params.tokens}")
    layout = instruction_layout(params)
    activations = params.activation_sram.size_bytes
    limits = {"a": activations, "o": activations, "r": activations,
              "b": (params.weight_sram if instruction.opcode.multiplies
                    else params.activation_sram).size_bytes,
              "s": params.settings_depth}
    fields = {}
    used = ("abors" if instruction.opcode == Opcode.MACADD else "abos" if instruction.opcode.computes
            else "ao" if instruction.opcode == Opcode.SEND else "")
    if instruction.opcode == Opcode.SEND:
        for name in "ao":
            stream = getattr(instruction, name)
            if any(value % params.word_bytes for value in (stream.base, *stream.strides)):
                raise ValueError(f"stream {name} of SEND must be word-aligned ({params.word_bytes} bytes): "
                                 f"base {stream.base}, strides {stream.strides}")
    for name in _encoded_streams(layout):
        if name in used:
            low, high = instruction.reach(name)
            if low < 0 or high >= limits[name]:
                raise ValueError(f"stream {name} of {instruction.opcode.name} reaches addresses "
                                 f"{low} to {high}, outside its memory of {limits[name]}")
        stream = getattr(instruction, name)
        encoded = steps(stream.strides, instruction.counts, _levels(name, instruction.reduce_levels))
        step_shape = Shape.cast(layout[name].shape["steps"].shape[0].shape)
        for step in encoded:
            if not step_shape.signed or not -(1 << step_shape.width - 1) <= step < 1 << step_shape.width - 1:
                raise ValueError(f"stream {name} step {step} does not fit {step_shape.width} bits")
        base_width = Shape.cast(layout[name].shape["base"].shape).width
        if stream.base >= 1 << base_width:
            raise ValueError(f"stream {name} base {stream.base} does not fit {base_width} bits")
        fields[name] = {"base": stream.base, "steps": list(encoded)}
    values = {
        "opcode": instruction.opcode, "precision": instruction.precision,
        "out_precision": instruction.out_precision, "rounding": instruction.rounding,
        "reduce_levels": instruction.reduce_levels,
        "token": instruction.token, "dest_x": instruction.dest_x, "dest_y": instruction.dest_y,
        "dest_x_last": instruction.dest_x_last, "dest_y_last": instruction.dest_y_last,
        "counts": [count - 1 for count in instruction.counts],
        **fields,
    }
    for name in ARITHMETIC_FIELDS:
        if name in _names(layout):
            values[name] = getattr(instruction, name)
    return const_bits(layout, values, "instruction")


def _encoded_streams(layout):
    """The address streams an instruction ``layout`` holds, in encoding order."""
    return [name for name in STREAMS if name in _names(layout)]


def decode(bits, params):
    """The :class:`Instruction` an instruction word encodes (inverse of :func:`encode`); the
    fields the core's instructions leave out (:data:`FUSED_ADD_FIELDS`) take their defaults."""
    layout = instruction_layout(params)
    view = layout.from_bits(bits)
    counts = tuple(int(count) + 1 for count in view.counts)
    reduce_levels = int(view.reduce_levels)
    streams = {}
    for name in _encoded_streams(layout):
        stream = view[name]
        encoded = [int(stream.steps[level]) for level in range(LOOP_LEVELS)]
        streams[name] = Stream(int(stream.base),
                               strides(encoded, counts, _levels(name, reduce_levels)))
    scalars = {name: int(view[name]) for name in ("token", "dest_x", "dest_y", "dest_x_last", "dest_y_last",
                                                  *ARITHMETIC_FIELDS) if name in _names(layout)}
    return Instruction(Opcode(view.opcode), Precision(view.precision), Rounding(view.rounding),
                       reduce_levels, counts=counts, **streams, **scalars,
                       out_precision=Precision(view.out_precision))


