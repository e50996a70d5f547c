"""Parameters of the generated hardware: the one place where widths and depths are defined.

Standard library only, so that ``sim/`` (the golden model and testbenches) and ``gen/``
(the generator and compiler) can import it without Amaranth. Every dataclass is frozen
and validates itself in ``__post_init__``; derived widths are properties.
"""

import enum
from dataclasses import dataclass

__all__ = ["Precision", "Rounding", "ACC_WIDTH", "LANE_WIDTH", "SHIFT_WIDTH", "MIN_SHIFT", "MAX_SHIFT",
           "LOOP_LEVELS", "COUNT_WIDTH", "MIN_COUNT_WIDTH", "TOKENS", "MIN_TOKENS", "TOKEN_COUNT_WIDTH",
           "MAX_CORE_ROWS", "MAX_CORE_COLUMNS",
           "MAX_MAC_LANES", "MIN_MAC_LANES", "MIN_MAC_COLUMNS", "MAX_ACTIVATION_BANKS", "MULTIPLY_STAGES",
           "RESCALE_CYCLES", "DSP_BLOCKS",
           "MAX_SRAM_BYTES", "MAX_TABLE_DEPTH", "MAX_BUFFER_DEPTH", "MacParams", "SramParams", "CoreParams",
           "ChipParams", "NocParams", "DEFAULT_CORE", "NORTHPOLE_CORE", "PRESETS", "parse_cores", "ceil_log2"]


class Precision(enum.IntEnum):
    """Operand precision of one SIMD operation, selected at run time.

    Every 8-bit lane carries ``LANE_WIDTH // bits`` two's-complement values packed
    little-endian: value ``j`` of a lane occupies bits ``[j*bits + bits - 1 : j*bits]``.
    """
    INT8 = 0
    INT4 = 1
    INT2 = 2

    @property
    def bits(self):
        """Width of one value, in bits."""
        return {Precision.INT8: 8, Precision.INT4: 4, Precision.INT2: 2}[self]

    @property
    def values_per_lane(self):
        """How many values one 8-bit lane carries."""
        return LANE_WIDTH // self.bits

    @property
    def min(self):
        """Smallest representable value."""
        return -(1 << (self.bits - 1))

    @property
    def max(self):
        """Largest representable value."""
        return (1 << (self.bits - 1)) - 1

    @classmethod
    def from_bits(cls, bits):
        """The precision whose values are ``bits`` wide; ``ValueError`` unless 8, 4 or 2."""
        for precision in cls:
            if precision.bits == bits:
                return precision
        raise ValueError(f"Precision bits must be one of 8, 4, 2, not {bits!r}")


class Rounding(enum.IntEnum):
    """Which of TFLite's two ``MultiplyByQuantizedMultiplier`` variants requantizes a layer.

    ``DOUBLE``: gemmlowp's SaturatingRoundingDoublingHighMul then RoundingDivideByPOT
    (TFLite's default; LiteRT's conv, ADD and MEAN). ``SINGLE``: one rounding of the
    64-bit product, ties toward +infinity (TFLite built with ``TFLITE_SINGLE_ROUNDING``,
    as TFLite Micro targets may be). LiteRT's reference fully-connected kernel uses
    neither: it requantizes in double precision (see ``sim.golden.requantize_fp64``);
    the compiler runs such a layer with ``SINGLE`` and multipliers chosen and proven to
    give the same result on every accumulator the layer can reach
    (``sim.golden.fp64match``).
    """
    DOUBLE = 0
    SINGLE = 1


#: Width of one SIMD lane, in bits (one int8, two int4 or four int2 values).
LANE_WIDTH = 8
#: Width of an accumulator, in bits. Accumulation wraps as two's-complement int32, as TFLite's does.
ACC_WIDTH = 32
#: Width of a requantization shift field (TFLite convention: positive shifts left).
SHIFT_WIDTH = 6
#: Range of requantization shifts the hardware and the golden model accept.
MIN_SHIFT = -31
MAX_SHIFT = 30

