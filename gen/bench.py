"""``make bench``: one core's MAC utilisation and the mesh's throughput, measured in simulation.

Command line::

    python -m gen.bench --out build/bench [--only core|array|noc|pipeline|resident|elaboration ...]

Every case of :mod:`sim.workloads` (single layers and whole blocks, their channel counts
raised to fill a word at int2 where the catalogue layer allows it) is compiled, run on
the core's Verilog (Verilator) and checked against the golden model; the results go to
``<out>/core.json``, one record per case and precision, and a table is printed:

``layer``, ``source`` (the catalogue layer), ``precision``, ``cycles`` (measured),
``predicted_cycles``, ``useful_macs`` (the layer's multiply-accumulates, padding taps
included), ``peak_macs_per_cycle``, ``utilization`` = ``useful_macs / (cycles *
peak_macs_per_cycle)`` (``null`` for layers without MACs), ``bit_exact`` and, where the
utilisation is below ``TARGET``, ``limits``: what the cycles went to (lanes left empty by
an input channel count that does not fill a word, columns left empty by the output
channels, fixed cycles of fetch and pipeline drain).

``<out>/array.json`` holds the same kind of record for the ResNet layer types and blocks
on a ``ARRAY`` array of the default core (shapes of ``ARRAY_SHAPES``), compiled by
:func:`gen.array.compile_array` and run through the host's commands on the chip's
Verilog, with ``cores``, ``plan`` (each layer's split), ``words_sent`` (between cores),
``network_words`` (flits the cores inject into the activation network: each multicast
once), ``sending_while_computing`` (the cycles, summed over the cores, in which a core
issues ``SEND`` words while it computes), ``utilization`` = ``useful_macs / (cycles *
cores * peak_macs_per_cycle)``, the peak
being one core's, and for comparison ``unicast_network_words`` and
``unicast_predicted_cycles``: the same case compiled with one message per reader (not
simulated; the compiler's prediction, which the simulated cases show to be exact). A
block runs with its residual add fused into the conv before it (:func:`gen.network.fuse_adds`,
``fused_adds`` of them); ``unfused_network_words`` and ``unfused_predicted_cycles`` are the
block as written, compiled (not simulated) likewise.

``<out>/noc.json`` holds two records per traffic pattern on the 4x4 mesh at saturation
(every node offering a flit per cycle, ``NOC_FLITS`` flits delivered, sinks always ready),
one unicast only and one with ``MULTICAST_FRACTION`` of the packets single-flit multicasts
to random rectangles: ``pattern``, ``multicast_fraction``, ``flits`` (delivered, a
multicast flit once per destination), ``injected``, ``cycles``, ``accepted`` (flits
injected per sending node per cycle over the whole run), ``delivered_per_injected``,
``bound`` (XY routing's bound for the mix, in injected flits) and ``busiest_channel``.

``<out>/pipeline.json`` holds one record: ResNet-50's whole structure scaled down
(:func:`gen.resnet.scaled_resnet50` with ``PIPELINE_NETWORK``: bottleneck blocks [3, 4, 6,
3], int8 edges and int4 inside, the stem unfolded, adds fused) mapped as a layer pipeline
(:mod:`gen.pipeline`) on NorthPole's 16 x 16 mesh of ``PIPELINE_CORE``, loaded once and
streamed ``depth + PIPELINE_EXTRA_FRAMES`` random frames through the host's commands on the
chip's Verilog: ``cores``, ``depth``, ``stages`` (each one's layers and core count),
``predicted_cycles`` (of every run), ``run_cycles`` (measured, per run), ``cycles`` (the
first measured that differs from the prediction, else the prediction), ``input_delay``
(:attr:`gen.array.ArrayCompiled.input_delay`: ``null`` when the host writes between runs),
``step_cycles`` (:func:`gen.pipeline.step_cycles`, the modelled bound on a frame's period),
``periods`` (measured, ``RUN`` to ``RUN``, per run after the first), ``frames_checked``
(outputs compared with ``sim.golden``), ``bit_exact``, ``conflict`` and
``compile_seconds``, ``simulation_seconds``.

``<out>/resident.json`` holds one record: the busiest core's work of ResNet-50's resident
mapping at full size (:func:`run_resident_bench`): ``pipeline_cores``, ``pipeline_predicted_cycles``,
``stage`` (its layers), ``stage_cores``, ``heaviest_core`` (x, y) and ``heaviest_core_cycles``
(computing, modelled), ``cores`` (the array the stage runs on alone), ``core`` (there, the
one computing the busiest core's parts) and ``core_cycles``, ``same_work``,
``predicted_cycles``, ``cycles`` (measured), ``bit_exact``, ``conflict``,
``compile_seconds`` and ``simulation_seconds``.

``<out>/elaboration.json`` holds one record per array size of ``ELABORATION_SIZES`` (the
default core, and NorthPole's 16x16 chip of its own core): ``cores``, ``preset``,
``seconds`` (wall clock of ``python -m gen.verilog``), ``cpu_seconds`` (its own and its Yosys
processes'), ``peak_memory_bytes`` (the largest maximum resident set of the elaborating
process and its Yosys processes) and ``verilog_bytes``.
"""

