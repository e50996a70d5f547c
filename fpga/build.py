"""Build a board's bitstream and its report: what ``make fpga BOARD=<board>`` runs.

Command line::

    python -m fpga.build --board icebreaker|ulx3s [--cores RxC] [--lanes N] [--columns N]
        [--out build/fpga] [--no-build]

Checks the configuration against the device's resources first (an estimate from the
measured figures in ``fpga/<board>.py``) and refuses one that cannot fit in one line,
before any synthesis. Then elaborates the board top (PLL, UART bridge, array; the tile
module added as Verilog beside it), runs Yosys, nextpnr and the bitstream packer through
Amaranth's build system (the tools the environment names: ``YOSYS``, ``NEXTPNR_ICE40``,
``ICEPACK``, ``NEXTPNR_ECP5``, ``ECPPACK``) in ``<out>/<board>/`` and writes
``<out>/<board>/report.json``: resources used and available, the achieved Fmax (the last
``Max frequency for clock`` line of nextpnr's log) and the target, and the peak MACs per
cycle and per second at the achieved clock. A bad option, an unusable ``--out`` or a tool
the build needs but cannot find is refused in one line (exit status 2) before any work.
"""

import argparse
import json
import logging
import os
import re
import shutil
import sys
import time
from pathlib import Path

from gen.paths import check_output_directory
from hdl.params import MAX_MAC_LANES, Precision, parse_cores

from .boards import BOARDS, TOPS

__all__ = ["lut_multipliers", "prepare", "build", "parse_utilisation", "parse_fmax", "report", "check_tools",
           "main"]

logger = logging.getLogger(__name__)

#: nextpnr's names of each resource kind, per family.
_CELLS = {
    "ice40": {"luts": ["ICESTORM_LC"], "ffs": [], "dsps": ["ICESTORM_DSP"], "block_rams": ["ICESTORM_RAM"],
              "sprams": ["ICESTORM_SPRAM"]},
    "ecp5": {"luts": ["TRELLIS_COMB"], "ffs": ["TRELLIS_FF"], "dsps": ["MULT18X18D"],
             "block_rams": ["DP16KD"], "sprams": []},
}


def _platform(board):
    from gen.verilog import TILE, to_verilog
    from hdl.chip import chip_params
    from hdl.tile import Tile

    def add_tile(platform, params):
        platform.add_file(f"{TILE}.v", to_verilog(Tile(*chip_params(params)), TILE))
    return board.platform(), add_tile


#: nextpnr's machine-readable report (``--report``), in the build directory.
NEXTPNR_REPORT = "top.nextpnr.json"
#: Yosys's ``stat -json`` of the hierarchical copy of the design, in the build directory.
BREAKDOWN_STAT = "top.breakdown.json"


def _small_multipliers(width):
    return f"techmap -map +/techmap.v t:$mul r:A_WIDTH<={width} %i r:B_WIDTH<={width} %i"


def lut_multipliers(board):
    """The Yosys commands that build the multipliers no wider than the board's
    ``lut_multiplier_width`` from logic, before synthesis maps the rest to DSP blocks: the
    MAC array's int4 and int2 sub-products, which would take a DSP block each."""
    # After flattening and width reduction, so that the operands' real widths count.
    return (f"hierarchy -top top; proc; flatten; opt -fast; wreduce; "
            f"{_small_multipliers(board.lut_multiplier_width)}")


def breakdown_script(board):
    """The Yosys commands, run right after reading the design, that synthesize a
    hierarchical (``-noflatten``) copy of it for the board's family with the board's
    options, write its per-module statistics to :data:`BREAKDOWN_STAT` (``stat -json``)
    and restore the design as read, for the real (flattened) synthesis."""
    return (f"hierarchy -top top; design -save read; proc; opt -fast; wreduce; "
            f"{_small_multipliers(board.lut_multiplier_width)}; "
            f"synth_{board.family} {board.synth_opts} -noflatten -top top; "
            f"tee -q -o {BREAKDOWN_STAT} stat -json; design -load read")


def prepare(board_name, params, build_dir, *, do_build=True):
    """Elaborate and (with ``do_build``) build ``params`` on ``board_name``; return
    ``(top, products or build plan)``."""
    board = BOARDS[board_name]
    platform, add_tile = _platform(board)
    add_tile(platform, params)
    top = TOPS[board_name](params)
    result = platform.build(top, name="top", build_dir=str(build_dir), do_build=do_build, do_program=False,
                            synth_opts=board.synth_opts,
                            script_after_read=f"{breakdown_script(board)}; {lut_multipliers(board)}",
                            # A missed target is reported (report.json "met"), not fatal.
                            nextpnr_opts=f"--timing-allow-fail --report {NEXTPNR_REPORT}")
    return top, result


def parse_utilisation(text, family):
    """``{kind: (used, available)}`` from nextpnr's ``Device utilisation`` block (the last one)."""
    block = text.rsplit("Device utilisation:", 1)[-1]
    cells = {}
    for name, used, available in re.findall(r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)", block):
        cells.setdefault(name, (int(used), int(available)))
    result = {}
    for kind, names in _CELLS[family].items():
        found = [cells[name] for name in names if name in cells]
        result[kind] = (sum(u for u, _ in found), sum(a for _, a in found)) if found else None
    return result


