"""The layer options model import adds to ``gen.network``, and how the compiler treats them."""

from pathlib import Path

import numpy as np
import pytest

from gen.compiler import CompileError, compile_network
from gen.network import FullyConnected, GlobalAvgPool, Network, TensorSpec
from gen.tflite import import_tflite
from hdl.isa import Opcode
from hdl.params import CoreParams

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "import"


def test_requantization_wrong():
    with pytest.raises(ValueError, match=r"^fully connected layer fc requantization must be one "
                                         r"of fp64, integer, not 'double'$"):
        FullyConnected("fc", "input", np.ones((2, 4)), np.zeros(2), 0.1, 0.1, 0,
                       requantization="double")


def test_kind_wrong():
    with pytest.raises(ValueError, match=r"^global pool pool kind must be one of mean, "
                                         r"average_pool, not 'max'$"):
        GlobalAvgPool("pool", "input", 0.1, 0, kind="max")


def test_average_pool_keeps_quantization_wrong():
    network = Network(TensorSpec((2, 2, 8), 0.1, 3), [GlobalAvgPool("pool", "input", 0.2, 3,
                                                                     kind="average_pool")])
    with pytest.raises(ValueError, match=r"^global pool pool of kind average_pool must keep its "
                                         r"input's quantization \(0\.1, 3\), not \(0\.2, 3\)$"):
        network.golden(np.zeros((2, 2, 8), np.int8))


def test_average_pool_not_compiled():
    network = import_tflite(VECTORS / "average_pool.tflite").network
    with pytest.raises(CompileError, match=r"^global pool average_pool_2d_1: the AVGPOOL "
                                           r"instruction requantizes as MEAN does; "
                                           r"AVERAGE_POOL_2D's rounding \(kind 'average_pool'\) "
                                           r"is not implemented$"):
        compile_network(network, CoreParams())


def test_relu6_clamp_reaches_the_instruction():
    compiled = compile_network(import_tflite(VECTORS / "relu6_conv.tflite").network, CoreParams())
    (mac,) = [i for i in compiled.program if i.opcode == Opcode.MAC]
    assert (mac.zero_point, mac.clamp_min, mac.clamp_max) == (-100, -100, -40)
