"""Pipeline registers: a value one cycle or several cycles later, in named registers."""

from amaranth import Cat, Const, Mux, Signal, Value

__all__ = ["register", "delay", "phase", "slices", "slice_index", "gather"]


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
