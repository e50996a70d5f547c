"""The FPGA top level without the board: UART host bridge and core array.

:class:`FpgaTop` is what every board build elaborates inside its clock and pin wrapper
(``fpga/icebreaker.py``, ``fpga/ulx3s.py``) and what the cocotb tests simulate with the
testbench's clock and reset: the ``rx`` line through a two-flip-flop synchroniser into
:class:`~fpga.host.gateware.Bridge`, the bridge's commands into :class:`hdl.chip.Chip`.
"""

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from hdl.chip import Chip
from hdl.params import ChipParams

from .host.gateware import Bridge
from .host.uart import check_divisor

__all__ = ["TOP", "FpgaTop", "top_verilog"]

#: Module name of the simulated top level.
TOP = "np_fpga"


class FpgaTop(wiring.Component):
    """UART bridge and array.

    Parameters
    ----------
    params : ChipParams
    divisor : int
        Clock cycles per UART bit.
    tile : str
        Module name of the tile the array instantiates (see :class:`hdl.chip.Chip`).

    Attributes
    ----------
    rx : In(1)
        The UART line from the host (asynchronous).
    tx : Out(1)
    busy, done : Out(1)
        A run is going on; the last run has finished.
    error : Out(1)
        Some core's SRAM conflict or network overrun flag.
    """

    def __init__(self, params, divisor, tile="np_tile"):
        if not isinstance(params, ChipParams):
            raise TypeError(f"FpgaTop params must be a ChipParams, not {params!r}")
        check_divisor(divisor)
        self._params, self._divisor, self._tile = params, divisor, tile
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "busy": Out(1), "done": Out(1),
                          "error": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.bridge = bridge = Bridge(self._params, self._divisor)
        m.submodules.chip = chip = Chip(self._params, tile=self._tile)
        m.submodules.rx_sync = FFSynchronizer(self.rx, bridge.rx, init=1)
        m.d.comb += self.tx.eq(bridge.tx)
        wiring.connect(m, bridge.o_command, chip.i_command)
        wiring.connect(m, chip.o_data, bridge.i_data)
        m.d.comb += [bridge.busy.eq(chip.busy), bridge.done.eq(chip.done), bridge.cycles.eq(chip.cycles),
                     bridge.conflict.eq(chip.conflict), bridge.overrun.eq(chip.overrun),
                     self.busy.eq(chip.busy), self.done.eq(chip.done),
                     self.error.eq(chip.conflict | chip.overrun)]
        return m


def top_verilog(params, divisor):
    """Verilog of the tile and of :class:`FpgaTop` (module ``TOP``) for simulation; ``(text, TOP)``."""
    from gen.verilog import TILE, to_verilog
    from hdl.chip import chip_params
    from hdl.tile import Tile
    tile = to_verilog(Tile(*chip_params(params)), TILE)
    return tile + "\n" + to_verilog(FpgaTop(params, divisor, tile=TILE), TOP), TOP
