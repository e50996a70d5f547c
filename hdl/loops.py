"""Counted hardware loops and the affine address generators that follow them."""

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .params import COUNT_WIDTH, LOOP_LEVELS

__all__ = ["LoopNest", "AddressGenerator", "LEVEL_SHAPE"]

#: Shape of a loop-level number; the value ``LOOP_LEVELS`` means "no level left": the nest is done.
LEVEL_SHAPE = unsigned(LOOP_LEVELS.bit_length())


class LoopNest(wiring.Component):
    """``LOOP_LEVELS`` nested counters, level 0 innermost, no data-dependent control.

    ``clear`` sets every index to 0. ``advance`` steps the nest by one element: the
    innermost level not yet at its limit, ``carry``, increments and every level inside it
    wraps to 0. Levels below ``first_level`` stay at 0 (their limit counts as 0), so a nest
    over tiles skips the reduction levels. A clear takes priority over an advance.

    Parameters
    ----------
    count_width : int
        Bits of each level's index and limit (``CoreParams.count_width``), ``COUNT_WIDTH``
        by default.

    Attributes
    ----------
    limits : In(data.ArrayLayout(unsigned(count_width), LOOP_LEVELS))
        Per level, the iteration count less one. Held while the nest runs.
    first_level : In(LEVEL_SHAPE)
        Innermost level that counts.
    reduce_levels : In(LEVEL_SHAPE)
        Levels ``0 .. reduce_levels - 1`` form one tile, for ``first`` and ``last``.
    clear, advance : In(1)
    carry : Out(LEVEL_SHAPE)
        The level that an advance increments; ``LOOP_LEVELS`` when every level is at its
        limit (the last element).
    first, last : Out(1)
        The current element is the first or the last of its tile.
    """

    def __init__(self, count_width=COUNT_WIDTH):
        if not isinstance(count_width, int) or isinstance(count_width, bool) or count_width < 1:
            raise ValueError(f"loop count width must be a positive integer, not {count_width!r}")
        self._count_width = count_width
        super().__init__({
            "limits": In(data.ArrayLayout(unsigned(count_width), LOOP_LEVELS)),
            "first_level": In(LEVEL_SHAPE),
            "reduce_levels": In(LEVEL_SHAPE),
            "clear": In(1),
            "advance": In(1),
            "carry": Out(LEVEL_SHAPE),
            "first": Out(1),
            "last": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        indices = [Signal(self._count_width, name=f"index{level}") for level in range(LOOP_LEVELS)]
        at_limit = [Signal(name=f"at_limit{level}") for level in range(LOOP_LEVELS)]
        for level, (index, flag) in enumerate(zip(indices, at_limit)):
            m.d.comb += flag.eq((level < self.first_level) | (index == self.limits[level]))

        carry = Const(LOOP_LEVELS, LEVEL_SHAPE)
        for level in reversed(range(LOOP_LEVELS)):
            carry = Mux(at_limit[level], carry, level)
        m.d.comb += self.carry.eq(carry)

        in_tile = [level < self.reduce_levels for level in range(LOOP_LEVELS)]
        m.d.comb += [
            self.first.eq(Cat(~tile | (index == 0) for tile, index in zip(in_tile, indices)).all()),
            self.last.eq(Cat(~tile | flag for tile, flag in zip(in_tile, at_limit)).all()),
        ]

        for level, index in enumerate(indices):
            with m.If(self.clear):
                m.d.sync += index.eq(0)
            with m.Elif(self.advance):
                with m.If(self.carry == level):
                    m.d.sync += index.eq(index + 1)
                with m.Elif(self.carry > level):
                    m.d.sync += index.eq(0)
        return m


class AddressGenerator(wiring.Component):
    """An affine address ``base + sum(stride[i] * index[i])`` kept with one adder.

    ``load`` sets the address to ``base``; ``advance`` adds ``steps[carry]`` (the change
    when level ``carry`` is the outermost level to advance; see :mod:`hdl.isa`). ``next``
    is the address after this cycle's update, for a memory whose read must be issued a
    cycle ahead. Arithmetic wraps at ``width`` bits.

    With ``late_step`` the generator takes a cycle's step in the cycle after, as a memory
    read in that cycle for its carry gives it (``steps[carry]`` on ``step``): it keeps the
    address before the step, and ``addr`` is that plus the step if the cycle before
    advanced, so the addresses are the same in the same cycles, one adder later.

    Parameters
    ----------
    width : int
        Address width, in bits.
    late_step : bool
        Take the step of the cycle before on ``step`` instead of every level's on ``steps``.

    Attributes
    ----------
    base : In(unsigned(width))
    steps : In(data.ArrayLayout(signed(width + 1), LOOP_LEVELS))
        Without ``late_step``.
    carry : In(LEVEL_SHAPE)
        From the :class:`LoopNest` this stream follows (without ``late_step``).
    step : In(signed(width + 1))
        With ``late_step``: ``steps[carry]`` of the cycle before.
    load, advance : In(1)
    addr : Out(unsigned(width))
        The current address.
    next : Out(unsigned(width))
        The address from the next cycle on (without ``late_step``).
    """

    def __init__(self, width, *, late_step=False):
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"address width must be a positive integer, not {width!r}")
        self._width, self._late_step = width, bool(late_step)
        if late_step:
            steps = {"step": In(signed(width + 1))}
        else:
            steps = {"steps": In(data.ArrayLayout(signed(width + 1), LOOP_LEVELS)), "carry": In(LEVEL_SHAPE),
                     "next": Out(unsigned(width))}
        super().__init__({
            "base": In(unsigned(width)),
            "load": In(1),
            "advance": In(1),
            "addr": Out(unsigned(width)),
            **steps,
        })

    def _late(self, m):
        kept = Signal(self._width)      # the address before the step of the cycle before
        stepped = Signal()              # the cycle before advanced
        m.d.comb += self.addr.eq((kept + Mux(stepped, self.step, 0))[:self._width])
        m.d.sync += [kept.eq(Mux(self.load, self.base, self.addr)), stepped.eq(self.advance & ~self.load)]
        return m

    def elaborate(self, platform):
        m = Module()
        if self._late_step:
            return self._late(m)
        step = Signal(signed(self._width + 1))
        with m.Switch(self.carry):
            for level in range(LOOP_LEVELS):
                with m.Case(level):
                    m.d.comb += step.eq(self.steps[level])
        with m.If(self.load):
            m.d.comb += self.next.eq(self.base)
        with m.Elif(self.advance):
            m.d.comb += self.next.eq((self.addr + step)[:self._width])
        with m.Else():
            m.d.comb += self.next.eq(self.addr)
        m.d.sync += self.addr.eq(self.next)
        return m
