"""The single-core compiler: a quantized network to a program, memory images and a cycle count.

Every tensor gets a buffer in the activation SRAM, HWC, each pixel's channels packed at
the tensor's own precision (:meth:`gen.network.Network.tensor_precision`) into whole
words (``lanes * 8 / bits`` channels a word). Every instruction reads its operands (and a
``MAC`` its weights) at its source tensor's precision and writes at its layer's
(``precision`` and ``out_precision``). A buffer
carries the border its consumers pad with, filled once at load time (the input zero
point for a convolution, so that the folded bias stays exact; the precision's minimum for
a max-pool, so that padding never wins), so every address stream is affine and no
instruction tests a coordinate. Tensors joined by an ``ADD`` share one border geometry,
so that its two operand streams keep a constant distance, which the allocator keeps off
a multiple of the bank count: the two reads of a cycle never meet in one bank (checked
for every element before the program is emitted). Intermediate tensors stay in the core.

Convolutions and fully-connected layers become one ``MAC`` instruction each: output
channel blocks of ``columns`` outermost, then output rows and columns, and each tile the
kernel window times the input channel words; the weight SRAM holds each layer's tiles in
that order. A convolution fused with the residual add that reads it
(:class:`~gen.network.ConvAdd`, :func:`gen.network.fuse_adds`) becomes one ``MACADD``, the
same loop nest with the residual read per tile at ``r``. Max-pool, global average pool and
residual add become ``MAXPOOL``, ``AVGPOOL`` and ``ADD``. The settings table holds each
layer's per-channel requantization.
A fully-connected layer with LiteRT's double-precision requantization (``"fp64"``) runs
the single rounding with the multipliers of
:func:`sim.golden.fp64match.fp64_single_rounding_params`, which equal it on every input.
"""

import dataclasses
import functools
from dataclasses import dataclass, field

import numpy as np

from hdl.bits import const_bits
from hdl.core import Region, entry_words_log2, region_offset_width
from hdl.datapath import settings_entry_layout
from hdl.isa import Instruction, Opcode, Stream, encode, instruction_words, message_entry
from hdl.params import LANE_WIDTH, LOOP_LEVELS, CoreParams, Precision, Rounding
from sim import golden
from sim.cycle import program_cycles
from sim.golden.add import add_params
from sim.golden.fp64match import fp64_single_rounding_params
from sim.golden.pool import mean_params

from .network import Add, Conv2d, ConvAdd, FullyConnected, GlobalAvgPool, MaxPool2d, Network, convolution

__all__ = ["CompileError", "UnsupportedLayerError", "Buffer", "Compiled", "CoreCompiler", "compile_network",
           "element_addresses"]

#: The requantize unit's identity ``(multiplier, shift)``, by ``MacParams.scales_below_one``:
#: ``MultiplyByQuantizedMultiplier(x, 2**30, 1) == x`` for every int32 ``x``; without positive
#: shifts, ``MultiplyByQuantizedMultiplier(x, 2**31 - 1, 0) == x`` for ``|x| < 2**30``, which
#: a max-pool's int8 values are.
IDENTITY = {False: (1 << 30, 1), True: ((1 << 31) - 1, 0)}


class CompileError(ValueError):
    """The network cannot run on this core; the message names the value and the limit."""


class UnsupportedLayerError(CompileError):
    """A layer no core computes, whatever the array's size: more cores would not help."""


