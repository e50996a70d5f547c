"""The layer pipeline on the array's Verilog: every weight resident, frames streamed through
the host's commands only.

Two networks, each mapped as a pipeline (:mod:`gen.pipeline`), loaded once, then written
``depth + 3`` frames, one a run, its output read after each run: from run ``depth - 1`` on,
it is the output of the frame written ``depth - 1`` runs before.

- The digits ResNet (``models/digits_resnet.tflite``, residual adds fused, stem unfolded,
  as ``make run`` compiles it) on a 2x2 array, its input written between runs into the
  first stage's cores, and on a 4x4 array, written into input holders while the run before
  computes; held-out test images drawn with the seed: every logit must equal LiteRT's
  reference kernels (``BUILTIN_REF``) on the file.
- A ResNet-50 scaled down (:func:`gen.resnet.scaled_resnet50`: bottleneck blocks, a projection in
  the first block of every stage, the stem unfolded, int8 edges and int4 inside, residual
  adds fused) on a 4x4 array with input holders, random frames drawn with the seed, against
  ``sim.golden``.

The 2x2 array's cores are the default's: one program bank, so a stage's producers wait
for its ``FREE`` pulses before sending the next frame's input, and one write port per
activation bank, which the schedule keeps the network's words and the write-back taking
in turn. The 4x4 arrays' are NorthPole's in both (``CoreParams.program_banks``,
``activation_write_ports``): a stage reads its input from one of two buffers while its
producers fill the other, the buffers changing roles every run (a frame's output is right
only if every core runs its banks in turn), and the words land while the core writes its
own results.
  ResNet-50's whole structure on NorthPole's 16 x 16 mesh of small cores runs in
  ``make bench`` (:mod:`gen.bench`), too slow for the regression.

Every run, the first ``depth - 1`` included (their stages compute on the pipeline's
initial contents), must last the predicted cycles, by the testbench and the chip's counter,
with neither the conflict nor the overrun flag raised, and every frame's period (``RUN`` to
``RUN``) be at most :func:`gen.pipeline.step_cycles`. Where the input has holders of its
own (:attr:`gen.array.ArrayCompiled.input_delay`), the testbench writes each frame while
the run before computes, from the first cycle the compiler allows: a word written too early
would replace one a holder had not yet sent, and the frame's output would differ.
Replay with ``SEED=<seed>``.
"""

import numpy as np
import pytest

from gen import resnet
from gen.network import fuse_adds
from gen.pipeline import compile_pipeline, step_cycles
from gen.run import DIGITS, DIGITS_IMAGES
from gen.tflite import import_tflite
from gen.unfold import unfold_stem
from hdl.params import ChipParams, CoreParams
from sim.tb.array_runner import run_batch
from sim.tb.runner import seed_from_env, simulator
from tests.integration.test_core import assert_exact_run
from tests.litert import reference_outputs

#: Frames streamed beyond the pipeline's depth.
EXTRA_FRAMES = 3
#: The 4x4 arrays' core: the default's, with two program banks of its 128 instructions
#: and a second write port in each activation bank, as NorthPole's core has.
BANKED = CoreParams(program_depth=256, program_banks=2, activation_write_ports=2)


def chip(rows, columns):
    """The array of the tests' ``rows x columns`` case: one program bank on 2x2, two on 4x4."""
    return ChipParams(rows=rows, columns=columns, core=BANKED if rows * columns == 16 else CoreParams())


def check_banks(compiled, params):
    """With two program banks, some core must have a second bank's programs."""
    odd = [place for place, core in compiled.cores.items() if core.odd is not None]
    assert bool(odd) == (params.core.program_banks == 2), \
        f"{len(odd)} cores have a second bank's programs with {params.core.program_banks} banks"




def scaled_resnet50(seed):
    """:func:`gen.resnet.scaled_resnet50` with its residual adds fused and its stem unfolded
    as ``make run`` compiles it (for the default core)."""
    return unfold_stem(fuse_adds(resnet.scaled_resnet50(seed)), ChipParams().core)


def stream(compiled, network, frames, expected, params, name, seed):
    """Load ``compiled`` (a pipeline) once, write ``frames`` one a run and check every run's
    output from run ``depth - 1`` on against ``expected`` (per frame, the output's values),
    and every run's cycles against the prediction."""
    depth = compiled.depth
    runs = run_batch(compiled, frames, params, sim=simulator("verilator"), test_name=name)
    (output,) = network.outputs
    for run, (values, result) in enumerate(runs):
        context = f"{name}, depth {depth}, run {run} (SEED={seed})"
        assert result["overrun"] == 0, f"{context}: the network refused a core's message"
        if run < depth - 1:
            # The output is that of the pipeline's initial contents: only the timing counts.
            wanted = {output: values[output]}
        else:
            context += f", frame {run - depth + 1}"
            wanted = {output: expected[run - depth + 1].reshape(values[output].shape)}
        assert_exact_run(context, network, wanted, values, result, compiled.predicted_cycles, counter="chip")
        step = step_cycles(compiled)
        assert run == 0 or result["period"] <= step, \
            f"{context}: {result['period']} cycles from RUN to RUN, modelled as at most {step}"


@pytest.mark.parametrize("rows, columns, holders", [(2, 2, False), (4, 4, True)],
                         ids=["2x2-written-between-runs", "4x4-written-while-running"])
def test_digits_pipeline(rows, columns, holders):
    seed = seed_from_env()
    imported = import_tflite(DIGITS)
    params = chip(rows, columns)
    network = unfold_stem(fuse_adds(imported.network), params.core)
    compiled = compile_pipeline(network, params.core, rows, columns, holders=holders)
    check_banks(compiled, params)
    depth = compiled.depth
    assert depth > 1, f"{rows}x{columns}: the pipeline has one stage"
    assert (compiled.input_delay is not None) == holders
    images = np.load(DIGITS_IMAGES)
    chosen = np.random.default_rng(seed).choice(len(images), depth + EXTRA_FRAMES, replace=False)
    frames = [images[index].reshape(network.frame.shape) for index in chosen]
    expected = reference_outputs(DIGITS, images[chosen])
    stream(compiled, network, frames, expected, params, f"pipeline-digits-{rows}x{columns}", seed)


def test_scaled_resnet50_pipeline_on_4x4():
    seed = seed_from_env()
    network = scaled_resnet50(seed)
    params = chip(4, 4)
    compiled = compile_pipeline(network, params.core, 4, 4, holders=True)
    check_banks(compiled, params)
    staged = [name for stage in compiled.stages for name in stage.layers]
    assert compiled.depth > 1 and any(name.endswith(".downsample") for name in staged)
    assert compiled.input_delay is not None
    rng = np.random.default_rng(seed)
    frames = [rng.integers(-128, 128, network.frame.shape).astype(np.int8)
              for _ in range(compiled.depth + EXTRA_FRAMES)]
    (output,) = network.outputs
    expected = [network.golden(frame)[output] for frame in frames]
    stream(compiled, network, frames, expected, params, "pipeline-scaled-resnet50-4x4", seed)
