"""A core's banked SRAM: word-interleaved banks, several ports a cycle, conflict detection."""

from dataclasses import dataclass

from amaranth import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .params import LANE_WIDTH, SramParams

__all__ = ["SramPort", "BankedSram"]

_KINDS = ("read", "write")


@dataclass(frozen=True)
class SramPort:
    """One access port of a :class:`BankedSram`.

    Parameters
    ----------
    name : str
        Attribute name of the port on the SRAM.
    kind : str
        ``"read"`` or ``"write"``.
    span : int
        Consecutive words accessed per cycle (a MAC weight tile reads ``columns`` words);
        words ``addr .. addr + span - 1`` lie in ``span`` consecutive banks.
    channel : int
        Which of each bank's physical ports of the port's kind serves it (0 or more; a bank
        has as many read ports, and as many write ports, as the highest channel of the
        SRAM's ports of that kind plus one). Ports on different channels never conflict.
    """
    name: str
    kind: str
    span: int = 1
    channel: int = 0

    def __post_init__(self):
        if not self.name.isidentifier():
            raise ValueError(f"SRAM port name must be an identifier, not {self.name!r}")
        if self.kind not in _KINDS:
            raise ValueError(f"SRAM port kind must be one of {', '.join(_KINDS)}, "
                             f"not {self.kind!r}")
        if not isinstance(self.span, int) or self.span < 1:
            raise ValueError(f"SRAM port span must be a positive integer, not {self.span!r}")
        if not isinstance(self.channel, int) or isinstance(self.channel, bool) or self.channel < 0:
            raise ValueError(f"SRAM port channel must be a non-negative integer, not {self.channel!r}")

    def signature(self, params):
        word = LANE_WIDTH * params.word_bytes
        members = {"en": In(1), "addr": In(params.addr_width)}
        if self.kind == "read":
            members["data"] = Out(unsigned(word * self.span))
        else:
            members["data"] = In(unsigned(word * self.span))
            members["mask"] = In(params.word_bytes * self.span)
        return wiring.Signature(members)


def _two_or_more(bits):
    """Whether two or more of ``bits`` (1-bit values) are set, as a balanced tree.

    Each node combines its halves' ``(any set, two or more set)``, so the expression is
    ``log2(len(bits))`` deep however many requests a bank has: a chain as long as the
    requests would be as deep, and too deep to lower beyond a few hundred.
    """
    level = [(bit, 0) for bit in bits]
    while len(level) > 1:
        pairs = [(a_any | b_any, a_two | b_two | (a_any & b_any))
                 for (a_any, a_two), (b_any, b_two) in zip(level[0::2], level[1::2])]
        level = pairs + level[len(pairs) * 2:]
    return level[0][1] if level else 0


def _select(index, values):
    """``values[index]`` for ``2**len(index)`` values, as a balanced tree of multiplexers.

    Level ``k`` chooses by bit ``k`` of ``index``, so the tree is ``len(index)`` deep; a
    chain comparing ``index`` with every number would be ``len(values)`` deep, and too
    deep to lower for a few hundred banks.
    """
    for bit in range(len(index)):
        values = [Mux(index[bit], high, low) for low, high in zip(values[0::2], values[1::2])]
    return values[0]


def _rotate(m, amount, values, name):
    """``values`` (``2**len(amount)`` of them, of one width) rotated by ``amount`` places:
    element ``i`` of the result is ``values[(i + amount) % len(values)]``, as ``len(amount)``
    levels of ``len(values)`` multiplexers (a barrel rotator). Each level is a signal in
    ``m`` (``<name>_rotated<level>``), which the next level reads: nested expressions
    would be lowered once per use, a whole tree per element."""
    width = len(values[0])
    for bit in range(len(amount)):
        step = 1 << bit
        level = Signal(width * len(values), name=f"{name}_rotated{bit}")
        m.d.comb += level.eq(Cat(*(Mux(amount[bit], values[(i + step) % len(values)], value)
                                   for i, value in enumerate(values))))
        values = [level.word_select(i, width) for i in range(len(values))]
    return values


