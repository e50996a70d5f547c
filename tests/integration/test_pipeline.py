"""The layer pipeline on the array's Verilog: every weight resident, frames streamed through
the host's commands only.

The digits ResNet (``models/digits_resnet.tflite``, residual adds fused, stem unfolded, as
``make run`` compiles it) is mapped as a pipeline (:mod:`gen.pipeline`) and loaded once;
then ``depth + 3`` held-out test images, drawn with the seed, are written one a run, and
after each run the output is read: from run ``depth - 1`` on it is the logits of the frame
written ``depth - 1`` runs before, and they must equal LiteRT's reference kernels
(``BUILTIN_REF``) on the same file. Every run, the first ``depth - 1`` included (their
stages compute on the pipeline's initial contents), must last the predicted cycles, by the
testbench and the chip's counter, with neither the conflict nor the overrun flag raised.
Replay with ``SEED=<seed>``.
"""

import numpy as np
import pytest

from gen.network import fuse_adds
from gen.pipeline import compile_pipeline
from gen.run import DIGITS, DIGITS_IMAGES
from gen.tflite import import_tflite
from gen.unfold import unfold_stem
from hdl.params import ChipParams
from sim.tb.array_runner import run_batch
from sim.tb.runner import seed_from_env, simulator
from tests.integration.test_core import assert_exact_run
from tests.litert import reference_outputs

#: Frames streamed beyond the pipeline's depth.
EXTRA_FRAMES = 3


@pytest.mark.parametrize("rows, columns", [(2, 2), (4, 4)], ids=["2x2", "4x4"])
def test_digits_pipeline(rows, columns):
    seed = seed_from_env()
    imported = import_tflite(DIGITS)
    params = ChipParams(rows=rows, columns=columns)
    network = unfold_stem(fuse_adds(imported.network), params.core)
    compiled = compile_pipeline(network, params.core, rows, columns)
    depth = compiled.depth
    assert depth > 1, f"{rows}x{columns}: the pipeline has one stage"
    images = np.load(DIGITS_IMAGES)
    chosen = np.random.default_rng(seed).choice(len(images), depth + EXTRA_FRAMES, replace=False)
    frames = [images[index].reshape(network.frame.shape) for index in chosen]
    expected = reference_outputs(DIGITS, images[chosen])
    runs = run_batch(compiled, frames, params, sim=simulator("verilator"),
                     test_name=f"pipeline-digits-{rows}x{columns}")
    (output,) = network.outputs
    for run, (values, result) in enumerate(runs):
        context = f"pipeline on {rows}x{columns}, depth {depth}, run {run}"
        assert result["overrun"] == 0, f"{context}: the network refused a core's message"
        if run < depth - 1:
            # The output is that of the pipeline's initial contents: only the timing counts.
            values, wanted = {output: values[output]}, {output: values[output]}
        else:
            frame = run - depth + 1
            context += f", digits test image {chosen[frame]} (SEED={seed})"
            wanted = {output: expected[frame].reshape(values[output].shape)}
        assert_exact_run(context, network, wanted, values, result, compiled.predicted_cycles, counter="chip")
