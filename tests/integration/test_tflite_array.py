"""The imported digits ResNet on 2x2 and 4x4 arrays, through the host's commands only,
exactly as LiteRT runs it.

The whole network (``models/digits_resnet.tflite``: stem, three stages of basic blocks,
two stride-2 projections, global average pool, fully connected) is imported
(:mod:`gen.tflite`), compiled onto the array (:mod:`gen.array`) and loaded once; then a
few held-out test images, drawn with the seed, are written, run and read in turn (on 4x4
with the residual adds fused into their convs, as ``make run`` compiles it). Every
logit must equal LiteRT's reference kernels (``BUILTIN_REF``) on the same file, every
frame must last the predicted cycles (the chip's counter too), and neither the conflict
nor the overrun flag may rise. ``make run`` runs the whole test split. Replay with
``SEED=<seed>``.
"""

import numpy as np
import pytest

from gen.array import compile_array
from gen.network import ConvAdd, fuse_adds
from gen.run import DIGITS, DIGITS_IMAGES
from gen.tflite import import_tflite
from hdl.params import ChipParams
from sim.tb.array_runner import run_batch
from sim.tb.runner import seed_from_env, simulator
from tests.integration.test_core import assert_exact_run
from tests.litert import reference_outputs

#: Test images per array in the regression.
IMAGES = 3


@pytest.mark.parametrize("rows, columns, fuse", [(2, 2, False), (4, 4, True)], ids=["2x2", "4x4-fused"])
def test_digits_on_array(rows, columns, fuse):
    seed = seed_from_env()
    images = np.load(DIGITS_IMAGES)
    chosen = np.random.default_rng(seed).choice(len(images), IMAGES, replace=False)
    imported = import_tflite(DIGITS)
    network = fuse_adds(imported.network) if fuse else imported.network
    assert not fuse or any(isinstance(layer, ConvAdd) for layer in network.layers)
    params = ChipParams(rows=rows, columns=columns)
    compiled = compile_array(network, params.core, rows, columns)
    expected = reference_outputs(DIGITS, images[chosen])
    runs = run_batch(compiled, [images[index].reshape(network.input.shape) for index in chosen], params,
                     sim=simulator("verilator"), test_name=f"tflite-digits-{rows}x{columns}")
    (output,) = network.outputs
    for index, logits, (values, result) in zip(chosen, expected, runs):
        context = f"digits test image {index} on {rows}x{columns} (SEED={seed})"
        assert result["overrun"] == 0, f"{context}: the network refused a core's message"
        assert_exact_run(context, network, {output: logits.reshape(values[output].shape)}, values, result,
                         compiled.predicted_cycles, counter="chip")
