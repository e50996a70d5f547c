"""The compute datapath of a core: the SIMD MAC array feeding the requantize unit."""

from amaranth import Module, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In

from .mac import MacArray
from .params import ACC_WIDTH, LANE_WIDTH, SHIFT_WIDTH, MacParams, Precision
from .requantize import Requantizer

__all__ = ["Datapath", "settings_layout"]


def settings_layout(columns):
    """Layout of the per-tile requantization settings: per column, then per layer."""
    return data.StructLayout({
        "bias": data.ArrayLayout(signed(ACC_WIDTH), columns),
        "multiplier": data.ArrayLayout(signed(ACC_WIDTH), columns),
        "shift": data.ArrayLayout(signed(SHIFT_WIDTH), columns),
        "zero_point": signed(LANE_WIDTH),
        "clamp_min": signed(LANE_WIDTH),
        "clamp_max": signed(LANE_WIDTH),
        "precision": Precision,
    })


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
    settings : In(settings_layout(N))
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
            "settings": In(settings_layout(params.columns)),
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
        for field in ("bias", "multiplier", "shift", "zero_point", "clamp_min", "clamp_max",
                      "precision"):
            m.d.comb += requantizer.i_data.payload[field].eq(self.settings[field])
        wiring.connect(m, requantizer.o_data, wiring.flipped(self.o_data))
        return m
