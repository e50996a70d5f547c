"""cocotb helpers shared by the testbenches: clock and reset, layout packing, a driver, a scoreboard.

Every testbench drives its design's always-ready input stream one word per cycle and
collects its output stream, each word stamped with the cycle it appeared in. Stream
payloads cross the cocotb boundary as plain integers: :func:`pack` turns a dict of field
values into the integer of an Amaranth ``data.Layout`` port, and :func:`unpack` turns an
output port's integer back into Python values, both through the layout object itself
(``layout.const``, ``layout.from_bits``) rather than hand-written bit arithmetic.

The :class:`Scoreboard` holds a queue of expected words; each received word is compared
with the oldest one, element by element, and every mismatch is reported with the
operation, the element (column, byte), the expected and the got value, and the seed to
replay it with. At the end, :meth:`Scoreboard.check` fails unless every word matched, at
least one did, and the expected queue drained.
"""

import collections
import enum
import logging
import numbers
import time

import cocotb
from amaranth import Shape
from amaranth.lib import data
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

__all__ = ["CLOCK_PERIOD_NS", "start_clock", "reset", "pack", "unpack", "to_python", "drive_stream",
           "split_words", "Scoreboard"]

logger = logging.getLogger(__name__)

#: Simulated clock period, in nanoseconds.
CLOCK_PERIOD_NS = 10


