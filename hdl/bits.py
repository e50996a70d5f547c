"""The bits of a constant of an Amaranth data layout, computed in plain Python.

:func:`const_bits` gives the integer ``layout.const(value).as_bits()`` gives for the
struct, flexible, array, enum and integer shapes the instruction word and the settings
entry are made of, without building Amaranth constants: the compiler packs tens of thousands of
words for a full-size network, and Amaranth's constant construction costs milliseconds
each. Unlike a ``Const``, a value that does not fit its field is an error, not truncated.
"""

import enum

from amaranth.hdl import Shape
from amaranth.lib import data

__all__ = ["const_bits"]


def const_bits(layout, value, name="value"):
    """The bits of ``value`` (nested dicts and lists, enums, integers) in ``layout``.

    Raises ``ValueError`` naming the field if a value does not fit it.
    """
    if isinstance(layout, (data.StructLayout, data.FlexibleLayout)):
        bits = 0
        for member, field in layout:
            bits |= const_bits(field.shape, value[member], f"{name}.{member}") << field.offset
        return bits
    if isinstance(layout, data.ArrayLayout):
        if len(value) != layout.length:
            raise ValueError(f"{name} must have {layout.length} elements, not {len(value)}")
        width = Shape.cast(layout.elem_shape).width
        bits = 0
        for index, element in enumerate(value):
            bits |= const_bits(layout.elem_shape, element, f"{name}[{index}]") << (index * width)
        return bits
    if isinstance(layout, type) and issubclass(layout, enum.Enum):
        value = layout(value).value
    shape = Shape.cast(layout)
    value = int(value)
    low, high = (-(1 << shape.width - 1), 1 << shape.width - 1) if shape.signed else (0, 1 << shape.width)
    if not low <= value < high:
        kind = "signed" if shape.signed else "unsigned"
        raise ValueError(f"{name} {value} does not fit {shape.width} {kind} bits")
    return value & ((1 << shape.width) - 1)
