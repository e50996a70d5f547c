"""Pipeline registers: a value one cycle or several cycles later, in named registers."""

from amaranth import Cat, Const, Mux, Signal, Value
from amaranth.lib.memory import Memory

__all__ = ["register", "delay", "delay_memory", "phase", "slices", "slice_index", "gather"]


def register(m, value, name, *, reset_less=True):
    """``value`` one cycle later, in a register named ``name`` (of ``value``'s shape or layout).

    Data registers are ``reset_less`` by default; a register that carries a ``valid``
    must reset (``reset_less=False``).
    """
    registered = Signal(value.shape(), name=name, reset_less=reset_less)
    m.d.sync += registered.eq(value)
    return registered


def delay(m, value, cycles, name, *, reset_less=True):
    """``value`` ``cycles`` cycles later, through registers named ``<name>_<n>``."""
    for stage in range(cycles):
        value = register(m, value, f"{name}_{stage}", reset_less=reset_less)
    return value


def delay_memory(m, value, cycles, name):
    """``value`` ``cycles`` cycles later (at least 2), through a memory of ``cycles`` entries
    named ``name``: each cycle writes ``value`` to one entry and reads the entry it will
    write next, which it wrote ``cycles - 1`` cycles ago, through a read port of one cycle's
    latency. Never the entry it writes in the same cycle, so no read sees a write. What it
    gives in the first ``cycles`` cycles after reset is the memory's initial content, 0.

    A synthesis tool maps the memory to a block RAM (``ram_style``): a long, narrow delay
    there costs a counter where :func:`delay` costs ``cycles`` registers a bit, which on an
    iCE40 take a logic cell each.
    """
    if cycles < 2:
        raise ValueError(f"delay_memory needs at least 2 cycles, not {cycles!r}")
    m.submodules[name] = memory = Memory(shape=value.shape(), depth=cycles, init=[],
                                         attrs={"ram_style": "block"})
    write, read = memory.write_port(), memory.read_port(transparent_for=())
    entry = Signal(range(cycles), name=f"{name}_entry")
    following = Mux(entry == cycles - 1, 0, entry + 1)
    m.d.sync += entry.eq(following)
    m.d.comb += [write.addr.eq(entry), write.data.eq(value), write.en.eq(1), read.addr.eq(following)]
    return read.data


def phase(m, load, count, name):
    """The cycle's place in a round of ``count`` cycles that a cycle with ``load`` begins:
    0 in a cycle with ``load``, then 1, 2, ... ``count - 1``, 0, 1, ... in the cycles after,
    from a register named ``name`` (constant 0 if ``count`` is 1)."""
    if count == 1:
        return Const(0)
    held = Signal(range(count), name=name)
    current = Mux(load, 0, held)
    m.d.sync += held.eq(Mux(current == count - 1, 0, current + 1))
    return current


def slices(m, value, load, width, name, advance=None):
    """``value``, taken in a cycle with ``load``, ``width`` bits at a time from the lowest.

    In a cycle with ``load`` the lowest ``width`` bits of ``value`` itself; then the next
    ``width`` after each cycle (``advance=None``), or after each cycle with ``advance``
    (never one with ``load``), from a register named ``name`` that shifts down ``width``
    bits. ``width=None`` takes the whole value and holds it until the next ``load``.
    """
    value = Value.cast(value)
    held = Signal(len(value), name=name, reset_less=True)
    current = Mux(load, value, held)
    if width is None:
        m.d.sync += held.eq(current)
    elif advance is None:
        m.d.sync += held.eq(current[width:])
    else:
        with m.If(load):
            m.d.sync += held.eq(value)
        with m.Elif(advance):
            m.d.sync += held.eq(held[width:])
    return current if width is None else current[:width]


def slice_index(m, load, count, name, advance=None):
    """Which of ``count`` slices of a value its source holds to take in this cycle, as
    :func:`slices` takes them but without a register that holds the value: 0 in a cycle
    with ``load``, then one more after each cycle (``advance=None``), or after each cycle
    with ``advance`` (never one with ``load``), from a counter named ``name``. Pick the
    slice with ``value.word_select(index, width)``."""
    index = Signal(range(count), name=name)
    current = Mux(load, 0, index)
    following = current + (1 if advance is None else advance)
    m.d.sync += index.eq(Mux(following == count, 0, following))
    return current


def gather(m, value, count, name, advance=None):
    """``value`` as it was in the last ``count`` cycles (``advance=None``), or the last
    ``count`` cycles with ``advance``, up to this one, oldest in the lowest bits, the earlier
    ones from a register named ``name`` that shifts down a value after each of them."""
    value = Value.cast(value)
    if count == 1:
        return value
    earlier = Signal(len(value) * (count - 1), name=name, reset_less=True)
    with m.If(1 if advance is None else advance):
        m.d.sync += earlier.eq(Cat(earlier[len(value):], value))
    return Cat(earlier, value)
