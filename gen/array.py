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
``SEND`` straight into the consumer's buffer, followed by a ``SIGNAL``. Readers that need
the same words at the same addresses under the same token are covered by rectangles of
the mesh, and each rectangle gets one ``SEND`` and one ``SIGNAL``, injected once and
replicated by the routers along the XY tree (``hdl.router``): a channel split's shared
input costs its owner one copy, not one per reader. To make such readers' addresses
agree, every core places a tensor's buffer at one common address where its SRAM allows
(a core whose SRAM does not keeps its own packed layout, and its own messages). All of a
tensor's pulses to one core share a token (a core's tensors take its data tokens in turn,
see :func:`token_roles`), and the consumer ``WAIT`` s for them with one instruction
(``counts[0]`` pulses) before the first layer that reads the tensor, taking the tensors in
the order they were sent to it. The network's input is written by the host into every
core that needs rows of it, or, given ``input_parts`` (the input as an earlier program
left it on the array), into the cores that hold those parts, which send it on like any
other tensor before the first layer; the host reads each output tensor from the cores
that own its parts. A block's intermediate tensors never leave the array.

In a layer pipeline (:class:`Stage`), each tensor a stage leaves for the next (a piped
tensor) is sent to its readers in the run that computes it, for the run after. With one
program bank, a reader still reads the last run's frame while its producers compute the
new one: each reader signals the free token (:func:`token_roles`) after its last read, and
each producer ``WAIT`` s for its readers' pulses before its first ``SEND``. With two
(``CoreParams.program_banks``), every reader holds a second buffer, a twin, of each piped
tensor where its SRAM has room, and the two banks' programs swap the pair: bank 0's read
the first buffer while the producers send into the twin, bank 1's the reverse, so a stage
receives its next input while it computes on this one, with no ``FREE`` at all. The banks'
programs have the same instructions but those addresses, and a twin lies a whole number of
bank rows above its first, in the same banks: one schedule holds for both.

Schedule
--------
Every core starts in the same cycle and nothing in a core's timing depends on data, so
the compiler simulates the whole run at the level of instructions and flits: each
instruction's start cycle (``sim.cycle``), each message's offer cycle, the router outputs
each of its flits takes in each cycle (its XY tree, ``Router.LATENCY`` per router, then
each destination interface's delivery register, see ``hdl.network``) and each token's
arrival at each destination. Two rules make this prediction exact:

1. no two flits ever ask for one router output in one cycle, so no arbitration ever
   happens and no flit ever waits;
2. no word lands in an activation SRAM bank in the cycle the core's own write-back writes
   that bank (``sim.cycle.write_cycles``), where each bank takes one write a cycle: the
   network's words arrive through the core's host port while the core computes, so a
   core receives the next layer's input as it computes this one (the SRAM's sticky
   ``conflict`` flag reports any violation on the hardware). A core whose banks have a
   second write port for the network's words (``CoreParams.activation_write_ports``)
   needs no such care;

and a third keeps the tokens exact: a core counts each token's pulses, so a pulse meant
for a later ``WAIT`` on a token must not reach the core before the last pulse an earlier
``WAIT`` on it is waiting for. Because each core waits for its tensors in the order they
were sent, a later tensor's pulses never depend on an earlier ``WAIT`` being passed, so
delaying them always meets this rule.

