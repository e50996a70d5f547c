"""``make project``: a full-size network compiled for NorthPole's chip, projected without
simulating the chip.

Command line::

    python -m gen.project --model resnet50|resnet18|<file.tflite> [--cores 16x16]
                          [--preset northpole] [--clock-mhz 400] [--bits 4] [--energy FILE]
                          [--out build/report]

``--bits`` sets the precision inside a ResNet (see below); a ``.tflite`` model is imported
at int8, and any other ``--bits`` with it is refused. The clock is a finite positive number
of MHz, and the report directory is checked before anything is compiled.

The network (:mod:`gen.resnet`'s full-size ResNets, 224 x 224 x 3, or an imported int8
``.tflite``) runs as a sequence of **programs**, one per run of layers between two points
where a single tensor carries everything later layers read: the stem convolution, the
max-pool, each residual block (its layers fused, its intermediate tensors never leaving
the array), the pool and the classifier (the ``mapping`` ``"layers"``). Each program is
compiled by :func:`gen.array.compile_array` for the whole array, its input placed where the
previous program left its output (``input_parts``), so its schedule includes moving the
tensor to where the next layers need it; its predicted cycles are exact for the chip as
generated (``compute_cycles_per_frame`` is their sum).

Between programs, each core's weights, settings, program and buffer borders are replaced
(:meth:`gen.array.ArrayCompiled.load_writes`). NorthPole does this over its weight and
program networks while the previous layer computes; the generated chip has one path for
it, the host port: one word a cycle into the load network at the east end of row 0
(``hdl.host``), modelled by :func:`sim.cycle.host_write_cycles` (checked cycle for cycle on
the chip's Verilog) and not simulated here. With more than one program the weights do not
stay resident: in a steady stream of frames each program's load overwrites the previous
one's, so every frame reloads all of them, the first program's included.
``reload_words_per_frame`` counts those words and ``reload_cycles_per_frame`` their cycles
through the host port (each program's ``load_words`` and ``load_cycles``, ``RUN`` included);
a network of one program is loaded once and reloads nothing. ``modelled`` says in words
what is compiled and what is modelled.

Each residual add runs in the requantize pass of the conv before it by default
(:func:`gen.network.fuse_adds`, the ``MACADD`` instruction; ``--no-fuse`` keeps it a pass
of its own), marked ``"fused_add": true`` in its layer's entry, named as the add.

The stem runs unfolded by default (``--no-unfold`` to keep it): the host writes the frame
as the im2col of the stem's windows and the stem is a dense 1x1 conv (:mod:`gen.unfold`),
marked ``"unfolded": true`` in its layer's entry. ``host_input_words_per_frame`` counts the
words the host writes for a frame (into every core that needs rows of the input), beside
``frame_words``, the frame packed once.

``cycles_per_frame`` counts every cycle of a frame in a steady stream, one frame at a time
(no pipelining across frames): the host writes the frame (``host_input_cycles_per_frame``),
then each program is loaded and run, then the host reads the output
(``host_output_cycles_per_frame``, a bound); ``frames_per_s`` is the clock over it and
``compute_frames_per_s`` the clock over the programs' cycles alone. ``latency_s``: from the
input's first write to the output's being readable, for one frame alone, the first
program already loaded. A layer multiplies at the precision it reads, and the array's
peak there (``peak_macs_per_cycle_by_precision``, every core's) doubles from int8 to int4
and again to int2. A layer's ``utilization`` is its MACs over its span (first start to
last end on any core) times the array's peak at the precision it reads. ``utilization``
is the cycles the network's MACs need at the peak, each layer's at its own precision's,
over ``cycles_per_frame`` (``compute_utilization`` over the programs' cycles): the
network's MACs over ``cycles_per_frame`` times ``peak_macs_per_cycle``, the peak
weighted by each layer's MACs (the array's peak when one precision multiplies
throughout). ``sram_bytes_per_core``: over the cores, the ``max`` and ``mean`` of the
most each core's weight and activation SRAM hold in any program, beside their
``capacity``. Per layer: its ``split``, its ``cores`` and their ``places`` ((x, y) of
every core computing a part of it), ``bits_in`` (per source) and ``bits_out``, its
``cycles`` and ``utilization``; its ``sram_bytes_per_core``, the most any core holds for
it: its share of the weights and its output buffer. Of a program, the most any core's
activation and weight SRAM hold. ``traffic_bytes`` of a layer: bytes of its output sent
between cores (a multicast counted once); ``handoff_bytes`` of a program: bytes of its input
moved from where the previous program left it; ``network_words`` of a program: the flits
its cores inject into the activation network (words and tokens), and
``network_words_per_frame`` their sum; ``compile_seconds``: the CPU time its compilation
took.

Precision. A ResNet runs as NorthPole ran ResNet-50: int8 first and last layers, int4
inside (:func:`gen.resnet.resnet` with ``bits=8, inside=4``): the stem reads the int8
frame with int8 weights and writes int4, every block is int4, the global average pool
reads int4 and writes int8 (the hand-off) and the classifier is int8. ``--bits`` sets the
inside's precision: 4 (the default) or 2 inside int8 edges, or 8 for int8 throughout. An
imported ``.tflite`` is int8 throughout and takes only ``--bits 8``. The report's
``precision`` says which (``"int8 first and last layers, int4 inside"``, ``"int8"``), and
each layer's ``bits_in`` and ``bits_out`` the precisions it read and wrote.

Energy (:mod:`gen.energy`): the events of a frame (MACs at each precision, SRAM reads and
writes, flits times router outputs and links, instructions, host-port words, every
program's run, reloads and host traffic included) are counted from the compiled
instructions and priced with the figures of ``--energy FILE`` (default
``gen/energy_12nm.json``). ``energy`` holds ``energy_j_per_frame``, ``power_w`` at
``frames_per_s``, ``fps_per_w``, ``pj_per_mac`` (over the network's useful MACs), the
breakdown by component and the events; each layer's ``energy_j`` its dynamic energy by
component.

Writes ``<out>/<model>.json``, ``<out>/<model>_utilization.png`` (per layer),
``<out>/<model>_busy.png`` (each core's busy fraction over the mesh) and
``<out>/<model>_energy.png`` (energy per layer and per frame), and prints a table beside
NorthPole's published ResNet-50 figures.
"""

