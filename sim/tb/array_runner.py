"""Drive the generated array's Verilog through the host interface's three commands only.

:func:`run_commands` sends word writes (the load phase and the input frame), ``RUN`` and
word reads through ``sim/tb/chip.py`` and returns every word read; :func:`run_array` does
it for an :class:`gen.array.ArrayCompiled` and decodes its output tensors.
"""

from hdl.chip import chip_params
from hdl.host import Command, command_layout, read_layout

from .runner import run_job

__all__ = ["run_commands", "run_array"]


def run_commands(params, writes, reads, predicted_cycles, *, sim, test_name):
    """Write ``(x, y, addr, value)``, run, read ``(x, y, addr)`` on a chip with ``params``.

    Returns the testbench's result (``cycles``, ``counter``, ``conflict``, ``overrun``)
    and ``{(x, y, addr): word}`` of the reads.
    """
    from gen.verilog import TILE, chip_verilog

    core, noc = chip_params(params)
    commands, words = command_layout(core, noc), read_layout(core, noc)

    def command(op, x, y, addr=0, data=0):
        return commands.const({"op": op, "x": x, "y": y, "addr": addr, "data": data}).as_bits()

    verilog, toplevel = chip_verilog(params)
    result = run_job(verilog, toplevel=toplevel, test_module="chip", test_name=test_name, sim=sim,
                     hierarchical=(TILE,), job={
        "writes": [command(Command.WRITE, *write) for write in writes],
        "run": command(Command.RUN, 0, 0),
        "reads": [command(Command.READ, *read) for read in reads],
        "predicted_cycles": predicted_cycles,
    })
    read = {}
    for raw in result["words"]:
        word = words.from_bits(raw)
        read[(int(word.x), int(word.y), int(word.addr))] = int(word.data)
    return result, read


def run_array(compiled, frame, params, *, sim, test_name, tensors=None):
    """Load ``compiled`` on a chip with ``params``, write ``frame``, run, read ``tensors``
    (default: the network's outputs).

    Returns ``({name: (H, W, C) values}, result)``.
    """
    if (params.rows, params.columns) != (compiled.rows, compiled.columns):
        raise ValueError(f"the program is for a {compiled.rows}x{compiled.columns} array, "
                         f"not {params.rows}x{params.columns}")
    tensors = tensors or compiled.network.outputs
    reads = [read for name in tensors for read in compiled.output_reads(name)]
    result, words = run_commands(params, compiled.load_writes() + compiled.input_writes(frame), reads,
                                 compiled.predicted_cycles, sim=sim, test_name=test_name)
    values = {name: compiled.decode(name, [words[read] for read in compiled.output_reads(name)])
              for name in tensors}
    return values, result
