"""Elaborate the core array to one Verilog file, with a JSON manifest beside it.

Command line (what ``make verilog CORES=4x4`` runs)::

    python -m gen.verilog --cores 4x4 [--preset default|northpole] [--lanes N] [--columns N]
        [--activation-kb N] [--weight-kb N] [--activation-banks N] [--settings-depth N]
        [--program-depth N] [--buffer-depth N] [--out build]

Every option left out takes the preset's value (:data:`hdl.params.PRESETS`); the SRAM
sizes stay the preset's kilobytes when the lanes or columns change, and their depths
follow. Writes ``<out>/<stem>.v`` and ``<out>/<stem>.json``, where the stem is the
preset and the array size, followed by each option given beside them
(``default_4x4``, ``northpole_16x16``, ``default_4x4_lanes16``).

The Verilog is one file with one module per distinct component: the top ``np_chip``
(host interface and wiring, see ``hdl.chip``) instantiates the tile ``np_tile`` (a core,
its network interface and its two routers, see ``hdl.tile``) at every node, and each
module's submodules follow it, named after it (``np_tile.core``, ...). The tile is
elaborated once, so the file's size and the time to write it grow with the array's
wiring, not with copies of the core. The manifest holds the parameters, the memory of
each core and of the array, the peak MACs per cycle per precision, and each module's
ports and instance count. Each module's steps are logged as they finish (``INFO``, which
the command line prints on stderr): elaborating it, building its netlist and RTLIL
(:mod:`gen.lowering`, which makes Amaranth's slowest steps at this size fast), and Yosys
writing its Verilog, so a long run shows progress.

A bad request exits with status 2 and one line ``error: ...`` naming the value and the
limit; the limits are in ``hdl.params`` (``MAX_CORE_ROWS``, ``MAX_MAC_LANES``,
``MAX_SRAM_BYTES``, ``MAX_ACTIVATION_BANKS``, ...).
"""

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path

from amaranth.hdl import Const, Shape, Value

from hdl.params import (
    MAX_ACTIVATION_BANKS,
    MAX_SRAM_BYTES,
    PRESETS,
    ChipParams,
    CoreParams,
    MacParams,
    Precision,
    parse_cores,
)

from . import lowering
from .entry import command
from .paths import check_output_directory

__all__ = ["TOP", "TILE", "to_verilog", "chip_verilog", "memory_bytes", "manifest", "elaborate", "request",
           "main"]

logger = logging.getLogger(__name__)

#: Module names of the array's top and of the tile it instantiates at every node.
TOP = "np_chip"
TILE = "np_tile"
#: The integer options, in the order they extend an output's name.
_SIZES = ("lanes", "columns", "activation_kb", "weight_kb", "activation_banks", "settings_depth",
          "program_depth", "buffer_depth")


def to_verilog(component, name):
    """Verilog text of ``component`` as module ``name``.

    The ports are the component's signature members, less those that are constants
    (the ``ready`` of an ``always_ready`` stream), which Verilog cannot carry. Logs each
    step's time (``INFO``): elaborating the component, then lowering it to Verilog. Python's
    cyclic garbage collector is held off meanwhile (:func:`gen.lowering.collector_paused`).
    """
    from amaranth.hdl import Fragment
    ports = [Value.cast(value) for _, _, value in component.signature.flatten(component)
             if not isinstance(value, Const)]
    with lowering.collector_paused():
        start = time.process_time()
        fragment = Fragment.get(component, None)
        logger.info("%s: elaborated in %.1f s of CPU; lowering to a netlist", name,
                    time.process_time() - start)
        start = time.perf_counter()
        text = lowering.convert(fragment, ports, name)
        logger.info("%s: Verilog in %.1f s", name, time.perf_counter() - start)
        del fragment
    return text


def _components(params):
    """The array's modules by name, the tile first: ``{TILE: Tile, TOP: Chip}``."""
    from hdl.chip import Chip, chip_params
    from hdl.tile import Tile
    return {TILE: Tile(*chip_params(params)), TOP: Chip(params, tile=TILE)}


def _convert(components):
    return "\n".join(to_verilog(component, name) for name, component in components.items())


