"""The README's Python example runs as written: import a model, compile it onto a 2x2 array,
project it and elaborate the array's Verilog.

The example is the README's one ``python`` code block, run by a fresh interpreter in a
directory of its own (holding the README's ``models/``), so that its relative paths are the
README's and its output lands in the test's directory.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def python_example():
    """The text of the README's one ``python`` code block."""
    text = (ROOT / "README.md").read_text()
    (block,) = re.findall(r"^```python\n(.*?)^```$", text, re.DOTALL | re.MULTILINE)
    return block


def test_readme_example_runs(tmp_path):
    (tmp_path / "models").symlink_to(ROOT / "models")
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", python_example()], cwd=tmp_path, env=environment,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    cycles, figures = result.stdout.splitlines()
    assert re.fullmatch(r"[\d,]+ cycles a frame", cycles)
    assert re.fullmatch(r"[\d,]+ frames/s, [\d.]+ uJ a frame", figures)
    verilog = tmp_path / "build" / "api" / "chip_2x2.v"
    assert "module np_chip" in verilog.read_text()
    assert (tmp_path / "build" / "api" / "chip_2x2.json").is_file()
