"""``make project`` (:mod:`gen.project`): programs, the projection's figures, refusals.

The full-size ResNets are cut into one program per residual block plus the stem, the
max-pool, the pool and the classifier (counted from :mod:`sim.catalogue`); a network of
one program projects to exactly its compiled cycles and reloads nothing; a network of
several programs reloads every program's load each frame, its words and cycles counted
from the compiled programs independently of the projection; requests that cannot run exit
2 with one line. The projection's cycle model at full size is checked on the hardware by
``tests/integration/test_projection.py``, its hand-off between programs by
``tests/integration/test_array.py``. Replay with ``SEED=<seed>``.
"""

import json
from fractions import Fraction

import numpy as np
import pytest

from gen import project
from gen.array import compile_array
from gen.network import Network, fuse_adds, segments
from gen.pipeline import compile_pipeline
from gen.resnet import from_catalogue, resnet
from gen.run import DIGITS
from gen.tflite import import_tflite
from gen.unfold import unfold_stem
from hdl.network import NetworkInterface
from hdl.params import DEFAULT_CORE, NORTHPOLE_CORE
from hdl.router import Router
from sim import catalogue
from sim.tb.runner import seed_from_env
from sim.workloads import WORKLOADS, ParameterMaker, build, mixed_chain
from tests.gen.test_array_multicast import pulses_sent_and_taken


@pytest.mark.parametrize("inside", [None, 4])
@pytest.mark.parametrize("name, layers", [("resnet18", catalogue.RESNET18), ("resnet50", catalogue.RESNET50)])
def test_programs_are_the_blocks(name, layers, inside):
    """One program a block; each program's input and layers at their precisions in the network."""
    network = resnet(name, inside=inside)
    groups = segments(network)
    assert [name for group in groups for name in group] == [layer.name for layer in network.layers]
    blocks = sum(isinstance(layer, catalogue.ResidualAdd) for layer in layers)
    assert len(groups) == blocks + 4, groups          # conv1, maxpool, the blocks, avgpool, fc
    for group in groups:
        assert group[-1].endswith(".add") or len(group) == 1, group
        part = project.subnetwork(network, group)
        (source,) = {s for layer in part.layers for s in layer.sources} - set(group)
        (outer,) = {s for layer in network.layers if layer.name in group for s in layer.sources} - set(group)
        assert part.tensor_precision(source) == network.tensor_precision(outer), group
        for tensor in group:
            assert part.tensor_precision(tensor) == network.tensor_precision(tensor), tensor


@pytest.mark.parametrize("fuse", [True, False])
def test_one_program_projects_to_its_compiled_cycles(fuse):
    seed = seed_from_env()
    network, frame = build(WORKLOADS["bottleneck_block"], 8, seed, shape=(16, 16, 16))
    clock = 200e6
    report = project.project(network, DEFAULT_CORE, 2, 2, clock, fuse=fuse, mapping="layers")
    if fuse:
        network = fuse_adds(network)
        assert [layer["name"] for layer in report["layers"] if layer["fused_add"]] == ["add"]
    compiled = compile_array(network, DEFAULT_CORE, 2, 2)
    assert report["compute_cycles_per_frame"] == compiled.predicted_cycles, f"SEED={seed}"
    assert report["compute_frames_per_s"] == round(clock / compiled.predicted_cycles, 1)
    assert report["weights_resident"] and report["mapping"] == "layers"
    assert report["reload_words_per_frame"] == report["reload_cycles_per_frame"] == 0
    assert report["host_input_cycles_per_frame"] == _write_cycles(compiled.input_writes(frame), 2)
    assert report["cycles_per_frame"] == (compiled.predicted_cycles + report["host_input_cycles_per_frame"]
                                          + report["host_output_cycles_per_frame"])
    assert report["frames_per_s"] == round(clock / report["cycles_per_frame"], 1)
    macs = sum(network.macs().values())
    peak = 4 * DEFAULT_CORE.mac.lanes * DEFAULT_CORE.mac.columns
    assert report["compute_utilization"] == round(macs / (compiled.predicted_cycles * peak), 4)
    assert [layer["name"] for layer in report["layers"]] == [layer.name for layer in network.layers]
    json.dumps(report)


