"""The ResNet catalogue against facts about the networks derived independently of it."""

import dataclasses

import pytest

from sim.catalogue import (
    INPUT,
    RESNET18,
    RESNET50,
    Conv,
    FullyConnected,
    GlobalAvgPool,
    MaxPool,
    ResidualAdd,
    macs,
    resnet_layers,
)


def convs(network):
    return [layer for layer in network if isinstance(layer, Conv)]


def resnet50_macs():
    """Stage by stage: stem, 3/4/6/3 bottlenecks of width w (S x S output), classifier."""
    total = 112 * 112 * 64 * 3 * 7 * 7                                  # stem
    c_in, size = 64, 56
    for blocks, width, stride in ((3, 64, 1), (4, 128, 2), (6, 256, 2), (3, 512, 2)):
        out = size // stride
        total += size * size * c_in * width                              # 1x1 reduce
        total += out * out * (9 * width * width + 4 * width * width)     # 3x3, 1x1 expand
        total += out * out * c_in * 4 * width                            # projection
        total += (blocks - 1) * out * out * 17 * width * width           # 1x1 + 3x3 + 1x1
        c_in, size = 4 * width, out
    return total + 2048 * 1000


def resnet18_macs():
    """Stage by stage: stem, 2/2/2/2 basic blocks of width w, classifier."""
    total = 112 * 112 * 64 * 3 * 7 * 7
    c_in, size = 64, 56
    for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        out = size // stride
        total += out * out * 9 * width * (c_in + width)                  # block 0: two 3x3
        if stride == 2:
            total += out * out * c_in * width                            # projection
        total += out * out * 18 * width * width                          # block 1: two 3x3
        c_in, size = width, out
    return total + 512 * 1000


@pytest.mark.parametrize("network, conv_count, projections, joins, published, derived", [
    # torchvision's model table gives 1.81 and 4.09 GFLOPS (multiply-adds) for ResNet-18 and
    # ResNet-50 (v1.5); He et al. (2016), Table 1, gives 1.8 and 3.8 (ResNet-50 v1, whose
    # stride-2 1x1 reduce is cheaper). 20 = 1 + 8 * 2 + 3 convs, 53 = 1 + 16 * 3 + 4.
    (RESNET18, 20, 3, 8, 1.81e9, resnet18_macs()),
    (RESNET50, 53, 4, 16, 4.09e9, resnet50_macs()),
])
def test_counts(network, conv_count, projections, joins, published, derived):
    assert len(convs(network)) == conv_count
    assert sum(layer.name.endswith("downsample") for layer in convs(network)) == projections
    assert sum(isinstance(layer, ResidualAdd) for layer in network) == joins
    assert macs(network) == derived
    assert abs(macs(network) - published) / published < 0.03


def test_resnet50_v1_5_costs_more_than_v1():
    assert 3.8e9 < macs(RESNET50) < 4.2e9


