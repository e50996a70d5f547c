"""``make run`` (:mod:`gen.run`): refusals before simulation, and a batch end to end.

A model too big for the array is refused with what a core needs against what it has and
the smallest square array it fits; malformed requests exit 2 with one line. The end-to-end
case writes two random int8 frames as ``INPUT`` and checks the ``OUTPUT`` file against
LiteRT's reference kernels. Replay with ``SEED=<seed>``.
"""

import os

import numpy as np
import pytest

from gen import run
from gen.entry import INTERNAL_ERROR
from gen.pipeline import step_cycles
from gen.tflite import import_tflite
from hdl.params import ChipParams, CoreParams
from sim.tb.runner import seed_from_env
from tests.litert import reference_outputs

DIGITS = import_tflite(run.DIGITS)


def test_too_big_names_the_need_the_limit_and_an_array_that_fits():
    params = ChipParams(rows=1, columns=1, core=CoreParams(activation_depth=128))
    with pytest.raises(run.RunError, match=r"^the model does not fit a 1x1 array: activation SRAM "
                       r"overflows at tensor \w+: the buffers need \d+ bytes, the core has 4096; "
                       r"it fits 2x2 \(4 cores\)$"):
        run.compile_for(DIGITS.network, params)


def test_too_big_for_any_array():
    params = ChipParams(rows=2, columns=2, core=CoreParams(weight_depth=2))
    with pytest.raises(run.RunError, match=r"weight SRAM overflows at layer \w+: the weights need \d+ "
                       r"bytes, the core has 128; it fits no array up to 16x16$"):
        run.compile_for(DIGITS.network, params)


def test_unsupported_layer_is_not_a_size():
    """AVERAGE_POOL_2D's rounding is not the AVGPOOL instruction's: refused for what it is, not
    as a model too big for every array."""
    imported = import_tflite(run.MODELS.parent / "tests" / "vectors" / "import" / "average_pool.tflite")
    params = ChipParams(rows=2, columns=2, core=CoreParams())
    with pytest.raises(run.RunError, match=r"^the model cannot run on the array, whatever its size: "
                       r"global pool average_pool_2d_1: the AVGPOOL instruction requantizes as MEAN "
                       r"does; AVERAGE_POOL_2D's rounding \(kind 'average_pool'\) is not implemented$"):
        run.compile_for(imported.network, params)


def _refusal(capsys, argv):
    assert run.main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def test_bad_requests_exit_2_with_one_line(tmp_path, capsys):
    frames = tmp_path / "frames.npy"
    np.save(frames, np.zeros((2, 8, 8, 1), np.int16))
    assert "frames must be int8, not int16" in _refusal(capsys, ["--input", str(frames), "--output", "o.npy"])
    np.save(frames, np.zeros((2, 8, 7, 1), np.int8))
    assert "frames must have shape N x 8 x 8 x 1, not 2 x 8 x 7 x 1" in \
        _refusal(capsys, ["--input", str(frames), "--output", "o.npy"])
    assert "INPUT and OUTPUT go together" in _refusal(capsys, ["--input", str(frames)])
    assert "LIMIT must be a positive number of frames, not 0" in _refusal(capsys, ["--limit", "0"])
    assert "MAPPING must be one of pipeline, layers, not 'both'" in _refusal(capsys, ["--mapping", "both"])
    assert "CORES must have the form ROWSxCOLUMNS" in _refusal(capsys, ["--cores", "2x", "--limit", "1"])
    other = tmp_path / "other.tflite"
    other.write_bytes(run.DIGITS.read_bytes())
    assert "needs INPUT and OUTPUT" in _refusal(capsys, ["--model", str(other)])


def test_sim_wrong(capsys, monkeypatch):
    """The simulator that ``SIM`` names is checked before the model is compiled."""
    monkeypatch.setenv("SIM", "modelsim")
    assert _refusal(capsys, ["--limit", "1"]) == "error: SIM must be one of icarus, verilator, not 'modelsim'"


@pytest.mark.parametrize("mapping", [[], ["--mapping", "layers"], ["--mapping", "pipeline"]],
                         ids=["default", "layers", "pipeline"])
def test_batch_writes_litert_outputs(tmp_path, capsys, mapping):
    """Two random frames: by default the digits model on 2x2 runs with the mapping of fewer
    cycles a frame, the host's writes and reads counted; as a pipeline, the same outputs
    come out ``depth - 1`` runs later; layer by layer, a run a frame."""
    seed = seed_from_env()
    frames = np.random.default_rng(seed).integers(-128, 128, (2, *DIGITS.input_shape[1:])).astype(np.int8)
    source, sink = tmp_path / "frames.npy", tmp_path / "out.npy"
    np.save(source, frames)
    assert run.main(["--cores", "2x2", "--input", str(source), "--output", str(sink), *mapping]) == 0, \
        capsys.readouterr().err
    got = np.load(sink)
    expected = reference_outputs(run.DIGITS, frames)
    assert got.dtype == np.int8 and got.shape == expected.shape, (got.dtype, got.shape)
    assert np.array_equal(got, expected), f"SEED={seed}: array {got.tolist()}, LiteRT {expected.tolist()}"
    printed = capsys.readouterr().out
    network = run.unfold_stem(run.fuse_adds(DIGITS.network), CoreParams())
    compiled = {name: run.compile_for(network, ChipParams(rows=2, columns=2), name) for name in run.MAPPINGS}
    ran = mapping[1] if mapping else min(run.MAPPINGS, key=lambda name: step_cycles(compiled[name]))
    depth = compiled[ran].depth
    assert (depth > 1) == (ran == "pipeline")
    assert printed.count("cycles, measured") == 2 + depth - 1
    assert ("as a pipeline" in printed) == (ran == "pipeline")


