"""The Makefile runs every tool through ``npgen`` and passes every variable to it as one
literal word.

``make -n`` prints the command a target would run (without running it or bootstrapping);
it must be the environment's ``npgen`` with the target's command, each value, however odd
(a ``;``, spaces, quotes, ``$(...)``, empty, a leading ``-``), reaching it as the value of
its option, and ``npgen`` must then refuse it in one line naming the variable.
"""

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from fpga.boards import BOARDS
from gen import cli

ROOT = Path(__file__).resolve().parents[1]
NPGEN = ".venv/bin/npgen"

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def command(target, *assignments):
    """The arguments of ``npgen`` (its command first) in the one line ``make target
    assignments...`` would run it with."""
    # pytest exports COLUMNS, the terminal's width, which make would take for the MAC columns.
    environment = {name: value for name, value in os.environ.items() if name != "COLUMNS"}
    result = subprocess.run(["make", "-n", "-s", target, *assignments], cwd=ROOT, env=environment,
                            capture_output=True, text=True, timeout=30, check=True)
    text = result.stdout.replace("\\\n", " ")
    (line,) = [line for line in text.splitlines() if NPGEN in line]
    words = shlex.split(line)
    return words[words.index(NPGEN) + 1:]


@pytest.mark.parametrize("target, expected", [
    ("verilog", ["verilog", "--cores=4x4", "--preset=default", "--out", "build"]),
    ("run", ["run", "--cores=4x4", "--preset=default"]),
    ("project", ["project", "--out", "build/report"]),
    ("bench", ["bench", "--out", "build/bench"]),
    ("sweep", ["sweep", "--sweep=sweeps/resnet18.toml", "--out", "build/sweep"]),
    ("fpga", ["fpga", "--board=ulx3s", "--out", "build/fpga"]),
])
def test_targets_run_npgen(target, expected):
    assignments = ["BOARD=ulx3s"] if target == "fpga" else []
    assert command(target, *assignments) == expected
    assert expected[0] in cli.COMMANDS


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
    ("sweep", "ENERGY=my figures'.json", "--energy=my figures'.json"),
])
def test_values_reach_the_command_literally(target, assignment, option):
    assert option in command(target, assignment)


@pytest.mark.parametrize("target, assignment, message", [
    ("verilog", "CORES=2x2; touch pwned", "CORES must have the form ROWSxCOLUMNS, such as 4x4, "
                                          "not '2x2; touch pwned'"),
    ("verilog", "CORES=", "CORES must have the form ROWSxCOLUMNS, such as 4x4, not ''"),
    ("verilog", "CORES=-1x4", "CORES must have the form ROWSxCOLUMNS, such as 4x4, not '-1x4'"),
    ("verilog", "LANES=8 $(shell echo hi)", "LANES must be a positive integer, not '8 $(shell echo hi)'"),
    ("verilog", "LANES=", "LANES must be a positive integer, not ''"),
    ("run", "CORES=-1x4", "CORES must have the form ROWSxCOLUMNS, such as 4x4, not '-1x4'"),
    ("run", "PRESET=a b", "PRESET must be one of default, northpole, not 'a b'"),
    ("project", "CORES=", "CORES must have the form ROWSxCOLUMNS, such as 4x4, not ''"),
    ("project", "ENERGY=no such figures.json", "ENERGY no such figures.json: cannot be read "
                                               "(No such file or directory)"),
    ("sweep", "SWEEP=grid; rm x.yaml", "SWEEP must be a .toml or .json file, not 'grid; rm x.yaml'"),
    ("sweep", "ENERGY=no such figures.json", "ENERGY no such figures.json: cannot be read "
                                             "(No such file or directory)"),
])
def test_odd_values_refused_naming_the_variable(capsys, tmp_path, target, assignment, message):
    argv = [str(tmp_path / "out") if word == "build" else word for word in command(target, assignment)]
    assert cli.main(argv) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"error: {message}"]


@pytest.mark.parametrize("assignment, message", [
    ("LANES=0", "LANES must be a power of two from 4 to 128, not 0"),
    ("CORES=", "CORES must have the form ROWSxCOLUMNS, such as 4x4, not ''"),
    ("COLUMNS=0", "COLUMNS must be a power of two from 2 to 128, not 0"),
    # Six cores at the per-core figures measured on the board's 2x2 build.
    ("CORES=2x3", f"ulx3s: a 2x3 array of 4x4-MAC cores does not fit: it needs an estimated "
                  f"{6 * BOARDS['ulx3s'].per_core['luts']} luts (the ulx3s has 83640), "
                  f"168 dsps (the ulx3s has 156)"),
])
def test_fpga_bad_size_refused_before_synthesis(capsys, tmp_path, monkeypatch, assignment, message):
    """``make fpga BOARD=ulx3s LANES=0`` passes ``--lanes=0`` on, and it is refused in one line
    naming the value and its limit before anything is elaborated (not built at the default)."""
    argv = command("fpga", "BOARD=ulx3s", assignment)
    name, value = assignment.split("=")
    assert f"--{name.lower()}={value}" in argv
    monkeypatch.setattr("fpga.build.prepare", lambda *args, **kwargs: pytest.fail("synthesis started"))
    argv = [str(tmp_path / "out") if word == "build/fpga" else word for word in argv]
    assert cli.main(argv) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"error: {message}"]
    assert not (tmp_path / "out").exists()