def test_resnet50_stage_4_starts_from_stage_3s_output():
    """The hand-off into ``layer4.0`` (every core sends its rows of ``layer3.5``'s output to
    the cores of its channel slices, many more senders a core than it has tokens) schedules,
    and every core's ``WAIT`` s take exactly the pulses the others send it, per token."""
    network = resnet("resnet50")
    groups = segments(network)
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
    (["--seed", "-1"], "error: SEED must be a non-negative integer, not -1"),
    (["--mapping", "rows"], "error: MAPPING must be one of pipeline, layers, not 'rows'"),
    (["--clock-mhz", "0"], "error: CLOCK_MHZ must be a finite positive number, not 0.0"),
    (["--clock-mhz", "-5"], "error: CLOCK_MHZ must be a finite positive number, not -5.0"),
    (["--clock-mhz", "inf"], "error: CLOCK_MHZ must be a finite positive number, not inf"),
    (["--clock-mhz", "nan"], "error: CLOCK_MHZ must be a finite positive number, not nan"),
    (["--clock-mhz", "1e308"], "error: CLOCK_MHZ must lie between 0.001 and 1e+06 (1 kHz to 1 THz), "
                               "not 1e+308"),
    (["--clock-mhz", "1e-300"], "error: CLOCK_MHZ must lie between 0.001 and 1e+06 (1 kHz to 1 THz), "
                                "not 1e-300"),
    (["--model", str(DIGITS), "--bits", "4"],
     "error: BITS must be 8 for an imported .tflite, whose tensors are int8, not 4"),
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
    # Row groups: 16 + 3 groups of 16 pixels, two rows of a 7 x 3 window each, 6 words of
    # 8 lanes; each written once (16 x 16 windows of 19 words would be 4,864).
    assert unfolded["host_input_words_per_frame"] == (16 + 3) * 16 * 6, f"SEED={seed}"
    # The stem reads 4 taps of 6 words a pixel instead of 49 words: about half the cycles.
    assert unfolded["compute_cycles_per_frame"] < folded["compute_cycles_per_frame"] * 0.6, f"SEED={seed}"


def _programs(network, params, rows, columns):
    """Each program of ``network``'s projection, compiled here as ``make project`` does."""
    network = unfold_stem(fuse_adds(network), params)
    programs, placed = [], None
    for names in segments(network):
        part = project.subnetwork(network, names)
        programs.append(compile_array(part, params, rows, columns, input_parts=placed))
        placed = programs[-1].owners[part.outputs[0]]
    return network, programs


def _write_cycles(writes, columns):
    """A load's cycles: write ``i`` taken in cycle ``i``, landing ``Router.LATENCY`` a router
    later on its XY path from the east end of row 0 and ``NetworkInterface.LOAD_LATENCY``
    after its core's router; ``RUN`` the cycle after the last lands."""
    landed = max(index + Router.LATENCY * ((columns - 1 - x) + y + 1) + NetworkInterface.LOAD_LATENCY
                 for index, (x, y, _, _) in enumerate(writes))
    return landed + 2


