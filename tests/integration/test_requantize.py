"""The requantize unit's Verilog, simulated with cocotb, against the golden model."""

import pytest

from hdl.params import MacParams
from hdl.requantize import Requantizer
from sim.tb.runner import run_cocotb


def run(simulator, columns, testcase=None):
    dut = Requantizer(MacParams(lanes=4, columns=columns))
    run_cocotb(dut, toplevel="requantizer", test_module="requantize", testcase=testcase,
               test_name=f"requantize-{columns}-{testcase or 'all'}", sim=simulator,
               params={"lanes": 4, "columns": columns, "latency": dut.LATENCY})


@pytest.mark.parametrize("columns", [4, 8])
def test_requantizer(simulator, columns):
    run(simulator, columns)


@pytest.mark.smoke
def test_requantizer_smoke(simulator):
    run(simulator, 4, testcase="corner_values")
