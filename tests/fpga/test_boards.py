"""Board targets without the tools: elaboration through each platform (``do_build=False``),
the up-front fit check, PLL settings, report parsing and the framing protocol."""

import json
import os
import re
from pathlib import Path

import pytest

from fpga.board import RESOURCES
from fpga.boards import BOARDS
from fpga.build import (
    BREAKDOWN_STAT,
    NEXTPNR_REPORT,
    breakdown_script,
    build,
    main,
    parse_breakdown,
    parse_nextpnr_report,
    prepare,
    write_atomically,
)
from fpga.host.protocol import REPLY_SYNC, Frames, Op, ProtocolError, Status, crc8
from fpga.pll import ecp5_pll_settings, ice40_pll_settings


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_smoke(board, tmp_path):
    top, plan = prepare(board, BOARDS[board].default_params(), tmp_path, do_build=False)
    assert {"top.ys", "top.il", "np_tile.v"} <= set(plan.files)
    assert top.frequency >= BOARDS[board].target_hz
    pll = "SB_PLL40_PAD" if BOARDS[board].family == "ice40" else "EHXPLLL"
    assert pll in plan.files["top.il"]
    assert "module np_tile" in plan.files["np_tile.v"]
    # The hierarchical copy's statistics, then the real synthesis; nextpnr's JSON report.
    script = plan.files["top.ys"]
    assert script.index("stat -json") < script.index("design -load read") < script.index("flatten;")
    assert f"tee -q -o {BREAKDOWN_STAT} stat -json" in script
    assert f"--report {NEXTPNR_REPORT}" in plan.files["build_top.sh"]
    # The board's placement seed, where it has one, and no --seed where it leaves nextpnr's own.
    seed = BOARDS[board].placement_seed
    assert ("--seed" in plan.files["build_top.sh"]) == (seed is not None)
    if seed is not None:
        assert f"--seed {seed} " in plan.files["build_top.sh"]
    # Single-port weight banks lose their initial content and ask for SPRAM before any
    # synthesis; the pattern must name the tile's weights module.
    single_port = BOARDS[board].default_params().core.single_port_weights
    assert ("ram_style" in script) == single_port
    if single_port:
        assert "module \\np_tile.core.weights" in plan.files["np_tile.v"]
        synthesis = script.index("synth_")
        assert script.index("delete np_tile.core.weights*/t:$meminit_v2") < synthesis
        assert script.index('setattr -set ram_style "huge" np_tile.core.weights*/m:*') < synthesis


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_breakdown_script(board):
    """The hierarchical copy is synthesized with the board's options, without flattening
    and without abc9 (Yosys 0.63's fails on it for both families)."""
    synthesis = [command for command in breakdown_script(BOARDS[board]).split("; ")
                 if command.startswith("synth_")]
    options = BOARDS[board].synth_opts.split()
    assert synthesis == [" ".join([f"synth_{BOARDS[board].family}", *dict.fromkeys(
        [*options, "-noabc9", "-noflatten"]), "-top", "top"])]


def test_icebreaker_fit():
    """From the measured build: the board's one core fits, two do not (nor a wider core)."""
    board = BOARDS["icebreaker"]
    assert board.refusal(board.default_params()) is None
    message = board.refusal(board.params((1, 2)))
    assert re.match(r"^icebreaker: a 1x2 array of 4x2-MAC cores does not fit: it needs an estimated "
                    r"\d+ luts \(the icebreaker has 5280\), 16 dsps \(the icebreaker has 8\), "
                    r"\d+ block_rams \(the icebreaker has 30\), 8 sprams \(the icebreaker has 4\)$",
                    message), message


def test_ulx3s_fit():
    """From the measured 2x2 build (28 MULT18X18D a core): four cores fit, six do not."""
    board = BOARDS["ulx3s"]
    assert board.refusal(board.default_params()) is None
    assert board.refusal(board.params((2, 2))) is None
    assert re.match(r"^ulx3s: a 2x3 array of 4x4-MAC cores does not fit: it needs an estimated "
                    r"\d+ luts \(the ulx3s has 83640\), 168 dsps \(the ulx3s has 156\)$",
                    board.refusal(board.params((2, 3))))


