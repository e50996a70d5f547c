"""A sweep file: the grid of configurations ``make sweep`` projects.

The file (``.toml`` or ``.json``) is one table of parameters, each a value or a list of
values; the grid is every combination, in the order of :data:`PARAMETERS` and of each
list::

    model = "resnet18"            # resnet18, resnet50 or a .tflite file (from the current directory)
    cores = ["8x8", "16x16"]      # ROWSxCOLUMNS
    preset = "northpole"          # the core every option below starts from
    lanes = [32, 64]              # the hdl.params.CoreParams options of gen.verilog
    weight_kb = [512, 1024]
    bits = [4, 2]                 # a ResNet's precision inside its int8 edges
    clock_mhz = 400
    mapping = ["pipeline", "layers"]   # gen.project's mappings

A parameter left out takes ``make project``'s default (``cores`` 16x16, ``preset``
northpole, ``clock_mhz`` 400, the model's ``bits``, the ``mapping`` ``"default"``: the
pipeline when its weights fit, else layer by layer) or the preset's size; ``model`` has no
default. An unknown parameter, a parameter with no values, a value listed twice or a value
outside its limit (:data:`PARAMETERS`) is refused by :func:`load_grid` in one line naming
the parameter and the limit, before any point runs. A combination the core cannot have
(more columns than lanes, an SRAM too small for its banks) is one point that fails
(:func:`chip`), not a refusal.
"""

import argparse
import hashlib
import itertools
import json
import tomllib
from pathlib import Path

from hdl.params import (
    MAX_MAC_LANES,
    MAX_SRAM_BYTES,
    MAX_TABLE_DEPTH,
    MIN_MAC_COLUMNS,
    MIN_MAC_LANES,
    PRESETS,
    parse_cores,
)

from .. import verilog
from ..project import CLOCK_MHZ_LIMITS, EDGE_BITS, INSIDE_BITS, MAPPINGS
from ..resnet import MODELS

__all__ = ["PARAMETERS", "SIZES", "GridError", "load_grid", "points", "point_key", "chip", "effective"]

#: The core's options, as :func:`gen.verilog.request` maps them onto ``CoreParams``.
SIZES = ("lanes", "columns", "activation_kb", "weight_kb", "activation_banks", "settings_depth",
         "program_depth")
#: ``make project``'s defaults for the parameters a sweep file leaves out.
DEFAULT_CORES, DEFAULT_PRESET, DEFAULT_CLOCK_MHZ = "16x16", "northpole", 400.0


class GridError(ValueError):
    """A sweep file refused, in one line naming the parameter and its limit."""


