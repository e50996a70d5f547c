"""The array compiler: a quantized network onto ``rows x columns`` cores, with a static,
cycle-exact schedule that includes every network transfer.

Mapping
-------
Every layer is split over some of the cores, one of three ways, chosen per layer (or forced):

- **rows** (spatial): core ``k`` computes a band of the output rows, all channels;
- **channels**: core ``k`` computes a slice of the output channels (whole SRAM words of
  them), all rows;
- **grid**: ``r`` row bands by ``c`` channel slices (``c`` a power of two), for layers with
  fewer rows than cores or weights too large to repeat on every core.

``n`` parts go to every ``cores / n``-th core along the snake (a grid's row band to every
``cores / r``-th, its slices to the cores after it), so that a core computes about the
same rows in every layer and holds few.

The choice is the option of least estimated cycles (the slowest core's compute plus the
words it receives) among those whose weights and settings fit every core's SRAM and
settings table next to the earlier layers' (moved along the snake to cores with room,
when none fits where it is).

Cores are numbered along a snake through the mesh (row 0 west to east, row 1 east to
west, ...), so that consecutive bands sit on mesh neighbours. Each core keeps, for every
tensor it produces or reads, one buffer holding the rows it owns or needs with all
channels (``gen.compiler.Buffer`` with a ``first_row``), bordered like the single-core
compiler's buffers where the rows reach past the tensor's edge. Whatever a core needs and
does not own (the halo rows of a neighbour's band, the other channel slices of an input
shared by a channel split) is copied by its owner, right after computing it, with a
``SEND`` straight into the consumer's buffer, followed by a ``SIGNAL``. All of a tensor's
pulses to one core share a token (a core's tensors take its ``TOKENS`` in turn), and the
consumer ``WAIT`` s for them with one instruction (``counts[0]`` pulses) before the first
layer that reads the tensor, taking the tensors in the order they were sent to it. The
network's input is written by the host into every core that needs rows of it, or, given
``input_parts`` (the input as an earlier program left it on the array), into the cores
that hold those parts, which send it on like any other tensor before the first layer;
the host reads each output tensor from the cores that own its parts. A block's
intermediate tensors never leave the array.

Schedule
--------
Every core starts in the same cycle and nothing in a core's timing depends on data, so
the compiler simulates the whole run at the level of instructions and flits: each
instruction's start cycle (``sim.cycle``), each message's offer cycle, the router output
each of its flits takes in each cycle (XY routing, ``Router.LATENCY`` per router, then
the destination interface's delivery register, see ``hdl.network``) and each token's
arrival. Two rules make this prediction exact:

1. no two flits ever ask for one router output in one cycle, so no arbitration ever
   happens and no flit ever waits;
2. no word arrives at a core while it runs a compute instruction, so the network's writes
   never meet the core's own write-back in an SRAM bank;

and a third keeps the tokens exact: a core counts each token's pulses, so a pulse meant
for a later ``WAIT`` on a token must not reach the core before the last pulse an earlier
``WAIT`` on it is waiting for. Because each core waits for its tensors in the order they
were sent, a later tensor's pulses never depend on an earlier ``WAIT`` being passed, so
delaying them always meets this rule.

Rule 1 holds by construction: the simulation issues messages in time order and holds each
until every router output on its path is free for all its flits. Where rule 2 or 3 would
break, the compiler delays the later message's instruction with a ``DELAY`` (on every
core whose message breaks one, its earliest) and simulates again, until both hold. The
predicted run length is then the cycle the last core halts, which the hardware must match
exactly.
"""

import bisect
import enum
import heapq
from dataclasses import dataclass, field

import numpy as np

from hdl.isa import FETCH_CYCLES, Instruction, Opcode, Stream
from hdl.network import NetworkInterface
from hdl.params import COUNT_WIDTH, TOKEN_COUNT_WIDTH, TOKENS, CoreParams
from hdl.router import Port, Router, xy_route
from sim.cycle import instruction_cycles

from .compiler import CompileError, CoreCompiler
from .network import Add, Conv2d, FullyConnected, GlobalAvgPool, MaxPool2d, Network

__all__ = ["Split", "Part", "ArrayCompiled", "compile_array", "snake"]