import argparse
import json
import logging
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from gen.array import compile_array, snake
from gen.entry import command
from gen.network import ConvAdd, fuse_adds
from gen.paths import check_output_directory
from gen.pipeline import compile_pipeline, step_cycles
from gen.project import EDGE_BITS, INSIDE_BITS, subnetwork
from gen.resnet import resnet, scaled_resnet50
from gen.unfold import unfold_stem
from hdl.isa import Opcode, fetch_cycles
from hdl.params import NORTHPOLE_CORE, ChipParams, CoreParams, Precision
from sim.cycle import instruction_drain
from sim.tb.array_runner import run_array, run_batch
from sim.tb.core_runner import run_on_core
from sim.tb.mesh import PATTERNS
from sim.tb.mesh_runner import MULTICAST_FRACTION
from sim.tb.mesh_runner import PARAMS as MESH
from sim.tb.mesh_runner import run as run_stress
from sim.workloads import WORKLOADS, build

__all__ = ["TARGET", "BENCH_SHAPES", "ARRAY", "ARRAY_SHAPES", "NOC_FLITS", "ELABORATION_SIZES", "PARTS",
           "run", "run_array_bench", "run_noc", "run_pipeline_bench", "heaviest_core", "smallest_array",
           "run_resident_bench", "run_elaboration", "main"]

logger = logging.getLogger(__name__)

#: Utilisation the 3x3 and 1x1 layers should reach when their channels fill the words.
TARGET = 0.85
#: Flits per traffic pattern in the network benchmark.
NOC_FLITS = 100_000
#: Seed of the benchmark's parameters and input frames.
SEED = 2023
#: Shapes (input H, W, C; output width) of the benchmark cases, where they differ from the tests'.
BENCH_SHAPES = {
    "conv_3x3_s1": ((8, 8, 32), 32),
    "conv_3x3_s2": ((8, 8, 32), 32),
    "conv_1x1_reduce": ((8, 8, 64), 32),
    "conv_1x1_expand": ((8, 8, 32), 64),
    "projection_1x1_s2": ((8, 8, 32), 64),
    "basic_block": ((8, 8, 32), 32),
    "basic_block_s2": ((8, 8, 32), 32),
    "bottleneck_block": ((4, 4, 64), 32),
}

#: The array of the array benchmark (rows, columns).
ARRAY = (4, 4)
#: Shapes (input H, W, C; output width) of the array benchmark's cases, where they differ
#: from the tests': sixteen cores share each layer, so the frames are larger than one core's.
ARRAY_SHAPES = {
    "stem_7x7_s2": ((32, 32, 3), None),
    "conv_3x3_s1": ((16, 16, 32), 32),
    "conv_3x3_s2": ((32, 32, 32), 32),
    "conv_1x1_reduce": ((16, 16, 64), 32),
    "conv_1x1_expand": ((16, 16, 32), 64),
    "projection_1x1_s2": ((32, 32, 32), 64),
    "residual_add_relu": ((16, 16, 32), 32),
    "maxpool_3x3_s2": ((32, 32, 32), 32),
    "basic_block": ((16, 16, 32), 32),
    "basic_block_s2": ((32, 32, 32), 32),
    "bottleneck_block": ((16, 16, 64), 32),
}


