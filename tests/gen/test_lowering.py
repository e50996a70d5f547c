"""The fast lowering steps write exactly the RTLIL that Amaranth's own steps write."""

import importlib.metadata

import numpy as np
import pytest
from amaranth import Module, signed, unsigned
from amaranth.back import rtlil
from amaranth.hdl import Fragment
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from gen.lowering import AMARANTH_VERSION, fast_emitter, memory_init_bits


class _Memories(wiring.Component):
    """Memories of several shapes and contents, each with a read port on the outputs."""

    def __init__(self, memories):
        self._memories = memories
        outputs = {f"data{i}": Out(shape) for i, (shape, _, _) in enumerate(memories)}
        super().__init__({"addr": In(8), **outputs})

    def elaborate(self, platform):
        m = Module()
        for i, (shape, depth, init) in enumerate(self._memories):
            m.submodules[f"memory{i}"] = memory = Memory(shape=shape, depth=depth, init=init)
            port = memory.read_port()
            m.d.comb += [port.addr.eq(self.addr), getattr(self, f"data{i}").eq(port.data)]
        return m


def _rtlil(component, fast):
    ports = [getattr(component, name) for name in component.signature.members]
    with fast_emitter(fast):
        text, _ = rtlil.convert_fragment(Fragment.get(component, None), ports, "top", emit_src=False)
    return text


def test_amaranth_is_the_version_the_fast_steps_reproduce():
    # Otherwise the fast steps are never installed and the test below compares Amaranth with itself.
    assert importlib.metadata.version("amaranth") == AMARANTH_VERSION


@pytest.mark.parametrize("seed", [0, 1])
def test_memory_init_same_rtlil(seed):
    rng = np.random.default_rng(seed)
    memories = [
        (unsigned(1), 5, [int(bit) for bit in rng.integers(0, 2, 5)]),
        (unsigned(13), 37, [int(word) for word in rng.integers(0, 1 << 13, 30)]),     # the rest zero
        (signed(9), 16, [int(word) for word in rng.integers(-256, 256, 16)]),         # negative words
        (unsigned(64), 8, []),                                                         # all zero
        (unsigned(70), 3, [(1 << 69) | 1, 0, (1 << 70) - 1]),
    ]
    fast, slow = _rtlil(_Memories(memories), True), _rtlil(_Memories(memories), False)
    assert fast.count("$meminit_v2") == len(memories)
    assert fast == slow, f"seed {seed}"


def test_memory_init_bits_order():
    # Word 0 = 0b01, word 1 = 0b10, 2 bits each: the last word's most significant bit first.
    assert memory_init_bits([0b01, 0b10], 2) == "4'1001"
    assert memory_init_bits([-1], 3) == "3'111"


def test_fast_emitter_restores_amaranth():
    original = rtlil.ModuleEmitter.emit_memory
    with fast_emitter():
        assert rtlil.ModuleEmitter.emit_memory is not original
    assert rtlil.ModuleEmitter.emit_memory is original


def test_collector_paused_restores_the_collector():
    import gc

    from gen.lowering import collector_paused
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()       # left as it was found
    finally:
        gc.enable()
