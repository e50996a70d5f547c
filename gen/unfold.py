"""The stem packed into lanes: the host unfolds the input frame, the chip runs a dense conv.

A core's ``MAC`` multiplies one activation word (``lanes`` bytes) by a weight tile a
cycle. A stem convolution over a frame of few channels (ResNet's 7x7 stride-2 conv over
224 x 224 x 3) fills 3 of a word's 64 lanes, so it runs at a few percent of the MAC
array's peak. :func:`unfold_stem` rewrites it as a conv over an **unfolded** input that
packs many of the window's values into each word, in one of two forms
(:class:`Unfolding`):

- **windows** (im2col, :func:`unfold`): each output pixel's whole ``kh x kw x c``
  window, shape ``(out_h, out_w, kh * kw * c)``; the stem becomes a 1x1 conv with the
  weights reordered ``(O, 1, 1, KH*KW*C)``. The ``MAC`` reads the fewest words, but the
  host writes each frame value about ``kh * kw / (sh * sw)`` times.
- **row groups** (:func:`unfold_rows`): each unfolded pixel ``(q, x)`` holds the ``sh``
  padded rows ``q * sh ...`` under the ``kw`` columns of output column ``x``'s window,
  shape ``(out_h + ceil(kh / sh) - 1, out_w, sh * kw * c)``; the stem becomes a
  ``ceil(kh / sh) x 1`` stride-1 conv, its weights ``(O, ceil(kh/sh), 1, sh*KW*C)`` with
  zero rows past ``kh``. Each value is written ``kw / sw`` times: for ResNet's stem 12,880
  words a frame against the windows' 37,632, for a third more ``MAC`` reads.

:func:`unfold_stem` takes the form of fewer words written (the host's port, one word a
cycle, is the narrowest path onto the chip), the windows on a tie. Positions in the conv's
padding (and rows past the frame that only zero weights meet) hold the input zero point,
which contributes nothing to ``sum((x - x_zp) * w)`` exactly as TFLite's padding does; the
bias, scales, zero points and precision are the conv's, so every output is bit for bit
the original network's.

Either form may also **pack** output columns (:attr:`Unfolding.pack`): a pixel holds the
windows of ``pack`` adjacent output columns side by side, ``kw + (pack - 1) * sw`` columns
of the frame, and the conv computes all their channels at each position
(:class:`~gen.network.Conv2d`'s ``pack``), writing them as ``pack`` consecutive pixels of
its output. Where the wider pixel takes no more words than one column's, the ``MAC`` reads
as many words per output pixel and the host writes ``pack`` times fewer: ResNet's stem in
row groups of two columns, ``2 x 9 x 3`` = 54 bytes, is 6,440 words a frame.

The host does the unfolding through :meth:`Unfolding.apply`, the one place a frame is
unfolded (:meth:`gen.network.Network.host_input` calls it for the golden model,
:meth:`gen.compiler.Compiled.input_words` and :meth:`gen.array.ArrayCompiled.input_writes`
for the chip). An unfolded network keeps its :class:`Unfolding` (``Network.unfolding``),
so whoever writes its frames knows.
"""

import dataclasses
from dataclasses import dataclass

import numpy as np

from hdl.params import CoreParams
from sim.golden.conv import output_size

from .network import Conv2d, Network, TensorSpec

__all__ = ["MAX_UNFOLDED_WORDS", "MAX_PACK", "FORMS", "UnfoldError", "Unfolding", "unfold", "unfold_rows",
           "unfold_stem"]

#: The most words an unfolded pixel may take: the host's writes grow with it, and past a
#: few words per pixel the stem is no longer the few-channel conv this is for.
MAX_UNFOLDED_WORDS = 32
#: The most output columns an unfolded pixel holds: each multiplies the stem's weights and
#: settings entries on every core computing it.
MAX_PACK = 8


class UnfoldError(ValueError):
    """A stem that cannot be unfolded; the message names the layer and the limit."""


def _output_shape(frame, kernel, stride, padding):
    """``frame`` checked, and the ``(out_h, out_w)`` of a conv of ``kernel``, ``stride`` and
    ``padding`` over it."""
    frame = np.asarray(frame)
    if frame.ndim != 3 or not np.issubdtype(frame.dtype, np.integer):
        raise ValueError(f"frame must be an integer array (H, W, C), not of dtype {frame.dtype} "
                         f"and shape {frame.shape!r}")
    height, width, _ = frame.shape
    top, bottom, left, right = padding
    out_h = output_size(height, kernel[0], stride[0], top, bottom)
    out_w = output_size(width, kernel[1], stride[1], left, right)
    if min(out_h, out_w) < 1:
        raise ValueError(f"a {kernel[0]}x{kernel[1]} kernel with padding {tuple(padding)!r} does not "
                         f"fit a {height}x{width} frame")
    return frame, out_h, out_w


