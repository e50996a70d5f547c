"""The FPGA top level (UART bridge and array) driven by the host driver's own code.

A ResNet layer from :mod:`sim.workloads`, compiled for the core a board's build holds, goes through
the simulated UART: load, bad frames and commands (each answered as
:mod:`fpga.host.protocol` documents), input, run (a WRITE during it must be refused as
BUSY), output; every output value must equal :mod:`sim.golden`'s, so the bad frames did
not touch the loaded weights, and the run must take the compiler's predicted cycles.
"""

import numpy as np
import pytest

from fpga.boards import BOARDS
from fpga.host.protocol import NO_OP, Op, Status
from fpga.params import chip_params_to_dict
from fpga.top import top_verilog
from sim.tb.runner import run_job, seed_from_env, simulator

#: Clock cycles per UART bit in simulation (a fast UART; the boards use clock / baud).
DIVISOR = 8

#: The error reply each bad request must get: (status, op).
EXPECTED_ERRORS = {
    "checksum": (Status.CHECKSUM, Op.WRITE),
    "command": (Status.COMMAND, 0x7E),
    "sync": (Status.FRAMING, NO_OP),
    "stop_bit": (Status.FRAMING, NO_OP),
    "timeout": (Status.TIMEOUT, Op.WRITE),
    "x_range": (Status.ARGUMENT, Op.WRITE),
    "y_range": (Status.ARGUMENT, Op.READ),
    "addr_range": (Status.ARGUMENT, Op.WRITE),
    "busy": (Status.BUSY, Op.WRITE),
}


#: A conv on the ULX3S's core; a residual ADD, run unfused, on the iCEBreaker's (int8 MACs only).
@pytest.mark.parametrize("board, layer, bits", [("ulx3s", "conv_3x3_s1", 8),
                                                ("icebreaker", "residual_add_relu", 8)])
def test_bridge_runs_layer(board, layer, bits):
    """On each board's array (the ULX3S's MAC array multiplies at int8 only)."""
    seed = seed_from_env()
    params = BOARDS[board].default_params()
    verilog, toplevel = top_verilog(params, DIVISOR)
    result = run_job(verilog, toplevel=toplevel, test_module="fpga",
                     test_name=f"fpga-bridge-{board}-{layer}-int{bits}", sim=simulator("verilator"),
                     job={"params": chip_params_to_dict(params), "divisor": DIVISOR, "layer": layer,
                          "bits": bits, "seed": seed})
    context = f"{layer} int{bits} through the {board}'s UART bridge (SEED={seed})"
    errors = []
    for name, (status, op) in EXPECTED_ERRORS.items():
        reply = result["replies"][name]
        if reply is None:
            errors.append(f"{name}: no reply")
        elif reply.get("extra"):
            errors.append(f"{name}: more than one reply, then {reply['extra']}")
        elif (reply["status"], reply["op"]) != (status, op):
            errors.append(f"{name}: reply status {reply['status']:#04x} op {reply['op']:#04x}, "
                          f"expected {int(status):#04x} {int(op):#04x}")
    assert not errors, f"{context}: bad requests answered wrongly:\n" + "\n".join(errors)
    assert result["outputs"], f"{context}: no output tensor to compare"
    for name, outputs in result["outputs"].items():
        got, want = np.asarray(outputs), np.asarray(result["expected"][name])
        assert got.shape == want.shape and want.size > 0, \
            f"{context}: {name} has shape {got.shape}, not {want.shape}"
        wrong = [tuple(index) for index in np.argwhere(got != want)]
        assert not wrong, (f"{context}: {len(wrong)} values of {name} differ from sim.golden, first at "
                           f"{wrong[0]}: got {got[wrong[0]]}, expected {want[wrong[0]]}")
    assert result["cycles"] == result["predicted_cycles"], \
        f"{context}: ran {result['cycles']} cycles, predicted {result['predicted_cycles']}"
