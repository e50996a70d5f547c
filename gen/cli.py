"""``npgen``: the generator's command line, one entry point for every tool.

Command line::

    npgen COMMAND [OPTIONS]     # npgen --help lists the commands; npgen COMMAND --help its options

Each command is one module's ``main``, given the rest of the arguments: ``npgen project
--model resnet18`` is ``python -m gen.project --model resnet18``. ``pip install .``
installs it, and the Makefile's targets run it (``make project`` is ``npgen project ...``).
"""

import importlib
import sys

from .extras import MissingExtraError, require

__all__ = ["COMMANDS", "main"]

#: Each command: the module whose ``main(argv)`` runs it, what it does, and the extras
#: (:data:`gen.extras.EXTRAS`) it needs whatever its options (a command needing one only
#: for some options checks it itself: ``project`` and ``sweep`` for ``plot``, ``sweep``
#: without ``--serial`` for ``sweep``).
COMMANDS = {
    "verilog": ("gen.verilog", "elaborate a ROWSxCOLUMNS array to Verilog", ()),
    "run": ("gen.run", "run an int8 .tflite model on the array's Verilog, frame by frame", ("sim",)),
    "project": ("gen.project", "compile a full-size network for NorthPole's chip and project it", ()),
    "sweep": ("gen.sweep", "project a model on every configuration of a grid, on Ray (make sweep)", ()),
    "bench": ("gen.bench", "measure the core, the array and the mesh (JSON and a table)", ("sim",)),
    "fpga": ("fpga.build", "build a scaled-down array for an FPGA board", ("fpga",)),
    "host": ("fpga.host.cli", "drive an array on a board through its UART bridge", ("fpga",)),
    "asm": ("gen.asm", "assemble or disassemble a core's program", ()),
    "import": ("gen.tflite", "import an int8 .tflite model and print its layer graph", ()),
}


def usage():
    width = max(map(len, COMMANDS))
    lines = ["usage: npgen COMMAND [OPTIONS]", "", "commands:"]
    lines += [f"  {name:<{width}}  {summary}" for name, (_, summary, _) in COMMANDS.items()]
    lines += ["", "npgen COMMAND --help shows the command's options and their defaults."]
    return "\n".join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"error: COMMAND must be one of {', '.join(COMMANDS)}, not {command!r}", file=sys.stderr)
        return 2
    module, _, extras = COMMANDS[command]
    try:
        for extra in extras:
            require(extra, f"npgen {command}")
    except MissingExtraError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return importlib.import_module(module).main(rest)


if __name__ == "__main__":
    sys.exit(main())
