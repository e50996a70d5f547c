"""Layers spread across the array by the array compiler, through the host's three commands only.

Each case (:mod:`sim.workloads`) is compiled by :func:`gen.array.compile_array` for a 2x2
or a 4x4 array, each layer split over the cores by output rows (each core a band, halo
rows sent between neighbours) or by output channels (the input sent to every core that
shares it, one multicast to each rectangle of them) or both (a grid of row bands by
channel slices), chosen by the compiler or forced; and a block whose input an earlier
program left spread over the cores, which the schedule moves to where the layers need
it. Every core sends from its message sequencer while its compute sequencer computes
(a part others read computed in row bands, theirs first, when that is faster),
and takes words while it computes in the banks its write-back leaves free; a last test
switches that bank-slot rule off and requires the conflict flag the model predicts. The
whole chip's Verilog is loaded, written, run and read through the host interface alone;
every output value must equal :mod:`sim.golden`'s, the run must last exactly the
compiler's predicted cycles (the chip's counter too), and no SRAM conflict or network
overrun may occur. Replay a failure with ``SEED=<seed>``.
"""

from dataclasses import replace

import pytest

from gen.array import Part, Split, _ArrayCompiler, compile_array
from gen.network import fuse_adds
from hdl.params import DEFAULT_CORE, ChipParams
from sim.tb.array_runner import run_array
from sim.tb.runner import seed_from_env, simulator
from sim.workloads import WORKLOADS, build
from tests.integration.test_core import assert_exact_run

#: (workload, bits, input shape or None, output width or None, forced splits).
CASES_2X2 = [
    ("conv_3x3_s1", 8, (8, 8, 16), None, {}),
    ("conv_3x3_s2", 4, None, None, {}),
    ("conv_1x1_expand", 8, None, None, {"layer": Split.CHANNELS}),
    ("maxpool_3x3_s2", 2, None, None, {}),
    ("fc", 8, None, None, {}),
    ("basic_block", 8, None, None, {}),
    ("basic_block_s2", 4, None, None, {"conv2": Split.CHANNELS}),
    ("bottleneck_block", 2, None, None, {}),
    ("conv_3x3_s1", 8, (8, 8, 16), None, {"layer": Split.GRID}),
]
CASES_4X4 = [
    ("stem_7x7_s2", 8, (32, 32, 3), None, {}),
    ("conv_3x3_s1", 4, (16, 16, 16), None, {}),
    ("global_avgpool", 8, None, None, {}),
    ("basic_block", 8, (16, 16, 16), None, {}),
    ("basic_block_s2", 8, (16, 16, 16), None, {"conv1": Split.CHANNELS}),
    ("bottleneck_block", 8, (16, 16, 16), None, {}),
    ("bottleneck_block", 8, (16, 16, 32), 16, {"conv2": Split.GRID, "add": Split.GRID}),
    # conv2's rows multicast to the four cores of conv3's channel split, as they compute.
    ("bottleneck_block", 8, (16, 16, 16), None, {"conv3": Split.CHANNELS}),
]

#: Blocks whose residual add is fused into the conv before it (``MACADD``, the fused layer
#: named as the add): (rows, columns, workload, bits, input shape, output width, splits).
CASES_FUSED = [
    (2, 2, "basic_block", 8, None, None, {}),
    (4, 4, "bottleneck_block", 4, (16, 16, 16), None, {}),
    # The fused layer by a grid: each core adds the residual rows and channels it writes.
    (4, 4, "bottleneck_block", 8, (16, 16, 32), 16, {"conv2": Split.GRID, "add": Split.GRID}),
]


def check_array(rows, columns, name, bits, shape, width, splits, *, sim, test_name, input_parts=None):
    seed = seed_from_env()
    network, frame = build(WORKLOADS[name], bits, seed, shape=shape, width=width)
    check_network_on_array(rows, columns, network, frame, splits, sim=sim, test_name=test_name,
                           context=f"{name} int{bits}", seed=seed, input_parts=input_parts)


def check_network_on_array(rows, columns, network, frame, splits, *, sim, test_name, context, seed,
                           input_parts=None, reference=None, core=DEFAULT_CORE):
    """Compile ``network`` for a ``rows`` x ``columns`` array of ``core`` s, run it on
    ``frame`` and check every output word against the golden model of ``reference``
    (default ``network``), the cycles and the flags; ``context`` and ``seed`` name the case."""
    reference = reference or network
    params = ChipParams(rows=rows, columns=columns, core=core)
    compiled = compile_array(network, params.core, rows, columns, splits, input_parts)
    plan = ", ".join(f"{p.name} by {p.split.value} over {len(p.parts)}" for p in compiled.plans)
    context = f"{context} on {rows}x{columns} ({plan}; SEED={seed})"
    values, result = run_array(compiled, frame, params, sim=sim, test_name=test_name)
    assert result["overrun"] == 0, f"{context}: the network refused a core's message"
    assert_exact_run(context, reference, reference.golden(frame), values, result, compiled.predicted_cycles,
                     counter="chip")
    for forced, split in splits.items():
        assert next(p for p in compiled.plans if p.name == forced).split == split


def _ids(cases):
    return [f"{name}-int{bits}" + "".join(f"-{layer}_by_{split.value}" for layer, split in splits.items())
            for name, bits, _, _, splits in cases]


@pytest.mark.parametrize("name, bits, shape, width, splits", CASES_2X2, ids=_ids(CASES_2X2))
def test_on_2x2(name, bits, shape, width, splits):
    check_array(2, 2, name, bits, shape, width, splits, sim=simulator("verilator"),
                test_name=f"array-2x2-{_ids([(name, bits, shape, width, splits)])[0]}")