def chip_verilog(params):
    """The Verilog of the array with ``params`` (a :class:`ChipParams`), and its top's name.

    Returns ``(text, TOP)``: one source holding ``np_tile`` and everything under it, then
    ``np_chip``, which instantiates ``np_tile`` ``rows * columns`` times. Byte-identical for
    equal parameters.
    """
    if not isinstance(params, ChipParams):
        raise TypeError(f"chip_verilog params must be a ChipParams, not {params!r}")
    return _convert(_components(params)), TOP


def _ports(component):
    ports = []
    for path, member, value in component.signature.flatten(component):
        if isinstance(value, Const):
            continue
        ports.append({"name": "__".join(map(str, path)),
                      "direction": member.flow.name.lower(),
                      "width": Shape.cast(member.shape).width})
    return ports


def memory_bytes(core):
    """Bytes of each memory of one core (``hdl.core``'s four), and their sum."""
    from hdl.isa import instruction_words
    memory = {
        "activation_sram": core.activation_sram.size_bytes,
        "weight_sram": core.weight_sram.size_bytes,
        "settings_table": core.settings_depth * core.settings_entry_words * core.word_bytes,
        "program_memory": core.program_depth * instruction_words(core) * core.word_bytes,
    }
    memory["total"] = sum(memory.values())
    return memory


def manifest(params, components, preset=None):
    """The manifest of the array with ``params`` whose modules are ``components``."""
    from hdl.chip import chip_params
    from hdl.isa import instruction_layout
    core, noc = chip_params(params)
    peak = {f"int{p.bits}": core.mac.peak_macs_per_cycle(p) for p in Precision}
    per_core = memory_bytes(core)
    instances = {TOP: 1, TILE: params.cores}
    return {
        "top": TOP,
        "preset": preset,
        "parameters": dataclasses.asdict(params),
        "cores": params.cores,
        "peak_macs_per_cycle": {"per_core": peak,
                                "array": {name: value * params.cores for name, value in peak.items()}},
        "memory_bytes": {"per_core": per_core,
                         "array": {name: value * params.cores for name, value in per_core.items()}},
        "core": {
            "word_bytes": core.word_bytes,
            "activation_banks": core.activation_banks,
            "weight_banks": core.weight_sram.banks,
            "settings_entries": core.settings_depth,
            "program_instructions": core.program_depth,
            "program_banks": core.program_banks,
            "activation_write_ports": core.activation_write_ports,
            "instruction_bits": instruction_layout(core).size,
        },
        "noc": {"networks": 2, "flit_payload_bits": noc.flit_width, "buffer_depth": noc.buffer_depth},
        "modules": {name: {"instances": instances[name], "ports": _ports(component)}
                    for name, component in components.items()},
    }


def elaborate(params, out_dir, stem=None, preset=None):
    """Write ``<out_dir>/<stem>.v`` and ``<stem>.json`` for ``params`` (a :class:`ChipParams`).

    ``stem`` defaults to ``<preset or "chip">_<rows>x<columns>``; ``preset`` names the
    preset in the manifest. Returns the paths ``(verilog, manifest)``.
    """
    if not isinstance(params, ChipParams):
        raise TypeError(f"elaborate params must be a ChipParams, not {params!r}")
    stem = stem or f"{preset or 'chip'}_{params.rows}x{params.columns}"
    out_dir = Path(out_dir)
    components = _components(params)
    text = _convert(components)
    out_dir.mkdir(parents=True, exist_ok=True)
    verilog_path, manifest_path = out_dir / f"{stem}.v", out_dir / f"{stem}.json"
    verilog_path.write_text(text)
    manifest_path.write_text(json.dumps(manifest(params, components, preset), indent=2) + "\n")
    return verilog_path, manifest_path


def _integer(option, text):
    if not text.isdigit() or int(text) == 0:
        raise ValueError(f"{option.upper()} must be a positive integer, not {text!r}")
    return int(text)


