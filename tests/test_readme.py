"""Every command the README shows still works as shown, so that the README cannot rot.

The README's code blocks hold three kinds of text, each checked without the long work:

- ``make TARGET VAR=value ...``: the target exists, and ``make -n`` (which runs nothing)
  passes every variable to the command as its option, ``--var=value``;
- ``.venv/bin/python -m pytest ...``: pytest collects the command's tests with its
  environment and ``-k`` selection, and selects at least one;
- the example sweep file: a grid that ``make sweep`` loads, every point an array that
  ``make verilog`` accepts;

and its one ``python`` block, the Python API example (import a model, compile it onto a
2x2 array, project it and elaborate the array's Verilog), runs as written in a fresh
interpreter, in a directory of its own holding the README's ``models/``, so that its
relative paths are the README's and its output lands in the test's directory.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib

import pytest

from gen.sweep import grid
from tests.test_makefile import ROOT, command

README = ROOT / "README.md"
#: Code blocks: ``(language, text)``.
BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```", README.read_text(), re.MULTILINE | re.DOTALL)


def _commands(program):
    """``(environment, words)`` of each shell line of the README that runs ``program``."""
    found = []
    for language, text in BLOCKS:
        if language not in ("", "sh"):
            continue
        for line in text.splitlines():
            words = shlex.split(line, comments=True)
            environment = {}
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
                name, value = words.pop(0).split("=", 1)
                environment[name] = value
            if words and words[0] == program:
                found.append((environment, words[1:]))
    return found


MAKE = _commands("make")
PYTEST = _commands(".venv/bin/python")


def test_the_readme_shows_commands():
    assert len(MAKE) >= 8 and len(PYTEST) >= 4, (MAKE, PYTEST)


def _targets():
    phony = re.search(r"^\.PHONY:(.*)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    return phony.group(1).split()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("environment, words", MAKE, ids=[" ".join(words) for _, words in MAKE])
def test_make_command(environment, words):
    target, *assignments = words
    assert target in _targets(), f"the README's make {target}: no such target"
    if target == "test":
        result = subprocess.run(["make", "-n", "-s", "test"], cwd=ROOT, capture_output=True, text=True,
                                timeout=30, check=True)
        assert " -m pytest " in result.stdout
        return
    argv = command(target, *assignments)
    for assignment in assignments:
        name, value = assignment.split("=", 1)
        option = f"--{name.lower().replace('_', '-')}"
        # A flag (SERIAL=1) is passed as the bare option; a value as --name=value.
        assert f"{option}={value}" in argv or option in argv, (assignment, argv)


@pytest.mark.parametrize("environment, words", PYTEST, ids=[" ".join(words) for _, words in PYTEST])
def test_pytest_command_selects_tests(environment, words):
    assert words[:2] == ["-m", "pytest"], words
    result = subprocess.run([sys.executable, *words, "--collect-only", "-q", "-p", "no:cacheprovider"],
                            cwd=ROOT, env={**os.environ, **environment}, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    selected = re.search(r"^(\d+)(?:/\d+)? tests? (?:collected|selected)", result.stdout, re.MULTILINE)
    assert selected and int(selected.group(1)) > 0, result.stdout[-2000:]


def test_sweep_example_loads(tmp_path):
    (text,) = [text for language, text in BLOCKS if language == "toml"]
    path = tmp_path / "example.toml"
    path.write_text(text)
    assert tomllib.loads(text)
    points = grid.points(grid.load_grid(path))
    assert points
    for point in points:
        grid.chip(point)


def test_readme_example_runs(tmp_path):
    (example,) = [text for language, text in BLOCKS if language == "python"]
    (tmp_path / "models").symlink_to(ROOT / "models")
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", example], cwd=tmp_path, env=environment,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    cycles, figures = result.stdout.splitlines()
    assert re.fullmatch(r"[\d,]+ cycles a frame", cycles)
    assert re.fullmatch(r"[\d,]+ frames/s, [\d.]+ uJ a frame", figures)
    verilog = tmp_path / "build" / "api" / "chip_2x2.v"
    assert "module np_chip" in verilog.read_text()
    assert (tmp_path / "build" / "api" / "chip_2x2.json").is_file()