@dataclass(frozen=True)
class Buffer:
    """A tensor in the activation SRAM: ``height x width`` pixels of ``channels``, with a border.

    Byte ``base`` is the top-left corner of the border; a pixel is ``words_per_pixel``
    words; ``padding`` is (top, bottom, left, right) pixels; ``fill`` the border's value.
    A buffer may hold a band of the tensor's rows (on a core of an array, ``gen.array``):
    its row 0 is the tensor's row ``first_row``, and coordinates are the tensor's.
    """
    name: str
    height: int
    width: int
    channels: int
    precision: Precision
    word_bytes: int
    padding: tuple = (0, 0, 0, 0)
    fill: int = 0
    base: int = 0
    first_row: int = 0

    @property
    def channels_per_word(self):
        return self.word_bytes * self.precision.values_per_lane

    @property
    def words_per_pixel(self):
        return -(-self.channels // self.channels_per_word)

    @property
    def pixel_bytes(self):
        return self.words_per_pixel * self.word_bytes

    @property
    def padded_shape(self):
        top, bottom, left, right = self.padding
        return self.height + top + bottom, self.width + left + right

    @property
    def pitch(self):
        """Bytes from one row to the next."""
        return self.padded_shape[1] * self.pixel_bytes

    @property
    def size_bytes(self):
        return self.padded_shape[0] * self.pitch

    def address(self, y, x):
        """Byte address of pixel ``(y, x)``; negative or past the edge reaches into the border."""
        return (self.base + (y - self.first_row + self.padding[0]) * self.pitch
                + (x + self.padding[2]) * self.pixel_bytes)

    def pack(self, values):
        """Pack an (H', W', channels) array into pixel bytes (uint8 array H', W', pixel_bytes)."""
        values = np.asarray(values, dtype=np.int64)
        padded = np.zeros(values.shape[:2] + (self.words_per_pixel * self.channels_per_word,),
                          np.int64)
        padded[..., :values.shape[2]] = values
        return golden.pack_lanes(padded, self.precision)

    def unpack(self, data):
        """Inverse of :meth:`pack`: the ``channels`` values of each pixel's bytes."""
        return golden.unpack_lanes(np.asarray(data, np.uint8), self.precision)[..., :self.channels]


@dataclass
class Compiled:
    """What the compiler produces for one core: memory images, the program and its cycle count.

    Attributes
    ----------
    params : CoreParams
    network : Network
    program : tuple of Instruction
        The compute sequencer's program, ending with ``HALT``.
    buffers : dict of Buffer
        By tensor name (``"input"`` and every layer).
    predicted_cycles : int
        The run's length in cycles (the core's ``cycles`` counter).
    messages : tuple of Instruction
        The message sequencer's program (from :func:`hdl.isa.message_entry` downward),
        ending with ``HALT``: ``HALT`` alone on one core.
    odd : tuple or None
        With two program banks (``CoreParams.program_banks``): the compute and message
        programs of the second bank, which the core runs in its odd runs (the same timing,
        other buffers: see ``gen.array``); ``None``: both banks hold ``program`` and
        ``messages``.
    twins : dict of Buffer
        By tensor name: the second buffer of a tensor the core reads from one of two in
        turn (a layer pipeline's stage input, ``gen.array``), its twin in ``odd``'s runs.
    """
    params: CoreParams
    network: Network
    program: tuple
    buffers: dict
    predicted_cycles: int
    weight_image: bytes
    settings_image: tuple
    border_words: dict = field(default_factory=dict)
    messages: tuple = (Instruction(Opcode.HALT),)
    odd: tuple | None = None
    twins: dict = field(default_factory=dict)

    def host_address(self, region, offset):
        return (int(region) << region_offset_width(self.params)) | offset

    def _words(self, data):
        word = self.params.word_bytes
        return [int.from_bytes(bytes(data[i:i + word]), "little") for i in range(0, len(data), word)]

    def load_words(self):
        """``(host word address, value)`` of everything loaded before a run: weights, settings,
        program and the buffers' borders."""
        settings_log2, program_log2 = entry_words_log2(self.params)
        writes = [(self.host_address(Region.WEIGHTS, index), value)
                  for index, value in enumerate(self._words(self.weight_image))]
        for entry, data in enumerate(self.settings_image):
            writes += [(self.host_address(Region.SETTINGS, (entry << settings_log2) | index), value)
                       for index, value in enumerate(self._words(data))]
        size = instruction_words(self.params) * self.params.word_bytes
        entry, bank = message_entry(self.params), self.params.bank_instructions
        banks = [(self.program, self.messages), self.odd or (self.program, self.messages)]
        for first, (program, messages) in zip(range(0, self.params.program_depth, bank), banks):
            downward = ([(entry - index, message) for index, message in enumerate(messages)]
                        if self.params.message_sequencer else [])
            for number, instruction in [*enumerate(program), *downward]:
                data = encode(instruction, self.params).to_bytes(size, "little")
                at = (first + number) << program_log2
                writes += [(self.host_address(Region.PROGRAM, at | index), value)
                           for index, value in enumerate(self._words(data))]
        writes += [(self.host_address(Region.ACTIVATIONS, word), value)
                   for word, value in sorted(self.border_words.items())]
        return writes

    def _rows_and_words(self, buffer, rows, words):
        rows = rows or (buffer.first_row, buffer.first_row + buffer.height)
        return rows, words or (0, buffer.words_per_pixel)

    def _interior_words(self, buffer, rows=None, words=None):
        """Word addresses of rows ``rows`` and pixel words ``words`` of ``buffer`` (all of its
        interior by default), row-major."""
        (first, last), (low, high) = self._rows_and_words(buffer, rows, words)
        word = self.params.word_bytes
        return [buffer.address(y, x) // word + index
                for y in range(first, last) for x in range(buffer.width) for index in range(low, high)]

    def input_words(self, frame, rows=None, words=None):
        """``(host word address, value)`` writing the input frame ``frame`` (the network's
        :attr:`~gen.network.Network.frame`, H x W x C): rows ``rows`` and pixel words
        ``words`` of the input tensor (all the input buffer holds by default). The host
        unfolds the frame first when the network's input is unfolded (:mod:`gen.unfold`)."""
        return self.input_tensor_words(self.network.host_input(frame), rows, words)

    def input_tensor_words(self, x, rows=None, words=None):
        """:meth:`input_words` of the input tensor ``x`` (the network's ``input`` shape),
        already unfolded if the network's input is."""
        buffer = self.buffers["input"]
        shape = self.network.input.shape
        x = np.asarray(x)
        if x.shape != shape:
            raise ValueError(f"input tensor must have shape {shape}, not {x.shape!r}")
        (first, last), (low, high) = self._rows_and_words(buffer, rows, words)
        word = self.params.word_bytes
        pixels = buffer.pack(x[first:last]).reshape(last - first, buffer.width, -1, word)
        values = self._words(pixels[:, :, low:high].reshape(-1))
        return [(self.host_address(Region.ACTIVATIONS, address), value)
                for address, value in zip(self._interior_words(buffer, rows, words), values)]

    def output_addresses(self, name, rows=None, words=None):
        """Host word addresses to read for tensor ``name`` (rows ``rows`` and pixel words
        ``words`` of it, all it holds by default), in the order :meth:`decode` takes."""
        return [self.host_address(Region.ACTIVATIONS, address)
                for address in self._interior_words(self.buffers[name], rows, words)]

    def decode(self, name, words, rows=None, word_range=None):
        """The (rows, W, C) values of tensor ``name`` from the words read at
        :meth:`output_addresses` (channels outside ``word_range`` are zero)."""
        buffer = self.buffers[name]
        (first, last), (low, high) = self._rows_and_words(buffer, rows, word_range)
        data = b"".join(int(word).to_bytes(self.params.word_bytes, "little") for word in words)
        pixels = np.zeros((last - first, buffer.width, buffer.pixel_bytes), np.uint8)
        pixels[..., low * self.params.word_bytes:high * self.params.word_bytes] = np.frombuffer(
            data, np.uint8).reshape(last - first, buffer.width, -1)
        return buffer.unpack(pixels)


def element_addresses(instruction, name):
    """Every address stream ``name`` of ``instruction`` visits, one per element, in issue order."""
    stream = getattr(instruction, name)
    total = np.full((), stream.base, np.int64)
    for level in reversed(range(LOOP_LEVELS)):
        index = np.arange(instruction.counts[level], dtype=np.int64)
        total = total[..., None] + stream.strides[level] * index
    return total.reshape(-1)


def _nest(levels, **bases):
    """An instruction's counts and streams from ``[(count, {stream: stride}), ...]``, innermost first."""
    levels = list(levels) + [(1, {})] * (LOOP_LEVELS - len(levels))
    counts = tuple(count for count, _ in levels)
    streams = {name: Stream(bases.get(name, 0), tuple(strides.get(name, 0) for _, strides in levels))
               for name in "abos"}
    return {"counts": counts, **streams}


def _settings_entry(params, layer, bias, multiplier, shift):
    """Bytes of one settings entry of ``layer`` (``columns`` channels; missing channels are
    zero). Raises :class:`CompileError` naming the layer and channel for a positive shift on
    a core that takes shifts up to 0 only (``MacParams.scales_below_one``)."""
    if params.mac.scales_below_one and max(shift) > 0:
        channel = next(index for index, value in enumerate(shift) if value > 0)
        raise CompileError(f"layer {layer.name}: channel {channel}'s requantization shift is "
                           f"{int(shift[channel])} (a scale of 1 or more), and the core's requantizers take "
                           f"shifts up to 0 (MacParams.scales_below_one)")
    columns = params.mac.columns
    padded = {name: [int(v) for v in values] + [0] * (columns - len(values))
              for name, values in (("bias", bias), ("multiplier", multiplier), ("shift", shift))}
    bits = const_bits(settings_entry_layout(columns), padded, "settings entry")
    return bits.to_bytes(params.settings_entry_words * params.word_bytes, "little")


@functools.lru_cache(maxsize=16)
def _fp64_multipliers(layer, x_scale, x_zp, clamp_min, clamp_max, bits):
    """:func:`fp64_single_rounding_params` of a fully-connected ``layer``, once per layer (the
    cores of an array each compile a part of it)."""
    try:
        return fp64_single_rounding_params(
            x_scale=x_scale, x_zp=x_zp, w_scale=layer.w_scale, y_scale=layer.y_scale,
            y_zp=layer.y_zp, w=layer.w, bias=layer.bias, clamp_min=clamp_min,
            clamp_max=clamp_max, bits=bits)
    except ValueError as error:
        raise CompileError(f"layer {layer.name}: {error}") from None


class CoreCompiler:
    """Compiles layers (or parts of layers) for one core: its buffers, weight and settings
    images and program. :func:`compile_network` runs a whole network on one core with it;
    ``gen.array`` gives each core of an array its part."""

    def __init__(self, network, params):
        if not isinstance(network, Network):
            raise TypeError(f"network must be a Network, not {network!r}")
        if not isinstance(params, CoreParams):
            raise TypeError(f"params must be a CoreParams, not {params!r}")
        self.network, self.params = network, params
        self.specs = network.specs()
        self.precisions = {name: network.tensor_precision(name) for name in self.specs}
        self.weights = bytearray()
        self.settings = []
        self.placed = {}       # (layer, weight bytes or settings entries) -> where they are
        self.program, self.messages = [], [Instruction(Opcode.HALT)]

    # Buffers ---------------------------------------------------------------------------

    def borders(self):
        """Per tensor: the border (top, bottom, left, right) and fill its consumers need."""
        padding = {name: [0, 0, 0, 0] for name in self.specs}
        fills = {name: {} for name in self.specs}
        for layer in self.network.layers:
            if isinstance(layer, (Conv2d, ConvAdd)):
                need, fill = convolution(layer).padding, self.specs[layer.source].zero_point
            elif isinstance(layer, MaxPool2d):
                need, fill = layer.padding, self.precisions[layer.source].min
            else:
                continue
            if any(need):
                source = layer.source
                padding[source] = [max(a, b) for a, b in zip(padding[source], need)]
                fills[source][layer.name] = fill
        for name, by_layer in fills.items():
            if len(set(by_layer.values())) > 1:
                raise CompileError(f"tensor {name} is padded with different values by "
                                   f"{', '.join(f'{k} ({v})' for k, v in by_layer.items())}; "
                                   f"a buffer has one border")
        # Tensors joined by an ADD share one geometry (the largest border of the group).
        group = {name: {name} for name in self.specs}
        for layer in self.network.layers:
            if isinstance(layer, Add):
                members = group[layer.sources[0]] | group[layer.sources[1]] | group[layer.name]
                for name in members:
                    group[name] = members
        borders = {}
        for name in self.specs:
            border = tuple(max(padding[member][side] for member in group[name]) for side in range(4))
            fill = next(iter(fills[name].values()), 0)
            borders[name] = (border, fill)
        return borders

    def _partners(self):
        """Per tensor: the tensors it is added to (their reads share every cycle)."""
        partners = {name: set() for name in self.specs}
        for layer in self.network.layers:
            if isinstance(layer, Add):
                a, b = layer.sources
                partners[a].add(b)
                partners[b].add(a)
        return partners

    def allocate(self, geometry, floors=None):
        """Place a buffer for each tensor of ``geometry`` in the activation SRAM, in its order.

        ``geometry`` maps a tensor name to ``(first_row, height, border, fill)``: the band
        of rows held and the border (top, bottom, left, right) with its fill. ``floors``
        optionally maps a tensor name to the lowest address its buffer may start at (the
        array compiler's way to give a tensor the same address on several cores). Returns
        the buffers by name and the border words ``{word address: value}`` to load.
        """
        params = self.params
        word, banks = params.word_bytes, params.activation_banks
        partners = self._partners()
        buffers, border_words, top = {}, {}, 0
        for name, (first_row, height, border, fill) in geometry.items():
            _, width, channels = self.specs[name].shape
            # Keep the two operands of an ADD in different banks at every element: the
            # distance between the same pixel of the two is the same for all pixels.
            for shift in range(banks):
                buffer = Buffer(name, height, width, channels, self.precisions[name], word, border, fill,
                                max(top, (floors or {}).get(name, 0)) + shift * word, first_row)
                if all((buffer.address(0, 0) - buffers[p].address(0, 0)) // word % banks
                       for p in partners[name] if p in buffers):
                    break
            buffers[name] = buffer
            base = buffer.base
            top = base + buffer.size_bytes
            if top > params.activation_sram.size_bytes:
                raise CompileError(
                    f"activation SRAM overflows at tensor {name}: the buffers need {top} bytes, "
                    f"the core has {params.activation_sram.size_bytes}")
            if any(border):
                fill_word = int.from_bytes(buffer.pack(np.full((1, 1, channels), fill))
                                           .reshape(-1)[:word].tobytes(), "little")
                rows, columns = buffer.padded_shape
                for y in range(rows):
                    for x in range(columns):
                        interior = (border[0] <= y < rows - border[1]
                                    and border[2] <= x < columns - border[3])
                        if not interior:
                            first = (base + (y * columns + x) * buffer.pixel_bytes) // word
                            for index in range(buffer.words_per_pixel):
                                border_words[first + index] = fill_word
        return buffers, border_words

    # Images ----------------------------------------------------------------------------

    def _check_range(self, layer, name, values, precision):
        """Refuse ``values`` (an array, or a scalar such as a zero point) outside ``precision``."""
        values = np.asarray(values)
        bad = (values < precision.min) | (values > precision.max)
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            where = list(index) if values.ndim else ""
            raise UnsupportedLayerError(f"layer {layer.name}: {name}{where} = {int(values[index])} lies "
                               f"outside int{precision.bits} [{precision.min}, {precision.max}]")

    def _in_out(self, layer):
        """The precisions ``layer`` reads (its first source's) and writes (its own)."""
        return self.precisions[layer.sources[0]], self.precisions[layer.name]

    def _add_weights(self, layer, w, precision):
        """Append the weight tiles of ``w`` (O, KH, KW, I) packed at ``precision``; returns
        their byte offset. Instructions computing parts of one layer's rows with the same
        channels share one copy (and one settings entry per tile, :meth:`_add_settings`)."""
        params = self.params
        columns, word = params.mac.columns, params.word_bytes
        per_word = word * precision.values_per_lane
        out_channels, kh, kw, in_channels = w.shape
        blocks, words = -(-out_channels // columns), -(-in_channels // per_word)
        padded = np.zeros((blocks * columns, kh, kw, words * per_word), np.int64)
        padded[:out_channels, :, :, :in_channels] = w
        tiles = padded.reshape(blocks, columns, kh, kw, words, per_word).transpose(0, 2, 3, 4, 1, 5)
        data = golden.pack_lanes(tiles, precision).tobytes()
        if (layer.name, data) in self.placed:
            return self.placed[layer.name, data]
        offset = len(self.weights)
        if offset + len(data) > params.weight_sram.size_bytes:
            raise CompileError(f"weight SRAM overflows at layer {layer.name}: the weights need "
                               f"{offset + len(data)} bytes, the core has "
                               f"{params.weight_sram.size_bytes}")
        self.weights += data
        self.placed[layer.name, data] = offset
        return offset

    def _add_settings(self, layer, entries):
        """Append settings ``entries``; returns the first one's index."""
        key = (layer.name, tuple(entries))
        if key in self.placed:
            return self.placed[key]
        first = len(self.settings)
        if first + len(entries) > self.params.settings_depth:
            raise CompileError(f"settings table overflows at layer {layer.name}: the layers need "
                               f"{first + len(entries)} entries, the core has "
                               f"{self.params.settings_depth}")
        self.settings += entries
        self.placed[key] = first
        return first

    # Layers ----------------------------------------------------------------------------

    def _output_range(self, layer, y_zp, relu, relu6=False, y_scale=None):
        """The output zero point and clamp of ``layer`` at its output precision."""
        out = self.precisions[layer.name]
        self._check_range(layer, "y_zp", y_zp, out)
        low, high = golden.activation_range(y_zp, relu=relu, bits=out.bits, relu6=relu6,
                                            y_scale=y_scale)
        return {"zero_point": int(y_zp), "clamp_min": int(low), "clamp_max": int(high),
                "out_precision": out}

    def _ranges(self, layer, rows, channels):
        """Output rows and channels ``[first, last)`` to compute (all by default), and the
        byte offsets of the first channel within a pixel of the source and of the output
        (``(source, output)``, each at its tensor's precision)."""
        height, _, out_channels = self.specs[layer.name].shape
        rows, channels = rows or (0, height), channels or (0, out_channels)
        offsets = tuple(channels[0] * precision.bits // LANE_WIDTH for precision in self._in_out(layer))
        return rows, channels, offsets

    def mac(self, layer, buffers, rows=None, channels=None):
        """The ``MAC`` of output rows ``rows`` and channels ``channels`` of a conv or
        fully-connected ``layer`` (all of them by default); ``channels`` start on a word.
        A :class:`~gen.network.ConvAdd` gets its conv's ``MAC`` with the add fused in
        (``MACADD``, :meth:`fuse_add`)."""
        params = self.params
        precision, out = self._in_out(layer)
        columns, word = params.mac.columns, params.word_bytes
        x, y = buffers[layer.source], buffers[layer.name]
        spec = self.specs[layer.source]
        (first, last), (low, high), (_, offset) = self._ranges(layer, rows, channels)
        conv = convolution(layer) or layer
        self._check_range(layer, "w", conv.w, precision)
        self._check_range(layer, "x_zp", spec.zero_point, precision)
        if isinstance(conv, FullyConnected):
            w = conv.w.reshape(conv.w.shape[0], 1, 1, -1)
            stride, padding = (1, 1), (0, 0, 0, 0)
        else:
            w, stride, padding = conv.w, conv.stride, conv.padding
        output_range = self._output_range(layer, conv.y_zp, conv.relu, conv.relu6, conv.y_scale)
        rounding = Rounding.DOUBLE
        if isinstance(conv, FullyConnected) and conv.requantization == "fp64":
            # LiteRT's double-precision rounding, through the single rounding with
            # multipliers proven to agree on every reachable accumulator.
            rounding = Rounding.SINGLE
            multiplier, shift = _fp64_multipliers(conv, spec.scale, spec.zero_point,
                                                  output_range["clamp_min"],
                                                  output_range["clamp_max"], precision.bits)
        else:
            multiplier, shift = golden.conv_requant_params(
                x_scale=spec.scale, w_scale=conv.w_scale, y_scale=conv.y_scale,
                out_channels=w.shape[0])
        bias = golden.fold_input_zero_point(w, conv.bias, spec.zero_point)
        pack = getattr(conv, "pack", 1)
        if pack > 1:
            # Every position computes all ``pack`` columns' channels.
            if (low, high) != (0, self.specs[layer.name].shape[2]):
                raise CompileError(f"layer {layer.name} computes {pack} columns a position: its "
                                   f"channels cannot be split, not computed as {low}..{high}")
            low, high = 0, w.shape[0]
        w, bias, multiplier, shift = (array[low:high] for array in (w, bias, multiplier, shift))
        out_channels, kh, kw, in_channels = w.shape
        entries = [_settings_entry(params, layer, bias[i:i + columns], multiplier[i:i + columns],
                                   shift[i:i + columns]) for i in range(0, out_channels, columns)]
        tile = columns * word
        words_in = x.words_per_pixel
        if pack > 1:
            levels, reduce_levels = self._packed_levels(layer, pack, x, y, w.shape, stride, last - first), 2
        else:
            levels, reduce_levels = [
                (words_in, {"a": word, "b": tile}),
                (kw, {"a": x.pixel_bytes, "b": words_in * tile}),
                (kh, {"a": x.pitch, "b": kw * words_in * tile}),
                (y.width, {"a": stride[1] * x.pixel_bytes, "o": y.pixel_bytes}),
                (last - first, {"a": stride[0] * x.pitch, "o": y.pitch}),
                (len(entries), {"b": kh * kw * words_in * tile, "o": columns * out.bits // LANE_WIDTH,
                                "s": 1}),
            ], 3
        instruction = Instruction(Opcode.MAC, precision, rounding, reduce_levels=reduce_levels, **_nest(
            levels, a=x.address(first * stride[0] - padding[0], -padding[2]),
            b=self._add_weights(layer, w, precision), o=y.address(first, 0) + offset,
            s=self._add_settings(layer, entries)), **output_range)
        if isinstance(layer, ConvAdd):
            return self.fuse_add(layer, instruction, buffers, first, offset)
        return instruction

    def _packed_levels(self, layer, pack, x, y, shape, stride, rows):
        """The loop nest of a conv of weights ``shape`` (OHWI) computing ``pack`` output
        columns a position (:class:`~gen.network.Conv2d`'s ``pack``), its kernel one column
        wide (an unfolded stem's): each position's tiles in order, column by column, so that
        the columns' tiles land in ``pack`` consecutive pixels of ``y``; ``rows`` output rows.
        A conv's six levels have room for this only with the kernel's column level gone."""
        params = self.params
        _, kh, kw, _ = shape
        columns, word = params.mac.columns, params.word_bytes
        _, out = self._in_out(layer)
        channels = self.specs[layer.name].shape[2]
        if kw != 1 or channels % columns:
            raise CompileError(f"layer {layer.name} computes {pack} columns a position: it needs a "
                               f"kernel 1 wide (not {kw}) and output channels a multiple of the "
                               f"MAC's {columns} columns (not {channels})")
        tile, words_in, tiles = columns * word, x.words_per_pixel, channels // columns
        return [
            (words_in, {"a": word, "b": tile}),
            (kh, {"a": x.pitch, "b": words_in * tile}),
            (tiles, {"b": kh * words_in * tile, "o": columns * out.bits // LANE_WIDTH, "s": 1}),
            (pack, {"b": tiles * kh * words_in * tile, "o": y.pixel_bytes, "s": tiles}),
            (y.width // pack, {"a": stride[1] * x.pixel_bytes, "o": pack * y.pixel_bytes}),
            (rows, {"a": stride[0] * x.pitch, "o": y.pitch}),
        ]

    def fuse_add(self, layer, mac, buffers, first, offset):
        """``MACADD``: the ``MAC`` ``mac`` of a :class:`~gen.network.ConvAdd` from output row
        ``first`` (and byte ``offset`` of a pixel), each requantized tile added to the
        residual's tile at the same pixel and channels, LiteRT's ``ADD`` with the conv's
        output as operand a (the sum is the same either way round). A core without the fused
        add (``CoreParams.fused_add``) refuses it."""
        if not self.params.fused_add:
            raise CompileError(f"layer {layer.name} fuses a residual add into its conv (MACADD), and the "
                               f"core has no fused add (CoreParams.fused_add): run the add as a layer of "
                               f"its own")
        residual = buffers[layer.residual]
        conv_scale, residual_spec = layer.conv.y_scale, self.specs[layer.residual]
        self._check_range(layer, "residual zero point", residual_spec.zero_point, self.precisions[layer.name])
        p = add_params(a_scale=conv_scale, b_scale=residual_spec.scale, y_scale=layer.add.y_scale)
        # The residual advances as the write-back does, pixel by pixel, row by row, tile by tile.
        strides = (0, 0, 0, residual.pixel_bytes, residual.pitch, mac.o.strides[5])
        add = layer.add
        return dataclasses.replace(
            mac, opcode=Opcode.MACADD, r=Stream(residual.address(first, 0) + offset, strides),
            a_zero_point=mac.zero_point, b_zero_point=residual_spec.zero_point,
            a_multiplier=p.a_multiplier, a_shift=p.a_shift, b_multiplier=p.b_multiplier,
            b_shift=p.b_shift, mid_clamp_min=mac.clamp_min, mid_clamp_max=mac.clamp_max,
            add_multiplier=p.y_multiplier, add_shift=p.y_shift,
            **self._output_range(layer, add.y_zp, add.relu, add.relu6, add.y_scale))

    def _tiles(self, layer, channels):
        """Tiles of ``columns`` channels over ``channels`` ``[first, last)``, and a tile's
        bytes in the source and in the output (``(source, output)``)."""
        columns = self.params.mac.columns
        return (-(-(channels[1] - channels[0]) // columns),
                tuple(columns * precision.bits // LANE_WIDTH for precision in self._in_out(layer)))

    def max_pool(self, layer, buffers, rows=None, channels=None):
        """The ``MAXPOOL`` of output rows ``rows`` and channels ``channels`` of ``layer``."""
        x, y = buffers[layer.source], buffers[layer.name]
        (first, last), channels, (a_offset, o_offset) = self._ranges(layer, rows, channels)
        tiles, (a_tile, o_tile) = self._tiles(layer, channels)
        (kh, kw), (sh, sw) = layer.kernel, layer.stride
        levels = [
            (kw, {"a": x.pixel_bytes}),
            (kh, {"a": x.pitch}),
            (y.width, {"a": sw * x.pixel_bytes, "o": y.pixel_bytes}),
            (last - first, {"a": sh * x.pitch, "o": y.pitch}),
            (tiles, {"a": a_tile, "o": o_tile}),
        ]
        multiplier, shift = IDENTITY[self.params.mac.scales_below_one]
        columns = self.params.mac.columns
        entry = _settings_entry(self.params, layer, [0] * columns, [multiplier] * columns, [shift] * columns)
        return Instruction(Opcode.MAXPOOL, self.precisions[layer.source], reduce_levels=2, **_nest(
            levels, a=x.address(first * sh - layer.padding[0], -layer.padding[2]) + a_offset,
            o=y.address(first, 0) + o_offset, s=self._add_settings(layer, [entry])),
            **self._output_range(layer, 0, False))

    def avg_pool(self, layer, buffers, rows=None, channels=None):
        """The ``AVGPOOL`` of channels ``channels`` of ``layer`` (its one row: ``rows`` is (0, 1))."""
        if layer.kind != "mean":
            raise UnsupportedLayerError(f"global pool {layer.name}: the AVGPOOL instruction requantizes "
                               f"as MEAN does; AVERAGE_POOL_2D's rounding (kind "
                               f"{layer.kind!r}) is not implemented")
        x, y = buffers[layer.source], buffers[layer.name]
        spec = self.specs[layer.source]
        _, channels, (a_offset, o_offset) = self._ranges(layer, rows, channels)
        tiles, (a_tile, o_tile) = self._tiles(layer, channels)
        self._check_range(layer, "x_zp", spec.zero_point, self.precisions[layer.source])
        count = x.height * x.width
        multiplier, shift = mean_params(x_scale=spec.scale, y_scale=layer.y_scale, count=count)
        columns = self.params.mac.columns
        bias = int(golden.wrap_int32(np.int64(-spec.zero_point * count)))
        entry = _settings_entry(self.params, layer, [bias] * columns, [multiplier] * columns,
                                [shift] * columns)
        levels = [(x.width, {"a": x.pixel_bytes}), (spec.shape[0], {"a": x.pitch}),
                  (tiles, {"a": a_tile, "o": o_tile})]
        return Instruction(Opcode.AVGPOOL, self.precisions[layer.source], reduce_levels=2, **_nest(
            levels, a=x.address(0, 0) + a_offset, o=y.address(0, 0) + o_offset,
            s=self._add_settings(layer, [entry])), **self._output_range(layer, layer.y_zp, False))

    def add(self, layer, buffers, rows=None, channels=None):
        """The ``ADD`` of output rows ``rows`` and channels ``channels`` of ``layer``."""
        a, b = (buffers[source] for source in layer.sources)
        a_spec, b_spec = (self.specs[source] for source in layer.sources)
        y = buffers[layer.name]
        (first, last), channels, (a_offset, o_offset) = self._ranges(layer, rows, channels)
        tiles, (a_tile, o_tile) = self._tiles(layer, channels)
        for name, spec in zip(("a_zp", "b_zp"), (a_spec, b_spec)):
            self._check_range(layer, name, spec.zero_point, self.precisions[layer.sources[0]])
        p = add_params(a_scale=a_spec.scale, b_scale=b_spec.scale, y_scale=layer.y_scale)
        columns = self.params.mac.columns
        entry = _settings_entry(self.params, layer, [0] * columns, [p.y_multiplier] * columns,
                                [p.y_shift] * columns)
        levels = [
            (tiles, {"a": a_tile, "b": a_tile, "o": o_tile}),
            (a.width, {"a": a.pixel_bytes, "b": b.pixel_bytes, "o": y.pixel_bytes}),
            (last - first, {"a": a.pitch, "b": b.pitch, "o": y.pitch}),
        ]
        instruction = Instruction(
            Opcode.ADD, self.precisions[layer.sources[0]], reduce_levels=0, **_nest(
                levels, a=a.address(first, 0) + a_offset, b=b.address(first, 0) + a_offset,
                o=y.address(first, 0) + o_offset, s=self._add_settings(layer, [entry])),
            a_zero_point=a_spec.zero_point, b_zero_point=b_spec.zero_point,
            a_multiplier=p.a_multiplier, a_shift=p.a_shift, b_multiplier=p.b_multiplier,
            b_shift=p.b_shift, **self._output_range(layer, layer.y_zp, layer.relu, layer.relu6,
                                                    layer.y_scale))
        word, banks = self.params.word_bytes, self.params.activation_banks
        same = (element_addresses(instruction, "a") // word % banks
                == element_addresses(instruction, "b") // word % banks)
        if same.any():
            raise CompileError(f"add {layer.name}: operands {layer.sources[0]} and "
                               f"{layer.sources[1]} meet in one bank at element {int(np.argmax(same))}")
        return instruction

    def emit(self, layer, buffers, rows=None, channels=None):
        """The instruction computing output rows ``rows`` and channels ``channels`` of
        ``layer`` (all by default) from ``buffers``."""
        emit = {Conv2d: self.mac, ConvAdd: self.mac, FullyConnected: self.mac, MaxPool2d: self.max_pool,
                GlobalAvgPool: self.avg_pool, Add: self.add}
        return emit[type(layer)](layer, buffers, rows, channels)

    def check_shapes(self):
        for layer in self.network.layers:
            shape = self.specs[layer.name].shape
            if min(shape) < 1:
                raise CompileError(f"layer {layer.name} has an empty output of shape {shape!r}")

    def finish(self, buffers, border_words, predicted_cycles=None):
        """Check the compute and message programs (each ending in ``HALT``) against the core
        and package them."""
        if not self.params.message_sequencer and list(self.messages) != [Instruction(Opcode.HALT)]:
            raise CompileError(f"the core has no message sequencer (CoreParams.message_sequencer), and its "
                               f"message program needs {len(self.messages)} instructions, not only HALT")
        stored_messages = self.messages if self.params.message_sequencer else []
        needed = len(self.program) + len(stored_messages)
        banks = (f" in each of its {self.params.program_banks} banks" if self.params.program_banks > 1
                 else "")
        compute, message, together = self.params.program_limits
        if needed > together:
            raise CompileError(f"program memory overflows: the compute and message programs need "
                               f"{len(self.program)} + {len(stored_messages)} instructions, the core has "
                               f"{together}{banks}")
        for name, program, limit in (("compute", self.program, compute),
                                     ("message", stored_messages, message)):
            if len(program) > limit:
                raise CompileError(f"program memory overflows: the {name} program needs {len(program)} "
                                   f"instructions, its half of the program memory holds {limit}{banks}")
        for program in (self.program, self.messages):
            for instruction in program:
                try:
                    encode(instruction, self.params)
                except ValueError as error:
                    raise CompileError(str(error)) from None
        if predicted_cycles is None:
            predicted_cycles = max(program_cycles(program, self.params)
                                   for program in (self.program, stored_messages) if program)
        return Compiled(self.params, self.network, tuple(self.program), buffers, predicted_cycles,
                        bytes(self.weights), tuple(self.settings), border_words, tuple(self.messages))

    def compile(self):
        self.check_shapes()
        geometry = {name: (0, self.specs[name].shape[0], border, fill)
                    for name, (border, fill) in self.borders().items()}
        buffers, border_words = self.allocate(geometry)
        for layer in self.network.layers:
            self.program.append(self.emit(layer, buffers))
        self.program.append(Instruction(Opcode.HALT))
        return self.finish(buffers, border_words)


def compile_network(network, params):
    """Compile ``network`` for one core with ``params``; raises :class:`CompileError` if it
    does not fit (naming the memory, the bytes needed and available) or cannot run."""
    return CoreCompiler(network, params).compile()

