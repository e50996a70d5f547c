"""Parameter files of a model's figures: per-event energies (:mod:`gen.energy`), per-unit
areas (:mod:`gen.area`).

A parameter file is a JSON object with ``"figures"`` (every figure the model names, each a
finite non-negative number) and optionally ``"description"`` (text) and ``"sources"``
(text per figure: where the figure comes from, or the assumption behind it).
"""

import json
import math
from pathlib import Path

__all__ = ["load_figures"]


def load_figures(path, names, error):
    """The figures of the parameter file ``path``: ``{name: float}`` for every name of
    ``names`` (``{name: its unit and meaning}``).

    Raises ``error`` (an exception class) in one line naming the file and the first
    missing, unknown, non-finite or negative figure.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as failure:
        raise error(f"{path}: cannot be read ({failure.strerror or failure})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as failure:
        raise error(f"{path}: not JSON ({str(failure).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise error(f"{path}: must hold a JSON object, not {type(data).__name__}")
    unknown = sorted(set(data) - {"description", "figures", "sources"})
    if unknown:
        raise error(f"{path}: unknown key {unknown[0]!r} (description, figures, sources)")
    figures = data.get("figures")
    if not isinstance(figures, dict):
        raise error(f"{path}: \"figures\" must be an object of the {len(names)} figures")
    for name in figures:
        if name not in names:
            raise error(f"{path}: unknown figure {name!r}")
    for name in names:
        if name not in figures:
            raise error(f"{path}: figure {name} is missing ({names[name]})")
        value = figures[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise error(f"{path}: figure {name} must be a number, not {value!r}")
        if not math.isfinite(value) or value < 0:
            raise error(f"{path}: figure {name} must be finite and non-negative, not {value!r}")
    sources = data.get("sources", {})
    if not isinstance(sources, dict):
        raise error(f"{path}: \"sources\" must be an object of text per figure")
    for name in sources:
        if name not in names:
            raise error(f"{path}: source given for unknown figure {name!r}")
    return {name: float(figures[name]) for name in names}
