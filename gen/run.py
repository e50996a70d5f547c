"""``make run``: a TFLite int8 model on the generated array's Verilog, frame by frame.

Command line::

    python -m gen.run --model models/digits_resnet.tflite --cores 2x2 [--preset default]
                      [--input frames.npy --output out.npy] [--limit N] [--sim verilator|icarus]
                      [--mapping pipeline|layers]

The model is imported (:mod:`gen.tflite`), compiled onto the array (:mod:`gen.array`) and,
only if every core's share fits its memories, simulated: the chip's Verilog is loaded
through the host's load phase once, then each frame is written, run and read through the
three host commands (:mod:`sim.tb.array_runner`). ``--mapping``: ``layers`` compiles the
network as one program over the whole array, each run one frame; ``pipeline`` as a layer
pipeline (:mod:`gen.pipeline`), each run every stage on its own frame, so a frame's output
is read ``depth - 1`` runs after its input was written (the last frames are followed by
``depth - 1`` runs of zero frames, whose outputs are not kept); by default, whichever runs
a frame in fewer cycles. A few-channel stem runs unfolded, each frame unfolded by the host
as it writes it (:mod:`gen.unfold`), and each residual add that alone reads a conv's output
runs fused into it (:func:`gen.network.fuse_adds`) on a core with the fused add
(``CoreParams.fused_add``). Every output
byte is compared with the golden model of the same import (itself checked against LiteRT's
reference kernels), and every frame's measured cycles with the compiler's prediction; any
difference makes the command exit 1.

``--input``: an int8 array N x H x W x C (N at least 1), as the model's input tensor expects.
``--output``: a ``.npy`` file, other than the input, where the int8 outputs go, N x the
model's output shape (batch dimension dropped); it is checked before anything is compiled,
written (atomically: a temporary file beside it, then renamed) only when every frame is
bit-exact and as fast as predicted, and left untouched otherwise: what the array computed
then goes to ``<output stem>.mismatched.npy`` beside it (:func:`mismatched_path`; the
same shape, written the same way) and the command exits 1. Without them, the
committed digits test images run and the accuracy against their labels is printed.
Printed: per layer its cycles (first start to last end over the array) and MAC utilisation
(its MACs over those cycles times the peak of the cores it may use: every core, or its
stage's in a pipeline), per run predicted and measured cycles, and a progress bar over the
batch.
"""

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from hdl.params import PRESETS, ChipParams, parse_cores
from sim.tb.array_runner import run_batch
from sim.tb.runner import SIMULATORS

from .array import compile_array
from .compiler import CompileError, UnsupportedLayerError
from .entry import command
from .network import fuse_adds
from .paths import check_output_file
from .pipeline import compile_pipeline, step_cycles
from .tflite import ModelImportError, import_tflite
from .unfold import UnfoldError, unfold_stem

__all__ = ["MODELS", "DIGITS", "MAPPINGS", "RunError", "mismatched_path", "check_output", "load_frames",
           "save_outputs", "import_model", "compile_for", "layer_report", "choose_mapping", "compile_model",
           "mapping_summary", "frames_to_write", "check_runs", "conclude", "main"]

#: The committed models and data.
MODELS = Path(__file__).resolve().parents[1] / "models"
#: The digits ResNet, its held-out test images and their labels.
DIGITS = MODELS / "digits_resnet.tflite"
DIGITS_IMAGES = MODELS / "digits_test_images.npy"
DIGITS_LABELS = MODELS / "digits_test_labels.npy"
#: Largest array side tried when looking for an array that a refused model fits.
LARGEST_SIDE = 16
#: How a model can be mapped (see the module's description), by the function compiling it.
MAPPINGS = {"pipeline": compile_pipeline, "layers": compile_array}


class RunError(ValueError):
    """A request ``make run`` refuses, in one line naming the value and the limit."""


def mismatched_path(path):
    """Where a run whose outputs differ writes them instead of ``OUTPUT`` (``path``):
    ``<stem>.mismatched.npy`` beside it."""
    return path.with_name(f"{path.stem}.mismatched.npy")


def check_output(path, input_path):
    """Refuse an ``OUTPUT`` path that could not be written, before any work is done: it must
    end in ``.npy``, differ from ``INPUT`` (and so must its :func:`mismatched_path`, which
    must not be a directory either) and lie in (or below) a writable directory."""
    if input_path is not None and path.resolve() == input_path.resolve():
        raise RunError(f"OUTPUT must differ from INPUT, not {str(path)!r}")
    if input_path is not None and mismatched_path(path).resolve() == input_path.resolve():
        raise RunError(f"OUTPUT must differ from INPUT also as {mismatched_path(path).name} (where "
                       f"outputs that differ go), not {str(path)!r}")
    if mismatched_path(path).is_dir():
        raise RunError(f"OUTPUT must have no directory beside it named {mismatched_path(path).name} "
                       f"(where outputs that differ go), not {str(path)!r}")
    try:
        check_output_file("OUTPUT", path, ".npy")
    except ValueError as error:
        raise RunError(str(error)) from None


