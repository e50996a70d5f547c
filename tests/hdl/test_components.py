"""Datapath components in Amaranth's simulator: quick checks, bad arguments, stable Verilog."""

import numpy as np
import pytest

from gen.verilog import to_verilog
from hdl.mac import MacArray
from hdl.params import MacParams, Precision
from hdl.requantize import Requantizer
from sim.golden.fixedpoint import requantize
from sim.golden.simd import pack_lanes, vector_matrix
from tests.helpers import run_stream

COMPONENTS = [MacArray, Requantizer]


def test_mac_array_accumulates(seed=1):
    params = MacParams(lanes=4, columns=4)
    rng = np.random.default_rng(seed)
    inputs, expected = [], []
    for precision in Precision:
        total = np.zeros(params.columns, np.int64)
        for index in range(3):
            a = pack_lanes(rng.integers(precision.min, precision.max + 1,
                                        4 * precision.values_per_lane), precision)
            w = pack_lanes(rng.integers(precision.min, precision.max + 1,
                                        (4, 4 * precision.values_per_lane)), precision)
            total = vector_matrix(a, w, precision, total)
            inputs.append({"activations": a.tolist(), "weights": w.tolist(),
                           "precision": precision, "first": index == 0, "last": index == 2})
        expected.append(total.tolist())
    assert [words for _, words in run_stream(MacArray(params), inputs, o_port="o_acc", drain=20)] \
        == expected


def test_requantizer_packs_int4():
    params = MacParams(lanes=4, columns=4)
    vector = {"acc": [100, -100, 7, 0], "bias": [0, 0, 0, 5], "multiplier": [1 << 30] * 4,
              "shift": [-2, -2, 0, 0], "zero_point": 1, "clamp_min": -8, "clamp_max": 7,
              "precision": Precision.INT4}
    results = requantize(np.array(vector["acc"]), bias=np.array(vector["bias"]),
                         multiplier=np.array(vector["multiplier"]),
                         shift=np.array(vector["shift"]), zero_point=1, clamp_min=-8, clamp_max=7)
    expected = [int(b) for b in pack_lanes(results, Precision.INT4)] + [0, 0]
    assert [words for _, words in run_stream(Requantizer(params), [vector], o_port="o_data",
                                             drain=19)] == [expected]


@pytest.mark.parametrize("component", COMPONENTS)
def test_params_wrong(component):
    with pytest.raises(TypeError, match=rf"^{component.__name__} params must be a MacParams, "
                                        r"not 8$"):
        component(8)


@pytest.mark.parametrize("component", COMPONENTS)
def test_verilog_is_deterministic(component):
    params = MacParams(lanes=8, columns=4)
    assert to_verilog(component(params), "top") == to_verilog(component(params), "top")
