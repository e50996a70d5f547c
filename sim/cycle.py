"""The cycle model: how many cycles a core program takes, from the timing :mod:`hdl.isa` documents.

A core's schedule has no data-dependent timing, so a program's length follows from its
instructions alone. The compiler predicts with this model; the tests assert that the
hardware's measured cycles equal the prediction.
"""

from hdl.isa import FETCH_CYCLES, Opcode
from hdl.mac import mac_latency
from hdl.requantize import Requantizer
from hdl.sram import BankedSram
from hdl.vector import VectorUnit

__all__ = ["drain_cycles", "instruction_cycles", "program_cycles"]


def drain_cycles(params):
    """Cycles from a compute instruction's last element to the write of its last result.

    ``{"mac": ..., "vector": ...}``: SRAM read latency, then the MAC array or the vector
    unit, then the requantize unit.
    """
    tail = BankedSram.LATENCY + Requantizer.LATENCY
    return {"mac": tail + mac_latency(params.mac), "vector": tail + VectorUnit.LATENCY}


def instruction_cycles(instruction, params):
    """Cycles from the fetch of ``instruction`` to the fetch of the next (a ``WAIT`` not waiting)."""
    if instruction.opcode == Opcode.HALT:
        return FETCH_CYCLES
    if instruction.opcode in (Opcode.SIGNAL, Opcode.WAIT):
        return FETCH_CYCLES + 1
    drain = drain_cycles(params)["mac" if instruction.opcode == Opcode.MAC else "vector"]
    return FETCH_CYCLES + instruction.elements + drain


def program_cycles(program, params):
    """Cycles a run of ``program`` takes, from the cycle after ``start`` to ``HALT`` (the
    core's ``cycles`` counter), when no ``WAIT`` has to wait."""
    total = 0
    for instruction in program:
        total += instruction_cycles(instruction, params)
        if instruction.opcode == Opcode.HALT:
            return total
    raise ValueError("program must end with HALT")
