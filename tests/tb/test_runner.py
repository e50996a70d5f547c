"""``sim.tb.runner``: ``WAVES=1`` on Icarus writes a waveform into the test's directory.

The design is built as Verilog-2005 (``-g2005``), so the waveform dump module must be too:
cocotb's own uses a SystemVerilog ``string`` and failed every test.
"""

import shutil

import pytest

from hdl.mac import MacArray
from hdl.params import MacParams
from sim.tb.runner import BUILD_ROOT, run_cocotb


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog is not installed")
def test_waves_on_icarus(monkeypatch):
    monkeypatch.setenv("WAVES", "1")
    dut = MacArray(MacParams(4, 4))
    run_cocotb(dut, toplevel="mac_array", test_module="mac", testcase="random_mixed_precision_back_to_back",
               test_name="waves-mac-4x4", sim="icarus",
               params={"lanes": 4, "columns": 4, "latency": dut.LATENCY})
    waves = BUILD_ROOT / "waves-mac-4x4-icarus" / "mac_array.fst"
    assert waves.stat().st_size > 0
