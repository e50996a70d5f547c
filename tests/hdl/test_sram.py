"""The banked SRAM in Amaranth's simulator, against a dictionary model of its words."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from hdl.params import SramParams
from hdl.sram import BankedSram, SramPort

PARAMS = SramParams(banks=8, word_bytes=4, depth=16)
PORTS = [SramPort("weights", "read", span=4), SramPort("activations", "read"),
         SramPort("writeback", "write"), SramPort("host", "write")]
WORD = 8 * PARAMS.word_bytes


def run(testbench, ports=PORTS, **options):
    dut = BankedSram(PARAMS, ports, **options)
    simulator = Simulator(dut)
    simulator.add_clock(1e-8)

    async def bench(ctx):
        await testbench(ctx, dut)
    simulator.add_testbench(bench)
    simulator.run()


async def host_writes(ctx, dut, words):
    """Write each ``(address, value)`` of ``words`` whole through port ``host``, a cycle each."""
    for address, value in words:
        ctx.set(dut.host.en, 1)
        ctx.set(dut.host.addr, address)
        ctx.set(dut.host.data, value)
        ctx.set(dut.host.mask, 0xF)
        await ctx.tick()
    ctx.set(dut.host.en, 0)


def conflict_free_cycle(rng):
    """Addresses for one cycle whose reads, and whose writes, fall in distinct banks."""
    while True:
        weights = int(rng.integers(PARAMS.words))
        activations, writeback, host = (int(a) for a in rng.integers(PARAMS.words, size=3))
        read_banks = [(weights + j) % PARAMS.banks for j in range(4)] + \
            [activations % PARAMS.banks]
        if len(set(read_banks)) == 5 and writeback % PARAMS.banks != host % PARAMS.banks:
            return weights, activations, writeback, host


@pytest.mark.parametrize("seed", [1, 2])
def test_random_conflict_free_traffic(seed):
    rng = np.random.default_rng(seed)
    model = {a: 0 for a in range(PARAMS.words)}
    checked = []

    async def testbench(ctx, dut):
        for _ in range(400):
            weights, activations, writeback, host = conflict_free_cycle(rng)
            writes = []
            for port, address in ((dut.writeback, writeback), (dut.host, host)):
                data = int(rng.integers(1 << WORD))
                mask = int(rng.integers(1 << PARAMS.word_bytes))
                ctx.set(port.en, 1)
                ctx.set(port.addr, address)
                ctx.set(port.data, data)
                ctx.set(port.mask, mask)
                writes.append((address, data, mask))
            ctx.set(dut.weights.en, 1)
            ctx.set(dut.weights.addr, weights)
            ctx.set(dut.activations.en, 1)
            ctx.set(dut.activations.addr, activations)
            # Reads see the words as they were before this cycle's writes.
            now = (sum(model[(weights + j) % PARAMS.words] << (WORD * j) for j in range(4)),
                   model[activations])
            await ctx.tick()     # the reads' data is visible right after the edge
            checked.append(now == (ctx.get(dut.weights.data), ctx.get(dut.activations.data)))
            for address, data, mask in writes:
                for byte in range(PARAMS.word_bytes):
                    if mask >> byte & 1:
                        keep = ~(0xFF << (8 * byte))
                        model[address] = model[address] & keep | data & (0xFF << (8 * byte))
        assert ctx.get(dut.conflict) == 0

    run(testbench)
    assert len(checked) == 400 and all(checked), f"seed {seed}: {checked.count(False)} bad reads"


@pytest.mark.parametrize("kind", ["read", "write"])
def test_conflict_is_flagged_and_sticky(kind):
    async def testbench(ctx, dut):
        assert ctx.get(dut.conflict) == 0
        if kind == "read":   # activations word 9 sits in bank 1, inside the tile 8..11
            ctx.set(dut.weights.en, 1)
            ctx.set(dut.weights.addr, 8)
            ctx.set(dut.activations.en, 1)
            ctx.set(dut.activations.addr, 9)
        else:                # words 3 and 11 share bank 3
            for port, address in ((dut.writeback, 3), (dut.host, 11)):
                ctx.set(port.en, 1)
                ctx.set(port.addr, address)
                ctx.set(port.mask, 0xF)
        await ctx.tick()
        for port in (dut.weights, dut.activations, dut.writeback, dut.host):
            ctx.set(port.en, 0)
        assert ctx.get(dut.conflict) == 1
        await ctx.tick().repeat(3)
        assert ctx.get(dut.conflict) == 1
    run(testbench)


@pytest.mark.parametrize("kind", ["read", "write"])
@pytest.mark.parametrize("enabled", [(1, 0), (0, 1), (1, 1)])
def test_conflict_counts_only_enabled_ports(kind, enabled):
    """Two ports address one bank in one cycle: a conflict only if both are enabled; with
    one enabled, that port's access goes through as if the other were absent."""
    if kind == "read":      # weights 8..11 and activations 9 share bank 1
        ports, addresses = ("weights", "activations"), (8, 9)
    else:                   # words 3 and 11 share bank 3
        ports, addresses = ("writeback", "host"), (3, 11)
    values = {8 + j: 0x1111 * (j + 1) for j in range(4)}

    async def testbench(ctx, dut):
        await host_writes(ctx, dut, values.items())
        assert ctx.get(dut.conflict) == 0
        for name, address, en, value in zip(ports, addresses, enabled, (0xAAAA, 0x5555)):
            port = getattr(dut, name)
            ctx.set(port.en, en)
            ctx.set(port.addr, address)
            if kind == "write":
                ctx.set(port.data, value)
                ctx.set(port.mask, 0xF)
        await ctx.tick()
        reads = ctx.get(dut.weights.data), ctx.get(dut.activations.data)
        for name in ports:
            ctx.set(getattr(dut, name).en, 0)
        assert ctx.get(dut.conflict) == all(enabled), f"enables {enabled}"
        if all(enabled):
            return
        if kind == "read":
            expected = (sum(values[8 + j] << (WORD * j) for j in range(4)), values[9])
            assert [r for r, en in zip(reads, enabled) if en] == \
                [e for e, en in zip(expected, enabled) if en]
        else:               # read back the word the enabled port wrote
            address, value = [(a, v) for a, v, en in zip(addresses, (0xAAAA, 0x5555), enabled)
                              if en][0]
            ctx.set(dut.activations.en, 1)
            ctx.set(dut.activations.addr, address)
            await ctx.tick()
            assert ctx.get(dut.activations.data) == value
    run(testbench)


