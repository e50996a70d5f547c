"""8N1 UART receiver and transmitter for the host bridge.

One start bit (low), eight data bits LSB first, one stop bit (high), ``divisor`` clock
cycles per bit.
"""

from amaranth import Cat, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["RX_LAYOUT", "START_BIT", "STOP_BIT", "DATA_BITS", "MIN_DIVISOR", "check_divisor", "UARTReceiver",
           "UARTTransmitter"]

START_BIT = 0
STOP_BIT = 1
DATA_BITS = 8
#: Fewest clock cycles per bit (the receiver samples mid-bit).
MIN_DIVISOR = 4
#: A received byte and whether its stop bit was bad.
RX_LAYOUT = data.StructLayout({"data": DATA_BITS, "error": 1})


def check_divisor(divisor):
    if not isinstance(divisor, int) or isinstance(divisor, bool):
        raise TypeError(f"UART divisor must be an integer, not {divisor!r}")
    if divisor < MIN_DIVISOR:
        raise ValueError(f"UART divisor must be at least {MIN_DIVISOR} clock cycles per bit, "
                         f"not {divisor!r}")


class UARTReceiver(wiring.Component):
    """Bytes from the ``rx`` line (synchronised outside).

    A byte appears on ``o_data`` (always ready: a UART cannot wait) in the cycle after
    its stop bit's middle, with ``o_data.payload.error`` set when the stop bit was low.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, at least 4.

    Attributes
    ----------
    rx : In(1)
    o_data : Out(stream.Signature(StructLayout({"data": 8, "error": 1}), always_ready=True))
    """

    def __init__(self, divisor):
        check_divisor(divisor)
        self._divisor = divisor
        super().__init__({
            "rx": In(1, init=STOP_BIT),
            "o_data": Out(stream.Signature(RX_LAYOUT, always_ready=True)),
        })

    def elaborate(self, platform):
        m = Module()
        timer = Signal(range(self._divisor + self._divisor // 2 + 1))
        bits = Signal(range(DATA_BITS + 1))
        shift = Signal(DATA_BITS)
        m.d.sync += self.o_data.valid.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.rx == START_BIT):
                    # To the middle of the first data bit.
                    m.d.sync += [timer.eq(self._divisor + self._divisor // 2 - 1), bits.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    m.d.sync += timer.eq(self._divisor - 1)
                    with m.If(bits == DATA_BITS):
                        m.d.sync += [self.o_data.valid.eq(1), self.o_data.payload.data.eq(shift),
                                     self.o_data.payload.error.eq(self.rx != STOP_BIT)]
                        m.next = "STOP"
                    with m.Else():
                        m.d.sync += [shift.eq(Cat(shift[1:], self.rx)), bits.eq(bits + 1)]
            with m.State("STOP"):
                # Wait for the line to return high before looking for the next start bit.
                with m.If(self.rx == STOP_BIT):
                    m.next = "IDLE"
        return m


class UARTTransmitter(wiring.Component):
    """Bytes from ``i_data`` onto the ``tx`` line, one every ``10 * divisor`` cycles.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, at least 4.

    Attributes
    ----------
    i_data : In(stream.Signature(8))
    tx : Out(1)
    """

    def __init__(self, divisor):
        check_divisor(divisor)
        self._divisor = divisor
        super().__init__({"i_data": In(stream.Signature(8)), "tx": Out(1, init=STOP_BIT)})

    def elaborate(self, platform):
        m = Module()
        frame_bits = DATA_BITS + 2
        timer = Signal(range(self._divisor))
        bits = Signal(range(frame_bits + 1))
        shift = Signal(frame_bits, init=(1 << frame_bits) - 1)
        m.d.comb += [self.tx.eq(shift[0]), self.i_data.ready.eq(bits == 0)]
        with m.If(self.i_data.valid & self.i_data.ready):
            m.d.sync += [shift.eq((STOP_BIT << (DATA_BITS + 1)) | (self.i_data.payload << 1) | START_BIT),
                         bits.eq(frame_bits), timer.eq(self._divisor - 1)]
        with m.Elif(bits != 0):
            m.d.sync += timer.eq(timer - 1)
            with m.If(timer == 0):
                m.d.sync += [timer.eq(self._divisor - 1), bits.eq(bits - 1),
                             shift.eq((shift >> 1) | (STOP_BIT << (frame_bits - 1)))]
        return m