class BankedSram(wiring.Component):
    """Banked single-cycle SRAM with several read and write ports and a conflict flag.

    ``params.banks`` banks of memory with ``write_channels`` write and ``channels`` read
    ports per bank per cycle (one of each: simple dual-port memory, as FPGA block RAM and
    SRAM macros offer; more reads: each channel a read port of its own, which FPGA tools
    build by replicating the block; more writes: a multi-port memory), in one word address
    space interleaved word by word (word ``a`` in bank ``a % banks``, row ``a // banks``).
    In a cycle every port may access ``span`` consecutive words; the compiler's schedule
    keeps the accesses of one cycle in distinct banks (per channel) and the writes of one
    cycle at distinct words. If two reads, or two writes, on one channel reach one bank in
    the same cycle, the lowest-numbered port (in ``ports`` order) is served and the sticky
    ``conflict`` flag rises; only reset clears it.

    Timing: read data appears on ``<port>.data`` the cycle after ``en`` (``LATENCY`` =
    1), valid for that cycle; a write lands at the clock edge
    ending its cycle (byte ``i`` of the port's data only where ``mask[i]`` is set). A
    read in the cycle of a write to the same word returns the old data.

    Parameters
    ----------
    params : SramParams
    ports : sequence of SramPort
        The ports, in priority order; names must be distinct.
    single_port : bool
        False: each bank's read and write ports are apart (simple dual-port memory). True:
        each bank has one port for both, one access a cycle (a single-port SRAM, such as the
        iCE40's SPRAM, which Yosys infers only for a memory whose read and write share an
        address), for an SRAM that is read and written in different phases, such as a
        core's weights (written while the core is idle, read while it runs). The ports must
        then all be on channel 0. A read and a write of one bank in one cycle is a conflict:
        the write is served, and the read's data is the bank's last read word, held.

    Attributes
    ----------
    <port name> : In(SramPort.signature(params))
        ``en``, ``addr`` (word address), ``data`` (``span`` words, lowest address in the
        low bits) and for write ports ``mask`` (one bit per byte).
    conflict : Out(1)
        Sticky: some bank received two reads or two writes in one cycle (or, single-port, a
        read and a write).
    LATENCY : int
        Read latency in cycles: 1.
    """

    LATENCY = 1

    def __init__(self, params, ports, *, single_port=False):
        if not isinstance(params, SramParams):
            raise TypeError(f"BankedSram params must be an SramParams, not {params!r}")
        ports = tuple(ports)
        if not ports or not all(isinstance(port, SramPort) for port in ports):
            raise TypeError(f"BankedSram ports must be a non-empty sequence of SramPort, "
                            f"not {ports!r}")
        names = [port.name for port in ports]
        if len(set(names)) != len(names) or "conflict" in names:
            raise ValueError(f"BankedSram port names must be distinct and not 'conflict', "
                             f"not {names!r}")
        for port in ports:
            if port.span > params.banks:
                raise ValueError(f"SRAM port {port.name} span must be at most the "
                                 f"{params.banks} banks, not {port.span!r}")
        if single_port and any(port.channel for port in ports):
            raise ValueError(f"a single-port BankedSram takes its ports on channel 0, not "
                             f"{[(port.name, port.channel) for port in ports if port.channel]!r}")
        self._params = params
        self._ports = ports
        self._single_port = bool(single_port)
        members = {port.name: In(port.signature(params)) for port in ports}
        members["conflict"] = Out(1)
        super().__init__(members)

    @property
    def params(self):
        return self._params

    @property
    def channels(self):
        """Read ports of each bank."""
        return 1 + max((port.channel for port in self._ports if port.kind == "read"), default=0)

    @property
    def write_channels(self):
        """Write ports of each bank."""
        return 1 + max((port.channel for port in self._ports if port.kind == "write"), default=0)

    def _requests(self, m, kind, channel=0):
        """Every word access of ``kind`` on ``channel``: (port, word index, bank, row, enable).

        A word's address after the first is a signal in ``m`` (``<port>_w<word>_addr``): every
        bank compares and takes it, and an expression would be lowered, its adder and all,
        once per bank.
        """
        params = self._params
        requests = []
        for port in self._ports:
            if port.kind != kind or port.channel != channel:
                continue
            interface = getattr(self, port.name)
            for word in range(port.span):
                address = interface.addr
                if word:
                    address = Signal(params.addr_width, name=f"{port.name}_w{word}_addr")
                    m.d.comb += address.eq(interface.addr + word)       # modulo the address space
                bank = address[:params.bank_bits] if params.bank_bits else 0
                requests.append((port, word, bank, address[params.bank_bits:], interface.en))
        return requests

    def _arbitrate(self, m, bank, requests, name):
        """Per bank: which requests hit it, the winner's index, and whether two collide."""
        hits = [Signal(name=f"{name}_b{bank}_hit{i}") for i in range(len(requests))]
        for hit, (_, _, request_bank, _, enable) in zip(hits, requests):
            m.d.comb += hit.eq(enable & (request_bank == bank))
        collision = Signal(name=f"{name}_b{bank}_collision")
        m.d.comb += collision.eq(_two_or_more(hits))
        return hits, collision

    def elaborate(self, platform):
        m = Module()
        params = self._params
        word_width = LANE_WIDTH * params.word_bytes
        reads = [self._requests(m, "read", channel) for channel in range(self.channels)]
        writes = [self._requests(m, "write", channel) for channel in range(self.write_channels)]
        collisions = []
        read_ports = [[] for _ in range(self.channels)]     # by channel, by bank
        for bank in range(params.banks):
            memory = Memory(shape=unsigned(word_width), depth=params.depth, init=[])
            m.submodules[f"bank{bank}"] = memory
            # A single-port bank's one row address: the read's, or the write's when it writes.
            shared = Signal(range(params.depth), name=f"b{bank}_row") if self._single_port else None
            accessed = {}
            for channel, requests in enumerate(reads):
                read_port = memory.read_port(transparent_for=())
                read_ports[channel].append(read_port)
                hits, collision = self._arbitrate(m, bank, requests, f"read{channel or ''}")
                collisions.append(collision)
                accessed["read"] = Cat(*hits).any()
                for hit, (_, _, _, row, _) in reversed(list(zip(hits, requests))):
                    with m.If(hit):
                        m.d.comb += [(shared if shared is not None else read_port.addr).eq(row),
                                     read_port.en.eq(1)]

            for channel, requests in enumerate(writes):
                write_port = memory.write_port(granularity=LANE_WIDTH)
                hits, collision = self._arbitrate(m, bank, requests, f"write{channel or ''}")
                collisions.append(collision)
                accessed["write"] = Cat(*hits).any()
                for hit, (port, word, _, row, _) in reversed(list(zip(hits, requests))):
                    interface = getattr(self, port.name)
                    with m.If(hit):
                        m.d.comb += [
                            (shared if shared is not None else write_port.addr).eq(row),
                            write_port.data.eq(interface.data.word_select(word, word_width)),
                            write_port.en.eq(interface.mask.word_select(word, params.word_bytes)),
                        ]
            if shared is not None:
                m.d.comb += [read_port.addr.eq(shared), write_port.addr.eq(shared)]
                collisions.append(accessed["read"] & accessed["write"])
                # No read in a write's cycle: the read data holds, as a single-port RAM's does.
                with m.If(accessed["write"]):
                    m.d.comb += read_port.en.eq(0)

        # Read data returns from the bank each word was addressed to a cycle earlier. Word
        # ``w`` of a port is in bank ``(first + w) % banks``, ``first`` its first word's: a
        # wide port takes the banks' data rotated by ``first`` (``bank_bits`` levels of
        # ``banks`` multiplexers), a narrow one a tree per word (``banks - 1`` each).
        for port in self._ports:
            if port.kind != "read":
                continue
            interface = getattr(self, port.name)
            banks = read_ports[port.channel]
            if params.bank_bits and params.bank_bits * params.banks < port.span * (params.banks - 1):
                _, _, first, _, _ = next(r for r in reads[port.channel] if r[0] is port)
                first_then = Signal(params.bank_bits, name=f"{port.name}_bank")
                m.d.sync += first_then.eq(first)
                rotated = _rotate(m, first_then, [bank.data for bank in banks], port.name)
                m.d.comb += interface.data.eq(Cat(*rotated[:port.span]))
                continue
            words = []
            for word, (_, _, bank, _, _) in enumerate(r for r in reads[port.channel] if r[0] is port):
                if not params.bank_bits:
                    words.append(banks[0].data)
                    continue
                bank_then = Signal(params.bank_bits, name=f"{port.name}_w{word}_bank")
                m.d.sync += bank_then.eq(bank)
                words.append(_select(bank_then, [bank.data for bank in banks]))
            m.d.comb += interface.data.eq(Cat(*words))

        with m.If(Cat(*collisions).any()):
            m.d.sync += self.conflict.eq(1)
        return m
