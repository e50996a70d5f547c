"""iCEBreaker (Lattice iCE40UP5K): the board target.

The 12 MHz oscillator feeds an ``SB_PLL40_PAD`` at 24 MHz. The device has 5,280 LUTs, 8
SB_MAC16 DSP blocks, 30 EBR blocks of 4 Kbit and 4 SPRAM blocks of 256 Kbit. The board's core
takes every FPGA-lean option there is (one requantizer, no message sequencer, int8 products
only, one column requantized a cycle over a split multiply, instructions fetched a word a
cycle) and is still too large for the device (``per_core`` below), so
``make fpga BOARD=icebreaker`` refuses every configuration up front; the platform, PLL and
pins are still elaborated by the smoke test, and the board's core runs models in simulation
(``tests/fpga/test_run_model.py``).
"""

from amaranth_boards.icebreaker import ICEBreakerPlatform

from hdl.params import Precision

from .board import Board, BoardTop
from .pll import ice40_pll

__all__ = ["ICEBREAKER", "top"]

ICEBREAKER = Board(
    name="icebreaker", platform=ICEBreakerPlatform, family="ice40",
    available={"luts": 5280, "ffs": 5280, "dsps": 8, "block_rams": 30, "sprams": 4},
    # Yosys synth_ice40 -dsp -noabc9 of the board's 1x1 array (the 4x4 core below; 4 KB
    # activations, 4 KB weights), the bridge included: 16 of the 24 SB_MAC16 are the MAC
    # lanes', 18 of the 36 EBR the settings table's (288 bits an entry).
    per_core={"luts": 8174, "ffs": 5095, "dsps": 24, "block_rams": 36, "sprams": 0},
    input_hz=12e6, target_hz=24e6, synth_opts="-dsp -noabc9", leds=2, requantize_columns=1,
    multiply_stages=2, precisions=(Precision.INT8,), narrow_program=True, message_sequencer=False,
    fused_add=False)


def top(params):
    def make_pll(platform, clock, locked):
        pad = platform.request("clk12", 0, dir="-")
        return ice40_pll(pad.io, clock, locked, ICEBREAKER.input_hz, ICEBREAKER.target_hz)
    return BoardTop(ICEBREAKER, params, make_pll)