def _limits(compiled, params, precision):
    """Why a MAC program falls short of the peak: lane fill, column fill and fixed cycles."""
    macs = compiled.network.macs()
    reasons = []
    fixed = 0
    for layer, instruction in zip(compiled.network.layers, compiled.program):
        fixed += fetch_cycles(params) + instruction_drain(instruction, params)
        if not instruction.opcode.multiplies or not macs[layer.name]:
            continue
        x = compiled.buffers[layer.sources[0]]
        y = compiled.buffers[layer.name]
        lanes = x.channels / (x.words_per_pixel * x.channels_per_word)
        blocks = -(-y.channels // params.mac.columns)
        columns = y.channels / (blocks * params.mac.columns)
        if lanes < 1:
            reasons.append(f"{layer.name}: {x.channels} input channels fill {lanes:.0%} of the "
                           f"{x.channels_per_word} lanes of a word at int{precision.bits}")
        if columns < 1:
            reasons.append(f"{layer.name}: {y.channels} output channels fill {columns:.0%} of "
                           f"the columns")
    vector = [layer.name for layer, instruction in zip(compiled.network.layers, compiled.program)
              if not instruction.opcode.multiplies and instruction.opcode != Opcode.HALT]
    if vector:
        reasons.append(f"{', '.join(vector)} run on the vector unit, without MACs")
    reasons.append(f"{fixed + fetch_cycles(params)} cycles of fetch and pipeline drain of "
                   f"{compiled.predicted_cycles}")
    return reasons


def run(out_dir, simulator="verilator"):
    """Run every case at every precision; write ``<out_dir>/core.json``; return the records."""
    params = CoreParams()
    records = []
    for name, workload in WORKLOADS.items():
        shape, width = BENCH_SHAPES.get(name, (None, None))
        for precision in Precision:
            network, x = build(workload, precision.bits, SEED, shape=shape, width=width)
            compiled, result, decoded = run_on_core(
                simulator, f"bench-{name}-int{precision.bits}", network, x, params)
            expected = network.golden(x)
            useful = sum(network.macs().values())
            peak = params.mac.peak_macs_per_cycle(precision)
            utilization = useful / (result["cycles"] * peak) if useful else None
            record = {
                "layer": name, "source": workload.source, "precision": f"int{precision.bits}",
                "input_shape": list(network.input.shape),
                "cycles": result["cycles"], "predicted_cycles": compiled.predicted_cycles,
                "useful_macs": useful, "peak_macs_per_cycle": peak,
                "utilization": utilization,
                "bit_exact": all(np.array_equal(expected[o], decoded[o]) for o in network.outputs),
                "conflict": bool(result["conflict"]),
            }
            if utilization is None or utilization < TARGET:
                record["limits"] = _limits(compiled, params, precision)
            records.append(record)
            logger.info("%s int%d: %d cycles", name, precision.bits, result["cycles"])
    (Path(out_dir) / "core.json").write_text(json.dumps(records, indent=2) + "\n")
    return records


def run_array_bench(out_dir, simulator="verilator"):
    """Run every case at every precision on the ``ARRAY`` array; write ``<out_dir>/array.json``."""
    rows, columns = ARRAY
    params = ChipParams(rows=rows, columns=columns)
    peak_cores = rows * columns
    records = []
    for name, workload in WORKLOADS.items():
        shape, width = ARRAY_SHAPES.get(name, (None, None))
        for precision in Precision:
            written, x = build(workload, precision.bits, SEED, shape=shape, width=width)
            network = fuse_adds(written)
            compiled = compile_array(network, params.core, rows, columns)
            unicast = compile_array(network, params.core, rows, columns, multicast=False)
            unfused = compile_array(written, params.core, rows, columns)
            decoded, result = run_array(compiled, x, params, sim=simulator,
                                        test_name=f"bench-array-{name}-int{precision.bits}")
            expected = written.golden(x)
            useful = sum(network.macs().values())
            peak = params.core.mac.peak_macs_per_cycle(precision)
            utilization = useful / (result["cycles"] * peak_cores * peak) if useful else None
            records.append({
                "layer": name, "source": workload.source, "precision": f"int{precision.bits}",
                "cores": f"{rows}x{columns}", "input_shape": list(network.input.shape),
                "plan": {plan.name: f"{plan.split.value} over {len(plan.parts)}" for plan in compiled.plans},
                "words_sent": sum(compiled.transfers.values()), "network_words": compiled.network_words,
                "cycles": result["cycles"], "predicted_cycles": compiled.predicted_cycles,
                "sending_while_computing": sum(compiled.sending_while_computing.values()),
                "unicast_network_words": unicast.network_words,
                "unicast_predicted_cycles": unicast.predicted_cycles,
                "fused_adds": sum(isinstance(layer, ConvAdd) for layer in network.layers),
                "unfused_network_words": unfused.network_words,
                "unfused_predicted_cycles": unfused.predicted_cycles,
                "useful_macs": useful, "peak_macs_per_cycle": peak, "utilization": utilization,
                "bit_exact": all(np.array_equal(expected[o], decoded[o]) for o in network.outputs),
                "conflict": bool(result["conflict"] or result["overrun"]),
            })
            logger.info("%s int%d on %dx%d: %d cycles", name, precision.bits, rows, columns,
                        result["cycles"])
    (Path(out_dir) / "array.json").write_text(json.dumps(records, indent=2) + "\n")
    return records


def run_noc(out_dir, simulator="verilator"):
    """Run every traffic pattern at saturation, unicast only and mixed with multicast; write
    ``<out_dir>/noc.json``; return the records."""
    records = []
    for pattern in PATTERNS:
        for multicast_fraction in (0.0, MULTICAST_FRACTION):
            figures = run_stress(simulator, pattern, NOC_FLITS, back_pressure=False,
                                 multicast_fraction=multicast_fraction)
            records.append({"pattern": pattern, "mesh": f"{MESH.rows}x{MESH.columns}",
                            "multicast_fraction": multicast_fraction, "flits": figures["flits"],
                            "injected": figures["injected"], "cycles": figures["cycles"],
                            "accepted": figures["accepted_all"],
                            "delivered_per_injected": figures["delivered_per_injected"],
                            "bound": figures["bound"], "busiest_channel": figures["busiest_channel"]})
    (Path(out_dir) / "noc.json").write_text(json.dumps(records, indent=2) + "\n")
    return records


#: (CORES, PRESET) of the elaboration benchmark.
ELABORATION_SIZES = (("2x2", "default"), ("4x4", "default"), ("8x8", "default"),
                     ("16x16", "default"), ("16x16", "northpole"))

#: Runs ``gen.verilog`` in a child process and prints its CPU seconds and peak memory (bytes),
#: counting the Yosys processes it runs (CPU summed, memory the largest process's).
_MEASURED = ("import resource, sys; from gen.verilog import main; status = main(sys.argv[1:]); "
             "own, yosys = (resource.getrusage(who) for who in (resource.RUSAGE_SELF, "
             "resource.RUSAGE_CHILDREN)); "
             "print(own.ru_utime + own.ru_stime + yosys.ru_utime + yosys.ru_stime, "
             "max(own.ru_maxrss, yosys.ru_maxrss) * 1024); sys.exit(status)")


def run_elaboration(out_dir):
    """Elaborate every size of ``ELABORATION_SIZES``; write ``<out_dir>/elaboration.json``."""
    out_dir = Path(out_dir)
    verilog_dir = out_dir / "elaboration"
    records = []
    for cores, preset in ELABORATION_SIZES:
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-c", _MEASURED, "--cores", cores, "--preset", preset,
                                 "--out", str(verilog_dir)], capture_output=True, text=True, check=True)
        seconds = time.perf_counter() - start
        cpu, memory = result.stdout.split()[-2:]
        records.append({"cores": cores, "preset": preset, "seconds": round(seconds, 1),
                        "cpu_seconds": round(float(cpu), 1), "peak_memory_bytes": int(memory),
                        "verilog_bytes": (verilog_dir / f"{preset}_{cores}.v").stat().st_size})
        logger.info("elaborated %s %s in %.1f s", preset, cores, seconds)
    (out_dir / "elaboration.json").write_text(json.dumps(records, indent=2) + "\n")
    return records


