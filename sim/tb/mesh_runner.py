"""Run the mesh stress testbench (``sim/tb/mesh.py``) on the 4x4 mesh's shared build.

For the stress tests and for ``make bench``'s network figures.
"""

import time

from hdl.mesh import Mesh
from hdl.params import NocParams

from .mesh import summary
from .runner import elaborated, run_cocotb, run_job

__all__ = ["PARAMS", "HOTSPOT", "HOTSPOT_FRACTION", "MULTICAST_FRACTION", "run_mesh", "run"]

#: The mesh under stress.
PARAMS = NocParams(rows=4, columns=4)
#: The hotspot node (x, y) and the fraction of all packets sent to it.
HOTSPOT = (2, 1)
HOTSPOT_FRACTION = 0.25
#: The fraction of the packets that are single-flit multicasts in the mixed runs.
MULTICAST_FRACTION = 0.1


def _mesh_params(**options):
    return {"rows": PARAMS.rows, "columns": PARAMS.columns, "flit_width": PARAMS.flit_width,
            "buffer_depth": PARAMS.buffer_depth, **options}


def run_mesh(sim, test_name, testcase, **options):
    """Run the cocotb test ``testcase`` of ``sim/tb/mesh.py`` on the mesh's shared build."""
    run_cocotb(elaborated(Mesh, PARAMS, "np_mesh"), toplevel="np_mesh", test_module="mesh",
               test_name=test_name, sim=sim, testcase=testcase, shared_build=True,
               params=_mesh_params(**options))


def run(sim, pattern, flits, back_pressure, multicast_fraction=0.0):
    """Run ``pattern`` at saturation until ``flits`` flits are delivered (a multicast flit
    counts once per destination), ``multicast_fraction`` of the packets multicast; return
    the testbench's figures."""
    test_name = f"mesh-stress-{pattern}-{flits}{'-back-pressure' if back_pressure else ''}" \
                f"{f'-multicast-{multicast_fraction}' if multicast_fraction else ''}-{sim}"
    started = time.perf_counter()
    figures = run_job(elaborated(Mesh, PARAMS, "np_mesh"), toplevel="np_mesh", test_module="mesh",
                      test_name=test_name, sim=sim, testcase="stress",
                      params=_mesh_params(pattern=pattern, flits=flits, back_pressure=back_pressure,
                                          hotspot=HOTSPOT, hotspot_fraction=HOTSPOT_FRACTION,
                                          multicast_fraction=multicast_fraction))
    wall = time.perf_counter() - started
    assert figures["flits"] >= flits, f"seed {figures['seed']}: only {figures['flits']} flits ran"
    print(f"\n{PARAMS.rows}x{PARAMS.columns} mesh on {sim}, {summary(figures)}; wall {wall:.1f} s")
    return figures
