"""The cycle model: how many cycles a core program takes, from the timing :mod:`hdl.isa` documents.

A core's schedule has no data-dependent timing, so a program's length follows from its
instructions alone. The compiler predicts with this model; the tests assert that the
hardware's measured cycles equal the prediction. :func:`token_timing` extends it to
``WAIT``s whose tokens arrive at given cycles. :func:`host_write_cycles` gives the cycles
the host's writes take through the host interface and the load network (``hdl.host``),
:func:`host_read_cycles` a bound on its reads.
"""

import numpy as np

from hdl.datapath import drain_latencies
from hdl.host import HostInterface, load_latency
from hdl.isa import Opcode, fetch_cycles
from hdl.mesh import Mesh
from hdl.network import NetworkInterface
from hdl.sram import BankedSram

__all__ = ["drain_cycles", "instruction_drain", "tile_period", "issue_cycles",
           "instruction_cycles", "write_cycles", "program_cycles",
           "token_timing", "host_write_cycles", "host_read_cycles"]


def drain_cycles(params):
    """Cycles from a compute instruction's last element to the write of its last result.

    ``{"mac": ..., "vector": ..., "macadd": ...}``: SRAM read latency, the operand
    register, then the MAC array or the vector unit, then the requantize unit; for
    ``MACADD`` also the fused add (:func:`hdl.datapath.drain_latencies`).
    """
    return drain_latencies(params.mac)


def instruction_drain(instruction, params):
    """The drain of compute ``instruction``: its unit's entry of :func:`drain_cycles`."""
    unit = {Opcode.MAC: "mac", Opcode.MACADD: "macadd"}.get(instruction.opcode, "vector")
    return drain_cycles(params)[unit]