#: Nested hardware loops of the sequencer (output and reduction levels together).
LOOP_LEVELS = 6
#: Widest loop iteration count field (``CoreParams.count_width``, the default): a loop runs 1
#: to ``2**COUNT_WIDTH`` times.
COUNT_WIDTH = 12
#: Narrowest loop iteration count field.
MIN_COUNT_WIDTH = 4
#: Most synchronisation tokens a core can signal and wait on (``CoreParams.tokens``, the default).
TOKENS = 16
#: Fewest tokens: the array compiler gives three their roles and carries tensors on the others.
MIN_TOKENS = 4
#: Width of a core's count of one token's pulses not yet consumed by a ``WAIT``, at the widest
#: loop counts (``CoreParams.token_count_width``).
TOKEN_COUNT_WIDTH = COUNT_WIDTH + 1

#: Largest array the generator elaborates (NorthPole's own chip is 16x16).
MAX_CORE_ROWS = 32
MAX_CORE_COLUMNS = 32
#: Most 8-bit lanes (and so MAC columns) of a MAC array (NorthPole's core has 64 x 32).
MAX_MAC_LANES = 128
#: Fewest lanes and columns of a MAC array.
MIN_MAC_LANES = 4
MIN_MAC_COLUMNS = 2
#: Most banks of a core's activation SRAM (NorthPole's core has 4). The read multiplexers and
#: the collision check are trees over the banks and requests, but their Verilog still grows
#: with the banks: a 1x1 array with 512 banks takes about 20 s of CPU to elaborate.
MAX_ACTIVATION_BANKS = 512
#: Largest activation or weight SRAM of a core, in bytes (16 MB: 24-bit byte addresses in
#: the instructions' address streams; NorthPole's core has 768 KB of SRAM in all).
MAX_SRAM_BYTES = 1 << 24
#: Most entries of a core's settings table or instructions of its program memory.
MAX_TABLE_DEPTH = 4096
#: Most flits a router buffers per input port.
MAX_BUFFER_DEPTH = 64
#: Pipeline stages a requantizer's 32 x 32 product may take (``MacParams.multiply_stages``).
MULTIPLY_STAGES = (1, 2)
#: Cycles a requantizer and the vector unit's ``ADD`` may take per slice of columns
#: (``MacParams.rescale_cycles``).
RESCALE_CYCLES = (1, 2)
#: The DSP blocks a MAC array's lane products may be instantiated in (``MacParams.dsp_block``).
DSP_BLOCKS = (None, "SB_MAC16")


def _is_power_of_two(value):
    return value > 0 and value & (value - 1) == 0


