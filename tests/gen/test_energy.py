"""The energy model (:mod:`gen.energy`): events counted from compiled programs, priced from
a parameter file, reported by ``make project``.

The counts of small layers and blocks compiled on a 2x2 array are checked against counts
derived here from each layer's shape and the compiler's split (the loop nests the module
documents), and the flits against XY trees sized here from each message's rectangle. The
pricing is checked one figure at a time, the refusals of a bad parameter file by their
whole message. Replay with ``SEED=<seed>``.
"""

import json
import math
from dataclasses import fields

import pytest

from gen import energy, project
from gen.array import compile_array
from gen.energy import Energy, Events, load_figures, program_events
from gen.network import Add, ConvAdd, FullyConnected, GlobalAvgPool, MaxPool2d, convolution, fuse_adds
from gen.run import DIGITS
from gen.tflite import import_tflite
from hdl.core import region_offset_width
from hdl.isa import Instruction, Opcode, Stream
from hdl.params import DEFAULT_CORE, NORTHPOLE_CORE, Precision
from sim.tb.runner import seed_from_env
from sim.workloads import WORKLOADS, build, mixed_chain

#: The compute events of a layer, the fields a SEND never touches.
COMPUTE_FIELDS = ("mac_int8", "mac_int4", "mac_int2", "weight_reads", "settings_reads", "requantized_values",
                  "vector_values")


def tree_size(source, rectangle):
    """Router outputs and links of the XY tree from ``source`` to ``rectangle``: along the
    source's row over the rectangle's columns, then along each of its columns over its rows;
    a link into every router but the source's, an output out of each link and to each core."""
    (sx, sy), ((x0, y0), (x1, y1)) = source, rectangle
    along_row = max(sx, x1) - min(sx, x0) + 1
    along_column = max(sy, y1) - min(sy, y0) + 1
    routers = along_row + (x1 - x0 + 1) * (along_column - 1)
    return routers - 1 + (x1 - x0 + 1) * (y1 - y0 + 1), routers - 1


