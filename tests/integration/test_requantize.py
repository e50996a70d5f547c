"""The requantize unit's Verilog, simulated with cocotb, against the golden model.

Every shape runs every test of ``sim/tb/requantize.py``: seeded random operations in
int8, int4 and int2 with both roundings (back to back, and with idle cycles), every shift
from -31 to +30, the corner values (INT32_MIN x INT32_MIN saturation, int32 wraps,
multiplier extremes, rounding ties, clamps), and a model with one wrong accumulator that
must be reported. Every output column, the zero padding bytes and the latency are
checked. Replay a failure with ``SEED=<seed>``, the seed printed in the log and the
failure message.

Also here, as it only matters to these runs: the testbench's fast packing of the input
layout (signed arrays, enums) must equal Amaranth's own ``layout.const``.
"""

import numpy as np
import pytest

from hdl.params import MAX_SHIFT, MIN_SHIFT, MacParams, Precision, Rounding
from hdl.requantize import Requantizer, requantize_input_layout, requantize_output_layout
from sim.tb.common import pack, to_python, unpack
from sim.tb.runner import run_cocotb

#: Columns N of the shapes simulated (lanes do not matter to the requantize unit).
COLUMNS = [4, 8]
LANES = 4


def run(simulator, columns, testcase=None):
    dut = Requantizer(MacParams(LANES, columns))
    run_cocotb(dut, toplevel="requantizer", test_module="requantize", testcase=testcase,
               test_name=f"requantize-{columns}-{testcase or 'all'}", sim=simulator,
               params={"lanes": LANES, "columns": columns, "latency": dut.LATENCY})


@pytest.mark.parametrize("columns", COLUMNS)
def test_requantizer(simulator, columns):
    run(simulator, columns)


@pytest.mark.smoke
def test_requantizer_smoke(simulator):
    run(simulator, COLUMNS[0], testcase="corner_values")


@pytest.mark.parametrize("columns", COLUMNS)
def test_pack_equals_amaranth(columns, seed=5, words=200):
    params = MacParams(LANES, columns)
    input_layout, output_layout = requantize_input_layout(params), requantize_output_layout(params)
    rng = np.random.default_rng(seed)
    for _ in range(words):
        fields = {name: rng.integers(-2**31, 2**31, columns).tolist()
                  for name in ("acc", "bias", "multiplier")}
        fields.update(shift=rng.integers(MIN_SHIFT, MAX_SHIFT + 1, columns).tolist(),
                      zero_point=int(rng.integers(-128, 128)), clamp_min=-128, clamp_max=127,
                      precision=Precision(int(rng.integers(len(Precision)))),
                      rounding=Rounding(int(rng.integers(len(Rounding)))))
        bits = pack(input_layout, fields)
        assert bits == input_layout.const(fields).as_bits(), f"seed {seed}"
        assert unpack(input_layout, bits) == to_python(input_layout.from_bits(bits)), f"seed {seed}"
        packed = rng.integers(0, 256, columns).tolist()
        assert unpack(output_layout, pack(output_layout, packed)) == packed
