"""``python -m fpga.host`` refuses bad arguments in one line, before it opens the port."""

from pathlib import Path

import numpy as np
import pytest

from fpga.boards import BOARDS
from fpga.host.cli import main
from fpga.host.protocol import CYCLES_BYTES, VERSION, Flag, Frames, Op, Status
from gen.entry import INTERNAL_ERROR
from gen.run import compile_model
from gen.tflite import import_tflite


@pytest.mark.parametrize("argv, message", [
    (["--baud", "-9600", "info"], "--baud must be a positive integer, not -9600"),
    (["--baud", "0", "info"], "--baud must be a positive integer, not 0"),
    (["--timeout", "-1", "status"], "--timeout must be a finite positive number of seconds, not -1.0"),
    (["--timeout", "nan", "status"], "--timeout must be a finite positive number of seconds, not nan"),
    (["run", "conv_3x3_s1", "--x", "300"], "--x must lie in [0, 0] on the 1x1 array, not 300"),
    (["--cores", "1x3", "run", "conv_3x3_s1", "--x", "3"], "--x must lie in [0, 2] on the 1x3 array, not 3"),
    (["run", "conv_3x3_s1", "--y", "-4"], "--y must lie in [0, 0] on the 1x1 array, not -4"),
    (["--cores", "", "info"], "CORES must have the form ROWSxCOLUMNS, such as 4x4, not ''"),
    # The ULX3S's MAC array multiplies at int8 only: refused before the port is opened.
    (["run", "conv_3x3_s1", "--bits", "4"], "MAC at int4: the core's MAC array multiplies at int8 only"),
])
def test_arguments_wrong(tmp_path, capsys, argv, message):
    port = tmp_path / "no-such-port"        # never opened: the arguments are refused first
    assert main(["--port", str(port), "--board", "ulx3s", *argv]) == 2
    assert capsys.readouterr().err == f"error: {message}\n"


VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "import"


def _frames(tmp_path, shape=(2, 4, 4, 8), dtype=np.int8):
    path = tmp_path / "frames.npy"
    np.save(path, np.zeros(shape, dtype))
    return path


#: ``run-model``'s refusals: model, frames' shape and dtype, OUTPUT (in the test's directory),
#: options, and the message (``{model}``, ``{frames}``, ``{output}``: the paths given).
RUN_MODEL_WRONG = {
    "limit": ("reshape_fc", (2, 1, 1, 8), np.int8, "out.npy", ["--limit", "0"],
              "--limit must be a positive number of frames, not 0"),
    "output-suffix": ("reshape_fc", (2, 1, 1, 8), np.int8, "out", [],
                      "OUTPUT must end in .npy, not {output!r}"),
    "output-is-input": ("reshape_fc", (2, 1, 1, 8), np.int8, "frames.npy", [],
                        "OUTPUT must differ from INPUT, not {output!r}"),
    "model-missing": ("missing", (2, 1, 1, 8), np.int8, "out.npy", [],
                      "MODEL {model!r} cannot be read (No such file or directory)"),
    "input-dtype": ("reshape_fc", (2, 1, 1, 8), np.int16, "out.npy", [],
                    "INPUT {frames}: frames must be int8, not int16"),
    "input-shape": ("reshape_fc", (2, 1, 2, 8), np.int8, "out.npy", [],
                    "INPUT {frames}: frames must have shape N x 1 x 1 x 8, not 2 x 1 x 2 x 8"),
    "input-empty": ("reshape_fc", (0, 1, 1, 8), np.int8, "out.npy", [],
                    "INPUT {frames}: must hold at least one frame, not 0"),
    "unsupported-operator": ("softmax_inside", (2, 4, 4, 8), np.int8, "out.npy", [],
                             "node 2 SOFTMAX (tensor 'functional_7_1/dense_3_1/Softmax'): operator not "
                             "supported; supported: ADD, AVERAGE_POOL_2D, CONV_2D, DEQUANTIZE, "
                             "FULLY_CONNECTED, MAX_POOL_2D, MEAN, PAD, QUANTIZE, RESHAPE"),
    "unsupported-layer": ("average_pool", (2, 4, 4, 8), np.int8, "out.npy", [],
                          "the model cannot run on the array, whatever its size: global pool "
                          "average_pool_2d_1: the AVGPOOL instruction requantizes as MEAN does; "
                          "AVERAGE_POOL_2D's rounding (kind 'average_pool') is not implemented"),
}


@pytest.mark.parametrize("case", RUN_MODEL_WRONG)
def test_run_model_arguments_wrong(tmp_path, capsys, case):
    """``run-model``'s files and model are refused as ``make run`` refuses them, in one line
    with exit status 2, before the port is opened and without writing anything."""
    name, shape, dtype, output, options, message = RUN_MODEL_WRONG[case]
    model, frames = str(VECTORS / f"{name}.tflite"), str(_frames(tmp_path, shape, dtype))
    output = str(tmp_path / output)
    before = sorted(tmp_path.iterdir())
    argv = ["--port", str(tmp_path / "no-such-port"), "--board", "icebreaker", "run-model", model, frames,
            output, *options]
    assert main(argv) == 2
    assert capsys.readouterr().err == f"error: {message.format(model=model, frames=frames, output=output)}\n"
    assert sorted(tmp_path.iterdir()) == before