def save_outputs(path, outputs):
    """Write ``outputs`` to ``path`` atomically: a temporary file in its directory, then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as file:
            np.save(file, outputs)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def load_frames(path, imported):
    """The int8 frames of ``path`` (N x H x W x C, N at least 1), checked against the model's input."""
    try:
        frames = np.load(path)
    except (OSError, ValueError, EOFError) as error:
        raise RunError(f"INPUT {path}: cannot be read as a .npy array ({error or 'empty file'})") from None
    if not isinstance(frames, np.ndarray):
        frames.close()
        raise RunError(f"INPUT {path}: must be one .npy array, not a .npz archive")
    expected = tuple(imported.input_shape[1:])
    if frames.dtype != np.int8:
        raise RunError(f"INPUT {path}: frames must be int8, not {frames.dtype}")
    if frames.ndim != 1 + len(expected) or tuple(frames.shape[1:]) != expected:
        raise RunError(f"INPUT {path}: frames must have shape N x {' x '.join(map(str, expected))}, "
                       f"not {' x '.join(map(str, frames.shape))}")
    if len(frames) == 0:
        raise RunError(f"INPUT {path}: must hold at least one frame, not 0")
    return frames


def compile_for(network, params, mapping="layers"):
    """Compile ``network`` for the array of ``params`` with ``mapping`` (a key of
    :data:`MAPPINGS`), or raise :class:`RunError` saying what a core would need against
    what it has and, if there is one, the smallest larger square array it fits."""
    compile = MAPPINGS[mapping]
    try:
        return compile(network, params.core, params.rows, params.columns)
    except UnsupportedLayerError as error:
        raise RunError(f"the model cannot run on the array, whatever its size: {error}") from None
    except CompileError as error:
        message = f"the model does not fit a {params.rows}x{params.columns} array: {error}"
    side = max(params.rows, params.columns)
    while side < LARGEST_SIDE:
        side = min(LARGEST_SIDE, side * 2)
        try:
            compile(network, params.core, side, side)
        except CompileError:
            continue
        raise RunError(f"{message}; it fits {side}x{side} ({side * side} cores)")
    raise RunError(f"{message}; it fits no array up to {LARGEST_SIDE}x{LARGEST_SIDE}")


def layer_report(compiled, params):
    """Per layer ``(name, cycles, MACs, utilisation or None)`` of the compiled schedule, the
    utilisation over the peak of every core it may use (its stage's in a pipeline)."""
    macs = compiled.network.macs()
    peak = params.core.mac.peak_macs_per_cycle(compiled.network.precision)
    cores = {name: len(stage.places) for stage in compiled.stages for name in stage.layers}
    rows = []
    for name, (first, end) in compiled.layer_spans.items():
        cycles = end - first
        most = cores.get(name, params.cores) * peak
        rows.append((name, cycles, macs[name], macs[name] / (cycles * most) if macs[name] else None))
    return rows


def choose_mapping(network, params, mapping=None):
    """``network`` compiled with ``mapping``, or (``None``) with whichever of
    :data:`MAPPINGS` that fits takes the fewest cycles a frame, the host's writes and reads
    counted (:func:`gen.pipeline.step_cycles`; a pipeline runs a frame a run)."""
    if mapping is not None:
        return compile_for(network, params, mapping)
    compiled, refusal = [], None
    for name in MAPPINGS:
        try:
            compiled.append(compile_for(network, params, name))
        except RunError as error:
            refusal = refusal or error
    if not compiled:
        raise refusal
    return min(compiled, key=step_cycles)


def _mismatches(frame, expected, got):
    lines = []
    for index in zip(*np.nonzero(expected != got)):
        lines.append(f"frame {frame} output{list(map(int, index))}: expected {int(expected[index])}, "
                     f"got {int(got[index])}")
    return lines


