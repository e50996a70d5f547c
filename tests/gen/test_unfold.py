"""The stem unfolded on the host (:mod:`gen.unfold`): the im2col and the row groups pad as
``CONV_2D`` does, the unfolded network's golden outputs equal the original's byte for byte
in either form at int8, int4 and int2, one output column a pixel or several (packed), the
form of fewer words written is taken, packed as far as a pixel keeps one column's words,
a packed conv is split by rows only, networks
without a few-channel stem stay as they are, refusals name the layer and the limit, and
the compiled input is a dense conv the host writes unfolded. Replay with ``SEED=<seed>``."""

import dataclasses

import numpy as np
import pytest

from gen.array import Split, compile_array
from gen.compiler import CompileError, compile_network
from gen.network import Add, Conv2d, ConvAdd, MaxPool2d, Network, fuse_adds
from gen.unfold import FORMS, MAX_UNFOLDED_WORDS, UnfoldError, unfold, unfold_rows, unfold_stem
from hdl.params import NORTHPOLE_CORE, CoreParams
from sim import golden
from sim.tb.runner import seed_from_env
from sim.workloads import WORKLOADS, ParameterMaker, build

PARAMS = CoreParams()


def test_unfold_by_hand():
    frame = np.arange(1, 5).reshape(2, 2, 1)             # [[1, 2], [3, 4]]
    got = unfold(frame, kernel=(2, 2), stride=(1, 1), padding=(0, 1, 0, 1), zero_point=-7)
    expected = [[[1, 2, 3, 4], [2, -7, 4, -7]], [[3, 4, -7, -7], [4, -7, -7, -7]]]
    assert got.tolist() == expected


def test_unfold_rows_by_hand():
    frame = np.arange(1, 7).reshape(3, 2, 1)             # [[1, 2], [3, 4], [5, 6]]
    got = unfold_rows(frame, kernel=(3, 2), stride=(2, 1), padding=(1, 1, 0, 1), zero_point=-7)
    # Padded rows: [-7 -7 -7], [1 2 -7], [3 4 -7], [5 6 -7], [-7 -7 -7], and a sixth of
    # -7 to complete the third group of two; each pixel two rows of a two-wide window.
    expected = [[[-7, -7, 1, 2], [-7, -7, 2, -7]],
                [[3, 4, 5, 6], [4, -7, 6, -7]],
                [[-7, -7, -7, -7], [-7, -7, -7, -7]]]
    assert got.tolist() == expected


def test_unfold_rows_packed_by_hand():
    frame = np.arange(1, 9).reshape(2, 4, 1)             # [[1, 2, 3, 4], [5, 6, 7, 8]]
    got = unfold_rows(frame, kernel=(2, 2), stride=(2, 1), padding=(0, 0, 0, 1), zero_point=-7, pack=2)
    # Four output columns, two a pixel: columns 0..2 and 2..4 (4: the padding) of both rows.
    assert got.tolist() == [[[1, 2, 3, 5, 6, 7], [3, 4, -7, 7, 8, -7]]]


