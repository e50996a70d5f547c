"""Command line of the host driver: ``python -m fpga.host`` (pyserial).

::

    python -m fpga.host --port /dev/ttyUSB0 [--baud 115200] [--board ulx3s] [--cores RxC]
        info | status | run LAYER [--bits 8|4|2] [--seed N] [--x X --y Y]

``run`` builds the scaled ResNet layer ``LAYER`` of :data:`sim.workloads.LAYERS` with
parameters from ``seed``, compiles it for the board's core (:func:`gen.compiler.compile_network`),
loads the image into core ``(x, y)``, writes the input, runs, reads the output and checks
every value against :mod:`sim.golden`; it exits 0 only when all match. Errors are one line
on standard error, exit status 2 for bad arguments (checked before the port is opened: a
positive ``--baud``, a finite positive ``--timeout``, a core ``(x, y)`` of the array), 1 for a
failed run or check, and for a port that cannot be opened (``error: --port '...' cannot be
opened as a serial port (reason)``). A bug of the driver itself is reported as an internal
error (:mod:`gen.entry`).
"""

import argparse
import math
import os
import sys

import numpy as np

from gen.entry import command
from hdl.params import parse_cores

__all__ = ["main"]


def _parser():
    from fpga.boards import BOARDS
    from sim.workloads import LAYERS
    parser = argparse.ArgumentParser(prog="python -m fpga.host", description=__doc__.split("\n")[0])
    parser.add_argument("--port", required=True, help="serial port of the board (e.g. /dev/ttyUSB0)")
    parser.add_argument("--baud", type=int, default=115200)
    parser.add_argument("--board", default="ulx3s", choices=sorted(BOARDS))
    parser.add_argument("--cores", help="array size of the bitstream, ROWSxCOLUMNS (default: the board's)")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for a reply byte")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("info", help="the array's shape and the protocol version")
    commands.add_parser("status", help="busy/done/conflict/overrun and the last run's cycles")
    run = commands.add_parser("run", help="load, run and check one layer")
    run.add_argument("layer", choices=sorted(LAYERS))
    run.add_argument("--bits", type=int, default=8, choices=(8, 4, 2))
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--x", type=int, default=0)
    run.add_argument("--y", type=int, default=0)
    return parser


@command
def main(argv=None):
    args = _parser().parse_args(argv)
    import serial

    from fpga.boards import BOARDS
    from fpga.host.interface import ArrayInterface
    from fpga.host.protocol import ProtocolError

    try:
        params = BOARDS[args.board].params(parse_cores(args.cores) if args.cores else None)
        _check(args, params)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        port = serial.Serial(args.port, args.baud, timeout=args.timeout)
    except (serial.SerialException, OSError, ValueError) as error:
        print(f"error: --port {args.port!r} cannot be opened as a serial port ({_reason(error)})",
              file=sys.stderr)
        return 1
    try:
        with port:
            interface = ArrayInterface(port, params)
            if args.command == "info":
                print("rows {}, columns {}, lanes {}, MAC columns {}, protocol {}".format(*interface.info()))
            elif args.command == "status":
                print(interface.status())
            else:
                return _run(interface, params, args)
    except (serial.SerialException, ProtocolError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _reason(error):
    """Why pyserial could not open a port, without its repetition of the port's name: the
    operating system's reason (``No such file or directory``) when it gives one."""
    number = getattr(error, "errno", None)
    return os.strerror(number) if isinstance(number, int) and number > 0 else str(error)


def _check(args, params):
    """Refuse the arguments the port or the array cannot take, in one line."""
    if args.baud < 1:
        raise ValueError(f"--baud must be a positive integer, not {args.baud}")
    if not (math.isfinite(args.timeout) and args.timeout > 0):
        raise ValueError(f"--timeout must be a finite positive number of seconds, not {args.timeout}")
    if args.command == "run":
        for name, value, size in (("--x", args.x, params.columns), ("--y", args.y, params.rows)):
            if not 0 <= value < size:
                raise ValueError(f"{name} must lie in [0, {size - 1}] on the {params.rows}x"
                                 f"{params.columns} array, not {value}")


def _run(interface, params, args):
    from gen.compiler import compile_network
    from sim.workloads import LAYERS, build

    interface.check()
    network, frame = build(LAYERS[args.layer], args.bits, args.seed)
    compiled = compile_network(network, params.core)
    print(f"{args.layer} int{args.bits} seed {args.seed}: {len(compiled.load_words())} words to load, "
          f"{compiled.predicted_cycles} cycles predicted", flush=True)
    outputs, status = interface.run_compiled(compiled, frame, args.x, args.y)
    expected = network.golden(frame)
    failed = False
    for name, want in expected.items():
        wrong = int(np.count_nonzero(np.asarray(outputs[name]) != np.asarray(want)))
        print(f"{name}: {wrong} of {np.asarray(want).size} values differ from sim.golden")
        failed |= wrong > 0
    print(f"ran {status.cycles} cycles (predicted {compiled.predicted_cycles}), flags {status.flags!r}")
    return 1 if failed or status.cycles != compiled.predicted_cycles else 0
