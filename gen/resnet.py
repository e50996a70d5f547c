"""Full-size ResNet-18 and ResNet-50 as compiler networks, with random quantized parameters.

The layer shapes are :mod:`sim.catalogue`'s (224 x 224 x 3 input, the real channel counts,
TFLite SAME padding); the weights, biases and quantization parameters are drawn by
:class:`sim.workloads.ParameterMaker` from a seed. Cycle counts do not depend on the
values, so a projection of an untrained network is the projection of a trained one.

Each convolution's weight scales are divided by the factor that keeps its output scale
equal to its input's: the requantization multipliers stay what the maker drew, and the
scales do not grow by an order of magnitude a layer over fifty layers.

Precisions. ``bits`` is the precision of the network's edges, ``inside`` that of
everything between them (``None``: ``bits``, one precision throughout). The stem reads the
frame at ``bits`` (its weights too) and writes ``inside``; the max-pool, every block's
convolutions and its ADD (both operands at ``inside``) read and write ``inside``. The
hand-off back to ``bits`` sits in the global average pool: it reads the last block's
output at ``inside`` and writes ``bits``, so the classifier reads, multiplies and writes at
``bits`` alone. NorthPole's ResNet-50 (int8 first and last layers, int4 inside) is
``bits=8, inside=4``. Each layer's weights and input zero point are in the range of the
precision it reads, its output zero point in the range of the precision it writes.
"""

import dataclasses

import numpy as np

from hdl.params import Precision
from sim import catalogue
from sim.workloads import ParameterMaker

from .network import Add, GlobalAvgPool, MaxPool2d, Network

__all__ = ["MODELS", "resnet", "scaled_resnet50", "from_catalogue"]

#: The catalogue networks :func:`resnet` builds, by name.
MODELS = {"resnet18": catalogue.RESNET18, "resnet50": catalogue.RESNET50}

#: The catalogue layers that write the edges' precision (``bits``); every other writes ``inside``.
_EDGE_OUTPUTS = (catalogue.GlobalAvgPool, catalogue.FullyConnected)


def resnet(name, bits=8, seed=0, inside=None):
    """The :class:`~gen.network.Network` of catalogue network ``name`` (a key of
    :data:`MODELS`), its edges at ``bits`` and its inside at ``inside`` (see the module's
    description), its parameters drawn from ``seed``."""
    if name not in MODELS:
        raise ValueError(f"model {name!r} is not one of {', '.join(MODELS)}")
    return from_catalogue(MODELS[name], bits, seed, inside)


def scaled_resnet50(seed=0, blocks=(2, 1, 1), widths=(8, 16, 32), shape=(32, 32, 3), classes=10):
    """ResNet-50's structure at a size small cores hold: ``blocks`` bottleneck blocks per
    stage of ``widths`` (the first block of every stage with its projection), on ``shape``
    frames, int8 edges and int4 inside (as :func:`resnet` with ``inside=4``), its parameters
    drawn from ``seed``."""
    layers = catalogue.resnet_layers("bottleneck", blocks, input_shape=shape, widths=widths, classes=classes)
    return from_catalogue(layers, 8, seed, inside=4)


def from_catalogue(entries, bits=8, seed=0, inside=None):
    """The :class:`~gen.network.Network` of catalogue layers ``entries`` (as
    :func:`sim.catalogue.resnet_layers` gives them, the stem first), its edges at ``bits``
    and its inside at ``inside`` (see the module's description), its parameters drawn from
    ``seed``."""
    if inside is not None and (isinstance(inside, bool) or inside not in (8, 4, 2)):
        raise ValueError(f"inside must be one of 8, 4, 2 or None, not {inside!r}")
    inside = bits if inside is None else inside
    rng = np.random.default_rng(seed)
    makers = {precision: ParameterMaker(rng, precision) for precision in (bits, inside)}
    stem = entries[0]
    specs = {catalogue.INPUT: makers[bits].spec((*stem.input_size, stem.in_channels))}
    precisions = {catalogue.INPUT: bits}
    layers = []
    for entry in entries:
        sources = entry.sources if isinstance(entry, catalogue.ResidualAdd) else (entry.source,)
        maker = makers[precisions[sources[0]]]
        out = bits if isinstance(entry, _EDGE_OUTPUTS) else inside
        if isinstance(entry, catalogue.Conv):
            layer = maker.conv2d(entry.name, entry.source, specs[entry.source], entry.out_channels,
                                 entry.kernel, entry.stride, entry.padding, entry.relu, out_bits=out)
        elif isinstance(entry, catalogue.MaxPool):
            layer = MaxPool2d(entry.name, entry.source, entry.kernel, entry.stride, entry.padding,
                              bits=out)
        elif isinstance(entry, catalogue.ResidualAdd):
            scale = max(specs[source].scale for source in entry.sources) * 1.5
            layer = Add(entry.name, entry.sources, scale, maker.zero_point(out), relu=entry.relu,
                        bits=out)
        elif isinstance(entry, catalogue.GlobalAvgPool):
            layer = GlobalAvgPool(entry.name, entry.source,
                                  specs[entry.source].scale * 0.6 * _step_ratio(maker.precision, out),
                                  maker.zero_point(out), bits=out)
        else:
            layer = maker.fully_connected(entry.name, entry.source, specs[entry.source],
                                          entry.out_features, out_bits=out)
        if isinstance(entry, (catalogue.Conv, catalogue.FullyConnected)):
            layer = _keep_scale(layer, specs[entry.source].scale)
        layers.append(layer)
        specs[layer.name] = layer.output(*(specs[source] for source in layer.sources))
        precisions[layer.name] = out
    return Network(specs[catalogue.INPUT], layers, bits)


def _step_ratio(precision, out_bits):
    """How much finer a step of ``out_bits`` is than one of ``precision`` over the same span:
    the ratio of their ranges (1 at one precision)."""
    out = Precision.from_bits(out_bits)
    return (precision.max - precision.min) / (out.max - out.min)


def _keep_scale(layer, x_scale):
    """``layer`` with output scale ``x_scale`` and its weight scales divided to match."""
    factor = layer.y_scale / x_scale
    w_scale = np.asarray(layer.w_scale, float) / factor
    w_scale = tuple(float(s) for s in w_scale) if w_scale.ndim else float(w_scale)
    return dataclasses.replace(layer, w_scale=w_scale, y_scale=x_scale)
