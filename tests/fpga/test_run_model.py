"""``python -m fpga.host run-model``: a whole ``.tflite`` model through the UART bridge.

Each test runs the command line's own code on the whole board top (bridge and array, the
board's clock and reset replaced by the testbench's; a fast simulated UART,
:data:`tests.fpga.test_bridge.DIVISOR`), and checks every value of OUTPUT against the golden
model's and LiteRT's and every run against the compiler's predicted cycles.

``test_digits_through_bridge`` runs the digits ResNet of ``models/`` on the ULX3S's 2x2
array, a pipeline of four stages, and on the iCEBreaker's one core, whole in one run; the
ULX3S's one core refuses it before it opens the port, in one line that names the array that
holds it (``test_digits_refused_on_one_ulx3s_core``). ``test_model_through_bridge`` runs models of
``tests/vectors/import/`` on seeded random frames: on the ULX3S's 2x2 array a 1x1
convolution and a fully-connected layer compiled as a two-stage pipeline (each output read a
run after its input was written, a zero frame pushing the last one through), on the
iCEBreaker's core a convolution, a padded max-pool and a stride-2 convolution, each
simulated with the board's core parameters (``make fpga`` builds the same design).
``test_input_holders_written_between_runs`` checks, on the array alone, that a program with
input holders still runs exactly when its frames are written between runs, as ``run-model``
writes them. Replay with ``SEED=<seed>``.
"""

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from fpga.boards import BOARDS
from fpga.host.cli import main
from fpga.top import top_verilog
from gen.pipeline import compile_pipeline
from gen.run import DIGITS, DIGITS_IMAGES, compile_model, frames_to_write
from gen.tflite import import_tflite
from gen.verilog import TILE
from hdl.params import parse_cores
from sim.tb.array_runner import run_batch
from sim.tb.runner import run_job, seed_from_env, simulator
from tests.fpga.test_bridge import DIVISOR
from tests.litert import reference_outputs

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "import"
#: Frames each model runs on.
FRAMES = 3
#: Test images the digits ResNet runs on: each takes a run, and loading it takes most of the time.
DIGITS_FRAMES = 2

#: The board configurations: board and array (``None``: the board's own).
CONFIGURATIONS = {"ulx3s-2x2": ("ulx3s", "2x2"), "icebreaker": ("icebreaker", None)}


def _options(configuration):
    """The ``--board`` and ``--cores`` options of ``configuration``."""
    board, cores = CONFIGURATIONS[configuration]
    return ["--board", board, *(["--cores", cores] if cores else [])]


def test_digits_refused_on_one_ulx3s_core(tmp_path, capsys):
    """The ULX3S's one core (16 KB of weights) does not hold the digits ResNet: refused in one
    line naming the array that does, exit 2, before the port is opened (it does not exist:
    opening it would exit 1) and without writing OUTPUT."""
    output = tmp_path / "logits.npy"
    argv = ["--port", str(tmp_path / "no-such-port"), "--board", "ulx3s", "run-model", str(DIGITS),
            str(DIGITS_IMAGES), str(output)]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        "error: the model does not fit a 1x1 array: the network's weights (19,648 bytes) need at least 2 "
        "cores of 16,384 bytes of weight SRAM in a pipeline; a 1x1 array has 1 (16,384 bytes); it fits 2x2 "
        "(4 cores)\n")
    assert list(tmp_path.iterdir()) == []


def _differences(name, expected, got):
    """One line per value of ``got`` that differs from ``expected`` (frame, index, expected, got)."""
    return [f"frame {index[0]}, output{list(map(int, index[1:]))}: {name} {int(expected[tuple(index)])}, "
            f"got {int(got[tuple(index)])}" for index in np.argwhere(expected != got)]


