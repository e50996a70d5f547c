"""The Makefile passes every variable to the Python side as one literal word.

``make -n`` prints the command a target would run (without running it or bootstrapping);
each value, however odd (a ``;``, spaces, quotes, ``$(...)``, empty, a leading ``-``), must
reach the command line as the value of its option, and the command must then refuse it in
one line naming the variable.
"""

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from gen import project, run, sweep, verilog

ROOT = Path(__file__).resolve().parents[1]
MAINS = {"gen.verilog": verilog.main, "gen.run": run.main, "gen.project": project.main,
         "gen.sweep": sweep.main}

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def command(target, *assignments):
    """The argument list ``make target assignments...`` would run for the target itself."""
    result = subprocess.run(["make", "-n", "-s", target, *assignments], cwd=ROOT, capture_output=True,
                            text=True, timeout=30, check=True)
    text = result.stdout.replace("\\\n", " ")
    (line,) = [line for line in text.splitlines() if " -m gen." in line or " -m fpga." in line]
    words = shlex.split(line)
    return words[words.index("-m") + 1:]


@pytest.mark.parametrize("target, assignment, option", [
    ("verilog", "CORES=2x2; touch pwned", "--cores=2x2; touch pwned"),
    ("verilog", "CORES=", "--cores="),
    ("verilog", "CORES=-1x4", "--cores=-1x4"),
    ("verilog", "LANES=8 $(shell echo hi)", "--lanes=8 $(shell echo hi)"),
    ("verilog", "PRESET=it's", "--preset=it's"),
    ("run", "OUTPUT=o'q; rm -rf x.npy", "--output=o'q; rm -rf x.npy"),
    ("project", "CLOCK_MHZ=400 `id`", "--clock-mhz=400 `id`"),
    ("project", "ENERGY=my figures'.json", "--energy=my figures'.json"),
    ("fpga", "BOARD=ulx3s' 'x", "--board=ulx3s' 'x"),
    ("sweep", "SWEEP=my grid's.toml", "--sweep=my grid's.toml"),
    ("sweep", "MODEL=a b.tflite", "--model=a b.tflite"),
])
def test_values_reach_the_command_literally(target, assignment, option):
    assert option in command(target, assignment)


@pytest.mark.parametrize("target, assignment, message", [
    ("verilog", "CORES=2x2; touch pwned", "CORES must have the form ROWSxCOLUMNS, such as 4x4, "
                                          "not '2x2; touch pwned'"),
    ("verilog", "CORES=", "CORES must have the form ROWSxCOLUMNS, such as 4x4, not ''"),
    ("verilog", "CORES=-1x4", "CORES must have the form ROWSxCOLUMNS, such as 4x4, not '-1x4'"),
    ("verilog", "LANES=8 $(shell echo hi)", "LANES must be a positive integer, not '8 $(shell echo hi)'"),
    ("run", "CORES=-1x4", "CORES must have the form ROWSxCOLUMNS, such as 4x4, not '-1x4'"),
    ("run", "PRESET=a b", "PRESET must be one of default, northpole, not 'a b'"),
    ("project", "CORES=", "CORES must have the form ROWSxCOLUMNS, such as 4x4, not ''"),
    ("project", "ENERGY=no such figures.json", "ENERGY no such figures.json: cannot be read "
                                               "(No such file or directory)"),
    ("sweep", "SWEEP=grid; rm x.yaml", "SWEEP must be a .toml or .json file, not 'grid; rm x.yaml'"),
])
def test_odd_values_refused_naming_the_variable(capsys, tmp_path, target, assignment, message):
    module, *argv = command(target, assignment)
    argv = [str(tmp_path / "out") if word == "build" else word for word in argv]
    assert MAINS[module](argv) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"error: {message}"]
