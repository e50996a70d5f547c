"""Pipeline registers: a value one cycle or several cycles later, in named registers."""

from amaranth import Signal

__all__ = ["register", "delay"]


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
