"""``gen.flatbuffer.verify`` refuses every offset, vtable and string it cannot trust, in one line."""

import re
import struct

import flatbuffers
import pytest

from gen.flatbuffer import FlatbufferError, Nested, Scalar, String, Table, Vector, verify

ROOT = Table("Root", {0: ("number", Scalar(4)), 1: ("text", String()), 2: ("values", Vector(4)),
                      3: ("child", Nested(Table("Child", {0: ("number", Scalar(4))})))})


def build(text=b"hello"):
    """A ``Root`` with every field set, and the position of its table."""
    builder = flatbuffers.Builder(0)
    string = builder.CreateString(text)
    builder.StartVector(4, 3, 4)
    for value in (3, 2, 1):
        builder.PrependInt32(value)
    vector = builder.EndVector()
    builder.StartObject(1)
    builder.PrependInt32Slot(0, 7, 0)
    child = builder.EndObject()
    builder.StartObject(4)
    builder.PrependInt32Slot(0, 42, 0)
    builder.PrependUOffsetTRelativeSlot(1, string, 0)
    builder.PrependUOffsetTRelativeSlot(2, vector, 0)
    builder.PrependUOffsetTRelativeSlot(3, child, 0)
    builder.Finish(builder.EndObject(), file_identifier=b"TEST")
    data = bytearray(builder.Output())
    return data, struct.unpack_from("<I", data, 0)[0]


def test_verify():
    data, _ = build()
    verify(bytes(data), ROOT, identifier=b"TEST")


def test_identifier_wrong():
    data, _ = build()
    with pytest.raises(FlatbufferError, match=r"^the file identifier is not 'TFL3'$"):
        verify(bytes(data), ROOT, identifier=b"TFL3")


def test_truncated_wrong():
    data, _ = build()
    with pytest.raises(FlatbufferError, match=r"^.* lies outside the file's 20 bytes$"):
        verify(bytes(data[:20]), ROOT)


def test_root_offset_wrong():
    data, _ = build()
    struct.pack_into("<I", data, 0, 1 << 20)
    with pytest.raises(FlatbufferError, match=rf"^table Root at offset {1 << 20} \(4 bytes\) lies "
                                              rf"outside the file's {len(data)} bytes$"):
        verify(bytes(data), ROOT)


def vtable(data, table):
    return table - struct.unpack_from("<i", data, table)[0]


@pytest.mark.parametrize("entry, value, message", [
    (0, 5, "the vtable of Root at offset {vtable} has size 5; a vtable is an even number of "
           "bytes, at least 4"),
    (4, 200, "the vtable of Root at offset {vtable} places field number at byte 200 of a "
             "{size}-byte table"),
])
def test_vtable_wrong(entry, value, message):
    data, table = build()
    size = struct.unpack_from("<H", data, vtable(data, table) + 2)[0]
    struct.pack_into("<H", data, vtable(data, table) + entry, value)
    message = message.format(vtable=vtable(data, table), size=size)
    with pytest.raises(FlatbufferError, match=f"^{re.escape(message)}$"):
        verify(bytes(data), ROOT)


def test_vector_length_wrong():
    data, table = build()
    field = table + struct.unpack_from("<H", data, vtable(data, table) + 8)[0]
    target = field + struct.unpack_from("<I", data, field)[0]
    struct.pack_into("<I", data, target, 1000)
    with pytest.raises(FlatbufferError, match=rf"^Root.values of 1000 elements at offset "
                                              rf"{target + 4} \(4000 bytes\) lies outside the "
                                              rf"file's {len(data)} bytes$"):
        verify(bytes(data), ROOT)


def test_string_wrong():
    data, _ = build(b"\xff\xfe")
    with pytest.raises(FlatbufferError, match=r"^Root.text is not UTF-8 \(invalid start byte at "
                                              r"byte 0\)$"):
        verify(bytes(data), ROOT)


def test_kind_wrong():
    data, _ = build()
    with pytest.raises(TypeError, match=r"^field kind must be Scalar, String, Vector, Tables, "
                                        r"Nested or Union, not 'text'$"):
        verify(bytes(data), Table("Root", {1: ("text", "text")}))
