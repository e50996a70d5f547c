"""Build a board's bitstream and its report: what ``make fpga BOARD=<board>`` runs.

Command line::

    python -m fpga.build --board icebreaker|ulx3s [--cores RxC] [--lanes N] [--columns N]
        [--out build/fpga]

Checks the configuration first and refuses a bad one in one line naming the value and its
limit (exit status 2), before any elaboration or synthesis: ``--lanes`` and ``--columns``
powers of two from ``MIN_MAC_LANES`` (4) and ``MIN_MAC_COLUMNS`` (2) to ``MAX_MAC_LANES`` (so
``LANES=0`` is refused, not built at the default), columns no more than lanes, a MAC array
the board's weight SRAM can hold, and an array that fits the device by an estimate from the
measured figures in ``fpga/<board>.py``. An unusable ``--out`` or a tool the build needs but
cannot find is refused the same way.

Then elaborates the board top (PLL, UART bridge, array; the tile module added as Verilog
beside it) and runs Yosys, nextpnr and the bitstream packer through Amaranth's build
system (the tools the environment names: ``YOSYS``, ``NEXTPNR_ICE40``, ``ICEPACK``,
``NEXTPNR_ECP5``, ``ECPPACK``) in ``<out>/<board>/``. The Yosys run first synthesizes a
hierarchical copy of the design and writes its per-module statistics
(:data:`BREAKDOWN_STAT`, ``stat -json``), then the real, flattened design; nextpnr writes
its machine-readable report (:data:`NEXTPNR_REPORT`, ``--report``). From these two JSON
files, ``<out>/<board>/report.json`` gives the resources used and available and the
achieved and target clock (nextpnr's), the peak MACs per cycle and per second at the
achieved clock, the ``breakdown`` of LUTs, FFs, multipliers and block RAMs over the
design's parts (:func:`parse_breakdown`: MAC array, requantizer, vector unit, sequencer,
SRAM, core, network interface, routers, host interface, bridge) and the build's seconds.
``report.json`` is removed when a build starts and written whole by a rename when it has
finished, so a build stopped halfway leaves none.
"""

import argparse
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

from gen.entry import command
from gen.paths import check_output_directory
from hdl.params import MAX_MAC_LANES, MIN_MAC_COLUMNS, MIN_MAC_LANES, Precision, parse_cores

from .board import RESOURCES
from .boards import BOARDS, TOPS

__all__ = ["NEXTPNR_REPORT", "BREAKDOWN_STAT", "PARTS", "OTHER", "lut_multipliers", "breakdown_script",
           "nextpnr_options", "prepare", "build", "parse_nextpnr_report", "parse_breakdown", "report",
           "write_atomically", "check_tools", "request", "main"]

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


def single_port_script(params):
    """The Yosys commands, run first after reading the design, that let synthesis put the
    weight SRAM's banks of a core with ``CoreParams.single_port_weights`` in single-port RAM
    (the iCE40's SPRAM, ``synth_ice40 -spram``): Amaranth gives every memory an initial
    content (zeros), which SPRAM cannot have, so the banks' initialisation is dropped (the
    host writes the weights before a run reads them), and ``ram_style`` asks for the
    "huge" RAM. Empty for other cores."""
    from gen.verilog import TILE
    if not params.core.single_port_weights:
        return ""
    banks = f"{TILE}.core.weights*"
    return (f"hierarchy -top top; proc; delete {banks}/t:$meminit_v2; "
            f"setattr -set ram_style \"huge\" {banks}/m:*; ")


def no_collision_script():
    """The Yosys command, run first after reading the design, that marks every memory of the
    cores ``no_rw_check``: synthesis may then map a read port and a write port of one memory
    to a block RAM's without logic that gives a read of an address in the cycle it is written
    the old word (Amaranth's read ports are not transparent; an iCE40 EBR's read of a word
    being written is undefined, and Yosys would delay each write a cycle in registers and
    forward it: 353 logic cells on the iCEBreaker's core). No core ever reads a word in the
    cycle it writes it: the host writes the program, the settings and the weights while the
    cores are idle, and activations while they are idle or, between runs, into words the run
    reads no more (``gen.array``'s schedule lands each a cycle after the last read at the
    earliest); within a run, a core reads a tensor only after its last word has arrived (its
    ``WAIT``) and writes a buffer only once its readers are done with it, and an
    instruction's result buffer is never one it reads."""
    from gen.verilog import TILE
    return f"setattr -set no_rw_check 1 {TILE}.core*/m:*; "


def breakdown_script(board):
    """The Yosys commands, run right after reading the design, that synthesize a
    hierarchical (``-noflatten``) copy of it for the board's family with the board's
    options, write its per-module statistics to :data:`BREAKDOWN_STAT` (``stat -json``)
    and restore the design as read, for the real (flattened) synthesis. Always without
    ``abc9``: Yosys 0.63's fails an assertion on the hierarchical design (as on the
    flattened one for the ECP5) on both families."""
    options = " ".join(dict.fromkeys([*board.synth_opts.split(), "-noabc9", "-noflatten"]))
    return (f"hierarchy -top top; design -save read; proc; opt -fast; wreduce; "
            f"{_small_multipliers(board.lut_multiplier_width)}; "
            f"synth_{board.family} {options} -top top; "
            f"tee -q -o {BREAKDOWN_STAT} stat -json; design -load read")