def test_reloads_are_counted_every_frame():
    """The digits model on 2x2 cores is six programs: no weights stay resident, and every
    frame rewrites every program's ``load_writes()`` through the host port."""
    clock = 200e6
    network = import_tflite(DIGITS).network
    report = project.project(network, DEFAULT_CORE, 2, 2, clock, mapping="layers")
    unfolded, programs = _programs(network, DEFAULT_CORE, 2, 2)
    assert len(programs) == len(report["programs"]) > 1
    assert not report["weights_resident"] and report["mapping"] == "layers"
    assert "do not stay resident" in report["modelled"] and "modelled" in report["modelled"]
    loads = [program.load_writes() for program in programs]
    assert report["reload_words_per_frame"] == sum(len(load) for load in loads) > 0
    reload = sum(_write_cycles(load, 2) for load in loads)
    assert report["reload_cycles_per_frame"] == reload
    compute = sum(program.predicted_cycles for program in programs)
    assert report["compute_cycles_per_frame"] == compute
    assert report["cycles_per_frame"] == (compute + reload + report["host_input_cycles_per_frame"]
                                          + report["host_output_cycles_per_frame"])
    assert report["host_input_cycles_per_frame"] >= report["host_input_words_per_frame"] > 0
    assert report["host_output_cycles_per_frame"] >= report["host_output_words_per_frame"] > 0
    assert report["frames_per_s"] == round(clock / report["cycles_per_frame"], 1)
    assert report["compute_frames_per_s"] == round(clock / compute, 1)
    # One frame alone: its input, every run, and every load but the first's.
    assert report["latency_cycles"] > compute + reload - _write_cycles(loads[0], 2)
    assert report["latency_s"] == report["latency_cycles"] / clock
    json.dumps(report)


def test_layers_and_sram_per_core():
    network = import_tflite(DIGITS).network
    report = project.project(network, DEFAULT_CORE, 2, 2, 200e6, mapping="layers")
    unfolded, programs = _programs(network, DEFAULT_CORE, 2, 2)
    layers = {layer.name: layer for layer in unfolded.layers}
    assert [entry["name"] for entry in report["layers"]] == list(layers)
    for entry in report["layers"]:
        compiled = programs[entry["program"]]
        owners = compiled.owners[entry["name"]]
        assert sorted(map(tuple, entry["places"])) == sorted(owners), entry["name"]
        assert entry["cores"] == len(owners) > 0
        assert entry["cycles"] == np.subtract(*reversed(compiled.layer_spans[entry["name"]])) > 0
        layer = layers[entry["name"]]
        assert entry["bits_out"] == (layer.bits or unfolded.bits)
        assert len(entry["bits_in"]) == len(layer.sources)
        assert entry["split"] in ("rows", "channels", "grid")
        assert entry["utilization"] is None or 0 < entry["utilization"] <= 1
    weights = np.zeros((2, 2), np.int64)
    activations = np.zeros((2, 2), np.int64)
    for compiled in programs:
        for (x, y), core in compiled.cores.items():
            weights[y, x] = max(weights[y, x], len(core.weight_image))
            activations[y, x] = max(activations[y, x], max(buffer.base + buffer.size_bytes
                                                           for buffer in core.buffers.values()))
    sram = report["sram_bytes_per_core"]
    assert sram["weights"] == {"max": weights.max(), "mean": round(weights.mean(), 1)}
    assert sram["activations"] == {"max": activations.max(), "mean": round(activations.mean(), 1)}
    assert sram["weights"]["max"] <= sram["capacity"]["weights"]