def _run_model(tmp_path, configuration, model, frames, context):
    """Run ``run-model`` on the simulated board top with ``frames``; check every output value
    against the golden model's and LiteRT's and every run's cycles against the prediction."""
    board, cores = CONFIGURATIONS[configuration]
    params = BOARDS[board].params(parse_cores(cores) if cores else None)
    imported = import_tflite(model)
    source, output = tmp_path / "frames.npy", tmp_path / "outputs.npy"
    np.save(source, frames)
    verilog, toplevel = top_verilog(params, DIVISOR)
    result = run_job(verilog, toplevel=toplevel, test_module="fpga_model", sim=simulator("verilator"),
                     test_name=f"fpga-run-model-{configuration}-{model.stem}", hierarchical=(TILE,),
                     job={"divisor": DIVISOR, "argv": ["--port", "simulated-uart", *_options(configuration),
                                                       "run-model", str(model), str(source), str(output)]})
    assert result["status"] == 0, f"{context}: exit status {result['status']}:\n{result['stderr']}"
    got = np.load(output)
    golden = np.stack([imported.run(frame)[0][0] for frame in frames])
    litert = reference_outputs(model, frames)
    assert got.dtype == np.int8 and got.shape == golden.shape == litert.shape, \
        f"{context}: OUTPUT is {got.dtype} {got.shape}, expected int8 {golden.shape}"
    for name, expected in (("golden model", golden), ("LiteRT", litert)):
        wrong = _differences(name, expected, got)
        assert not wrong, \
            f"{context}: {len(wrong)} values differ from the {name}:\n" + "\n".join(wrong[:20])
    compiled = compile_model(imported, params)
    runs = [tuple(map(int, found)) for found in
            re.findall(r"^run (\d+): predicted (\d+) cycles, measured (\d+)", result["stdout"], re.MULTILINE)]
    assert [number for number, _, _ in runs] == list(range(len(frames) + compiled.depth - 1)), \
        f"{context}: runs printed {runs}\n{result['stdout']}"
    for number, predicted, measured in runs:
        assert predicted == measured == compiled.predicted_cycles, \
            f"{context}: run {number} measured {measured} cycles, predicted {compiled.predicted_cycles}"


@pytest.mark.parametrize("configuration, model", [
    ("ulx3s-2x2", "reshape_fc.tflite"),
    ("icebreaker", "pad_conv_pool.tflite"),
])
def test_model_through_bridge(tmp_path, configuration, model):
    seed = seed_from_env()
    model = VECTORS / model
    frames = np.random.default_rng(seed).integers(-128, 128, (FRAMES, *import_tflite(model).input_shape[1:]))
    _run_model(tmp_path, configuration, model, frames.astype(np.int8),
               f"{model.name} on {configuration} through the UART bridge (SEED={seed})")


@pytest.mark.parametrize("configuration", CONFIGURATIONS)
def test_digits_through_bridge(tmp_path, configuration):
    """The digits ResNet of ``models/``, its first ``DIGITS_FRAMES`` test images, every logit
    equal to the golden model's and LiteRT's: on the ULX3S's 2x2 array (16 KB of weights, 32
    settings and 32 instructions a core) a pipeline of four stages; on the iCEBreaker's core
    (128 KB of weights in single-port banks, 128 settings, 16 instructions) the whole network
    in one run, its residual adds unfused."""
    frames = np.load(DIGITS_IMAGES)[:DIGITS_FRAMES]
    _run_model(tmp_path, configuration, DIGITS, frames,
               f"the digits ResNet on {configuration} through the UART bridge")


def test_input_holders_written_between_runs():
    """The bridge takes no WRITE during a run, so ``run-model`` writes each frame after the run
    before even where the program lets a host write it while that run computes (input
    holders, ``input_delay``). The array's own testbench, written that way, must still give
    the golden outputs in the predicted cycles: on the ULX3S's 2x2 array, the two-stage
    pipeline of ``relu6_fc.tflite`` compiled with input holders (which ``run-model`` chooses
    wherever they shorten a frame's step)."""
    seed = seed_from_env()
    model = VECTORS / "relu6_fc.tflite"
    params = BOARDS["ulx3s"].params((2, 2))
    imported = import_tflite(model)
    compiled = compile_pipeline(imported.network, params.core, params.rows, params.columns, holders=True)
    assert compiled.input_delay is not None, "the pipeline compiled with holders has no input_delay"
    frames = np.random.default_rng(seed).integers(-128, 128, (FRAMES, *imported.input_shape[1:]))
    frames = frames.astype(np.int8)
    between = dataclasses.replace(compiled, input_delay=None)
    runs = run_batch(between, frames_to_write(compiled, frames), params, sim=simulator("verilator"),
                     test_name="fpga-run-model-input-between-runs")
    context = f"{model.name} on ulx3s-2x2, each frame written between runs (SEED={seed})"
    (output,) = compiled.network.outputs
    got = np.stack([values[output] for values, _ in runs[compiled.depth - 1:]])
    got = got.reshape(FRAMES, *imported.outputs[0][1][1:])
    golden = np.stack([imported.run(frame)[0][0] for frame in frames])
    wrong = _differences("golden model", golden, got)
    assert not wrong, f"{context}: {len(wrong)} values differ:\n" + "\n".join(wrong[:20])
    cycles = [result["cycles"] for _, result in runs]
    assert cycles == [compiled.predicted_cycles] * len(runs), \
        f"{context}: runs took {cycles} cycles, predicted {compiled.predicted_cycles}"