#: The ``check`` step of ``synth_ice40`` and ``synth_ecp5`` without its ``autoname``, which
#: renames cells after their wires for readability and, on the flattened 2x2 ULX3S array,
#: exhausts the 4 GB of YoWASP's WebAssembly Yosys (0.63 traps in it).
CHECK_WITHOUT_AUTONAME = "hierarchy -check; stat; check -noinit; blackbox =A:whitebox"


def prepare(board_name, params, build_dir, *, do_build=True):
    """Elaborate and (with ``do_build``) build ``params`` on ``board_name``; return
    ``(top, products or build plan)``."""
    board = BOARDS[board_name]
    platform, add_tile = _platform(board)
    add_tile(platform, params)
    top = TOPS[board_name](params)
    result = platform.build(top, name="top", build_dir=str(build_dir), do_build=do_build, do_program=False,
                            synth_opts=f"{board.synth_opts} -run :check",
                            script_after_synth=CHECK_WITHOUT_AUTONAME,
                            script_after_read=(f"{no_collision_script()}{single_port_script(params)}"
                                               f"{breakdown_script(board)}; "
                                               f"{lut_multipliers(board)}"),
                            nextpnr_opts=nextpnr_options(board))
    return top, result


def nextpnr_options(board):
    """nextpnr's options for ``board``: a missed clock target is reported (``report.json``'s
    ``met``), not fatal; the machine-readable report; the board's placement seed, if any."""
    seed = [] if board.placement_seed is None else [f"--seed {board.placement_seed}"]
    return " ".join(["--timing-allow-fail", f"--report {NEXTPNR_REPORT}", *seed])


def parse_nextpnr_report(value, family):
    """``(resources, timing)`` from nextpnr's ``--report`` JSON (``value``, parsed).

    ``resources`` is ``{kind: (used, available)}`` for each kind the family has (``None``
    for one it has not, such as the iCE40's flip-flops, which its logic cells hold);
    ``timing`` is ``{"clock", "achieved_mhz", "target_mhz", "met"}`` for the clock that
    misses its target by most, or meets it by least.
    """
    cells = value.get("utilization", {})
    resources = {}
    for kind, names in _CELLS[family].items():
        found = [cells[name] for name in names if name in cells]
        resources[kind] = ((sum(cell["used"] for cell in found), sum(cell["available"] for cell in found))
                           if found else None)
    clocks = value.get("fmax", {})
    if not clocks:
        raise ValueError("nextpnr's report must give a clock's 'fmax', not none")
    clock, figures = min(clocks.items(), key=lambda item: item[1]["achieved"] / item[1]["constraint"])
    achieved, target = figures["achieved"], figures["constraint"]
    return resources, {"clock": clock, "achieved_mhz": round(achieved, 2), "target_mhz": round(target, 2),
                       "met": achieved >= target}


#: The Yosys cell types of each resource kind after ``synth_<family>``, with the LUTs (or
#: flip-flops, ...) each one takes: an ECP5 carry cell holds two LUT4s, a 16x4 distributed
#: RAM four. iCE40 flip-flops are every ``SB_DFF*`` type.
_YOSYS_CELLS = {
    "ecp5": {"luts": {"LUT4": 1, "CCU2C": 2, "TRELLIS_DPR16X4": 4}, "ffs": {"TRELLIS_FF": 1},
             "dsps": {"MULT18X18D": 1, "ALU54B": 1}, "block_rams": {"DP16KD": 1, "PDPW16KD": 1},
             "sprams": {}},
    "ice40": {"luts": {"SB_LUT4": 1}, "ffs": {"SB_DFF*": 1}, "dsps": {"SB_MAC16": 1},
              "block_rams": {"SB_RAM40_4K": 1}, "sprams": {"SB_SPRAM256KA": 1}},
}

#: The parts of the breakdown, by the name of the submodule that is each (the last part of
#: Amaranth's hierarchical module name, ``np_tile.core.datapath.mac``, without the ``$<n>``
#: Yosys adds to tell apart modules of one name); a part counts all of its submodules but
#: those that are parts themselves. A submodule named ``<network>_router`` is a router.
#: ``core`` is the core's own logic: its settings and program memories (Amaranth puts a
#: ``Memory`` in its parent's module) and the datapath's operand and result registers.
PARTS = {
    "mac": "mac_array", "requantizer": "requantizer", "add_requantizer": "requantizer",
    "vector": "vector_unit", "sequencer": "sequencer", "messenger": "sequencer",
    "activations": "sram", "weights": "sram", "network": "network_interface", "core": "core",
    "host": "host_interface", "bridge": "bridge",
}
#: The part of whatever no named part holds: tile and chip wiring, the PLL and the pins.
OTHER = "other"


