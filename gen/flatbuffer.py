"""Bounds checks of a flatbuffer before its generated readers touch it.

The ``flatbuffers`` package's Python readers trust the file: an offset past its end or a
vtable pointing anywhere raises ``struct.error``, ``IndexError`` or ``TypeError``, or
silently reads other bytes as the field. :func:`verify` walks the tables of a schema
(described here with :class:`Table` and the field kinds below) from the root and raises
:class:`FlatbufferError` in one line naming the field and what is wrong with it, as the
C++ ``flatbuffers::Verifier`` does: every table, vtable, field, vector, string and union
lies inside the file, vtables are well formed and strings are UTF-8. Fields the schema
description leaves out are not checked (the readers do not touch them either).
"""

import struct
from dataclasses import dataclass, field

__all__ = ["FlatbufferError", "Scalar", "String", "Vector", "Tables", "Nested", "Union", "Table",
           "verify"]

#: Bytes of an offset (``uoffset_t``, ``soffset_t``) and of a vtable entry (``voffset_t``).
OFFSET_BYTES = 4
VOFFSET_BYTES = 2
#: The vtable's own two entries (its size and the table's inline size) before the fields'.
VTABLE_HEADER_BYTES = 2 * VOFFSET_BYTES


class FlatbufferError(ValueError):
    """The flatbuffer is malformed; the message names the field and what is wrong with it."""


@dataclass(frozen=True)
class Scalar:
    """An inline scalar of ``size`` bytes."""
    size: int


@dataclass(frozen=True)
class String:
    """An offset to a UTF-8 string."""


@dataclass(frozen=True)
class Vector:
    """An offset to a vector of scalars of ``size`` bytes each."""
    size: int


@dataclass(frozen=True)
class Tables:
    """An offset to a vector of offsets to tables of ``table``."""
    table: "Table"


@dataclass(frozen=True)
class Nested:
    """An offset to one table of ``table``."""
    table: "Table"


@dataclass(frozen=True)
class Union:
    """An offset to a table whose kind the one-byte field ``type_field`` gives: ``tables``
    maps the type values to the tables checked field by field; any other type is checked
    as a table of no known fields."""
    type_field: int
    tables: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Table:
    """A table of the schema: ``fields`` maps a field's index (its order in the schema) to
    ``(name, kind)``."""
    name: str
    fields: dict


_EMPTY = Table("table", {})


class _Verifier:
    def __init__(self, data):
        self.data = data

    def need(self, position, length, what):
        if position < 0 or length < 0 or position + length > len(self.data):
            raise FlatbufferError(f"{what} at offset {position} ({length} bytes) lies outside "
                                  f"the file's {len(self.data)} bytes")

    def unpack(self, form, position, what):
        self.need(position, struct.calcsize(form), what)
        return struct.unpack_from(form, self.data, position)[0]

    def target(self, position, what):
        """The position an offset at ``position`` points to."""
        return position + self.unpack("<I", position, f"the offset of {what}")

    def vector(self, position, size, what):
        """The length of the vector at ``position`` of elements of ``size`` bytes, checked."""
        length = self.unpack("<I", position, f"the length of {what}")
        self.need(position + OFFSET_BYTES, length * size, f"{what} of {length} elements")
        return length

    def table(self, position, table, path):
        vtable = position - self.unpack("<i", position, f"table {path}")
        self.need(vtable, VTABLE_HEADER_BYTES, f"the vtable of {path}")
        vtable_size, table_size = struct.unpack_from("<HH", self.data, vtable)
        if vtable_size < VTABLE_HEADER_BYTES or vtable_size % VOFFSET_BYTES:
            raise FlatbufferError(f"the vtable of {path} at offset {vtable} has size {vtable_size}; "
                                  f"a vtable is an even number of bytes, at least "
                                  f"{VTABLE_HEADER_BYTES}")
        self.need(vtable, vtable_size, f"the vtable of {path}")
        if table_size < OFFSET_BYTES:
            raise FlatbufferError(f"the vtable of {path} at offset {vtable} gives the table "
                                  f"{table_size} bytes; a table holds at least its "
                                  f"{OFFSET_BYTES}-byte vtable offset")
        self.need(position, table_size, f"table {path}")
        for index, (name, kind) in sorted(table.fields.items()):
            entry = VTABLE_HEADER_BYTES + VOFFSET_BYTES * index
            if entry >= vtable_size:
                continue
            offset = struct.unpack_from("<H", self.data, vtable + entry)[0]
            if offset == 0:
                continue
            width = kind.size if isinstance(kind, Scalar) else OFFSET_BYTES
            if offset + width > table_size:
                raise FlatbufferError(f"the vtable of {path} at offset {vtable} places field "
                                      f"{name} at byte {offset} of a {table_size}-byte table")
            self.field(position, position + offset, kind, f"{path}.{name}", table, vtable,
                       vtable_size)

    def field(self, table_position, position, kind, path, table, vtable, vtable_size):
        if isinstance(kind, Scalar):
            return
        target = self.target(position, path)
        if isinstance(kind, String):
            length = self.vector(target, 1, path)
            self.need(target + OFFSET_BYTES + length, 1, f"the terminating zero of {path}")
            text = self.data[target + OFFSET_BYTES:target + OFFSET_BYTES + length]
            try:
                bytes(text).decode()
            except UnicodeDecodeError as error:
                raise FlatbufferError(f"{path} is not UTF-8 ({error.reason} at byte "
                                      f"{error.start})") from None
        elif isinstance(kind, Vector):
            self.vector(target, kind.size, path)
        elif isinstance(kind, Tables):
            for index in range(self.vector(target, OFFSET_BYTES, path)):
                element = target + OFFSET_BYTES + OFFSET_BYTES * index
                self.table(self.target(element, f"{path}[{index}]"), kind.table,
                           f"{path}[{index}]")
        elif isinstance(kind, Nested):
            self.table(target, kind.table, path)
        elif isinstance(kind, Union):
            entry = VTABLE_HEADER_BYTES + VOFFSET_BYTES * kind.type_field
            offset = (struct.unpack_from("<H", self.data, vtable + entry)[0]
                      if entry < vtable_size else 0)
            union_type = self.data[table_position + offset] if offset else 0
            self.table(target, kind.tables.get(union_type, _EMPTY), path)
        else:
            raise TypeError(f"field kind must be Scalar, String, Vector, Tables, Nested or Union, "
                            f"not {kind!r}")


def verify(data, root, identifier=None):
    """Check that the flatbuffer ``data`` holds a well-formed table ``root`` (a :class:`Table`)
    at its root, with the four-byte file ``identifier`` when given; raise
    :class:`FlatbufferError` otherwise."""
    verifier = _Verifier(data)
    if identifier is not None:
        if len(data) < 2 * OFFSET_BYTES:
            raise FlatbufferError(f"the file's {len(data)} bytes are too few for a root offset "
                                  f"and an identifier")
        if bytes(data[OFFSET_BYTES:2 * OFFSET_BYTES]) != identifier:
            raise FlatbufferError(f"the file identifier is not {identifier.decode()!r}")
    verifier.table(verifier.target(0, root.name), root, root.name)
