"""Design-space sweeps of the projection (``make sweep``, ``npgen sweep``).

A grid of configurations from a sweep file (:mod:`.grid`), each point one projection
reduced to a row (:mod:`.point`), run serially or on Ray (:mod:`.run`), saved point by
point so that a rerun resumes (:mod:`.store`), and written as a table with its Pareto
plot (:mod:`.table`, :mod:`.pareto`); the command line is :mod:`.cli`.
"""

from .cli import main

__all__ = ["main"]