def _depth(sizes, given, option, banks_option, word_option):
    """Words per bank of the SRAM of ``sizes[option]`` KB in ``sizes[banks_option]`` banks of
    ``sizes[word_option]`` bytes. Too small a size is blamed on an option that was given
    (``given``): the size if it was, else the banks or the word."""
    name, limit = option.upper(), MAX_SRAM_BYTES // 1024
    kilobytes, banks, word_bytes = sizes[option], sizes[banks_option], sizes[word_option]
    row = banks * word_bytes        # bytes in one word of every bank
    least = -(-2 * row // 1024)
    if kilobytes & (kilobytes - 1):
        raise ValueError(f"{name} must be a power of two, not {kilobytes!r}")
    if kilobytes > limit:
        raise ValueError(f"{name} must be at most {limit}, not {kilobytes!r}")
    if kilobytes * 1024 < 2 * row:
        rule = f"{name} {kilobytes} must hold 2 words of {word_bytes} bytes in each of {banks} banks"
        for culprit, value, other in ((banks_option, banks, word_bytes), (word_option, word_bytes, banks)):
            if option not in given and culprit in given:
                raise ValueError(f"{culprit.upper()} must be at most {kilobytes * 1024 // (2 * other)} "
                                 f"({rule}), not {value!r}")
        raise ValueError(f"{name} must be at least {least} (2 words in each of {banks} banks of "
                         f"{word_bytes} bytes), not {kilobytes!r}")
    return kilobytes * 1024 // row


def request(args):
    """The :class:`ChipParams`, preset name and output stem of parsed arguments.

    Raises ``ValueError`` or ``TypeError`` naming the first bad value and its limit.
    """
    rows, columns = parse_cores(args.cores)
    if args.preset not in PRESETS:
        raise ValueError(f"PRESET must be one of {', '.join(PRESETS)}, not {args.preset!r}")
    preset = PRESETS[args.preset]
    given = {option: _integer(option, getattr(args, option)) for option in _SIZES
             if getattr(args, option) is not None}
    sizes = {"lanes": preset.mac.lanes, "columns": preset.mac.columns,
             "activation_kb": preset.activation_sram.size_bytes // 1024,
             "weight_kb": preset.weight_sram.size_bytes // 1024,
             "activation_banks": preset.activation_banks, "settings_depth": preset.settings_depth,
             "program_depth": preset.program_depth, "buffer_depth": ChipParams.buffer_depth, **given}
    if sizes["activation_banks"] > MAX_ACTIVATION_BANKS:
        raise ValueError(f"ACTIVATION_BANKS must be at most {MAX_ACTIVATION_BANKS}, "
                         f"not {sizes['activation_banks']!r}")
    mac = MacParams(sizes["lanes"], sizes["columns"])
    core = CoreParams(
        mac, activation_banks=sizes["activation_banks"],
        activation_depth=_depth(sizes, given, "activation_kb", "activation_banks", "lanes"),
        weight_depth=_depth(sizes, given, "weight_kb", "columns", "lanes"),
        settings_depth=sizes["settings_depth"], program_depth=sizes["program_depth"],
        activation_write_ports=preset.activation_write_ports, program_banks=preset.program_banks)
    params = ChipParams(rows, columns, core, sizes["buffer_depth"])
    stem = "_".join([f"{args.preset}_{rows}x{columns}",
                     *(f"{option.replace('_', '')}{value}" for option, value in given.items())])
    return params, args.preset, stem


@command
def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m gen.verilog", description=__doc__.split("\n")[0])
    parser.add_argument("--cores", default="4x4", help="array size ROWSxCOLUMNS (default 4x4)")
    parser.add_argument("--preset", default="default", help=f"core preset: {', '.join(PRESETS)}")
    for option, text in (("lanes", "8-bit SIMD lanes of the MAC array"),
                         ("columns", "output columns of the MAC array"),
                         ("activation_kb", "activation SRAM per core, KB"),
                         ("weight_kb", "weight SRAM per core, KB"),
                         ("activation_banks", "activation SRAM banks"),
                         ("settings_depth", "settings-table entries"),
                         ("program_depth", "program-memory instructions"),
                         ("buffer_depth", "flits buffered per router input")):
        parser.add_argument(f"--{option.replace('_', '-')}", dest=option,
                            help=f"{text} (default: the preset's)")
    parser.add_argument("--out", default="build", help="output directory (default build)")
    args = parser.parse_args(argv)
    try:
        params, preset, stem = request(args)
        check_output_directory("OUT", args.out)
    except (TypeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    verilog_path, manifest_path = elaborate(params, args.out, stem, preset)
    print(f"wrote {verilog_path} and {manifest_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
