"""Running a sweep's points: one after another in this process, or in parallel on Ray.

Both take the same jobs, ``(point, network)`` pairs, and the energy model's parameters
every point is priced with (:func:`gen.sweep.point.evaluate`'s ``energy``: the figures
travel with the tasks, so a cluster's workers never read the file), and call ``done(point,
row)`` in this process as each point finishes (in the order they finish), so that the
caller saves each row at once. Ray (:func:`run_on_ray`) is started locally with a worker
per CPU, unless ``RAY_ADDRESS`` names an existing cluster, which ``ray.init`` then joins;
each distinct network is put in Ray's object store once and shared by its points. A task
whose worker dies (the point's own failures are rows, see
:func:`gen.sweep.point.evaluate`) is recorded as a failure with Ray's reason.
"""

import logging
import os
from pathlib import Path

from .point import evaluate, failure

__all__ = ["run_serial", "run_on_ray"]

#: The source checkout, shipped to a remote cluster's workers as Ray's working directory.
ROOT = Path(__file__).resolve().parents[2]


def run_serial(jobs, done, energy=None):
    """Evaluate each of ``jobs`` in turn."""
    for point, network in jobs:
        done(point, evaluate(point, network, energy))


def _runtime_env():
    """For a cluster named by ``RAY_ADDRESS``, this checkout as the workers' working
    directory (when it is one), so that they import the same code; nothing for a local Ray,
    whose workers start in this process's directory."""
    if not os.environ.get("RAY_ADDRESS") or not (ROOT / "pyproject.toml").is_file():
        return None
    return {"working_dir": str(ROOT), "excludes": ["build/", ".venv/", ".git/", "*.vcd", "*.fst"]}


def run_on_ray(jobs, done, energy=None):
    """Evaluate ``jobs`` as Ray tasks of one CPU each."""
    import ray

    # "local": a new Ray of this machine's CPUs, never one left running by an earlier ray start.
    ray.init(os.environ.get("RAY_ADDRESS") or "local", runtime_env=_runtime_env(),
             logging_level=logging.WARNING, log_to_driver=False, include_dashboard=False)
    try:
        task = ray.remote(num_cpus=1)(evaluate)
        networks, pending = {}, {}
        for point, network in jobs:
            if id(network) not in networks:
                networks[id(network)] = ray.put(network)
            pending[task.remote(point, networks[id(network)], energy)] = point
        while pending:
            finished, _ = ray.wait(list(pending), num_returns=1)
            for reference in finished:
                point = pending.pop(reference)
                try:
                    row = ray.get(reference)
                except ray.exceptions.RayError as error:
                    row = failure(f"Ray: {error}")
                done(point, row)
    finally:
        ray.shutdown()
