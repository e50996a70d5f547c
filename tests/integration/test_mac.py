"""The SIMD MAC array's Verilog, simulated with cocotb, against the golden model.

Every shape runs every test of ``sim/tb/mac.py``: exhaustive int4/int2 (and int8 where
cheap) operand pairs in every lane position, seeded random int8 and mixed-precision
accumulations back to back and with gaps, and the extremes with int32 wrap. The 8 x 8
run logs the simulated cycles per second (``simulation speed``). Replay a failure with
``SEED=<seed>``, the seed printed in the log and the failure message.
"""

import pytest

from hdl.mac import MacArray
from hdl.params import MacParams
from sim.tb.runner import run_cocotb

SHAPES = [(4, 4), (8, 8), (16, 4)]


def run(simulator, lanes, columns, testcase=None):
    dut = MacArray(MacParams(lanes, columns))
    run_cocotb(dut, toplevel="mac_array", test_module="mac", testcase=testcase,
               test_name=f"mac-{lanes}x{columns}-{testcase or 'all'}", sim=simulator,
               params={"lanes": lanes, "columns": columns, "latency": dut.LATENCY})


@pytest.mark.parametrize("lanes, columns", SHAPES)
def test_mac_array(simulator, lanes, columns):
    run(simulator, lanes, columns)


@pytest.mark.smoke
def test_mac_array_smoke(simulator):
    run(simulator, 4, 4, testcase="random_mixed_precision_back_to_back")
