"""``make sweep``: project a model on every configuration of a grid, on Ray or serially.

Command line::

    python -m gen.sweep --sweep FILE [--model MODEL] [--serial] [--energy FILE] [--area FILE]
                        [--out build/sweep]

``FILE`` is a sweep file (:mod:`gen.sweep.grid`); ``--model`` replaces its model. Each
point is one :func:`gen.project.project` of the model on the point's array
(:func:`gen.sweep.point.evaluate`), run as a Ray task (:func:`gen.sweep.run.run_on_ray`:
a local Ray, or the cluster ``RAY_ADDRESS`` names) or, with ``--serial``, one after
another in this process. A progress line on stderr counts the points done.

A point's row is saved as soon as it is done (:class:`gen.sweep.store.Results`, under
``<out>/<name>/``), and a run skips the points saved by earlier runs of the same file:
an interrupted sweep run again resumes (and a sweep run again with other energy figures
runs every point again). Writes
``<out>/<name>.csv``, ``<name>.json`` and ``<name>_pareto.png`` (:mod:`gen.sweep.table`),
``name`` being the file's stem. Every point is priced with the energy model's figures of
``--energy FILE`` (default ``gen/energy_12nm.json``, see :mod:`gen.energy`; read once,
here), as ``make project`` prices its network, and its array's area comes from ``--area
FILE`` (default ``gen/area_12nm.json``, see :mod:`gen.area`).

A bad sweep file, energy file, area file or output directory, or a missing extra, is
refused before any point runs: one line ``error: ...`` naming the parameter and its limit,
exit status 2.
"""

import argparse
import os
import sys
import time
from pathlib import Path

from .. import area, energy
from ..entry import command
from ..extras import MissingExtraError, require
from ..paths import check_output_directory
from ..project import ProjectError, _network
from .grid import chip, load_grid, point_key, points
from .point import failure
from .run import run_on_ray, run_serial
from .store import Results
from .table import table, write

__all__ = ["main"]


class _Progress:
    """The progress line on stderr: points done of the grid, and how many do not fit."""

    def __init__(self, name, total, done, failed):
        self.name, self.total, self.done, self.failed = name, total, done, failed
        self.start = time.monotonic()

    def step(self, row):
        self.done += 1
        self.failed += not row["fits"]
        width = 30
        filled = width * self.done // self.total
        elapsed = int(time.monotonic() - self.start)
        print(f"\r{self.name} [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} points, "
              f"{self.failed} do not fit, {elapsed // 60}:{elapsed % 60:02}", end="", file=sys.stderr,
              flush=True)


def _networks():
    """A function of a point: its ``(network, None)``, or ``(None, failure row)`` when the
    model cannot be built at its precision; each ``(model, bits)`` built once."""
    built = {}

    def network(point):
        key = point["model"], point.get("bits")
        if key not in built:
            try:
                built[key] = _network(*key, seed=0), None
            except ProjectError as error:
                built[key] = None, failure(error)
        return built[key]
    return network


def _check(args):
    """The grid, energy figures and area figures of ``args``, every refusal raised before any
    point runs."""
    require("plot", "make sweep")
    if not args.serial:
        try:
            require("sweep", "make sweep")
        except MissingExtraError as error:
            raise MissingExtraError(f"{error} (or run serially: SERIAL=1, --serial)") from None
    grid = load_grid(args.sweep, args.model)
    check_output_directory("OUT", args.out)
    try:
        energy_figures = energy.load_figures(args.energy)
    except energy.EnergyError as error:
        raise energy.EnergyError(f"ENERGY {error}") from None
    return grid, energy_figures, area.load_figures(args.area)


