"""Elaborate the array's hardware to Verilog, with a JSON manifest beside it.

Command line (what ``make verilog CORES=4x4`` runs)::

    python -m gen.verilog --cores 4x4 --lanes 8 --columns 8 --out build

writes ``build/northpole_<R>x<C>.v`` and ``build/northpole_<R>x<C>.json``. The Verilog
holds one module per distinct component of a core's datapath (today the SIMD MAC array
``np_mac_array`` and the requantize unit ``np_requantizer``); the manifest lists the
parameters, every module's ports and the peak MACs per cycle per precision. Bad requests
exit with status 2 and one line naming the offending value and the limit.
"""

import argparse
import json
import sys
from pathlib import Path

from amaranth.hdl import Const, Shape, Value

from hdl.params import ChipParams, MacParams, Precision, parse_cores

__all__ = ["to_verilog", "elaborate", "main"]


def _components(mac_params):
    from hdl.mac import MacArray
    from hdl.requantize import Requantizer
    return {"np_mac_array": MacArray(mac_params), "np_requantizer": Requantizer(mac_params)}


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
    for name, component in _components(chip.mac).items():
        texts.append(to_verilog(component, name))
        modules[name] = {"latency": component.LATENCY, "ports": _ports(component)}
    peak = {f"int{p.bits}": chip.mac.peak_macs_per_cycle(p) for p in Precision}
    manifest = {
        "parameters": {"rows": chip.rows, "columns": chip.columns,
                       "lanes": chip.mac.lanes, "mac_columns": chip.mac.columns},
        "peak_macs_per_cycle_per_core": peak,
        "peak_macs_per_cycle": {k: v * chip.rows * chip.columns for k, v in peak.items()},
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
    except (TypeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    verilog_path, manifest_path = elaborate(chip, args.out)
    print(f"wrote {verilog_path} and {manifest_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
