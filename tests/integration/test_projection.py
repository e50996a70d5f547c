"""A full-size ResNet-50 layer on NorthPole's core, as ``make project`` compiles it.

``layer3.1.conv1`` (a 1x1 convolution of a 14 x 14 x 1024 tensor to 256 channels, its
262,144 int8 weights filling half the weight SRAM and its two tensors 251 KB of the
256 KB activation SRAM) is taken from :func:`gen.resnet.resnet` at its real size, compiled
by the array compiler for a 1x1 array of ``PRESET=northpole`` cores (the smallest array
that runs it) and run through the host's commands on the chip's Verilog. Every output
value must equal :mod:`sim.golden`'s and the run must last exactly the predicted cycles:
the cycle model ``make project`` sums is the hardware's at full size. Replay with
``SEED=<seed>``.
"""

import numpy as np

from gen.array import compile_array
from gen.project import subnetwork
from gen.resnet import resnet
from hdl.params import NORTHPOLE_CORE, ChipParams
from sim.tb.array_runner import run_array
from sim.tb.runner import seed_from_env, simulator
from tests.integration.test_core import assert_exact_run

LAYER = "layer3.1.conv1"


def test_full_size_resnet50_layer_on_a_northpole_core():
    seed = seed_from_env()
    network = subnetwork(resnet("resnet50", seed=seed), [LAYER])
    frame = np.random.default_rng(seed).integers(-128, 128, network.input.shape)
    params = ChipParams(rows=1, columns=1, core=NORTHPOLE_CORE)
    compiled = compile_array(network, params.core, 1, 1)
    values, result = run_array(compiled, frame, params, sim=simulator("verilator"),
                               test_name="projection-resnet50-layer3.1.conv1")
    assert_exact_run(f"resnet50 {LAYER} on one northpole core (SEED={seed})", network,
                     network.golden(frame), values, result, compiled.predicted_cycles, counter="chip")
