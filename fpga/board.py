"""What a board target is: its platform, its device's resources, its clock, its array.

Each ``fpga/<board>.py`` describes one :class:`Board`; ``fpga/boards.py`` collects them.
"""

from dataclasses import dataclass, field

from amaranth import ClockDomain, ClockSignal, Elaboratable, Module, ResetSignal, Signal
from amaranth.lib import io

from hdl.params import ChipParams

from .params import fpga_core
from .top import FpgaTop

__all__ = ["RESOURCES", "WEIGHT_ROWS", "Board", "BoardTop"]

#: The resource kinds a report and a fit check count.
RESOURCES = ("luts", "ffs", "dsps", "block_rams", "sprams")
#: The fewest rows of weights a core's weight SRAM holds (``CoreParams``: a depth of at least 2).
WEIGHT_ROWS = 2


@dataclass(frozen=True)
class Board:
    """One board target.

    Parameters
    ----------
    name : str
    platform : callable
        Makes the amaranth-boards platform.
    family : str
        ``ice40`` or ``ecp5``.
    available : dict
        The device's resources (``RESOURCES``).
    per_core : dict
        Resources of one core with its tile and network interface, measured on the board's
        core (``lanes`` x ``columns``), per kind; :meth:`needed` scales them.
    input_hz, target_hz : float
        The board's oscillator and the PLL's target.
    cores, lanes, columns : default array
    activation_kb, weight_kb : int
        SRAM per core.
    settings_depth, program_depth : int
        Settings-table entries and instructions per core.
    synth_opts : str
    placement_seed : int or None
        nextpnr's ``--seed`` (``None``: nextpnr's own default): which of its placements the
        build takes. Where the device is full enough that routing congestion decides whether
        a build finishes, one seed's placement can route in minutes where another's does not
        converge in an hour.
    lut_multiplier_width : int
        Multipliers with both operands at most this wide are built from logic (see
        ``fpga.build.lut_multipliers``): one DSP block per int8 lane product, none for the
        int4 and int2 sub-products.
    mac_options : dict
        The cores' FPGA-lean :class:`~hdl.params.MacParams` options (``multiply_stages=2``,
        ...); a ``requantize_columns`` is capped at the columns.
    core_options : dict
        The cores' FPGA-lean :class:`~hdl.params.CoreParams` options (``narrow_program=True``,
        ...); ``message_sequencer=False`` applies to an array of one core only, the cores
        of a larger array keep theirs (they send each other their tensors).
    baud : int
    leds : int
        LEDs showing busy, done and error, in that order.
    """
    name: str
    platform: object
    family: str
    available: dict
    per_core: dict
    input_hz: float
    target_hz: float
    cores: tuple = (1, 1)
    lanes: int = 4
    columns: int = 4
    activation_kb: int = 4
    weight_kb: int = 4
    settings_depth: int = 8
    program_depth: int = 8
    synth_opts: str = ""
    placement_seed: int | None = None
    lut_multiplier_width: int = 4
    mac_options: dict = field(default_factory=dict)
    core_options: dict = field(default_factory=dict)
    baud: int = 115200
    leds: int = 2

    def params(self, cores=None, lanes=None, columns=None):
        rows, cols = cores or self.cores
        columns = self.columns if columns is None else columns
        mac_options, core_options = dict(self.mac_options), dict(self.core_options)
        if mac_options.get("requantize_columns"):
            mac_options["requantize_columns"] = min(mac_options["requantize_columns"], columns)
        if rows * cols > 1:
            core_options.pop("message_sequencer", None)
        core = fpga_core(self.lanes if lanes is None else lanes, columns,
                         activation_kb=self.activation_kb, weight_kb=self.weight_kb,
                         settings_depth=self.settings_depth, program_depth=self.program_depth,
                         mac_options=mac_options, **core_options)
        return ChipParams(rows, cols, core, buffer_depth=2)

    def size_refusal(self, lanes, columns):
        """One line naming a MAC array of ``lanes`` x ``columns`` that the board's core
        memories cannot hold (its weight SRAM takes at least two rows of ``lanes`` x
        ``columns`` int8 weights), or ``None``."""
        limit = self.weight_kb * 1024 // WEIGHT_ROWS
        if lanes * columns > limit:
            return (f"{self.name}: LANES x COLUMNS must be at most {limit} (a core's {self.weight_kb} KB of "
                    f"weights holds {WEIGHT_ROWS} rows of them), not {lanes}x{columns} = {lanes * columns}")
        return None

    def default_params(self):
        return self.params()

    def needed(self, params):
        """Estimated resources of an array with ``params``: ``per_core`` scaled per core by
        the MAC array (lanes x columns, against the board's measured core) for DSPs and logic."""
        mac = params.core.mac
        scale = mac.lanes * mac.columns / (self.lanes * self.columns)
        return {kind: round(params.cores * self.per_core[kind] * (scale if kind in ("luts", "ffs", "dsps")
                                                                   else 1))
                for kind in RESOURCES}

    def refusal(self, params):
        """One line naming the resources ``params`` needs beyond the device's, or ``None``."""
        needed = self.needed(params)
        over = [f"{needed[kind]} {kind} (the {self.name} has {self.available[kind]})"
                for kind in RESOURCES if needed[kind] > self.available[kind]]
        if not over:
            return None
        mac = params.core.mac
        return (f"{self.name}: a {params.rows}x{params.columns} array of {mac.lanes}x{mac.columns}-MAC cores "
                f"does not fit: it needs an estimated " + ", ".join(over))


class BoardTop(Elaboratable):
    """The board wrapper: clock through the PLL, reset until it locks, UART pins, LEDs.

    ``make_pll(platform, clock, locked)`` returns the PLL instance and its output frequency.
    """

    def __init__(self, board, params, make_pll):
        self.board, self.params, self._make_pll = board, params, make_pll
        self.frequency = None

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = ClockDomain("sync")
        locked, clock = Signal(), Signal()
        pll, self.frequency = self._make_pll(platform, clock, locked)
        m.submodules.pll = pll
        m.d.comb += ClockSignal("sync").eq(clock)
        platform.add_clock_constraint(clock, self.frequency)
        m.d.comb += ResetSignal("sync").eq(~locked)      # held in reset until the PLL locks
        divisor = round(self.frequency / self.board.baud)
        m.submodules.top = top = FpgaTop(self.params, divisor)
        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx_buffer = rx = io.Buffer("i", uart.rx)
        m.submodules.tx_buffer = tx = io.Buffer("o", uart.tx)
        m.d.comb += [top.rx.eq(rx.i), tx.o.eq(top.tx)]
        for index, value in enumerate((top.busy, top.done, top.error)[:self.board.leds]):
            led = io.Buffer("o", platform.request("led", index, dir="-"))
            m.submodules[f"led_{index}"] = led
            m.d.comb += led.o.eq(value)
        return m