def random_stem(rng, bits, pack=1):
    """A network of a random few-channel conv on the input, a max-pool and a 1x1 conv; with
    ``pack``, the conv's output columns a multiple of ``pack`` and its channels whole tiles
    of :data:`PARAMS`' MAC columns."""
    maker = ParameterMaker(rng, bits)
    x = maker.spec((int(rng.integers(5, 12)), int(rng.integers(5, 12)), int(rng.integers(1, 4))))
    kernel = tuple(int(k) for k in rng.choice([2, 3, 5, 7], 2))
    padding = tuple(int(rng.integers(0, kernel[i // 2])) for i in range(4))
    stride = tuple(int(s) for s in rng.integers(1, 3, 2))

    def outputs(shape):
        return [golden.output_size(shape[i], kernel[i], stride[i], padding[2 * i], padding[2 * i + 1])
                for i in range(2)]
    if min(outputs(x.shape)) < 1:
        kernel = (2, 2)
    while outputs(x.shape)[1] % pack:
        x = maker.spec((x.shape[0], x.shape[1] + 1, x.shape[2]))
    channels = int(rng.integers(1, 20)) if pack == 1 else PARAMS.mac.columns * int(rng.integers(1, 3))
    conv = maker.conv2d("conv", "input", x, channels, kernel, stride, padding, True)
    y = Network(x, [conv]).specs()["conv"]
    pool = MaxPool2d("pool", "conv", (1, 1), (1, 1))
    last = maker.conv2d("last", "pool", y, 8, (1, 1), (1, 1), (0, 0, 0, 0), False)
    return Network(x, [conv, pool, last], bits, outputs=("conv", "last")), maker.values(x.shape)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("bits", (8, 4, 2))
@pytest.mark.parametrize("index", range(8))
def test_golden_unchanged(form, bits, index):
    seed = seed_from_env() + index
    network, frame = random_stem(np.random.default_rng(seed), bits)
    unfolded = unfold_stem(network, PARAMS, form)
    conv = network.layers[0]
    context = f"{form} int{bits} frame {network.input.shape} conv {conv.w.shape} stride {conv.stride} " \
              f"padding {conv.padding} (SEED={seed - index})"
    taps = 1 if form == "windows" else -(-conv.w.shape[1] // conv.stride[0])
    assert unfolded.unfolding.form == form and unfolded.layers[0].w.shape[1:3] == (taps, 1), context
    expected, got = network.golden(frame), unfolded.golden(frame)
    for name in network.outputs:
        assert got[name].tobytes() == expected[name].tobytes(), f"{context}: {name} differs"


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("bits", (8, 4, 2))
@pytest.mark.parametrize("pack", (2, 3))
@pytest.mark.parametrize("index", range(3))
def test_packed_golden_unchanged(form, bits, pack, index):
    seed = seed_from_env() + index
    network, frame = random_stem(np.random.default_rng(seed), bits, pack)
    unfolded = unfold_stem(network, PARAMS, form, pack)
    conv, packed = network.layers[0], unfolded.layers[0]
    context = f"{form} int{bits} pack {pack} frame {network.input.shape} conv {conv.w.shape} stride " \
              f"{conv.stride} padding {conv.padding} (SEED={seed - index})"
    assert (unfolded.unfolding.pack, packed.pack) == (pack, pack), context
    assert packed.w.shape[0] == pack * conv.w.shape[0], context
    assert unfolded.specs()["conv"].shape == network.specs()["conv"].shape, context
    expected, got = network.golden(frame), unfolded.golden(frame)
    for name in network.outputs:
        assert got[name].tobytes() == expected[name].tobytes(), f"{context}: {name} differs"


@pytest.mark.parametrize("bits, shape", [(8, (19, 16, 42)), (2, (19, 8, 54))])
def test_stem_workload_golden_unchanged(bits, shape):
    seed = seed_from_env()
    network, frame = build(WORKLOADS["stem_7x7_s2"], bits, seed, shape=(32, 32, 3))
    unfolded = unfold_stem(network, PARAMS)
    # 16 x 16 windows of 147 values (19 words of 8 lanes at int8) or 16 + 3 row groups of
    # 16 pixels of two rows of 7 x 3 values (6 words): the row groups are written. Two
    # columns a pixel (two rows of 9 x 3 values) take 7 words at int8, but at int2 (32
    # values a word) 2 words as one column does: half the pixels, as many words each.
    assert unfolded.unfolding.form == "rows" and unfolded.input.shape == shape
    assert unfolded.golden(frame)["layer"].tobytes() == network.golden(frame)["layer"].tobytes(), \
        f"SEED={seed}"


def test_resnet_stem_packs_two_columns():
    """ResNet's stem on NorthPole's cores: row groups of two columns, 2 x 9 x 3 = 54 bytes,
    one word as one column's 42 bytes are; four columns would take two words."""
    maker = ParameterMaker(np.random.default_rng(seed_from_env()), 8)
    x = maker.spec((224, 224, 3))
    conv = maker.conv2d("conv1", "input", x, 64, (7, 7), (2, 2), (3, 3, 3, 3), True)
    unfolded = unfold_stem(Network(x, [conv], 8), NORTHPOLE_CORE)
    assert (unfolded.unfolding.form, unfolded.unfolding.pack) == ("rows", 2)
    assert unfolded.input.shape == (115, 56, 54)
    assert unfolded.layers[0].w.shape == (128, 4, 1, 54)
    assert unfolded.specs()["conv1"].shape == (112, 112, 64)


def test_pack_wrong():
    network, _ = build(WORKLOADS["stem_7x7_s2"], 8, seed_from_env())     # 8 x 8 x 16 output
    with pytest.raises(UnfoldError, match=r"^layer layer: pack must be a positive integer dividing the 8 "
                       r"output columns, not 3$"):
        unfold_stem(network, PARAMS, "rows", 3)
    with pytest.raises(UnfoldError, match=r"^layer layer: its 16 output channels are not whole tiles of "
                       r"the MAC's 32 columns; it cannot compute 2 columns a position$"):
        unfold_stem(network, NORTHPOLE_CORE, "rows", 2)
    with pytest.raises(ValueError, match=r"^pack must be a positive integer or None, not 0$"):
        unfold_stem(network, PARAMS, "rows", 0)
    conv = network.layers[0]
    with pytest.raises(ValueError, match=r"^layer layer pack must be a positive integer dividing its 16 "
                       r"output channels, not 3$"):
        dataclasses.replace(conv, pack=3)


def test_dense_input_and_first_layer_not_a_conv_stay():
    seed = seed_from_env()
    for name in ("conv_3x3_s1", "maxpool_3x3_s2", "fc", "conv_1x1_reduce"):
        network, _ = build(WORKLOADS[name], 8, seed)
        assert unfold_stem(network, PARAMS) is network, name
    network, _ = build(WORKLOADS["stem_7x7_s2"], 8, seed)
    unfolded = unfold_stem(network, PARAMS)
    assert unfold_stem(unfolded, PARAMS) is unfolded


def test_input_read_twice_wrong():
    network, _ = build(WORKLOADS["stem_7x7_s2"], 8, seed_from_env())
    pool = MaxPool2d("pool", "input", (2, 2), (2, 2))
    with pytest.raises(UnfoldError, match=r"^layer layer: the input is also read by pool; an unfolded "
                       r"input feeds one conv only$"):
        unfold_stem(Network(network.input, [*network.layers, pool], 8), PARAMS)


def test_too_many_words_wrong():
    maker = ParameterMaker(np.random.default_rng(seed_from_env()), 8)
    x = maker.spec((16, 16, 7))
    # Either form's pixel is four rows of ten columns of seven values: 35 words of 8 lanes.
    conv = maker.conv2d("conv", "input", x, 8, (4, 10), (4, 1), (0, 0, 0, 0), False)
    with pytest.raises(UnfoldError, match=rf"^layer conv: an unfolded pixel \(4x10x7 values at int8\) "
                       rf"takes 35 words, more than {MAX_UNFOLDED_WORDS}$"):
        unfold_stem(Network(x, [conv], 8), PARAMS)


def test_unfolded_shape_wrong():
    network, _ = build(WORKLOADS["stem_7x7_s2"], 8, seed_from_env())
    unfolded = unfold_stem(network, PARAMS)
    with pytest.raises(ValueError, match=r"^frame must have shape \(16, 16, 3\), not \(8, 8, 42\)$"):
        unfolded.golden(np.zeros((8, 8, 42), np.int64))
    with pytest.raises(ValueError, match=r"^form must be one of windows, rows or None, not 'cols'$"):
        unfold_stem(network, PARAMS, "cols")


@pytest.mark.parametrize("form", FORMS)
def test_host_writes_the_unfolded_frame(form):
    """The chip's stem is a dense conv over the unfolded input; the host writes each of its
    pixels' words once, which read back as the unfolded frame."""
    seed = seed_from_env()
    network, frame = build(WORKLOADS["stem_7x7_s2"], 4, seed)
    unfolded = unfold_stem(network, PARAMS, form)
    before, after = compile_network(network, PARAMS), compile_network(unfolded, PARAMS)
    buffer = after.buffers["input"]
    assert buffer.padding == (0, 0, 0, 0) and isinstance(unfolded.layers[0], Conv2d)
    writes = after.input_words(frame)
    height, width, _ = unfolded.input.shape
    assert len(writes) == height * width * buffer.words_per_pixel
    decoded = after.decode("input", [value for _, value in writes])
    assert (decoded == unfolded.unfolding.apply(frame)).all(), f"SEED={seed}"
    assert after.predicted_cycles < before.predicted_cycles / 4, f"SEED={seed}"


def test_packed_stem_splits_by_rows_only():
    """A packed conv computes all its columns' channels at each position: an array splits it
    by rows; a channel split is refused naming the splits it takes, and no add fuses into it."""
    network, _ = build(WORKLOADS["stem_7x7_s2"], 8, seed_from_env(), shape=(32, 32, 3))
    unfolded = unfold_stem(network, PARAMS, "rows", 2)
    compiled = compile_array(unfolded, PARAMS, 2, 2)
    assert [plan.split for plan in compiled.plans] == [Split.ROWS]
    with pytest.raises(CompileError, match=r"^layer layer \(Conv2d\) cannot be split by channels; "
                       r"it can by rows$"):
        compile_array(unfolded, PARAMS, 2, 2, splits={"layer": Split.CHANNELS})
    add = Add("add", ("layer", "layer"), 0.05, 0)
    with pytest.raises(ValueError, match=r"^fused add add: conv layer computes 2 columns a position; "
                       r"a fused add takes one$"):
        ConvAdd(unfolded.layers[0], add)
    assert fuse_adds(Network(unfolded.input, [unfolded.layers[0], add], 8)).layers[0] is unfolded.layers[0]