def tile_period(instruction, params):
    """Cycles from the start of one of compute ``instruction``'s tiles to the next: its
    elements, one a cycle, or ``tile_interval`` if that is longer (``MacParams.requantize_columns``)."""
    return max(instruction.elements // instruction.tiles, params.mac.tile_interval)


def issue_cycles(instruction, params):
    """Cycles from the first issued element of ``instruction`` to the cycle after its last:
    one a cycle, a compute instruction's tiles :func:`tile_period` apart."""
    if not instruction.opcode.computes:
        return instruction.elements
    tile = instruction.elements // instruction.tiles
    return (instruction.tiles - 1) * tile_period(instruction, params) + tile


def instruction_cycles(instruction, params):
    """Cycles from the fetch of ``instruction`` to the fetch of the next (a ``WAIT`` not waiting)."""
    fetch = fetch_cycles(params)
    if instruction.opcode == Opcode.HALT:
        return fetch
    if instruction.opcode in (Opcode.SIGNAL, Opcode.WAIT):
        return fetch + 1
    if instruction.opcode == Opcode.DELAY:
        return fetch + instruction.elements
    if instruction.opcode == Opcode.SEND:
        return fetch + instruction.elements + BankedSram.LATENCY
    return fetch + issue_cycles(instruction, params) + instruction_drain(instruction, params)


def write_cycles(instruction, params):
    """The cycle, counted from the fetch of compute ``instruction``, in which each of its
    result tiles is written to the activation SRAM (a numpy array, one per tile in issue
    order): the tile's last element issues ``fetch_cycles`` + its index cycles in (tiles
    :func:`tile_period` apart), and its result is written ``drain`` cycles later, so the
    last tile's write is the instruction's last cycle."""
    if not instruction.opcode.computes:
        raise ValueError(f"only compute instructions write results, not {instruction.opcode.name}")
    tile = instruction.elements // instruction.tiles
    drain = instruction_drain(instruction, params)
    starts = tile_period(instruction, params) * np.arange(instruction.tiles, dtype=np.int64)
    return fetch_cycles(params) + drain - 1 + tile + starts


def program_cycles(program, params):
    """Cycles a run of ``program`` takes, from the cycle after ``start`` to ``HALT`` (a
    sequencer's ``cycles`` counter; the core's is the longer of its two programs'), when
    no ``WAIT`` has to wait."""
    total = 0
    for instruction in program:
        total += instruction_cycles(instruction, params)
        if instruction.opcode == Opcode.HALT:
            return total
    raise ValueError("program must end with HALT")


def token_timing(program, params, pulses=()):
    """The cycles of a run of ``program``: ``(signals, done)``, or ``(signals, None)`` if it hangs.

    ``pulses`` are ``(cycle, token)``: token ``token`` on ``i_tokens`` during ``cycle``,
    remembered from the next cycle on. ``signals`` are ``(cycle, token)`` of each
    ``SIGNAL``'s pulse on ``o_tokens``; ``done`` is the cycle ``done`` rises in.

    Each instruction is fetched in ``hdl.isa.fetch_cycles``. ``SIGNAL`` pulses in the cycle after
    them. ``WAIT`` then spends one cycle and one more for each cycle until ``counts[0]``
    pulses of its token are remembered; it consumes the earliest ``counts[0]`` of them (one
    count per token), and a pulse arriving in its last cycle is remembered for the next.
    ``HALT`` raises ``done`` ``fetch_cycles`` after its fetch began.
    """
    fetch = fetch_cycles(params)
    pending = sorted((cycle + 1, token) for cycle, token in pulses)   # (remembered from, token)
    signals, cycle = [], 0
    for instruction in program:
        if instruction.opcode == Opcode.HALT:
            return signals, cycle + fetch
        if instruction.opcode == Opcode.SIGNAL:
            signals.append((cycle + fetch, instruction.token))
        if instruction.opcode == Opcode.WAIT:
            wanted = instruction.counts[0]
            arrivals = [entry for entry in pending if entry[1] == instruction.token][:wanted]
            if len(arrivals) < wanted:
                return signals, None
            for entry in arrivals:
                pending.remove(entry)
            cycle = max(cycle + fetch, arrivals[-1][0]) + 1
        else:
            cycle += instruction_cycles(instruction, params)
    raise ValueError("program must end with HALT")


def host_write_cycles(places, columns):
    """Cycles from the host's first ``WRITE`` of a sequence to the cycle its ``RUN`` is
    taken, that cycle included, on an idle chip of ``columns`` columns (``hdl.host``).

    ``places`` are the cores ``(x, y)`` the writes go to, in the order sent. The interface
    takes write ``i`` in cycle ``i * HostInterface.WRITE_INTERVAL``; its core writes it
    ``load_latency(columns, (x, y))`` cycles later; ``RUN`` is taken
    ``HostInterface.RUN_LATENCY`` cycles after the last write has landed, or in the first
    cycle if there is no write. Only a core's last write can land last, so ``n`` writes
    take ``n`` cycles and the latency to the core of the last ones.
    """
    last = {}
    for index, place in enumerate(places):
        last[place] = index
    if not last:
        return 1
    landed = max(index * HostInterface.WRITE_INTERVAL + load_latency(columns, place)
                 for place, index in last.items())
    return landed + HostInterface.RUN_LATENCY + 1


def host_read_cycles(places, columns):
    """At most the cycles from the host's first ``READ`` of a sequence to the cycle its
    last word leaves on ``o_data``, on an idle chip of ``columns`` columns.

    ``places`` are the cores ``(x, y)`` read, one a word. A bound, not exact: the reads are
    counted as if none overlapped another (each ``NetworkInterface.READ_INTERVAL`` cycles,
    the most a core's interface needs), plus the round trip to the farthest core read (the
    request on the load network, the read, the response on the activation network to the
    east edge of the core's row).
    """
    if not places:
        return 0
    trip = max(load_latency(columns, place) + NetworkInterface.READ_INTERVAL
               + Mesh.latency(place, (columns - 1, place[1])) for place in set(places))
    return NetworkInterface.READ_INTERVAL * len(places) + trip