import argparse
import dataclasses
import json
import math
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from hdl.isa import instruction_words
from hdl.params import PRESETS, parse_cores
from sim.cycle import host_read_cycles, host_write_cycles

from . import energy
from .array import compile_array, snake
from .compiler import CompileError, UnsupportedLayerError
from .entry import command
from .extras import MissingExtraError, require
from .network import Add, Conv2d, ConvAdd, FullyConnected, Network, fuse_adds, segments
from .paths import check_output_directory
from .pipeline import compile_pipeline, step_cycles
from .resnet import MODELS, resnet
from .tflite import MalformedModelError, ModelImportError, import_tflite
from .unfold import UnfoldError, unfold_stem

__all__ = ["NORTHPOLE_RESNET50_FPS", "CLOCK_MHZ_LIMITS", "EDGE_BITS", "INSIDE_BITS", "MAPPINGS",
           "ProjectError", "subnetwork", "reload_cycles", "project", "main"]

#: NorthPole's published ResNet-50 throughput (Modha et al., Science 2023), frames a second.
NORTHPOLE_RESNET50_FPS = 42_460
#: NorthPole's power in that measurement, W.
NORTHPOLE_RESNET50_W = 74
#: NorthPole's clock in that measurement, Hz.
NORTHPOLE_CLOCK_HZ = 400e6
#: The lowest and highest clock a projection takes, MHz (1 kHz to 1 THz): every figure of its
#: report stays a finite number, as strict JSON needs.
CLOCK_MHZ_LIMITS = (1e-3, 1e6)
#: The precision of a ResNet's edges: the frame, the stem's weights, the pool's output and the classifier.
EDGE_BITS = 8
#: The precision inside a ResNet unless ``--bits`` says otherwise (NorthPole's ResNet-50's).
INSIDE_BITS = 4


class ProjectError(ValueError):
    """A request ``make project`` refuses, in one line naming the value and the limit."""


def subnetwork(network, names):
    """The :class:`Network` of consecutive layers ``names`` of ``network``, reading the one
    tensor they take from outside as its ``input``, at that tensor's precision; each layer
    keeps the precision it writes in ``network``."""
    layers = [layer for layer in network.layers if layer.name in names]
    inside = {layer.name for layer in layers}
    outside = {source for layer in layers for source in layer.sources if source not in inside}
    if len(outside) != 1:
        raise ValueError(f"layers {', '.join(names)} read {len(outside)} outer tensors "
                         f"({', '.join(sorted(outside))}), not one")
    (source,) = outside

    def rename(name):
        return "input" if name == source else name

    def copy(layer):
        bits = network.tensor_precision(layer.name).bits
        if isinstance(layer, ConvAdd):     # its conv, residual and result share the add's precision
            return ConvAdd(dataclasses.replace(layer.conv, source=rename(layer.conv.source), bits=bits),
                           copy(layer.add))
        if isinstance(layer, Add):
            return dataclasses.replace(layer, sources=tuple(rename(s) for s in layer.sources), bits=bits)
        return dataclasses.replace(layer, source=rename(layer.source), bits=bits)

    unfolding = network.unfolding if source == "input" else None
    return Network(network.specs()[source], [copy(layer) for layer in layers],
                   network.tensor_precision(source).bits, unfolding=unfolding)