def table(records):
    """The records as a fixed-width text table."""
    header = f"{'layer':<20} {'prec':<5} {'cycles':>7} {'predicted':>9} {'useful MACs':>11} " \
             f"{'peak':>5} {'util':>6}  exact"
    lines = [header, "-" * len(header)]
    for r in records:
        utilization = "-" if r["utilization"] is None else f"{r['utilization']:.1%}"
        lines.append(f"{r['layer']:<20} {r['precision']:<5} {r['cycles']:>7} "
                     f"{r['predicted_cycles']:>9} {r['useful_macs']:>11} "
                     f"{r['peak_macs_per_cycle']:>5} {utilization:>6}  "
                     f"{'yes' if r['bit_exact'] and not r['conflict'] else 'NO'}")
    return "\n".join(lines)


#: The benchmark's parts, in the order they run.
#: The pipeline benchmark's array and network (:func:`gen.resnet.scaled_resnet50`'s arguments).
PIPELINE_ARRAY = (16, 16)
PIPELINE_NETWORK = {"blocks": (3, 4, 6, 3), "widths": (8, 16, 32, 64), "shape": (64, 64, 3)}
#: The pipeline benchmark's core: the default's, with NorthPole's two program banks (of the
#: default's 128 instructions) and second write port per activation bank.
PIPELINE_CORE = CoreParams(program_depth=256, program_banks=2, activation_write_ports=2)
#: Frames streamed beyond the pipeline's depth.
PIPELINE_EXTRA_FRAMES = 3