@dataclass(frozen=True)
class MacParams:
    """Shape of the SIMD vector-matrix MAC array.

    Each cycle, a vector of ``lanes`` 8-bit lanes is multiplied by a ``lanes`` x ``columns``
    tile of 8-bit weight lanes into ``columns`` accumulators.

    Parameters
    ----------
    lanes : int
        Number of 8-bit activation lanes K; a power of two, at least ``MIN_MAC_LANES`` (4:
        SRAM and host words of at least 32 bits), at most ``MAX_MAC_LANES``.
    columns : int
        Number of output columns N; a power of two, at least ``MIN_MAC_COLUMNS`` (2), at
        most ``MAX_MAC_LANES``. A tile of N int2 values fills whole bytes only from 4
        columns on: a core of 2 takes int8 and int4 tensors, and its instructions at int2
        are refused when they are encoded (:func:`hdl.isa.encode`).
    multiply_stages : int
        Pipeline stages of the multiplies an FPGA maps to DSP blocks, 1 or 2
        (``MULTIPLY_STAGES``): 2 registers the four 16-bit partial products of each
        requantizer's 32 x 32 product and adds them a cycle later, and registers each MAC
        lane product twice but in an SB_MAC16 (``hdl.mac.product_stages``; one cycle more of
        latency in each, shorter paths to and from an FPGA's DSP blocks and through its carry
        chains).
    requantize_columns : int or None
        Columns the requantizers and the vector unit's ``ADD`` rescale per cycle, a power of
        two dividing ``columns``; ``None`` (the default) means all of them. Fewer take a
        result tile over ``tile_interval = columns / requantize_columns`` cycles with that
        fraction of the multipliers and adders, and the sequencer then starts a tile at most
        every ``tile_interval`` cycles (a tile of fewer elements waits out the rest): the
        FPGA-lean option for cores whose tiles reduce over several elements, which leave
        the requantizer idle in between.
    rescale_cycles : int
        Cycles each slice of ``requantize_columns`` takes in the requantizers and the vector
        unit's ``ADD``, 1 or 2 (``RESCALE_CYCLES``); 2 halves their DSP blocks again and
        doubles ``tile_interval``: a requantizer multiplies each 32 x 32 product as two 32 x
        16 halves in turn, and the vector unit rescales an ``ADD``'s two operands in turn
        through one pipeline. It needs ``multiply_stages = 2`` (the halves' partial products
        are registered).
    scales_below_one : bool
        False: the requantizers take every shift from ``MIN_SHIFT`` to ``MAX_SHIFT``, with a
        barrel shifter for the double rounding's left shift and one for each rounding's
        right shift, the single rounding's 64 bits wide. True: they take shifts up to 0
        only, the shifts of real scales below 1 (the compilers refuse a layer whose scale
        needs more, naming it, and requantize a max-pool with a multiplier of
        ``2**31 - 1`` and shift 0): no left shift, and the two roundings share one barrel
        shifter of 34 bits (:func:`hdl.requantize.shared_divide`). The FPGA-lean option.
    operand_register : bool
        True: the core registers the words its SRAMs read before they reach the MAC array and
        the vector unit (``hdl.datapath.operand_latency``), off the path from a block RAM's
        outputs through the banks' read crossbar into the multipliers. False: one cycle less
        of latency and none of those registers, which on an iCE40 take a logic cell each
        (their flip-flops have no logic of their own to share a cell with). The FPGA-lean
        option for a slow clock.
    delay_memory : bool
        False: the vector unit's ``MAX`` and ``SUM`` operands wait out its ``ADD``
        pipeline in registers, as its controls do. True: in a memory of one entry a cycle
        (:func:`hdl.pipeline.delay_memory`), a block RAM, whose counter costs fewer logic
        cells than the registers. The FPGA-lean option where block RAM is to spare and
        logic cells are not.
    precisions : tuple of Precision
        The precisions the MAC array multiplies at (``MAC`` and ``MACADD``; the vector unit
        and the requantizers take all three), all three by default. Fewer leave out the
        logic of the others' sub-products: on an FPGA, whose DSP blocks take the int8
        products, the int4 and int2 ones are built from LUTs.
    dsp_block : str or None
        The FPGA DSP block the lane products are instantiated in (``DSP_BLOCKS``): ``None``,
        a multiply that synthesis maps (one product a block), or ``"SB_MAC16"``, the iCE40's
        in its 8 x 8 mode, two signed int8 products a block (half the blocks; ``precisions``
        must be int8 alone). The Verilog then instantiates the primitive: simulating it
        takes the vendor's model (``sim.tb.primitives``).
    """
    lanes: int = 8
    columns: int = 8
    multiply_stages: int = 1
    requantize_columns: int | None = None
    rescale_cycles: int = 1
    scales_below_one: bool = False
    operand_register: bool = True
    delay_memory: bool = False
    precisions: tuple = tuple(Precision)
    dsp_block: str | None = None

    def __post_init__(self):
        value = self.multiply_stages
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"MAC multiply_stages must be an integer, not {value!r}")
        if value not in MULTIPLY_STAGES:
            raise ValueError(f"MAC multiply_stages must be one of {', '.join(map(str, MULTIPLY_STAGES))}, "
                             f"not {value!r}")
        for name in ("scales_below_one", "operand_register", "delay_memory"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"MAC {name} must be True or False, not {getattr(self, name)!r}")
        value = self.rescale_cycles
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"MAC rescale_cycles must be an integer, not {value!r}")
        if value not in RESCALE_CYCLES:
            raise ValueError(f"MAC rescale_cycles must be one of {', '.join(map(str, RESCALE_CYCLES))}, "
                             f"not {value!r}")
        if value > 1 and self.multiply_stages == 1:
            raise ValueError(f"MAC rescale_cycles {value} needs multiply_stages 2, not 1")
        for name, minimum in (("lanes", MIN_MAC_LANES), ("columns", MIN_MAC_COLUMNS)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"MAC {name} must be an integer, not {value!r}")
            if not _is_power_of_two(value) or value < minimum:
                raise ValueError(f"MAC {name} must be a power of two of at least {minimum}, not {value!r}")
            if value > MAX_MAC_LANES:
                raise ValueError(f"MAC {name} must be at most {MAX_MAC_LANES}, not {value!r}")
        value = self.requantize_columns
        if value is None:
            object.__setattr__(self, "requantize_columns", self.columns)
        elif not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"MAC requantize_columns must be an integer, not {value!r}")
        elif not _is_power_of_two(value) or value > self.columns:
            raise ValueError(f"MAC requantize_columns must be a power of two dividing its {self.columns} "
                             f"columns, not {value!r}")
        try:
            precisions = tuple(sorted({Precision(value) for value in self.precisions}))
        except (TypeError, ValueError):
            raise ValueError(f"MAC precisions must be Precision values, not {self.precisions!r}") from None
        if not precisions:
            raise ValueError("MAC precisions must name at least one precision, not ()")
        object.__setattr__(self, "precisions", precisions)
        if self.dsp_block not in DSP_BLOCKS:
            raise ValueError(f"MAC dsp_block must be one of {', '.join(map(repr, DSP_BLOCKS))}, "
                             f"not {self.dsp_block!r}")
        if self.dsp_block is not None and precisions != (Precision.INT8,):
            raise ValueError(f"MAC dsp_block {self.dsp_block!r} takes int8 products only, so precisions must "
                             f"be int8 alone, not {', '.join(f'int{p.bits}' for p in precisions)}")

    @property
    def tile_interval(self):
        """Fewest cycles between the starts of two result tiles: ``columns / requantize_columns``
        slices of ``rescale_cycles`` each."""
        return self.columns // self.requantize_columns * self.rescale_cycles

    @property
    def rescale_slices(self):
        """Slices of ``requantize_columns`` in a result tile: ``columns / requantize_columns``."""
        return self.columns // self.requantize_columns

    def peak_macs_per_cycle(self, precision):
        """Multiply-accumulates per cycle at ``precision`` (all sub-products of a lane count);
        0 at a precision the array does not multiply at."""
        if Precision(precision) not in self.precisions:
            return 0
        return self.lanes * self.columns * Precision(precision).values_per_lane