def _check_pack(pack, columns):
    if isinstance(pack, bool) or not isinstance(pack, int) or pack < 1 or columns % pack:
        raise ValueError(f"pack must be a positive integer dividing the {columns} output columns, "
                         f"not {pack!r}")


def _columns(frame, kernel, stride, padding, pack):
    """``frame`` checked, ``(out_h, positions)`` (``positions``: ``out_w / pack``), and the
    width and step of a position's columns: ``pack`` output columns' windows side by side."""
    frame, out_h, out_w = _output_shape(frame, kernel, stride, padding)
    _check_pack(pack, out_w)
    (_, kw), (_, sw) = kernel, stride
    return frame, out_h, out_w // pack, kw + (pack - 1) * sw, pack * sw


def unfold(frame, *, kernel, stride, padding, zero_point, pack=1):
    """The im2col of ``frame``: each output pixel's window, padded with ``zero_point``.

    Parameters
    ----------
    frame : integer array (H, W, C)
    kernel : (kh, kw)
    stride : (sh, sw)
    padding : (top, bottom, left, right)
        Pixels of ``zero_point`` around the frame, as ``CONV_2D`` pads.
    zero_point : int
        The input's zero point.
    pack : int
        Output columns a pixel of the result holds (dividing ``out_w``): their windows
        together, ``kw + (pack - 1) * sw`` columns wide.

    Returns an int64 array ``(out_h, out_w / pack, kh * (kw + (pack - 1) * sw) * C)``
    (``out_h`` and ``out_w`` by :func:`sim.golden.conv.output_size`), each pixel's window in
    (row, column, channel) order, the order of a conv's OHWI weights.
    """
    frame, out_h, positions, width, step = _columns(frame, kernel, stride, padding, pack)
    (kh, _), (sh, _) = kernel, stride
    top, bottom, left, right = padding
    padded = np.pad(frame.astype(np.int64), ((top, bottom), (left, right), (0, 0)),
                    constant_values=int(zero_point))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (kh, width), axis=(0, 1))
    # windows: (H', W', C, kh, width); keep every stride-th origin, then order (kh, width, C).
    windows = windows[:sh * (out_h - 1) + 1:sh, :step * (positions - 1) + 1:step]
    return np.ascontiguousarray(windows.transpose(0, 1, 3, 4, 2)).reshape(out_h, positions, -1)