def run_pipeline_bench(out_dir, simulator="verilator"):
    """Stream the scaled ResNet-50 through its pipeline on ``PIPELINE_ARRAY``; write
    ``<out_dir>/pipeline.json`` and return its record in a list."""
    rows, columns = PIPELINE_ARRAY
    params = ChipParams(rows=rows, columns=columns, core=PIPELINE_CORE)
    network = unfold_stem(fuse_adds(scaled_resnet50(SEED, **PIPELINE_NETWORK)), params.core)
    begin = time.process_time()
    compiled = compile_pipeline(network, params.core, rows, columns)
    compiled_at = time.process_time()
    rng = np.random.default_rng(SEED)
    frames = [rng.integers(-128, 128, network.frame.shape).astype(np.int8)
              for _ in range(compiled.depth + PIPELINE_EXTRA_FRAMES)]
    started = time.time()
    runs = run_batch(compiled, frames, params, sim=simulator, test_name=f"bench-pipeline-{rows}x{columns}")
    simulated = time.time() - started
    (output,) = network.outputs
    exact = [np.array_equal(values[output], network.golden(frames[number - compiled.depth + 1])[output])
             for number, (values, _) in enumerate(runs) if number >= compiled.depth - 1]
    measured = [result["cycles"] for _, result in runs]
    record = {
        "network": "scaled resnet50", **{key: list(value) for key, value in PIPELINE_NETWORK.items()},
        "cores": f"{rows}x{columns}", "depth": compiled.depth,
        "stages": [{"layers": list(stage.layers), "cores": len(stage.places)} for stage in compiled.stages],
        "predicted_cycles": compiled.predicted_cycles, "run_cycles": measured,
        "cycles": next((cycles for cycles in measured if cycles != compiled.predicted_cycles),
                       compiled.predicted_cycles),
        "input_delay": compiled.input_delay, "step_cycles": step_cycles(compiled),
        "periods": [result["period"] for _, result in runs[1:]],
        "frames_checked": len(exact), "bit_exact": all(exact),
        "conflict": any(result["conflict"] or result["overrun"] for _, result in runs),
        "compile_seconds": round(compiled_at - begin, 1), "simulation_seconds": round(simulated, 1),
    }
    (Path(out_dir) / "pipeline.json").write_text(json.dumps([record], indent=2) + "\n")
    return [record]


#: The resident-core benchmark: ``make project``'s ResNet-50 on NorthPole's chip.
RESIDENT_MODEL = "resnet50"
RESIDENT_ARRAY = (16, 16)


def heaviest_core(compiled):
    """The stage of the pipeline ``compiled`` whose core computes longest (the one that
    bounds a run), and that core's index among the stage's ``places``."""
    place = max(compiled.busy, key=lambda place: (sum(compiled.busy[place].values()), place))
    (stage,) = [stage for stage in compiled.stages if place in stage.places]
    return stage, stage.places.index(place)


def smallest_array(cores):
    """``(rows, columns)`` of the squarest array of exactly ``cores`` cores."""
    rows = max(divisor for divisor in range(1, math.isqrt(cores) + 1) if cores % divisor == 0)
    return rows, cores // rows


