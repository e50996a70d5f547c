"""Command line of the host driver: ``python -m fpga.host`` (pyserial).

::

    python -m fpga.host --port /dev/ttyUSB0 [--baud 115200] [--board ulx3s] [--cores RxC]
        info | status | run LAYER [--bits 8|4|2] [--seed N] [--x X --y Y]
        | run-model MODEL INPUT OUTPUT [--limit N]

``run`` builds the scaled ResNet layer ``LAYER`` of :data:`sim.workloads.LAYERS` with
parameters from ``seed``, compiles it for the board's core (:func:`gen.compiler.compile_network`),
loads the image into core ``(x, y)``, writes the input, runs, reads the output and checks
every value against :mod:`sim.golden`; it exits 0 only when all match.

``run-model`` runs a whole int8 ``.tflite`` model as ``make run`` does (:mod:`gen.run`), on
the board's array instead of the simulated Verilog: it imports ``MODEL``, compiles it for
the array of ``--board`` and ``--cores`` with ``make run``'s choice of mapping
(:func:`gen.run.compile_model`), loads it once, then for each frame of ``INPUT`` (int8, N x
the model's input shape; the first ``--limit`` only) writes the input, runs, reads the
output (:meth:`~fpga.host.interface.ArrayInterface.run_frames`; a pipeline's outputs come
``depth - 1`` runs later, zero frames pushing the last ones through), and checks every
output value against the golden model and every run's cycles against the compiler's
prediction (:func:`gen.run.check_runs`). ``OUTPUT`` (a ``.npy`` file) is written, atomically,
only when every frame matches; otherwise what the array computed goes to ``<OUTPUT
stem>.mismatched.npy`` and the command exits 1 (:func:`gen.run.conclude`). The model, the
frames and ``OUTPUT`` are checked, and the model compiled, before the port is opened: a
model the array cannot hold is refused with what a core needs against what it has.

Errors are one line on standard error, exit status 2 for bad arguments (checked before the
port is opened: a positive ``--baud``, a finite positive ``--timeout``, a core ``(x, y)`` of
the array, a positive ``--limit``, and ``run-model``'s files and model), 1 for a failed run or
check, and for a port that cannot be opened (``error: --port '...' cannot be opened as a
serial port (reason)``). A bug of the driver itself is reported as an internal error
(:mod:`gen.entry`).
"""

import argparse
import contextlib
import math
import os
import sys
from pathlib import Path

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
    model = commands.add_parser("run-model", help="load a .tflite model, run it on every frame of INPUT, "
                                                  "check the outputs and write them to OUTPUT")
    model.add_argument("model", type=Path, metavar="MODEL", help="int8 .tflite model")
    model.add_argument("input", type=Path, metavar="INPUT", help="int8 frames N x H x W x C (.npy)")
    model.add_argument("output", type=Path, metavar="OUTPUT", help="where the int8 outputs go (.npy)")
    model.add_argument("--limit", type=int, help="run only the first LIMIT frames")
    return parser


@command
def main(argv=None, transport=None):
    """The command line; ``transport`` (``write``/``read`` as pyserial's) is used instead of
    opening ``--port`` when given (a simulated UART)."""
    args = _parser().parse_args(argv)
    import serial

    from fpga.boards import BOARDS
    from fpga.host.interface import ArrayInterface
    from fpga.host.protocol import ProtocolError
    from gen.compiler import CompileError
    from gen.run import RunError
    from gen.tflite import ModelImportError

    try:
        params = BOARDS[args.board].params(parse_cores(args.cores) if args.cores is not None else None)
        _check(args, params)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        prepare = {"run-model": _prepare_model, "run": _prepare_layer}.get(args.command)
        model = prepare(args, params) if prepare else None
    except (RunError, ModelImportError, CompileError) as error:     # anything else is a bug (gen.entry)
        print(f"error: {error}", file=sys.stderr)
        return 2
    if transport is None:
        try:
            port = serial.Serial(args.port, args.baud, timeout=args.timeout)
        except (serial.SerialException, OSError, ValueError) as error:
            print(f"error: --port {args.port!r} cannot be opened as a serial port ({_reason(error)})",
                  file=sys.stderr)
            return 1
    else:
        port = contextlib.nullcontext(transport)
    try:
        with port as opened:
            interface = ArrayInterface(opened, params)
            if args.command == "info":
                print("rows {}, columns {}, lanes {}, MAC columns {}, protocol {}".format(*interface.info()))
            elif args.command == "status":
                print(interface.status())
            elif args.command == "run":
                return _run(interface, args, *model)
            else:
                return _run_model(interface, params, args, *model)
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
    if args.command == "run-model" and args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be a positive number of frames, not {args.limit}")
    if args.command == "run":
        for name, value, size in (("--x", args.x, params.columns), ("--y", args.y, params.rows)):
            if not 0 <= value < size:
                raise ValueError(f"{name} must lie in [0, {size - 1}] on the {params.rows}x"
                                 f"{params.columns} array, not {value}")


def _prepare_layer(args, params):
    """``run``'s layer built and compiled for a core of ``params``, before the port is opened:
    ``(network, frame, compiled)``; a layer the core cannot take raises ``CompileError``."""
    from gen.compiler import compile_network
    from sim.workloads import LAYERS, build

    network, frame = build(LAYERS[args.layer], args.bits, args.seed)
    return network, frame, compile_network(network, params.core)


def _run(interface, args, network, frame, compiled):
    interface.check()
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


def _prepare_model(args, params):
    """``run-model``'s checks and compilation, before the port is opened: OUTPUT, MODEL and
    INPUT as ``make run`` checks them, then the model compiled for the array of ``params``.
    Returns ``(imported, compiled, frames)``."""
    from gen.run import check_output, compile_model, import_model, load_frames

    check_output(args.output, args.input)
    imported = import_model(args.model)
    frames = load_frames(args.input, imported)[:args.limit]
    return imported, compile_model(imported, params), frames


def _run_model(interface, params, args, imported, compiled, frames):
    from fpga.host.protocol import Flag
    from gen.run import check_runs, conclude, frames_to_write, mapping_summary

    interface.check()
    load = compiled.load_writes()
    print(f"{args.model.name} on the {args.board}'s {params.rows}x{params.columns} array, "
          f"{mapping_summary(compiled)}: {len(load)} words to load, predicted "
          f"{compiled.predicted_cycles} cycles a run", flush=True)
    interface.load(compiled)
    print(f"loaded; {len(frames)} frames to run", flush=True)
    flagged = Flag.CONFLICT | Flag.OVERRUN
    runs = ((values, status.cycles, bool(status.flags & flagged))
            for values, status in interface.run_frames(compiled, frames_to_write(compiled, frames)))
    outputs, errors = check_runs(imported, compiled, frames, runs)
    return conclude(args.output, outputs, errors)
