"""The single-core compiler: its refusals, its buffers, and the programs it emits for every workload.

The refusals are provoked with small hand-built networks and cores and matched in full.
The programs of every workload of :mod:`sim.workloads`, at every precision, are checked
against properties recomputed here from the loop indices (``itertools.product`` over the
levels, not :func:`gen.compiler.element_addresses`, which is checked against it): the
predicted cycles, the memories each stream reaches, the banks an ``ADD`` reads, the bytes
each tile writes and the useful multiply-accumulates each ``MAC`` issues.
"""

import itertools

import numpy as np
import pytest

from gen.compiler import Buffer, CompileError, compile_network, element_addresses
from gen.network import Add, Conv2d, ConvAdd, FullyConnected, MaxPool2d, Network, TensorSpec, fuse_adds
from hdl.core import Region, entry_words_log2, region_offset_width
from hdl.isa import Opcode
from hdl.params import LANE_WIDTH, CoreParams, MacParams, Precision
from sim.cycle import program_cycles
from sim.golden import unpack_lanes
from sim.workloads import BLOCKS, WORKLOADS, build

PARAMS = CoreParams()
PRECISIONS = (8, 4, 2)
#: Seed of the workloads' parameters; the programs depend on their shapes only.
SEED = 0


def conv(name, source, in_channels, out_channels, *, kernel=1, padding=(0, 0, 0, 0), w=None):
    """A hand-built convolution with small weights (or ``w``, OHWI) and plain scales."""
    if w is None:
        w = np.ones((out_channels, kernel, kernel, in_channels), np.int64)
    return Conv2d(name, source, w, np.zeros(out_channels, np.int64), 0.01, 0.05, 0, padding=padding)


def network(shape, layers, bits=8, zero_point=0):
    return Network(TensorSpec(shape, 0.02, zero_point), layers, bits)


# Refusals --------------------------------------------------------------------------------

def test_activation_sram_overflow():
    # 32 bytes: the 1x1x8 input takes one word, 1x1x16 tensors two each (8 + 16 + 16 = 40).
    params = CoreParams(activation_banks=2, activation_depth=2)
    net = network((1, 1, 8), [conv("conv1", "input", 8, 16), conv("conv2", "conv1", 16, 16)])
    with pytest.raises(CompileError, match=r"^activation SRAM overflows at tensor conv2: "
                                           r"the buffers need 40 bytes, the core has 32$"):
        compile_network(net, params)


def test_weight_sram_overflow():
    # 8 banks of 2 words of 8 bytes; a 1x1 conv's tile of 8 channels is 8 words (64 bytes).
    params = CoreParams(weight_depth=2)
    net = network((1, 1, 8), [conv("conv1", "input", 8, 8), conv("conv2", "conv1", 8, 16)])
    with pytest.raises(CompileError, match=r"^weight SRAM overflows at layer conv2: "
                                           r"the weights need 192 bytes, the core has 128$"):
        compile_network(net, params)


def test_settings_table_overflow():
    # One entry per 8 output channels.
    params = CoreParams(settings_depth=2)
    net = network((1, 1, 8), [conv("conv", "input", 8, 24)])
    with pytest.raises(CompileError, match=r"^settings table overflows at layer conv: "
                                           r"the layers need 3 entries, the core has 2$"):
        compile_network(net, params)


def test_program_memory_overflow():
    params = CoreParams(program_depth=2)
    net = network((1, 1, 8), [conv("conv1", "input", 8, 8), conv("conv2", "conv1", 8, 8)])
    with pytest.raises(CompileError, match=r"^program memory overflows: the compute and message programs "
                                           r"need 3 \+ 1 instructions, the core has 2$"):
        compile_network(net, params)


def test_split_program_memory_overflow():
    """With ``program_split`` the compute program has half of the bank: 3 + 1 instructions
    fit a bank of 4 shared, not its lower half of 2."""
    net = network((1, 1, 8), [conv("conv1", "input", 8, 8), conv("conv2", "conv1", 8, 8)])
    assert compile_network(net, CoreParams(program_depth=4)).program
    with pytest.raises(CompileError, match=r"^program memory overflows: the compute program needs 3 "
                                           r"instructions, its half of the program memory holds 2$"):
        compile_network(net, CoreParams(program_depth=4, program_split=True))


