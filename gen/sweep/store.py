"""The results of a sweep's points, one file each, so that a sweep interrupted and run again
resumes from the points already done.

Point ``p``'s row is ``<directory>/<point_key(p)>.json``, holding the point, the energy
figures it was priced with and its row, written whole (to a temporary file, then renamed)
as soon as the point is done. A file that is missing, unreadable, holds another point or
was priced with other energy figures is a point still to run. Remove the directory to run
every point again.
"""

import json
import os
from pathlib import Path

from .grid import point_key

__all__ = ["Results"]


class Results:
    """The rows of the points done so far, in ``directory`` (created when the first is saved).

    Parameters
    ----------
    directory : str or Path
        Where each point's file goes.
    energy_figures : dict
        The energy model's figures (:func:`gen.energy.load_figures`) the rows are priced with.
    """

    def __init__(self, directory, energy_figures):
        self.directory = Path(directory)
        self.energy_figures = energy_figures

    def _path(self, point):
        return self.directory / f"{point_key(point)}.json"

    def row(self, point):
        """The saved row of ``point``, or ``None`` if it is still to run."""
        try:
            saved = json.loads(self._path(point).read_text())
        except (OSError, ValueError):
            return None
        if (not isinstance(saved, dict) or saved.get("point") != point
                or saved.get("energy_figures") != self.energy_figures):
            return None
        return saved.get("row")

    def save(self, point, row):
        """Keep ``row`` as ``point``'s result."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(point)
        temporary = path.with_suffix(".part")
        temporary.write_text(json.dumps({"point": point, "energy_figures": self.energy_figures, "row": row},
                                        allow_nan=False) + "\n")
        os.replace(temporary, path)
