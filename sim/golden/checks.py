"""Argument checks shared by the golden layers: every bad input is a ``ValueError`` naming it."""

import math

import numpy as np

from hdl.params import Precision

__all__ = ["precision", "scale", "scales", "zero_point", "tensor", "int32_vector", "pair",
           "quad"]

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def precision(bits):
    """The :class:`Precision` for ``bits`` (8, 4 or 2)."""
    if bits not in (8, 4, 2) or isinstance(bits, bool):
        raise ValueError(f"bits must be one of 8, 4, 2, not {bits!r}")
    return Precision.from_bits(bits)


def scale(value, name):
    """A quantization scale as TFLite stores it (float32), returned as a Python float."""
    value = float(value)
    single = float(np.float32(value))
    if not math.isfinite(single) or single <= 0:
        raise ValueError(f"{name} must be a finite positive number, not {value!r}")
    return single


def scales(values, name, count):
    """A scalar scale or one per channel, as ``count`` float32-rounded Python floats."""
    array = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if array.ndim != 1 or array.shape[0] not in (1, count):
        raise ValueError(f"{name} must be a scalar or have {count} elements, "
                         f"not shape {np.shape(values)!r}")
    return [scale(value, name) for value in np.broadcast_to(array, (count,))]


def zero_point(value, name, precision):
    """An integer zero point within ``precision``'s range."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, not {value!r}")
    if not precision.min <= value <= precision.max:
        raise ValueError(f"{name} must lie in [{precision.min}, {precision.max}], not {value!r}")
    return int(value)


def tensor(values, name, precision, ndim):
    """An integer array of ``ndim`` dimensions within ``precision``'s range, as ``int64``."""
    array = np.asarray(values)
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must be an integer array, not of dtype {array.dtype}")
    if array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, not shape {array.shape!r}")
    if array.size and (array.min() < precision.min or array.max() > precision.max):
        bad = array[(array < precision.min) | (array > precision.max)].flat[0]
        raise ValueError(f"{name} must lie in [{precision.min}, {precision.max}] for "
                         f"int{precision.bits}, not {int(bad)!r}")
    return array.astype(np.int64)


def int32_vector(values, name, length):
    """An integer vector of ``length`` int32 values, as ``int64``."""
    array = np.asarray(values)
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must be an integer array, not of dtype {array.dtype}")
    if array.shape != (length,):
        raise ValueError(f"{name} must have shape {(length,)!r}, not {array.shape!r}")
    if array.size and (array.min() < INT32_MIN or array.max() > INT32_MAX):
        raise ValueError(f"{name} must lie in [{INT32_MIN}, {INT32_MAX}]")
    return array.astype(np.int64)


def pair(values, name, minimum):
    """Two integers, each at least ``minimum`` (a kernel or stride)."""
    values = tuple(values)
    if len(values) != 2 or not all(isinstance(v, (int, np.integer)) and v >= minimum
                                   for v in values):
        raise ValueError(f"{name} must be two integers of at least {minimum}, not {values!r}")
    return tuple(int(v) for v in values)


def quad(values, name):
    """Four non-negative integers: padding (top, bottom, left, right)."""
    values = tuple(values)
    if len(values) != 4 or not all(isinstance(v, (int, np.integer)) and v >= 0 for v in values):
        raise ValueError(f"{name} must be four non-negative integers (top, bottom, left, right), "
                         f"not {values!r}")
    return tuple(int(v) for v in values)
