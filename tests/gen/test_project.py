"""``make project`` (:mod:`gen.project`): programs, the projection's figures, refusals.

The full-size ResNets are cut into one program per residual block plus the stem, the
max-pool, the pool and the classifier (counted from :mod:`sim.catalogue`); a network of
one program projects to exactly its compiled cycles; requests that cannot run exit 2 with
one line. The projection's cycle model at full size is checked on the hardware by
``tests/integration/test_projection.py``, its hand-off between programs by
``tests/integration/test_array.py``. Replay with ``SEED=<seed>``.
"""

import json

import pytest

from gen import project
from gen.array import compile_array
from gen.resnet import resnet
from gen.run import DIGITS
from hdl.params import DEFAULT_CORE, NORTHPOLE_CORE
from sim import catalogue
from sim.tb.runner import seed_from_env
from sim.workloads import WORKLOADS, build
from tests.gen.test_array_multicast import pulses_sent_and_taken


@pytest.mark.parametrize("name, layers", [("resnet18", catalogue.RESNET18), ("resnet50", catalogue.RESNET50)])
def test_programs_are_the_blocks(name, layers):
    network = resnet(name)
    groups = project.segments(network)
    assert [name for group in groups for name in group] == [layer.name for layer in network.layers]
    blocks = sum(isinstance(layer, catalogue.ResidualAdd) for layer in layers)
    assert len(groups) == blocks + 4, groups          # conv1, maxpool, the blocks, avgpool, fc
    for group in groups:
        assert group[-1].endswith(".add") or len(group) == 1, group
        project.subnetwork(network, group)


def test_one_program_projects_to_its_compiled_cycles():
    seed = seed_from_env()
    network, _ = build(WORKLOADS["bottleneck_block"], 8, seed, shape=(16, 16, 16))
    clock = 200e6
    report = project.project(network, DEFAULT_CORE, 2, 2, clock)
    compiled = compile_array(network, DEFAULT_CORE, 2, 2)
    assert report["cycles_per_frame"] == compiled.predicted_cycles, f"SEED={seed}"
    assert report["fps"] == round(clock / compiled.predicted_cycles, 1)
    macs = sum(network.macs().values())
    peak = 4 * DEFAULT_CORE.mac.lanes * DEFAULT_CORE.mac.columns
    assert report["utilization"] == round(macs / (compiled.predicted_cycles * peak), 4)
    assert [layer["name"] for layer in report["layers"]] == [layer.name for layer in network.layers]
    json.dumps(report)


def test_resnet50_stage_4_starts_from_stage_3s_output():
    """The hand-off into ``layer4.0`` (every core sends its rows of ``layer3.5``'s output to
    the cores of its channel slices, many more senders a core than it has tokens) schedules,
    and every core's ``WAIT`` s take exactly the pulses the others send it, per token."""
    network = resnet("resnet50")
    groups = project.segments(network)
    names = [group for group in groups if group[0].startswith("layer3.5")][0]
    earlier = project.subnetwork(network, names)
    placed = compile_array(earlier, NORTHPOLE_CORE, 16, 16).owners[earlier.outputs[0]]
    block = project.subnetwork(network, groups[groups.index(names) + 1])
    compiled = compile_array(block, NORTHPOLE_CORE, 16, 16, input_parts=placed)
    assert compiled.transfers["input"] > 0
    sent, taken = pulses_sent_and_taken(compiled)
    assert max(sent.values()) > 16 and sent == taken


def test_too_big_names_the_layers_and_the_memory():
    with pytest.raises(project.ProjectError, match=r"^layers conv1 to conv1 do not fit a 1x1 array of this "
                       r"core: activation SRAM overflows at tensor input: the buffers need \d+ bytes, "
                       r"the core has 262144$"):
        project.project(resnet("resnet50"), NORTHPOLE_CORE, 1, 1, 400e6)


@pytest.mark.parametrize("argv, message", [
    (["--model", "nosuchnet"],
     "error: MODEL 'nosuchnet' is neither one of resnet18, resnet50 nor a .tflite file"),
    (["--cores", "16x"], "error: CORES must have the form ROWSxCOLUMNS, such as 4x4, not '16x'"),
    (["--preset", "huge"], "error: PRESET must be one of default, northpole, not 'huge'"),
    (["--bits", "3"], "error: BITS must be 8, 4 or 2, not 3"),
    (["--clock-mhz", "0"], "error: CLOCK_MHZ must be a finite positive number, not 0.0"),
    (["--clock-mhz", "-5"], "error: CLOCK_MHZ must be a finite positive number, not -5.0"),
    (["--clock-mhz", "inf"], "error: CLOCK_MHZ must be a finite positive number, not inf"),
    (["--clock-mhz", "nan"], "error: CLOCK_MHZ must be a finite positive number, not nan"),
    (["--model", str(DIGITS), "--bits", "2"],
     "error: BITS must be 8 for a .tflite model (it is imported at int8), not 2"),
    (["--out", str(DIGITS)], f"error: OUT must name a directory, not the file {str(DIGITS)!r}"),
])
def test_refusals(capsys, argv, message):
    assert project.main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [message]


def test_stem_unfolded_by_default():
    seed = seed_from_env()
    network, _ = build(WORKLOADS["stem_7x7_s2"], 8, seed, shape=(32, 32, 3))
    unfolded = project.project(network, DEFAULT_CORE, 2, 2, 200e6)
    folded = project.project(network, DEFAULT_CORE, 2, 2, 200e6, unfold=False)
    assert [layer["unfolded"] for layer in unfolded["layers"]] == [True]
    assert [layer["unfolded"] for layer in folded["layers"]] == [False]
    assert unfolded["frame_words"] == folded["frame_words"] == 32 * 32
    assert unfolded["host_input_words_per_frame"] == 16 * 16 * 19, f"SEED={seed}"
    assert unfolded["cycles_per_frame"] < folded["cycles_per_frame"] / 2, f"SEED={seed}"


def test_truncated_model_wrong(capsys, tmp_path):
    path = tmp_path / "truncated.tflite"
    path.write_bytes(DIGITS.read_bytes()[:500])
    assert project.main(["--model", str(path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"error: MODEL {path}: not a TFLite flatbuffer: the length of "
                     f"Model.operator_codes at offset 33312 (4 bytes) lies outside the file's 500 bytes"]
