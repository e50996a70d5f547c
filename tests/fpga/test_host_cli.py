"""``python -m fpga.host`` refuses bad arguments in one line, before it opens the port."""

import pytest

from fpga.host.cli import main


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