def test_run_model_malformed_wrong(tmp_path, capsys):
    model = tmp_path / "model.tflite"
    model.write_bytes(b"TFL3")
    argv = ["--port", str(tmp_path / "no-such-port"), "run-model", str(model), str(_frames(tmp_path)),
            str(tmp_path / "out.npy")]
    assert main(argv) == 2
    assert capsys.readouterr().err == (f"error: {model}: not a TFLite flatbuffer: the file's 4 bytes are too "
                                       f"few for a root offset and an identifier\n")


def _not_a_tty(tmp_path):
    path = tmp_path / "plain-file"
    path.write_text("")
    return path


@pytest.mark.parametrize("port, reason", [
    (lambda tmp_path: tmp_path / "no-such-port", "No such file or directory"),
    (lambda tmp_path: tmp_path, "Is a directory"),
    (_not_a_tty, "Could not configure port: (25, 'Inappropriate ioctl for device')"),
    (lambda tmp_path: "", "No such file or directory"),
], ids=["missing", "directory", "not-a-tty", "empty"])
def test_port_unopenable_wrong(tmp_path, capsys, port, reason):
    """A port that cannot be opened: exit 1, one line naming --port and its value."""
    value = str(port(tmp_path))
    assert main(["--port", value, "info"]) == 1
    assert capsys.readouterr().err == \
        f"error: --port {value!r} cannot be opened as a serial port ({reason})\n"


def test_internal_error_is_not_a_refusal(tmp_path, capsys, monkeypatch):
    """A bug after the port is open keeps its traceback and its own exit status."""
    import serial

    class Port:
        def __init__(self, *args, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def broken(self, port, params):
        raise IndexError("list index out of range")
    monkeypatch.setattr(serial, "Serial", Port)
    monkeypatch.setattr("fpga.host.interface.ArrayInterface.__init__", broken)
    assert main(["--port", str(tmp_path / "port"), "info"]) == INTERNAL_ERROR
    err = capsys.readouterr().err
    assert "Traceback (most recent call last):" in err and "IndexError: list index out of range" in err
    assert not any(line.startswith("error:") for line in err.splitlines()), err
    assert err.splitlines()[-1].startswith("internal error: IndexError in fpga.host.cli (a bug")


class SilentArray:
    """A bridge that answers every request OK and computes nothing: INFO gives ``params``'
    shape, READ a zero word, STATUS a finished run of ``cycles``."""

    def __init__(self, params, cycles):
        self.frames, self.params, self.cycles = Frames(params), params, cycles
        self.pending = b""

    def write(self, data):
        op = data[1]
        mac = self.params.core.mac
        body = {Op.INFO: bytes([self.params.rows, self.params.columns, mac.lanes, mac.columns, VERSION]),
                Op.READ: bytes(self.frames.word_bytes),
                Op.STATUS: bytes([Flag.DONE]) + self.cycles.to_bytes(CYCLES_BYTES, "little")}.get(op, b"")
        self.pending += self.frames.reply(Status.OK, op, body)

    def read(self, count):
        data, self.pending = self.pending[:count], self.pending[count:]
        return data


def test_run_model_differences_exit_1(tmp_path, capsys):
    """Outputs and cycles that differ: exit 1, every difference named, OUTPUT not written and
    what the array gave beside it."""
    model = VECTORS / "reshape_fc.tflite"
    params = BOARDS["icebreaker"].params()
    predicted = compile_model(import_tflite(model), params).predicted_cycles
    frames = tmp_path / "frames.npy"
    np.save(frames, np.random.default_rng(0).integers(-128, 128, (2, 1, 1, 8)).astype(np.int8))
    output, mismatched = tmp_path / "out.npy", tmp_path / "out.mismatched.npy"
    argv = ["--port", "simulated", "--board", "icebreaker", "run-model", str(model), str(frames), str(output)]
    assert main(argv, transport=SilentArray(params, predicted + 1)) == 1
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert lines[0] == f"error: run 0: measured {predicted + 1} cycles, predicted {predicted}"
    assert any(line.startswith("error: frame 1 output[0, ") and line.endswith(", got 0") for line in lines)
    assert lines[-1].startswith("error: ") and lines[-1].endswith(
        f"differences from the golden model or the prediction; OUTPUT {output} not written, the outputs "
        f"that differ are in {mismatched}")
    assert f"measured {predicted + 1}  DIFFERS" in captured.out
    assert sorted(tmp_path.iterdir()) == [frames, mismatched]
    assert not np.load(mismatched).any()
