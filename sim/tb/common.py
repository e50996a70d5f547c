"""cocotb helpers shared by the testbenches: clock and reset, layout packing, a driver, a scoreboard.

Every testbench drives its design's always-ready input stream one word per cycle and
collects its output stream, each word stamped with the cycle it appeared in. Stream
payloads cross the cocotb boundary as plain integers: :func:`pack` turns a dict of field
values into the integer of an Amaranth ``data.Layout`` port, and :func:`unpack` turns an
output port's integer back into Python values, both placing every field at the offset the
layout object itself gives it, rather than by hand-written bit arithmetic (they equal
``layout.const(...).as_bits()`` and ``layout.from_bits``, which are too slow to call every
simulated cycle).

The :class:`Scoreboard` holds a queue of expected words; each received word is compared
with the oldest one, element by element, and every mismatch is reported with the
operation, the element (column, byte), the expected and the got value, and the seed to
replay it with. At the end, :meth:`Scoreboard.check` fails unless every word matched, at
least one did, and the expected queue drained.
"""

import collections
import enum
import functools
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


class _FieldError(Exception):
    """A field that does not fit: the rule it breaks, and its keys, innermost first."""

    def __init__(self, rule, value):
        super().__init__(rule)
        self.rule, self.value, self.keys = rule, value, []

    def message(self):
        path = ""
        for key in reversed(self.keys):
            path += f"[{key}]" if isinstance(key, int) else (f".{key}" if path else key)
        return f"{path or 'value'} must be {self.rule}, not {self.value!r}"


@functools.cache
def _leaf(shape):
    """``(low, high, mask, members)`` of a leaf shape; ``members`` are an enum's values, or ``None``."""
    members = None
    if isinstance(shape, type) and issubclass(shape, enum.Enum):
        members = frozenset(member.value for member in shape)
    plain = Shape.cast(shape)
    low = -(1 << (plain.width - 1)) if plain.signed else 0
    high = (1 << (plain.width - plain.signed)) - 1
    return low, high, (1 << plain.width) - 1, members


def _leaf_bits(shape, value):
    """The bits of ``value`` in a leaf ``shape``, which it must fit.

    ``layout.const`` alone would wrap a leaf that is out of range (256 into
    ``unsigned(8)`` gives 0).
    """
    low, high, mask, members = _leaf(shape)
    if members is not None:
        if isinstance(value, shape):
            return value.value & mask
        if value in members:
            return value & mask
        raise _FieldError(f"one of {', '.join(member.name for member in shape)}", value)
    if isinstance(value, bool):
        value = int(value)
    if not isinstance(value, numbers.Integral) or not low <= value <= high:
        raise _FieldError(f"an integer in [{low}, {high}]", value)
    return int(value) & mask


def _pack(shape, value):
    """The bits of ``value`` in ``shape``, each field at the offset the layout gives it.

    Every field and element must be given: ``layout.const`` alone would zero missing ones.
    """
    if isinstance(shape, data.ArrayLayout):
        if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__len__") \
                or len(value) != shape.length:
            raise _FieldError(f"a sequence of {shape.length} elements", value)
        element_shape = shape.elem_shape
        step = Shape.cast(element_shape).width
        pack_element = _pack if isinstance(element_shape, data.Layout) else _leaf_bits
        bits = 0
        for index, element in enumerate(value):
            try:
                bits |= pack_element(element_shape, element) << (index * step)
            except _FieldError as error:
                error.keys.append(index)
                raise
        return bits
    if isinstance(shape, data.UnionLayout):
        raise TypeError(f"layout must be built of structures and arrays, not {shape!r}")
    if isinstance(shape, data.Layout):
        names = [name for name, _ in shape]
        if not isinstance(value, dict) or sorted(value) != sorted(names):
            raise _FieldError(f"a dict with the fields {', '.join(names)}", value)
        bits = 0
        for name, field in shape:
            try:
                bits |= _pack(field.shape, value[name]) << field.offset
            except _FieldError as error:
                error.keys.append(name)
                raise
        return bits
    return _leaf_bits(shape, value)


def pack(layout, fields):
    """The integer of a ``layout`` port carrying ``fields``.

    ``fields`` is what ``layout.const`` accepts: a dict for a ``StructLayout``, a list for
    an ``ArrayLayout`` (nested as deep as the layout), ints or enum members at the leaves.
    Every field and element must be given and fit its shape (``ValueError`` naming the
    field otherwise). Each is placed at the offset the layout gives it, so the result is
    ``layout.const(fields).as_bits()``, at a small fraction of its cost (testbenches pack
    a word per simulated cycle).
    """
    try:
        return _pack(data.Layout.cast(layout), fields)
    except _FieldError as error:
        raise ValueError(error.message()) from None


def to_python(value):
    """A ``data.Const`` view as nested Python values: dicts, lists and ints."""
    if not isinstance(value, data.Const):
        return int(value)
    layout = value.shape()
    if isinstance(layout, data.ArrayLayout):
        return [to_python(value[index]) for index in range(layout.length)]
    return {name: to_python(value[name]) for name, _ in layout}


def _unpack(shape, bits):
    if isinstance(shape, data.ArrayLayout):
        element_shape = shape.elem_shape
        step = Shape.cast(element_shape).width
        mask = (1 << step) - 1
        return [_unpack(element_shape, (bits >> (index * step)) & mask)
                for index in range(shape.length)]
    if isinstance(shape, data.UnionLayout):
        raise TypeError(f"layout must be built of structures and arrays, not {shape!r}")
    if isinstance(shape, data.Layout):
        return {name: _unpack(field.shape, (bits >> field.offset) & ((1 << field.width) - 1))
                for name, field in shape}
    low = _leaf(shape)[0]
    return bits + 2 * low if low and bits >= -low else bits


def unpack(layout, bits):
    """The fields of the integer ``bits`` read from a ``layout`` port, as Python values.

    Signed elements come back negative (the layout knows their signedness), so no
    ``to_signed`` is needed; a struct gives a dict, an array a list, an enum field its
    integer value. The same as ``to_python(layout.from_bits(bits))``, only faster.
    """
    return _unpack(data.Layout.cast(layout), int(bits))


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
    falling_edge = FallingEdge(dut.clk)
    valid, payload = None, None                 # what the inputs hold; written only on change
    for cycle in range(total):
        if int(valid_out.value):
            outputs.append((cycle, int(payload_out.value)))
        word = words[cycle] if cycle < len(words) else None
        if valid != (word is not None):
            valid = word is not None
            valid_in.value = valid
        if word is not None and word != payload:
            payload = payload_in.value = word
        await falling_edge
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
