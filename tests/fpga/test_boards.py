"""Board targets without the tools: elaboration through each platform (``do_build=False``),
the up-front fit check, PLL settings, report parsing and the framing protocol."""

import re

import pytest

from fpga.boards import BOARDS
from fpga.build import main, parse_fmax, parse_utilisation, prepare
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


def test_icebreaker_refused():
    board = BOARDS["icebreaker"]
    message = board.refusal(board.default_params())
    assert re.match(r"^icebreaker: a 1x1 array of 4x4-MAC cores does not fit: it needs an estimated "
                    r"\d+ luts \(the icebreaker has 5280\), \d+ dsps \(the icebreaker has 8\)",
                    message), message


def test_ulx3s_default_fits_and_2x2_refused():
    board = BOARDS["ulx3s"]
    assert board.refusal(board.default_params()) is None
    assert re.match(r"^ulx3s: a 2x2 array of 4x4-MAC cores does not fit: it needs an estimated "
                    r"\d+ dsps \(the ulx3s has 156\)$", board.refusal(board.params((2, 2))))


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
    (["--board", "ulx3s", "--columns", "0"], r"^error: COLUMNS must be a power of two from 4 to 128, not 0$"),
    (["--board", "icebreaker", "--columns", "0"],
     r"^error: COLUMNS must be a power of two from 4 to 128, not 0$"),
    (["--board", "ulx3s", "--columns", "8"], r"^error: COLUMNS must be at most LANES \(4\), not 8$"),
    (["--board", "ulx3s", "--lanes", "64", "--columns", "64"],
     r"^error: ulx3s: LANES x COLUMNS must be at most 2048 \(a core's 4 KB of weights holds 2 rows of "
     r"them\), not 64x64 = 4096$"),
    (["--board", "ulx3s", "--lanes", "16"], r"^error: ulx3s: a 1x1 array of 16x4-MAC cores does not fit: it "
                                            r"needs an estimated 192 dsps \(the ulx3s has 156\)$"),
    (["--board", "ulx3s", "--cores", "0x1"], r"^error: CORES must be between 1x1 and 32x32, not '0x1'$"),
    (["--board", "icebreaker"], r"^error: icebreaker: .* does not fit: it needs an estimated .*$"),
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
    with pytest.raises(ValueError, match=r"^MAC columns must be a power of two of at least 4, not 0$"):
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


LOG = """Info: Device utilisation:
Info:            TRELLIS_COMB:  1000/83640     1%
Info:              TRELLIS_FF:   500/83640     0%
Info:              MULT18X18D:    16/  156    10%
Info:                  DP16KD:     6/  208     2%
Info: Max frequency for clock '$glbnet$clk': 40.00 MHz (FAIL at 50.00 MHz)
Info: Device utilisation:
Info:            TRELLIS_COMB:  1100/83640     1%
Info: Max frequency for clock '$glbnet$clk': 61.25 MHz (PASS at 50.00 MHz)
"""


def test_report_parsing():
    assert parse_fmax(LOG) == {"clock": "$glbnet$clk", "achieved_mhz": 61.25, "target_mhz": 50.0, "met": True}
    assert parse_utilisation(LOG, "ecp5")["luts"] == (1100, 83640)
    with pytest.raises(ValueError, match=r"^nextpnr's log has no 'Max frequency for clock' line$"):
        parse_fmax("Info: nothing")


def test_crc8():
    assert crc8(b"123456789") == 0xF4        # CRC-8 (polynomial 0x07) check value


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
