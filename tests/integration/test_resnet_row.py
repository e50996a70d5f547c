"""A real ResNet layer through the datapath: one output row of a ResNet-18 3x3 conv.

ResNet-18's layer1 conv (3x3, stride 1) and layer2's first conv (3x3, stride 2) with the
catalogue's padding (TFLite SAME: lopsided for stride 2 on an even size), the channels
scaled to one MAC tile (input channels = lanes x values per lane, output channels =
columns) and a narrow input, run through MAC array + requantize unit and compared byte
for byte with ``sim.golden.conv2d``.
"""

import pytest

from hdl.datapath import Datapath
from hdl.params import MacParams
from sim.catalogue import RESNET18
from sim.tb.runner import run_cocotb


def resnet18_conv(name):
    (layer,) = [layer for layer in RESNET18 if layer.name == name]
    return layer


@pytest.mark.parametrize("bits", [8, 4, 2])
@pytest.mark.parametrize("layer_name, row", [("layer1.0.conv1", 0), ("layer2.0.conv1", 1)])
def test_resnet18_conv_row(simulator, bits, layer_name, row):
    layer = resnet18_conv(layer_name)
    assert layer.kernel == (3, 3)
    params = MacParams(lanes=8, columns=8)
    dut = Datapath(params)
    run_cocotb(dut, toplevel="datapath", test_module="datapath",
               test_name=f"resnet_row-{layer_name}-int{bits}", sim=simulator,
               params={"lanes": params.lanes, "columns": params.columns, "latency": dut.LATENCY,
                       "bits": bits, "stride": layer.stride[0], "padding": layer.padding,
                       "width": 10, "row": row,
                       "relu": True})


@pytest.mark.smoke
def test_resnet18_conv_row_smoke(simulator):
    params = MacParams(lanes=4, columns=4)
    dut = Datapath(params)
    run_cocotb(dut, toplevel="datapath", test_module="datapath",
               test_name="resnet_row-smoke", sim=simulator,
               params={"lanes": params.lanes, "columns": params.columns, "latency": dut.LATENCY,
                       "bits": 4, "stride": 1, "padding": (1, 1, 1, 1), "width": 5, "row": 0,
                       "relu": False})
