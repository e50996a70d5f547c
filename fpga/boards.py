"""The supported boards, by name: ``make fpga BOARD=<name>``."""

from . import icebreaker, ulx3s

__all__ = ["BOARDS", "TOPS"]

BOARDS = {"icebreaker": icebreaker.ICEBREAKER, "ulx3s": ulx3s.ULX3S}
#: The function that wraps an array's :class:`~fpga.top.FpgaTop` for each board.
TOPS = {"icebreaker": icebreaker.top, "ulx3s": ulx3s.top}