def tflite_same(size, kernel, stride):
    """SAME, as TensorFlow documents it: out = ceil(size / stride), half the padding first."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


@pytest.mark.parametrize("network", [RESNET18, RESNET50], ids=["resnet18", "resnet50"])
def test_shapes_chain(network):
    """Walk the graph: every layer reads a shape an earlier layer produced, with SAME sizes."""
    produced = {INPUT: (224, 224, 3)}
    consumed = set()
    for layer in network:
        assert layer.name not in produced, f"{layer.name} defined twice"
        sources = layer.sources if isinstance(layer, ResidualAdd) else (layer.source,)
        for source in sources:
            assert source in produced, f"{layer.name} reads {source}, not produced before it"
            consumed.add(source)
        shape = produced[sources[0]]
        if isinstance(layer, (Conv, MaxPool)):
            channels = layer.in_channels if isinstance(layer, Conv) else layer.channels
            assert (*layer.input_size, channels) == shape, layer.name
            (h, w), (kh, kw), (sh, sw) = layer.input_size, layer.kernel, layer.stride
            assert layer.padding == tflite_same(h, kh, sh) + tflite_same(w, kw, sw), layer.name
            assert layer.output_size == (-(-h // sh), -(-w // sw)), layer.name
        elif isinstance(layer, ResidualAdd):
            assert all(produced[source] == shape for source in sources), layer.name
            assert layer.output_shape == shape and layer.relu
        elif isinstance(layer, GlobalAvgPool):
            assert (*layer.input_size, layer.channels) == shape == (7, 7, layer.channels)
        else:
            assert isinstance(layer, FullyConnected) and (layer.in_features,) == shape
        produced[layer.name] = layer.output_shape
    assert set(produced) - consumed == {network[-1].name}, "an output nobody reads"
    assert network[-1].output_shape == (1000,)


@pytest.mark.parametrize("network, final_channels", [(RESNET18, 512), (RESNET50, 2048)],
                         ids=["resnet18", "resnet50"])
def test_stage_sizes(network, final_channels):
    stem, pool = network[0], network[1]
    assert (stem.kernel, stem.stride, stem.in_channels, stem.output_size) == \
        ((7, 7), (2, 2), 3, (112, 112))
    assert stem.padding == (2, 3, 2, 3)                      # TFLite SAME, not torch's 3
    assert isinstance(pool, MaxPool) and pool.padding == (0, 1, 0, 1)
    assert pool.output_size == (56, 56)
    joins = [layer for layer in network if isinstance(layer, ResidualAdd)]
    sizes = sorted({join.size for join in joins}, reverse=True)
    assert sizes == [(56, 56), (28, 28), (14, 14), (7, 7)]
    assert joins[-1].channels == final_channels


def test_stride_2_padding():
    by_name = {layer.name: layer for layer in RESNET18}
    assert by_name["layer2.0.conv1"].padding == (0, 1, 0, 1)     # 3x3 stride 2 on 56
    assert by_name["layer2.0.downsample"].padding == (0, 0, 0, 0)
    assert by_name["layer1.0.conv1"].padding == (1, 1, 1, 1)


def test_bottleneck_stride_on_3x3():
    block = {layer.name: layer for layer in RESNET50 if layer.name.startswith("layer2.0.")}
    assert block["layer2.0.conv1"].stride == (1, 1)
    assert block["layer2.0.conv2"].stride == (2, 2)
    assert block["layer2.0.downsample"].stride == (2, 2)
    assert block["layer2.0.conv3"].out_channels == 512
    assert block["layer2.0.add"].sources == ("layer2.0.conv3", "layer2.0.downsample")


def test_relu_placement():
    """ReLU after every conv but a block's last and the projections (the join's ReLU)."""
    for layer in convs(RESNET50):
        last = layer.name.endswith(("conv3", "downsample"))
        assert layer.relu is not last, layer.name


def test_layers_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        RESNET50[0].stride = (1, 1)


def test_conv_wrong():
    with pytest.raises(ValueError, match=r"^Conv stride must be positive integers, not \(0, 1\)$"):
        Conv("c", INPUT, (8, 8), 3, 4, (3, 3), (0, 1), (1, 1, 1, 1), True)


def test_resnet_layers_scaled_down():
    """The same structure at 16 x 16 x 3, widths 8 and 16, 10 classes: the stem halves the
    size, the max-pool halves it again, stage 2 halves it once more."""
    layers = {layer.name: layer for layer in resnet_layers("bottleneck", (1, 2), (16, 16, 3), (8, 16), 10)}
    assert list(layers) == ["conv1", "maxpool",
                            "layer1.0.conv1", "layer1.0.conv2", "layer1.0.conv3", "layer1.0.downsample",
                            "layer1.0.add",
                            "layer2.0.conv1", "layer2.0.conv2", "layer2.0.conv3", "layer2.0.downsample",
                            "layer2.0.add",
                            "layer2.1.conv1", "layer2.1.conv2", "layer2.1.conv3", "layer2.1.add",
                            "avgpool", "fc"]
    assert layers["conv1"].output_shape == (8, 8, 8) and layers["maxpool"].output_shape == (4, 4, 8)
    assert layers["layer1.0.add"].output_shape == (4, 4, 32)
    assert layers["layer2.1.add"].output_shape == (2, 2, 64)
    assert (layers["fc"].in_features, layers["fc"].out_features) == (64, 10)


def test_resnet_layers_block_wrong():
    with pytest.raises(ValueError, match=r"^block must be one of basic, bottleneck, not 'dense'$"):
        resnet_layers("dense", (2, 2, 2, 2))


def test_resnet_layers_blocks_per_stage_wrong():
    with pytest.raises(ValueError, match=r"^blocks_per_stage must have one entry per width of "
                                         r"\(64, 128, 256, 512\), not \(2, 2\)$"):
        resnet_layers("basic", (2, 2))