def parse_fmax(text):
    """The achieved and the target MHz of the last ``Max frequency for clock`` line."""
    pattern = r"Max frequency for clock\s+'([^']+)':\s+([\d.]+) MHz \((PASS|FAIL) at ([\d.]+) MHz\)"
    lines = re.findall(pattern, text)
    if not lines:
        raise ValueError("nextpnr's log has no 'Max frequency for clock' line")
    clock, achieved, verdict, target = lines[-1]
    return {"clock": clock, "achieved_mhz": float(achieved), "target_mhz": float(target),
            "met": verdict == "PASS"}


def report(board, params, log_text, build_seconds, frequency_hz):
    """The report of a finished build (see the module's docstring)."""
    mac = params.core.mac
    utilisation = parse_utilisation(log_text, board.family)
    timing = parse_fmax(log_text)
    if utilisation["ffs"] is None:      # iCE40 logic cells hold the flip-flops
        utilisation["ffs"] = None
    peak = {f"int{p.bits}": mac.peak_macs_per_cycle(p) * params.cores for p in Precision}
    return {
        "board": board.name,
        "family": board.family,
        "cores": f"{params.rows}x{params.columns}",
        "lanes": mac.lanes, "columns": mac.columns,
        "activation_kb": params.core.activation_sram.size_bytes // 1024,
        "weight_kb": params.core.weight_sram.size_bytes // 1024,
        "resources": {kind: ({"used": value[0], "available": value[1]} if value else None)
                      for kind, value in utilisation.items()},
        "clock": {**timing, "pll_mhz": frequency_hz / 1e6},
        "peak_macs_per_cycle": peak,
        "peak_macs_per_second": {name: value * timing["achieved_mhz"] * 1e6 for name, value in peak.items()},
        "build_seconds": round(build_seconds, 1),
    }


def build(board_name, params, out_dir):
    """Build and write ``report.json``; return its path."""
    board = BOARDS[board_name]
    build_dir = Path(out_dir) / board_name
    start = time.perf_counter()
    top, _ = prepare(board_name, params, build_dir)
    seconds = time.perf_counter() - start
    log_text = (build_dir / "top.tim").read_text()
    path = build_dir / "report.json"
    path.write_text(json.dumps(report(board, params, log_text, seconds, top.frequency), indent=2) + "\n")
    return path


def check_tools(board_name):
    """Refuse a build whose tools cannot be found, naming the first missing one: each tool the
    board's platform requires, found as Amaranth finds it (the program its environment
    variable names, such as ``YOSYS``, else the tool's name on ``PATH``)."""
    for tool in BOARDS[board_name].platform().required_tools:
        variable = tool.upper().replace("-", "_")
        program = os.environ.get(variable, tool)
        if shutil.which(program) is None:
            raise ValueError(f"BOARD {board_name} needs {tool}: set {variable} to it or put it on PATH "
                             f"(make fpga uses the project's YoWASP tools), not {program!r}")


#: The smallest MAC lanes or columns (``hdl.params.MacParams``: an int2 output vector fills
#: whole bytes).
MIN_MAC_SIZE = 4


def _size(option, text):
    """The value of ``--lanes`` or ``--columns`` given as ``text``; ``ValueError`` naming it and
    its limits (a power of two from ``MIN_MAC_SIZE`` to ``MAX_MAC_LANES``)."""
    name = option.upper()
    if not text.isdigit():
        raise ValueError(f"{name} must be a positive integer, not {text!r}")
    value = int(text)
    if value < MIN_MAC_SIZE or value > MAX_MAC_LANES or value & (value - 1):
        raise ValueError(f"{name} must be a power of two from {MIN_MAC_SIZE} to {MAX_MAC_LANES}, not {value}")
    return value


def request(args):
    """``(board name, ChipParams)`` from parsed arguments; ``ValueError`` naming the bad value
    and its limit, before any elaboration: a size out of range, one the board's memories
    cannot hold, or an array that does not fit the device (see ``Board.refusal``)."""
    if args.board not in BOARDS:
        raise ValueError(f"BOARD must be one of {', '.join(BOARDS)}, not {args.board!r}")
    board = BOARDS[args.board]
    cores = parse_cores(args.cores) if args.cores else None
    sizes = {option: _size(option, getattr(args, option)) for option in ("lanes", "columns")
             if getattr(args, option) is not None}
    lanes, columns = sizes.get("lanes", board.lanes), sizes.get("columns", board.columns)
    if columns > lanes:
        raise ValueError(f"COLUMNS must be at most LANES ({lanes}), not {columns}")
    refusal = board.size_refusal(lanes, columns)
    if refusal:
        raise ValueError(refusal)
    params = board.params(cores, **sizes)
    refusal = board.refusal(params)
    if refusal:
        raise ValueError(refusal)
    return args.board, params


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fpga.build", description=__doc__.split("\n")[0])
    parser.add_argument("--board", required=True, help=f"one of {', '.join(BOARDS)}")
    parser.add_argument("--cores", help="array size ROWSxCOLUMNS (default: the board's)")
    parser.add_argument("--lanes", help="MAC lanes per core (default: the board's)")
    parser.add_argument("--columns", help="MAC columns per core (default: the board's)")
    parser.add_argument("--out", default="build/fpga", help="output directory (default build/fpga)")
    args = parser.parse_args(argv)
    try:
        board_name, params = request(args)
        check_output_directory("OUT", args.out)
        check_tools(board_name)
    except (TypeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    mac = params.core.mac
    print(f"building {board_name}: {params.rows}x{params.columns} cores of {mac.lanes}x{mac.columns} MACs "
          f"(estimated {BOARDS[board_name].needed(params)})", flush=True)
    path = build(board_name, params, args.out)
    print(f"wrote {path}")
    print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