@dataclass(frozen=True)
class SramParams:
    """Shape of a core's banked SRAM.

    ``banks`` banks of ``depth`` words of ``word_bytes`` bytes, in one word address space
    interleaved word by word: word ``a`` lives in bank ``a % banks``, row ``a // banks``.

    Parameters
    ----------
    banks : int
        Number of banks, a power of two.
    word_bytes : int
        Bytes per word (a core uses one MAC lane vector: ``lanes`` bytes), a power of two.
    depth : int
        Words per bank, a power of two of at least 2.
    """
    banks: int = 16
    word_bytes: int = 8
    depth: int = 256

    def __post_init__(self):
        for name, minimum in (("banks", 1), ("word_bytes", 1), ("depth", 2)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"SRAM {name} must be an integer, not {value!r}")
            if not _is_power_of_two(value) or value < minimum:
                raise ValueError(f"SRAM {name} must be a power of two of at least {minimum}, "
                                 f"not {value!r}")

    @property
    def words(self):
        """Words in the whole SRAM."""
        return self.banks * self.depth

    @property
    def size_bytes(self):
        """Bytes in the whole SRAM."""
        return self.words * self.word_bytes

    @property
    def addr_width(self):
        """Width of a word address, in bits."""
        return (self.words - 1).bit_length()

    @property
    def bank_bits(self):
        """Low address bits that select the bank."""
        return (self.banks - 1).bit_length()


def ceil_log2(value):
    """Bits to number ``value`` things: ``ceil(log2(value))``, 0 for 1."""
    return (value - 1).bit_length()


