"""Golden model of the SIMD datapath: lane packing and the packed vector-matrix product.

A lane is ``LANE_WIDTH`` (8) bits wide and carries ``8 // bits`` two's-complement values
packed little-endian: value ``j`` of lane ``i`` is element ``i * per_lane + j`` of the
unpacked vector and occupies bits ``[j*bits + bits - 1 : j*bits]`` of the lane. So a
packed vector is the dense bit-packing of the element vector, lowest element first.
"""

import numpy as np

from hdl.params import ACC_WIDTH, LANE_WIDTH, Precision

__all__ = ["pack_lanes", "unpack_lanes", "vector_matrix", "wrap_int32"]


def wrap_int32(values):
    """Wrap integers to two's-complement int32, as a 32-bit accumulator does."""
    values = np.asarray(values, dtype=np.int64)
    return ((values + (1 << (ACC_WIDTH - 1))) % (1 << ACC_WIDTH) - (1 << (ACC_WIDTH - 1))) \
        .astype(np.int32)


def _check_range(values, precision, name):
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"{name} must be an integer array, not of dtype {values.dtype}")
    if values.size and (values.min() < precision.min or values.max() > precision.max):
        bad = values[(values < precision.min) | (values > precision.max)].flat[0]
        raise ValueError(f"{name} must lie in [{precision.min}, {precision.max}] for "
                         f"int{precision.bits}, not {int(bad)!r}")
    return values.astype(np.int64)


def pack_lanes(values, precision):
    """Pack the last axis of ``values`` into 8-bit lanes; returns ``uint8``, last axis shrunk.

    The last axis must be a multiple of the values per lane; every value must be in range.
    """
    precision = Precision(precision)
    values = _check_range(values, precision, "values")
    per_lane = precision.values_per_lane
    if values.shape[-1] % per_lane:
        raise ValueError(f"last axis of values must be a multiple of {per_lane} for "
                         f"int{precision.bits}, not {values.shape[-1]!r}")
    fields = (values & ((1 << precision.bits) - 1)).reshape(*values.shape[:-1], -1, per_lane)
    weights = np.left_shift(1, precision.bits * np.arange(per_lane), dtype=np.int64)
    return (fields * weights).sum(axis=-1).astype(np.uint8)


def unpack_lanes(lanes, precision):
    """Inverse of :func:`pack_lanes`: ``uint8`` lanes to signed values (``int64``)."""
    precision = Precision(precision)
    lanes = np.asarray(lanes, dtype=np.int64)
    if lanes.size and (lanes.min() < 0 or lanes.max() >= 1 << LANE_WIDTH):
        raise ValueError(f"lanes must lie in [0, {(1 << LANE_WIDTH) - 1}]")
    shifts = precision.bits * np.arange(precision.values_per_lane)
    fields = (lanes[..., None] >> shifts) & ((1 << precision.bits) - 1)
    values = np.where(fields > precision.max, fields - (1 << precision.bits), fields)
    return values.reshape(*lanes.shape[:-1], -1)


def vector_matrix(activations, weights, precision, accumulator=0):
    """One MAC-array step: ``accumulator + activations @ weights`` with int32 wrap.

    Parameters
    ----------
    activations : array of uint8, shape (lanes,)
        Packed activation lanes.
    weights : array of uint8, shape (columns, lanes)
        Packed weight lanes, ``weights[column][lane]``.
    precision : Precision
        How the lanes are unpacked.
    accumulator : int or array of shape (columns,)
        Previous column sums.

    Returns the ``columns`` int32 sums, every sub-product of a lane adding into its column.
    """
    a = unpack_lanes(activations, precision)
    w = unpack_lanes(weights, precision)
    return wrap_int32(np.asarray(accumulator, dtype=np.int64) + w @ a)
