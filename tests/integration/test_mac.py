"""The SIMD MAC array's Verilog, simulated with cocotb, against the golden model.

Every shape runs every test of ``sim/tb/mac.py``: exhaustive int4/int2 (and int8 where
cheap) operand pairs in every lane position, seeded random int8 and mixed-precision
accumulations back to back and with gaps, the extremes with int32 wrap, and a model with
one wrong weight that must be reported. The 8 x 8 run logs the simulated cycles per
second (``simulation speed``). Replay a failure with ``SEED=<seed>``, the seed printed in
the log and the failure message.

Also here, as they only matter to these runs: the testbench's fast layout packing must
equal Amaranth's own ``layout.const`` and ``layout.from_bits``.
"""

import numpy as np
import pytest

from hdl.mac import MacArray, mac_input_layout, mac_output_layout
from hdl.params import MacParams, Precision
from sim.tb.common import pack, to_python, unpack
from sim.tb.runner import run_cocotb

SHAPES = [(4, 4), (8, 8), (16, 4)]


def run(simulator, lanes, columns, testcase=None, *, name="mac", **options):
    dut = MacArray(MacParams(lanes, columns, **options))
    run_cocotb(dut, toplevel="mac_array", test_module="mac", testcase=testcase,
               test_name=f"{name}-{lanes}x{columns}-{testcase if isinstance(testcase, str) else 'all'}",
               sim=simulator,
               params={"lanes": lanes, "columns": columns, "latency": dut.LATENCY})


@pytest.mark.parametrize("lanes, columns", SHAPES)
def test_mac_array(simulator, lanes, columns):
    run(simulator, lanes, columns)


@pytest.mark.smoke
def test_mac_array_smoke(simulator):
    run(simulator, 4, 4, testcase="random_mixed_precision_back_to_back")


#: The int8 tests of ``sim/tb/mac.py``.
INT8_TESTS = ["every_int8_operand_pair", "random_int8", "a_wrong_model_is_reported"]


@pytest.mark.parametrize("lanes, columns, multiply_stages", [(4, 2, 2), (4, 4, 1)])
def test_mac_array_in_sb_mac16(simulator, lanes, columns, multiply_stages):
    """Lane products paired in iCE40 SB_MAC16 blocks (``MacParams.dsp_block``), simulated
    with Yosys's model of the block: every int8 pair in every lane, random accumulations, and
    a wrong model reported, in the latency of a plain array whose products are registered
    once (the block's register is the only one, whatever ``multiply_stages``)."""
    assert MacArray(MacParams(lanes, columns, multiply_stages=multiply_stages, precisions=(Precision.INT8,),
                              dsp_block="SB_MAC16")).LATENCY == \
        MacArray(MacParams(lanes, columns, multiply_stages=1)).LATENCY
    run(simulator, lanes, columns, INT8_TESTS, name="mac-sb-mac16-int8", multiply_stages=multiply_stages,
        precisions=(Precision.INT8,), dsp_block="SB_MAC16")


@pytest.mark.parametrize("lanes, columns", [(4, 4), (16, 4)])
def test_pack_unpack_equal_amaranth(lanes, columns, seed=3, words=200):
    params = MacParams(lanes, columns)
    input_layout, output_layout = mac_input_layout(params), mac_output_layout(params)
    rng = np.random.default_rng(seed)
    for _ in range(words):
        fields = {"activations": rng.integers(0, 256, lanes).tolist(),
                  "weights": rng.integers(0, 256, (columns, lanes)).tolist(),
                  "precision": Precision(int(rng.integers(len(Precision)))),
                  "first": bool(rng.integers(2)), "last": int(rng.integers(2))}
        bits = pack(input_layout, fields)
        assert bits == input_layout.const(fields).as_bits(), f"seed {seed}"
        assert unpack(input_layout, bits) == to_python(input_layout.from_bits(bits))
        sums = rng.integers(-2**31, 2**31, columns).tolist()
        bits = pack(output_layout, sums)
        assert bits == output_layout.const(sums).as_bits(), f"seed {seed}"
        assert unpack(output_layout, bits) == to_python(output_layout.from_bits(bits)) == sums
