"""``python -m fpga.host`` refuses bad arguments in one line, before it opens the port."""

import pytest

from fpga.host.cli import main
from gen.entry import INTERNAL_ERROR


@pytest.mark.parametrize("argv, message", [
    (["--baud", "-9600", "info"], "--baud must be a positive integer, not -9600"),
    (["--baud", "0", "info"], "--baud must be a positive integer, not 0"),
    (["--timeout", "-1", "status"], "--timeout must be a finite positive number of seconds, not -1.0"),
    (["--timeout", "nan", "status"], "--timeout must be a finite positive number of seconds, not nan"),
    (["run", "conv_3x3_s1", "--x", "300"], "--x must lie in [0, 0] on the 1x1 array, not 300"),
    (["--cores", "1x3", "run", "conv_3x3_s1", "--x", "3"], "--x must lie in [0, 2] on the 1x3 array, not 3"),
    (["run", "conv_3x3_s1", "--y", "-4"], "--y must lie in [0, 0] on the 1x1 array, not -4"),
])
def test_arguments_wrong(tmp_path, capsys, argv, message):
    port = tmp_path / "no-such-port"        # never opened: the arguments are refused first
    assert main(["--port", str(port), "--board", "ulx3s", *argv]) == 2
    assert capsys.readouterr().err == f"error: {message}\n"


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
