"""Full-size ResNet-18 and ResNet-50 as compiler networks, with random quantized parameters.

The layer shapes are :mod:`sim.catalogue`'s (224 x 224 x 3 input, the real channel counts,
TFLite SAME padding); the weights, biases and quantization parameters are drawn by
:class:`sim.workloads.ParameterMaker` from a seed. Cycle counts do not depend on the
values, so a projection of an untrained network is the projection of a trained one.

Each convolution's weight scales are divided by the factor that keeps its output scale
equal to its input's: the requantization multipliers stay what the maker drew, and the
scales do not grow by an order of magnitude a layer over fifty layers.
"""

import dataclasses

import numpy as np

from sim import catalogue
from sim.workloads import ParameterMaker

from .network import Add, GlobalAvgPool, MaxPool2d, Network

__all__ = ["MODELS", "resnet"]

#: The catalogue networks :func:`resnet` builds, by name.
MODELS = {"resnet18": catalogue.RESNET18, "resnet50": catalogue.RESNET50}


def resnet(name, bits=8, seed=0):
    """The :class:`~gen.network.Network` of catalogue network ``name`` (a key of :data:`MODELS`)
    at ``bits``, its parameters drawn from ``seed``."""
    if name not in MODELS:
        raise ValueError(f"model {name!r} is not one of {', '.join(MODELS)}")
    maker = ParameterMaker(np.random.default_rng(seed), bits)
    specs = {catalogue.INPUT: maker.spec(catalogue.INPUT_SHAPE)}
    layers = []
    for entry in MODELS[name]:
        if isinstance(entry, catalogue.Conv):
            layer = maker.conv2d(entry.name, entry.source, specs[entry.source], entry.out_channels,
                                 entry.kernel, entry.stride, entry.padding, entry.relu)
        elif isinstance(entry, catalogue.MaxPool):
            layer = MaxPool2d(entry.name, entry.source, entry.kernel, entry.stride, entry.padding)
        elif isinstance(entry, catalogue.ResidualAdd):
            scale = max(specs[source].scale for source in entry.sources) * 1.5
            layer = Add(entry.name, entry.sources, scale, maker.zero_point(), relu=entry.relu)
        elif isinstance(entry, catalogue.GlobalAvgPool):
            layer = GlobalAvgPool(entry.name, entry.source, specs[entry.source].scale * 0.6,
                                  maker.zero_point())
        else:
            layer = maker.fully_connected(entry.name, entry.source, specs[entry.source],
                                          entry.out_features)
        if isinstance(entry, (catalogue.Conv, catalogue.FullyConnected)):
            layer = _keep_scale(layer, specs[entry.source].scale)
        layers.append(layer)
        specs[layer.name] = layer.output(*(specs[source] for source in layer.sources))
    return Network(specs[catalogue.INPUT], layers, bits)


def _keep_scale(layer, x_scale):
    """``layer`` with output scale ``x_scale`` and its weight scales divided to match."""
    factor = layer.y_scale / x_scale
    w_scale = np.asarray(layer.w_scale, float) / factor
    w_scale = tuple(float(s) for s in w_scale) if w_scale.ndim else float(w_scale)
    return dataclasses.replace(layer, w_scale=w_scale, y_scale=x_scale)