def _frames(tmp_path, count=2):
    path = tmp_path / "frames.npy"
    np.save(path, np.zeros((count, *DIGITS.input_shape[1:]), np.int8))
    return path


def test_output_wrong(tmp_path, capsys):
    frames = _frames(tmp_path)
    (tmp_path / "file").write_text("")
    for output, message in [
            ("out", "error: OUTPUT must end in .npy, not 'out'"),
            (str(frames), f"error: OUTPUT must differ from INPUT, not {str(frames)!r}"),
            (str(tmp_path), f"error: OUTPUT must end in .npy, not {str(tmp_path)!r}"),
            (str(tmp_path / "dir.npy"), f"error: OUTPUT must name a file, not the directory "
                                        f"{str(tmp_path / 'dir.npy')!r}"),
            (str(tmp_path / "file" / "out.npy"), f"error: OUTPUT must lie in a directory, not under "
                                                 f"the file {str(tmp_path / 'file')!r}")]:
        (tmp_path / "dir.npy").mkdir(exist_ok=True)
        assert _refusal(capsys, ["--input", str(frames), "--output", output]) == message
    # A run that differs writes beside OUTPUT: never over the input frames either.
    kept = frames.rename(tmp_path / "out.mismatched.npy")
    output = tmp_path / "out.npy"
    assert _refusal(capsys, ["--input", str(kept), "--output", str(output)]) == \
        f"error: OUTPUT must differ from INPUT also as {kept.name} (where outputs that differ go), " \
        f"not {str(output)!r}"
    # Nor is it refused only after the run, when the outputs that differ cannot be kept.
    (tmp_path / "new.mismatched.npy").mkdir()
    output = tmp_path / "new.npy"
    assert _refusal(capsys, ["--input", str(kept), "--output", str(output)]) == \
        f"error: OUTPUT must have no directory beside it named new.mismatched.npy (where outputs that " \
        f"differ go), not {str(output)!r}"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only directories")
def test_output_read_only_wrong(tmp_path, capsys):
    frames = _frames(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    assert _refusal(capsys, ["--input", str(frames), "--output", str(locked / "out.npy")]) == \
        f"error: OUTPUT must lie in a writable directory, not {str(locked)!r} (Permission denied)"


def test_input_wrong(tmp_path, capsys):
    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    archive = tmp_path / "frames.npz"
    np.savez(archive, frames=np.zeros((2, 8, 8, 1), np.int8))
    output = str(tmp_path / "out.npy")
    for source, message in [
            (empty, f"error: INPUT {empty}: cannot be read as a .npy array (No data left in file)"),
            (archive, f"error: INPUT {archive}: must be one .npy array, not a .npz archive"),
            (_frames(tmp_path, 0), f"error: INPUT {tmp_path / 'frames.npy'}: must hold at least one "
                                   f"frame, not 0")]:
        assert _refusal(capsys, ["--input", str(source), "--output", output]) == message
    assert not (tmp_path / "out.npy").exists()


def test_differences_written_apart_from_output(tmp_path, capsys, monkeypatch):
    frames, output = _frames(tmp_path), tmp_path / "out.npy"
    got = np.arange(20, dtype=np.int8).reshape(2, 10)
    monkeypatch.setattr(run, "run", lambda *args: (got, ["frame 1 output[0, 3]: expected 5, got 6"]))
    assert run.main(["--input", str(frames), "--output", str(output)]) == 1
    mismatched = tmp_path / "out.mismatched.npy"
    assert capsys.readouterr().err.splitlines() == [
        "error: frame 1 output[0, 3]: expected 5, got 6",
        f"error: 1 differences from the golden model or the prediction; OUTPUT {output} not written, "
        f"the outputs that differ are in {mismatched}"]
    assert sorted(tmp_path.iterdir()) == sorted([frames, mismatched])
    assert np.array_equal(np.load(mismatched), got)


def test_save_outputs_atomic(tmp_path):
    path = tmp_path / "new" / "out.npy"
    run.save_outputs(path, np.arange(4, dtype=np.int8))
    run.save_outputs(path, np.arange(3, dtype=np.int8))
    assert np.load(path).tolist() == [0, 1, 2]
    assert list(path.parent.iterdir()) == [path]


def test_model_unreadable_wrong(tmp_path, capsys):
    missing = tmp_path / "missing.tflite"
    frames = _frames(tmp_path)
    assert _refusal(capsys, ["--model", str(missing), "--input", str(frames), "--output",
                             str(tmp_path / "out.npy")]) == \
        f"error: MODEL {str(missing)!r} cannot be read (No such file or directory)"


def test_internal_error_is_not_a_refusal(tmp_path, capsys, monkeypatch):
    """A bug inside the run (here a ValueError, the type a refusal derives from) keeps its
    traceback and is reported as an internal error, with its own exit status."""
    def broken(*args):
        raise ValueError("cannot reshape array of size 3 into shape (2,)")
    monkeypatch.setattr(run, "run", broken)
    frames = _frames(tmp_path)
    assert run.main(["--input", str(frames), "--output", str(tmp_path / "out.npy")]) == INTERNAL_ERROR
    err = capsys.readouterr().err
    assert "Traceback (most recent call last):" in err
    assert "ValueError: cannot reshape array of size 3 into shape (2,)" in err
    assert not any(line.startswith("error:") for line in err.splitlines()), err
    assert err.splitlines()[-1] == ("internal error: ValueError in gen.run (a bug, not a mistake in the "
                                    "request): please report it with the command line and the traceback "
                                    "above")
    assert not (tmp_path / "out.npy").exists()