def test_truncated_model_wrong(capsys, tmp_path):
    path = tmp_path / "truncated.tflite"
    path.write_bytes(DIGITS.read_bytes()[:500])
    assert project.main(["--model", str(path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"error: MODEL {path}: not a TFLite flatbuffer: the length of "
                     f"Model.operator_codes at offset 33312 (4 bytes) lies outside the file's 500 bytes"]


def _small_resnet(seed, inside):
    """A two-stage basic-block ResNet of 16 x 16 x 3 frames, int8 edges, ``inside`` inside."""
    layers = catalogue.resnet_layers("basic", (1, 1), input_shape=(16, 16, 3), widths=(8, 16), classes=10)
    return from_catalogue(layers, 8, seed, inside=inside)


def _peak(bits, params, cores):
    """The array's MACs a cycle at ``bits``: every lane of every column, 8 // bits products a lane."""
    return cores * params.mac.lanes * params.mac.columns * (8 // bits)


@pytest.mark.parametrize("inside, precision", [(4, "int8 first and last layers, int4 inside"), (8, "int8")])
def test_each_layers_precision_and_peak(inside, precision):
    """Each layer's precisions in and out, its utilisation against the peak at the
    precision and its stage's cores (a pipeline's), and the total against the array's peak
    weighted by each layer's MACs."""
    seed = seed_from_env()
    report = project.project(_small_resnet(seed, inside), DEFAULT_CORE, 2, 2, 200e6)
    assert report["precision"] == precision and report["mapping"] == "pipeline"
    cores = {name: len(stage["places"]) for stage in report["stages"] for name in stage["layers"]}
    edges = {"conv1": ([8], inside), "avgpool": ([inside], 8), "fc": ([8], 8)}
    for layer in report["layers"]:
        expected = edges.get(layer["name"], ([inside] * (2 if layer["name"].endswith(".add") else 1), inside))
        assert (layer["bits_in"], layer["bits_out"]) == expected, (layer["name"], f"SEED={seed}")
        if layer["macs"]:
            peak = _peak(layer["bits_in"][0], DEFAULT_CORE, cores[layer["name"]])
            assert layer["utilization"] == round(layer["macs"] / (layer["cycles"] * peak), 4), layer["name"]
    assert report["peak_macs_per_cycle_by_precision"] == {f"int{bits}": _peak(bits, DEFAULT_CORE, 4)
                                                          for bits in sorted({8, inside}, reverse=True)}
    needed = sum(Fraction(layer["macs"], _peak(layer["bits_in"][0], DEFAULT_CORE, 4))
                 for layer in report["layers"])
    assert report["compute_utilization"] == round(float(needed / report["compute_cycles_per_frame"]), 4)
    assert report["utilization"] == round(float(needed / report["cycles_per_frame"]), 4)
    if inside == 8:
        assert report["peak_macs_per_cycle"] == _peak(8, DEFAULT_CORE, 4)
    else:
        assert _peak(8, DEFAULT_CORE, 4) < report["peak_macs_per_cycle"] < _peak(4, DEFAULT_CORE, 4)


def test_precision_of_other_mixtures():
    network, _ = mixed_chain(seed_from_env())
    report = project.project(network, DEFAULT_CORE, 2, 2, 200e6)
    assert report["precision"] == "mixed int8/int4/int2 (per layer: bits_in, bits_out)"


@pytest.mark.parametrize("argv, inside", [([], 4), (["--bits", "8"], 8), (["--bits", "2"], 2)])
def test_bits_sets_a_resnets_inside(monkeypatch, capsys, argv, inside):
    """``make project`` runs a ResNet with int8 edges and int4 inside unless BITS says otherwise."""
    projected = []

    def stop(network, *args, **options):
        projected.append(network)
        raise project.ProjectError("stopped before compiling")

    monkeypatch.setattr(project, "project", stop)
    assert project.main(["--model", "resnet18", *argv]) == 2
    (network,) = projected
    names = ("input", "conv1", "layer4.1.add", "avgpool", "fc")
    assert [network.tensor_precision(name).bits for name in names] == [8, inside, inside, 8, 8]


def test_pipeline_projects_to_its_compiled_step():
    """The digits model on 2x2 cores maps as a pipeline by default: one program loaded once,
    nothing reloaded; a frame's step is the host's writes of its input and ``RUN``, the
    compiled run, and the reads of the output; a frame's latency is ``depth`` steps."""
    clock = 200e6
    network = import_tflite(DIGITS).network
    report = project.project(network, DEFAULT_CORE, 2, 2, clock)
    unfolded = unfold_stem(fuse_adds(network), DEFAULT_CORE)
    compiled = compile_pipeline(unfolded, DEFAULT_CORE, 2, 2)
    assert report["mapping"] == "pipeline" and report["weights_resident"]
    assert "pipeline" in report["modelled"]
    assert report["reload_words_per_frame"] == report["reload_cycles_per_frame"] == 0
    assert report["pipeline_depth"] == compiled.depth > 1
    assert report["load_words"] == len(compiled.load_writes()) > 0
    host_input = _write_cycles(compiled.input_writes(np.zeros(unfolded.frame.shape, np.int8)), 2)
    assert report["host_input_cycles_per_frame"] == host_input
    assert report["compute_cycles_per_frame"] == compiled.predicted_cycles
    step = host_input + compiled.predicted_cycles + report["host_output_cycles_per_frame"]
    assert report["step_cycles"] == report["cycles_per_frame"] == step
    assert report["frames_per_s"] == round(clock / step, 1)
    assert report["latency_cycles"] == compiled.depth * step - report["host_output_cycles_per_frame"]
    places = [tuple(place) for stage in report["stages"] for place in stage["places"]]
    assert len(places) == len(set(places)) <= 4
    assert [name for stage in report["stages"] for name in stage["layers"]] == \
        [layer.name for layer in unfolded.layers]
    stage_of = {name: {tuple(place) for place in stage["places"]}
                for stage in report["stages"] for name in stage["layers"]}
    for layer in report["layers"]:
        assert {tuple(place) for place in layer["places"]} <= stage_of[layer["name"]], layer["name"]
    json.dumps(report)


def test_pipeline_with_input_holders_overlaps_the_writes():
    """On 8x8 cores the digits model's pipeline is shorter with input holders: the host's
    writes of the next frame overlap the run from ``input_delay`` cycles into it, so a step
    is the longer of the two, then the reads; the latency runs from the first write, a step
    before the frame's first run, to its output's reads."""
    clock = 200e6
    report = project.project(import_tflite(DIGITS).network, DEFAULT_CORE, 8, 8, clock)
    unfolded = unfold_stem(fuse_adds(import_tflite(DIGITS).network), DEFAULT_CORE)
    compiled = compile_pipeline(unfolded, DEFAULT_CORE, 8, 8)
    delay = compiled.input_delay
    assert report["host_input_overlapped"] and report["input_delay_cycles"] == delay is not None
    assert "while the run computes" in report["modelled"]
    host_input = _write_cycles(compiled.input_writes(np.zeros(unfolded.frame.shape, np.int8)), 8)
    assert report["host_input_cycles_per_frame"] == host_input
    step = max(compiled.predicted_cycles, delay + host_input) + report["host_output_cycles_per_frame"]
    assert report["step_cycles"] == report["cycles_per_frame"] == step
    assert step < host_input + compiled.predicted_cycles + report["host_output_cycles_per_frame"]
    assert report["latency_cycles"] == (compiled.depth * step - delay + compiled.predicted_cycles
                                        + report["host_output_cycles_per_frame"])


def _heavy_chain(seed, layers=6):
    """``layers`` 3x3 convs of 64 channels on 8 x 8 x 64 int8: each one's weights fit a
    default core, all of them do not."""
    maker = ParameterMaker(np.random.default_rng(seed), 8)
    frame = spec = maker.spec((8, 8, 64))
    chain, source = [], "input"
    for number in range(layers):
        chain.append(maker.conv(f"conv{number}", source, spec, 64, 3, 1, True))
        spec, source = Network(frame, chain).specs()[chain[-1].name], chain[-1].name
    return Network(frame, chain)


def test_pipeline_that_does_not_fit_falls_back_to_layers():
    """Weights that cannot all stay on one core: the default mapping goes layer by layer,
    with its reloads counted and the pipeline's refusal in the report; ``mapping="pipeline"``
    is refused naming the bytes."""
    network = _heavy_chain(seed_from_env())
    report = project.project(network, DEFAULT_CORE, 1, 1, 200e6)
    assert report["mapping"] == "layers" and not report["weights_resident"]
    assert report["reload_words_per_frame"] > 0
    assert "221,184 bytes" in report["pipeline_refused"]
    with pytest.raises(project.ProjectError, match=r"as a pipeline: .*221,184 bytes.* need at least 4 cores"):
        project.project(network, DEFAULT_CORE, 1, 1, 200e6, mapping="pipeline")
