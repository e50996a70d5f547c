"""The layer pipeline's layout on the mesh (:mod:`gen.pipeline`): the slots stages take,
the input holders' slot, the choice between holders and none, the work estimates, and
refusals.

Whether the holders' ``input_delay`` is early enough (and the overlapped writes correct)
is checked on the Verilog by ``tests/integration/test_pipeline.py``: the testbench writes
from the first cycle it allows.
"""

import dataclasses

import numpy as np
import pytest

from gen.array import Part, compile_array, token_roles
from gen.compiler import CompileError, compile_network
from gen.network import Add, MaxPool2d, Network, fuse_adds
from gen.pipeline import LAYOUTS, compile_pipeline, layer_cycles, plan_stages, slots, step_cycles
from gen.run import DIGITS
from gen.tflite import import_tflite
from gen.unfold import unfold_stem
from hdl.isa import Opcode
from hdl.params import DEFAULT_CORE, NORTHPOLE_CORE
from sim.tb.runner import seed_from_env
from sim.workloads import ParameterMaker


def digits():
    return unfold_stem(fuse_adds(import_tflite(DIGITS).network), DEFAULT_CORE)


def neighbours(first, second):
    return any(abs(x0 - x1) + abs(y0 - y1) == 1 for x0, y0 in first for x1, y1 in second)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("rows, columns", [(1, 4), (2, 2), (4, 4), (3, 8), (16, 16)])
def test_slots_cover_the_mesh_each_next_to_the_last(layout, rows, columns):
    path = slots(rows, columns, layout)
    places = [place for slot in path for place in slot]
    assert sorted(places) == sorted((x, y) for x in range(columns) for y in range(rows))
    for number, (first, second) in enumerate(zip(path, path[1:])):
        assert neighbours(first, second), f"{layout} {rows}x{columns}: slots {number} and {number + 1}"


def test_columns_slots_are_half_rows():
    path = slots(4, 4, "columns")
    assert path == [[(0, 0), (1, 0)], [(0, 1), (1, 1)], [(0, 2), (1, 2)], [(0, 3), (1, 3), (2, 3), (3, 3)],
                    [(2, 2), (3, 2)], [(2, 1), (3, 1)], [(2, 0), (3, 0)]]


def test_layout_wrong():
    with pytest.raises(ValueError, match=r"^layout must be one of columns, snake, not 'spiral'$"):
        slots(4, 4, "spiral")


def test_holders_keep_the_first_slot_out_of_every_stage():
    stages = plan_stages(digits(), DEFAULT_CORE, 4, 4, holders=True)
    staged = {place for stage in stages for place in stage.places}
    assert not staged & {(0, 0), (1, 0)}
    assert staged <= {(x, y) for x in range(4) for y in range(4)}


def test_no_core_for_a_stage_beside_the_holders_wrong():
    message = r"^a 1x1 array has no core for a stage beside the input's holders$"
    with pytest.raises(CompileError, match=message):
        plan_stages(digits(), DEFAULT_CORE, 1, 1, holders=True)


@pytest.mark.parametrize("rows, columns", [(2, 2), (4, 4)])
def test_the_shorter_step_is_chosen(rows, columns):
    network = digits()
    compiled = {holders: compile_pipeline(network, DEFAULT_CORE, rows, columns, holders=holders)
                for holders in (False, True)}
    assert compiled[False].input_delay is None and compiled[True].input_delay is not None
    chosen = compile_pipeline(network, DEFAULT_CORE, rows, columns)
    assert step_cycles(chosen) == min(step_cycles(each) for each in compiled.values())
    assert chosen.input_delay == min(compiled.values(), key=step_cycles).input_delay


def test_input_on_a_later_stage_wrong():
    network = digits()
    stages = plan_stages(network, DEFAULT_CORE, 2, 2)
    later = stages[1].places[0]
    height = network.input.shape[0]
    with pytest.raises(CompileError, match=rf"^core \({later[0]}, {later[1]}\) of a later stage is given a "
                                           r"part of the input, which only stage 0's cores read$"):
        compile_array(network, DEFAULT_CORE, 2, 2, stages=stages,
                      input_parts={later: Part((0, height), (0, 1))})


def test_holders_hold_the_input_and_compute_nothing():
    network = digits()
    compiled = compile_pipeline(network, DEFAULT_CORE, 4, 4, holders=True)
    holders = {(0, 0), (1, 0)}
    assert set(compiled.owners["input"]) == holders
    assert all(not compiled.busy[place] for place in holders)
    writes = compiled.input_writes(np.zeros(network.frame.shape, np.int64))
    assert {(x, y) for x, y, *_ in writes} == holders


def test_vector_layer_estimates_count_the_vector_units_tiles():
    """A layer without weights is estimated at the elements its instruction issues on one
    core: a tile of the MAC's columns of channels a cycle, so 64 int4 channels (one word of
    NorthPole's core) are two tiles of its 32 columns, not one word."""
    maker = ParameterMaker(np.random.default_rng(seed_from_env()), 4)
    x = maker.spec((8, 8, 64))
    network = Network(x, [MaxPool2d("pool", "input", (3, 3), (2, 2), (1, 1, 1, 1)),
                          MaxPool2d("other", "input", (2, 2), (2, 2)),
                          Add("add", ("pool", "other"), x.scale, x.zero_point)], 4)
    compiled = compile_network(network, NORTHPOLE_CORE)
    elements = [instruction.elements for instruction in compiled.program if instruction.opcode.computes]
    assert [layer_cycles(network, NORTHPOLE_CORE)[layer.name] for layer in network.layers] == elements == \
        [4 * 4 * 2 * 9, 4 * 4 * 2 * 4, 4 * 4 * 2]


def _shape(instruction):
    """An instruction's fields other than its activation addresses (its streams' bases)."""
    fields = dict(vars(instruction))
    for name in ("a", "b", "o", "r"):
        stream = fields.get(name)
        fields[name] = stream and stream.strides
    return fields


@pytest.mark.parametrize("rows, columns, holders", [(2, 2, False), (4, 4, True)])
def test_two_program_banks_alternate_the_stages_input_buffers(rows, columns, holders):
    """With two program banks, a stage's piped inputs get twins: the second bank's programs
    are the first's with only their activation addresses changed, nobody waits for a
    ``FREE`` pulse where every piped tensor has twins, and the run is no longer than with
    one bank (where producers wait for their readers)."""
    network = digits()
    one = dataclasses.replace(DEFAULT_CORE, program_depth=256)
    two = dataclasses.replace(one, program_banks=2)
    single = compile_pipeline(network, one, rows, columns, holders=holders)
    double = compile_pipeline(network, two, rows, columns, holders=holders)
    assert all(core.odd is None for core in single.cores.values())
    alternating = [place for place, core in double.cores.items() if core.odd is not None]
    assert alternating, f"{rows}x{columns}: no core has a second bank's programs"
    _, _, free_token, _ = token_roles(two)
    changed = 0
    for place in alternating:
        core = double.cores[place]
        for even, odd in zip((core.program, core.messages), core.odd, strict=True):
            assert [_shape(i) for i in even] == [_shape(i) for i in odd], f"core {place}"
            changed += sum(i != j for i, j in zip(even, odd))
        waits = [i for i in (*core.program, *core.messages)
                 if i.opcode == Opcode.WAIT and i.token == free_token]
        assert not waits, f"core {place} waits for FREE pulses with both banks"
    assert changed
    assert double.predicted_cycles <= single.predicted_cycles