def _integer(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _power_of_two(low, high=None):
    """A check of a power of two from ``low`` to ``high`` (no bound if ``None``), and its rule."""
    def check(value):
        return (_integer(value) and value >= low and (high is None or value <= high)
                and value & (value - 1) == 0)
    return check, f"a power of two from {low} to {high}" if high else f"a power of two of at least {low}"


def _cores(value):
    try:
        parse_cores(value)
    except ValueError:
        return False
    return isinstance(value, str)


def _model(value):
    return isinstance(value, str) and (value in MODELS or value.endswith(".tflite") and Path(value).is_file())


def _clock(value):
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return number and CLOCK_MHZ_LIMITS[0] <= value <= CLOCK_MHZ_LIMITS[1]


#: Every parameter of a sweep file: the check of one value, and the limit it states.
PARAMETERS = {
    "model": (_model, f"{', '.join(MODELS)} or an existing .tflite file"),
    "cores": (_cores, "ROWSxCOLUMNS from 1x1 to 32x32"),
    "preset": (lambda value: value in PRESETS, f"one of {', '.join(PRESETS)}"),
    "lanes": _power_of_two(MIN_MAC_LANES, MAX_MAC_LANES),
    "columns": _power_of_two(MIN_MAC_COLUMNS, MAX_MAC_LANES),
    "activation_kb": _power_of_two(1, MAX_SRAM_BYTES // 1024),
    "weight_kb": _power_of_two(1, MAX_SRAM_BYTES // 1024),
    "activation_banks": _power_of_two(2),
    "settings_depth": _power_of_two(2, MAX_TABLE_DEPTH),
    "program_depth": _power_of_two(2, MAX_TABLE_DEPTH),
    "bits": (lambda value: _integer(value) and value in (8, 4, 2), "8, 4 or 2"),
    "clock_mhz": (_clock, "a number of MHz from {:g} to {:g} (1 kHz to 1 THz)".format(*CLOCK_MHZ_LIMITS)),
    "mapping": (lambda value: value in MAPPINGS, f"one of {', '.join(MAPPINGS)}"),
}


def _read(path):
    """The table of the sweep file ``path``."""
    path = Path(path)
    if path.suffix not in (".toml", ".json"):
        raise GridError(f"SWEEP must be a .toml or .json file, not {str(path)!r}")
    try:
        text = path.read_text()
    except OSError as error:
        raise GridError(f"SWEEP {path}: cannot be read ({error.strerror or error})") from None
    try:
        table = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
        raise GridError(f"{path}: not {path.suffix[1:].upper()} ({str(error).splitlines()[0]})") from None
    if not isinstance(table, dict):
        raise GridError(f"{path}: must hold a table of parameters, not {type(table).__name__}")
    return table


def load_grid(path, model=None):
    """The grid of the sweep file ``path``: ``{parameter: [values]}``, each value checked;
    ``model``, if given, replaces the file's. Raises :class:`GridError`."""
    table = _read(path)
    if model is not None:
        table["model"] = model
    for name in table:
        if name not in PARAMETERS:
            raise GridError(f"{path}: unknown parameter {name!r} (one of {', '.join(PARAMETERS)})")
    if "model" not in table:
        raise GridError(f"{path}: model must be given ({PARAMETERS['model'][1]}), in the file or as MODEL")
    grid = {}
    for name, (check, rule) in PARAMETERS.items():
        if name not in table:
            continue
        values = table[name] if isinstance(table[name], list) else [table[name]]
        if not values:
            raise GridError(f"{path}: {name} has no values, so the grid is empty; give at least one")
        for value in values:
            if not check(value):
                raise GridError(f"{path}: {name} must be {rule}, not {value!r}")
            if values.count(value) > 1:
                raise GridError(f"{path}: {name} lists {value!r} more than once")
        grid[name] = values
    return grid


def points(grid):
    """Every combination of ``grid``'s values, each ``{parameter: value}``."""
    return [dict(zip(grid, values)) for values in itertools.product(*grid.values())]


def point_key(point):
    """A name for ``point`` that only equal points share: a digest of its parameters."""
    return hashlib.sha256(json.dumps(point, sort_keys=True).encode()).hexdigest()[:16]


def chip(point):
    """The :class:`hdl.params.ChipParams` of ``point``, mapped by :func:`gen.verilog.request`
    from its preset and sizes; ``ValueError`` naming the limit if the core cannot be."""
    args = argparse.Namespace(cores=point.get("cores", DEFAULT_CORES),
                              preset=point.get("preset", DEFAULT_PRESET), buffer_depth=None,
                              **{size: str(point[size]) if size in point else None for size in SIZES})
    params, _, _ = verilog.request(args)
    return params


def effective(point, params):
    """Every parameter of ``point`` as the array ``params`` (:func:`chip`) has it, the
    defaults and the preset's sizes filled in."""
    core = params.core
    model = point["model"]
    bits = point.get("bits", (INSIDE_BITS if model in MODELS else EDGE_BITS))
    return {"model": model, "cores": f"{params.rows}x{params.columns}",
            "preset": point.get("preset", DEFAULT_PRESET),
            "lanes": core.mac.lanes, "columns": core.mac.columns,
            "activation_kb": core.activation_sram.size_bytes // 1024,
            "weight_kb": core.weight_sram.size_bytes // 1024, "activation_banks": core.activation_banks,
            "settings_depth": core.settings_depth, "program_depth": core.program_depth, "bits": bits,
            "clock_mhz": point.get("clock_mhz", DEFAULT_CLOCK_MHZ),
            "mapping": point.get("mapping", "default")}