@command
def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m gen.sweep", description=__doc__.split("\n")[0])
    parser.add_argument("--sweep", required=True, help="the sweep file, .toml or .json (see gen.sweep.grid)")
    parser.add_argument("--model", default=None, help="resnet18, resnet50 or a .tflite file, in place of "
                                                      "the file's model (default: the file's)")
    parser.add_argument("--serial", action="store_true", help="run the points one after another, without Ray")
    parser.add_argument("--energy", default=None,
                        help=f"the energy model's parameters, a JSON file (default "
                             f"{energy.DEFAULT_FIGURES.name}; see gen.energy)")
    parser.add_argument("--area", default=None,
                        help=f"the area model's figures (default {area.DEFAULT_FIGURES.name}; see gen.area)")
    parser.add_argument("--out", default="build/sweep", help="output directory (default build/sweep)")
    args = parser.parse_args(argv)
    try:
        grid, energy_figures, area_figures = _check(args)
    except (ValueError, MissingExtraError) as error:    # GridError, EnergyError, AreaError, a bad OUT
        print(f"error: {error}", file=sys.stderr)
        return 2
    name, out = Path(args.sweep).stem, Path(args.out)
    results, network = Results(out / name, energy_figures), _networks()
    entries, jobs = {}, []
    for point in points(grid):
        try:
            params = chip(point)
        except ValueError as error:
            entries[point_key(point)] = (point, None, failure(error))
            continue
        row = results.row(point)
        if row is None:
            model, row = network(point)
            if model is None:
                results.save(point, row)
            else:
                jobs.append((point, model))
        entries[point_key(point)] = (point, params, row)
    progress = _Progress(name, len(entries), len(entries) - len(jobs),
                         sum(1 for *_, row in entries.values() if row and not row["fits"]))

    def done(point, row):
        results.save(point, row)
        entries[point_key(point)] = (*entries[point_key(point)][:2], row)
        progress.step(row)

    how = "serially" if args.serial else "on Ray"
    impossible = sum(1 for _, params, _ in entries.values() if params is None)
    print(f"{name}: {len(entries)} points, {impossible} with no such core, "
          f"{len(entries) - len(jobs) - impossible} done before, {len(jobs)} to run {how}", file=sys.stderr)
    start = time.monotonic()
    try:
        if jobs:
            (run_serial if args.serial else run_on_ray)(
                jobs, done, {"energy_file": args.energy, "energy_figures": energy_figures})
    except KeyboardInterrupt:
        print(f"\ninterrupted: {progress.done} of {len(entries)} points done; run again to resume",
              file=sys.stderr)
        return 130
    except ConnectionError as error:      # ray.init: RAY_ADDRESS names no cluster it can reach
        print(f"\nerror: RAY_ADDRESS {os.environ.get('RAY_ADDRESS')!r}: {error}", file=sys.stderr)
        return 2
    seconds = time.monotonic() - start
    print(file=sys.stderr)
    rows = table(entries.values(), area_figures)
    about = {"sweep": str(args.sweep), "runner": "serial" if args.serial else "ray",
             "points_run": len(jobs), "run_seconds": round(seconds, 1),
             "energy_parameters": Path(args.energy or energy.DEFAULT_FIGURES).name,
             "area_parameters": Path(args.area or area.DEFAULT_FIGURES).name}
    paths = write(rows, out, name, about)
    fits = sum(row["fits"] for row in rows)
    print(f"{name}: {len(rows)} points, {fits} fit, {len(rows) - fits} do not (the reasons in the table); "
          f"{len(jobs)} ran {how} in {seconds:.1f} s")
    for row in rows:
        if row["pareto_energy"] or row["pareto_area"]:
            print(f"  Pareto: {row['cores']} {row['preset']} lanes {row['lanes']} columns {row['columns']} "
                  f"weights {row['weight_kb']} KB int{row['bits']} {row['mapping_used']}: "
                  f"{row['frames_per_s']:,.0f} frames/s, "
                  f"{row['energy_j_per_frame'] * 1e3:.4g} mJ a frame, {row['area_mm2']:.4g} mm^2")
    print(f"wrote {', '.join(map(str, paths))}")
    return 0
