"""``npgen``: the one command line dispatches to each tool's own ``main``."""

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gen import cli


def test_help_lists_every_command(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in cli.COMMANDS:
        assert f"\n  {command} " in out, command


@pytest.mark.parametrize("command", list(cli.COMMANDS))
def test_each_command_is_a_main(command):
    module, *_ = cli.COMMANDS[command]
    assert callable(importlib.import_module(module).main)


def test_command_gets_the_rest_of_the_arguments(capsys):
    # The project's own help, with its own options, shows npgen handed it the arguments.
    with pytest.raises(SystemExit) as exit:
        cli.main(["project", "--help"])
    assert exit.value.code == 0
    assert "--clock-mhz" in capsys.readouterr().out


def test_no_command_wrong(capsys):
    assert cli.main([]) == 2
    assert capsys.readouterr().out.startswith("usage: npgen COMMAND")


def test_command_wrong(capsys):
    assert cli.main(["synthesize"]) == 2
    message = f"error: COMMAND must be one of {', '.join(cli.COMMANDS)}, not 'synthesize'"
    assert capsys.readouterr().err.strip() == message


def test_installed_script_runs():
    script = Path(sys.executable).parent / "npgen"
    if not script.exists():
        script = shutil.which("npgen")
    assert script, "npgen is not installed beside the interpreter: pip install -e ."
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "project" in result.stdout
