"""Silicon area of an array, from a per-MAC and a per-SRAM-bit figure.

``area_mm2 = cores * (lanes * columns * mac_int8_um2 + memory_bits * sram_um2_per_bit) / 1e6``

where ``lanes * columns`` is a core's MAC array (one 8-bit multiplier per lane and column,
which also computes its two int4 or four int2 products) and ``memory_bits`` every bit of a
core's four memories: activation and weight SRAM, settings table and program memory
(:func:`gen.verilog.memory_bytes`). The figures come from a parameter file
(:func:`load_figures`; the default, :data:`DEFAULT_FIGURES`, is for a 12 nm-class process
and gives each figure's source or assumption).

What it does not capture: everything else on the die (sequencers, vector unit,
requantizers, routers and links, clock tree, host interface, I/O, the space between
blocks), and the way a memory's periphery grows with its banking and word width. It ranks
configurations by the area their MACs and memories take; it is not a die size.
"""

from pathlib import Path

from hdl.params import ChipParams

from . import figures as figure_files
from .verilog import memory_bytes

__all__ = ["FIGURES", "DEFAULT_FIGURES", "AreaError", "load_figures", "chip_area"]

#: Every figure a parameter file gives, with its unit.
FIGURES = {
    "mac_int8_um2": "um^2 per 8-bit MAC (one lane of one column)",
    "sram_um2_per_bit": "um^2 per bit of memory, its periphery included",
}
#: The shipped parameter file: a 12 nm-class process, each figure's source in the file.
DEFAULT_FIGURES = Path(__file__).with_name("area_12nm.json")


class AreaError(ValueError):
    """A parameter file refused, in one line naming the figure."""


def load_figures(path=None):
    """The figures of parameter file ``path`` (JSON; :data:`DEFAULT_FIGURES` if ``None``):
    ``{name: value}`` for every name of :data:`FIGURES`; :class:`AreaError` if refused
    (:func:`gen.figures.load_figures`)."""
    return figure_files.load_figures(DEFAULT_FIGURES if path is None else path, FIGURES, AreaError)


def chip_area(params, figures):
    """The area of the array ``params`` (a :class:`ChipParams`) with ``figures``
    (:func:`load_figures`), in mm^2: ``{"mac_mm2", "sram_mm2", "total_mm2"}``, over every core."""
    if not isinstance(params, ChipParams):
        raise TypeError(f"chip_area params must be a ChipParams, not {params!r}")
    core = params.core
    mac = core.mac.lanes * core.mac.columns * figures["mac_int8_um2"]
    sram = memory_bytes(core)["total"] * 8 * figures["sram_um2_per_bit"]
    return {"mac_mm2": params.cores * mac / 1e6, "sram_mm2": params.cores * sram / 1e6,
            "total_mm2": params.cores * (mac + sram) / 1e6}