Rule 1 holds by construction: the simulation issues messages in time order and holds each
until every router output of its tree, and its core's one port into the network (which the
core's two sequencers share, one flit a cycle), is free for all its flits (so the branches of a
multicast all move in the cycle they would alone, and none ever waits for another).
Where rule 2 or 3 would break, the compiler delays the later message's instruction with a
``DELAY`` (on every core whose message breaks one, its earliest: for rule 2 by the fewest
cycles, up to ``BANK_SLOT_TRIES``, that move its words off the write-back's banks, else
past the whole compute instruction) and simulates again, until both hold. The
predicted run length is then the cycle the last core halts, which the hardware must match
exactly.
"""

import bisect
import dataclasses
import enum
import heapq
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from hdl.host import HostInterface, load_latency
from hdl.isa import Instruction, Opcode, Stream, fetch_cycles
from hdl.network import NetworkInterface
from hdl.params import CoreParams
from hdl.router import Port, Router, xy_tree_route
from sim.cycle import instruction_cycles, issue_cycles, write_cycles

from .compiler import CompileError, CoreCompiler
from .network import Add, Conv2d, ConvAdd, FullyConnected, GlobalAvgPool, MaxPool2d, Network, convolution

__all__ = ["Split", "Part", "Stage", "ArrayCompiled", "compile_array", "token_roles", "snake", "bands",
           "xy_tree"]

#: Most ``DELAY`` iterations the scheduler tries before giving up.
MAX_SCHEDULE_ROUNDS = 20000


def token_roles(params):
    """``(data_tokens, pipe, free, local)`` of a core with ``params`` (``CoreParams.tokens``).

    Tokens ``0 .. data_tokens - 1`` carry tensors between cores within a run; the last three
    have roles: in a pipeline (see :class:`Stage`), ``pipe`` carries a stage's input for the
    next run and ``free`` tells its senders that the stage has read the last run's; ``local``
    is each core's own, from its compute sequencer to its message sequencer.
    """
    tokens = params.tokens
    return tokens - 3, tokens - 3, tokens - 2, tokens - 1


#: The resource a core's messages take in the cycles they enter the network (see _resources).
INJECTION = "injection"
#: Fewest words the other cores must read of a part's earlier row bands for the part to be
#: computed band by band (each band costs an instruction's fetch and drain and a hand-off).
FORWARD_MIN_WORDS = 16
#: The fraction of a tensor's rows from which a core reading it holds all of them (see
#: ``_ArrayCompiler._whole``).
WHOLE_ROWS = Fraction(7, 8)
#: Delays of a message, in cycles, tried for one that would meet a write-back in a bank,
#: before delaying it past the whole compute instruction.
BANK_SLOT_TRIES = 8


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


@dataclass(frozen=True)
class Stage:
    """One stage of a layer pipeline: consecutive ``layers`` (names) computed by the cores
    at ``places`` ((x, y), disjoint from every other stage's), on the frame the previous
    stage computed in the previous run. The stage's layers are split over its cores in the
    order ``places`` gives them (as the whole array's are along the snake)."""
    layers: tuple
    places: tuple


def snake(rows, columns):
    """Core coordinates ``(x, y)`` in snake order: consecutive cores are mesh neighbours."""
    return [(x if y % 2 == 0 else columns - 1 - x, y) for y in range(rows) for x in range(columns)]


def bands(total, parts):
    """``parts`` contiguous, near-equal ``[first, last)`` ranges covering ``range(total)``."""
    return [(total * k // parts, total * (k + 1) // parts) for k in range(parts)]


#: Column and row steps of a flit leaving by each output.
_STEPS = {Port.NORTH: (0, -1), Port.EAST: (1, 0), Port.SOUTH: (0, 1), Port.WEST: (-1, 0)}
#: The input a flit arrives on after leaving its router by each output.
_ARRIVES_ON = {Port.NORTH: Port.SOUTH, Port.EAST: Port.WEST, Port.SOUTH: Port.NORTH, Port.WEST: Port.EAST}


def xy_tree(source, rectangle):
    """The XY tree of a message from core ``source`` to ``rectangle`` ``((x0, y0), (x1, y1))``:
    ``{(router, output port): routers before it}`` and ``{destination: routers passed}``."""
    (x0, y0), (x1, y1) = rectangle
    outputs, reached = {}, {}
    frontier = [(source, Port.LOCAL, 0)]
    while frontier:
        (x, y), arrived_on, depth = frontier.pop()
        for port in xy_tree_route(x, y, arrived_on, x0, x1, y0, y1):
            outputs[(x, y), port] = depth
            if port == Port.LOCAL:
                reached[x, y] = depth + 1
            else:
                step_x, step_y = _STEPS[port]
                frontier.append(((x + step_x, y + step_y), _ARRIVES_ON[port], depth + 1))
    return outputs, reached


def _rectangles(places):
    """``places`` ``(x, y)`` covered by disjoint rectangles ``((x0, y0), (x1, y1))``: each
    grown east, then south, from the first place left in row-major order."""
    left, rectangles = set(places), []
    while left:
        x0, y0 = min(left, key=lambda place: (place[1], place[0]))
        x1 = x0
        while (x1 + 1, y0) in left:
            x1 += 1
        y1 = y0
        while all((x, y1 + 1) in left for x in range(x0, x1 + 1)):
            y1 += 1
        left -= {(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)}
        rectangles.append(((x0, y0), (x1, y1)))
    return rectangles


@dataclass
class _Op:
    """One instruction of a core's program, before scheduling; ``DELAY`` s of ``delay +
    slip`` cycles in all run before it (0, or at least ``fetch_cycles + 1``)."""
    instruction: Instruction
    message: int = None        # SEND and SIGNAL: their message
    awaited: tuple = ()        # WAIT: the token messages whose pulses it consumes
    delay: int = 0
    slip: int = 0              # SEND and SIGNAL: cycles more, until their path is free
    layer: str = None          # the layer a compute instruction runs a part of


@dataclass
class _Message:
    source: int
    destinations: tuple        # core indices of the rectangle's cores
    rectangle: tuple           # ((x0, y0), (x1, y1)) of the destination rectangle
    words: int                 # flits injected: one per word for SEND, one for SIGNAL
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
    network_words : int
        Flits the cores inject into the activation network in one run: a word for each word
        a ``SEND`` reads (once, however many cores its rectangle holds) and one for each
        ``SIGNAL``.
    sending_while_computing : dict
        By core coordinates: the cycles in which the core's message sequencer issues
        ``SEND`` words while its compute sequencer runs a compute instruction.
    stages : tuple of Stage
        A layer pipeline's stages (empty: every run computes one frame through the whole
        network). Run ``r`` computes stage ``s`` on frame ``r - s``: the host writes frame
        ``r`` before run ``r`` and reads, after it, the output of frame ``r - depth + 1``.
    input_delay : int or None
        When the input's holders compute nothing (a pipeline whose ``input_parts`` lie on
        cores of no stage, which only send the input on): the fewest cycles after the cycle
        ``RUN`` is taken before the host may start writing the next frame, one ``WRITE`` a
        cycle, so that every word lands after the run's last ``SEND`` has read the word it
        replaces. The host then writes frame ``r + 1`` while run ``r`` computes. ``None``:
        the host writes between runs.
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
    network_words: int = 0
    sending_while_computing: dict = field(default_factory=dict)
    stages: tuple = ()
    input_delay: int | None = None

    @property
    def depth(self):
        """Runs from a frame's input to its output: the pipeline's stages, or 1."""
        return max(1, len(self.stages))

    def load_writes(self):
        """``(x, y, host word address, value)`` of everything loaded before a run."""
        return [(x, y, address, value) for (x, y), compiled in self.cores.items()
                for address, value in compiled.load_words()]

    def input_writes(self, frame):
        """``(x, y, host word address, value)`` writing input frame ``frame`` (H, W, C): into
        every core that needs rows of it or, given ``input_parts``, into their holders. The
        host unfolds the frame once first when the network's input is unfolded."""
        tensor = self.network.host_input(frame)
        held = self.owners.get("input")
        if held is not None:
            return [(x, y, address, value) for (x, y), part in held.items() for address, value
                    in self.cores[(x, y)].input_tensor_words(tensor, part.rows, part.words)]
        return [(x, y, address, value) for (x, y), compiled in self.cores.items()
                if "input" in compiled.buffers for address, value in compiled.input_tensor_words(tensor)]

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
    def __init__(self, network, params, rows, columns, splits, input_parts, multicast, forward, stages=()):
        if not isinstance(network, Network):
            raise TypeError(f"network must be a Network, not {network!r}")
        if not isinstance(params, CoreParams):
            raise TypeError(f"params must be a CoreParams, not {params!r}")
        self.network, self.params = network, params
        self.fetch = fetch_cycles(params)    # cycles a core takes to fetch an instruction
        self.data_tokens, self.pipe_token, self.free_token, self.local_token = token_roles(params)
        self.rows, self.columns = rows, columns
        self.multicast, self.forward = multicast, forward
        self.banded = False    # whether some part is computed in bands (see _bands)
        self.places = snake(rows, columns)
        self.index = {place: index for index, place in enumerate(self.places)}
        self.trees = {}        # (source core index, rectangle) -> XY tree
        self.banks, self.writes = {}, {}     # instruction -> banks, write-back cycles
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
        self.stages = tuple(stages)
        self.groups, self.piped = self._check_stages()
        self.later = self._later()
        self.twins = {}        # core index -> {piped tensor: its second buffer} (see _twins)
        self.alternated = set()     # the piped tensors that have twins
        self.parity = 0        # the program bank being written (see programs)

    def _check_stages(self):
        """``({layer: core indices of its group}, {tensor a stage leaves for the next})``:
        every core for every layer without stages; with them, each layer its stage's cores.
        The stages must take the layers in network order, each once, on disjoint cores of
        the array, and a tensor may cross only from one stage into the next."""
        everyone = list(range(len(self.places)))
        if not self.stages:
            return {layer.name: everyone for layer in self.network.layers}, set()
        order = [name for stage in self.stages for name in stage.layers]
        if order != [layer.name for layer in self.network.layers]:
            raise CompileError(f"the stages must take the network's layers in order, each once, "
                               f"not {order}")
        groups, stage_of, taken = {}, {"input": 0}, set()
        for number, stage in enumerate(self.stages):
            if not stage.places:
                raise CompileError(f"stage {number} ({stage.layers[0]} ..) has no cores")
            for place in stage.places:
                if place not in self.index:
                    raise CompileError(f"stage {number} is given core {place}, which is not in the "
                                       f"{self.rows}x{self.columns} array")
                if place in taken:
                    raise CompileError(f"core {place} is given to two stages")
                taken.add(place)
            indices = [self.index[place] for place in stage.places]
            for name in stage.layers:
                groups[name], stage_of[name] = indices, number
        first = self.stages[0].places
        for index in self.input_parts or {}:
            if self.places[index] in taken and self.places[index] not in first:
                raise CompileError(f"core {self.places[index]} of a later stage is given a part of the "
                                   f"input, which only stage 0's cores read")
        piped = set()
        for layer in self.network.layers:
            for source in layer.sources:
                crossed = stage_of[layer.name] - stage_of[source]
                if source == "input" and crossed:
                    raise CompileError(f"layer {layer.name} of stage {stage_of[layer.name]} reads the "
                                       f"input, which the host writes for stage 0 alone")
                if crossed > 1:
                    raise CompileError(f"layer {layer.name} of stage {stage_of[layer.name]} reads "
                                       f"{source} of stage {stage_of[source]}: a tensor crosses only "
                                       f"into the next stage")
                if crossed:
                    piped.add(source)
        last = len(self.stages) - 1
        for name in self.network.outputs:
            if stage_of[name] != last:
                raise CompileError(f"output {name} is computed in stage {stage_of[name]}, not the last")
        return groups, piped

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

    def _options(self, layer, owners, fits):
        """``{Split: {core index: Part}}``: each way of splitting ``layer``, spread over the
        cores as the module describes; of the grids, the one of least estimated cycles
        among those that ``fits`` (a predicate on parts), if any does."""
        height, _, channels = self.specs[layer.name].shape
        group = self.groups[layer.name]
        cores = len(group)
        words = self._words(layer.name)

        def spread(row_bands, slices):
            return {group[band * cores // row_bands + slice]: Part(rows, word_band)
                    for band, rows in enumerate(bands(height, row_bands))
                    for slice, word_band in enumerate(bands(words, slices))}

        options = {}
        if getattr(layer, "pack", 1) > 1:       # every position computes all its columns' channels
            return {Split.ROWS: spread(min(cores, height), 1)}
        if isinstance(layer, (Conv2d, ConvAdd, MaxPool2d, Add)):
            options[Split.ROWS] = spread(min(cores, height), 1)
            grids = []
            slices = 2
            while slices <= min(words, cores // 2):
                if min(height, cores // slices) > 1:
                    grids.append(spread(min(height, cores // slices), slices))
                slices *= 2
            if grids:
                options[Split.GRID] = min([parts for parts in grids if fits(parts)] or grids,
                                          key=lambda parts: self._estimate(layer, parts, owners))
        options[Split.CHANNELS] = spread(1, min(cores, words))
        return options

    def _footprint(self, layer, part):
        """``(weight bytes, settings entries)`` that computing ``part`` of ``layer`` adds to a core."""
        if not isinstance(layer, (Conv2d, ConvAdd, FullyConnected)):
            return 0, 1
        low, high = self._channels(layer.name, part)
        columns = self.params.mac.columns
        conv = convolution(layer) or layer
        blocks = -(-(high - low) // columns) * getattr(conv, "pack", 1)
        window = int(np.prod(conv.w.shape[1:-1]))
        return (blocks * columns * window * self._words(layer.sources[0]) * self.params.word_bytes,
                blocks)

    def _rotations(self, layer, parts):
        """``parts`` of ``layer`` moved ``1, 2, ...`` cores along the snake within its
        group, wrapping around."""
        group = self.groups[layer.name]
        position = {index: number for number, index in enumerate(group)}
        for offset in range(1, len(group)):
            yield {group[(position[index] + offset) % len(group)]: part for index, part in parts.items()}

    def _later(self):
        """By layer name: ``(bytes, cores)`` for each later layer of its group, in network
        order: its whole weights, and the most cores its finest split spreads them over (as
        many as its output words, at most the group's)."""
        later, groups = {}, {}
        for layer in reversed(self.network.layers):
            group = tuple(self.groups[layer.name])
            later[layer.name] = groups.get(group, [])[::-1]
            words = self._words(layer.name)
            whole, _ = self._footprint(layer, Part((0, 1), (0, words)))
            groups.setdefault(group, []).append((whole, min(len(group), words)))
        return later

    def _leaves_room(self, layer, parts, used):
        """Whether, with ``parts`` of ``layer`` placed next to ``used``, the weight SRAMs of
        its group still hold each of the group's later layers at its finest split, each
        split's equal shares on the cores with the most room left (a greedy test, so that an
        early layer's split cannot take the room a later one needs)."""
        capacity = self.params.weight_sram.size_bytes
        room = {index: capacity - used.get(index, (0, 0))[0] for index in self.groups[layer.name]}
        for index, part in parts.items():
            room[index] = room.get(index, capacity) - self._footprint(layer, part)[0]
        for whole, cores in self.later[layer.name]:
            share = -(-whole // cores)
            roomiest = sorted(room, key=room.get, reverse=True)[:cores]
            if room[roomiest[-1]] < share:
                return False
            for index in roomiest:
                room[index] -= share
        return True

    def _fits(self, layer, parts, used, held, reserve=True):
        """Whether ``parts`` of ``layer`` fit every core's weight SRAM (leaving the room the
        group's later layers need, :meth:`_leaves_room`, if ``reserve``) and settings table
        next to ``used`` (by core index: the weight bytes and settings entries so far), and
        its activation SRAM next to ``held`` (by core index: ``{tensor: rows}`` of the
        buffers so far, see :meth:`_held`)."""
        for index, part in parts.items():
            weights, entries = (a + b for a, b in zip(used.get(index, (0, 0)), self._footprint(layer, part)))
            if weights > self.params.weight_sram.size_bytes or entries > self.params.settings_depth:
                return False
            if self._activation_bytes(self._held(layer, index, part, held.get(index, {}))) \
                    > self.params.activation_sram.size_bytes:
                return False
        return not reserve or self._leaves_room(layer, parts, used)

    def _fitting(self, layer, options, used, held, reserve):
        """Of ``options`` (by split, the parts), those that :meth:`_fits`, each where it is or,
        when none does, on other cores: those the earlier layers' weights leave room on."""
        fitting = {split: parts for split, parts in options.items()
                   if self._fits(layer, parts, used, held, reserve)}
        if not fitting:
            for split, parts in options.items():
                rotated = next((rotated for rotated in self._rotations(layer, parts)
                                if self._fits(layer, rotated, used, held, reserve)), None)
                if rotated is not None:
                    fitting[split] = rotated
        return fitting

    def _held(self, layer, index, part, rows):
        """``rows`` (``{tensor: (first, end)}``, the rows a core's buffers hold) with those
        computing ``part`` of ``layer`` adds: its output's and the sources' it reads."""
        rows = dict(rows)
        for name, span in [(layer.name, part.rows), *((source, need.rows) for source, need
                                                      in self._needs(layer, part).items())]:
            held = rows.get(name, span)
            rows[name] = (min(held[0], span[0]), max(held[1], span[1]))
        return rows

    def _activation_bytes(self, rows):
        """Bytes of activation SRAM the buffers of ``rows`` (``{tensor: (first, end)}``) take
        (:meth:`gen.compiler.CoreCompiler.allocate`'s layout): all words of every pixel, the
        border, and the bank shift each buffer may add."""
        word = self.params.word_bytes
        total = 0
        for name, (first, end) in rows.items():
            height, width, _ = self.specs[name].shape
            (top, bottom, left, right), _ = self.borders[name]
            rows_held = (min(height, end) - max(0, first) + min(top, max(0, -first))
                         + min(bottom, max(0, end - height)))
            total += (rows_held * (width + left + right) * self._words(name)
                      + self.params.activation_banks - 1) * word
        return total

    def _needs(self, layer, part):
        """``{source: Part}``: what computing ``part`` of ``layer``'s output reads (rows may
        reach past the source's edge, into its border)."""
        windowed = convolution(layer) or layer
        if isinstance(windowed, (Conv2d, MaxPool2d)):
            kernel = windowed.w.shape[1] if isinstance(windowed, Conv2d) else windowed.kernel[0]
            stride, top = windowed.stride[0], windowed.padding[0]
            rows = (part.rows[0] * stride - top, (part.rows[1] - 1) * stride - top + kernel)
        elif isinstance(layer, Add):
            rows = part.rows
        else:
            rows = (0, self.specs[layer.sources[0]].shape[0])
        # A vector layer reads the source words holding its output channels, at the
        # source's precision (a word of int4 holds twice the channels of a word of int8).
        low, high = self._channels(layer.name, part)

        def sliced(source):
            return low // self._per_word(source), -(-high // self._per_word(source))

        every_word = isinstance(layer, (Conv2d, ConvAdd, FullyConnected))
        needs = {source: Part(rows, (0, self._words(source)) if every_word else sliced(source))
                 for source in layer.sources}
        if isinstance(layer, ConvAdd):
            # The fused add reads the residual at the output's own pixels and channels.
            residual = Part(part.rows, sliced(layer.residual))
            needs[layer.residual] = (residual if layer.residual != layer.source
                                     else needs[layer.residual] | residual)
        return needs

    def _elements(self, layer, part):
        """Loop-nest elements of one core's part (its compute cycles, less fixed overheads)."""
        _, width, _ = self.specs[layer.name].shape
        rows = part.rows[1] - part.rows[0]
        tiles = -(-(part.words[1] - part.words[0]) * self._per_word(layer.name) // self.params.mac.columns)
        if isinstance(layer, (Conv2d, ConvAdd, FullyConnected)):
            conv = convolution(layer)
            window = int(np.prod(conv.w.shape[1:-1])) if conv else 1
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
                                     * (common.words[1] - common.words[0])
                                     + 2 * self.fetch + 8)
            worst = max(worst, self._elements(layer, part) + received)
        return worst

    def plan(self):
        owners = {} if self.input_parts is None else {"input": self.input_parts}
        plans, used, held = [], {}, {}
        for index, part in (self.input_parts or {}).items():
            held[index] = {"input": part.rows}
        for layer in self.network.layers:
            options = self._options(layer, owners, lambda parts: self._fits(layer, parts, used, held))
            forced = self.splits.get(layer.name)
            if forced is not None and forced not in options:
                raise CompileError(f"layer {layer.name} ({type(layer).__name__}) cannot be split by "
                                   f"{forced.value}; it can by {', '.join(s.value for s in options)}")
            # Keeping the room the group's later layers need where some split can, else not
            # (an even spread of their weights over the group is not the only way to place them).
            fitting = (self._fitting(layer, options, used, held, True)
                       or self._fitting(layer, options, used, held, False))
            options = {**options, **fitting}
            split = forced or min(fitting or options, key=lambda s: self._estimate(layer, options[s], owners))
            parts = options[split]
            for index, part in parts.items():
                used[index] = tuple(a + b for a, b in zip(used.get(index, (0, 0)),
                                                          self._footprint(layer, part)))
                held[index] = self._held(layer, index, part, held.get(index, {}))
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
        for index in needs:
            needs[index] = self._whole(index, needs[index], owners)
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

    def _whole(self, index, needs, owners):
        """Core ``index``'s ``needs`` (``{tensor: Part}``), with each tensor of which it
        needs at least :data:`WHOLE_ROWS` of the rows held whole (all rows, the words it
        needs), if its activation SRAM has room for all its buffers so (``owners``: by
        tensor, the parts each core computes). Readers that need nearly all of a tensor then
        take each sender's part at one address, one multicast for them all, rather than one
        message for each slightly different need."""
        whole = dict(needs)
        for name, need in needs.items():
            height = self.specs[name].shape[0]
            if min(height, need.rows[1]) - max(0, need.rows[0]) >= WHOLE_ROWS * height:
                whole[name] = need | Part((0, height), need.words)
        rows = {name: part.rows for name, part in whole.items()}
        for name, part in owners.items():
            if index in part:
                own = part[index].rows
                held = rows.get(name, own)
                rows[name] = (min(held[0], own[0]), max(held[1], own[1]))
        return whole if self._activation_bytes(rows) <= self.params.activation_sram.size_bytes else needs

    def _common_floors(self):
        """``{tensor: address}``: where each tensor's buffer starts on every core holding it,
        laid out in network order above the highest of those cores' earlier buffers (each
        with room for the bank shift :meth:`gen.compiler.CoreCompiler.allocate` may add),
        so that a multicast writes one address on every reader."""
        slack = (self.params.activation_banks - 1) * self.params.word_bytes
        tops, floors = {index: 0 for index in self.compilers}, {}
        for name in self.specs:
            holders = [index for index, compiler in self.compilers.items() if name in compiler.buffers]
            if not holders:
                continue
            floors[name] = max(tops[index] for index in holders)
            for index in holders:
                tops[index] = floors[name] + self.compilers[index].buffers[name].size_bytes + slack
        return floors

    def _twins(self, owners, border_words):
        """With two program banks, a second buffer (its twin) on every core that reads a
        piped tensor, ``{core index: {tensor: Buffer}}``, for each piped tensor whose twins
        fit every reader's activation SRAM above its buffers: at one distance from the
        first buffer on every reader (a multicast writes one address on them all), a whole
        number of bank rows, so that each word of the twin lies in its first's bank and the
        schedule holds for both. Adds the twins' borders to ``border_words``."""
        word, size = self.params.word_bytes, self.params.activation_sram.size_bytes
        row = self.params.activation_banks * word
        tops = {index: max((buffer.base + buffer.size_bytes for buffer in compiler.buffers.values()),
                           default=0) for index, compiler in self.compilers.items()}
        twins = {}
        for name in (name for name in self.specs if name in self.piped):
            firsts = {index: compiler.buffers[name] for index, compiler in self.compilers.items()
                      if name in compiler.buffers and index not in owners[name]}
            if not firsts:
                continue
            distance = -(-max(tops[index] - first.base for index, first in firsts.items()) // row) * row
            if any(first.base + distance + first.size_bytes > size for first in firsts.values()):
                continue        # the stage reads this tensor from one buffer, FREE'd by its readers
            for index, first in firsts.items():
                twins.setdefault(index, {})[name] = dataclasses.replace(first, base=first.base + distance)
                tops[index] = first.base + distance + first.size_bytes
                low, high = first.base // word, (first.base + first.size_bytes) // word
                border_words[index].update({address + distance // word: value for address, value
                                            in border_words[index].items() if low <= address < high})
        return twins

    # Programs --------------------------------------------------------------------------

    def _destination_stream(self, destination, name, part):
        """Where a ``SEND`` of ``part`` of tensor ``name`` writes in core ``destination``: a
        piped tensor's twin in the first bank's program, when it has one (see :meth:`_twins`)."""
        word = self.params.word_bytes
        twin = None if self.parity else self.twins.get(destination, {}).get(name)
        buffer = twin or self.compilers[destination].buffers[name]
        return Stream(buffer.address(part.rows[0], 0) + part.words[0] * word,
                      (word, buffer.pixel_bytes, buffer.pitch))

    def _send(self, source, name, part, target, rectangle, message):
        """The ``SEND`` of ``part`` of tensor ``name`` from core ``source`` to the cores of
        ``rectangle``, at ``target`` in each."""
        word = self.params.word_bytes
        src = self.compilers[source].buffers[name]
        (x0, y0), (x1, y1) = rectangle
        counts = (part.words[1] - part.words[0], src.width, part.rows[1] - part.rows[0])
        instruction = Instruction(
            Opcode.SEND, self.network.precision, counts=counts, dest_x=x0, dest_y=y0,
            dest_x_last=x1, dest_y_last=y1,
            a=Stream(src.address(part.rows[0], 0) + part.words[0] * word, (word, src.pixel_bytes, src.pitch)),
            o=target)
        return _Op(instruction, message)

    def programs(self, plans, owners, needs):
        """Each sequencer's operations (by agent: core ``k``'s compute sequencer is agent
        ``k``, its message sequencer agent ``cores + k``), the messages and the words sent
        per tensor, for program bank ``self.parity``: a stage reads each piped tensor that
        has twins (:meth:`_twins`) from its first buffer in bank 0 and from the twin in bank
        1, and its producers send the next frame's into the other one, with no ``FREE``
        hand-shake. The two banks' operations differ in those addresses alone."""
        cores = len(self.places)
        ops = {agent: [] for agent in range(2 * cores)}
        messages, transfers = [], {}
        received = {index: [] for index in range(cores)}  # tensors sent to each core in the run
        signals = {}       # (tensor, core) -> the token messages of the tensor to the core
        read_last = {}     # (piped tensor, core) -> the core's ops up to its last read of it
        freed = {}         # core -> (its WAIT for readers' FREE pulses, the readers, the tensor)

        def share(index, name, part):
            """The message sequencer's ops sending what the other cores need of ``part`` of
            tensor ``name``, held by core ``index``: one ``SEND`` and one ``SIGNAL`` to each
            rectangle of readers that need the same words at the same addresses with the
            same token."""
            groups, sent = {}, []     # (words sent, destination stream, token) -> readers
            for reader in range(cores):
                need = needs[reader].get(name)
                common = need and part & need
                if reader == index or not common:
                    continue
                if (name, reader) not in signals:
                    signals[name, reader] = []
                    if name not in self.piped:
                        received[reader].append(name)
                token = self._token(name, received[reader])
                key = (common, self._destination_stream(reader, name, common), token)
                groups.setdefault(key, []).append(reader)
            for (common, target, token), readers in groups.items():
                words = ((common.rows[1] - common.rows[0]) * self.specs[name].shape[1]
                         * (common.words[1] - common.words[0]))
                places = [self.places[reader] for reader in readers]
                rectangles = _rectangles(places) if self.multicast else [(place, place) for place in places]
                for rectangle in rectangles:
                    (x0, y0), (x1, y1) = rectangle
                    destinations = tuple(self.index[x, y] for y in range(y0, y1 + 1)
                                         for x in range(x0, x1 + 1))
                    transfers[name] = transfers.get(name, 0) + words
                    messages.append(_Message(index, destinations, rectangle, words))
                    sent.append(self._send(index, name, common, target, rectangle, len(messages) - 1))
                    messages.append(_Message(index, destinations, rectangle, 1, token))
                    sent.append(_Op(Instruction(Opcode.SIGNAL, token=token, dest_x=x0, dest_y=y0,
                                                dest_x_last=x1, dest_y_last=y1), len(messages) - 1))
                    for reader in destinations:
                        signals[name, reader].append(len(messages) - 1)
            return sent

        for index, part in (self.input_parts or {}).items():
            ops[cores + index] += share(index, "input", part)
        waited = {index: 0 for index in range(cores)}     # tensors WAITed for
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
                buffers = compiler.buffers
                if self.parity:
                    buffers = {**buffers, **self.twins.get(index, {})}
                for band in self._bands(layer, index, part, needs):
                    ops[index].append(_Op(compiler.emit(layer, buffers, band.rows,
                                                        self._channels(layer.name, part)), layer=layer.name))
                    for source in set(layer.sources) & self.piped - self.alternated:
                        read_last[source, index] = len(ops[index])
                    sent = share(index, layer.name, band)
                    if sent:
                        # The compute sequencer hands the band over to its message sequencer
                        # (through the core's own router) and computes on.
                        x, y = self.places[index]
                        messages.append(_Message(index, (index,), ((x, y), (x, y)), 1, self.local_token))
                        ops[index].append(_Op(Instruction(Opcode.SIGNAL, token=self.local_token, dest_x=x,
                                                          dest_y=y), len(messages) - 1))
                        ops[cores + index].append(_Op(Instruction(Opcode.WAIT, token=self.local_token),
                                                      awaited=(len(messages) - 1,)))
                        if layer.name in self.piped - self.alternated and index not in freed:
                            # The next stage still reads the last run's: wait until it is done,
                            # before the first band's SEND (the readers of every band's).
                            readers = {reader for reader in range(cores) if reader != index
                                       and layer.name in needs[reader] and part & needs[reader][layer.name]}
                            freed[index] = (_Op(None), readers, layer.name)
                            ops[cores + index].append(freed[index][0])
                        ops[cores + index] += sent
        self._free(ops, messages, read_last, freed)
        for index in range(cores):
            # A stage's input for the next run has landed before the core halts.
            awaited = tuple(message for (name, reader), group in signals.items()
                            if reader == index and name in self.piped for message in group)
            if awaited:
                ops[index].append(_Op(Instruction(Opcode.WAIT, token=self.pipe_token, counts=(len(awaited),)),
                                      awaited=awaited))
        for agent in ops:
            ops[agent].append(_Op(Instruction(Opcode.HALT)))
        counted = {}
        for (name, reader), group in signals.items():
            key = (reader, self._token(name, received[reader]))
            counted[key] = counted.get(key, 0) + len(group)
        for owner, (wait, _, _) in freed.items():
            counted[owner, self.free_token] = len(wait.awaited)
        (reader, token), most = max(counted.items(), key=lambda item: item[1], default=((0, 0), 0))
        if most >= 1 << self.params.token_count_width:
            raise CompileError(f"core {self.places[reader]} is sent {most} pulses of token {token}; "
                               f"a core counts at most {(1 << self.params.token_count_width) - 1}")
        return ops, messages, transfers

    def _token(self, name, received):
        """The token that carries tensor ``name`` to a core that is sent the tensors
        ``received`` within a run, in order: the pipe token for a piped one, else its data token."""
        return self.pipe_token if name in self.piped else received.index(name) % self.data_tokens

    def _free(self, ops, messages, read_last, freed):
        """In a pipeline, after its last read of a piped tensor, each reader's compute
        sequencer signals the free token to the cores that send it the next run's (a
        rectangle of them at a time); each of those ``WAIT`` s (``freed``) for all its
        readers' pulses before its first ``SEND``."""
        pulses = {owner: [] for owner in freed}
        inserted = {}
        for (name, reader), position in read_last.items():
            owners = [owner for owner, (_, readers, tensor) in freed.items()
                      if tensor == name and reader in readers]
            rectangles = (_rectangles([self.places[owner] for owner in owners]) if self.multicast
                          else [(self.places[owner],) * 2 for owner in owners])
            signals = []
            for rectangle in rectangles:
                (x0, y0), (x1, y1) = rectangle
                destinations = tuple(self.index[x, y] for y in range(y0, y1 + 1) for x in range(x0, x1 + 1))
                messages.append(_Message(reader, destinations, rectangle, 1, self.free_token))
                signals.append(_Op(Instruction(Opcode.SIGNAL, token=self.free_token, dest_x=x0, dest_y=y0,
                                               dest_x_last=x1, dest_y_last=y1), len(messages) - 1))
                for owner in destinations:
                    pulses[owner].append(len(messages) - 1)
            inserted.setdefault(reader, []).append((position, signals))
        for reader, insertions in inserted.items():
            for position, signals in sorted(insertions, key=lambda item: -item[0]):
                ops[reader][position:position] = signals
        for owner, (wait, _, _) in freed.items():
            wait.awaited = tuple(pulses[owner])
            wait.instruction = Instruction(Opcode.WAIT, token=self.free_token, counts=(len(wait.awaited),))

    def _bands(self, layer, index, part, needs):
        """The row bands, in order, in which core ``index`` computes ``part`` of ``layer``,
        each one instruction whose rows the other cores read leave from the message
        sequencer while the next band computes: the rows read at the part's top edge,
        then at its bottom edge, then the rest; or, when the others read it all, its two
        halves. One band when forwarding is off, the part has one row, or the others read
        fewer than :data:`FORWARD_MIN_WORDS` words of it before its last band."""
        first, last = part.rows
        read = [common.rows for reader, need in needs.items() if reader != index and layer.name in need
                for common in [part & need[layer.name]] if common]
        if not self.forward or last - first < 2 or not read:
            return [part]
        top = max((end for begin, end in read if begin == first), default=first)
        bottom = min((begin for begin, end in read if end == last), default=last)
        if top >= bottom:
            middle = (first + last) // 2
            cuts = [(first, middle), (middle, last)]
        else:
            cuts = [band for band in ((first, top), (bottom, last), (top, bottom)) if band[0] < band[1]]
        bands = [Part(rows, part.words) for rows in cuts]
        early = sum(common.rows[1] - common.rows[0] for band in bands[:-1]
                    for common in [band & Part(rows, part.words) for rows in read] if common)
        width, words = self.specs[layer.name].shape[1], part.words[1] - part.words[0]
        if len(bands) < 2 or early * width * words < FORWARD_MIN_WORDS:
            return [part]
        self.banded = True
        return bands

    def _channels(self, name, part):
        channels, per_word = self.specs[name].shape[2], self._per_word(name)
        return part.words[0] * per_word, min(channels, part.words[1] * per_word)

    # Scheduling ------------------------------------------------------------------------

    def simulate(self, ops, messages):
        """Start cycles of every op, per message its offer cycle, and per token message and
        destination the cycle its token pulses there.

        The sequencers (agents, see :meth:`programs`) are followed in the order of their
        clocks, the earliest first, so that messages are issued in time order; each
        ``SEND`` or ``SIGNAL`` is held (its op's ``slip``) until every router output of its
        tree is free for all its flits, and those cycles are then reserved: rule 1 holds by
        construction. Raises :class:`CompileError` if the programs deadlock.
        """
        agents, cores = len(ops), len(self.places)
        starts = {index: [] for index in range(agents)}
        offers, pulses = {}, {}    # message -> offer cycle; (message, core) -> pulse cycle
        reserved = {}          # router output -> ([first cycles], [end cycles]) of its flits
        waiting = {}           # message -> the agents whose WAIT waits for its pulse
        time, pc = [0] * agents, [0] * agents
        ready = [(0, index) for index in range(agents) if ops[index]]
        while ready:
            _, index = heapq.heappop(ready)
            op = ops[index][pc[index]]
            instruction = op.instruction
            missing = [message for message in op.awaited if (message, index % cores) not in pulses]
            if missing:
                waiting.setdefault(missing[0], []).append(index)
                continue
            cycle = time[index] + _delay_cycles(op.delay, self.params)
            if instruction.opcode in (Opcode.SEND, Opcode.SIGNAL):
                message = messages[op.message]
                lead = self.fetch + (instruction.opcode == Opcode.SEND)
                op.slip = self._slip(reserved, message, cycle + lead, op.delay)
                cycle = time[index] + _delay_cycles(op.delay + op.slip, self.params)
                offers[op.message] = cycle + lead
                self._reserve(reserved, message, offers[op.message])
                if instruction.opcode == Opcode.SIGNAL:
                    for destination in message.destinations:
                        pulses[op.message, destination] = (offers[op.message]
                                                           + self._latency(message, destination))
                    for blocked in waiting.pop(op.message, ()):
                        heapq.heappush(ready, (time[blocked], blocked))
            if instruction.opcode == Opcode.WAIT:
                end = max(cycle + self.fetch,
                          max(pulses[message, index % cores] for message in op.awaited) + 1) + 1
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
        outputs, fetch = self._resources(message), self.fetch
        slip = 0
        while True:
            clear = slip
            for resource, depth in outputs.items():
                first = offer + slip + depth + 1
                begins, ends = reserved.get(resource, ((), ()))
                index = bisect.bisect_left(begins, first + message.words) - 1
                if index >= 0 and ends[index] > first:
                    clear = slip + ends[index] - first
                    break
            if clear == slip and (slip == 0 or delay or slip > fetch):
                return slip
            slip = max(clear, fetch + 1) if not delay else clear

    def _reserve(self, reserved, message, offer):
        for resource, depth in self._resources(message).items():
            begins, ends = reserved.setdefault(resource, ([], []))
            first = offer + depth + 1
            index = bisect.bisect_left(begins, first)
            begins.insert(index, first)
            ends.insert(index, first + message.words)

    def _resources(self, message):
        """What the message's flits occupy, one word a cycle: ``{resource: cycles after its
        offer that its first flit takes it, less one}``: the router outputs of its XY tree,
        and the source core's one port into the network (a core's two sequencers offer
        through it, one flit a cycle: two in one cycle collide)."""
        return {**self._tree(message)[0], (self.places[message.source], INJECTION): -1}

    def _tree(self, message):
        """The message's XY tree (see :func:`xy_tree`), computed once per source and rectangle."""
        key = (message.source, message.rectangle)
        if key not in self.trees:
            self.trees[key] = xy_tree(self.places[message.source], message.rectangle)
        return self.trees[key]

    def _latency(self, message, destination):
        """Cycles from a message's offer to its effect at core ``destination`` (``hdl.network``):
        ``Router.LATENCY`` per router on its path there, then the interface's delivery register."""
        routers = self._tree(message)[1][self.places[destination]]
        return Router.LATENCY * routers + NetworkInterface.DELIVERY_LATENCY

    def _violations(self, ops, messages, starts, offers, pulses):
        """Per core, its earliest broken rule, as ``(op's core, op index, cycles to delay
        it)``; empty when every rule holds."""
        owner = {}
        for index, core_ops in ops.items():
            for number, op in enumerate(core_ops):
                if op.message is not None:
                    owner[op.message] = (index, number)
        busy = {index: [(starts[index][number], starts[index][number]
                         + instruction_cycles(op.instruction, self.params), op.instruction)
                        for number, op in enumerate(ops[index]) if op.instruction.opcode.computes]
                for index in ops}
        found = []
        # Rule 1 holds by construction (see simulate). Rule 2: no word lands in a bank in
        # the cycle the core's own write-back writes that bank (when they share its port).
        for number, message in enumerate(messages):
            if message.token is not None or self.params.activation_write_ports == 2:
                continue
            index, position = owner[number]
            arriving = self._banks(ops[index][position].instruction)
            for destination in message.destinations:     # the compute sequencer's agent
                first = offers[number] + self._latency(message, destination)
                last = first + message.words - 1
                delays = (self._clash(first, arriving, begin, end, instruction)
                          for begin, end, instruction in busy[destination] if begin <= last and first < end)
                delay = next((delay for delay in delays if delay), 0)
                if delay:
                    found.append((first, owner[number], delay))
                    break
        # Rule 3: a core counts each token's pulses, and a WAIT ends once as many as it wants
        # have arrived: when it is already waiting at its own last pulse, no pulse a later
        # WAIT on the token wants may arrive before that one.
        waits, cores = {}, len(self.places)
        for index, core_ops in ops.items():
            for number, op in enumerate(core_ops):
                if op.instruction.opcode == Opcode.WAIT:
                    last = max(pulses[message, index % cores] for message in op.awaited)
                    looks = starts[index][number] + self.fetch
                    waits.setdefault((index, op.instruction.token), []).append((looks, last, op.awaited))
        for (index, _), uses in waits.items():
            for use, (looks, last, _) in enumerate(uses):
                early = [(pulses[message, index % cores], message) for _, _, awaited in uses[use + 1:]
                         for message in awaited if pulses[message, index % cores] < last]
                if early and looks <= last:
                    pulse, message = min(early)
                    found.append((pulse, owner[message], last - pulse + 1))
        # Each core's earliest: delaying it moves the core's later operations too, so its
        # later violations are found again, or gone, in the next round.
        earliest = {}
        for cycle, (index, number), delay in sorted(found):
            earliest.setdefault(index, (number, max(1, delay)))
        return [(index, number, delay) for index, (number, delay) in earliest.items()]

    def _banks(self, instruction):
        """The activation SRAM bank of each word ``instruction`` writes: per element of a
        ``SEND`` (at its destinations), per result tile of a compute instruction."""
        if instruction not in self.banks:
            first = 0 if instruction.opcode == Opcode.SEND else instruction.reduce_levels
            words = _addresses(instruction.o, instruction.counts, first) // self.params.word_bytes
            self.banks[instruction] = words % self.params.activation_banks
        return self.banks[instruction]

    def _clash(self, first, arriving, begin, end, instruction):
        """0 if words landing in banks ``arriving`` from cycle ``first`` on, one a cycle, never
        meet the write-back of compute ``instruction`` (run from ``begin`` to ``end``) in a
        bank; otherwise the fewest cycles the words must come later to meet none of it."""
        if instruction not in self.writes:
            self.writes[instruction] = write_cycles(instruction, self.params)
        cycles, banks = begin + self.writes[instruction], self._banks(instruction)
        for delay in [0, *range(1, BANK_SLOT_TRIES + 1)]:
            landing = cycles - first - delay
            inside = (landing >= 0) & (landing < len(arriving))
            if not (arriving[landing[inside]] == banks[inside]).any():
                return delay
        return end - first

    def schedule(self, ops, messages):
        for _ in range(MAX_SCHEDULE_ROUNDS):
            starts, offers, pulses = self.simulate(ops, messages)
            violations = self._violations(ops, messages, starts, offers, pulses)
            if not violations:
                return starts, offers
            for index, number, delay in violations:
                op = ops[index][number]
                op.delay = max(op.delay + delay, self.fetch + 1)
        raise CompileError(f"no contention-free schedule after {MAX_SCHEDULE_ROUNDS} rounds of delays")

    # The whole -------------------------------------------------------------------------

    def compile(self):
        single = CoreCompiler(self.network, self.params)
        single.check_shapes()
        self.borders = single.borders()
        plans, owners = self.plan()
        geometry, needs = self.geometry(plans, owners, self.borders)
        self.compilers, border_words = {}, {}
        for index in range(len(self.places)):
            compiler = CoreCompiler(self.network, self.params)
            compiler.buffers, border_words[index] = compiler.allocate(geometry[index])
            self.compilers[index] = compiler
        if self.multicast:
            floors = self._common_floors()
            for index, compiler in self.compilers.items():
                try:
                    compiler.buffers, border_words[index] = compiler.allocate(geometry[index], floors)
                except CompileError:
                    pass        # this core keeps its packed buffers, each reader a message of its own
        if self.params.program_banks == 2 and self.piped:
            self.twins = self._twins(owners, border_words)
            self.alternated = {name for twins in self.twins.values() for name in twins}
        ops, messages, transfers = self.programs(plans, owners, needs)
        starts, offers = self.schedule(ops, messages)
        banks = [ops]
        if self.twins:
            # The second bank's operations, each delayed as its first bank's counterpart.
            self.parity = 1
            odd = self.programs(plans, owners, needs)[0]
            for agent, agent_ops in ops.items():
                for op, twin in zip(agent_ops, odd[agent], strict=True):
                    twin.delay, twin.slip = op.delay, op.slip
            banks.append(odd)
        cores = {}
        for index, place in enumerate(self.places):
            compiler = self.compilers[index]
            agents = (index, len(self.places) + index)
            programs = [tuple(_program(bank[agent], self.params) for agent in agents) for bank in banks]
            compiler.program, compiler.messages = map(list, programs[0])
            done = max(starts[index][-1], starts[len(self.places) + index][-1]) + self.fetch
            try:
                cores[place] = compiler.finish(compiler.buffers, border_words[index], done)
            except CompileError as error:
                raise type(error)(f"core {place}: {error}") from None
            if len(programs) > 1:
                cores[place].odd, cores[place].twins = programs[1], self.twins.get(index, {})
        owners = {name: {self.places[index]: part for index, part in parts.items()}
                  for name, parts in owners.items()}
        predicted = max(compiled.predicted_cycles for compiled in cores.values())
        spans, busy = self._timeline(ops, starts)
        weights = {place: {} for place in self.places}
        for plan, layer in zip(plans, self.network.layers):
            for index, part in plan.parts.items():
                weights[self.places[index]][layer.name] = self._footprint(layer, part)[0]
        compiled = ArrayCompiled(self.rows, self.columns, self.network, cores, plans, owners, predicted,
                                 transfers, spans, busy, weights, sum(message.words for message in messages),
                                 self._overlap(ops, starts), self.stages)
        holders = set(self.input_parts or ())
        if self.stages and holders and not holders & {index for group in self.groups.values()
                                                      for index in group}:
            compiled.input_delay = self._input_delay(compiled, ops, offers)
        return compiled

    def _input_delay(self, compiled, ops, offers):
        """:attr:`ArrayCompiled.input_delay`: cycles count from the one ``RUN`` is taken in,
        the compiler's cycle ``t`` being cycle ``t + 1`` (``hdl.host``). The ``k``-th word of
        a ``SEND`` offered at ``t`` is read in cycle ``t + k`` (``hdl.core``: offered the
        cycle after its read), and the host's ``j``-th write after a delay ``d`` is taken in
        cycle ``1 + d + j * HostInterface.WRITE_INTERVAL`` and lands ``load_latency`` cycles
        later (``hdl.host``); every word must land at least a cycle after its last read."""
        last = {}       # (core, word address) -> the last cycle a SEND reads it
        cores = len(self.places)
        for index in self.input_parts:
            for op in ops[cores + index]:
                if op.instruction.opcode != Opcode.SEND:
                    continue
                addresses = _addresses(op.instruction.a, op.instruction.counts, 0) // self.params.word_bytes
                for offset, address in enumerate(addresses.tolist()):
                    key = (self.places[index], address)
                    last[key] = max(last.get(key, 0), offers[op.message] + offset)
        frame = np.zeros(self.network.frame.shape, np.int64)
        interval = HostInterface.WRITE_INTERVAL
        late = [last[(x, y), address] + 1 - (1 + number * interval + load_latency(self.columns, (x, y)))
                for number, (x, y, address, _) in enumerate(compiled.input_writes(frame))
                if ((x, y), address) in last]
        return max(0, *late)

    def _overlap(self, ops, starts):
        """Per core, the cycles its ``SEND`` s issue words while it computes."""
        fetch = self.fetch

        def intervals(agent, opcodes):
            return [(start + fetch, start + fetch + issue_cycles(op.instruction, self.params))
                    for op, start in zip(ops[agent], starts[agent]) if op.instruction.opcode in opcodes]
        cores = len(self.places)
        computes = tuple(opcode for opcode in Opcode if opcode.computes)
        return {place: sum(max(0, min(end, last) - max(begin, first))
                           for begin, end in intervals(index, computes)
                           for first, last in intervals(cores + index, (Opcode.SEND,)))
                for index, place in enumerate(self.places)}

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
                layer_busy = busy[self.places[index]]
                layer_busy[op.layer] = layer_busy.get(op.layer, 0) + end - start
        return {layer.name: spans[layer.name] for layer in self.network.layers}, busy


def _addresses(stream, counts, first):
    """The byte addresses ``stream`` takes over loop levels ``first ..`` of ``counts``, the
    innermost (lowest) level fastest, as a flat array."""
    addresses = np.full((), stream.base, np.int64)
    for level in reversed(range(first, len(counts))):
        addresses = addresses[..., None] + stream.strides[level] * np.arange(counts[level], dtype=np.int64)
    return addresses.reshape(-1)


def _program(ops, params):
    """The instructions of a sequencer's ``ops``, each after the ``DELAY`` s of its delay and
    slip, on a core with ``params``."""
    program = []
    for op in ops:
        program += _delays(op.delay + op.slip, params)
        program.append(op.instruction)
    return program


def _delays(cycles, params):
    """``DELAY`` instructions lasting ``cycles`` in all (0, or at least ``fetch + 1``) on a
    core with ``params``, which fetches an instruction in ``fetch`` cycles
    (``hdl.isa.fetch_cycles``) and counts to ``2**params.count_width``."""
    fetch = fetch_cycles(params)
    longest = fetch + (1 << params.count_width)
    instructions = []
    while cycles:
        # Leave a remainder that one more DELAY can still take.
        step = cycles if cycles <= longest else min(longest, cycles - fetch - 1)
        instructions.append(Instruction(Opcode.DELAY, counts=(step - fetch,)))
        cycles -= step
    return instructions


def _delay_cycles(cycles, params):
    """The cycles the ``DELAY`` s of :func:`_delays` take by the cycle model: the schedule
    counts what it emits, so a wrong ``DELAY`` timing in :mod:`sim.cycle` shows in every
    prediction instead of hiding behind the number the compiler meant."""
    delays = _delays(cycles, params)
    return sum(instruction_cycles(instruction, params) for instruction in delays)


def compile_array(network, params, rows, columns, splits=None, input_parts=None, multicast=True,
                  forward=True, stages=()):
    """Compile ``network`` for a ``rows x columns`` array of cores with ``params``.

    ``splits`` optionally forces a layer's :class:`Split` (by layer name); the others are
    chosen by estimated cycles. ``input_parts`` optionally places the input as an earlier
    program left it: ``{(x, y): Part}`` covering it (such as an earlier
    :class:`ArrayCompiled`'s ``owners`` of its output); the schedule then includes moving
    it to where the layers need it. With ``multicast`` (the default), readers that need the
    same words of a tensor at the same addresses receive them in one message to each
    rectangle of them; without it, each reader is sent its own copy. With ``forward`` (the
    default), a core computes a part that other cores read in row bands, the rows they
    read first, so that its words travel while it computes the rest (``_bands``), when
    that schedule is the shorter of the two (the programs are compiled both ways). ``stages``
    (:class:`Stage` s) makes the programs a layer pipeline (see the module's description;
    :mod:`gen.pipeline` chooses them); its ``input_parts``, on stage 0's cores or on cores of
    no stage (input holders, see :attr:`ArrayCompiled.input_delay`), say where the host
    writes each frame's parts, and their owners send on what the others need. Raises
    :class:`gen.compiler.CompileError` naming the value and the limit when something does
    not fit.
    """
    arguments = (network, params, rows, columns, splits, input_parts, multicast)
    compiler = _ArrayCompiler(*arguments, forward, stages)
    compiled = compiler.compile()
    if compiler.banded:
        # Bands cost instructions and hand-offs, and move when words arrive: keep them only
        # where the whole schedule comes out shorter.
        whole = _ArrayCompiler(*arguments, False, stages).compile()
        if whole.predicted_cycles <= compiled.predicted_cycles:
            return whole
    return compiled