@pytest.mark.parametrize("name, bits, shape, width, splits", CASES_4X4, ids=_ids(CASES_4X4))
def test_on_4x4(name, bits, shape, width, splits):
    check_array(4, 4, name, bits, shape, width, splits, sim=simulator("verilator"),
                test_name=f"array-4x4-{_ids([(name, bits, shape, width, splits)])[0]}")


@pytest.mark.parametrize("rows, columns, name, bits, shape, width, splits", CASES_FUSED,
                         ids=[f"{r}x{c}-" + _ids([case])[0] for r, c, *case in CASES_FUSED])
def test_fused_add(rows, columns, name, bits, shape, width, splits):
    """The block with its residual add fused (:func:`gen.network.fuse_adds`), against the
    golden model of the block as written."""
    seed = seed_from_env()
    network, frame = build(WORKLOADS[name], bits, seed, shape=shape, width=width)
    check_network_on_array(rows, columns, fuse_adds(network), frame, splits, sim=simulator("verilator"),
                           test_name=f"array-{rows}x{columns}-fused-{name}-int{bits}",
                           context=f"{name} fused int{bits}", seed=seed, reference=network)


def test_narrow_program_on_2x2():
    """Cores that fetch each instruction a word a cycle (``CoreParams.narrow_program``): the
    schedule's message slots, ``WAIT`` s and ``DELAY`` s all follow the longer fetch."""
    seed = seed_from_env()
    network, frame = build(WORKLOADS["basic_block"], 8, seed)
    check_network_on_array(2, 2, network, frame, {}, sim=simulator("verilator"),
                           test_name="array-2x2-basic_block-narrow-program", context="basic_block int8",
                           seed=seed, core=replace(DEFAULT_CORE, narrow_program=True))


def test_short_counts_and_four_tokens_on_2x2():
    """The leanest counters: loops that count to 16 (``CoreParams.count_width`` 4: the
    block's loops and ``DELAY`` s fit) and 4 tokens (``CoreParams.tokens``: the tensors a
    core is sent within a run take the one data token in turn)."""
    seed = seed_from_env()
    network, frame = build(WORKLOADS["basic_block"], 8, seed)
    check_network_on_array(2, 2, network, frame, {}, sim=simulator("verilator"),
                           test_name="array-2x2-basic_block-short-counts", context="basic_block int8",
                           seed=seed, core=replace(DEFAULT_CORE, count_width=4, tokens=4))


def test_bands_leave_while_the_rest_computes_on_2x2():
    """Each core computes first the rows of its band its neighbours read, in an instruction
    of its own, and its message sequencer sends them while it computes the rest."""
    seed = seed_from_env()
    network, frame = build(WORKLOADS["basic_block"], 8, seed)
    params = ChipParams(rows=2, columns=2)
    banded, whole = (compile_array(network, params.core, 2, 2, forward=forward) for forward in (True, False))

    def computes(compiled):
        return sum(i.opcode.computes for core in compiled.cores.values() for i in core.program)

    assert computes(banded) > computes(whole), "no part was computed in bands"
    assert sum(banded.sending_while_computing.values()) > sum(whole.sending_while_computing.values())
    assert banded.predicted_cycles < whole.predicted_cycles
    check_network_on_array(2, 2, network, frame, {}, sim=simulator("verilator"),
                           test_name="array-2x2-basic_block-bands", context="basic_block int8 in bands",
                           seed=seed)


def test_input_left_by_an_earlier_program_on_2x2():
    # The input's rows 0-3 split by words over two cores, rows 4-7 on a third, none on the
    # fourth: the host writes only those parts, the cores send the rest on.
    parts = {(0, 0): Part((0, 4), (0, 1)), (1, 0): Part((0, 4), (1, 2)), (1, 1): Part((4, 8), (0, 2))}
    check_array(2, 2, "basic_block", 8, (8, 8, 16), None, {}, sim=simulator("verilator"),
                test_name="array-2x2-basic_block-input-parts", input_parts=parts)


def test_conflict_flag_catches_a_word_on_a_write_back_bank(monkeypatch):
    """The bank-slot rule is what the hardware needs: with it switched off, the schedule
    lets words land in the banks the cores' write-back uses in the same cycle, the
    compiler's model says which, and the chip's SRAM conflict flag must rise."""
    seed = seed_from_env()
    network, frame = build(WORKLOADS["bottleneck_block"], 8, seed, shape=(16, 16, 32), width=16)
    clashes = []
    real_clash, real_violations = _ArrayCompiler._clash, _ArrayCompiler._violations

    def violations(self, *arguments):
        clashes.clear()             # only the last round, the final schedule, counts
        return real_violations(self, *arguments)

    def clash(self, first, arriving, begin, end, instruction):
        clashes.append(real_clash(self, first, arriving, begin, end, instruction) > 0)
        return 0

    monkeypatch.setattr(_ArrayCompiler, "_violations", violations)
    monkeypatch.setattr(_ArrayCompiler, "_clash", clash)
    params = ChipParams(rows=4, columns=4)
    compiled = compile_array(network, params.core, 4, 4, {"conv2": Split.GRID, "add": Split.GRID})
    assert any(clashes), f"SEED={seed}: the case no longer lands a word on a write-back"
    _, result = run_array(compiled, frame, params, sim=simulator("verilator"),
                          test_name="array-4x4-bank-slot-off")
    assert result["conflict"] == 1, f"SEED={seed}: {clashes.count(True)} clashes predicted, no conflict"
