"""The core's control on its Verilog: the bank-conflict flag and the token ports, cycle-exact.

Hand-built programs (:class:`hdl.isa.Instruction`) are loaded through the host port the
way the compiler's are (:meth:`gen.compiler.Compiled.load_words`), on the Verilator build
the core tests share:

- an ``ADD`` whose two operand streams read one activation bank every cycle must raise
  the sticky ``conflict`` flag, the same ``ADD`` with operands one bank apart must not,
  and neither must a compiled program;
- ``SIGNAL 3; WAIT 1; HALT`` must pulse ``o_tokens`` bit 3 for one cycle, and raise
  ``done`` in the cycle :func:`sim.tb.core_control.token_timing` predicts for a pulse of
  ``i_tokens`` bit 1 in a chosen cycle;
- a message program beside a compute program runs on its own timing, and ``done``
  waits for the later of the two.
"""


import pytest

from gen.compiler import Compiled
from hdl.core import Core
from hdl.isa import Instruction, Opcode, Stream
from hdl.params import CoreParams
from sim.cycle import program_cycles, token_timing
from sim.tb.core_runner import run_on_core
from sim.tb.runner import elaborated, run_job, seed_from_env, simulator
from sim.workloads import LAYERS, build

PARAMS = CoreParams()
WORD = PARAMS.word_bytes
#: Cycles a run may take beyond its prediction before the testbench declares it hung.
TIMEOUT_MARGIN = 100


def load_words(program, settings_entries=1, messages=(Instruction(Opcode.HALT),)):
    """Host writes loading ``program`` (and the message program ``messages``) and
    ``settings_entries`` zero settings entries."""
    entry = bytes(PARAMS.settings_entry_words * WORD)
    compiled = Compiled(PARAMS, network=None, program=tuple(program), buffers={},
                        predicted_cycles=program_cycles(program, PARAMS), weight_image=b"",
                        settings_image=(entry,) * settings_entries, messages=tuple(messages))
    return compiled.load_words()


def run_core_job(test_name, test_module, job, **kwargs):
    """Write ``job`` for the testbench in ``sim.tb.<test_module>``, run it, return its result."""
    return run_job(elaborated(Core, PARAMS, "core"), toplevel="core", test_module=test_module,
                   test_name=test_name, sim=simulator("verilator"), job=job, **kwargs)


def add_program(b_words):
    """An ``ADD`` of 4 words from word 0 and 4 words from word ``b_words``, one word apart
    each element, into word 256 on; then ``HALT``."""
    one_word = (WORD,)
    return (Instruction(Opcode.ADD, counts=(4,), a=Stream(0, one_word), b=Stream(b_words * WORD, one_word),
                        o=Stream(256 * WORD, one_word), s=Stream(0)),
            Instruction(Opcode.HALT))


@pytest.mark.parametrize("b_words, conflict", [
    (PARAMS.activation_banks, 1),         # word 4 + i shares bank i with word i: every cycle
    (PARAMS.activation_banks + 1, 0),     # one bank apart
], ids=["same-bank", "distinct-banks"])
def test_conflict_flag(b_words, conflict):
    program = add_program(b_words)
    predicted = program_cycles(program, PARAMS)
    result = run_core_job(f"core-control-conflict-{b_words}", "core", {
        "load": load_words(program), "input": [], "outputs": {}, "predicted_cycles": predicted})
    assert result["conflict"] == conflict, \
        f"b at word {b_words}: conflict flag {result['conflict']}, expected {conflict}"
    assert result["cycles"] == result["counter"] == predicted


def test_conflict_flag_clear_after_compiled_program():
    seed = seed_from_env()
    network, x = build(LAYERS["fc"], 8, seed)
    compiled, result, _ = run_on_core(simulator("verilator"), "core-control-fc", network, x)
    assert result["conflict"] == 0, f"SEED={seed}: a compiled program raised the conflict flag"
    assert result["cycles"] == compiled.predicted_cycles, f"SEED={seed}"


TOKEN_PROGRAM = (Instruction(Opcode.SIGNAL, token=3), Instruction(Opcode.WAIT, token=1),
                 Instruction(Opcode.HALT))


@pytest.mark.parametrize("pulse", [-1, 2, 4, 5, 17])
def test_tokens(pulse):
    """``pulse``: the cycle ``i_tokens`` bit 1 is high in (``-1``: with ``start``; by 4 the
    token is remembered before the ``WAIT`` looks, from 5 on the ``WAIT`` waits for it)."""
    signals, done = token_timing(TOKEN_PROGRAM, PARAMS, [(pulse, 1)])
    assert signals == [(2, 3)]
    assert done == max(program_cycles(TOKEN_PROGRAM, PARAMS), pulse + 4)
    result = run_core_job(f"core-control-tokens-{pulse}", "core_control", {
        "load": load_words(TOKEN_PROGRAM, settings_entries=0), "pulses": [[pulse, 1 << 1]],
        "limit": done + TIMEOUT_MARGIN}, testcase="run_tokens")
    assert result["signals"] == [[cycle, 1 << token] for cycle, token in signals], \
        f"o_tokens pulses {result['signals']}, predicted {signals}"
    assert result["done"] == done, f"i_tokens pulsed in cycle {pulse}: done in cycle {result['done']}, " \
                                   f"predicted {done}"
    assert result["counter"] == done
    assert result["conflict"] == 0


@pytest.mark.parametrize("pulse", [3, 40])
def test_message_sequencer_runs_beside_the_compute_sequencer(pulse):
    """The message program (from ``message_entry``) runs from the same ``start`` as the
    compute program: its ``SIGNAL`` pulses when its own timing says, whatever the compute
    sequencer waits for, and the core is done when the later of the two halts."""
    compute = (Instruction(Opcode.WAIT, token=1), Instruction(Opcode.HALT))
    messages = (Instruction(Opcode.DELAY, counts=(10,)), Instruction(Opcode.SIGNAL, token=4),
                Instruction(Opcode.HALT))
    _, compute_done = token_timing(compute, PARAMS, [(pulse, 1)])
    signals, messages_done = token_timing(messages, PARAMS)
    done = max(compute_done, messages_done)
    assert signals == [(14, 4)] and (compute_done > messages_done) == (pulse == 40)
    result = run_core_job(f"core-control-two-sequencers-{pulse}", "core_control", {
        "load": load_words(compute, settings_entries=0, messages=messages), "pulses": [[pulse, 1 << 1]],
        "limit": done + TIMEOUT_MARGIN}, testcase="run_tokens")
    assert result["signals"] == [[cycle, 1 << token] for cycle, token in signals], \
        f"o_tokens pulses {result['signals']}, predicted {signals}"
    assert result["done"] == result["counter"] == done, f"done in cycle {result['done']}, predicted {done}"
    assert result["conflict"] == 0
