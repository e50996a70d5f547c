"""Checks of the paths a command will write, made before it does any work.

A command that elaborates, compiles or simulates for minutes checks where its results go
first, so that a bad path is refused in one line (naming the option, the rule and the
path) instead of failing with a traceback after the work is done.
"""

import tempfile
from pathlib import Path

__all__ = ["check_output_file", "check_output_directory"]


def _check_writable(name, path):
    """The nearest existing ancestor of ``path`` (the directory it will be created in) must be
    a directory where a file can be created."""
    directory = Path(path).resolve()
    while not directory.exists():
        directory = directory.parent
    if not directory.is_dir():
        raise ValueError(f"{name} must lie in a directory, not under the file {str(directory)!r}")
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as error:
        raise ValueError(f"{name} must lie in a writable directory, not {str(directory)!r} "
                         f"({error.strerror})") from None


def check_output_file(name, path, suffix):
    """Refuse the file ``path`` given as option ``name`` unless it ends in ``suffix``, is not
    a directory and lies in (or below) a writable directory."""
    path = Path(path)
    if path.suffix != suffix:
        raise ValueError(f"{name} must end in {suffix}, not {str(path)!r}")
    if path.is_dir():
        raise ValueError(f"{name} must name a file, not the directory {str(path)!r}")
    _check_writable(name, path.parent)


def check_output_directory(name, path):
    """Refuse the directory ``path`` given as option ``name`` unless it is a directory or can
    be created as one, in (or below) a writable directory."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{name} must name a directory, not the file {str(path)!r}")
    _check_writable(name, path)