@pytest.mark.parametrize("argv, message", [
    (["--board", "nosuchboard"], r"^error: BOARD must be one of icebreaker, ulx3s, not 'nosuchboard'$"),
    (["--board", "ulx3s", "--cores", "2x"], r"^error: CORES must have the form ROWSxCOLUMNS, such as 4x4, "
                                            r"not '2x'$"),
    (["--board", "ulx3s", "--lanes", "six"], r"^error: LANES must be a positive integer, not 'six'$"),
    (["--board", "ulx3s", "--lanes", "6"], r"^error: LANES must be a power of two from 4 to 128, not 6$"),
    (["--board", "ulx3s", "--lanes", "0"], r"^error: LANES must be a power of two from 4 to 128, not 0$"),
    (["--board", "ulx3s", "--lanes", "00"], r"^error: LANES must be a power of two from 4 to 128, not 0$"),
    (["--board", "ulx3s", "--lanes", "-4"], r"^error: LANES must be a positive integer, not '-4'$"),
    (["--board", "ulx3s", "--lanes", ""], r"^error: LANES must be a positive integer, not ''$"),
    (["--board", "ulx3s", "--lanes", "256"], r"^error: LANES must be a power of two from 4 to 128, not 256$"),
    (["--board", "ulx3s", "--columns", "0"], r"^error: COLUMNS must be a power of two from 2 to 128, not 0$"),
    (["--board", "icebreaker", "--columns", "0"],
     r"^error: COLUMNS must be a power of two from 2 to 128, not 0$"),
    (["--board", "ulx3s", "--columns", "8"], r"^error: COLUMNS must be at most LANES \(4\), not 8$"),
    (["--board", "ulx3s", "--lanes", "128", "--columns", "128"],
     r"^error: ulx3s: LANES x COLUMNS must be at most 8192 \(a core's 16 KB of weights holds 2 rows of "
     r"them\), not 128x128 = 16384$"),
    (["--board", "ulx3s", "--lanes", "32", "--columns", "16"],
     r"^error: ulx3s: a 1x1 array of 32x16-MAC cores does not fit: it needs an estimated \d+ luts "
     r"\(the ulx3s has 83640\), \d+ ffs \(the ulx3s has 83640\), \d+ dsps \(the ulx3s has 156\)$"),
    (["--board", "ulx3s", "--cores", "0x1"], r"^error: CORES must be between 1x1 and 32x32, not '0x1'$"),
    (["--board", "ulx3s", "--cores", ""], r"^error: CORES must have the form ROWSxCOLUMNS, such as 4x4, "
                                          r"not ''$"),
    (["--board", "icebreaker", "--cores", "1x2"],
     r"^error: icebreaker: a 1x2 array of 4x2-MAC cores does not fit: it needs an estimated .*$"),
])
def test_build_arguments_wrong(argv, message, tmp_path, capsys, monkeypatch):
    """A bad size or one the board cannot take is refused in one line naming the value and
    its limit, with exit status 2, before any elaboration or synthesis and before the output
    directory is made, even with every tool present."""
    def no_synthesis(*args, **kwargs):
        raise AssertionError("synthesis started")
    monkeypatch.setattr("fpga.build.prepare", no_synthesis)
    for name in ("YOSYS", "NEXTPNR_ECP5", "ECPPACK", "NEXTPNR_ICE40", "ICEPACK", "OPENFPGALOADER"):
        monkeypatch.setenv(name, "true")
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and re.match(message, lines[0]), lines
    assert not (tmp_path / "out").exists()


