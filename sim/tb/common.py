"""cocotb helpers shared by the testbenches: clock and reset, a cycle driver, a scoreboard.

Every testbench drives its design's always-ready input stream one word per cycle and
collects its output stream, each word stamped with the cycle it appeared in; the
scoreboard compares every expected word with what came out and reports each mismatch
with the operation, the column, the expected and the got value, and the seed.
"""

import time

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

__all__ = ["CLOCK_PERIOD_NS", "reset", "drive_stream", "split_words", "Scoreboard"]

#: Simulated clock period, in nanoseconds.
CLOCK_PERIOD_NS = 10


async def reset(dut):
    """Start the clock on ``dut.clk`` and hold ``dut.rst`` for one cycle."""
    cocotb.start_soon(Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns").start())
    dut.rst.value = 1
    await FallingEdge(dut.clk)
    dut.rst.value = 0


async def drive_stream(dut, words, *, drain, i_port="i_data", o_port="o_data"):
    """Drive ``words`` into ``<i_port>``, one per cycle, and collect ``<o_port>``.

    ``words`` are payload integers, or ``None`` for an idle cycle. Inputs change on the
    falling edge, so word ``k`` is sampled by the design at the rising edge ending cycle
    ``k``; outputs are read on the falling edge. Runs ``len(words) + drain`` cycles and
    returns ``(outputs, cycles_per_second)`` with ``outputs`` a list of
    ``(cycle, payload)``: an output valid in cycle ``c`` came ``c - k`` cycles after
    the input word ``k`` that caused it.
    """
    valid_in = getattr(dut, f"{i_port}__valid")
    payload_in = getattr(dut, f"{i_port}__payload")
    valid_out = getattr(dut, f"{o_port}__valid")
    payload_out = getattr(dut, f"{o_port}__payload")
    outputs = []
    started = time.perf_counter()
    total = len(words) + drain
    for cycle in range(total):
        if int(valid_out.value):
            outputs.append((cycle, int(payload_out.value)))
        word = words[cycle] if cycle < len(words) else None
        valid_in.value = word is not None
        if word is not None:
            payload_in.value = word
        await FallingEdge(dut.clk)
    return outputs, total / (time.perf_counter() - started)


def split_words(value, width, count, *, signed=False):
    """Split an integer into ``count`` fields of ``width`` bits, lowest first."""
    mask = (1 << width) - 1
    fields = [(value >> (width * i)) & mask for i in range(count)]
    if signed:
        fields = [f - (1 << width) if f >> (width - 1) else f for f in fields]
    return fields


class Scoreboard:
    """Compares expected and received words; fails with a readable diff.

    Parameters
    ----------
    name : str
        What is being checked (shown in every message).
    seed : int
        The testbench's seed, printed so that a failure can be replayed.
    field : str
        What an element of a word is called in the diff (``column``, ``byte``).
    """

    MAX_REPORTED = 20

    def __init__(self, name, seed, *, field="column"):
        self.name, self.seed, self.field = name, seed, field
        self.errors = []
        self.matched = 0

    def compare(self, operation, expected, got):
        """Compare one word: ``expected`` and ``got`` are equal-length sequences of ints."""
        if len(expected) != len(got):
            self.errors.append(f"{operation}: {len(got)} {self.field}s, expected {len(expected)}")
            return
        mismatched = False
        for index, (want, have) in enumerate(zip(expected, got)):
            if want != have:
                mismatched = True
                self.errors.append(f"{operation}, {self.field} {index}: expected {want}, got {have}")
        self.matched += not mismatched

    def check(self, expected_count):
        """Assert that ``expected_count`` words all matched (at least one), and nothing else."""
        header = f"{self.name} (seed {self.seed}; replay with SEED={self.seed})"
        assert not self.errors, f"{header}: {len(self.errors)} mismatches:\n" + \
            "\n".join(self.errors[:self.MAX_REPORTED])
        assert expected_count > 0, f"{header}: nothing was checked"
        assert self.matched == expected_count, \
            f"{header}: {self.matched} of {expected_count} words matched"
