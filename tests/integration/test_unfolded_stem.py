"""The stem unfolded by the host (:mod:`gen.unfold`) on the generated Verilog, one core and
2x2 and 4x4 arrays, in both forms, one output column a pixel or several (``pack``): the
host writes the unfolded frame (the windows or the row groups), the chip runs a dense conv
(1x1 or ``ceil(7 / 2)`` x 1, ``pack`` columns' channels a position), and every output
word equals :mod:`sim.golden` of the *original* 7x7 stride-2 network; the run lasts
exactly the predicted cycles. Replay with ``SEED=<seed>``."""

import pytest

from gen.unfold import unfold_stem
from hdl.params import CoreParams
from sim.tb.core_runner import run_on_core
from sim.tb.runner import seed_from_env, simulator
from sim.workloads import WORKLOADS, build
from tests.integration.test_array import check_network_on_array
from tests.integration.test_core import assert_exact_run


@pytest.mark.parametrize("bits, form, pack", [(8, "windows", 1), (4, "windows", 2), (8, "rows", 1),
                                               (4, "rows", 1), (8, "rows", 2), (2, "rows", 4)])
def test_stem_unfolded_on_core(bits, form, pack):
    seed = seed_from_env()
    network, frame = build(WORKLOADS["stem_7x7_s2"], bits, seed)
    unfolded = unfold_stem(network, CoreParams(), form, pack)
    assert (unfolded.unfolding.form, unfolded.layers[0].pack) == (form, pack)
    name = f"{form}-pack{pack}-int{bits}"
    compiled, result, decoded = run_on_core(simulator("verilator"), f"core-unfolded-stem-{name}",
                                            unfolded, frame)
    assert_exact_run(f"stem_7x7_s2 unfolded ({form}, {pack} columns a pixel) int{bits} (SEED={seed})",
                     network, network.golden(frame), decoded, result, compiled.predicted_cycles,
                     counter="core")


@pytest.mark.parametrize("side, bits, form, pack", [(2, 8, "rows", 1), (4, 4, "windows", 1),
                                                    (4, 8, "rows", 1), (2, 4, "rows", 2), (4, 8, "rows", 2)])
def test_stem_unfolded_on_array(side, bits, form, pack):
    seed = seed_from_env()
    network, frame = build(WORKLOADS["stem_7x7_s2"], bits, seed, shape=(32, 32, 3))
    unfolded = unfold_stem(network, CoreParams(), form, pack)
    assert unfolded.layers[0].pack == pack
    name = f"{form}-pack{pack}-int{bits}"
    check_network_on_array(side, side, unfolded, frame, {}, sim=simulator("verilator"),
                           test_name=f"array-{side}x{side}-unfolded-stem-{name}",
                           context=f"stem_7x7_s2 unfolded ({form}, {pack} columns a pixel) int{bits}",
                           seed=seed, reference=network)