def _part(module):
    name = module.rsplit(".", 1)[-1].split("$", 1)[0]
    return "routers" if name.endswith("_router") else PARTS.get(name)


def _kinds(cells, family):
    counts = dict.fromkeys(RESOURCES, 0)
    for cell, number in cells.items():
        for kind, weights in _YOSYS_CELLS[family].items():
            for pattern, weight in weights.items():
                if cell == pattern or (pattern.endswith("*") and cell.startswith(pattern[:-1])):
                    counts[kind] += weight * number
    return counts


def parse_breakdown(value, family, top="top"):
    """``{part: {kind: count}}`` from Yosys's ``stat -json`` (``value``, parsed) of a
    hierarchical design: each module's own cells, times its instances, added to the part
    (:data:`PARTS`) of the nearest module on its path from ``top`` that is one, else to
    :data:`OTHER`; ``"total"`` is the whole design. Every part is present, zero if absent.

    Synthesized without flattening, a module is optimised without its neighbours'
    constants, so the total can exceed the real (flattened) build's, which nextpnr's
    figures count: the breakdown says where the resources go, nextpnr how many there are."""
    modules = {name.removeprefix("\\"): stats["num_cells_by_type"]
               for name, stats in value["modules"].items()}
    if top not in modules:
        raise ValueError(f"Yosys's statistics must have the top module {top!r}, not only {sorted(modules)!r}")
    parts = [*dict.fromkeys(PARTS.values()), "routers", OTHER]
    totals = {part: dict.fromkeys(RESOURCES, 0) for part in [*parts, "total"]}

    def visit(module, part, count, depth):
        if depth > len(modules):
            raise ValueError(f"Yosys's statistics must describe a hierarchy, not a cycle through {module!r}")
        cells = modules[module]
        own = {cell: number for cell, number in cells.items() if cell not in modules}
        for kind, number in _kinds(own, family).items():
            totals[part][kind] += number * count
            totals["total"][kind] += number * count
        for child, number in cells.items():
            if child in modules:
                visit(child, _part(child) or part, count * number, depth + 1)

    visit(top, _part(top) or OTHER, 1, 0)
    return totals


def report(board, params, nextpnr, breakdown, build_seconds, frequency_hz):
    """The report of a finished build (see the module's docstring), from nextpnr's
    ``--report`` JSON and Yosys's ``stat -json`` of the hierarchical copy (both parsed)."""
    mac = params.core.mac
    utilisation, timing = parse_nextpnr_report(nextpnr, board.family)
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
        "breakdown": parse_breakdown(breakdown, board.family),
        "build_seconds": round(build_seconds, 1),
    }


def write_atomically(path, text):
    """Write ``text`` to ``path`` through a temporary file in the same directory and a
    rename, so that ``path`` is either absent, its old content, or all of ``text``."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "w") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def build(board_name, params, out_dir):
    """Build and write ``report.json``; return its path. A ``report.json`` left by an earlier
    build is removed first, and the new one written whole (:func:`write_atomically`) once
    every tool has finished: a build stopped halfway leaves none."""
    board = BOARDS[board_name]
    build_dir = Path(out_dir) / board_name
    path = build_dir / "report.json"
    path.unlink(missing_ok=True)
    start = time.perf_counter()
    top, _ = prepare(board_name, params, build_dir)
    seconds = time.perf_counter() - start
    nextpnr = json.loads((build_dir / NEXTPNR_REPORT).read_text())
    breakdown = json.loads((build_dir / BREAKDOWN_STAT).read_text())
    text = json.dumps(report(board, params, nextpnr, breakdown, seconds, top.frequency), indent=2) + "\n"
    write_atomically(path, text)
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


def _size(option, text):
    """The value of ``--lanes`` or ``--columns`` given as ``text``; ``ValueError`` naming it and
    its limits (a power of two from ``MIN_MAC_LANES`` or ``MIN_MAC_COLUMNS`` to ``MAX_MAC_LANES``)."""
    name = option.upper()
    if not text.isdigit():
        raise ValueError(f"{name} must be a positive integer, not {text!r}")
    value = int(text)
    minimum = MIN_MAC_LANES if option == "lanes" else MIN_MAC_COLUMNS
    if value < minimum or value > MAX_MAC_LANES or value & (value - 1):
        raise ValueError(f"{name} must be a power of two from {minimum} to {MAX_MAC_LANES}, not {value}")
    return value


def request(args):
    """``(board name, ChipParams)`` from parsed arguments; ``ValueError`` naming the bad value
    and its limit, before any elaboration: a size out of range, one the board's memories
    cannot hold, or an array that does not fit the device (see ``Board.refusal``)."""
    if args.board not in BOARDS:
        raise ValueError(f"BOARD must be one of {', '.join(BOARDS)}, not {args.board!r}")
    board = BOARDS[args.board]
    cores = parse_cores(args.cores) if args.cores is not None else None
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


@command
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
