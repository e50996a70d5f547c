""":func:`hdl.bits.const_bits` against Amaranth's own constants, and its refusals.

Random instruction words and settings entries (every field drawn over its whole range)
must pack to the bits ``layout.const(value).as_bits()`` gives. Replay with ``SEED=<seed>``.
"""

import numpy as np
import pytest
from amaranth.hdl import Shape
from amaranth.lib import data

from hdl.bits import const_bits
from hdl.datapath import settings_entry_layout
from hdl.isa import instruction_layout
from hdl.params import DEFAULT_CORE, NORTHPOLE_CORE
from sim.tb.runner import seed_from_env


def _draw(rng, layout):
    if isinstance(layout, data.StructLayout):
        return {name: _draw(rng, field.shape) for name, field in layout}
    if isinstance(layout, data.ArrayLayout):
        return [_draw(rng, layout.elem_shape) for _ in range(layout.length)]
    if isinstance(layout, type):
        return list(layout)[rng.integers(len(layout))]
    shape = Shape.cast(layout)
    low = -(1 << shape.width - 1) if shape.signed else 0
    return int(rng.integers(low, low + (1 << shape.width)))


@pytest.mark.parametrize("layout", [instruction_layout(DEFAULT_CORE), instruction_layout(NORTHPOLE_CORE),
                                    settings_entry_layout(32)], ids=["instruction", "northpole", "settings"])
def test_matches_amaranth(layout):
    seed = seed_from_env()
    rng = np.random.default_rng(seed)
    for _ in range(50):
        value = _draw(rng, layout)
        assert const_bits(layout, value) == layout.const(value).as_bits(), f"SEED={seed}: {value}"


def test_refuses_what_does_not_fit():
    layout = data.StructLayout({"count": data.ArrayLayout(data.StructLayout({"n": 4}), 2)})
    with pytest.raises(ValueError, match=r"^value.count\[1\].n 16 does not fit 4 unsigned bits$"):
        const_bits(layout, {"count": [{"n": 15}, {"n": 16}]})