def _compute_elements(program):
    """The elements (cycles of the compute path) of ``program``'s compute instructions."""
    return sum(op.elements for op in program if op.opcode.computes)


def run_resident_bench(out_dir, simulator="verilator"):
    """Run the heaviest core's work of ResNet-50's resident mapping at full size; write
    ``<out_dir>/resident.json`` and return its record in a list.

    ResNet-50 is compiled as ``make project`` compiles it (int8 edges, int4 inside, the stem
    unfolded, adds fused) as a layer pipeline on a ``RESIDENT_ARRAY`` chip of
    ``PRESET=northpole`` cores. The stage holding the busiest core is compiled alone, its
    layers split as in the pipeline, on the smallest array with as many cores; the core
    computing the busiest core's parts of every layer must hold the same weights and step
    its compute path through the same elements (``same_work``). Its instructions differ in
    addresses and transfers, and where the pipeline computes a layer in row bands, the
    first sent on while the next computes, it computes the layer in one instruction: a
    fetch and a drain fewer (``core_cycles`` against ``heaviest_core_cycles``). That array
    runs one random frame of the stage's input through the host's commands on the chip's
    Verilog: every output value equal to :mod:`sim.golden`'s, the run as long as predicted.
    """
    rows, columns = RESIDENT_ARRAY
    network = resnet(RESIDENT_MODEL, EDGE_BITS, SEED, inside=INSIDE_BITS)
    network = unfold_stem(fuse_adds(network), NORTHPOLE_CORE)
    begin = time.process_time()
    pipeline = compile_pipeline(network, NORTHPOLE_CORE, rows, columns)
    stage, index = heaviest_core(pipeline)
    place = stage.places[index]
    stage_network = subnetwork(network, stage.layers)
    alone_rows, alone_columns = smallest_array(len(stage.places))
    plans = {plan.name: plan for plan in pipeline.plans if plan.name in stage.layers}
    alone = compile_array(stage_network, NORTHPOLE_CORE, alone_rows, alone_columns,
                          splits={name: plan.split for name, plan in plans.items()})
    compiled_at = time.process_time()
    heaviest = {name: plan.parts[snake(rows, columns).index(place)] for name, plan in plans.items()}
    (twin,) = [alone_place for number, alone_place in enumerate(snake(alone_rows, alone_columns))
               if all(plan.parts.get(number) == heaviest[plan.name] for plan in alone.plans)]
    elements = [_compute_elements(compiled.cores[core].program)
                for compiled, core in ((alone, twin), (pipeline, place))]
    same_work = alone.weights[twin] == pipeline.weights[place] and elements[0] == elements[1]
    frame = np.random.default_rng(SEED).integers(stage_network.precision.min, stage_network.precision.max + 1,
                                                 stage_network.input.shape)
    params = ChipParams(rows=alone_rows, columns=alone_columns, core=NORTHPOLE_CORE)
    started = time.time()
    values, result = run_array(alone, frame, params, sim=simulator, test_name="bench-resident-heaviest-stage")
    simulated = time.time() - started
    expected = stage_network.golden(frame)
    record = {
        "network": RESIDENT_MODEL, "preset": "northpole", "pipeline_cores": f"{rows}x{columns}",
        "pipeline_predicted_cycles": pipeline.predicted_cycles,
        "stage": list(stage.layers), "stage_cores": len(stage.places), "heaviest_core": list(place),
        "heaviest_core_cycles": sum(pipeline.busy[place].values()),
        "cores": f"{alone_rows}x{alone_columns}", "core": list(twin), "same_work": same_work,
        "core_cycles": sum(alone.busy[twin].values()),
        "predicted_cycles": alone.predicted_cycles, "cycles": result["cycles"],
        "bit_exact": all(np.array_equal(values[name], expected[name]) for name in stage_network.outputs),
        "conflict": bool(result["conflict"] or result["overrun"]),
        "compile_seconds": round(compiled_at - begin, 1), "simulation_seconds": round(simulated, 1),
    }
    (Path(out_dir) / "resident.json").write_text(json.dumps([record], indent=2) + "\n")
    return [record]


PARTS = ("core", "array", "noc", "pipeline", "resident", "elaboration")


