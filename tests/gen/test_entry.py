"""A bug inside a command line is reported as the generator's own, never as a refusal of the
request: its traceback, one ``internal error:`` line and :data:`gen.entry.INTERNAL_ERROR`."""

import importlib
import io

import pytest

from gen import project, verilog
from gen.entry import INTERNAL_ERROR, command
from tests.test_makefile import ROOT

INTERNAL_LINE = ("internal error: {kind} in {module} (a bug, not a mistake in the request): please report "
                 "it with the command line and the traceback above")


def _internal(capsys, kind, module):
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert "Traceback (most recent call last):" in err
    assert not any(line.startswith("error:") for line in lines), err
    assert lines[-1] == INTERNAL_LINE.format(kind=kind, module=module)
    return err


def test_command_passes_results_and_exits_through():
    assert command(lambda argv=None: 7)() == 7

    @command
    def refuses(argv=None):
        raise SystemExit(2)          # argparse's refusal of an unknown option
    with pytest.raises(SystemExit):
        refuses([])


def test_verilog_internal_error(tmp_path, capsys, monkeypatch):
    def broken(*args):
        raise ValueError("Signal width mismatch")        # the type the request's refusals use
    monkeypatch.setattr(verilog, "elaborate", broken)
    assert verilog.main(["--cores", "1x1", "--out", str(tmp_path)]) == INTERNAL_ERROR
    assert "ValueError: Signal width mismatch" in _internal(capsys, "ValueError", "gen.verilog")


def test_verilog_refusal_stays_one_line(tmp_path, capsys):
    assert verilog.main(["--cores", "0x1", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == "error: CORES must be between 1x1 and 32x32, not '0x1'\n"


def test_project_internal_error(tmp_path, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("conv1")
    monkeypatch.setattr(project, "project", broken)
    assert project.main(["--model", "resnet18", "--out", str(tmp_path)]) == INTERNAL_ERROR
    assert "KeyError: 'conv1'" in _internal(capsys, "KeyError", "gen.project")


def _broken(*args, **kwargs):
    raise KeyError("conv1")


@pytest.mark.parametrize("module, name, argv", [
    ("gen.tflite", "import_tflite", ["models/digits_resnet.tflite"]),
    ("gen.asm", "assemble_words", ["asm", "-"]),
    ("gen.bench", "check_output_directory", ["--out", "{tmp}"]),
    ("gen.sweep.cli", "_check", ["--sweep", "sweeps/resnet18.toml", "--out", "{tmp}"]),
    ("fpga.build", "request", ["--board", "ulx3s", "--out", "{tmp}"]),
])
def test_every_command_reports_a_bug_as_internal(tmp_path, capsys, monkeypatch, module, name, argv):
    """Every other command line reports a bug as verilog and project do, never with the exit
    status of a refusal (1 for gen.tflite and gen.asm, 2 for the others)."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr("sys.stdin", io.StringIO("halt int8\n"))
    loaded = importlib.import_module(module)
    monkeypatch.setattr(loaded, name, _broken)
    assert loaded.main([word.format(tmp=tmp_path) for word in argv]) == INTERNAL_ERROR
    assert "KeyError: 'conv1'" in _internal(capsys, "KeyError", module)
