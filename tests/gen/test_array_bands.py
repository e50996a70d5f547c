"""The array compiler's row bands: which rows of a part a core computes first, and that a
banded schedule is kept only where it is the shorter.

The hardware runs of banded programs are in ``tests/integration/test_array.py``. Replay
with ``SEED=<seed>``.
"""

import pytest

from gen.array import FORWARD_MIN_WORDS, Part, _ArrayCompiler, compile_array
from hdl.params import DEFAULT_CORE
from sim.tb.runner import seed_from_env
from sim.workloads import WORKLOADS, build


def bands_compiler(forward=True):
    """An array compiler for a 2x2 basic block (conv1's output is 8 pixels wide, one word)."""
    network, _ = build(WORKLOADS["basic_block"], 8, seed_from_env())
    return _ArrayCompiler(network, DEFAULT_CORE, 2, 2, None, None, True, forward)


def rows_of(bands):
    return [band.rows for band in bands]


def test_rows_read_at_the_edges_come_first():
    compiler = bands_compiler()
    part = Part((2, 6), (0, 1))
    needs = {0: {}, 1: {"conv1": Part((5, 8), (0, 1))}, 2: {"conv1": Part((0, 3), (0, 1))}, 3: {}}
    assert rows_of(compiler._bands(compiler.network.layers[0], 0, part, needs)) == [(2, 3), (5, 6), (3, 5)]
    assert compiler.banded


def test_a_part_read_whole_goes_in_halves():
    compiler = bands_compiler()
    part = Part((2, 6), (0, 1))
    needs = {0: {}, 1: {"conv1": Part((0, 8), (0, 1))}}
    assert rows_of(compiler._bands(compiler.network.layers[0], 0, part, needs)) == [(2, 4), (4, 6)]


@pytest.mark.parametrize("part, needs, forward", [
    (Part((2, 6), (0, 1)), {1: {"conv1": Part((5, 8), (0, 1))}}, False),       # forwarding off
    (Part((2, 3), (0, 1)), {1: {"conv1": Part((0, 8), (0, 1))}}, True),        # one row
    (Part((2, 6), (0, 1)), {1: {"add": Part((0, 8), (0, 1))}}, True),          # nobody reads it
    (Part((2, 6), (0, 1)), {0: {"conv1": Part((0, 8), (0, 1))}}, True),        # only itself
])
def test_one_band(part, needs, forward):
    compiler = bands_compiler(forward)
    assert compiler._bands(compiler.network.layers[0], 0, part, needs) == [part]
    assert not compiler.banded


def test_few_words_read_early_go_in_one_band():
    # The neighbour reads one row of 8 words before the last band: fewer than the minimum.
    compiler = bands_compiler()
    part = Part((2, 6), (0, 1))
    needs = {1: {"conv1": Part((0, 3), (0, 1))}}
    assert 8 < FORWARD_MIN_WORDS
    assert compiler._bands(compiler.network.layers[0], 0, part, needs) == [part]


@pytest.mark.parametrize("name, rows, shape", [("basic_block", 2, None), ("bottleneck_block", 2, None),
                                               ("basic_block_s2", 4, (16, 16, 16))])
def test_bands_are_kept_only_where_shorter(name, rows, shape):
    network, _ = build(WORKLOADS[name], 8, seed_from_env(), shape=shape)
    chosen, whole = (compile_array(network, DEFAULT_CORE, rows, rows, forward=forward)
                     for forward in (True, False))
    assert chosen.predicted_cycles <= whole.predicted_cycles
