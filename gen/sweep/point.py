"""One point of a sweep: its network projected on its array, reduced to one row of results.

:func:`evaluate` is what a Ray task (or the serial loop) runs; it never raises: a point
that does not fit, or whose compilation fails in any other way, returns ``fits`` false and
its reason in one line.
"""

import time

from ..project import project
from .grid import DEFAULT_CLOCK_MHZ, chip

__all__ = ["RESULTS", "failure", "evaluate"]

#: The results of a point that fits, with their units.
RESULTS = {
    "mapping_used": "the mapping that ran: pipeline, or layers (also when the pipeline's weights do not fit)",
    "frames_per_s": "frames a second, every cycle of a frame counted (reloads, host traffic)",
    "compute_frames_per_s": "frames a second, the programs' cycles alone",
    "latency_s": "seconds from a frame's first input word to its output, s",
    "utilization": "the network's MACs over the frame's cycles times the array's peak",
    "energy_j_per_frame": "J a frame (gen.energy)",
    "power_w": "W at frames_per_s",
    "fps_per_w": "frames a second per W",
    "pj_per_mac": "pJ per useful MAC",
    "weight_bytes_per_core": "the most weight SRAM any core uses, bytes",
    "activation_bytes_per_core": "the most activation SRAM any core uses, bytes",
}


def failure(reason, seconds=0.0):
    """The row of a point that failed for ``reason`` (an exception or text), in one line."""
    if isinstance(reason, BaseException):
        text = str(reason).strip()
        reason = text if isinstance(reason, ValueError) and text else f"{type(reason).__name__}: {text}"
    lines = str(reason).strip().splitlines() or ["no reason given"]
    return {"fits": False, "reason": lines[0], "seconds": round(seconds, 2)}


def evaluate(point, network, energy=None):
    """The row of ``point`` (:mod:`gen.sweep.grid`) for ``network`` (a :class:`gen.network.Network`):
    ``fits``, ``reason`` (empty when it fits), each of :data:`RESULTS` when it fits, and
    ``seconds``, the point's wall time. ``energy``: the energy model's parameters as
    :func:`gen.project.project` takes them (``energy_file`` and ``energy_figures``; ``None``:
    the default file)."""
    start = time.perf_counter()
    try:
        params = chip(point)
        report = project(network, params.core, params.rows, params.columns,
                         point.get("clock_mhz", DEFAULT_CLOCK_MHZ) * 1e6, mapping=point.get("mapping"),
                         **(energy or {}))
    except Exception as error:      # every failure is the point's result, never the sweep's end
        return failure(error, time.perf_counter() - start)
    sram = report["sram_bytes_per_core"]
    found = {**report["energy"], **report, "mapping_used": report["mapping"],
             "weight_bytes_per_core": sram["weights"]["max"],
             "activation_bytes_per_core": sram["activations"]["max"]}
    figures = {name: found[name] for name in RESULTS}
    return {"fits": True, "reason": "", **figures, "seconds": round(time.perf_counter() - start, 2)}
