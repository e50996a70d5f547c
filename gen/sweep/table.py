"""A sweep's table: one row per point, as ``<name>.csv`` and ``<name>.json``, and its
Pareto plot ``<name>_pareto.png``.

Each row: the point's ``key`` (:func:`gen.sweep.grid.point_key`), its parameters as the
array has them (:func:`gen.sweep.grid.effective`; as written when the core cannot be),
``fits`` and ``reason``, the results (:data:`gen.sweep.point.RESULTS`, empty when it does
not fit), ``memory_bytes_per_core`` (the four memories' capacity), the area
(:func:`gen.area.chip_area`: ``area_mm2``, ``mac_area_mm2``, ``sram_area_mm2``),
``pareto_energy`` and ``pareto_area`` (on the front of frames/s against energy per frame,
or against area) and ``seconds``, the point's wall time.
"""

import csv
import json

from ..area import chip_area
from ..verilog import memory_bytes
from . import pareto
from .grid import PARAMETERS, effective, point_key
from .point import RESULTS

__all__ = ["COLUMNS", "table", "write"]

#: The columns of the CSV, in order.
COLUMNS = ("key", *PARAMETERS, "fits", "reason", *RESULTS, "memory_bytes_per_core", "area_mm2",
           "mac_area_mm2", "sram_area_mm2", "pareto_energy", "pareto_area", "seconds")


def table(entries, area_figures):
    """The rows of ``entries``, each ``(point, params, row)``: the point, its
    :class:`hdl.params.ChipParams` (``None`` when the core cannot be) and its result."""
    rows = []
    for point, params, result in entries:
        row = {"key": point_key(point), **(effective(point, params) if params else point), **result}
        if params:
            area = {part: round(value, 6) for part, value in chip_area(params, area_figures).items()}
            row.update(memory_bytes_per_core=memory_bytes(params.core)["total"], area_mm2=area["total_mm2"],
                       mac_area_mm2=area["mac_mm2"], sram_area_mm2=area["sram_mm2"])
        rows.append(row)
    for column, cost in (("pareto_energy", "energy_j_per_frame"), ("pareto_area", "area_mm2")):
        best = set(pareto.front(rows, cost))
        for index, row in enumerate(rows):
            row[column] = index in best
    return rows


def write(rows, out, name, about):
    """Write ``<out>/<name>.csv``, ``<name>.json`` (``about``, a dict, beside the rows) and
    ``<name>_pareto.png``; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = out / f"{name}.csv", out / f"{name}.json", out / f"{name}_pareto.png"
    with paths[0].open("w", newline="") as file:
        writer = csv.DictWriter(file, COLUMNS, restval="")
        writer.writeheader()
        writer.writerows(rows)
    paths[1].write_text(json.dumps({**about, "points": rows}, indent=1, allow_nan=False) + "\n")
    pareto.plot(rows, paths[2], name)
    return paths
