"""The stem packed into lanes: the host unfolds the input frame (im2col), the chip runs a 1x1 conv.

A core's ``MAC`` multiplies one activation word (``lanes`` bytes) by a weight tile a
cycle. A stem convolution over a frame of few channels (ResNet's 7x7 stride-2 conv over
224 x 224 x 3) fills 3 of a word's 64 lanes, so it runs at a few percent of the MAC
array's peak. :func:`unfold_stem` rewrites it as a dense 1x1 stride-1 conv over an
**unfolded** input of shape ``(out_h, out_w, kh * kw * c)``: for each output pixel, its
``kh x kw x c`` window in (row, column, channel) order, packed into whole words; the
weights are the same values reordered ``(O, 1, 1, KH*KW*C)``, and the bias, scales, zero
points and precision are the conv's. Window positions in the conv's padding hold the
input zero point, which contributes nothing to ``sum((x - x_zp) * w)`` exactly as
TFLite's padding does, so every output is bit for bit the original network's.

The work moves to the host: it writes ``out_h * out_w * ceil(kh*kw*c / per_word)`` words a
frame instead of ``h * w * ceil(c / per_word)``, through :meth:`Unfolding.apply`, the one
place a frame is unfolded (:meth:`gen.network.Network.host_input` calls it for the golden
model, :meth:`gen.compiler.Compiled.input_words` and
:meth:`gen.array.ArrayCompiled.input_writes` for the chip). An unfolded network keeps its
:class:`Unfolding` (``Network.unfolding``), so whoever writes its frames knows.
"""

import dataclasses
from dataclasses import dataclass

import numpy as np

from hdl.params import CoreParams
from sim.golden.conv import output_size

from .network import Conv2d, Network, TensorSpec

__all__ = ["MAX_UNFOLDED_WORDS", "UnfoldError", "Unfolding", "unfold", "unfold_stem"]

#: The most words an unfolded pixel may take: the host's writes grow with it, and past a
#: few words per pixel the stem is no longer the few-channel conv this is for.
MAX_UNFOLDED_WORDS = 32


class UnfoldError(ValueError):
    """A stem that cannot be unfolded; the message names the layer and the limit."""


def unfold(frame, *, kernel, stride, padding, zero_point):
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

    Returns an int64 array ``(out_h, out_w, kh * kw * C)`` (``out_h`` and ``out_w`` by
    :func:`sim.golden.conv.output_size`), each pixel's window in (row, column, channel)
    order, the order of a conv's OHWI weights.
    """
    frame = np.asarray(frame)
    if frame.ndim != 3 or not np.issubdtype(frame.dtype, np.integer):
        raise ValueError(f"frame must be an integer array (H, W, C), not of dtype {frame.dtype} "
                         f"and shape {frame.shape!r}")
    (kh, kw), (sh, sw) = kernel, stride
    top, bottom, left, right = padding
    height, width, channels = frame.shape
    out_h = output_size(height, kh, sh, top, bottom)
    out_w = output_size(width, kw, sw, left, right)
    if min(out_h, out_w) < 1:
        raise ValueError(f"a {kh}x{kw} kernel with padding {tuple(padding)!r} does not fit a "
                         f"{height}x{width} frame")
    padded = np.pad(frame.astype(np.int64), ((top, bottom), (left, right), (0, 0)),
                    constant_values=int(zero_point))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (kh, kw), axis=(0, 1))
    # windows: (H', W', C, kh, kw); keep every stride-th origin, then order (kh, kw, C).
    windows = windows[:sh * (out_h - 1) + 1:sh, :sw * (out_w - 1) + 1:sw]
    return np.ascontiguousarray(windows.transpose(0, 1, 3, 4, 2)).reshape(out_h, out_w, kh * kw * channels)


@dataclass(frozen=True)
class Unfolding:
    """How the host unfolds a frame for an unfolded network (see the module's description).

    Parameters
    ----------
    layer : str
        The conv that now reads the unfolded input as a 1x1 conv.
    frame : TensorSpec
        The frame the host holds, (H, W, C), and its quantization.
    kernel, stride : (int, int)
        The original conv's kernel and stride.
    padding : (top, bottom, left, right)
        The original conv's padding, filled with ``frame.zero_point``.
    """
    layer: str
    frame: TensorSpec
    kernel: tuple
    stride: tuple
    padding: tuple

    @property
    def shape(self):
        """The unfolded input's shape ``(out_h, out_w, kh * kw * C)``."""
        height, width, channels = self.frame.shape
        (kh, kw), (sh, sw) = self.kernel, self.stride
        top, bottom, left, right = self.padding
        return (output_size(height, kh, sh, top, bottom), output_size(width, kw, sw, left, right),
                kh * kw * channels)

    def apply(self, frame):
        """The unfolded input (:attr:`shape`, int64) of ``frame`` (:attr:`frame`'s shape)."""
        frame = np.asarray(frame)
        if frame.shape != tuple(self.frame.shape):
            raise ValueError(f"frame must have shape {tuple(self.frame.shape)!r}, not {frame.shape!r}")
        return unfold(frame, kernel=self.kernel, stride=self.stride, padding=self.padding,
                      zero_point=self.frame.zero_point)


def _words(values, per_word):
    return -(-values // per_word)


def unfold_stem(network, params):
    """``network`` with its stem unfolded for cores of ``params``, or ``network`` itself.

    The stem is the conv reading the network's input, if unfolding saves words: its
    channels fill less than one word (``per_word``: ``params.word_bytes`` lanes at the
    input's precision), so its ``MAC`` reads ``kh * kw`` words per output pixel, and the
    unfolded 1x1 conv reads fewer, ``ceil(kh * kw * C / per_word)``. A network whose input
    no such conv reads (or already unfolded) is returned unchanged.

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
    if network.unfolding is not None:
        return network
    readers = [layer for layer in network.layers if "input" in layer.sources]
    per_word = params.word_bytes * network.precision.values_per_lane
    channels = network.input.shape[2]
    stems = [layer for layer in readers if isinstance(layer, Conv2d)
             and _words(layer.w[0].size, per_word) < layer.w.shape[1] * layer.w.shape[2]]
    if not stems:
        return network
    (stem, *_) = stems
    others = [layer.name for layer in readers if layer is not stem]
    if others:
        raise UnfoldError(f"layer {stem.name}: the input is also read by {', '.join(others)}; "
                          f"an unfolded input feeds one conv only")
    _, kh, kw, _ = stem.w.shape
    words = _words(kh * kw * channels, per_word)
    if words > MAX_UNFOLDED_WORDS:
        raise UnfoldError(f"layer {stem.name}: an unfolded pixel ({kh}x{kw}x{channels} values at "
                          f"int{network.bits}) takes {words} words, more than {MAX_UNFOLDED_WORDS}")
    unfolding = Unfolding(stem.name, network.input, (kh, kw), tuple(stem.stride), tuple(stem.padding))
    dense = dataclasses.replace(stem, w=stem.w.reshape(stem.w.shape[0], 1, 1, -1), stride=(1, 1),
                                padding=(0, 0, 0, 0))
    layers = [dense if layer is stem else layer for layer in network.layers]
    spec = TensorSpec(unfolding.shape, network.input.scale, network.input.zero_point)
    return Network(spec, layers, network.bits, network.outputs, unfolding)