def expected_compute(network, layer, part, params):
    """The compute events of ``part`` of ``layer``, from its shape: ``elements`` of the loop
    nest, ``tiles`` written, and each event of :data:`COMPUTE_FIELDS` and the activation
    reads and written bytes."""
    columns, lanes = params.mac.columns, params.mac.lanes
    specs = network.specs()
    source, out = (network.tensor_precision(name) for name in (layer.sources[0], layer.name))
    _, width, channels = specs[layer.name].shape
    per_word = lanes * out.values_per_lane
    low, high = part.words[0] * per_word, min(channels, part.words[1] * per_word)
    blocks = -(-(high - low) // columns)
    tiles = (part.rows[1] - part.rows[0]) * width * blocks
    counts = dict.fromkeys(COMPUTE_FIELDS, 0)
    counts["settings_reads"] = tiles
    if isinstance(layer, GlobalAvgPool):
        tiles = counts["settings_reads"] = blocks
    fused = isinstance(layer, ConvAdd)
    if convolution(layer) or isinstance(layer, FullyConnected):
        weights = (convolution(layer) or layer).w
        window = math.prod(weights.shape[1:-1])
        words_in = -(-specs[layer.sources[0]].shape[2] // (lanes * source.values_per_lane))
        elements = tiles * window * words_in
        counts[f"mac_int{source.bits}"] = elements * lanes * columns * source.values_per_lane
        counts["weight_reads"] = elements * columns
        counts["requantized_values"] = tiles * columns * (4 if fused else 1)
        counts["vector_values"] = tiles * columns if fused else 0
        reads = elements + (tiles if fused else 0)
    else:
        if isinstance(layer, MaxPool2d):
            elements = tiles * layer.kernel[0] * layer.kernel[1]
        elif isinstance(layer, GlobalAvgPool):
            height_in, width_in, _ = specs[layer.source].shape
            elements = height_in * width_in * blocks
        else:
            elements = tiles
        counts["vector_values"] = elements * columns
        counts["requantized_values"] = tiles * columns * (3 if isinstance(layer, Add) else 1)
        reads = elements * (2 if isinstance(layer, Add) else 1)
    return counts, reads, tiles, tiles * columns * out.bits // 8


def _case(name, seed):
    if name == "mixed_chain":
        return mixed_chain(seed)[0], None
    if name == "conv_3x3_s1 by channels":
        return build(WORKLOADS["conv_3x3_s1"], 8, seed, shape=(8, 8, 32), width=32)[0], {"layer": "channels"}
    if name == "bottleneck_block fused":
        return fuse_adds(build(WORKLOADS["bottleneck_block"], 8, seed)[0]), None
    return build(WORKLOADS[name], 8, seed)[0], None


@pytest.mark.parametrize("name", ["stem_7x7_s2", "conv_3x3_s2", "conv_3x3_s1 by channels", "maxpool_3x3_s2",
                                  "residual_add_relu", "global_avgpool", "fc", "basic_block_s2",
                                  "bottleneck_block fused", "mixed_chain"])
def test_counts_of_compiled_layers(name):
    """Each layer's compute events, the activation reads of its output's SENDs, and every
    write and flit of the program, from the shapes and splits and the messages' rectangles."""
    seed = seed_from_env()
    network, splits = _case(name, seed)
    params = DEFAULT_CORE
    compiled = compile_array(network, params, 2, 2, splits=splits)
    counted = program_events(compiled)
    layers = {layer.name: layer for layer in network.layers}
    assert set(counted) - {None} == set(layers), f"SEED={seed}"
    writes = written = 0
    for plan in compiled.plans:
        layer, got = layers[plan.name], counted[plan.name]
        want = dict.fromkeys(COMPUTE_FIELDS, 0)
        reads = 0
        for part in plan.parts.values():
            counts, part_reads, tiles, part_bytes = expected_compute(network, layer, part, params)
            want = {key: want[key] + counts[key] for key in want}
            reads, writes, written = reads + part_reads, writes + tiles, written + part_bytes
        assert {key: getattr(got, key) for key in COMPUTE_FIELDS} == want, f"{plan.name} SEED={seed}"
        sent = compiled.transfers.get(plan.name, 0)
        assert got.activation_reads == reads + sent, f"{plan.name} SEED={seed}"
        assert got.macs_issued >= network.macs()[plan.name]
    total = sum(counted.values(), Events())
    outputs = links = 0
    for place, core in compiled.cores.items():
        for instruction in (*core.program, *core.messages):
            if instruction.opcode.messages:
                rectangle = ((instruction.dest_x, instruction.dest_y),
                             (instruction.dest_x_last, instruction.dest_y_last))
                words = instruction.elements if instruction.opcode == Opcode.SEND else 1
                tree_outputs, tree_links = tree_size(place, rectangle)
                outputs, links = outputs + words * tree_outputs, links + words * tree_links
            if instruction.opcode == Opcode.SEND:
                writes += instruction.elements * len(instruction.destinations)
                written += instruction.elements * len(instruction.destinations) * params.word_bytes
    assert total.flits == compiled.network_words, f"SEED={seed}"
    assert (total.router_outputs, total.links) == (outputs, links), f"SEED={seed}"
    assert (total.activation_writes, total.activation_write_bytes) == (writes, written), f"SEED={seed}"
    assert total.instructions == sum(len(core.program) + len(core.messages)
                                     for core in compiled.cores.values())


def test_issued_and_useful_macs():
    """MACs issued count every lane: a 3-channel stem fills 3 of a word's 8 lanes."""
    seed = seed_from_env()
    for name, padded in (("stem_7x7_s2", True), ("conv_3x3_s1", False)):
        network = build(WORKLOADS[name], 8, seed)[0]
        counted = program_events(compile_array(network, DEFAULT_CORE, 2, 2))
        useful = network.macs()["layer"]
        assert (counted["layer"].macs_issued > useful) == padded
        assert counted["layer"].macs_issued >= useful


def test_instruction_events_by_hand():
    count = energy.instruction_events
    columns = lanes = 8
    mac = Instruction(Opcode.MAC, Precision.INT4, reduce_levels=3, counts=(2, 3, 3, 4, 5, 2), clamp_min=-8,
                      clamp_max=7)
    events = count(mac, DEFAULT_CORE)
    assert events.mac_int4 == 720 * lanes * columns * 2 and events.mac_int8 == events.mac_int2 == 0
    assert (events.activation_reads, events.weight_reads, events.settings_reads) == (720, 720 * 8, 40)
    assert (events.activation_writes, events.activation_write_bytes) == (40, 40 * 4)
    assert (events.requantized_values, events.vector_values, events.instructions, events.elements) == (
        320, 0, 1, 720)
    int2 = {"clamp_min": -2, "clamp_max": 1, "mid_clamp_min": -2, "mid_clamp_max": 1}
    fused = count(Instruction(Opcode.MACADD, Precision.INT2, reduce_levels=1, counts=(3, 4),
                                           **int2), DEFAULT_CORE)
    assert fused.mac_int2 == 12 * lanes * columns * 4
    assert (fused.activation_reads, fused.activation_write_bytes) == (12 + 4, 4 * 2)
    assert (fused.requantized_values, fused.vector_values) == (4 * 8 * 4, 4 * 8)
    add = count(Instruction(Opcode.ADD, counts=(6,)), DEFAULT_CORE)
    assert (add.activation_reads, add.requantized_values, add.vector_values) == (12, 6 * 8 * 3, 48)
    # (0, 0) to column 1, rows 0 and 1: east once, then out locally and south, out locally.
    send = Instruction(Opcode.SEND, counts=(3,), dest_x=1, dest_y=0, dest_y_last=1,
                       a=Stream(0, (8,)), o=Stream(0, (8,)))
    events = count(send, DEFAULT_CORE, (0, 0))
    assert (events.flits, events.router_outputs, events.links) == (3, 12, 6)
    assert (events.activation_reads, events.activation_writes, events.activation_write_bytes) == (3, 6, 48)
    signal = count(Instruction(Opcode.SIGNAL, dest_x=0, dest_y=2, dest_x_last=1, dest_y_last=3),
                                DEFAULT_CORE, (3, 0))
    assert (signal.flits, signal.router_outputs, signal.links) == (1, 3 + 2 * 3 + 4, 3 + 2 * 3)
    assert count(Instruction(Opcode.DELAY, counts=(9,)), DEFAULT_CORE) == Events(instructions=1)


def test_host_writes_and_reads():
    """A write travels from the east end of row 0 to its core; a read's request does too,
    and its response runs along the core's row to the east edge."""
    shift = region_offset_width(DEFAULT_CORE)
    writes = [(0, 2, 0 << shift), (3, 0, 1 << shift), (1, 1, 2 << shift), (2, 3, 3 << shift)]
    events = energy.write_events(writes, DEFAULT_CORE, 4, 4)
    assert events.host_transfers == events.flits == 4
    assert events.links == (3 + 2) + 0 + (2 + 1) + (1 + 3)
    assert events.router_outputs == events.links + 4
    assert (events.activation_writes, events.weight_writes, events.table_writes) == (1, 1, 2)
    events = energy.read_events([(1, 1)], DEFAULT_CORE, 4, 4)
    assert (events.host_transfers, events.flits, events.activation_reads) == (2, 2, 1)
    assert (events.links, events.router_outputs) == (3 + 2, 4 + 3)


def _figures(**given):
    return {name: given.get(name, 0.0) for name in energy.FIGURES}


def test_each_figure_prices_its_events():
    """With one figure set and the others zero, the energy is that figure times its events
    times their width in bits."""
    counts = Events(**{field.name: 3 + 7 * index for index, field in enumerate(fields(Events))})
    model = Energy(_figures(), NORTHPOLE_CORE, 16, 16)
    word, flit, command = 8 * NORTHPOLE_CORE.word_bytes, model.flit_bits, model.command_bits
    # The instruction: 881 bits with streams a, b, o and r 19 bits wide (512 KB of weights),
    # less a bit of base and of each of the 6 steps for a, o and r (256 KB of activations).
    instruction = 881 - 3 * 7
    assert (word, flit, command, model.instruction_bits, model.entry_bits) == \
        (512, 558, 537, instruction, 8 * 288)
    priced = {
        "mac_int8_pj": counts.mac_int8, "mac_int4_pj": counts.mac_int4, "mac_int2_pj": counts.mac_int2,
        "vector_value_pj": counts.vector_values, "requantize_value_pj": counts.requantized_values,
        "activation_read_pj_per_bit": counts.activation_reads * word,
        "activation_write_pj_per_bit": counts.activation_write_bytes * 8,
        "weight_read_pj_per_bit": counts.weight_reads * word,
        "weight_write_pj_per_bit": counts.weight_writes * word,
        "table_read_pj_per_bit": counts.settings_reads * 8 * 288 + counts.instructions * instruction,
        "table_write_pj_per_bit": counts.table_writes * word,
        "sequencer_element_pj": counts.elements,
        "router_pj_per_bit": counts.router_outputs * flit, "link_pj_per_bit": counts.links * flit,
        "host_port_pj_per_bit": counts.host_transfers * command,
    }
    assert set(priced) | {"leakage_mw_per_core"} == set(energy.FIGURES)
    for name, expected in priced.items():
        model.figures = _figures(**{name: 2.0})
        assert sum(model.dynamic(counts).values()) == pytest.approx(2 * expected), name
    model.figures = _figures(leakage_mw_per_core=2.0)
    assert sum(model.dynamic(counts).values()) == 0
    assert model.leakage(1e-3) == pytest.approx(2e-3 * 256 * 1e-3 * 1e12)


def test_default_figures_have_sources():
    data = json.loads(energy.DEFAULT_FIGURES.read_text())
    assert set(data["sources"]) == set(data["figures"]) == set(energy.FIGURES)
    assert all(value > 0 for value in load_figures().values())


def test_project_reports_the_frames_energy(tmp_path):
    """The digits model on 2x2 cores: six programs, reloaded every frame. The frame's events
    are the programs' plus the reloads' and the host's, the figures follow from the breakdown,
    and doubling every figure doubles the energy."""
    clock = 200e6
    network = import_tflite(DIGITS).network
    report = project.project(network, DEFAULT_CORE, 2, 2, clock, mapping="layers")
    result = report["energy"]
    events = result["events_per_frame"]
    joules = result["energy_j_per_frame"]
    assert sum(result["breakdown_j"].values()) == pytest.approx(joules, rel=1e-3)
    assert sum(result["parts_j"].values()) == pytest.approx(joules, rel=1e-3)
    assert result["power_w"] == pytest.approx(joules * clock / report["cycles_per_frame"], rel=1e-3)
    assert result["fps_per_w"] == pytest.approx(1 / joules, rel=1e-3)
    assert result["pj_per_mac"] == pytest.approx(joules * 1e12 / report["macs_per_frame"], rel=1e-3)
    assert result["parts_j"]["layers"] == pytest.approx(sum(layer["energy_j"]["total"]
                                                            for layer in report["layers"]), rel=1e-3)
    reloaded = report["reload_words_per_frame"]
    outputs, inputs = report["host_output_words_per_frame"], report["host_input_words_per_frame"]
    assert events["host_transfers"] == reloaded + inputs + 2 * outputs > 0
    assert events["flits"] == report["network_words_per_frame"] + reloaded + inputs + 2 * outputs
    assert events["core_cycles"] == 4 * report["cycles_per_frame"] > events["idle_core_cycles"] > 0
    assert result["breakdown_j"]["leakage"] == pytest.approx(
        load_figures()["leakage_mw_per_core"] * 1e-3 * 4 * report["cycles_per_frame"] / clock, rel=1e-3)
    doubled = tmp_path / "doubled.json"
    doubled.write_text(json.dumps({"figures": {name: 2 * value for name, value in load_figures().items()}}))
    again = project.project(network, DEFAULT_CORE, 2, 2, clock, energy_file=doubled,
                            mapping="layers")["energy"]
    assert again["energy_j_per_frame"] == pytest.approx(2 * joules, rel=1e-3)
    assert again["events_per_frame"] == events and again["parameters"] == "doubled.json"


def test_project_writes_the_energy_plot(tmp_path, capsys):
    assert project.main(["--model", str(DIGITS), "--cores", "2x2", "--preset", "default",
                         "--out", str(tmp_path)]) == 0
    assert (tmp_path / "digits_resnet_energy.png").stat().st_size > 0
    report = json.loads((tmp_path / "digits_resnet.json").read_text())
    assert report["energy"]["parameters"] == "energy_12nm.json"
    assert "pJ/MAC (energy model" in capsys.readouterr().out


def _without(name):
    figures = load_figures()
    del figures[name]
    return {"figures": figures}


def _with(name, value):
    return {"figures": {**load_figures(), name: value}}


@pytest.mark.parametrize("content, message", [
    (_without("mac_int8_pj"), "figure mac_int8_pj is missing (pJ per int8 MAC issued)"),
    (_without("leakage_mw_per_core"), "figure leakage_mw_per_core is missing (mW of leakage per core)"),
    (_with("mac_int16_pj", 0.1), "unknown figure 'mac_int16_pj'"),
    (_with("link_pj_per_bit", float("nan")), "figure link_pj_per_bit must be finite and non-negative, "
                                             "not nan"),
    (_with("link_pj_per_bit", float("inf")), "figure link_pj_per_bit must be finite and non-negative, "
                                             "not inf"),
    (_with("router_pj_per_bit", -0.5), "figure router_pj_per_bit must be finite and non-negative, not -0.5"),
    (_with("router_pj_per_bit", "0.1"), "figure router_pj_per_bit must be a number, not '0.1'"),
    (_with("router_pj_per_bit", True), "figure router_pj_per_bit must be a number, not True"),
    ({**_with("router_pj_per_bit", 0.1), "figure": {}},
     "unknown key 'figure' (description, figures, sources)"),
    ({**_with("router_pj_per_bit", 0.1), "sources": {"router": "x"}},
     "source given for unknown figure 'router'"),
    ([1, 2], "must hold a JSON object, not list"),
    ({}, "\"figures\" must be an object of the 16 figures"),
    ("{", "not JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"),
])
def test_energy_file_wrong(tmp_path, capsys, content, message):
    path = tmp_path / "figures.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    assert project.main(["--model", str(DIGITS), "--energy", str(path), "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"error: ENERGY {path}: {message}"]


def test_energy_file_missing_wrong(tmp_path, capsys):
    path = tmp_path / "nothing.json"
    assert project.main(["--model", str(DIGITS), "--energy", str(path), "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: ENERGY {path}: cannot be read (No such file or directory)"]
