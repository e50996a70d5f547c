"""Drive the generated array's Verilog through the host interface's three commands only.

:func:`run_frames` sends word writes (the load phase), then per frame the writes of its
input, ``RUN`` and the reads of its output through ``sim/tb/chip.py``, and returns every
word read; :func:`run_commands` does it for one frame, :func:`run_batch` for an
:class:`gen.array.ArrayCompiled` and a batch of input frames, decoding its output tensors,
and :func:`run_array` for one frame of it.
"""

import functools

from hdl.chip import chip_params
from hdl.host import Command, command_layout, read_layout

from .runner import run_job

__all__ = ["chip_verilog_once", "run_frames", "run_commands", "run_batch", "run_array"]


@functools.lru_cache(maxsize=None)
def chip_verilog_once(params):
    """:func:`gen.verilog.chip_verilog` of ``params``, elaborated once per process: every
    test of one array shape takes the same text."""
    from gen.verilog import chip_verilog
    return chip_verilog(params)


def run_frames(params, load, frames, predicted_cycles, *, sim, test_name, input_delay=None, progress=False):
    """Load with ``load`` writes ``(x, y, addr, value)``, then per frame of ``frames`` (its
    ``(writes, reads)``, a read being ``(x, y, addr)``) write, run and read, on a chip with
    ``params``; with ``input_delay``, each frame after the first is written while the run
    before it computes, from that many cycles after its ``RUN`` (see ``sim/tb/chip.py``).
    ``progress`` draws a progress bar over the frames on standard error.

    Returns per frame the testbench's result (``cycles``, ``counter``, ``conflict``,
    ``overrun``, ``write_cycles``, ``read_cycles``, ``period``, and the load's
    ``load_cycles``; see ``sim/tb/chip.py``) and ``{(x, y, addr): word}`` of its reads.
    """
    from gen.verilog import TILE

    core, noc = chip_params(params)
    commands, words = command_layout(core, noc), read_layout(core, noc)

    def command(op, x, y, addr=0, data=0):
        return commands.const({"op": op, "x": x, "y": y, "addr": addr, "data": data}).as_bits()

    verilog, toplevel = chip_verilog_once(params)
    result = run_job(verilog, toplevel=toplevel, test_module="chip", test_name=test_name, sim=sim,
                     hierarchical=(TILE,), job={
                         "load": [command(Command.WRITE, *write) for write in load],
                         "frames": [{"writes": [command(Command.WRITE, *write) for write in writes],
                                     "reads": [command(Command.READ, *read) for read in reads]}
                                    for writes, reads in frames],
                         "run": command(Command.RUN, 0, 0),
                         "predicted_cycles": predicted_cycles,
                         "input_delay": input_delay,
                         "progress": progress,
                     })
    runs = []
    for frame in result["frames"]:
        frame["load_cycles"] = result["load_cycles"]
        read = {}
        for raw in frame.pop("words"):
            word = words.from_bits(raw)
            read[(int(word.x), int(word.y), int(word.addr))] = int(word.data)
        runs.append((frame, read))
    return runs


def run_commands(params, writes, reads, predicted_cycles, *, sim, test_name):
    """:func:`run_frames` of one frame: ``writes``, run, ``reads``; returns ``(result, words)``."""
    (run,) = run_frames(params, writes, [([], reads)], predicted_cycles, sim=sim, test_name=test_name)
    return run


def run_batch(compiled, frames, params, *, sim, test_name, tensors=None, progress=False):
    """Load ``compiled`` on a chip with ``params`` once, then for each input frame of
    ``frames`` (H, W, C) write it, run and read ``tensors`` (default: the network's outputs),
    the writes overlapping the run before when the program allows
    (:attr:`gen.array.ArrayCompiled.input_delay`).

    Returns per frame ``({name: (H, W, C) values}, result)``.
    """
    if (params.rows, params.columns) != (compiled.rows, compiled.columns):
        raise ValueError(f"the program is for a {compiled.rows}x{compiled.columns} array, "
                         f"not {params.rows}x{params.columns}")
    tensors = tensors or compiled.network.outputs
    reads = [read for name in tensors for read in compiled.output_reads(name)]
    inputs = [(compiled.input_writes(frame), reads) for frame in frames]
    runs = run_frames(params, compiled.load_writes(), inputs, compiled.predicted_cycles, sim=sim,
                      test_name=test_name, input_delay=compiled.input_delay, progress=progress)
    return [({name: compiled.decode(name, [words[read] for read in compiled.output_reads(name)])
              for name in tensors}, result) for result, words in runs]


def run_array(compiled, frame, params, *, sim, test_name, tensors=None):
    """:func:`run_batch` of one frame; returns ``({name: (H, W, C) values}, result)``."""
    (run,) = run_batch(compiled, [frame], params, sim=sim, test_name=test_name, tensors=tensors)
    return run
