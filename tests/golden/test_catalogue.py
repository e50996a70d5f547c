"""The ResNet catalogue against published facts about the networks."""

import pytest

from sim.catalogue import RESNET18, RESNET50, Conv, FullyConnected, GlobalAvgPool, MaxPool, ResidualAdd, macs


def convs(network):
    return [layer for layer in network if isinstance(layer, Conv)]


@pytest.mark.parametrize("network, conv_count, projections, joins, published_macs", [
    # He et al. (2016), Table 1: 1.8 and 3.8 GFLOPs (multiply-adds); torchvision's v1.5
    # ResNet-50 moves the stride to the 3x3 conv and is usually quoted at 4.09 GMACs.
    (RESNET18, 20, 3, 8, 1.8e9),
    (RESNET50, 53, 4, 16, 4.09e9),
])
def test_counts(network, conv_count, projections, joins, published_macs):
    assert len(convs(network)) == conv_count
    assert sum(layer.name.endswith("downsample") for layer in convs(network)) == projections
    assert sum(isinstance(layer, ResidualAdd) for layer in network) == joins
    assert abs(macs(network) - published_macs) / published_macs < 0.03


@pytest.mark.parametrize("network", [RESNET18, RESNET50])
def test_shapes_chain(network):
    stem, pool = network[0], network[1]
    assert (stem.kernel, stem.stride, stem.padding, stem.in_channels) == \
        ((7, 7), (2, 2), (3, 3, 3, 3), 3)
    assert stem.output_size == (112, 112)
    assert isinstance(pool, MaxPool) and pool.output_size == (56, 56)
    sizes = {stem.input_size, stem.output_size, pool.output_size}
    for layer in convs(network):
        assert layer.input_size in sizes, f"{layer.name} reads a size no layer produced"
        sizes.add(layer.output_size)
    head, fc = network[-2], network[-1]
    assert isinstance(head, GlobalAvgPool) and head.input_size == (7, 7)
    assert isinstance(fc, FullyConnected) and fc.in_features == head.channels
    assert fc.out_features == 1000
    for join in (layer for layer in network if isinstance(layer, ResidualAdd)):
        main_path = [c for c in convs(network) if c.name.startswith(join.name[:-len("add")])]
        assert main_path[-1].output_size == join.size


def test_bottleneck_stride_on_3x3():
    block = {layer.name: layer for layer in RESNET50 if layer.name.startswith("layer2.0.")}
    assert block["layer2.0.conv1"].stride == (1, 1)
    assert block["layer2.0.conv2"].stride == (2, 2)
    assert block["layer2.0.downsample"].stride == (2, 2)
    assert block["layer2.0.conv3"].out_channels == 512