def test_same_bank_different_kinds_is_no_conflict():
    async def testbench(ctx, dut):
        ctx.set(dut.activations.en, 1)
        ctx.set(dut.activations.addr, 5)
        ctx.set(dut.host.en, 1)
        ctx.set(dut.host.addr, 13)        # bank 5 too: one read and one write is fine
        ctx.set(dut.host.mask, 0xF)
        await ctx.tick()
        assert ctx.get(dut.conflict) == 0
    run(testbench)


def test_reads_on_two_channels_of_one_bank():
    """Each channel is a read port of its own: both read bank 3 in one cycle, no conflict;
    two reads of one channel in one bank still conflict."""
    ports = [SramPort("compute", "read"), SramPort("send", "read", channel=1),
             SramPort("other", "read", channel=1), SramPort("host", "write")]

    async def testbench(ctx, dut):
        await host_writes(ctx, dut, ((3, 0x1234), (11, 0x5678)))
        for port, address in ((dut.compute, 3), (dut.send, 11)):
            ctx.set(port.en, 1)
            ctx.set(port.addr, address)
        await ctx.tick()
        assert (ctx.get(dut.compute.data), ctx.get(dut.send.data)) == (0x1234, 0x5678)
        assert ctx.get(dut.conflict) == 0
        ctx.set(dut.compute.en, 0)
        ctx.set(dut.other.en, 1)
        ctx.set(dut.other.addr, 19)
        await ctx.tick()
        assert ctx.get(dut.conflict) == 1
    run(testbench, ports)


def test_writes_on_two_channels_of_one_bank():
    """Each write channel is a write port of its own: both write bank 2 in one cycle, no
    conflict, and both words land; two writes of one channel in one bank still conflict."""
    ports = [SramPort("compute", "read"), SramPort("o", "write"), SramPort("host", "write", channel=1),
             SramPort("other", "write", channel=1)]

    async def testbench(ctx, dut):
        for port, address, value in ((dut.o, 2, 0x1111), (dut.host, 10, 0x2222)):
            ctx.set(port.en, 1)
            ctx.set(port.addr, address)
            ctx.set(port.data, value)
            ctx.set(port.mask, 0xF)
        await ctx.tick()
        ctx.set(dut.o.en, 0)
        ctx.set(dut.host.en, 0)
        assert ctx.get(dut.conflict) == 0
        read = []
        for address in (2, 10):
            ctx.set(dut.compute.en, 1)
            ctx.set(dut.compute.addr, address)
            await ctx.tick()
            read.append(ctx.get(dut.compute.data))
        assert read == [0x1111, 0x2222]
        for port, address in ((dut.host, 18), (dut.other, 26)):
            ctx.set(port.en, 1)
            ctx.set(port.addr, address)
            ctx.set(port.mask, 0xF)
        await ctx.tick()
        assert ctx.get(dut.conflict) == 1
    run(testbench, ports)


def test_many_banks():
    """Hundreds of banks elaborate (the read-data multiplexer is a tree as deep as the
    bank number's bits, not a chain as deep as the banks, which Amaranth cannot lower
    beyond a few hundred) and read back the words written; two reads of one bank still
    conflict."""
    params = SramParams(banks=512, word_bytes=1, depth=2)
    dut = BankedSram(params, [SramPort("pair", "read", span=2), SramPort("one", "read"),
                              SramPort("host", "write")])
    words = {0: 0x11, 1: 0x22, 511: 0x33, 512: 0x44, 1023: 0x55}

    async def testbench(ctx):
        ctx.set(dut.host.mask, 1)
        for address, value in words.items():
            ctx.set(dut.host.en, 1)
            ctx.set(dut.host.addr, address)
            ctx.set(dut.host.data, value)
            await ctx.tick()
        ctx.set(dut.host.en, 0)
        ctx.set(dut.pair.en, 1)
        for address in (0, 511, 1023):        # 1023 wraps to word 0: banks 511 and 0
            ctx.set(dut.pair.addr, address)
            await ctx.tick()
            second = (address + 1) % params.words
            assert ctx.get(dut.pair.data) == words[address] | words.get(second, 0) << 8, address
        assert ctx.get(dut.conflict) == 0
        ctx.set(dut.one.en, 1)
        ctx.set(dut.one.addr, 512)            # bank 0, which the pair reads too
        await ctx.tick()
        assert ctx.get(dut.conflict) == 1

    simulator = Simulator(dut)
    simulator.add_clock(1e-8)
    simulator.add_testbench(testbench)
    simulator.run()


