"""ULX3S 85F (Lattice ECP5-85F): the board target.

The 25 MHz oscillator feeds an ``EHXPLLL`` at 50 MHz. The device has 83,640 LUTs, 156
MULT18X18D multipliers, 208 DP16KD block RAMs of 18 Kbit (3.7 Mbit).
"""

from amaranth import Elaboratable, Module
from amaranth.lib import io
from amaranth_boards.ulx3s import ULX3S_85F_Platform

from hdl.params import Precision

from .board import Board, BoardTop
from .pll import ecp5_pll

__all__ = ["ULX3S", "top"]

ULX3S = Board(
    name="ulx3s", platform=ULX3S_85F_Platform, family="ecp5",
    available={"luts": 83640, "ffs": 83640, "dsps": 156, "block_rams": 208, "sprams": 0},
    # nextpnr's utilisation of the 2x2 build of the board's core, per core (the bridge shared
    # out): 59,602 TRELLIS_COMB, 22,493 TRELLIS_FF, 112 MULT18X18D (16 on each core's MAC
    # lanes, 4 in each of its two requantizers, 4 on its vector unit), 64 DP16KD.
    per_core={"luts": 14901, "ffs": 5624, "dsps": 28, "block_rams": 16, "sprams": 0},
    input_hz=25e6, target_hz=50e6, leds=3, weight_kb=16, settings_depth=32, program_depth=32,
    mac_options={"requantize_columns": 1, "multiply_stages": 2, "precisions": (Precision.INT8,)},
    core_options={"program_split": True, "narrow_program": True},
    # At 74% of the LUTs, the 2x2 array's placement with nextpnr's default seed left router1
    # hovering near 1,000 unrouted arcs for over an hour; seed 2's routed in 11 minutes.
    placement_seed=2,
    # Yosys's abc9 flow fails an assertion on this design (0.63: `count_id(wire->name) == 0`;
    # 0.70 fails in ABC_OPS_REINTEGRATE even without it, hence the pin on 0.63).
    synth_opts="-noabc9")


def top(params):
    def make_pll(platform, clock, locked):
        pad = platform.request("clk25", 0, dir="-")
        m_buffer = io.Buffer("i", pad)
        pll, frequency = ecp5_pll(m_buffer.i, clock, locked, ULX3S.input_hz, ULX3S.target_hz)
        return _WithBuffer(pll, m_buffer), frequency
    return BoardTop(ULX3S, params, make_pll)


class _WithBuffer(Elaboratable):
    """The PLL and the input buffer of its clock, as one submodule."""

    def __init__(self, pll, buffer):
        self.pll, self.buffer = pll, buffer

    def elaborate(self, platform):
        m = Module()
        m.submodules.buffer, m.submodules.pll = self.buffer, self.pll
        return m