@dataclass(frozen=True)
class CoreParams:
    """Shape of one core: its MAC array and its four memories.

    A core holds four memories, all loaded through one host port (see ``hdl.core``):

    - the **activation SRAM**: ``activation_banks`` banks of ``activation_depth`` words of
      ``lanes`` bytes, word-interleaved; the MAC array's activation reads, the vector
      unit's second operand, the write-back and the host's input and output frames;
    - the **weight SRAM**: ``columns`` banks of ``weight_depth`` words of ``lanes`` bytes,
      word-interleaved, so that the ``columns`` words of one weight tile are read in one
      cycle from distinct banks;
    - the **settings table**: ``settings_depth`` entries, each the bias, multiplier and
      shift of ``columns`` output channels;
    - the **program memory**: ``program_depth`` instructions, in ``program_banks`` banks.

    Parameters
    ----------
    mac : MacParams
        The MAC array; ``columns <= lanes``, so that one output tile of ``columns``
        values fits in one ``lanes``-byte word at every precision.
    activation_banks : int
        Power of two, at least 2 (a residual add reads two operands a cycle), at most
        ``MAX_ACTIVATION_BANKS``.
    activation_depth, weight_depth : int
        Words per bank, powers of two of at least 2; each SRAM holds at most
        ``MAX_SRAM_BYTES``.
    settings_depth, program_depth : int
        Entries, powers of two of at least 2 and at most ``MAX_TABLE_DEPTH``.
    activation_write_ports : int
        1: each activation bank's one write port takes the write-back and the words from
        the network and the host, and the array compiler keeps them apart, cycle by cycle;
        or 2: those words take a second write port of every bank, so that they land
        whenever they arrive (a multi-port SRAM bank, as the three read ports already are).
    program_banks : int
        1, or 2: the program memory is then two banks of ``program_depth / 2`` instructions,
        each holding a compute and a message program, and a core's sequencers run bank
        ``r mod 2`` in their ``r``-th run since reset (``hdl.sequencer``). A layer pipeline
        (``gen.array``) gives the two banks programs that differ only in which of two
        buffers a stage reads its input from and its producers write the next frame's to,
        so that a stage's next input arrives while it computes on this one.
    program_split : bool
        False: the two sequencers read one program memory through a read port each, and
        their programs share each bank in any proportion. True: the lower half of each
        bank's instructions is a memory of its own that only the compute sequencer reads,
        the upper half one that only the message sequencer reads, so each program may take
        half the bank; an FPGA then spends half the distributed RAM on it (one read port a
        memory instead of two).
    narrow_program : bool
        False: the program memory is as wide as an instruction, fetched in one read. True:
        it is one word (``lanes`` bytes) wide, each instruction in the rows of its host
        words (see ``hdl.core``), and the sequencer fetches an instruction a word a cycle
        (``hdl.isa.fetch_cycles``): a memory an FPGA keeps in a few block RAMs, not in
        hundreds of flip-flops, where block RAMs are no wider than 36 bits.
    program_steps : bool
        False: the sequencer holds every address stream's steps in its instruction register.
        True: the steps of streams ``a`` and ``b`` stay in the program memory, a level's two
        in one word (``hdl.isa.instruction_layout``; they must fit it). While an instruction
        runs, its sequencer reads the word of each cycle's carry through the read port a
        fetch leaves idle, and its address generators add the step a cycle later
        (``hdl.loops.AddressGenerator``'s ``late_step``), with the same addresses in the
        same cycles. A fetch reads the words before the steps only (``hdl.isa.fetch_cycles``:
        fewer cycles). It needs ``narrow_program``: the FPGA-lean option where flip-flops
        are scarce, for on an iCE40 each held bit takes a logic cell.
    message_sequencer : bool
        True: the core runs a message program beside its compute program (``hdl.core``),
        so that it sends one layer's output while it computes the next. False: it has the
        compute sequencer only, and its message program must be a lone ``HALT`` (the
        compilers refuse any other): the FPGA-lean option for a core with no other core to
        talk to, the one core of a 1x1 array, which saves a sequencer and the activation
        SRAM's read port for ``SEND``.
    fused_add : bool
        True: the core runs ``MACADD``, a conv with its residual add fused in (a second
        requantizer and the activation SRAM's read port for the residual). False: it has
        neither, and a residual add runs as an ``ADD`` of its own (the compilers refuse a
        :class:`~gen.network.ConvAdd`): the FPGA-lean option where logic is scarcer than
        cycles.
    single_port_weights : bool
        False: each weight SRAM bank has a read port and a write port. True: one port for
        both (``hdl.sram.BankedSram``'s ``single_port``): the MAC array reads the weights
        while the core runs and the host writes them while it is idle, never in one cycle,
        so the banks can be single-port RAM, such as the iCE40's SPRAM.
    count_width : int
        Bits of each loop's iteration count, from ``MIN_COUNT_WIDTH`` (4) to ``COUNT_WIDTH``
        (12, the default): a loop of the core runs 1 to ``2**count_width`` times, and a
        ``DELAY`` lasts at most that many cycles after its fetch. Narrower counts shrink the
        sequencer's loop nests and token counters where the memories are small.
    tokens : int
        Synchronisation tokens the core counts, a power of two from ``MIN_TOKENS`` (4) to
        ``TOKENS`` (16, the default); fewer make fewer counters, and the array compiler
        carries fewer tensors between cores at once.
    """
    mac: MacParams = MacParams()
    activation_banks: int = 4
    activation_depth: int = 1024
    weight_depth: int = 1024
    settings_depth: int = 64
    program_depth: int = 128
    activation_write_ports: int = 1
    program_banks: int = 1
    program_split: bool = False
    narrow_program: bool = False
    program_steps: bool = False
    message_sequencer: bool = True
    fused_add: bool = True
    single_port_weights: bool = False
    count_width: int = COUNT_WIDTH
    tokens: int = TOKENS

    def __post_init__(self):
        if not isinstance(self.mac, MacParams):
            raise TypeError(f"core mac must be a MacParams, not {self.mac!r}")
        if self.mac.columns > self.mac.lanes:
            raise ValueError(f"core MAC columns must be at most its {self.mac.lanes} lanes, "
                             f"not {self.mac.columns!r}")
        for name, minimum in (("activation_banks", 2), ("activation_depth", 2), ("weight_depth", 2),
                              ("settings_depth", 2), ("program_depth", 2)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"core {name} must be an integer, not {value!r}")
            if not _is_power_of_two(value) or value < minimum:
                raise ValueError(f"core {name} must be a power of two of at least {minimum}, "
                                 f"not {value!r}")
        if self.activation_banks > MAX_ACTIVATION_BANKS:
            raise ValueError(f"core activation_banks must be at most {MAX_ACTIVATION_BANKS}, "
                             f"not {self.activation_banks!r}")
        for name in ("settings_depth", "program_depth"):
            if getattr(self, name) > MAX_TABLE_DEPTH:
                raise ValueError(f"core {name} must be at most {MAX_TABLE_DEPTH}, "
                                 f"not {getattr(self, name)!r}")
        for name in ("activation_write_ports", "program_banks"):
            if getattr(self, name) not in (1, 2) or isinstance(getattr(self, name), bool):
                raise ValueError(f"core {name} must be 1 or 2, not {getattr(self, name)!r}")
        for name in ("program_split", "narrow_program", "program_steps", "message_sequencer", "fused_add",
                     "single_port_weights"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"core {name} must be True or False, not {getattr(self, name)!r}")
        for name in ("count_width", "tokens"):
            if not isinstance(getattr(self, name), int) or isinstance(getattr(self, name), bool):
                raise TypeError(f"core {name} must be an integer, not {getattr(self, name)!r}")
        if not MIN_COUNT_WIDTH <= self.count_width <= COUNT_WIDTH:
            raise ValueError(f"core count_width must lie in [{MIN_COUNT_WIDTH}, {COUNT_WIDTH}], "
                             f"not {self.count_width!r}")
        if not _is_power_of_two(self.tokens) or not MIN_TOKENS <= self.tokens <= TOKENS:
            raise ValueError(f"core tokens must be a power of two from {MIN_TOKENS} to {TOKENS}, "
                             f"not {self.tokens!r}")
        if self.program_steps and not self.narrow_program:
            raise ValueError("core program_steps needs narrow_program (the steps are read a word at a time)")
        if self.program_split and not self.message_sequencer:
            raise ValueError("core program_split must be False without a message_sequencer (it halves "
                             "the program memory for a message program)")
        if self.program_depth // self.program_banks < 2:
            raise ValueError(f"core program_depth must be at least {2 * self.program_banks} with "
                             f"{self.program_banks} program banks, not {self.program_depth!r}")
        for name in ("activation", "weight"):
            size = getattr(self, f"{name}_sram").size_bytes
            if size > MAX_SRAM_BYTES:
                raise ValueError(f"core {name} SRAM must hold at most {MAX_SRAM_BYTES} bytes, "
                                 f"not {size!r}")

    @property
    def token_count_width(self):
        """Bits of a count of one token's pulses not yet consumed: ``count_width + 1``, so that
        a ``WAIT`` for the most (``2**count_width``) finds them counted."""
        return self.count_width + 1

    @property
    def word_bytes(self):
        """Bytes in one SRAM word: one lane vector, ``lanes``."""
        return self.mac.lanes

    @property
    def activation_sram(self):
        return SramParams(self.activation_banks, self.word_bytes, self.activation_depth)

    @property
    def weight_sram(self):
        return SramParams(self.mac.columns, self.word_bytes, self.weight_depth)

    @property
    def settings_entry_bytes(self):
        """Bytes of one settings entry: per column a 4-byte bias, a 4-byte multiplier, a shift byte."""
        return 9 * self.mac.columns

    @property
    def settings_entry_words(self):
        """Words of one settings entry, rounded up."""
        return -(-self.settings_entry_bytes // self.word_bytes)

    @property
    def address_width(self):
        """Width of a byte address within the activation or the weight SRAM."""
        return ceil_log2(max(self.activation_sram.size_bytes, self.weight_sram.size_bytes))

    @property
    def activation_address_width(self):
        """Width of a byte address within the activation SRAM."""
        return ceil_log2(self.activation_sram.size_bytes)

    @property
    def settings_width(self):
        """Width of a settings-table entry index."""
        return ceil_log2(self.settings_depth)

    @property
    def program_width(self):
        """Width of a program-memory instruction index."""
        return ceil_log2(self.program_depth)

    @property
    def bank_instructions(self):
        """Instructions of one program bank: a run's compute and message programs together."""
        return self.program_depth // self.program_banks

    @property
    def program_limits(self):
        """``(compute, message, together)``: the most instructions a run's compute program,
        its message program and the two together may take (``program_split``); without a
        ``message_sequencer`` the message program is no more than its ``HALT``, which takes
        no memory (message 0)."""
        bank = self.bank_instructions
        if not self.message_sequencer:
            return (bank, 0, bank)
        return (bank // 2, bank // 2, bank) if self.program_split else (bank, bank, bank)


#: The default core, small enough to simulate whole: 8 lanes x 8 columns (64 int8 MACs a
#: cycle), a 32 KB activation SRAM (4 banks x 1024 words of 8 bytes), a 64 KB weight SRAM
#: (8 banks x 1024 words), 64 settings entries (512 output channels), 128 instructions
#: (enough for a whole small ResNet's share of an array, transfers included).
DEFAULT_CORE = CoreParams()

#: NorthPole's core (Modha et al., Science 2023): 64 lanes x 32 columns, so 2048 int8,
#: 4096 int4 and 8192 int2 MACs a cycle, and 768 KB of SRAM: the weight SRAM is 32 banks
#: (one per column) x 256 words of 64 bytes (512 KB), the activation SRAM 4 banks x 1024
#: words of 64 bytes (256 KB), each bank with a second write port for the words from the
#: network, which then land while the core writes its own results. The settings table
#: holds 64 entries of 32 channels, the 2048 output channels of ResNet-50's widest layer;
#: the program memory 512 instructions in two banks of 256, each a residual block's share
#: with the ``SEND``/``SIGNAL``/``WAIT`` around it, so that a pipeline's stages read one of
#: two input buffers while the stage before fills the other (see ``program_banks``).
NORTHPOLE_CORE = CoreParams(MacParams(lanes=64, columns=32), activation_banks=4, activation_depth=1024,
                            weight_depth=256, settings_depth=64, program_depth=512,
                            activation_write_ports=2, program_banks=2)

#: The named cores ``make verilog PRESET=<name>`` elaborates.
PRESETS = {"default": DEFAULT_CORE, "northpole": NORTHPOLE_CORE}


def parse_cores(text):
    """Parse a ``ROWSxCOLUMNS`` array size such as ``"4x4"`` into ``(rows, columns)``.

    Raises ``ValueError`` naming the text and the accepted form and limits.
    """
    parts = str(text).lower().split("x")
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        raise ValueError(f"CORES must have the form ROWSxCOLUMNS, such as 4x4, not {text!r}")
    rows, columns = int(parts[0]), int(parts[1])
    if not (1 <= rows <= MAX_CORE_ROWS and 1 <= columns <= MAX_CORE_COLUMNS):
        raise ValueError(f"CORES must be between 1x1 and {MAX_CORE_ROWS}x{MAX_CORE_COLUMNS}, "
                         f"not {text!r}")
    return rows, columns


@dataclass(frozen=True)
class ChipParams:
    """Parameters of the whole core array.

    Parameters
    ----------
    rows, columns : int
        Cores in the mesh, 1 to ``MAX_CORE_ROWS`` and ``MAX_CORE_COLUMNS``.
    core : CoreParams
        Every core.
    buffer_depth : int
        Flits each router buffers per input port (see :class:`NocParams`), 2 to
        ``MAX_BUFFER_DEPTH``.
    """
    rows: int = 4
    columns: int = 4
    core: CoreParams = DEFAULT_CORE
    buffer_depth: int = 4

    def __post_init__(self):
        for name in ("rows", "columns", "buffer_depth"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"chip {name} must be an integer, not {value!r}")
        parse_cores(f"{self.rows}x{self.columns}")
        if not isinstance(self.core, CoreParams):
            raise TypeError(f"chip core must be a CoreParams, not {self.core!r}")
        if not 2 <= self.buffer_depth <= MAX_BUFFER_DEPTH:
            raise ValueError(f"chip buffer_depth must be between 2 and {MAX_BUFFER_DEPTH}, "
                             f"not {self.buffer_depth!r}")

    @property
    def cores(self):
        """Cores in the array."""
        return self.rows * self.columns


@dataclass(frozen=True)
class NocParams:
    """Shape of one mesh network-on-chip (see ``hdl.router`` and ``hdl.mesh``).

    ``rows`` x ``columns`` routers; node ``(x, y)`` sits in column ``x`` and row ``y``.
    Every flit carries a header (destination, message class, ``last``) and
    ``flit_width`` payload bits.

    Parameters
    ----------
    flit_width : int
        Payload bits per flit, at least 1.
    buffer_depth : int
        Flits buffered per router input port, at least 2 (so that a link carries a flit
        every cycle: the sender sees the free space of the buffer as it was at the start
        of the cycle).
    rows, columns : int
        Routers in the mesh, 1 to 32 each.
    """
    flit_width: int = 32
    buffer_depth: int = 4
    rows: int = 4
    columns: int = 4

    def __post_init__(self):
        for name, minimum, maximum in (("flit_width", 1, None), ("buffer_depth", 2, None),
                                       ("rows", 1, MAX_CORE_ROWS), ("columns", 1, MAX_CORE_COLUMNS)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"NoC {name} must be an integer, not {value!r}")
            if maximum is None and value < minimum:
                raise ValueError(f"NoC {name} must be at least {minimum}, not {value!r}")
            if maximum is not None and not minimum <= value <= maximum:
                raise ValueError(f"NoC {name} must be between {minimum} and {maximum}, "
                                 f"not {value!r}")

    @property
    def x_width(self):
        """Width of a column coordinate, in bits: it holds 0 to ``columns``, since column
        ``columns``, east of the mesh, is where the host interface attaches."""
        return self.columns.bit_length()

    @property
    def y_width(self):
        """Width of a row coordinate, in bits (at least 1)."""
        return max(1, ceil_log2(self.rows))

    @property
    def nodes(self):
        """Routers in the mesh."""
        return self.rows * self.columns
