"""Pipeline registers: a value one cycle or several cycles later, in named registers."""

from amaranth import Cat, Mux, Signal, Value

__all__ = ["register", "delay", "slices", "gather"]


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


def slices(m, value, load, width, name):
    """``value``, taken in a cycle with ``load``, ``width`` bits a cycle from the lowest.

    In a cycle with ``load`` the lowest ``width`` bits of ``value`` itself; in each cycle
    after, the next ``width``, from a register named ``name`` that shifts down ``width``
    bits a cycle. ``width=None`` takes the whole value and holds it until the next ``load``.
    """
    value = Value.cast(value)
    held = Signal(len(value), name=name, reset_less=True)
    current = Mux(load, value, held)
    if width is None:
        m.d.sync += held.eq(current)
        return current
    m.d.sync += held.eq(current[width:])
    return current[:width]


def gather(m, value, count, name):
    """``value`` as it was in the last ``count`` cycles, oldest in the lowest bits, the cycles
    before this one from a register named ``name`` that shifts down a value a cycle."""
    value = Value.cast(value)
    earlier = Signal(len(value) * (count - 1), name=name, reset_less=True)
    m.d.sync += earlier.eq(Cat(earlier[len(value):], value))
    return Cat(earlier, value)