def compile_model(imported, params, mapping=None):
    """The network of ``imported`` (one output), its residual adds fused (where the core
    has the fused add) and its stem unfolded for the core, compiled for the array of
    ``params`` with ``mapping`` (``None``: see :func:`choose_mapping`); :class:`RunError` when
    it cannot run there."""
    if len(imported.outputs) != 1:
        raise RunError(f"the model has {len(imported.outputs)} outputs; only models with one can run")
    # Residual adds run fused into their convs where the core can (CoreParams.fused_add); the
    # host unfolds each frame for the stem.
    network = fuse_adds(imported.network) if params.core.fused_add else imported.network
    try:
        network = unfold_stem(network, params.core)
    except UnfoldError as error:
        raise RunError(f"the model's stem cannot be unfolded for the core: {error}") from None
    return choose_mapping(network, params, mapping)


def mapping_summary(compiled):
    """How ``compiled`` runs, in words: layer by layer, or as a pipeline of how many stages."""
    depth = compiled.depth
    return (f"as a pipeline of {depth} stages ({depth} runs from a frame's input to its output)"
            if compiled.stages else "layer by layer")


def frames_to_write(compiled, frames):
    """The (H, W, C) frames the host writes for ``frames`` (N x the model's input shape
    without its batch), one a run: a pipeline's last frames come out ``depth - 1`` runs
    later, so that many zero frames follow to push them through."""
    shape = compiled.network.frame.shape
    return [frame.reshape(shape) for frame in frames] + [np.zeros(shape, np.int8)] * (compiled.depth - 1)


def check_runs(imported, compiled, frames, runs):
    """Compare each run of ``runs`` (an iterable, one item per frame of
    :func:`frames_to_write` of ``frames``: ``({name: values}, cycles, flagged)``, ``flagged``
    when the chip raised its conflict or overrun flag) with the compiler's prediction, and
    each frame's output with the golden model of ``imported``, printing a line per run as
    it comes.

    Returns ``(outputs, errors)``: the int8 outputs per frame (N x the model's output shape
    without its batch) and every line of difference from the golden model or the prediction.
    """
    (output,) = compiled.network.outputs
    _, shape, _, _ = imported.outputs[0]
    depth, predicted = compiled.depth, compiled.predicted_cycles
    outputs, errors = [], []
    for number, (values, cycles, flagged) in enumerate(runs):
        status = "" if cycles == predicted else "  DIFFERS"
        if status:
            errors.append(f"run {number}: measured {cycles} cycles, predicted {predicted}")
        if flagged:
            errors.append(f"run {number}: the chip raised its conflict or overrun flag")
        index = number - depth + 1
        held = f", output of frame {index}" if index >= 0 else ", the pipeline filling"
        print(f"run {number}: predicted {predicted} cycles, measured {cycles}{status}{held}", flush=True)
        if index < 0:
            continue
        (expected,) = imported.run(frames[index])
        got = values[output].reshape(shape)
        errors += _mismatches(index, expected, got)
        outputs.append(got.reshape(shape[1:]).astype(np.int8))
    return np.stack(outputs), errors


def run(imported, name, cores, preset, frames, sim, mapping=None):
    """Compile the model ``imported`` (named ``name``) with ``mapping`` (``None``: see
    :func:`choose_mapping`) and simulate it on ``frames``.

    Returns ``(outputs, errors)`` (see :func:`check_runs`).
    """
    rows, columns = parse_cores(cores)
    params = ChipParams(rows=rows, columns=columns, core=PRESETS[preset])
    compiled = compile_model(imported, params, mapping)
    print(f"{name} on {cores} {preset} cores, {mapping_summary(compiled)}: predicted "
          f"{compiled.predicted_cycles} cycles a run")
    if compiled.input_delay is not None:
        print(f"each frame written into the input's holder cores while the run before computes, "
              f"from {compiled.input_delay} cycles after its RUN")
    print(f"{'layer':<24} {'split':<14} {'cycles':>7} {'MACs':>10} {'util':>6}")
    splits = {plan.name: f"{plan.split.value}/{len(plan.parts)}" for plan in compiled.plans}
    for layer, cycles, macs, utilization in layer_report(compiled, params):
        shown = "-" if utilization is None else f"{utilization:.1%}"
        print(f"{layer:<24} {splits[layer]:<14} {cycles:>7} {macs:>10} {shown:>6}")
    runs = run_batch(compiled, frames_to_write(compiled, frames), params, sim=sim,
                     test_name=f"run-{Path(name).stem}-{cores}-{compiled.depth}", progress=True)
    return check_runs(imported, compiled, frames,
                      ((values, result["cycles"], bool(result["conflict"] or result["overrun"]))
                       for values, result in runs))


