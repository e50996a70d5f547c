"""Argument checks shared by the golden layers: every bad input is a ``ValueError`` naming it.

Each message has the form ``"<argument> must <rule>, not <value>"``.
"""

import math

import numpy as np

from hdl.params import Precision

__all__ = ["INT32_MIN", "INT32_MAX", "MAX_PADDING", "precision", "out_precision", "scale", "scales",
           "zero_point", "activations", "weights", "int32_vector", "pair", "quad"]

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
#: Most padding positions on one side of a window sweep (conv, max-pool). It bounds the padded
#: copy of the input the golden model makes; TFLite's SAME padding is at most kernel - 1 (3 for
#: ResNet's 7x7 stem) and a folded ``PAD`` adds its own few positions, far below it.
MAX_PADDING = 256


def precision(bits):
    """The :class:`~hdl.params.Precision` whose values are ``bits`` wide (8, 4 or 2)."""
    if isinstance(bits, bool) or bits not in (8, 4, 2):
        raise ValueError(f"bits must be one of 8, 4, 2, not {bits!r}")
    return Precision.from_bits(bits)


def out_precision(out_bits, bits):
    """The output's :class:`~hdl.params.Precision`: ``out_bits`` (8, 4 or 2), or ``bits`` if ``None``."""
    if out_bits is None:
        return precision(bits)
    if isinstance(out_bits, bool) or out_bits not in (8, 4, 2):
        raise ValueError(f"out_bits must be one of 8, 4, 2, not {out_bits!r}")
    return Precision.from_bits(out_bits)


def scale(value, name):
    """A quantization scale as TFLite stores it: float32, finite and positive.

    Returned as a Python float holding the float32 value, so that arithmetic on it in
    double matches TFLite's ``static_cast<double>(tensor->params.scale)``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a finite positive number, not {value!r}")
    single = float(np.float32(value))
    if not math.isfinite(single) or single <= 0:
        raise ValueError(f"{name} must be a finite positive number, not {value!r}")
    return single


def scales(values, name, count):
    """A scalar scale or one per channel, as ``count`` float32-valued Python floats."""
    array = np.asarray(values)
    if array.ndim > 1 or (array.ndim == 1 and array.shape[0] not in (1, count)):
        raise ValueError(f"{name} must be a scalar or have {count} elements, "
                         f"not shape {array.shape!r}")
    return [scale(value, name) for value in np.broadcast_to(array.reshape(-1), (count,))]


def zero_point(value, name, precision):
    """An integer zero point within ``precision``'s range."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, not {value!r}")
    if not precision.min <= value <= precision.max:
        raise ValueError(f"{name} must lie in [{precision.min}, {precision.max}], not {value!r}")
    return int(value)


def _in_range(array, name, precision):
    bad = (array < precision.min) | (array > precision.max)
    if bad.any():
        raise ValueError(f"{name} must lie in [{precision.min}, {precision.max}] for "
                         f"int{precision.bits}, not {int(array[bad].flat[0])!r}")
    return array.astype(np.int64)


def _dimensions(array, name, ndim):
    if array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, not shape {array.shape!r}")


def activations(values, name, precision, ndim=None):
    """An activation tensor: ``int8`` storage, values in ``precision``'s range; as ``int64``."""
    array = np.asarray(values)
    if array.dtype != np.int8:
        raise ValueError(f"{name} must be an int8 array, not of dtype {array.dtype}")
    if ndim is not None:
        _dimensions(array, name, ndim)
    return _in_range(array, name, precision)


def weights(values, name, precision, ndim):
    """A weight tensor: any integer dtype, values in ``precision``'s range; as ``int64``."""
    array = np.asarray(values)
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must be an integer array, not of dtype {array.dtype}")
    _dimensions(array, name, ndim)
    if 0 in array.shape:
        raise ValueError(f"{name} must have no empty dimension, not shape {array.shape!r}")
    return _in_range(array, name, precision)


def int32_vector(values, name, length):
    """An integer vector of ``length`` int32-representable values, as ``int64``."""
    array = np.asarray(values)
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must be an integer array, not of dtype {array.dtype}")
    if array.shape != (length,):
        raise ValueError(f"{name} must have shape {(length,)!r}, not {array.shape!r}")
    array = array.astype(np.int64)
    bad = (array < INT32_MIN) | (array > INT32_MAX)
    if bad.any():
        raise ValueError(f"{name} must lie in [{INT32_MIN}, {INT32_MAX}], "
                         f"not {int(array[bad].flat[0])!r}")
    return array


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def pair(values, name, minimum):
    """Two integers, each at least ``minimum`` (a kernel or a stride)."""
    items = tuple(values) if isinstance(values, (tuple, list)) else None
    if items is None or len(items) != 2 or not all(_is_int(v) and v >= minimum for v in items):
        raise ValueError(f"{name} must be two integers of at least {minimum}, not {values!r}")
    return tuple(int(v) for v in items)


def quad(values, name):
    """Four integers in [0, ``MAX_PADDING``]: padding (top, bottom, left, right)."""
    items = tuple(values) if isinstance(values, (tuple, list)) else None
    if items is None or len(items) != 4 or not all(_is_int(v) and 0 <= v <= MAX_PADDING for v in items):
        raise ValueError(f"{name} must be four integers in [0, {MAX_PADDING}] (top, bottom, left, "
                         f"right), not {values!r}")
    return tuple(int(v) for v in items)