def _frame_words(network, params):
    """Words of one frame as the host holds it, packed once: ``h * w * ceil(c / per_word)``."""
    height, width, channels = network.frame.shape
    return height * width * -(-channels // (params.word_bytes * network.precision.values_per_lane))


def _sram(compiled):
    """Per core, ``(activation bytes, weight bytes)`` its program uses."""
    return {place: (max((b.base + b.size_bytes for b in (*core.buffers.values(), *core.twins.values())),
                        default=0),
                    len(core.weight_image)) for place, core in compiled.cores.items()}


def _reload_words(compiled, params):
    """The most words any core loads for ``compiled``: weights, settings and program."""
    return max(-(-len(core.weight_image) // params.word_bytes)
               + len(core.settings_image) * params.settings_entry_words
               + (len(core.program) + len(core.messages)) * params.program_banks * instruction_words(params)
               for core in compiled.cores.values())


def _precision(network):
    """The report's ``precision``: ``"int8"`` when every tensor has one precision;
    ``"int8 first and last layers, int4 inside"`` when the first and last layers with
    weights multiply at one precision and all the others at another; else the precisions
    of the tensors (each layer's are its ``bits_in`` and ``bits_out``)."""
    tensors = sorted({network.tensor_precision(name).bits
                      for name in ("input", *(layer.name for layer in network.layers))}, reverse=True)
    if len(tensors) == 1:
        return f"int{tensors[0]}"
    weighted = [network.tensor_precision(layer.source).bits for layer in network.layers
                if isinstance(layer, (Conv2d, FullyConnected))]
    if len(weighted) > 2 and weighted[0] == weighted[-1] != weighted[1] and len(set(weighted[1:-1])) == 1:
        return f"int{weighted[0]} first and last layers, int{weighted[1]} inside"
    return "mixed " + "/".join(f"int{bits}" for bits in tensors) + " (per layer: bits_in, bits_out)"


#: How a network can be mapped: as a layer pipeline (:mod:`gen.pipeline`), every stage on
#: its own cores, or layer by layer, one program after another on the whole array.
MAPPINGS = ("pipeline", "layers")


def reload_cycles(writes, columns):
    """Cycles the host's port takes to write ``writes`` (``(x, y, addr, value)``, in order)
    into an idle array of ``columns`` columns and then start the run: one word a cycle
    through the host interface into the load network, plus the latency to the core of the
    last words (:func:`sim.cycle.host_write_cycles`, from ``hdl.host``'s constants)."""
    return host_write_cycles([(x, y) for x, y, *_ in writes], columns)


def _modelled(mapped, columns):
    """The report's ``modelled``: what is compiled and what is modelled."""
    compiled = ("Each program's cycles are compiled: the array compiler's schedule, whose "
                "prediction the RTL tests match cycle for cycle.")
    port = ("The host port's cycles are modelled, not simulated: one word a cycle "
            f"(HostInterface.WRITE_INTERVAL) into the load network at core ({columns - 1}, 0), "
            "plus the latency to the last words' core and RUN_LATENCY (sim.cycle.host_write_cycles, "
            "checked exactly on a 2x2 chip's Verilog); reads at most "
            "NetworkInterface.READ_INTERVAL cycles a word plus the round trip (a bound).")
    if mapped.pipelined and mapped.programs[0][1].input_delay is not None:
        return (f"{compiled} {port} A layer pipeline: every stage's weights and program stay resident, "
                "loaded once; the input has holder cores that only send it on, so the host writes "
                "frame f + 1 into them while the run computes (from input_delay cycles after RUN, "
                "checked against every word's last read by the compiler and on the Verilog by "
                "tests/integration/test_pipeline.py); a frame's step is the longer of the run and "
                "the delayed writes, then the reads of the output of the frame written depth - 1 "
                "steps before (gen.pipeline.step_cycles).")
    if mapped.pipelined:
        return (f"{compiled} {port} A layer pipeline: every stage's weights and program stay resident, "
                "loaded once; a frame's step is the host writing its input, the run (every stage at "
                "once, each on its own frame) and the host reading the output of the frame written "
                "depth - 1 steps before, one after another (nothing overlaps the host's port with a run).")
    if not mapped.reloaded:
        return f"{compiled} {port} One program: the weights stay resident, loaded once, not per frame."
    return (f"{compiled} {port} The weights do not stay resident: with the layer-by-layer mapping "
            "each program's load (weights, settings, program, borders) replaces the previous one's, "
            "so every frame reloads every program's load, one program after another, and the "
            "cycles a frame count them (nothing overlaps the runs).")


def _layer_entries(compiled, network, params, program, peak_per_core):
    """The report's entry of each layer of ``compiled`` (see the module's description); a
    layer's ``utilization`` is over its span and ``peak_per_core`` times its cores' count
    (every core of the array for the layer-by-layer mapping, its stage's in a pipeline)."""
    macs, places = network.macs(), snake(compiled.rows, compiled.columns)
    groups = {name: len(stage.places) for stage in compiled.stages for name in stage.layers}
    entries = []
    for plan in compiled.plans:
        first, end = compiled.layer_spans[plan.name]
        span = end - first
        holds = [compiled.cores[place].buffers[plan.name].size_bytes
                 + compiled.weights[place].get(plan.name, 0) for place in compiled.owners[plan.name]]
        layer = next(layer for layer in network.layers if layer.name == plan.name)
        cores = groups.get(plan.name, compiled.rows * compiled.columns)
        entries.append({
            "name": plan.name, "program": program, "split": plan.split.value, "cores": len(plan.parts),
            "places": [list(places[index]) for index in sorted(plan.parts)],
            "bits_in": [network.tensor_precision(source).bits for source in layer.sources],
            "bits_out": network.tensor_precision(plan.name).bits,
            "cycles": span, "macs": macs[plan.name],
            "utilization": round(macs[plan.name] / (span * cores * peak_per_core[plan.name]), 4)
            if macs[plan.name] else None,
            "sram_bytes_per_core": max(holds),
            "traffic_bytes": compiled.transfers.get(plan.name, 0) * params.word_bytes,
            "unfolded": network.unfolding is not None and plan.name == network.unfolding.layer,
            "fused_add": isinstance(layer, ConvAdd),
        })
    return entries


def _program_entry(compiled, names, params, seconds, load, columns, first):
    """The report's entry of one program (see the module's description)."""
    sram = _sram(compiled)
    return {
        "layers": names, "cycles": compiled.predicted_cycles, "compile_seconds": round(seconds, 1),
        "activation_bytes_per_core": max(a for a, _ in sram.values()),
        "weight_bytes_per_core": max(w for _, w in sram.values()),
        "instructions_per_core": max(len(core.program) + len(core.messages)
                                     for core in compiled.cores.values()),
        "twin_buffered": sorted({name for core in compiled.cores.values() for name in core.twins}),
        "reload_words_per_core": _reload_words(compiled, params),
        "load_words": len(load), "load_cycles": reload_cycles(load, columns),
        "handoff_bytes": compiled.transfers.get("input", 0) * params.word_bytes,
        "network_words": compiled.network_words,
        "host_input_words": len(_input_places(compiled)) if first else 0,
    }


def _input_places(compiled):
    """``(x, y)`` of each word the host writes of a frame (the words of any frame: where
    they go does not depend on its values)."""
    frame = np.zeros(compiled.network.frame.shape, np.int64)
    return [(x, y) for x, y, _, _ in compiled.input_writes(frame)]


def _compiled(names, compile):
    """``compile()``, its CPU seconds, and a refusal as :class:`ProjectError`."""
    begin = time.process_time()
    try:
        compiled = compile()
    except UnsupportedLayerError as error:
        raise ProjectError(f"layers {names[0]} to {names[-1]} cannot run on the array, whatever "
                           f"its size: {error}") from None
    return compiled, time.process_time() - begin


class _Mapped:
    """What a mapping leaves for the report: the programs in order (each ``(names, compiled,
    load, seconds)``), the loads reloaded every frame, the cycles of a frame's compute and
    the latency, a frame in a steady stream."""

    def __init__(self, programs, reloaded, compute, latency, pipelined):
        self.programs, self.reloaded = programs, reloaded
        self.compute, self.latency, self.pipelined = compute, latency, pipelined


def _layer_by_layer(network, params, rows, columns, progress):
    """The layer-by-layer mapping: one program per :func:`gen.network.segments` run of
    layers, each for the whole array, its input where the previous program left it."""
    groups = segments(network)
    placed, programs, latency, compute = None, [], 0, 0
    for number, names in enumerate(groups):
        part = subnetwork(network, names)
        if progress:
            progress(number, len(groups), names)
        try:
            compiled, seconds = _compiled(names, lambda: compile_array(part, params, rows, columns,
                                                                       input_parts=placed))
        except CompileError as error:
            raise ProjectError(f"layers {names[0]} to {names[-1]} do not fit a {rows}x{columns} array "
                               f"of this core: {error}") from None
        placed = compiled.owners[part.outputs[0]]
        load = compiled.load_writes()
        latency += (host_write_cycles(_input_places(compiled), columns) if number == 0
                    else reload_cycles(load, columns)) + compiled.predicted_cycles
        compute += compiled.predicted_cycles
        programs.append((names, compiled, load, seconds))
    resident = len(groups) == 1
    return _Mapped(programs, [] if resident else [load for *_, load, _ in programs], compute, latency, False)


def _pipeline(network, params, rows, columns, progress):
    """The layer pipeline (:mod:`gen.pipeline`): one program, loaded once."""
    names = [layer.name for layer in network.layers]
    if progress:
        progress(0, 1, names)
    compiled, seconds = _compiled(names, lambda: compile_pipeline(network, params, rows, columns))
    step, reads = step_cycles(compiled), host_read_cycles(_output_places(compiled), columns)
    # A frame written before run r is read after run r + depth - 1; with holders, its
    # writes begin input_delay cycles into run r - 1.
    if compiled.input_delay is None:
        latency = compiled.depth * step - reads
    else:
        latency = compiled.depth * step - compiled.input_delay + compiled.predicted_cycles + reads
    return _Mapped([(names, compiled, compiled.load_writes(), seconds)], [], compiled.predicted_cycles,
                   latency, True)


def _output_places(compiled):
    """``(x, y)`` of each word the host reads of a frame's outputs."""
    return [(x, y) for name in compiled.network.outputs for x, y, _ in compiled.output_reads(name)]


def project(network, params, rows, columns, clock_hz, *, progress=None, unfold=True, fuse=True,
            energy_file=None, energy_figures=None, mapping=None):
    """Compile ``network`` for a ``rows x columns`` array of ``params`` and return the
    projection's figures (see the module's description); ``mapping``: ``"pipeline"``,
    ``"layers"`` or ``None`` (the pipeline when its weights fit the array, else layer by
    layer); ``unfold``: the host unfolds the frame for the stem
    (:func:`gen.unfold.unfold_stem`) when it qualifies; ``fuse``: each residual add runs in
    the conv before it (:func:`gen.network.fuse_adds`); ``energy_file``: the energy model's
    parameters (:func:`gen.energy.load_figures`, read first: :class:`gen.energy.EnergyError`
    if refused); ``energy_figures``: that file's figures, already read (the file itself is
    then not read again, only named in the report)."""
    figures = energy.load_figures(energy_file) if energy_figures is None else energy_figures
    if mapping not in (None, *MAPPINGS):
        raise ProjectError(f"MAPPING must be one of {', '.join(MAPPINGS)}, not {mapping!r}")
    if fuse:
        network = fuse_adds(network)
    if unfold:
        try:
            network = unfold_stem(network, params)
        except UnfoldError as error:
            raise ProjectError(f"{error} (run with --no-unfold)") from None
    refused = None
    if mapping in (None, "pipeline"):
        try:
            mapped = _pipeline(network, params, rows, columns, progress)
        except CompileError as error:
            if mapping == "pipeline":
                raise ProjectError(f"the network does not fit a {rows}x{columns} array of this core as a "
                                   f"pipeline: {error}") from None
            refused = str(error)
    if mapping == "layers" or refused is not None:
        mapped = _layer_by_layer(network, params, rows, columns, progress)
    # The peak of each layer's cores, at the precision it reads and multiplies at.
    per_core = {layer.name: params.mac.peak_macs_per_cycle(network.tensor_precision(layer.sources[0]))
                for layer in network.layers}
    peaks = {name: rows * columns * peak for name, peak in per_core.items()}
    macs = network.macs()
    layers, programs, events = [], [], []
    busy = np.zeros((rows, columns))
    held = np.zeros((2, rows, columns), np.int64)       # activation and weight bytes, the most
    for number, (names, compiled, load, seconds) in enumerate(mapped.programs):
        for (x, y), (activation, weight) in _sram(compiled).items():
            held[:, y, x] = np.maximum(held[:, y, x], (activation, weight))
        programs.append(_program_entry(compiled, names, params, seconds, load, columns, number == 0))
        events.append(energy.program_events(compiled))
        layers += _layer_entries(compiled, network, params, number, per_core)
        for (x, y), cycles in compiled.busy.items():
            busy[y, x] += sum(cycles.values())
    first, last = mapped.programs[0][1], mapped.programs[-1][1]
    input_places, output_places = _input_places(first), _output_places(last)
    # A steady stream of frames: the input, then per program its load (all of them unless
    # the weights stay resident) and its run, then the output's reads.
    reload_words = sum(len(load) for load in mapped.reloaded)
    reload = sum(reload_cycles(load, columns) for load in mapped.reloaded)
    first_load = [(x, y) for x, y, *_ in mapped.reloaded[0]] if mapped.reloaded else []
    host_input = (host_write_cycles(input_places + first_load, columns)
                  - (host_write_cycles(first_load, columns) if first_load else 0))
    host_output = host_read_cycles(output_places, columns)
    delay = first.input_delay if mapped.pipelined else None
    total = step_cycles(first) if mapped.pipelined else mapped.compute + reload + host_input + host_output
    total_macs = sum(macs.values())
    # The peak weighted by each layer's MACs: the MACs over the cycles they need at the peak.
    peak = Fraction(total_macs) / sum(Fraction(macs[name], peaks[name]) for name in macs)
    resident = not mapped.reloaded

    def sram(kind):
        return {"max": int(held[kind].max()), "mean": round(float(held[kind].mean()), 1)}

    report = {
        "cores": [rows, columns], "clock_hz": clock_hz, "precision": _precision(network),
        "mapping": "pipeline" if mapped.pipelined else "layers", "weights_resident": resident,
        "modelled": _modelled(mapped, columns),
        "peak_macs_per_cycle": round(float(peak), 1), "macs_per_frame": total_macs,
        "peak_macs_per_cycle_by_precision": {
            f"int{precision.bits}": rows * columns * params.mac.peak_macs_per_cycle(precision)
            for precision in sorted({network.tensor_precision(layer.sources[0]) for layer in network.layers
                                     if macs[layer.name]}, key=lambda precision: -precision.bits)},
        "cycles_per_frame": total, "frames_per_s": round(clock_hz / total, 1),
        "compute_cycles_per_frame": mapped.compute,
        "compute_frames_per_s": round(clock_hz / mapped.compute, 1),
        "reload_words_per_frame": reload_words, "reload_cycles_per_frame": reload,
        "load_words": sum(len(load) for *_, load, _ in mapped.programs) if resident else 0,
        "host_input_cycles_per_frame": host_input, "host_output_cycles_per_frame": host_output,
        "host_input_overlapped": delay is not None, "input_delay_cycles": delay,
        "latency_cycles": mapped.latency, "latency_s": mapped.latency / clock_hz,
        "sram_bytes_per_core": {"weights": sram(1), "activations": sram(0),
                                "capacity": {"weights": params.weight_sram.size_bytes,
                                             "activations": params.activation_sram.size_bytes}},
        "network_words_per_frame": sum(program["network_words"] for program in programs),
        "host_input_words_per_frame": programs[0]["host_input_words"],
        "host_output_words_per_frame": len(output_places),
        "frame_words": _frame_words(network, params),
        "utilization": round(float(total_macs / (total * peak)), 4),
        "compute_utilization": round(float(total_macs / (mapped.compute * peak)), 4),
        "northpole_published_fps": NORTHPOLE_RESNET50_FPS,
        "programs": programs, "layers": layers,
        "busy_fraction": (busy / total).round(4).tolist(),
    }
    if mapped.pipelined:
        report.update(step_cycles=total, pipeline_depth=first.depth, stages=[
            {"layers": list(stage.layers), "places": [list(place) for place in stage.places]}
            for stage in first.stages])
    if refused is not None:
        report["pipeline_refused"] = refused
    report["energy"], by_layer = energy.frame_energy(
        energy.Energy(figures, params, rows, columns), events, mapped.reloaded, input_places, output_places,
        total, clock_hz, total_macs, int(busy.sum()), Path(energy_file or energy.DEFAULT_FIGURES).name)
    for layer in layers:
        layer["energy_j"] = by_layer[layer["name"]]
    return report


def _plots(report, name, out):
    """The per-layer utilisation bars and the mesh's busy-fraction heatmap, as PNG files."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot

    layers = [layer for layer in report["layers"] if layer["utilization"] is not None]
    figure, axes = pyplot.subplots(figsize=(max(8, len(layers) * 0.22), 4), layout="constrained")
    axes.bar(range(len(layers)), [layer["utilization"] for layer in layers], color="tab:blue")
    axes.set_xticks(range(len(layers)), [layer["name"] for layer in layers], rotation=90, fontsize=6)
    axes.set_ylim(0, 1)
    axes.set_ylabel("MAC utilisation")
    rows, columns = report["cores"]
    axes.set_title(f"{name} on {rows}x{columns} cores: {report['utilization']:.1%} overall, "
                   f"{report['frames_per_s']:,.0f} frames/s at {report['clock_hz'] / 1e6:.0f} MHz, "
                   f"reloads counted")
    figure.savefig(out / f"{name}_utilization.png", dpi=120)
    pyplot.close(figure)

    figure, axes = pyplot.subplots(figsize=(6, 5), layout="constrained")
    image = axes.imshow(np.array(report["busy_fraction"]), vmin=0, vmax=1, cmap="viridis")
    figure.colorbar(image, ax=axes, label="fraction of the frame spent computing (reloads counted)")
    axes.set_xlabel("core x")
    axes.set_ylabel("core y")
    axes.set_title(f"{name}: each core's busy fraction")
    figure.savefig(out / f"{name}_busy.png", dpi=120)
    pyplot.close(figure)
    energy.plot(report, name, out)


def _network(model, bits, seed):
    """The network of ``model``: a ResNet at ``bits`` inside (``None``: :data:`INSIDE_BITS`)
    and :data:`EDGE_BITS` at its edges, or an imported ``.tflite`` (int8; ``bits`` ``None`` or 8)."""
    if model in MODELS:
        return resnet(model, EDGE_BITS, seed, inside=INSIDE_BITS if bits is None else bits)
    path = Path(model)
    if not path.is_file():
        raise ProjectError(f"MODEL {model!r} is neither one of {', '.join(MODELS)} nor a .tflite file")
    if bits not in (None, 8):
        raise ProjectError(f"BITS must be 8 for an imported .tflite, whose tensors are int8, not {bits}")
    try:
        return import_tflite(path).network
    except MalformedModelError as error:     # its message starts with the file
        raise ProjectError(f"MODEL {error}") from None
    except ModelImportError as error:
        raise ProjectError(f"MODEL {model}: {error}") from None


def _table(report, name):
    lines = [f"{'layer':24} {'split':>9} {'cores':>5} {'cycles':>8} {'util':>6} {'SRAM/core':>10} "
             f"{'traffic':>10}"]
    for layer in report["layers"]:
        utilization = "-" if layer["utilization"] is None else f"{layer['utilization']:.1%}"
        label = layer["name"] + (" (unfolded)" if layer["unfolded"] else "") + (
            " (+add)" if layer["fused_add"] else "")
        lines.append(f"{label:24} {layer['split']:>9} {layer['cores']:>5} {layer['cycles']:>8,} "
                     f"{utilization:>6} {layer['sram_bytes_per_core']:>10,} {layer['traffic_bytes']:>10,}")
    rows, columns = report["cores"]
    mhz = report["clock_hz"] / 1e6
    reloads = ("weights resident, no reloads" if report["weights_resident"] else
               f"{report['reload_cycles_per_frame']:,} of them reloading "
               f"{report['reload_words_per_frame']:,} words of weights, settings and programs "
               f"through the host port (modelled)")
    if report["host_input_overlapped"]:
        host = (f"{report['host_input_cycles_per_frame']:,} writing the input from cycle "
                f"{report['input_delay_cycles']:,} of the {report['compute_cycles_per_frame']:,} computing, "
                f"{report['host_output_cycles_per_frame']:,} reading the output")
    else:
        host = (f"{report['host_input_cycles_per_frame'] + report['host_output_cycles_per_frame']:,} writing "
                f"the input and reading the output, {report['compute_cycles_per_frame']:,} computing")
    lines += ["", f"{name} on {rows}x{columns} cores, {report['precision']}, mapping "
              f"{report['mapping']!r}: {report['cycles_per_frame']:,} cycles a frame, {reloads}, {host}",
              f"{report['frames_per_s']:,.0f} frames/s at {mhz:.0f} MHz counting every cycle "
              f"({report['compute_frames_per_s']:,.0f} frames/s counting the compute alone), latency "
              f"{report['latency_s'] * 1e3:.3f} ms, MAC utilisation {report['utilization']:.1%} "
              f"({report['compute_utilization']:.1%} of the compute cycles)",
              f"{report['network_words_per_frame']:,} words injected into the network, "
              f"{report['host_input_words_per_frame']:,} input words written by the host "
              f"(the frame: {report['frame_words']:,})",
              *energy.summary(report, name),
              f"NorthPole (Science 2023), ResNet-50 at {NORTHPOLE_CLOCK_HZ / 1e6:.0f} MHz: "
              f"{NORTHPOLE_RESNET50_FPS:,} frames/s, {NORTHPOLE_RESNET50_W:.0f} W"]
    return "\n".join(lines)


@command
def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m gen.project", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="resnet50",
                        help=f"{', '.join(MODELS)} or an int8 .tflite file (default resnet50)")
    parser.add_argument("--cores", default="16x16", help="ROWSxCOLUMNS (default 16x16)")
    parser.add_argument("--preset", default="northpole", help=f"{', '.join(PRESETS)} (default northpole)")
    parser.add_argument("--clock-mhz", type=float, default=400.0, help="clock, MHz (default 400)")
    parser.add_argument("--bits", type=int, default=None,
                        help=f"precision inside a ResNet, between its int{EDGE_BITS} stem input and "
                             f"classifier: 4 or 2, or 8 for int8 throughout (default {INSIDE_BITS}, "
                             f"NorthPole's); an imported .tflite is int8 and takes only 8")
    parser.add_argument("--energy", default=None,
                        help=f"the energy model's parameters, a JSON file (default "
                             f"{energy.DEFAULT_FIGURES.name}, a 12 nm-class process; see gen.energy)")
    parser.add_argument("--seed", type=int, default=0, help="seed of a ResNet's random parameters")
    parser.add_argument("--out", default="build/report", help="report directory (default build/report)")
    parser.add_argument("--no-unfold", action="store_true",
                        help="write the frame as it is, not unfolded for the stem (gen.unfold)")
    parser.add_argument("--mapping", default=None,
                        help="pipeline: every stage of layers on its own cores, weights resident; layers: "
                             "one program after another on the whole array, reloaded every frame "
                             "(default: the pipeline when its weights fit, else layers)")
    parser.add_argument("--no-fuse", action="store_true",
                        help="run each residual add as its own pass, not fused into the conv before it")
    args = parser.parse_args(argv)
    try:
        try:
            require("plot", "make project")
            rows, columns = parse_cores(args.cores)
        except (ValueError, MissingExtraError) as error:
            raise ProjectError(str(error)) from None
        if args.preset not in PRESETS:
            raise ProjectError(f"PRESET must be one of {', '.join(PRESETS)}, not {args.preset!r}")
        if not (math.isfinite(args.clock_mhz) and args.clock_mhz > 0):
            raise ProjectError(f"CLOCK_MHZ must be a finite positive number, not {args.clock_mhz}")
        lowest, highest = CLOCK_MHZ_LIMITS
        if not lowest <= args.clock_mhz <= highest:
            raise ProjectError(f"CLOCK_MHZ must lie between {lowest:g} and {highest:g} (1 kHz to 1 THz), "
                               f"not {args.clock_mhz:g}")
        if args.mapping not in (None, *MAPPINGS):
            raise ProjectError(f"MAPPING must be one of {', '.join(MAPPINGS)}, not {args.mapping!r}")
        if args.bits not in (None, 8, 4, 2):
            raise ProjectError(f"BITS must be 8, 4 or 2, not {args.bits}")
        if args.seed < 0:
            raise ProjectError(f"SEED must be a non-negative integer, not {args.seed}")
        try:
            check_output_directory("OUT", args.out)
        except ValueError as error:
            raise ProjectError(str(error)) from None
        energy.load_figures(args.energy)
        network = _network(args.model, args.bits, args.seed)
        name = Path(args.model).stem

        def progress(number, total, names):
            print(f"\rprogram {number + 1}/{total}: {names[0]} .. {names[-1]}".ljust(60), end="",
                  file=sys.stderr, flush=True)

        report = project(network, PRESETS[args.preset], rows, columns, args.clock_mhz * 1e6,
                         progress=progress, unfold=not args.no_unfold,
                         fuse=not args.no_fuse, energy_file=args.energy, mapping=args.mapping)
        print(file=sys.stderr)
    except energy.EnergyError as error:
        print(f"\nerror: ENERGY {error}", file=sys.stderr)
        return 2
    except ProjectError as error:
        print(f"\nerror: {error}", file=sys.stderr)
        return 2
    report = {"model": name, "preset": args.preset, **report}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(report, indent=1, allow_nan=False) + "\n")
    _plots(report, name, out)
    print(_table(report, name))
    print(f"wrote {out / f'{name}.json'}, {out / f'{name}_utilization.png'}, {out / f'{name}_busy.png'}, "
          f"{out / f'{name}_energy.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