@pytest.mark.parametrize("ports, error, message", [
    ([], TypeError, r"^BankedSram ports must be a non-empty sequence of SramPort, not \(\)$"),
    ([SramPort("a", "read"), SramPort("a", "write")], ValueError,
     r"^BankedSram port names must be distinct and not 'conflict', not \['a', 'a'\]$"),
    ([SramPort("a", "read", span=16)], ValueError,
     r"^SRAM port a span must be at most the 8 banks, not 16$"),
])
def test_ports_wrong(ports, error, message):
    with pytest.raises(error, match=message):
        BankedSram(PARAMS, ports)


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "1x", "kind": "read"}, r"^SRAM port name must be an identifier, not '1x'$"),
    ({"name": "a", "kind": "modify"}, r"^SRAM port kind must be one of read, write, not 'modify'$"),
    ({"name": "a", "kind": "read", "span": 0}, r"^SRAM port span must be a positive integer, not 0$"),
    ({"name": "a", "kind": "write", "channel": True},
     r"^SRAM port channel must be a non-negative integer, not True$"),
    ({"name": "a", "kind": "read", "channel": -1},
     r"^SRAM port channel must be a non-negative integer, not -1$"),
])
def test_port_wrong(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SramPort(**kwargs)


@pytest.mark.parametrize("kwargs, message", [
    ({"banks": 3}, r"^SRAM banks must be a power of two of at least 1, not 3$"),
    ({"depth": 1}, r"^SRAM depth must be a power of two of at least 2, not 1$"),
])
def test_params_wrong(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SramParams(**kwargs)


def test_params_derived():
    assert (PARAMS.words, PARAMS.size_bytes, PARAMS.addr_width, PARAMS.bank_bits) == \
        (128, 512, 7, 3)


#: A weight SRAM's ports: a tile read and the host's writes, never in one cycle.
SINGLE_PORTS = [SramPort("tile", "read", span=4), SramPort("host", "write")]


def test_single_port_reads_what_was_written():
    """Each bank one port: the host's words, then the tiles read back, with no conflict."""
    rng = np.random.default_rng(3)
    words = {address: int(rng.integers(1 << WORD)) for address in range(PARAMS.words)}

    async def testbench(ctx, dut):
        await host_writes(ctx, dut, words.items())
        for first in range(0, PARAMS.words, 4):
            ctx.set(dut.tile.en, 1)
            ctx.set(dut.tile.addr, first)
            await ctx.tick()
            got = ctx.get(dut.tile.data)
            expected = sum(words[first + j] << (j * WORD) for j in range(4))
            assert got == expected, f"tile at {first}: expected {expected:#x}, got {got:#x}"
        assert ctx.get(dut.conflict) == 0
    run(testbench, SINGLE_PORTS, single_port=True)


def test_single_port_read_and_write_of_one_bank_conflict():
    """A read and a write of one bank in one cycle: a conflict, the write served, the read's
    data held. Another bank's read beside the write is none."""
    async def testbench(ctx, dut):
        await host_writes(ctx, dut, ((9, 0xAAAA),))
        ctx.set(dut.tile.en, 1)
        ctx.set(dut.tile.addr, 0)            # banks 0 to 3
        ctx.set(dut.host.en, 1)
        ctx.set(dut.host.addr, 12)           # bank 4
        ctx.set(dut.host.data, 0x5555)
        ctx.set(dut.host.mask, 0xF)
        await ctx.tick()
        assert ctx.get(dut.conflict) == 0
        held = ctx.get(dut.tile.data)
        ctx.set(dut.host.addr, 17)           # bank 1, row 2, read at row 0
        await ctx.tick()
        assert ctx.get(dut.conflict) == 1
        assert ctx.get(dut.tile.data) == held
        ctx.set(dut.host.en, 0)
        ctx.set(dut.tile.addr, 16)           # the written word landed
        await ctx.tick()
        assert (ctx.get(dut.tile.data) >> WORD) & ((1 << WORD) - 1) == 0x5555
    run(testbench, SINGLE_PORTS, single_port=True)


def test_single_port_takes_channel_0_only():
    with pytest.raises(ValueError, match=r"^a single-port BankedSram takes its ports on channel 0, not "
                                         r"\[\('send', 1\)\]$"):
        BankedSram(PARAMS, [*SINGLE_PORTS, SramPort("send", "read", channel=1)], single_port=True)
