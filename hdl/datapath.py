"""The compute datapath of a core: the SIMD MAC array feeding the requantize unit."""

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from .mac import MacArray
from .params import MacParams
from .requantize import Requantizer, requantize_settings_layout

__all__ = ["Datapath"]


class Datapath(wiring.Component):
    """MAC array and requantize unit in series: packed vectors in, packed results out.

    Each finished accumulation of the :class:`~hdl.mac.MacArray` goes straight into the
    :class:`~hdl.requantize.Requantizer` together with ``settings``, the requantization
    settings of the tile being computed (bias, multiplier and shift per output column;
    zero point, clamp and output precision per layer). ``settings`` is sampled when an
    accumulation leaves the MAC array, so it must hold its value from the ``first``
    vector of a tile until ``LATENCY`` cycles after its ``last`` one; the core changes
    it only between tiles.

    Parameters
    ----------
    params : MacParams
        Lanes K and columns N.

    Attributes
    ----------
    i_data : In(stream.Signature(...), always_ready)
        The MAC array's input: packed activations, weights, precision, first, last.
    settings : In(requantize_settings_layout(N))
        Requantization settings of the current tile.
    o_data : Out(stream.Signature(data.ArrayLayout(unsigned(8), N)), always_ready)
        One packed output vector per accumulation (layout as the requantize unit's).
    LATENCY : int
        Cycles from an input with ``last`` to its ``o_data.valid``:
        ``MacArray.LATENCY + Requantizer.LATENCY``.
    """

    def __init__(self, params):
        if not isinstance(params, MacParams):
            raise TypeError(f"Datapath params must be a MacParams, not {params!r}")
        self._params = params
        self._mac = MacArray(params)
        self._requantizer = Requantizer(params)
        self.LATENCY = self._mac.LATENCY + self._requantizer.LATENCY
        super().__init__({
            "i_data": self._mac.signature.members["i_data"],
            "settings": In(requantize_settings_layout(params.columns)),
            "o_data": self._requantizer.signature.members["o_data"],
        })

    @property
    def params(self):
        return self._params

    def elaborate(self, platform):
        m = Module()
        m.submodules.mac = mac = self._mac
        m.submodules.requantizer = requantizer = self._requantizer

        wiring.connect(m, wiring.flipped(self.i_data), mac.i_data)
        m.d.comb += [
            requantizer.i_data.valid.eq(mac.o_acc.valid),
            requantizer.i_data.payload.acc.eq(mac.o_acc.payload),
        ]
        for field in requantize_settings_layout(self._params.columns).members:
            m.d.comb += requantizer.i_data.payload[field].eq(self.settings[field])
        wiring.connect(m, requantizer.o_data, wiring.flipped(self.o_data))
        return m