#: Most ``DELAY`` iterations the scheduler tries before giving up.
MAX_SCHEDULE_ROUNDS = 20000


class Split(enum.Enum):
    """How a layer's output is divided among cores."""
    ROWS = "rows"
    CHANNELS = "channels"
    GRID = "grid"


@dataclass(frozen=True)
class Part:
    """A block of a tensor: rows ``[rows[0], rows[1])`` and pixel words ``[words[0], words[1])``."""
    rows: tuple
    words: tuple

    def __and__(self, other):
        rows = (max(self.rows[0], other.rows[0]), min(self.rows[1], other.rows[1]))
        words = (max(self.words[0], other.words[0]), min(self.words[1], other.words[1]))
        return Part(rows, words) if rows[0] < rows[1] and words[0] < words[1] else None

    def __or__(self, other):
        return Part((min(self.rows[0], other.rows[0]), max(self.rows[1], other.rows[1])),
                    (min(self.words[0], other.words[0]), max(self.words[1], other.words[1])))


def snake(rows, columns):
    """Core coordinates ``(x, y)`` in snake order: consecutive cores are mesh neighbours."""
    return [(x if y % 2 == 0 else columns - 1 - x, y) for y in range(rows) for x in range(columns)]


def _bands(total, parts):
    """``parts`` contiguous, near-equal ``[first, last)`` ranges covering ``range(total)``."""
    return [(total * k // parts, total * (k + 1) // parts) for k in range(parts)]


def _path(source, destination):
    """The ``(router, output port)`` pairs of a flit's XY path, one per router passed."""
    (x, y), hops = source, []
    while True:
        port = xy_route(x, y, *destination)
        hops.append(((x, y), port))
        if port == Port.LOCAL:
            return hops
        x += {Port.EAST: 1, Port.WEST: -1}.get(port, 0)
        y += {Port.SOUTH: 1, Port.NORTH: -1}.get(port, 0)


@dataclass
class _Op:
    """One instruction of a core's program, before scheduling; ``DELAY`` s of ``delay +
    slip`` cycles in all run before it (0, or at least ``FETCH_CYCLES + 1``)."""
    instruction: Instruction
    message: int = None        # SEND and SIGNAL: their message
    awaited: tuple = ()        # WAIT: the token messages whose pulses it consumes
    delay: int = 0
    slip: int = 0              # SEND and SIGNAL: cycles more, until their path is free
    layer: str = None          # the layer a compute instruction runs a part of


@dataclass
class _Message:
    source: int
    destination: int
    words: int                 # flits: one per word for SEND, one for SIGNAL
    token: int = None


@dataclass
class LayerPlan:
    """How one layer runs: its split and, per core index, the output part it computes."""
    name: str
    split: Split
    parts: dict


@dataclass
class ArrayCompiled:
    """What the array compiler produces.

    Attributes
    ----------
    rows, columns : int
        The array.
    network : Network
    cores : dict
        By core coordinates ``(x, y)``: that core's :class:`gen.compiler.Compiled`
        (program, images, buffers, its own predicted cycles).
    plans : list of LayerPlan
    owners : dict
        By tensor name: ``{(x, y): Part}`` of the cores holding it.
    predicted_cycles : int
        The run's length: from the cycle after ``start`` to the last core's ``HALT``.
    transfers : dict
        By tensor name: words sent between cores for it.
    layer_spans : dict
        By layer name: ``(first, end)``, the cycle its first part starts computing on any
        core and the cycle after its last part ends (cycles count from ``start``).
    busy : dict
        By core coordinates, by layer name: the cycles that core spends computing its part.
    weights : dict
        By core coordinates, by layer name: the weight bytes that core holds for its part.
    """
    rows: int
    columns: int
    network: Network
    cores: dict
    plans: list
    owners: dict
    predicted_cycles: int
    transfers: dict = field(default_factory=dict)
    layer_spans: dict = field(default_factory=dict)
    busy: dict = field(default_factory=dict)
    weights: dict = field(default_factory=dict)

    def load_writes(self):
        """``(x, y, host word address, value)`` of everything loaded before a run."""
        return [(x, y, address, value) for (x, y), compiled in self.cores.items()
                for address, value in compiled.load_words()]

    def input_writes(self, frame):
        """``(x, y, host word address, value)`` writing input frame ``frame`` (H, W, C): into
        every core that needs rows of it or, given ``input_parts``, into their holders."""
        held = self.owners.get("input")
        if held is not None:
            return [(x, y, address, value) for (x, y), part in held.items()
                    for address, value in self.cores[(x, y)].input_words(frame, part.rows, part.words)]
        return [(x, y, address, value) for (x, y), compiled in self.cores.items()
                if "input" in compiled.buffers for address, value in compiled.input_words(frame)]

    def output_reads(self, name):
        """``(x, y, host word address)`` of every word of tensor ``name``, in :meth:`decode`'s order."""
        return [(x, y, address) for (x, y), part in self.owners[name].items()
                for address in self.cores[(x, y)].output_addresses(name, part.rows, part.words)]

    def decode(self, name, words):
        """The (H, W, C) values of tensor ``name`` from the words read at :meth:`output_reads`."""
        height, width, channels = self.network.specs()[name].shape
        result = np.zeros((height, width, channels), np.int64)
        words = list(words)
        for (x, y), part in self.owners[name].items():
            compiled = self.cores[(x, y)]
            count = len(compiled.output_addresses(name, part.rows, part.words))
            values = compiled.decode(name, words[:count], part.rows, part.words)
            words = words[count:]
            per_word = compiled.buffers[name].channels_per_word
            low, high = part.words[0] * per_word, min(channels, part.words[1] * per_word)
            result[part.rows[0]:part.rows[1], :, low:high] = values[..., low:high]
        return result


class _ArrayCompiler:
    def __init__(self, network, params, rows, columns, splits, input_parts):
        if not isinstance(network, Network):
            raise TypeError(f"network must be a Network, not {network!r}")
        if not isinstance(params, CoreParams):
            raise TypeError(f"params must be a CoreParams, not {params!r}")
        self.network, self.params = network, params
        self.rows, self.columns = rows, columns
        self.places = snake(rows, columns)
        self.paths = {}        # (source, destination) core indices -> XY path
        self.specs = network.specs()
        self.splits = dict(splits or {})
        for name, split in self.splits.items():
            if name not in self.specs or name == "input":
                raise CompileError(f"split given for {name!r}, which is not a layer of the network")
            self.splits[name] = Split(split)
        self.input_parts = self._check_input_parts(input_parts)
        self.consumers = {name: [] for name in self.specs}
        for layer in network.layers:
            for source in layer.sources:
                self.consumers[source].append(layer)

    # Planning --------------------------------------------------------------------------

    def _per_word(self, name):
        """Channels of tensor ``name`` one word holds, at the tensor's precision."""
        return self.params.word_bytes * self.network.tensor_precision(name).values_per_lane

    def _words(self, name):
        return -(-self.specs[name].shape[2] // self._per_word(name))

    def _check_input_parts(self, input_parts):
        """``input_parts`` by core index, each a :class:`Part` within the input; together they
        must cover it."""
        if input_parts is None:
            return None
        height, words = self.specs["input"].shape[0], self._words("input")
        parts = {}
        for place, part in input_parts.items():
            if place not in self.places:
                raise CompileError(f"input part given for core {place}, which is not in the "
                                   f"{self.rows}x{self.columns} array")
            if not (0 <= part.rows[0] < part.rows[1] <= height
                    and 0 <= part.words[0] < part.words[1] <= words):
                raise CompileError(f"input part {part} of core {place} lies outside the input's "
                                   f"{height} rows and {words} words")
            parts[self.places.index(place)] = part
        covered = np.zeros((height, words), bool)
        for part in parts.values():
            covered[part.rows[0]:part.rows[1], part.words[0]:part.words[1]] = True
        if not covered.all():
            row, word = (int(i) for i in np.argwhere(~covered)[0])
            raise CompileError(f"input parts leave row {row}, word {word} of the input on no core")
        return parts

    def _options(self, layer, owners):
        """``{Split: {core index: Part}}``: each way of splitting ``layer``, spread over the
        cores as the module describes; of the grids, the one of least estimated cycles."""
        height, _, channels = self.specs[layer.name].shape
        cores = len(self.places)
        words = self._words(layer.name)

        def spread(row_bands, slices):
            return {band * cores // row_bands + slice: Part(rows, word_band)
                    for band, rows in enumerate(_bands(height, row_bands))
                    for slice, word_band in enumerate(_bands(words, slices))}

        options = {}
        if isinstance(layer, (Conv2d, MaxPool2d, Add)):
            options[Split.ROWS] = spread(min(cores, height), 1)
            grids = []
            slices = 2
            while slices <= min(words, cores // 2):
                if min(height, cores // slices) > 1:
                    grids.append(spread(min(height, cores // slices), slices))
                slices *= 2
            if grids:
                options[Split.GRID] = min(grids, key=lambda parts: self._estimate(layer, parts, owners))
        options[Split.CHANNELS] = spread(1, min(cores, words))
        return options

    def _footprint(self, layer, part):
        """``(weight bytes, settings entries)`` that computing ``part`` of ``layer`` adds to a core."""
        if not isinstance(layer, (Conv2d, FullyConnected)):
            return 0, 1
        low, high = self._channels(layer.name, part)
        columns = self.params.mac.columns
        blocks = -(-(high - low) // columns)
        window = int(np.prod(layer.w.shape[1:-1]))
        return (blocks * columns * window * self._words(layer.sources[0]) * self.params.word_bytes,
                blocks)

    def _rotations(self, parts):
        """``parts`` moved ``1, 2, ...`` cores along the snake, wrapping around."""
        cores = len(self.places)
        for offset in range(1, cores):
            yield {(index + offset) % cores: part for index, part in parts.items()}

    def _fits(self, layer, parts, used):
        """Whether ``parts`` of ``layer`` fit every core's weight SRAM and settings table
        next to ``used`` (by core index: the weight bytes and settings entries so far)."""
        for index, part in parts.items():
            weights, entries = (a + b for a, b in zip(used.get(index, (0, 0)), self._footprint(layer, part)))
            if weights > self.params.weight_sram.size_bytes or entries > self.params.settings_depth:
                return False
        return True

    def _needs(self, layer, part):
        """``{source: Part}``: what computing ``part`` of ``layer``'s output reads (rows may
        reach past the source's edge, into its border)."""
        if isinstance(layer, (Conv2d, MaxPool2d)):
            kernel = layer.w.shape[1] if isinstance(layer, Conv2d) else layer.kernel[0]
            stride, top = layer.stride[0], layer.padding[0]
            rows = (part.rows[0] * stride - top, (part.rows[1] - 1) * stride - top + kernel)
        elif isinstance(layer, Add):
            rows = part.rows
        else:
            rows = (0, self.specs[layer.sources[0]].shape[0])
        every_word = isinstance(layer, (Conv2d, FullyConnected))
        # A vector layer reads the source words holding its output channels, at the
        # source's precision (a word of int4 holds twice the channels of a word of int8).
        low, high = self._channels(layer.name, part)
        return {source: Part(rows, (0, self._words(source)) if every_word else
                             (low // self._per_word(source), -(-high // self._per_word(source))))
                for source in layer.sources}

    def _elements(self, layer, part):
        """Loop-nest elements of one core's part (its compute cycles, less fixed overheads)."""
        _, width, _ = self.specs[layer.name].shape
        rows = part.rows[1] - part.rows[0]
        tiles = -(-(part.words[1] - part.words[0]) * self._per_word(layer.name) // self.params.mac.columns)
        if isinstance(layer, (Conv2d, FullyConnected)):
            window = int(np.prod(layer.w.shape[1:-1])) if isinstance(layer, Conv2d) else 1
            return rows * width * tiles * window * self._words(layer.sources[0])
        if isinstance(layer, MaxPool2d):
            return rows * width * tiles * layer.kernel[0] * layer.kernel[1]
        if isinstance(layer, GlobalAvgPool):
            height, width, _ = self.specs[layer.source].shape
            return height * width * tiles
        return rows * width * tiles

    def _estimate(self, layer, parts, owners):
        """Estimated cycles of an option: the slowest core's compute plus what it receives."""
        worst = 0
        for index, part in parts.items():
            received = 0
            for source, need in self._needs(layer, part).items():
                for owner, owned in owners.get(source, {}).items():
                    common = owned & need
                    if owner != index and common:
                        received += ((common.rows[1] - common.rows[0]) * self.specs[source].shape[1]
                                     * (common.words[1] - common.words[0]) + 2 * FETCH_CYCLES + 8)
            worst = max(worst, self._elements(layer, part) + received)
        return worst

    def plan(self):
        owners = {} if self.input_parts is None else {"input": self.input_parts}
        plans, used = [], {}
        for layer in self.network.layers:
            options = self._options(layer, owners)
            forced = self.splits.get(layer.name)
            if forced is not None and forced not in options:
                raise CompileError(f"layer {layer.name} ({type(layer).__name__}) cannot be split by "
                                   f"{forced.value}; it can by {', '.join(s.value for s in options)}")
            fitting = {split: parts for split, parts in options.items() if self._fits(layer, parts, used)}
            if not fitting:
                # The same splits on other cores: those the earlier layers' weights leave room on.
                for split, parts in options.items():
                    rotated = next((r for r in self._rotations(parts) if self._fits(layer, r, used)), None)
                    if rotated is not None:
                        fitting[split] = rotated
            options = {**options, **fitting}
            split = forced or min(fitting or options, key=lambda s: self._estimate(layer, options[s], owners))
            parts = options[split]
            for index, part in parts.items():
                used[index] = tuple(a + b for a, b in zip(used.get(index, (0, 0)),
                                                          self._footprint(layer, part)))
            owners[layer.name] = parts
            plans.append(LayerPlan(layer.name, split, parts))
        return plans, owners

    # Buffers ---------------------------------------------------------------------------

    def geometry(self, plans, owners, borders):
        """Per core index: ``{tensor: (first_row, height, border, fill)}``, in network order,
        and per core index and tensor the part it needs."""
        needs = {index: {} for index in range(len(self.places))}
        for plan, layer in zip(plans, self.network.layers):
            for index, part in plan.parts.items():
                for source, need in self._needs(layer, part).items():
                    held = needs[index].get(source)
                    needs[index][source] = need if held is None else held | need
        geometry = {}
        for index in range(len(self.places)):
            shapes = {}
            for name in self.specs:
                own = owners.get(name, {}).get(index)
                need = needs[index].get(name)
                if own is None and need is None:
                    continue
                height = self.specs[name].shape[0]
                span = own if need is None else need if own is None else own | need
                first, last = max(0, span.rows[0]), min(height, span.rows[1])
                (top, bottom, left, right), fill = borders[name]
                border = (min(top, max(0, -span.rows[0])), min(bottom, max(0, span.rows[1] - height)),
                          left, right)
                shapes[name] = (first, last - first, border, fill)
            geometry[index] = shapes
        return geometry, needs

    # Programs --------------------------------------------------------------------------

    def _send(self, source, destination, name, part, message):
        word = self.params.word_bytes
        src, dst = (self.compilers[index].buffers[name] for index in (source, destination))
        x, y = self.places[destination]
        counts = (part.words[1] - part.words[0], src.width, part.rows[1] - part.rows[0])
        offset = part.words[0] * word
        instruction = Instruction(
            Opcode.SEND, self.network.precision, counts=counts, dest_x=x, dest_y=y,
            a=Stream(src.address(part.rows[0], 0) + offset, (word, src.pixel_bytes, src.pitch)),
            o=Stream(dst.address(part.rows[0], 0) + offset, (word, dst.pixel_bytes, dst.pitch)))
        return _Op(instruction, message)

    def programs(self, plans, owners, needs):
        """Each core's operations, messages and the words sent per tensor."""
        ops = {index: [] for index in range(len(self.places))}
        messages, transfers = [], {}
        received = {index: [] for index in range(len(self.places))}  # tensors sent to each core
        signals = {}       # (tensor, core) -> the token messages of the tensor to the core
        waited = {index: 0 for index in range(len(self.places))}     # tensors WAITed for

        def share(index, name, part):
            """Send what the other cores need of ``part`` of tensor ``name``, held by core ``index``."""
            for reader in range(len(self.places)):
                need = needs[reader].get(name)
                common = need and part & need
                if reader == index or not common:
                    continue
                words = ((common.rows[1] - common.rows[0]) * self.specs[name].shape[1]
                         * (common.words[1] - common.words[0]))
                transfers[name] = transfers.get(name, 0) + words
                messages.append(_Message(index, reader, words))
                ops[index].append(self._send(index, reader, name, common, len(messages) - 1))
                if (name, reader) not in signals:
                    signals[name, reader] = []
                    received[reader].append(name)
                token = received[reader].index(name) % TOKENS
                messages.append(_Message(index, reader, 1, token))
                x, y = self.places[reader]
                ops[index].append(_Op(Instruction(Opcode.SIGNAL, token=token, dest_x=x, dest_y=y),
                                      len(messages) - 1))
                signals[name, reader].append(len(messages) - 1)

        for index, part in (self.input_parts or {}).items():
            share(index, "input", part)
        for plan, layer in zip(plans, self.network.layers):
            for index, part in plan.parts.items():
                # One WAIT per tensor, for all its pulses, in the order the tensors were
                # sent, up to the last this layer reads: a later tensor's pulses then never
                # depend on a WAIT after them, so rule 3 can always be met by delaying.
                last = max((received[index].index(source) + 1 for source in layer.sources
                            if source in received[index]), default=0)
                for name in received[index][waited[index]:last]:
                    awaited = tuple(signals[name, index])
                    token = messages[awaited[0]].token
                    ops[index].append(_Op(Instruction(Opcode.WAIT, token=token, counts=(len(awaited),)),
                                          awaited=awaited))
                waited[index] = max(waited[index], last)
                compiler = self.compilers[index]
                ops[index].append(_Op(compiler.emit(layer, compiler.buffers, part.rows,
                                                    self._channels(layer.name, part)), layer=layer.name))
                share(index, layer.name, part)
        for index in ops:
            ops[index].append(_Op(Instruction(Opcode.HALT)))
        counted = {}
        for (name, reader), group in signals.items():
            key = (reader, received[reader].index(name) % TOKENS)
            counted[key] = counted.get(key, 0) + len(group)
        (reader, token), most = max(counted.items(), key=lambda item: item[1], default=((0, 0), 0))
        if most >= 1 << TOKEN_COUNT_WIDTH:
            raise CompileError(f"core {self.places[reader]} is sent {most} pulses of token {token}; "
                               f"a core counts at most {(1 << TOKEN_COUNT_WIDTH) - 1}")
        return ops, messages, transfers

    def _channels(self, name, part):
        channels, per_word = self.specs[name].shape[2], self._per_word(name)
        return part.words[0] * per_word, min(channels, part.words[1] * per_word)

    # Scheduling ------------------------------------------------------------------------

    def simulate(self, ops, messages):
        """Start cycles of every op, per message its offer cycle, and per token message the
        cycle its token pulses at the destination.

        The cores are followed in the order of their clocks, the earliest first, so that
        messages are issued in time order; each ``SEND`` or ``SIGNAL`` is held (its op's
        ``slip``) until every router output on its path is free for all its flits, and
        those cycles are then reserved: rule 1 holds by construction. Raises
        :class:`CompileError` if the programs deadlock.
        """
        cores = len(ops)
        starts = {index: [] for index in range(cores)}
        offers, pulses = {}, {}
        reserved = {}          # router output -> ([first cycles], [end cycles]) of its flits
        waiting = {}           # message -> the core whose WAIT waits for its pulse
        time, pc = [0] * cores, [0] * cores
        ready = [(0, index) for index in range(cores) if ops[index]]
        while ready:
            _, index = heapq.heappop(ready)
            op = ops[index][pc[index]]
            instruction = op.instruction
            missing = [message for message in op.awaited if message not in pulses]
            if missing:
                waiting[missing[0]] = index
                continue
            cycle = time[index] + op.delay
            if instruction.opcode in (Opcode.SEND, Opcode.SIGNAL):
                message = messages[op.message]
                lead = FETCH_CYCLES + (instruction.opcode == Opcode.SEND)
                op.slip = self._slip(reserved, message, cycle + lead, op.delay)
                cycle += op.slip
                offers[op.message] = cycle + lead
                self._reserve(reserved, message, offers[op.message])
                if instruction.opcode == Opcode.SIGNAL:
                    pulses[op.message] = offers[op.message] + self._latency(message)
                    if op.message in waiting:
                        blocked = waiting.pop(op.message)
                        heapq.heappush(ready, (time[blocked], blocked))
            if instruction.opcode == Opcode.WAIT:
                end = max(cycle + FETCH_CYCLES, max(pulses[message] for message in op.awaited) + 1) + 1
            else:
                end = cycle + instruction_cycles(instruction, self.params)
            starts[index].append(cycle)
            time[index], pc[index] = end, pc[index] + 1
            if pc[index] < len(ops[index]):
                heapq.heappush(ready, (end, index))
        if waiting:
            raise CompileError("the array's programs wait on each other for ever (a compiler error)")
        return starts, offers, pulses

    def _slip(self, reserved, message, offer, delay):
        """Cycles to hold ``message``, offered at ``offer``, until its flits meet no
        reserved flit (0, or enough for a ``DELAY`` if its op has none yet)."""
        path = self._path(message)
        slip = 0
        while True:
            clear = slip
            for hop, resource in enumerate(path):
                first = offer + slip + hop + 1
                begins, ends = reserved.get(resource, ((), ()))
                index = bisect.bisect_left(begins, first + message.words) - 1
                if index >= 0 and ends[index] > first:
                    clear = slip + ends[index] - first
                    break
            if clear == slip and (slip == 0 or delay or slip > FETCH_CYCLES):
                return slip
            slip = max(clear, FETCH_CYCLES + 1) if not delay else clear

    def _reserve(self, reserved, message, offer):
        for hop, resource in enumerate(self._path(message)):
            begins, ends = reserved.setdefault(resource, ([], []))
            first = offer + hop + 1
            index = bisect.bisect_left(begins, first)
            begins.insert(index, first)
            ends.insert(index, first + message.words)

    def _path(self, message):
        key = (message.source, message.destination)
        if key not in self.paths:
            self.paths[key] = _path(self.places[message.source], self.places[message.destination])
        return self.paths[key]

    def _latency(self, message):
        """Cycles from a message's offer to its effect at the destination (``hdl.network``):
        ``Router.LATENCY`` per router on its path, then the interface's delivery register."""
        return Router.LATENCY * len(self._path(message)) + NetworkInterface.DELIVERY_LATENCY

    def _violations(self, ops, messages, starts, offers, pulses):
        """Per core, its earliest broken rule, as ``(op's core, op index, cycles to delay
        it)``; empty when every rule holds."""
        owner = {}
        for index, core_ops in ops.items():
            for number, op in enumerate(core_ops):
                if op.message is not None:
                    owner[op.message] = (index, number)
        busy = {index: [(starts[index][number], starts[index][number]
                         + instruction_cycles(op.instruction, self.params))
                        for number, op in enumerate(ops[index]) if op.instruction.opcode.computes]
                for index in ops}
        found = []
        # Rule 1 holds by construction (see simulate). Rule 2: no word arrives at a
        # computing core.
        for number, message in enumerate(messages):
            if message.token is not None:
                continue
            first = offers[number] + self._latency(message)
            last = first + message.words - 1
            for begin, end in busy[message.destination]:
                if begin <= last and first < end:
                    found.append((first, owner[number], end - first))
                    break
        # Rule 3: a core counts each token's pulses, and a WAIT ends once as many as it wants
        # have arrived: when it is already waiting at its own last pulse, no pulse a later
        # WAIT on the token wants may arrive before that one.
        waits = {}
        for index, core_ops in ops.items():
            for number, op in enumerate(core_ops):
                if op.instruction.opcode == Opcode.WAIT:
                    last = max(pulses[message] for message in op.awaited)
                    looks = starts[index][number] + FETCH_CYCLES
                    waits.setdefault((index, op.instruction.token), []).append((looks, last, op.awaited))
        for uses in waits.values():
            for use, (looks, last, _) in enumerate(uses):
                early = [(pulses[message], message) for _, _, awaited in uses[use + 1:]
                         for message in awaited if pulses[message] < last]
                if early and looks <= last:
                    pulse, message = min(early)
                    found.append((pulse, owner[message], last - pulse + 1))
        # Each core's earliest: delaying it moves the core's later operations too, so its
        # later violations are found again, or gone, in the next round.
        earliest = {}
        for cycle, (index, number), delay in sorted(found):
            earliest.setdefault(index, (number, max(1, delay)))
        return [(index, number, delay) for index, (number, delay) in earliest.items()]

    def schedule(self, ops, messages):
        for _ in range(MAX_SCHEDULE_ROUNDS):
            starts, offers, pulses = self.simulate(ops, messages)
            violations = self._violations(ops, messages, starts, offers, pulses)
            if not violations:
                return starts
            for index, number, delay in violations:
                op = ops[index][number]
                op.delay = max(op.delay + delay, FETCH_CYCLES + 1)
        raise CompileError(f"no contention-free schedule after {MAX_SCHEDULE_ROUNDS} rounds of delays")

    # The whole -------------------------------------------------------------------------

    def compile(self):
        plans, owners = self.plan()
        single = CoreCompiler(self.network, self.params)
        single.check_shapes()
        geometry, needs = self.geometry(plans, owners, single.borders())
        self.compilers, border_words = {}, {}
        for index in range(len(self.places)):
            compiler = CoreCompiler(self.network, self.params)
            compiler.buffers, border_words[index] = compiler.allocate(geometry[index])
            self.compilers[index] = compiler
        ops, messages, transfers = self.programs(plans, owners, needs)
        starts = self.schedule(ops, messages)
        cores = {}
        for index, place in enumerate(self.places):
            compiler = self.compilers[index]
            for op in ops[index]:
                compiler.program += _delays(op.delay + op.slip)
                compiler.program.append(op.instruction)
            done = starts[index][-1] + FETCH_CYCLES
            try:
                cores[place] = compiler.finish(compiler.buffers, border_words[index], done)
            except CompileError as error:
                raise CompileError(f"core {place}: {error}") from None
        owners = {name: {self.places[index]: part for index, part in parts.items()}
                  for name, parts in owners.items()}
        predicted = max(compiled.predicted_cycles for compiled in cores.values())
        spans, busy = self._timeline(ops, starts)
        weights = {place: {} for place in self.places}
        for plan, layer in zip(plans, self.network.layers):
            for index, part in plan.parts.items():
                weights[self.places[index]][layer.name] = self._footprint(layer, part)[0]
        return ArrayCompiled(self.rows, self.columns, self.network, cores, plans, owners, predicted,
                             transfers, spans, busy, weights)

    def _timeline(self, ops, starts):
        """Each layer's span over the array and each core's compute cycles per layer."""
        spans, busy = {}, {place: {} for place in self.places}
        for index, core_ops in ops.items():
            for op, start in zip(core_ops, starts[index]):
                if op.layer is None:
                    continue
                end = start + instruction_cycles(op.instruction, self.params)
                first, last = spans.get(op.layer, (start, end))
                spans[op.layer] = (min(first, start), max(last, end))
                busy[self.places[index]][op.layer] = end - start
        return {layer.name: spans[layer.name] for layer in self.network.layers}, busy


def _delays(cycles):
    """``DELAY`` instructions lasting ``cycles`` in all (0, or at least ``FETCH_CYCLES + 1``)."""
    longest = FETCH_CYCLES + (1 << COUNT_WIDTH)
    instructions = []
    while cycles:
        # Leave a remainder that one more DELAY can still take.
        step = cycles if cycles <= longest else min(longest, cycles - FETCH_CYCLES - 1)
        instructions.append(Instruction(Opcode.DELAY, counts=(step - FETCH_CYCLES,)))
        cycles -= step
    return instructions


def compile_array(network, params, rows, columns, splits=None, input_parts=None):
    """Compile ``network`` for a ``rows x columns`` array of cores with ``params``.

    ``splits`` optionally forces a layer's :class:`Split` (by layer name); the others are
    chosen by estimated cycles. ``input_parts`` optionally places the input as an earlier
    program left it: ``{(x, y): Part}`` covering it (such as an earlier
    :class:`ArrayCompiled`'s ``owners`` of its output); the schedule then includes moving
    it to where the layers need it. Raises :class:`gen.compiler.CompileError` naming the
    value and the limit when something does not fit.
    """
    return _ArrayCompiler(network, params, rows, columns, splits, input_parts).compile()