def unfold_rows(frame, *, kernel, stride, padding, zero_point, pack=1):
    """The row groups of ``frame``: for each group of ``sh`` padded rows and each output
    column (each ``pack`` of them), the group's rows under the columns' windows.

    Parameters are :func:`unfold`'s. Returns an int64 array ``(out_h + ceil(kh / sh) - 1,
    out_w / pack, sh * (kw + (pack - 1) * sw) * C)``, pixel ``(q, x)`` holding padded rows
    ``q * sh`` to ``q * sh + sh - 1`` (rows past the padded frame: ``zero_point``), each
    row's ``kw + (pack - 1) * sw`` columns from ``x * pack * sw``, in (row, column,
    channel) order.
    """
    frame, out_h, positions, width, step = _columns(frame, kernel, stride, padding, pack)
    (kh, _), (sh, _) = kernel, stride
    top, bottom, left, right = padding
    height, _, channels = frame.shape
    groups = out_h + -(-kh // sh) - 1
    rows = groups * sh
    padded = np.pad(frame.astype(np.int64), ((top, max(bottom, rows - height - top)), (left, right), (0, 0)),
                    constant_values=int(zero_point))[:rows]
    windows = np.lib.stride_tricks.sliding_window_view(padded, width, axis=1)
    # windows: (rows, W', C, width); keep every step-th column, then order (group, x, row, width, C).
    windows = windows[:, :step * (positions - 1) + 1:step].transpose(0, 1, 3, 2)
    windows = windows.reshape(groups, sh, positions, width, channels).transpose(0, 2, 1, 3, 4)
    return np.ascontiguousarray(windows).reshape(groups, positions, -1)


#: The forms of an unfolded input (see the module's description).
FORMS = ("windows", "rows")


@dataclass(frozen=True)
class Unfolding:
    """How the host unfolds a frame for an unfolded network, and the conv that reads it
    (see the module's description).

    Parameters
    ----------
    layer : str
        The conv that now reads the unfolded input.
    frame : TensorSpec
        The frame the host holds, (H, W, C), and its quantization.
    kernel, stride : (int, int)
        The original conv's kernel and stride.
    padding : (top, bottom, left, right)
        The original conv's padding, filled with ``frame.zero_point``.
    form : str
        ``"windows"`` (:func:`unfold`) or ``"rows"`` (:func:`unfold_rows`).
    pack : int
        Output columns an unfolded pixel holds the windows of (see the module's description).
    """
    layer: str
    frame: TensorSpec
    kernel: tuple
    stride: tuple
    padding: tuple
    form: str = "windows"
    pack: int = 1

    def __post_init__(self):
        if self.form not in FORMS:
            raise ValueError(f"form must be one of {', '.join(FORMS)}, not {self.form!r}")
        _check_pack(self.pack, self.out_size[1])

    @property
    def out_size(self):
        """The original conv's ``(out_h, out_w)``."""
        height, width, _ = self.frame.shape
        (kh, kw), (sh, sw) = self.kernel, self.stride
        top, bottom, left, right = self.padding
        return output_size(height, kh, sh, top, bottom), output_size(width, kw, sw, left, right)

    @property
    def taps(self):
        """The unfolded conv's kernel height: 1 for windows, ``ceil(kh / sh)`` for rows."""
        return 1 if self.form == "windows" else -(-self.kernel[0] // self.stride[0])

    @property
    def pixel(self):
        """``(rows, columns, channels)`` of the frame one unfolded pixel holds: ``pack``
        output columns' windows side by side, ``kw + (pack - 1) * sw`` columns."""
        rows = self.kernel[0] if self.form == "windows" else self.stride[0]
        return rows, self.kernel[1] + (self.pack - 1) * self.stride[1], self.frame.shape[2]

    @property
    def shape(self):
        """The unfolded input's shape: ``(out_h + taps - 1, out_w / pack, rows * columns *
        channels)`` of :attr:`pixel`."""
        out_h, out_w = self.out_size
        return out_h + self.taps - 1, out_w // self.pack, int(np.prod(self.pixel))

    def apply(self, frame):
        """The unfolded input (:attr:`shape`, int64) of ``frame`` (:attr:`frame`'s shape)."""
        frame = np.asarray(frame)
        if frame.shape != tuple(self.frame.shape):
            raise ValueError(f"frame must have shape {tuple(self.frame.shape)!r}, not {frame.shape!r}")
        form = unfold if self.form == "windows" else unfold_rows
        return form(frame, kernel=self.kernel, stride=self.stride, padding=self.padding,
                    zero_point=self.frame.zero_point, pack=self.pack)

    def conv(self, stem):
        """The stride-1, unpadded ``taps x 1`` conv over the unfolded input that computes
        ``stem`` (a :class:`~gen.network.Conv2d` of this unfolding's kernel), ``pack``
        output columns a position: its weights in :attr:`pixel` order, column ``p``'s at
        the pixel's columns ``p * sw ..``, zero where a row group reaches past the kernel
        and at the other columns' window columns."""
        out_channels, kh, kw, channels = stem.w.shape
        rows, columns, _ = self.pixel
        w = np.zeros((self.pack, out_channels, self.taps * rows, columns, channels), stem.w.dtype)
        for column in range(self.pack):
            w[column, :, :kh, column * self.stride[1]:column * self.stride[1] + kw] = stem.w
        w_scale = np.asarray(stem.w_scale)
        return dataclasses.replace(
            stem, w=w.reshape(self.pack * out_channels, self.taps, 1, -1), bias=np.tile(stem.bias, self.pack),
            w_scale=np.tile(w_scale, self.pack) if w_scale.ndim else stem.w_scale, stride=(1, 1),
            padding=(0, 0, 0, 0), pack=self.pack)


def _words(values, per_word):
    return -(-values // per_word)


def unfold_stem(network, params, form=None, pack=None):
    """``network`` with its stem unfolded for cores of ``params``, or ``network`` itself.

    The stem is the conv reading the network's input, if unfolding saves words: its
    channels fill less than one word (``per_word``: ``params.word_bytes`` lanes at the
    input's precision), so its ``MAC`` reads ``kh * kw`` words per output pixel, and the
    unfolded 1x1 conv reads fewer, ``ceil(kh * kw * C / per_word)``. ``form`` is one of
    :data:`FORMS`, or ``None`` for the one of fewer words written a frame (the windows on a
    tie). ``pack`` is the output columns an unfolded pixel holds, or ``None`` for the most,
    up to :data:`MAX_PACK`, whose pixel takes no more words than one column's (the ``MAC``
    then reads as many words per output pixel, and the host writes ``pack`` times fewer):
    more than one needs the stem's output channels in whole tiles of the MAC's columns
    (:meth:`gen.compiler.CoreCompiler.mac`). A network whose input no such conv reads (or
    already unfolded) is returned unchanged.

    Returns a :class:`~gen.network.Network` whose ``input`` is the unfolded tensor, whose
    ``unfolding`` is the :class:`Unfolding`, and whose golden outputs equal ``network``'s
    for every frame. Raises :class:`UnfoldError` if the stem would qualify but the input
    is also read by another layer, or its unfolded pixel exceeds
    :data:`MAX_UNFOLDED_WORDS` words.
    """
    if not isinstance(network, Network):
        raise TypeError(f"network must be a Network, not {network!r}")
    if not isinstance(params, CoreParams):
        raise TypeError(f"params must be a CoreParams, not {params!r}")
    if form is not None and form not in FORMS:
        raise ValueError(f"form must be one of {', '.join(FORMS)} or None, not {form!r}")
    if pack is not None and (isinstance(pack, bool) or not isinstance(pack, int) or pack < 1):
        raise ValueError(f"pack must be a positive integer or None, not {pack!r}")
    if network.unfolding is not None:
        return network
    readers = [layer for layer in network.layers if "input" in layer.sources]
    per_word = params.word_bytes * network.precision.values_per_lane
    stems = [layer for layer in readers if isinstance(layer, Conv2d)
             and _words(layer.w[0].size, per_word) < layer.w.shape[1] * layer.w.shape[2]]
    if not stems:
        return network
    (stem, *_) = stems
    others = [layer.name for layer in readers if layer is not stem]
    if others:
        raise UnfoldError(f"layer {stem.name}: the input is also read by {', '.join(others)}; "
                          f"an unfolded input feeds one conv only")

    def written(unfolding):
        height, width, values = unfolding.shape
        return height * width * _words(values, per_word)

    def candidate(each, columns):
        return Unfolding(stem.name, network.input, tuple(stem.w.shape[1:3]), tuple(stem.stride),
                         tuple(stem.padding), each, columns)

    def packed(each):
        """The form ``each`` packed ``pack`` columns, or as many as keep one column's words."""
        if pack is not None:
            if pack > 1 and stem.w.shape[0] % params.mac.columns:
                raise UnfoldError(f"layer {stem.name}: its {stem.w.shape[0]} output channels are not "
                                  f"whole tiles of the MAC's {params.mac.columns} columns; it cannot "
                                  f"compute {pack} columns a position")
            try:
                return candidate(each, pack)
            except ValueError as error:
                raise UnfoldError(f"layer {stem.name}: {error}") from None
        single = candidate(each, 1)
        if stem.w.shape[0] % params.mac.columns:
            return single
        _, out_w = single.out_size
        packs = [candidate(each, columns) for columns in range(2, MAX_PACK + 1) if out_w % columns == 0]
        return max([single, *(wider for wider in packs if _words(wider.shape[2], per_word)
                              == _words(single.shape[2], per_word))], key=lambda wider: wider.pack)

    unfolding = min((packed(each) for each in FORMS if form in (None, each)), key=written)
    words = _words(unfolding.shape[2], per_word)
    if words > MAX_UNFOLDED_WORDS:
        rows, columns, channels = unfolding.pixel
        raise UnfoldError(f"layer {stem.name}: an unfolded pixel ({rows}x{columns}x{channels} values at "
                          f"int{network.bits}) takes {words} words, more than {MAX_UNFOLDED_WORDS}")
    layers = [unfolding.conv(stem) if layer is stem else layer for layer in network.layers]
    spec = TensorSpec(unfolding.shape, network.input.scale, network.input.zero_point)
    return Network(spec, layers, network.bits, network.outputs, unfolding)
