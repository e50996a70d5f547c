"""The imported digits ResNet, compiled for one core, runs on the core's Verilog exactly as LiteRT.

Each case compiles the whole imported network (``gen.tflite``, ``gen.compiler``) for the
default core, loads it through the host port, runs one held-out test image and reads the
logits back: every byte must equal LiteRT's reference kernels (``BUILTIN_REF``) on the
same ``.tflite`` file, the simulated cycles the compiler's prediction, and the SRAM
conflict flag must stay clear. The images are the first test image whose logits TFLite's
integer-only fully-connected requantization gets right and the first it gets wrong (found
here with LiteRT as the oracle): on that one, the core's rounding of the fully-connected
layer is what is tested. Runs on Verilator unless ``SIM`` says otherwise.
"""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from gen.network import FullyConnected, Network
from gen.tflite import import_tflite
from hdl.isa import Opcode
from hdl.params import Rounding
from sim.tb.core_runner import run_on_core
from sim.tb.runner import simulator
from tests.litert import reference_outputs

MODELS = Path(__file__).resolve().parents[2] / "models"
DIGITS = MODELS / "digits_resnet.tflite"


def cases():
    imported = import_tflite(DIGITS)
    network = imported.network
    images = np.load(MODELS / "digits_test_images.npy")
    expected = reference_outputs(DIGITS, images)
    layers = [dataclasses.replace(layer, requantization="integer")
              if isinstance(layer, FullyConnected) else layer for layer in network.layers]
    integer = Network(network.input, layers, network.bits, network.outputs)
    agrees = [np.array_equal(integer.golden(image)[network.outputs[0]].reshape(-1), logits)
              for image, logits in zip(images, expected)]
    return imported, images, expected, {"integer_fc_agrees": agrees.index(True),
                                        "integer_fc_differs": agrees.index(False)}


IMPORTED, IMAGES, EXPECTED, CASES = cases()


def test_fully_connected_runs_the_single_rounding():
    from gen.compiler import compile_network
    from hdl.params import CoreParams
    compiled = compile_network(IMPORTED.network, CoreParams())
    macs = [i for i in compiled.program if i.opcode == Opcode.MAC]
    assert [i.rounding for i in macs] == [Rounding.DOUBLE] * (len(macs) - 1) + [Rounding.SINGLE]


@pytest.mark.parametrize("case", CASES)
def test_digits_on_one_core(case):
    index = CASES[case]
    sim = simulator("verilator")
    network = IMPORTED.network
    compiled, result, decoded = run_on_core(sim, f"tflite-digits-{case}-{sim}", network,
                                            IMAGES[index])
    (output,) = network.outputs
    got = decoded[output].reshape(-1)
    assert np.array_equal(got, EXPECTED[index]), \
        f"test image {index}: core {got.tolist()}, LiteRT {EXPECTED[index].tolist()}"
    assert result["conflict"] == 0, f"test image {index}: the SRAM conflict flag rose"
    assert result["cycles"] == compiled.predicted_cycles, \
        f"test image {index}: ran {result['cycles']} cycles, predicted {compiled.predicted_cycles}"