def test_program_memory_without_message_sequencer():
    """Without a message sequencer the message program's ``HALT`` takes no memory: a compute
    program of 4 instructions fits 4, and the image holds those 4 and nothing more."""
    net = network((1, 1, 8), [conv(f"conv{index}", "input" if index == 1 else f"conv{index - 1}", 8, 8)
                              for index in (1, 2, 3)])
    with pytest.raises(CompileError, match=r"^program memory overflows: the compute and message programs "
                                           r"need 4 \+ 1 instructions, the core has 4$"):
        compile_network(net, CoreParams(program_depth=4))
    params = CoreParams(program_depth=4, message_sequencer=False)
    compiled = compile_network(net, params)
    assert len(compiled.program) == 4
    program = int(Region.PROGRAM) << region_offset_width(params)
    written = {address - program for address, _ in compiled.load_words() if address >= program}
    instruction_span = 1 << entry_words_log2(params)[1]
    assert {address // instruction_span for address in written} == {0, 1, 2, 3}


def test_fused_add_refused_without_fused_add():
    network_, _ = build(BLOCKS["basic_block"], 8, SEED)
    fused = fuse_adds(network_)
    (layer,) = [layer for layer in fused.layers if isinstance(layer, ConvAdd)]
    with pytest.raises(CompileError, match=rf"^layer {layer.name} fuses a residual add into its conv "
                                           r"\(MACADD\), and the core has no fused add "
                                           r"\(CoreParams.fused_add\): run the add as a layer of its own$"):
        compile_network(fused, CoreParams(fused_add=False))
    assert compile_network(network_, CoreParams(fused_add=False)).program


@pytest.mark.parametrize("bits, value, message", [
    (4, 8, r"^layer conv: w\[3, 0, 1, 5\] = 8 lies outside int4 \[-8, 7\]$"),
    (4, -9, r"^layer conv: w\[3, 0, 1, 5\] = -9 lies outside int4 \[-8, 7\]$"),
    (2, 2, r"^layer conv: w\[3, 0, 1, 5\] = 2 lies outside int2 \[-2, 1\]$"),
    (8, 128, r"^layer conv: w\[3, 0, 1, 5\] = 128 lies outside int8 \[-128, 127\]$"),
])
def test_weight_out_of_range(bits, value, message):
    w = np.zeros((8, 2, 2, 8), np.int64)
    w[3, 0, 1, 5] = value
    net = network((4, 4, 8), [conv("conv", "input", 8, 8, kernel=2, w=w)], bits)
    with pytest.raises(CompileError, match=message):
        compile_network(net, PARAMS)


def test_fully_connected_weight_out_of_range():
    w = np.zeros((4, 8), np.int64)
    w[2, 6] = 2
    net = network((1, 1, 8), [FullyConnected("fc", "input", w, np.zeros(4), 0.01, 0.1, 0)], 2)
    with pytest.raises(CompileError, match=r"^layer fc: w\[2, 6\] = 2 lies outside int2 \[-2, 1\]$"):
        compile_network(net, PARAMS)


def test_positive_shift_refused_with_scales_below_one():
    """A double-precision fully-connected layer (the single rounding) and a convolution (the
    double) at a scale of 2, shift 2: a core that takes every shift compiles them, one with
    ``MacParams.scales_below_one`` refuses them, naming the layer, the channel and the
    limit; at a scale below 1 both compile them."""
    below_one = CoreParams(MacParams(scales_below_one=True))
    for y_scale, refused in ((0.005, True), (0.05, False)):
        layers = [FullyConnected("fc", "input", np.ones((4, 8), np.int64), np.zeros(4), 0.5, y_scale, 0,
                                 requantization="fp64"),
                  Conv2d("conv", "input", np.ones((8, 1, 1, 8), np.int64), np.zeros(8, np.int64), 0.5,
                         y_scale, 0)]
        for layer in layers:
            net = network((1, 1, 8), [layer])
            assert compile_network(net, PARAMS).program
            if refused:
                message = (rf"^layer {layer.name}: channel 0's requantization shift is 2 \(a scale of 1 or "
                           r"more\), and the core's requantizers take shifts up to 0 "
                           r"\(MacParams.scales_below_one\)$")
                with pytest.raises(CompileError, match=message):
                    compile_network(net, below_one)
            else:
                assert compile_network(net, below_one).program


def test_two_border_fills():
    # A max-pool pads with the precision's minimum, a convolution with the input zero point.
    net = network((4, 4, 8), [MaxPool2d("pool", "input", (3, 3), (2, 2), (1, 1, 1, 1)),
                              conv("conv", "input", 8, 8, kernel=3, padding=(1, 1, 1, 1))],
                  zero_point=3)
    with pytest.raises(CompileError, match=r"^tensor input is padded with different values by "
                                           r"pool \(-128\), conv \(3\); a buffer has one border$"):
        compile_network(net, PARAMS)


def test_two_border_fills_that_agree():
    """A max-pool and a convolution may share a border when the zero point is the minimum."""
    net = network((4, 4, 8), [MaxPool2d("pool", "input", (3, 3), (2, 2), (1, 1, 1, 1)),
                              conv("conv", "input", 8, 8, kernel=3, padding=(0, 1, 0, 1))],
                  zero_point=-128)
    compiled = compile_network(net, PARAMS)
    assert compiled.buffers["input"].padding == (1, 1, 1, 1)
    assert compiled.buffers["input"].fill == -128


@pytest.mark.parametrize("layer, message", [
    (conv("conv", "input", 8, 0), r"^layer conv has an empty output of shape \(2, 2, 0\)$"),
    (conv("conv", "input", 8, 8, kernel=3), r"^layer conv has an empty output of shape \(0, 0, 8\)$"),
])
def test_empty_output(layer, message):
    with pytest.raises(CompileError, match=message):
        compile_network(network((2, 2, 8), [layer]), PARAMS)


@pytest.mark.parametrize("net, params, message", [
    ("net", PARAMS, r"^network must be a Network, not 'net'$"),
    (network((1, 1, 8), [conv("conv", "input", 8, 8)]), None, r"^params must be a CoreParams, not None$"),
])
def test_arguments_wrong(net, params, message):
    with pytest.raises(TypeError, match=message):
        compile_network(net, params)


# Buffers ---------------------------------------------------------------------------------

@pytest.mark.parametrize("bits", PRECISIONS)
@pytest.mark.parametrize("seed", range(3))
def test_buffer_pack_round_trip(bits, seed):
    rng = np.random.default_rng(seed)
    precision = Precision.from_bits(bits)
    channels = int(rng.integers(1, 70))
    buffer = Buffer("x", 3, 2, channels, precision, PARAMS.word_bytes)
    values = rng.integers(precision.min, precision.max + 1, (3, 2, channels))
    packed = buffer.pack(values)
    context = f"seed {seed}, int{bits}, {channels} channels"
    assert packed.dtype == np.uint8 and packed.shape == (3, 2, buffer.pixel_bytes), context
    assert buffer.pixel_bytes % PARAMS.word_bytes == 0, context
    np.testing.assert_array_equal(buffer.unpack(packed), values, err_msg=context)
    # The channels past the last one pack as zeros.
    np.testing.assert_array_equal(unpack_lanes(packed, precision)[..., channels:], 0, err_msg=context)


def test_buffer_pack_order():
    """Channel ``i`` is value ``i`` of the packed bytes, lowest bits first."""
    buffer = Buffer("x", 1, 1, 3, Precision.INT4, 4)
    assert buffer.pack([[[1, -2, 7]]]).tolist() == [[[0xE1, 0x07, 0x00, 0x00]]]
    buffer = Buffer("x", 1, 1, 5, Precision.INT2, 4)
    assert buffer.pack([[[1, -1, 0, -2, 1]]]).tolist() == [[[0b10_00_11_01, 0b01, 0, 0]]]


def test_buffer_geometry():
    buffer = Buffer("x", 3, 5, 20, Precision.INT8, 8, padding=(1, 2, 3, 0), base=64)
    assert (buffer.words_per_pixel, buffer.pixel_bytes, buffer.padded_shape) == (3, 24, (6, 8))
    assert (buffer.pitch, buffer.size_bytes) == (8 * 24, 6 * 8 * 24)
    assert buffer.address(0, 0) == 64 + 1 * 192 + 3 * 24
    assert buffer.address(-1, -3) == 64


# Programs of the workloads ---------------------------------------------------------------

def loop_addresses(instruction, name):
    """Every address of stream ``name``, one per element in issue order (level 0 innermost)."""
    stream = getattr(instruction, name)
    return np.array([stream.base + sum(stride * index for stride, index
                                       in zip(stream.strides, reversed(outer_first)))
                     for outer_first in itertools.product(*map(range, reversed(instruction.counts)))])


def tile_ends(instruction):
    """Per element, whether it is the last of its tile (the elements that write a result)."""
    ends = []
    for outer_first in itertools.product(*map(range, reversed(instruction.counts))):
        index = outer_first[::-1]
        ends.append(all(index[level] == instruction.counts[level] - 1
                        for level in range(instruction.reduce_levels)))
    return np.array(ends)


CASES = [(name, bits) for name in WORKLOADS for bits in PRECISIONS]


@pytest.fixture(scope="module", params=CASES, ids=[f"{name}-int{bits}" for name, bits in CASES])
def compiled(request):
    name, bits = request.param
    net, _ = build(WORKLOADS[name], bits, SEED)
    return compile_network(net, PARAMS)


def test_predicted_cycles(compiled):
    program = compiled.program
    assert program[-1].opcode == Opcode.HALT
    assert [i.opcode for i in program[:-1]].count(Opcode.HALT) == 0
    assert len(program) == len(compiled.network.layers) + 1
    assert compiled.predicted_cycles == program_cycles(program, PARAMS)


def test_element_addresses(compiled):
    for number, instruction in enumerate(compiled.program[:-1]):
        for name in "abos":
            np.testing.assert_array_equal(element_addresses(instruction, name),
                                          loop_addresses(instruction, name),
                                          err_msg=f"instruction {number}, stream {name}")


def test_streams_stay_in_memory(compiled):
    params = compiled.params
    word, columns = params.word_bytes, params.mac.columns
    activations = params.activation_sram.size_bytes
    for number, (instruction, layer) in enumerate(zip(compiled.program, compiled.network.layers)):
        context = f"instruction {number} ({instruction.opcode.name}, layer {layer.name})"
        tile_bytes = columns * instruction.precision.bits // LANE_WIDTH
        a, b, o, s = (loop_addresses(instruction, name) for name in "abos")
        source = compiled.buffers[layer.sources[0]]
        # Operand a: whole words (MAC) or one tile of bytes within a word, inside its buffer.
        read = word if instruction.opcode == Opcode.MAC else tile_bytes
        assert a.min() >= source.base and a.max() + read <= source.base + source.size_bytes, context
        assert a.max() < activations, context
        if instruction.opcode != Opcode.MAC:
            assert (a % word + tile_bytes <= word).all(), context
        # Operand b: a weight tile of `columns` whole words within the weight image, or the
        # second operand of an ADD.
        if instruction.opcode == Opcode.MAC:
            assert (b % word == 0).all() and b.min() >= 0, context
            assert b.max() + columns * word <= len(compiled.weight_image) <= \
                params.weight_sram.size_bytes, context
        elif instruction.opcode == Opcode.ADD:
            other = compiled.buffers[layer.sources[1]]
            assert b.min() >= other.base and b.max() + tile_bytes <= other.base + other.size_bytes, \
                context
            assert (b % word + tile_bytes <= word).all(), context
        # Settings entries loaded; results within a word of the output's own buffer.
        assert s.min() >= 0 and s.max() < len(compiled.settings_image) <= params.settings_depth, context
        output = compiled.buffers[layer.name]
        assert o.min() >= output.base and o.max() + tile_bytes <= output.base + output.size_bytes, \
            context
        assert (o % word + tile_bytes <= word).all(), context


def test_results_cover_the_output(compiled):
    """Each tile writes its bytes once; together they cover every interior pixel's channels."""
    word, columns = compiled.params.word_bytes, compiled.params.mac.columns
    for number, (instruction, layer) in enumerate(zip(compiled.program, compiled.network.layers)):
        context = f"instruction {number} ({instruction.opcode.name}, layer {layer.name})"
        tile_bytes = columns * instruction.precision.bits // LANE_WIDTH
        writes = loop_addresses(instruction, "o")[tile_ends(instruction)]
        assert len(writes) == instruction.tiles, context
        written = [address + byte for address in writes.tolist() for byte in range(tile_bytes)]
        assert len(set(written)) == len(written), f"{context}: some byte is written twice"
        output = compiled.buffers[layer.name]
        channel_bytes = -(-output.channels * instruction.precision.bits // LANE_WIDTH)
        pixels = [output.address(y, x) for y in range(output.height) for x in range(output.width)]
        needed = {pixel + byte for pixel in pixels for byte in range(channel_bytes)}
        allowed = {pixel + byte for pixel in pixels for byte in range(output.pixel_bytes)}
        assert needed <= set(written) <= allowed, context
        assert word % tile_bytes == 0, context


def test_add_operands_in_distinct_banks(compiled):
    params = compiled.params
    word, banks = params.word_bytes, params.activation_banks
    adds = [i for i in compiled.program if i.opcode == Opcode.ADD]
    for number, instruction in enumerate(adds):
        a_banks = loop_addresses(instruction, "a") // word % banks
        b_banks = loop_addresses(instruction, "b") // word % banks
        same = np.flatnonzero(a_banks == b_banks)
        assert same.size == 0, f"ADD {number}: operands share a bank at elements {same[:10].tolist()}"


def test_add_operands_share_geometry(compiled):
    for layer in compiled.network.layers:
        if not isinstance(layer, Add):
            continue
        a, b, y = (compiled.buffers[name] for name in (*layer.sources, layer.name))
        geometry = [(buffer.padding, buffer.padded_shape, buffer.pixel_bytes, buffer.pitch)
                    for buffer in (a, b, y)]
        assert geometry[0] == geometry[1] == geometry[2], f"add {layer.name}: {geometry}"


def test_useful_macs(compiled):
    """Issued MAC elements times the array's products per element cover the layer's MACs,
    exactly when the channels fill whole words and whole column blocks."""
    params = compiled.params
    macs = compiled.network.macs()
    specs = compiled.network.specs()
    checked = 0
    for instruction, layer in zip(compiled.program, compiled.network.layers):
        if instruction.opcode != Opcode.MAC:
            continue
        assert isinstance(layer, (Conv2d, FullyConnected))
        precision = instruction.precision
        issued = instruction.elements * params.mac.lanes * params.mac.columns * precision.values_per_lane
        in_channels = specs[layer.source].shape[2]
        out_channels = layer.w.shape[0]
        exact = (in_channels % (params.word_bytes * precision.values_per_lane) == 0
                 and out_channels % params.mac.columns == 0)
        context = f"layer {layer.name}: {issued} products issued, {macs[layer.name]} useful"
        assert issued >= macs[layer.name] > 0, context
        if exact:
            assert issued == macs[layer.name], context
        checked += 1
    assert checked == sum(isinstance(layer, (Conv2d, FullyConnected))
                          for layer in compiled.network.layers)


def test_useful_macs_exact_somewhere():
    """The equality branch of :func:`test_useful_macs` runs: conv_3x3_s1 at int8 fills both."""
    net, _ = build(WORKLOADS["conv_3x3_s1"], 8, SEED)
    instruction = compile_network(net, PARAMS).program[0]
    lanes, columns = PARAMS.mac.lanes, PARAMS.mac.columns
    assert instruction.elements * lanes * columns == net.macs()["layer"] == 8 * 8 * 16 * 3 * 3 * 16
