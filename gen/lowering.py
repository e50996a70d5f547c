"""Lowering an elaborated design to Verilog, with Amaranth's hot spots at the array's size
made fast.

:func:`collector_paused` holds Python's cyclic garbage collector off while a design is
elaborated and lowered: the netlist of a NorthPole tile is millions of long-lived objects
(a tuple and an integer per net), and each of the collector's full passes over them found
nothing to free, yet they took 20 of the 60 s of CPU it took to write the 16x16 array. The
garbage is collected once, as the block ends.

:func:`convert` is ``amaranth.back.verilog.convert_fragment`` with one of Amaranth's
RTLIL emitter's steps replaced, while it runs, by one that writes the same text faster:

- A memory's initial contents (``$meminit_v2``): Amaranth turns every bit of every word
  into a netlist constant and back into one character, a Python object per bit (a
  NorthPole tile has 7 Mbit of SRAM: 20 to 30 s of CPU). :func:`memory_init_bits` writes the
  same constant from each word's binary digits.

The replacement is installed only for the Amaranth version it was written against
(:data:`AMARANTH_VERSION`); with any other, Amaranth's own step runs (slower, the same
Verilog). ``tests/gen/test_lowering.py`` checks that both give the same RTLIL text.
"""

import contextlib
import gc
import importlib.metadata
import logging
import time

__all__ = ["AMARANTH_VERSION", "memory_init_bits", "fast_emitter", "collector_paused", "convert"]

logger = logging.getLogger(__name__)

#: The Amaranth release whose RTLIL emitter the fast step reproduces.
AMARANTH_VERSION = "0.5.10"


def memory_init_bits(init, width):
    """The RTLIL constant of a memory's initial contents, ``init`` (one integer a word,
    word 0 first) of ``width`` bits each: ``<bits>'<digits>``, the last word's most
    significant bit first, as Amaranth's ``sigspec`` writes it."""
    mask = (1 << width) - 1
    digits = "".join(format(word & mask, f"0{width}b") for word in reversed(init))
    return f"{len(digits)}'{digits}"


def _emit_memory(self, cell_idx, cell):
    """``rtlil.ModuleEmitter.emit_memory`` of Amaranth 0.5.10, the data written by
    :func:`memory_init_bits`."""
    from amaranth.hdl import _nir
    memory_info = self.memories[cell_idx]
    data = memory_init_bits(cell.init, cell.width) if cell.width and len(cell.init) else self.sigspec()
    self.builder.cell("$meminit_v2", ports={
        "ADDR": self.sigspec(),
        "DATA": data,
        "EN": self.sigspec(_nir.Value.ones(cell.width)),
    }, parameters={
        "MEMID": memory_info.memid,
        "ABITS": 0,
        "WIDTH": cell.width,
        "WORDS": cell.depth,
        "PRIORITY": 0,
    }, src_loc=cell.src_loc)


@contextlib.contextmanager
def fast_emitter(enabled=True):
    """While the block runs, Amaranth's RTLIL emitter uses the fast steps (if ``enabled``
    and Amaranth is :data:`AMARANTH_VERSION`)."""
    from amaranth.back import rtlil
    if not enabled or importlib.metadata.version("amaranth") != AMARANTH_VERSION:
        yield
        return
    original = rtlil.ModuleEmitter.emit_memory
    rtlil.ModuleEmitter.emit_memory = _emit_memory
    try:
        yield
    finally:
        rtlil.ModuleEmitter.emit_memory = original


@contextlib.contextmanager
def collector_paused():
    """While the block runs, Python's cyclic garbage collector runs no pass; as it ends, the
    collector is enabled again (if it was) and collects once. Only when the collector runs
    changes, so results are the same; memory left in reference cycles (Amaranth's fragments
    and netlist) is freed at the end instead of during the block."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        gc.collect()


def convert(fragment, ports, name):
    """Verilog text of ``fragment`` (an elaborated ``Fragment``) as module ``name`` with
    ``ports``, without source locations; logs the time of each step (``INFO``)."""
    from amaranth.back import rtlil, verilog
    start = time.process_time()
    with fast_emitter():
        text, _ = rtlil.convert_fragment(fragment, ports, name, emit_src=False)
    logger.info("%s: netlist and RTLIL in %.1f s of CPU (%.0f MB of RTLIL); Yosys writing Verilog",
                name, time.process_time() - start, len(text) / 1e6)
    return verilog._convert_rtlil_text(text)
