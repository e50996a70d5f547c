"""iCEBreaker (Lattice iCE40UP5K): the board target.

The 12 MHz oscillator feeds an ``SB_PLL40_PAD`` at 24 MHz. The device has 5,280 logic cells
(a LUT4 and a flip-flop each), 8 SB_MAC16 DSP blocks, 30 EBR blocks of 4 Kbit and 4 SPRAM
blocks of 256 Kbit. The board's core is 4 lanes x 2 columns with every FPGA-lean option there
is (one requantizer, no message sequencer, int8 products only, two to an SB_MAC16, one column
requantized in two cycles on half the multipliers, scales below one, no operand register,
the MAX/SUM operands delayed in block RAM, 8-bit loop counts and 4 tokens, instructions
fetched a word a cycle, the a and b steps read from the program memory) and its 128 KB of
weights in single-port banks, the SPRAMs: enough for the digits ResNet of ``models/`` (8 KB
of activations, 128 settings entries, 16 instructions). Its 1x1 array fits the device
(``per_core`` below) and meets 24 MHz; two cores do not fit.
"""

from amaranth_boards.icebreaker import ICEBreakerPlatform

from hdl.params import Precision

from .board import Board, BoardTop
from .pll import ice40_pll

__all__ = ["ICEBREAKER", "top"]

ICEBREAKER = Board(
    name="icebreaker", platform=ICEBreakerPlatform, family="ice40",
    available={"luts": 5280, "ffs": 5280, "dsps": 8, "block_rams": 30, "sprams": 4},
    # The board's 1x1 array (the 4x2 core below, its tile without routers), the bridge
    # included: Yosys synth_ice40 -dsp -spram -noabc9 maps it to 3,865 LUT4, 1,900 FFs, 8
    # SB_MAC16 (4 the MAC lanes', two products each, 2 the requantizer's, 2 the vector
    # unit's), 30 EBR and the 4 SPRAMs, and nextpnr packs those into 4,894 logic cells
    # ("luts", as the build's report counts them): a flip-flop fed by no LUT of its own takes
    # a cell of its own.
    per_core={"luts": 4894, "ffs": 1900, "dsps": 8, "block_rams": 30, "sprams": 4},
    input_hz=12e6, target_hz=24e6, synth_opts="-dsp -spram -noabc9", leds=2, columns=2, activation_kb=8,
    weight_kb=128, settings_depth=128, program_depth=16,
    mac_options={"requantize_columns": 1, "multiply_stages": 2, "rescale_cycles": 2, "scales_below_one": True,
                 "operand_register": False, "delay_memory": True, "precisions": (Precision.INT8,),
                 "dsp_block": "SB_MAC16"},
    core_options={"narrow_program": True, "program_steps": True, "message_sequencer": False,
                  "fused_add": False, "single_port_weights": True, "count_width": 8, "tokens": 4})


def top(params):
    def make_pll(platform, clock, locked):
        pad = platform.request("clk12", 0, dir="-")
        return ice40_pll(pad.io, clock, locked, ICEBREAKER.input_hz, ICEBREAKER.target_hz)
    return BoardTop(ICEBREAKER, params, make_pll)
