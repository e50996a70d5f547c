"""``sim.tb.runner``: ``WAVES=1`` on Icarus writes a waveform into the test's directory (and a
failing run on either simulator names its waveform file), and every pytest test's directory
and job files are its own.

The design is built as Verilog-2005 (``-g2005``), so the waveform dump module must be too:
cocotb's own uses a SystemVerilog ``string`` and failed every test.
"""

import re
import shutil
import sys
from pathlib import Path

import pytest

from hdl.mac import MacArray
from hdl.params import MacParams
from sim.tb.runner import run_cocotb, run_directory, run_name, waves_path


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog is not installed")
def test_waves_on_icarus(monkeypatch):
    monkeypatch.setenv("WAVES", "1")
    dut = MacArray(MacParams(4, 4))
    run_cocotb(dut, toplevel="mac_array", test_module="mac", testcase="random_mixed_precision_back_to_back",
               test_name="waves-mac-4x4", sim="icarus",
               params={"lanes": 4, "columns": 4, "latency": dut.LATENCY})
    waves = run_directory("waves-mac-4x4", "icarus") / "mac_array.fst"
    assert waves.stat().st_size > 0


def _installed(tool):
    return shutil.which(tool, path=str(Path(sys.executable).parent)) or shutil.which(tool)


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_failure_names_its_waveforms(monkeypatch, sim):
    """A testbench that fails (told the wrong latency) on either simulator: the error names the
    waveform file, which holds the failed run."""
    if not _installed({"icarus": "iverilog", "verilator": "verilator"}[sim]):
        pytest.skip(f"{sim} is not installed")
    monkeypatch.setenv("WAVES", "1")
    dut = MacArray(MacParams(4, 4))
    name = "waves-failing-mac-4x4"
    path = waves_path(name, sim, "mac_array")
    with pytest.raises(AssertionError, match=rf"; waveforms in {re.escape(str(path))}$"):
        run_cocotb(dut, toplevel="mac_array", test_module="mac",
                   testcase="random_mixed_precision_back_to_back", test_name=name, sim=sim,
                   params={"lanes": 4, "columns": 4, "latency": dut.LATENCY + 1})
    assert path.stat().st_size > 0


def test_run_names_are_unique_per_test(monkeypatch):
    """Two parametrized cases passing one test name get directories of their own; the
    phases of one test share its directory; outside pytest the name is kept as it is."""
    name = "array-4x4-bottleneck_block-int8"

    def during(case, phase):
        monkeypatch.setenv("PYTEST_CURRENT_TEST", f"tests/integration/test_array.py::test_on_4x4"
                                                  f"[{case}] ({phase})")
        return run_name(name), run_directory(name, "verilator")

    setup, call = during("bottleneck_block-int8", "setup"), during("bottleneck_block-int8", "call")
    other = during("bottleneck_block-int8-conv3_by_channels", "call")
    assert setup == call
    assert call[0] != other[0] and call[1] != other[1]
    assert call[0].startswith(f"{name}-") and other[0].startswith(f"{name}-")
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    assert run_name(name) == name


def test_designs_are_elaborated_once_per_process(monkeypatch):
    """Every core test, mesh run and array test of one design and parameters takes one
    elaboration: the second request returns the same text without converting again."""
    import gen.verilog
    from hdl.params import ChipParams, CoreParams
    from sim.tb.array_runner import chip_verilog_once
    from sim.tb.runner import elaborated

    converted = []
    monkeypatch.setattr(gen.verilog, "to_verilog",
                        lambda component, name: converted.append((component, name)) or f"module {name};")
    monkeypatch.setattr(gen.verilog, "chip_verilog",
                        lambda params: converted.append(params) or ("module np_chip;", "np_chip"))
    elaborated.cache_clear()
    chip_verilog_once.cache_clear()

    def component(params):
        return ("component", params)

    try:
        params, chip = CoreParams(program_depth=8), ChipParams(rows=1, columns=2)
        first = elaborated(component, params, "core")
        assert elaborated(component, CoreParams(program_depth=8), "core") is first
        assert elaborated(component, CoreParams(program_depth=16), "core") is not first
        assert chip_verilog_once(chip) is chip_verilog_once(ChipParams(rows=1, columns=2))
        assert len(converted) == 3, converted
    finally:
        elaborated.cache_clear()
        chip_verilog_once.cache_clear()