def conclude(output, outputs, errors, labels=None):
    """Finish a run of ``outputs`` with ``errors`` (:func:`check_runs`): write the outputs
    to ``output`` (a path, or ``None``) when there is no error, else to its
    :func:`mismatched_path`; print the accuracy against ``labels`` when given, and the
    errors. Returns the exit status: 0 when every frame matched, 1 when some did not, 2
    when the file cannot be written."""
    # Outputs that differ are kept, but never under OUTPUT's name.
    written = None if output is None else output if not errors else mismatched_path(output)
    if written is not None:
        try:
            save_outputs(written, outputs)
        except OSError as error:
            print(f"error: OUTPUT {written}: cannot be written ({error.strerror})", file=sys.stderr)
            return 2
        print(f"wrote {written}: {' x '.join(map(str, outputs.shape))} int8")
    if labels is not None:
        correct = int(np.sum(outputs.reshape(len(outputs), -1).argmax(axis=1) == labels[:len(outputs)]))
        print(f"accuracy: {correct}/{len(outputs)} = {correct / len(outputs):.2%}")
    for line in errors[:20]:
        print(f"error: {line}", file=sys.stderr)
    if errors:
        unwritten = (f"; OUTPUT {output} not written, the outputs that differ are in {written}"
                     if written is not None else "")
        print(f"error: {len(errors)} differences from the golden model or the prediction{unwritten}",
              file=sys.stderr)
        return 1
    print(f"all {len(outputs)} frames bit-exact against the golden model, cycles as predicted")
    return 0


def import_model(model):
    """The model at ``model`` imported, or a :class:`RunError` (:class:`ModelImportError`)
    naming MODEL and why it cannot be read (imported)."""
    try:
        return import_tflite(model)
    except OSError as error:
        raise RunError(f"MODEL {str(model)!r} cannot be read ({error.strerror or error})") from None


@command
def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m gen.run", description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=DIGITS, help="int8 .tflite model (default: digits)")
    parser.add_argument("--cores", default="2x2", help="array size ROWSxCOLUMNS (default 2x2)")
    parser.add_argument("--preset", default="default", help=f"{', '.join(PRESETS)} (default: default)")
    parser.add_argument("--input", type=Path, help="int8 frames N x H x W x C (.npy)")
    parser.add_argument("--output", type=Path, help="where the int8 outputs go (.npy)")
    parser.add_argument("--limit", type=int, help="run only the first LIMIT frames")
    parser.add_argument("--mapping", help="pipeline or layers (default: whichever runs a frame in fewer "
                                          "cycles)")
    parser.add_argument("--sim", choices=("verilator", "icarus"),
                        help="simulator (default: Verilator when installed, else Icarus)")
    args = parser.parse_args(argv)
    os.environ.setdefault("COCOTB_LOG_LEVEL", "WARNING")     # the per-frame lines, not cocotb's report
    os.environ.setdefault("GPI_LOG_LEVEL", "WARNING")
    sim = args.sim or os.environ.get("SIM") or ("verilator" if _has_verilator() else "icarus")
    try:
        try:
            parse_cores(args.cores)          # refused before the model is read
        except ValueError as error:
            raise RunError(str(error)) from None
        if args.preset not in PRESETS:
            raise RunError(f"PRESET must be one of {', '.join(PRESETS)}, not {args.preset!r}")
        if sim not in SIMULATORS:
            raise RunError(f"SIM must be one of {', '.join(SIMULATORS)}, not {sim!r}")
        if (args.input is None) != (args.output is None):
            raise RunError("INPUT and OUTPUT go together: give both, or neither for the digits test images")
        if args.mapping not in (None, *MAPPINGS):
            raise RunError(f"MAPPING must be one of {', '.join(MAPPINGS)}, not {args.mapping!r}")
        if args.limit is not None and args.limit < 1:
            raise RunError(f"LIMIT must be a positive number of frames, not {args.limit}")
        if args.output is not None:
            check_output(args.output, args.input)
        imported = import_model(args.model)
        if args.input is None:
            if args.model.resolve() != DIGITS.resolve():
                raise RunError(f"MODEL {args.model} needs INPUT and OUTPUT; only the digits model has "
                               f"committed test images")
            frames, labels = np.load(DIGITS_IMAGES), np.load(DIGITS_LABELS)
        else:
            frames, labels = load_frames(args.input, imported), None
        frames = frames[:args.limit]
        outputs, errors = run(imported, args.model.name, args.cores, args.preset, frames, sim, args.mapping)
    except (RunError, ModelImportError) as error:     # anything else is a bug (gen.entry)
        print(f"error: {error}", file=sys.stderr)
        return 2
    return conclude(args.output, outputs, errors, labels)


def _has_verilator():
    return shutil.which("verilator", path=str(Path(sys.executable).parent) + os.pathsep
                        + os.environ.get("PATH", "")) is not None


if __name__ == "__main__":
    sys.exit(main())