def start_clock(dut):
    """Start a free-running clock of ``CLOCK_PERIOD_NS`` on ``dut.clk``."""
    cocotb.start_soon(Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns").start())


async def reset(dut, cycles=1):
    """Start the clock on ``dut.clk`` and hold ``dut.rst`` for ``cycles`` cycles.

    Returns on a falling edge with ``rst`` low, the point where :func:`drive_stream`
    applies its first word.
    """
    start_clock(dut)
    dut.rst.value = 1
    for _ in range(cycles):
        await FallingEdge(dut.clk)
    dut.rst.value = 0


def _check_fields(shape, value, path):
    """Raise ``ValueError`` unless ``value`` fills ``shape`` exactly and every leaf fits.

    ``layout.const`` alone would zero missing fields and elements, and wrap leaves that
    are out of range (256 into ``unsigned(8)`` gives 0).
    """
    if isinstance(shape, data.ArrayLayout):
        if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__len__") \
                or len(value) != shape.length:
            raise ValueError(f"{path or 'value'} must be a sequence of {shape.length} elements, "
                             f"not {value!r}")
        for index, element in enumerate(value):
            _check_fields(shape.elem_shape, element, f"{path}[{index}]")
    elif isinstance(shape, data.Layout):
        names = [name for name, _ in shape]
        if not isinstance(value, dict) or sorted(value) != sorted(names):
            raise ValueError(f"{path or 'value'} must be a dict with the fields "
                             f"{', '.join(names)}, not {value!r}")
        for name, field in shape:
            _check_fields(field.shape, value[name], f"{path}.{name}" if path else name)
    else:
        if isinstance(shape, type) and issubclass(shape, enum.Enum):
            if isinstance(value, shape) or value in {member.value for member in shape}:
                return
            raise ValueError(f"{path or 'value'} must be one of "
                             f"{', '.join(member.name for member in shape)}, not {value!r}")
        plain = Shape.cast(shape)
        low = -(1 << (plain.width - 1)) if plain.signed else 0
        high = (1 << (plain.width - plain.signed)) - 1
        if isinstance(value, bool):
            value = int(value)
        if not isinstance(value, numbers.Integral) or not low <= value <= high:
            raise ValueError(f"{path or 'value'} must be an integer in [{low}, {high}], "
                             f"not {value!r}")


def pack(layout, fields):
    """The integer of a ``layout`` port carrying ``fields``.

    ``fields`` is what ``layout.const`` accepts: a dict for a ``StructLayout``, a list for
    an ``ArrayLayout`` (nested as deep as the layout), ints or enum members at the leaves.
    Every field and element must be given and fit its shape (``ValueError`` naming the
    field otherwise); ``layout.const`` then places them.
    """
    layout = data.Layout.cast(layout)
    _check_fields(layout, fields, "")
    return layout.const(fields).as_bits()


def to_python(value):
    """A ``data.Const`` view as nested Python values: dicts, lists and ints."""
    if not isinstance(value, data.Const):
        return int(value)
    layout = value.shape()
    if isinstance(layout, data.ArrayLayout):
        return [to_python(value[index]) for index in range(layout.length)]
    return {name: to_python(value[name]) for name, _ in layout}


def unpack(layout, bits):
    """The fields of the integer ``bits`` read from a ``layout`` port, as Python values.

    Signed elements come back negative (the layout knows their signedness), so no
    ``to_signed`` is needed; a struct gives a dict, an array a list.
    """
    return to_python(data.Layout.cast(layout).from_bits(int(bits)))


async def drive_stream(dut, words, *, drain, i_port="i_data", o_port="o_data"):
    """Drive ``words`` into ``<i_port>``, one per cycle, and collect ``<o_port>``.

    ``words`` are payload integers (see :func:`pack`), or ``None`` for an idle cycle.
    Inputs change on the falling edge, so word ``k`` is sampled by the design at the
    rising edge ending cycle ``k``; outputs are read on the falling edge. Runs
    ``len(words) + drain`` cycles and returns ``(outputs, cycles_per_second)`` with
    ``outputs`` a list of ``(cycle, payload)``: an output valid in cycle ``c`` came
    ``c - k`` cycles after the input word ``k`` that caused it. ``cycles_per_second`` is
    simulated cycles over wall-clock seconds, Python's per-cycle work included.
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
    """Split an integer into ``count`` fields of ``width`` bits, lowest first.

    Prefer :func:`unpack` with the port's layout; this is for ports without one.
    """
    mask = (1 << width) - 1
    fields = [(value >> (width * i)) & mask for i in range(count)]
    if signed:
        fields = [f - (1 << width) if f >> (width - 1) else f for f in fields]
    return fields


class Scoreboard:
    """Compares expected and received words; fails with a readable diff.

    Two ways to use it: queue expectations with :meth:`expect` and feed outputs to
    :meth:`receive` (in order), then call :meth:`check` with no argument; or compare
    pairs directly with :meth:`compare` and call ``check(expected_count)``.

    Parameters
    ----------
    name : str
        What is being checked (shown in every message).
    seed : int
        The testbench's seed, printed so that a failure can be replayed.
    field : str
        What an element of a word is called in the diff (``column``, ``byte``).

    Attributes
    ----------
    matched : int
        Words that matched in every element.
    compared : int
        Words compared.
    errors : list of str
        One line per mismatch, in the order found.
    """

    #: Mismatch lines logged and shown in the failure message (all are counted).
    MAX_REPORTED = 20

    def __init__(self, name, seed, *, field="column"):
        self.name, self.seed, self.field = name, seed, field
        self.errors = []
        self.matched = 0
        self.compared = 0
        self._expected = collections.deque()

    @property
    def header(self):
        return f"{self.name} (seed {self.seed}; replay with SEED={self.seed})"

    @property
    def pending(self):
        """Expected words not yet received."""
        return len(self._expected)

    def expect(self, operation, word, *, cycle=None):
        """Queue the word ``operation`` should produce: a sequence of ints.

        With ``cycle``, the word must also arrive in exactly that cycle.
        """
        self._expected.append((operation, [int(value) for value in word], cycle))

    def receive(self, word, *, cycle=None):
        """Compare a received word (from ``cycle``) with the oldest expected one."""
        if not self._expected:
            self.error(f"unexpected word {list(word)} in cycle {cycle}: nothing was expected")
            return
        operation, expected, expected_cycle = self._expected.popleft()
        if expected_cycle is not None and cycle != expected_cycle:
            self.error(f"{operation}: came in cycle {cycle}, expected in cycle {expected_cycle} "
                       f"({cycle - expected_cycle:+d})")
        self.compare(operation, expected, word)

    def compare(self, operation, expected, got):
        """Compare one word: ``expected`` and ``got`` are equal-length sequences of ints."""
        self.compared += 1
        expected, got = [int(value) for value in expected], [int(value) for value in got]
        if len(expected) != len(got):
            self.error(f"{operation}: {len(got)} {self.field}s, expected {len(expected)}")
            return
        mismatched = False
        for index, (want, have) in enumerate(zip(expected, got)):
            if want != have:
                mismatched = True
                self.error(f"{operation}, {self.field} {index}: expected {want}, got {have} "
                            f"(difference {have - want:+d})")
        self.matched += not mismatched

    def error(self, line):
        """Record a failure that is not a word mismatch (a word too early, too late)."""
        if not self.errors:
            logger.error("%s: first mismatch", self.header)
        if len(self.errors) < self.MAX_REPORTED:
            logger.error("%s: %s", self.name, line)
        self.errors.append(line)

    def check(self, expected_count=None):
        """Assert that every word matched, at least one did, and nothing is left over.

        With ``expected_count``, also that exactly that many words matched; without it,
        that the queue of :meth:`expect` words drained.
        """
        assert not self.errors, f"{self.header}: {len(self.errors)} mismatches:\n" + \
            "\n".join(self.errors[:self.MAX_REPORTED])
        assert not self._expected, \
            f"{self.header}: {len(self._expected)} expected words never came, the first " \
            f"{self._expected[0][0]}"
        assert self.matched > 0 and (expected_count is None or expected_count > 0), \
            f"{self.header}: nothing was checked"
        if expected_count is not None:
            assert self.matched == expected_count, \
                f"{self.header}: {self.matched} of {expected_count} words matched"
