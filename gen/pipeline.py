"""The layer-pipeline mapping: which cores compute which layers, with every weight resident.

The network is cut into stages of consecutive layers (at :func:`gen.network.segments`'
cuts, where one tensor carries everything later layers read), and each stage gets its own
group of cores, consecutive along the snake (:func:`gen.array.snake`), sized by its work.
Every core holds the weights and the program of its stage's layers only, loaded once;
each run computes every stage at once, stage ``s`` on the frame stage ``s - 1`` computed
in the run before (:class:`gen.array.Stage`; the array compiler schedules the hand-over
of each stage's output, see :mod:`gen.array`). A run therefore takes as long as the
slowest stage with its hand-over, and a frame's output is read ``depth - 1`` runs after
its input was written.

The work of a layer is estimated as the cycles one core would take for it
(:func:`layer_cycles`); with more cuts than cores, consecutive runs of layers are merged
into as many stages as there are cores, least work in the heaviest; the cores are then
handed out one at a time to the stage of most work per core, each stage first getting
enough cores to hold its weights and never more than its layers can be split over.

The host writes each row of a frame once, in near-equal bands over some cores
(:func:`input_parts`), which send the stage-0 cores the rows their windows reach into (an
unfolded stem's row groups overlap by ``taps - 1`` rows) instead of the host's writing
those rows twice. Where the array allows, those cores are **input holders** that compute
nothing, the first slot of the layout (:func:`slots`), the stages taking the rest: they
send a frame's rows at the start of the run that computes its first stage, so that the
host writes the next frame into them while that run computes
(:attr:`gen.array.ArrayCompiled.input_delay`), and a frame costs the longer of the run
and the host's writes, not their sum. Otherwise the first stage's cores hold the rows
they compute, written between runs.
"""

import math
from fractions import Fraction

import numpy as np

from sim.cycle import host_read_cycles, host_write_cycles

from .array import Part, Stage, bands, compile_array, snake
from .compiler import CompileError
from .network import Add, Conv2d, ConvAdd, FullyConnected, GlobalAvgPool, MaxPool2d, convolution, segments

__all__ = ["LAYOUTS", "layer_cycles", "weight_bytes", "slots", "plan_stages", "input_parts",
           "compile_pipeline", "step_cycles"]


