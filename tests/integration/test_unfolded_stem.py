"""The stem unfolded by the host (:mod:`gen.unfold`) on the generated Verilog, one core and
2x2 and 4x4 arrays: the host writes the unfolded frame, the chip runs a dense 1x1 conv, and
every output word equals :mod:`sim.golden` of the *original* 7x7 stride-2 network; the
run lasts exactly the predicted cycles. Replay with ``SEED=<seed>``."""

import pytest

from gen.unfold import unfold_stem
from hdl.params import CoreParams
from sim.tb.core_runner import run_on_core
from sim.tb.runner import seed_from_env, simulator
from sim.workloads import WORKLOADS, build
from tests.integration.test_array import check_network_on_array
from tests.integration.test_core import assert_exact_run


@pytest.mark.parametrize("bits", (8, 4))
def test_stem_unfolded_on_core(bits):
    seed = seed_from_env()
    network, frame = build(WORKLOADS["stem_7x7_s2"], bits, seed)
    unfolded = unfold_stem(network, CoreParams())
    assert unfolded.unfolding is not None
    compiled, result, decoded = run_on_core(simulator("verilator"), f"core-unfolded-stem-int{bits}",
                                            unfolded, frame)
    assert_exact_run(f"stem_7x7_s2 unfolded int{bits} (SEED={seed})", network, network.golden(frame),
                     decoded, result, compiled.predicted_cycles, counter="core")


@pytest.mark.parametrize("side, bits", [(2, 8), (4, 4)])
def test_stem_unfolded_on_array(side, bits):
    seed = seed_from_env()
    network, frame = build(WORKLOADS["stem_7x7_s2"], bits, seed, shape=(32, 32, 3))
    unfolded = unfold_stem(network, CoreParams())
    check_network_on_array(side, side, unfolded, frame, {}, sim=simulator("verilator"),
                           test_name=f"array-{side}x{side}-unfolded-stem-int{bits}",
                           context=f"stem_7x7_s2 unfolded int{bits}", seed=seed, reference=network)