def test_npgen_fpga_lanes_zero_wrong(tmp_path, capsys, monkeypatch):
    """``make fpga LANES=0`` runs ``npgen fpga --lanes=0``: refused, not built at the default."""
    from gen.cli import main as npgen

    monkeypatch.setattr("fpga.build.prepare", lambda *args, **kwargs: pytest.fail("synthesis started"))
    assert npgen(["fpga", "--board=ulx3s", "--lanes=0", f"--out={tmp_path / 'out'}"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: LANES must be a power of two from 4 to 128, not 0"]


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_board_params_zero_wrong(board):
    """A zero size reaches ``MacParams`` and is refused there, never replaced by the default."""
    with pytest.raises(ValueError, match=r"^MAC lanes must be a power of two of at least 4, not 0$"):
        BOARDS[board].params(lanes=0)
    with pytest.raises(ValueError, match=r"^MAC columns must be a power of two of at least 2, not 0$"):
        BOARDS[board].params(columns=0)


def test_build_out_wrong(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert main(["--board", "ulx3s", "--out", str(tmp_path / "file")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: OUT must name a directory, not the file {str(tmp_path / 'file')!r}"]


@pytest.mark.parametrize("tool, variable", [("yosys", "YOSYS"), ("openFPGALoader", "OPENFPGALOADER")])
def test_build_tool_missing_wrong(tool, variable, tmp_path, capsys, monkeypatch):
    """A tool the build needs but cannot find is refused before elaboration, naming its
    variable: each tool the platform requires is checked, the ULX3S's programmer too."""
    for name in ("YOSYS", "NEXTPNR_ECP5", "ECPPACK", "OPENFPGALOADER"):
        monkeypatch.setenv(name, "true")
    monkeypatch.setenv(variable, str(tmp_path / "no-tool"))
    assert main(["--board", "ulx3s", "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: BOARD ulx3s needs {tool}: set {variable} to it or put it on PATH (make fpga uses the "
        f"project's YoWASP tools), not {str(tmp_path / 'no-tool')!r}"]
    assert not (tmp_path / "out").exists()


def test_pll_settings():
    assert ice40_pll_settings(12e6, 24e6) == (0, 63, 5, 24e6)
    assert ecp5_pll_settings(25e6, 50e6)[3] == 50e6
    with pytest.raises(ValueError, match=r"^iCE40 PLL cannot make 1 MHz from 12 MHz$"):
        ice40_pll_settings(12e6, 1e6)


FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name):
    return json.loads((FIXTURES / name).read_text())


def test_nextpnr_report_ecp5():
    resources, timing = parse_nextpnr_report(fixture("ecp5_small_nextpnr.json"), "ecp5")
    assert resources == {"luts": (80, 83640), "ffs": (76, 83640), "dsps": (1, 156), "block_rams": (1, 208),
                         "sprams": None}
    assert timing == {"clock": "$glbnet$clk", "achieved_mhz": 72.05, "target_mhz": 25, "met": True}


def test_nextpnr_report_ulx3s():
    """The ULX3S 1x1 build's own report."""
    resources, timing = parse_nextpnr_report(fixture("ulx3s_1x1_nextpnr.json"), "ecp5")
    assert resources == {"luts": (28031, 83640), "ffs": (8685, 83640), "dsps": (64, 156),
                         "block_rams": (10, 208), "sprams": None}
    assert timing == {"clock": "$glbnet$clk", "achieved_mhz": 56.64, "target_mhz": 50, "met": True}


def test_nextpnr_report_ice40():
    resources, timing = parse_nextpnr_report(fixture("ice40_small_nextpnr.json"), "ice40")
    assert resources == {"luts": (107, 5280), "ffs": None, "dsps": (1, 8), "block_rams": (2, 30),
                         "sprams": (0, 4)}
    assert timing == {"clock": "clk", "achieved_mhz": 71.16, "target_mhz": 12, "met": True}


def test_nextpnr_report_worst_clock():
    """With several clocks, the one furthest from its target is the report's."""
    value = {"utilization": {}, "fmax": {"fast": {"achieved": 120.0, "constraint": 100.0},
                                         "slow": {"achieved": 45.5, "constraint": 50.0},
                                         "easy": {"achieved": 30.0, "constraint": 12.0}}}
    assert parse_nextpnr_report(value, "ecp5")[1] == {
        "clock": "slow", "achieved_mhz": 45.5, "target_mhz": 50.0, "met": False}


def test_nextpnr_report_wrong():
    with pytest.raises(ValueError, match=r"^nextpnr's report must give a clock's 'fmax', not none$"):
        parse_nextpnr_report({"utilization": {}, "fmax": {}}, "ecp5")


def test_breakdown_ulx3s():
    """The hierarchical ULX3S 1x1 build: every cell counted once, in the part that holds it."""
    value = fixture("ulx3s_1x1_stat.json")
    breakdown = parse_breakdown(value, "ecp5")
    design = value["design"]["num_cells_by_type"]
    total = breakdown.pop("total")
    assert total == {"luts": design["LUT4"] + 2 * design["CCU2C"] + 4 * design["TRELLIS_DPR16X4"],
                     "ffs": design["TRELLIS_FF"], "dsps": design["MULT18X18D"],
                     "block_rams": design["DP16KD"], "sprams": 0}
    assert {kind: sum(part[kind] for part in breakdown.values()) for kind in RESOURCES} == total
    # 16 multipliers on the MAC lanes, 16 in each of the two requantizers, 16 on the vector unit.
    assert {name: part["dsps"] for name, part in breakdown.items() if part["dsps"]} == {
        "mac_array": 16, "requantizer": 32, "vector_unit": 16}
    # 6 DP16KD of activations and 4 of weights (the weights' module is ``weights$129``).
    assert {name: part["block_rams"] for name, part in breakdown.items() if part["block_rams"]} == {
        "sram": 10}
    assert breakdown["network_interface"] == {
        "luts": 127, "ffs": 109, "dsps": 0, "block_rams": 0, "sprams": 0}
    # The bridge's five modules: UART receiver and transmitter, frames, executor, replies.
    assert breakdown["bridge"]["luts"] == (51 + 2 * 5) + (39 + 2 * 5) + (137 + 2 * 8) + (226 + 2 * 8) + 107
    # Two routers, each 70 flip-flops and five FIFOs (the load router's local one smaller).
    assert breakdown["routers"]["ffs"] == (70 + 5 * 4) + (70 + 4 * 4 + 2)
    assert breakdown["other"] == {"luts": 2, "ffs": 2, "dsps": 0, "block_rams": 0, "sprams": 0}


def test_breakdown_icebreaker():
    """The iCEBreaker's 4x4 core, hierarchical synth_ice40: flip-flops are every SB_DFF* type."""
    value = fixture("icebreaker_1x1_stat.json")
    breakdown = parse_breakdown(value, "ice40")
    design = value["design"]["num_cells_by_type"]
    total = breakdown.pop("total")
    flip_flops = sum(number for cell, number in design.items() if cell.startswith("SB_DFF"))
    assert total == {"luts": design["SB_LUT4"], "ffs": flip_flops, "dsps": design["SB_MAC16"],
                     "block_rams": design["SB_RAM40_4K"], "sprams": 0}
    assert total["ffs"] == 4024 + 7630 + 2741 + 1182
    assert {kind: sum(part[kind] for part in breakdown.values()) for kind in RESOURCES} == total
    assert {name: part["dsps"] for name, part in breakdown.items() if part["dsps"]} == {
        "mac_array": 16, "requantizer": 32, "vector_unit": 16}
    # Activations 24 EBR and weights 8; the core's own 18 (its settings table and program).
    assert {name: part["block_rams"] for name, part in breakdown.items() if part["block_rams"]} == {
        "sram": 32, "core": 18}


def test_breakdown_ice40():
    value = fixture("ice40_small_stat.json")
    breakdown = parse_breakdown(value, "ice40")
    assert breakdown["total"] == breakdown["other"] == {"luts": 50, "ffs": 59, "dsps": 1, "block_rams": 2,
                                                        "sprams": 0}


def test_breakdown_instances():
    """A module instantiated N times counts N times, in the part of the instance's path."""
    value = {"modules": {
        "\\top": {"num_cells_by_type": {"LUT4": 1, "top.chip": 1}},
        "\\top.chip": {"num_cells_by_type": {"np_tile": 4, "TRELLIS_FF": 3}},
        "\\np_tile": {"num_cells_by_type": {"np_tile.core$7": 1, "np_tile.east_router": 1}},
        "\\np_tile.core$7": {"num_cells_by_type": {"CCU2C": 5, "np_tile.core.datapath.mac": 1}},
        "\\np_tile.core.datapath.mac": {"num_cells_by_type": {"MULT18X18D": 2, "LUT4": 7}},
        "\\np_tile.east_router": {"num_cells_by_type": {"TRELLIS_FF": 11}},
    }}
    breakdown = parse_breakdown(value, "ecp5")
    assert {name: part for name, part in breakdown.items() if any(part.values())} == {
        "mac_array": {"luts": 28, "ffs": 0, "dsps": 8, "block_rams": 0, "sprams": 0},
        "core": {"luts": 40, "ffs": 0, "dsps": 0, "block_rams": 0, "sprams": 0},
        "routers": {"luts": 0, "ffs": 44, "dsps": 0, "block_rams": 0, "sprams": 0},
        "other": {"luts": 1, "ffs": 3, "dsps": 0, "block_rams": 0, "sprams": 0},
        "total": {"luts": 69, "ffs": 47, "dsps": 8, "block_rams": 0, "sprams": 0},
    }


def test_breakdown_wrong():
    with pytest.raises(ValueError, match=r"^Yosys's statistics must have the top module 'top', "
                                         r"not only \['other'\]$"):
        parse_breakdown({"modules": {"\\other": {"num_cells_by_type": {}}}}, "ecp5")


def test_write_atomically(tmp_path, monkeypatch):
    """A write stopped before its rename leaves the old file whole and no temporary file."""
    path = tmp_path / "report.json"
    write_atomically(path, "old")
    assert path.read_text() == "old"

    def stopped(*args):
        raise KeyboardInterrupt
    monkeypatch.setattr(os, "replace", stopped)
    with pytest.raises(KeyboardInterrupt):
        write_atomically(path, "new")
    assert path.read_text() == "old"
    assert list(tmp_path.iterdir()) == [path]


class _Top:
    frequency = 50e6


def _fake_build(stop=None):
    def prepare(board_name, params, build_dir):
        build_dir.mkdir(parents=True, exist_ok=True)
        if stop:
            raise stop
        (build_dir / NEXTPNR_REPORT).write_text((FIXTURES / "ecp5_small_nextpnr.json").read_text())
        (build_dir / BREAKDOWN_STAT).write_text((FIXTURES / "ulx3s_1x1_stat.json").read_text())
        return _Top(), None
    return prepare


def test_build_report(tmp_path, monkeypatch):
    """``report.json`` from the tools' JSON: resources and clock from nextpnr, the breakdown
    from Yosys; nothing else left beside it."""
    monkeypatch.setattr("fpga.build.prepare", _fake_build())
    path = build("ulx3s", BOARDS["ulx3s"].default_params(), tmp_path)
    value = json.loads(path.read_text())
    assert value["resources"]["dsps"] == {"used": 1, "available": 156}
    assert value["resources"]["sprams"] is None
    assert value["clock"] == {"clock": "$glbnet$clk", "achieved_mhz": 72.05, "target_mhz": 25, "met": True,
                              "pll_mhz": 50.0}
    assert value["breakdown"]["mac_array"]["dsps"] == 16
    assert value["peak_macs_per_second"]["int8"] == 16 * 72.05e6
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(
        [BREAKDOWN_STAT, NEXTPNR_REPORT, "report.json"])


def test_build_stopped_leaves_no_report(tmp_path, monkeypatch):
    """A build stopped halfway (here in place and route) leaves no report.json, not even the
    previous build's."""
    (tmp_path / "ulx3s").mkdir()
    old = tmp_path / "ulx3s" / "report.json"
    old.write_text('{"board": "ulx3s"}\n')
    monkeypatch.setattr("fpga.build.prepare", _fake_build(stop=KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        build("ulx3s", BOARDS["ulx3s"].default_params(), tmp_path)
    assert not old.exists()


def test_crc8():
    assert crc8(b"123456789") == 0xF4        # CRC-8/SMBUS (polynomial 0x07) check value
    assert crc8(b"") == 0x00


def test_frames():
    frames = Frames(BOARDS["ulx3s"].default_params())
    request = frames.request(Op.WRITE, 0, 0, 0x123, 0xDEADBEEF)
    assert len(request) == 3 + frames.request_body_bytes(Op.WRITE)
    assert request[2:4] == bytes([0, 0]) and request[4:8] == (0x123).to_bytes(4, "little")
    body = bytes(range(frames.word_bytes))
    assert frames.parse_reply(frames.reply(Status.OK, Op.READ, body), Op.READ) == body
    with pytest.raises(ProtocolError, match=r"^bridge answered CHECKSUM to WRITE$"):
        frames.parse_reply(frames.reply(Status.CHECKSUM, Op.WRITE), Op.WRITE)
    bad = bytearray(frames.reply(Status.OK, Op.RUN))
    bad[-1] ^= 1
    with pytest.raises(ProtocolError, match=r"^reply checksum must be 0x[0-9a-f]{2}, not 0x[0-9a-f]{2}$"):
        frames.parse_reply(bytes(bad), Op.RUN)
    assert bad[0] == REPLY_SYNC