def _words(network, params, name):
    """Words of one pixel of tensor ``name`` at its precision."""
    per_word = params.word_bytes * network.tensor_precision(name).values_per_lane
    return -(-network.specs()[name].shape[2] // per_word)


def layer_cycles(network, params):
    """By layer name, the cycles one core of ``params`` would take for the whole layer,
    estimated: a layer with weights its MACs over the core's peak at the precision it
    reads; a layer without, one tile of the MAC's columns of output channels a cycle per
    window element (the input's pixels for a global pool), as the vector unit takes them."""
    specs, macs = network.specs(), network.macs()
    cycles = {}
    for layer in network.layers:
        height, width, channels = specs[layer.name].shape
        tiles = -(-channels // params.mac.columns)      # the vector unit's, a pixel
        if isinstance(layer, (Conv2d, ConvAdd, FullyConnected)):
            peak = params.mac.peak_macs_per_cycle(network.tensor_precision(layer.sources[0]))
            cycles[layer.name] = -(-macs[layer.name] // peak)
        elif isinstance(layer, MaxPool2d):
            cycles[layer.name] = height * width * tiles * layer.kernel[0] * layer.kernel[1]
        elif isinstance(layer, GlobalAvgPool):
            source_height, source_width, _ = specs[layer.source].shape
            cycles[layer.name] = source_height * source_width * tiles
        else:
            assert isinstance(layer, Add)
            cycles[layer.name] = height * width * tiles
    return cycles


def weight_bytes(network, params):
    """By layer name, the bytes of weight SRAM the whole layer takes on one core: its
    output channels in blocks of the MAC's columns, each a column's window of input words."""
    columns = params.mac.columns
    result = {}
    for layer in network.layers:
        conv = convolution(layer)
        if conv is None and not isinstance(layer, FullyConnected):
            result[layer.name] = 0
            continue
        weights = (conv or layer).w
        window = int(np.prod(weights.shape[1:-1]))
        blocks = -(-weights.shape[0] // columns)
        words = _words(network, params, layer.sources[0])
        result[layer.name] = blocks * columns * window * words * params.word_bytes
    return result


def _merge(works, count):
    """Consecutive runs of ``works`` merged into ``count`` groups, least total in the
    heaviest (a linear partition), as lists of indices."""
    prefix = np.concatenate([[0], np.cumsum(works)])
    size = len(works)
    # best[k][i]: the least heaviest total splitting the first i works into k groups.
    best = np.full((count + 1, size + 1), np.inf)
    cut = np.zeros((count + 1, size + 1), int)
    best[0][0] = 0
    for k in range(1, count + 1):
        for i in range(k, size + 1):
            for j in range(k - 1, i):
                heaviest = max(best[k - 1][j], prefix[i] - prefix[j])
                if heaviest < best[k][i]:
                    best[k][i], cut[k][i] = heaviest, j
    groups, end = [], size
    for k in range(count, 0, -1):
        groups.append(list(range(cut[k][end], end)))
        end = cut[k][end]
    return groups[::-1]


def _cores_for_weights(network, params, names, weights):
    """The fewest cores whose weight SRAMs hold the weights of layers ``names``, each layer's
    spread over at most as many cores as it has output words (a split's finest slice); one
    more than the most words when no count does."""
    capacity = params.weight_sram.size_bytes
    finest = max(_words(network, params, name) for name in names)
    for count in range(1, finest + 1):
        if sum(-(-weights[name] // min(count, _words(network, params, name))) for name in names) <= capacity:
            return count
    return finest + 1


#: How :func:`plan_stages` lays the stages out on the mesh (see :func:`slots`).
LAYOUTS = ("columns", "snake")


def slots(rows, columns, layout):
    """The mesh cut into the slots :func:`plan_stages` hands out, in the order stages take
    them, each a list of core coordinates ``(x, y)``.

    ``"snake"``: one core a slot, along :func:`gen.array.snake`; consecutive stages meet at
    one or two links. ``"columns"``: a path of half-rows, down the west half of the mesh
    (rows ``0 .. rows - 2``), across the whole last row, and up the east half, so that
    consecutive stages sit one above the other and a stage's output goes down (or up)
    ``columns / 2`` links at once rather than along a row; a stage's cores are taken
    column by column (:func:`plan_stages`), so that the rows a core computes sit above the
    next stage's cores that read them. Arrays of fewer than two rows or four columns
    (half-rows of one core, fewer slots than the snake's for nothing) are laid out as the
    snake.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    if layout == "snake" or rows < 2 or columns < 4:
        return [[place] for place in snake(rows, columns)]
    half = columns // 2
    west = [[(x, y) for x in range(half)] for y in range(rows - 1)]
    east = [[(x, y) for x in range(half, columns)] for y in range(rows - 2, -1, -1)]
    return west + [[(x, rows - 1) for x in range(columns)]] + east


def plan_stages(network, params, rows, columns, layout="columns", holders=False):
    """The pipeline's :class:`gen.array.Stage` s for a ``rows x columns`` array of ``params``
    cores (see the module's description), on the :func:`slots` of ``layout``, the first
    left to the input's holders if ``holders``. Raises :class:`gen.compiler.CompileError`
    when the stages' weights need more cores than that leaves, naming the bytes."""
    cores = rows * columns
    path = slots(rows, columns, layout)[1 if holders else 0:]
    if not path:
        raise CompileError(f"a {rows}x{columns} array has no core for a stage beside the input's holders")
    width = min(len(slot) for slot in path)    # cores a slot is counted as, when sizing
    cycles, weights = layer_cycles(network, params), weight_bytes(network, params)
    cuts = segments(network)
    merged = _merge([sum(cycles[name] for name in names) for names in cuts], min(len(path), len(cuts)))
    stages = [[name for index in group for name in cuts[index]] for group in merged]
    work = [sum(cycles[name] for name in names) for names in stages]
    capacity = params.weight_sram.size_bytes
    needs = [_cores_for_weights(network, params, names, weights) for names in stages]
    counts = [-(-need // width) for need in needs]
    if sum(counts) > len(path):
        needed = sum(weights.values())
        raise CompileError(f"the network's weights ({needed:,} bytes) need at least {sum(needs)} cores "
                           f"of {capacity:,} bytes of weight SRAM in a pipeline; a {rows}x{columns} "
                           f"array has {cores} ({cores * capacity:,} bytes)")
    specs = network.specs()
    limits = [max(specs[name].shape[0] * _words(network, params, name) for name in names) for names in stages]
    for _ in range(len(path) - sum(counts)):
        open_stages = [number for number in range(len(stages)) if counts[number] * width < limits[number]]
        if not open_stages:
            break
        heaviest = max(open_stages, key=lambda number: work[number] / counts[number])
        counts[heaviest] += 1
    result, first = [], 0
    for names, count in zip(stages, counts):
        places = [place for slot in path[first:first + count] for place in slot]
        if layout == "columns":
            places.sort()
        result.append(Stage(tuple(names), tuple(places)))
        first += count
    return result


def input_parts(network, params, places):
    """``{(x, y): Part}``: the input's rows in near-equal bands over the cores ``places``,
    each with all its words, in their order."""
    height, _, channels = network.input.shape
    words = -(-channels // (params.word_bytes * network.precision.values_per_lane))
    return {place: Part(rows, (0, words))
            for place, rows in zip(places, bands(height, min(height, len(places))))}


def compile_pipeline(network, params, rows, columns, layout="columns", holders=None, **options):
    """``network`` compiled as a layer pipeline (:func:`plan_stages` on ``layout``) for a
    ``rows x columns`` array of ``params`` cores, the host writing each input row once
    (:func:`input_parts`): with ``holders`` true, into the input holders of the layout's
    first slot; false, into the first stage's cores; ``None``, whichever gives the shorter
    :func:`step_cycles` (the holders' cores compute nothing and the host's writes overlap the
    run: worth it where the writes are long beside the run). ``None`` compiles both, unless
    the holders' step is already no longer than the other's could be at best (its writes,
    then a run of every layer's MACs at the whole array's peak, then no reads). ``options``
    go to :func:`gen.array.compile_array`."""
    compiled = []
    if holders is None or holders:
        try:
            stages = plan_stages(network, params, rows, columns, layout, holders=True)
            places = slots(rows, columns, layout)[0]
            compiled.append(compile_array(network, params, rows, columns, stages=stages,
                                          input_parts=input_parts(network, params, places), **options))
        except CompileError:
            if holders:
                raise
        if holders or compiled and step_cycles(compiled[0]) <= _between_runs_bound(compiled[0], params):
            return compiled[0]
    stages = plan_stages(network, params, rows, columns, layout)
    try:
        compiled.append(compile_array(network, params, rows, columns, stages=stages,
                                      input_parts=input_parts(network, params, stages[0].places), **options))
    except CompileError:
        if not compiled:
            raise
    return min(compiled, key=step_cycles)


def _between_runs_bound(compiled, params):
    """A lower bound on :func:`step_cycles` of ``compiled``'s network and array with the
    input written between runs: the writes of its words, one a cycle, then a run no shorter
    than every multiplying layer's MACs over the whole array's peak."""
    network, cores = compiled.network, compiled.rows * compiled.columns
    macs = network.macs()

    def peak(layer):
        return params.mac.peak_macs_per_cycle(network.tensor_precision(layer.sources[0]))
    run = sum(Fraction(macs[layer.name], peak(layer)) for layer in network.layers
              if isinstance(layer, (Conv2d, ConvAdd, FullyConnected)))
    writes = len(compiled.input_writes(np.zeros(network.frame.shape, np.int64)))
    return writes + math.ceil(run / cores)


def step_cycles(compiled):
    """At most the cycles from one ``RUN`` of a stream of frames through the pipeline
    ``compiled`` to the next (``hdl.host``'s timing, :mod:`sim.cycle`): the run and the reads
    of its output after it, and the next frame's writes, before the next ``RUN`` or, with
    an ``input_delay``, from that many cycles into the run, overlapping it."""
    frame = np.zeros(compiled.network.frame.shape, np.int64)
    writes = host_write_cycles([(x, y) for x, y, *_ in compiled.input_writes(frame)], compiled.columns)
    reads = host_read_cycles([(x, y) for name in compiled.network.outputs
                              for x, y, _ in compiled.output_reads(name)], compiled.columns)
    if compiled.input_delay is None:
        return writes + compiled.predicted_cycles + reads
    return max(compiled.predicted_cycles, compiled.input_delay + writes) + reads
