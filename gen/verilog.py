"""Elaborate the array's hardware to Verilog, with a JSON manifest beside it.

Command line (what ``make verilog CORES=4x4`` runs)::

    python -m gen.verilog --cores 4x4 --lanes 8 --columns 8 --out build

writes ``build/northpole_<R>x<C>.v`` and ``build/northpole_<R>x<C>.json``. The Verilog
holds one module per distinct component: the whole core ``np_core`` (SRAMs, settings
table, program memory, sequencer and compute path) and, for reuse on their own, the SIMD
MAC array ``np_mac_array``, the requantize unit ``np_requantizer`` and the vector unit
``np_vector_unit``; the manifest lists the parameters, the core's memories, every
module's ports and the peak MACs per cycle per precision. Bad requests
exit with status 2 and one line naming the offending value and the limit.
"""

import argparse
import json
import sys
from pathlib import Path

from amaranth.hdl import Const, Shape, Value

from hdl.isa import instruction_layout
from hdl.params import ChipParams, CoreParams, MacParams, Precision, parse_cores

__all__ = ["to_verilog", "elaborate", "main"]


def _components(core_params):
    from hdl.core import Core
    from hdl.mac import MacArray
    from hdl.requantize import Requantizer
    from hdl.vector import VectorUnit
    mac_params = core_params.mac
    return {"np_mac_array": MacArray(mac_params), "np_requantizer": Requantizer(mac_params),
            "np_vector_unit": VectorUnit(mac_params), "np_core": Core(core_params)}


def to_verilog(component, name):
    """Verilog text of ``component`` as module ``name``.

    The ports are the component's signature members, less those that are constants
    (the ``ready`` of an ``always_ready`` stream), which Verilog cannot carry.
    """
    from amaranth.back import verilog
    ports = [Value.cast(value) for _, _, value in component.signature.flatten(component)
             if not isinstance(value, Const)]
    return verilog.convert(component, name=name, ports=ports, emit_src=False)


def _ports(component):
    ports = []
    for path, member, value in component.signature.flatten(component):
        if isinstance(value, Const):
            continue
        ports.append({"name": "__".join(map(str, path)),
                      "direction": member.flow.name.lower(),
                      "width": Shape.cast(member.shape).width})
    return ports


def elaborate(chip, out_dir):
    """Write the Verilog and manifest for ``chip`` (a :class:`ChipParams`) into ``out_dir``.

    Returns the paths ``(verilog, manifest)``. The output is byte-identical for equal
    parameters.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"northpole_{chip.rows}x{chip.columns}"
    modules, texts = {}, []
    core = CoreParams(mac=chip.mac)
    for name, component in _components(core).items():
        texts.append(to_verilog(component, name))
        modules[name] = {"latency": getattr(component, "LATENCY", None), "ports": _ports(component)}
    peak = {f"int{p.bits}": chip.mac.peak_macs_per_cycle(p) for p in Precision}
    manifest = {
        "parameters": {"rows": chip.rows, "columns": chip.columns,
                       "lanes": chip.mac.lanes, "mac_columns": chip.mac.columns},
        "peak_macs_per_cycle_per_core": peak,
        "peak_macs_per_cycle": {k: v * chip.rows * chip.columns for k, v in peak.items()},
        "core": {
            "activation_sram_bytes": core.activation_sram.size_bytes,
            "activation_banks": core.activation_banks,
            "weight_sram_bytes": core.weight_sram.size_bytes,
            "weight_banks": core.weight_sram.banks,
            "settings_entries": core.settings_depth,
            "program_instructions": core.program_depth,
            "instruction_bits": instruction_layout(core).size,
        },
        "modules": modules,
    }
    verilog_path = out_dir / f"{stem}.v"
    manifest_path = out_dir / f"{stem}.json"
    verilog_path.write_text("\n".join(texts))
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return verilog_path, manifest_path


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m gen.verilog", description=__doc__.split("\n")[0])
    parser.add_argument("--cores", default="4x4", help="array size ROWSxCOLUMNS (default 4x4)")
    parser.add_argument("--lanes", default="8", help="8-bit SIMD lanes per MAC array (default 8)")
    parser.add_argument("--columns", default="8", help="MAC array output columns (default 8)")
    parser.add_argument("--out", default="build", help="output directory (default build)")
    args = parser.parse_args(argv)
    try:
        rows, columns = parse_cores(args.cores)
        sizes = {}
        for option in ("lanes", "columns"):
            text = getattr(args, option)
            if not text.isdigit():
                raise ValueError(f"{option.upper()} must be a positive integer, not {text!r}")
            sizes[option] = int(text)
        chip = ChipParams(rows=rows, columns=columns, mac=MacParams(**sizes))
        CoreParams(mac=chip.mac)
    except (TypeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    verilog_path, manifest_path = elaborate(chip, args.out)
    print(f"wrote {verilog_path} and {manifest_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