def _report_core(out_dir):
    records = run(out_dir)
    print(table(records))
    print(f"wrote {Path(out_dir) / 'core.json'}")
    for r in records:
        if "limits" in r and r["useful_macs"]:
            print(f"{r['layer']} {r['precision']} below {TARGET:.0%}: " + "; ".join(r["limits"]))
    return records


def _report_array(out_dir):
    records = run_array_bench(out_dir)
    print(table(records))
    print(f"wrote {Path(out_dir) / 'array.json'} (utilisation of all {ARRAY[0] * ARRAY[1]} cores' peak)")
    return records


def _report_noc(out_dir):
    records = run_noc(out_dir)
    print(f"{'pattern':<10} {'multicast':>9} {'flits':>7} {'injected':>8} {'cycles':>7} "
          f"{'accepted':>9} {'XY bound':>9} {'delivered/injected':>18}")
    for r in records:
        print(f"{r['pattern']:<10} {r['multicast_fraction']:>9.0%} {r['flits']:>7} {r['injected']:>8} "
              f"{r['cycles']:>7} {r['accepted']:>9.3f} {r['bound']:>9.3f} "
              f"{r['delivered_per_injected']:>18.3f}")
    print(f"wrote {Path(out_dir) / 'noc.json'} (injected flits per sending node per cycle; flits "
          f"delivered, a multicast once per destination; {MESH.rows}x{MESH.columns} mesh)")
    return []


def _report_pipeline(out_dir):
    records = run_pipeline_bench(out_dir)
    (r,) = records
    print(f"scaled ResNet-50 as a pipeline of {r['depth']} stages on {r['cores']} cores: "
          f"{r['predicted_cycles']} cycles a run predicted, {r['cycles']} measured, "
          f"{r['frames_checked']} frames {'bit-exact' if r['bit_exact'] else 'DIFFERENT'}; "
          f"{max(r['periods'], default=0)} cycles from RUN to RUN at most, modelled as at most "
          f"{r['step_cycles']}")
    print(f"wrote {Path(out_dir) / 'pipeline.json'}")
    return records


def _report_resident(out_dir):
    records = run_resident_bench(out_dir)
    (r,) = records
    print(f"{r['network']}'s busiest core on a {r['pipeline_cores']} {r['preset']} chip: "
          f"{r['heaviest_core_cycles']} cycles computing {', '.join(r['stage'])}; "
          f"its stage alone on {r['cores']}: {r['predicted_cycles']} cycles predicted, {r['cycles']} "
          f"measured, {'bit-exact' if r['bit_exact'] else 'DIFFERENT'}"
          + ("" if r["same_work"] else ", NOT the busiest core's work"))
    print(f"wrote {Path(out_dir) / 'resident.json'}")
    return records


def _report_elaboration(out_dir):
    records = run_elaboration(out_dir)
    print(f"{'array':<16} {'seconds':>8} {'CPU s':>8} {'peak MB':>8} {'Verilog MB':>10}")
    for r in records:
        print(f"{r['preset'] + ' ' + r['cores']:<16} {r['seconds']:>8} {r['cpu_seconds']:>8} "
              f"{r['peak_memory_bytes'] / 2**20:>8.0f} {r['verilog_bytes'] / 2**20:>10.1f}")
    print(f"wrote {Path(out_dir) / 'elaboration.json'}")
    return []


@command
def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m gen.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="build/bench", help="output directory (default build/bench)")
    parser.add_argument("--only", choices=PARTS, action="append",
                        help="run only this part (repeatable; default: all)")
    args = parser.parse_args(argv)
    try:
        check_output_directory("OUT", args.out)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    os.environ.setdefault("COCOTB_LOG_LEVEL", "WARNING")     # one line per case, not cocotb's report
    os.environ.setdefault("SEED", str(SEED))                 # the same traffic every time
    Path(args.out).mkdir(parents=True, exist_ok=True)
    reports = {"core": _report_core, "array": _report_array, "noc": _report_noc,
               "pipeline": _report_pipeline, "resident": _report_resident,
               "elaboration": _report_elaboration}
    checked = []
    for part in PARTS:
        if args.only is None or part in args.only:
            print()
            checked += reports[part](args.out)
    bad = [r for r in checked if not r["bit_exact"] or r["conflict"] or r["cycles"] != r["predicted_cycles"]
           or not r.get("same_work", True)]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
