"""Energy per frame, from events counted in the compiled programs and per-event energies.

The array compiler's schedule is exact, so every event of a frame is known before the
chip runs: this module counts them from the compiled instructions (each instruction's
loop nest, each ``SEND``'s and ``SIGNAL``'s destination rectangle) and from the host's
writes and reads, and multiplies them by per-event energies read from a parameter file
(:func:`load_figures`; the default, :data:`DEFAULT_FIGURES`, is for a 12 nm-class
process and names the source of each figure).

Events
------
Per compute instruction (``MAC``, ``MACADD``, ``ADD``, ``MAXPOOL``, ``AVGPOOL``) of
``elements`` elements and ``tiles`` tiles, at its ``precision`` (``p``) and
``out_precision`` (``q``), on a core of ``lanes`` x ``columns``:

=======================  =================================================================
event                    counted
=======================  =================================================================
``mac_int8/4/2``         ``MAC``, ``MACADD``: ``elements * lanes * columns * (8 / p)``
                         MACs *issued*, at the precision read: every lane and column
                         of the array, the padding of a part channel word or tile
                         included (the array computes them; the network's useful MACs,
                         ``Network.macs``, are fewer). ``pJ/MAC`` divides the frame's
                         energy by the useful MACs.
``activation_reads``     words: one ``a`` word per element; ``ADD``: one ``b`` word per
                         element more; ``MACADD``: one residual (``r``) word per tile
``weight_reads``         words: ``MAC``, ``MACADD``: a weight tile, ``columns`` words,
                         per element
``settings_reads``       entries: one per tile
``activation_writes``    one per tile, of ``columns * q / 8`` bytes
                         (``activation_write_bytes``)
``vector_values``        values through the vector unit: ``ADD``, ``MAXPOOL``,
                         ``AVGPOOL``: ``columns`` per element; ``MACADD``: ``columns``
                         per tile (the fused add)
``requantized_values``   ``MultiplyByQuantizedMultiplier`` s: ``columns`` per tile;
                         ``ADD``: three per value (both operands' rescaling and the
                         output's); ``MACADD``: four (the conv's output, both operands
                         of the add, its output)
=======================  =================================================================

Every instruction fetched is one ``instructions`` event (a read of the program memory,
``instruction_layout`` bits); every element a sequencer issues (compute and ``SEND``) is
one ``elements`` event (the address streams' adders). A ``SEND`` of ``elements`` words
reads ``elements`` activation words at its core and writes ``elements`` words at each core
of its rectangle; each of its words, and each ``SIGNAL``, is one flit injected
(``flits``), counted once per router output it takes along its XY tree
(``router_outputs``: the multicast's replication; the ``local`` outputs included) and once
per link between routers (``links``). ``DELAY``, ``WAIT`` and ``HALT`` are fetched and
do nothing more.

The host's traffic: each word it writes (the input frame, and between programs the
weights, settings, programs and borders it reloads) crosses the host port
(``host_transfers``, a command of ``command_layout`` bits), travels the load network from
:func:`hdl.host.load_entry` to its core (XY, one router output per router, ``hops`` links)
and is written into the memory its address names; each word it reads is a command in,
a request flit to the core, an activation read, a response flit along the row to the
east edge and a word out.

Energy
------
``mac``: MACs times ``mac_int8_pj`` (or ``int4``, ``int2``). ``vector``: vector values and
requantized values times theirs. ``sram``: bits read and written of each memory times
its figure per bit (activation and weight SRAM; the settings table and the program
memory are the *tables*). ``control``: instructions fetched (their bits read from the
program memory) and elements issued. ``network``: flit bits times router outputs and
links. ``host_port``: the commands' bits. ``leakage``: ``leakage_mw_per_core`` over
every core for the whole frame (``cycles / clock``), idle or busy.

What it does not capture: it is a model, not a power simulation. It counts events from
the schedule and charges each a fixed energy; it does not see the data (toggling, zero
operands, glitching), wire capacitance beyond the per-bit figures, the clock tree,
pipeline and operand registers, the sequencers' and routers' idle cycles, the host's own
memory, or voltage and temperature. Per-layer figures are the dynamic energy of the
layer's instructions and of the messages carrying its output; the rest (``WAIT``,
``DELAY``, ``HALT``, hand-offs between programs, reloads, the host's writes and reads,
leakage) is reported for the frame only.
"""

import functools
from dataclasses import dataclass, fields
from pathlib import Path

from hdl.chip import chip_params
from hdl.core import Region, region_offset_width
from hdl.host import command_layout, load_entry
from hdl.isa import Opcode, instruction_layout
from hdl.params import ChipParams, Precision
from hdl.router import Port, flit_layout

from . import figures as figure_files
from .array import xy_tree

__all__ = ["FIGURES", "DEFAULT_FIGURES", "COMPONENTS", "EnergyError", "Events", "load_figures",
           "instruction_events", "program_events", "write_events", "read_events", "Energy", "frame_energy",
           "summary", "plot"]

#: Every figure a parameter file gives, with its unit.
FIGURES = {
    "mac_int8_pj": "pJ per int8 MAC issued",
    "mac_int4_pj": "pJ per int4 MAC issued",
    "mac_int2_pj": "pJ per int2 MAC issued",
    "vector_value_pj": "pJ per value added or compared by the vector unit",
    "requantize_value_pj": "pJ per MultiplyByQuantizedMultiplier of one value",
    "activation_read_pj_per_bit": "pJ per bit read from the activation SRAM",
    "activation_write_pj_per_bit": "pJ per bit written to the activation SRAM",
    "weight_read_pj_per_bit": "pJ per bit read from the weight SRAM",
    "weight_write_pj_per_bit": "pJ per bit written to the weight SRAM",
    "table_read_pj_per_bit": "pJ per bit read from the settings table or the program memory",
    "table_write_pj_per_bit": "pJ per bit written to the settings table or the program memory",
    "sequencer_element_pj": "pJ per loop-nest element a sequencer issues (its address streams)",
    "router_pj_per_bit": "pJ per flit bit per router output taken",
    "link_pj_per_bit": "pJ per flit bit per link between neighbouring routers",
    "host_port_pj_per_bit": "pJ per bit of a command or word through the host port",
    "leakage_mw_per_core": "mW of leakage per core",
}
#: The shipped parameter file: a 12 nm-class process, each figure's source in the file.
DEFAULT_FIGURES = Path(__file__).with_name("energy_12nm.json")
#: The components of the breakdown, in report order.
COMPONENTS = ("mac", "vector", "sram", "network", "control", "host_port", "leakage")


class EnergyError(ValueError):
    """A parameter file refused, in one line naming the figure."""


@dataclass
class Events:
    """Counts of the events of a run (see the module documentation); add them with ``+``."""
    mac_int8: int = 0
    mac_int4: int = 0
    mac_int2: int = 0
    vector_values: int = 0
    requantized_values: int = 0
    activation_reads: int = 0
    activation_writes: int = 0
    activation_write_bytes: int = 0
    weight_reads: int = 0
    weight_writes: int = 0
    settings_reads: int = 0
    table_writes: int = 0
    instructions: int = 0
    elements: int = 0
    flits: int = 0
    router_outputs: int = 0
    links: int = 0
    host_transfers: int = 0

    def __add__(self, other):
        return Events(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def __iadd__(self, other):
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    @property
    def macs_issued(self):
        return self.mac_int8 + self.mac_int4 + self.mac_int2

    def as_dict(self):
        return {f.name: getattr(self, f.name) for f in fields(self)}


def load_figures(path=None):
    """The figures of parameter file ``path`` (JSON; :data:`DEFAULT_FIGURES` if ``None``):
    ``{name: value}`` for every name of :data:`FIGURES`.

    The file is an object with ``"figures"`` (every figure, a finite non-negative number)
    and optionally ``"description"`` (text) and ``"sources"`` (text per figure). Raises
    :class:`EnergyError` in one line naming the file and the first missing, unknown,
    non-finite or negative figure (:func:`gen.figures.load_figures`).
    """
    return figure_files.load_figures(DEFAULT_FIGURES if path is None else path, FIGURES, EnergyError)


def _flits(count, router_outputs, links):
    return Events(flits=count, router_outputs=count * router_outputs, links=count * links)


@functools.lru_cache(maxsize=65536)
def _tree_size(source, rectangle):
    """Router outputs and links of the XY tree from core ``source`` to ``rectangle``."""
    outputs, _ = xy_tree(source, rectangle)
    return len(outputs), sum(port != Port.LOCAL for _, port in outputs)


def instruction_events(instruction, params, source=None):
    """The :class:`Events` of one instruction on a core with ``params`` (:class:`CoreParams`);
    a ``SEND`` or ``SIGNAL`` needs its core's ``source`` ``(x, y)``."""
    opcode = instruction.opcode
    columns = params.mac.columns
    elements, tiles = instruction.elements, instruction.tiles
    events = Events(instructions=1)
    if opcode.computes:
        events.elements = elements
        events.activation_reads = elements * (2 if opcode == Opcode.ADD else 1)
        events.settings_reads = tiles
        events.activation_writes = tiles
        events.activation_write_bytes = tiles * columns * instruction.out_precision.bits // 8
        if opcode.multiplies:
            macs = elements * params.mac.peak_macs_per_cycle(instruction.precision)
            setattr(events, f"mac_int{instruction.precision.bits}", macs)
            events.weight_reads = elements * columns
            events.requantized_values = tiles * columns
            if opcode == Opcode.MACADD:
                events.activation_reads += tiles
                events.vector_values = tiles * columns
                events.requantized_values = 4 * tiles * columns
        else:
            events.vector_values = elements * columns
            events.requantized_values = tiles * columns * (3 if opcode == Opcode.ADD else 1)
    elif opcode.messages:
        if source is None:
            raise ValueError(f"{opcode.name} needs its core's place to count its flits")
        outputs, links = _tree_size(source, ((instruction.dest_x, instruction.dest_y),
                                             (instruction.dest_x_last, instruction.dest_y_last)))
        events += _flits(elements if opcode == Opcode.SEND else 1, outputs, links)
        if opcode == Opcode.SEND:
            events.elements = elements
            events.activation_reads = elements
            events.activation_writes = elements * len(instruction.destinations)
            events.activation_write_bytes = events.activation_writes * params.word_bytes
    return events


def _tensor(compiled, address):
    """The tensor whose buffer in core ``compiled`` holds byte ``address``, or ``None``."""
    for name, buffer in compiled.buffers.items():
        if buffer.base <= address < buffer.base + buffer.size_bytes:
            return name
    return None


def program_events(array):
    """Events of one run of :class:`gen.array.ArrayCompiled` ``array``: ``{layer name or
    None: Events}``. A compute instruction counts for the layer whose buffer it writes, a
    ``SEND`` for the layer whose output it reads (``None`` for the program's input, a
    hand-off), a ``SIGNAL`` for the instruction before it; ``WAIT``, ``DELAY`` and ``HALT``
    for ``None``."""
    layers = {layer.name for layer in array.network.layers}
    counted = {}
    for place, core in array.cores.items():
        for program in (core.program, core.messages):
            owner = None
            for instruction in program:
                opcode = instruction.opcode
                if opcode.computes:
                    owner = _tensor(core, instruction.o.base)
                elif opcode == Opcode.SEND:
                    owner = _tensor(core, instruction.a.base)
                elif opcode != Opcode.SIGNAL:
                    owner = None
                key = owner if owner in layers else None
                counted.setdefault(key, Events())
                counted[key] += instruction_events(instruction, core.params, place)
    return counted


def _noc(params, rows, columns):
    core, noc = chip_params(ChipParams(rows, columns, params))
    return flit_layout(noc).size, command_layout(core, noc).size


def write_events(writes, params, rows, columns):
    """Events of the host's writes ``writes`` (``(x, y, host word address, ...)``, as
    :meth:`gen.array.ArrayCompiled.load_writes` gives them) into a ``rows x columns`` array."""
    entry_x, entry_y = load_entry(columns)
    shift = region_offset_width(params)
    events = Events()
    for x, y, address, *_ in writes:
        hops = abs(x - entry_x) + abs(y - entry_y)
        events.host_transfers += 1
        events += _flits(1, hops + 1, hops)
        region = Region(address >> shift)
        if region == Region.ACTIVATIONS:
            events.activation_writes += 1
            events.activation_write_bytes += params.word_bytes
        elif region == Region.WEIGHTS:
            events.weight_writes += 1
        else:
            events.table_writes += 1
    return events


def read_events(places, params, rows, columns):
    """Events of the host's reads of one word from each core of ``places`` (``(x, y)``, one
    a word): the command and the word through the host port, the request on the load
    network, the read, the response along the core's row to the east edge."""
    entry_x, entry_y = load_entry(columns)
    events = Events()
    for x, y in places:
        hops = abs(x - entry_x) + abs(y - entry_y)
        events.host_transfers += 2
        events.activation_reads += 1
        events += _flits(1, hops + 1, hops)
        events += _flits(1, columns - x, columns - 1 - x)
    return events


class Energy:
    """Energy of events on a ``rows x columns`` array of cores with ``params``, from
    ``figures`` (:func:`load_figures`)."""

    def __init__(self, figures, params, rows, columns):
        self.figures, self.params = figures, params
        self.rows, self.columns = rows, columns
        self.flit_bits, self.command_bits = _noc(params, rows, columns)
        self.word_bits = 8 * params.word_bytes
        self.instruction_bits = instruction_layout(params).size
        self.entry_bits = 8 * params.settings_entry_bytes

    def dynamic(self, events):
        """``{component: pJ}`` of ``events`` (every component but ``leakage``)."""
        f, word = self.figures, self.word_bits
        return {
            "mac": sum(getattr(events, f"mac_int{p.bits}") * f[f"mac_int{p.bits}_pj"] for p in Precision),
            "vector": (events.vector_values * f["vector_value_pj"]
                       + events.requantized_values * f["requantize_value_pj"]),
            "sram": (events.activation_reads * word * f["activation_read_pj_per_bit"]
                     + events.activation_write_bytes * 8 * f["activation_write_pj_per_bit"]
                     + events.weight_reads * word * f["weight_read_pj_per_bit"]
                     + events.weight_writes * word * f["weight_write_pj_per_bit"]
                     + events.settings_reads * self.entry_bits * f["table_read_pj_per_bit"]
                     + events.table_writes * word * f["table_write_pj_per_bit"]),
            "network": self.flit_bits * (events.router_outputs * f["router_pj_per_bit"]
                                         + events.links * f["link_pj_per_bit"]),
            "control": (events.instructions * self.instruction_bits * f["table_read_pj_per_bit"]
                        + events.elements * f["sequencer_element_pj"]),
            "host_port": events.host_transfers * self.command_bits * f["host_port_pj_per_bit"],
        }

    def leakage(self, seconds):
        """pJ leaked by every core in ``seconds``."""
        return self.figures["leakage_mw_per_core"] * 1e-3 * self.rows * self.columns * seconds * 1e12

    def joules(self, events):
        """``{component: J}`` of ``events`` and their ``total`` (no leakage)."""
        parts = {name: value * 1e-12 for name, value in self.dynamic(events).items()}
        return {**_rounded(parts), "total": _round(sum(parts.values()))}


def _round(value):
    return float(f"{value:.4g}")


def _rounded(values):
    return {name: _round(value) for name, value in values.items()}


def frame_energy(energy, programs, reloads, input_places, output_places, cycles, clock_hz, macs,
                 busy_core_cycles, source):
    """The energy of one frame in a steady stream, as ``make project`` reports it.

    ``programs``: per program, :func:`program_events`' ``{layer or None: Events}``;
    ``reloads``: the load writes reloaded every frame (a list per program, empty when the
    weights stay resident); ``input_places`` and ``output_places``: ``(x, y)`` of each
    word the host writes of the frame and reads of the output; ``cycles``: the frame's
    cycles at ``clock_hz``; ``macs``: the network's useful MACs; ``busy_core_cycles``: the
    core-cycles spent computing; ``source``: the parameter file's name.

    Returns ``(figures, layers)``: the report's ``energy`` entry and ``{layer: {component:
    J, "total": J}}``.
    """
    by_layer, unattributed = {}, Events()
    for counted in programs:
        for name, events in counted.items():
            if name is None:
                unattributed += events
            else:
                by_layer.setdefault(name, Events())
                by_layer[name] += events
    rows, columns, params = energy.rows, energy.columns, energy.params
    reloaded = Events()
    for load in reloads:
        reloaded += write_events(load, params, rows, columns)
    # The frame's words go to the activation SRAMs: host word address 0 is in that region.
    host = (write_events([(x, y, 0) for x, y in input_places], params, rows, columns)
            + read_events(output_places, params, rows, columns))
    total = sum(by_layer.values(), Events()) + unattributed + reloaded + host
    seconds = cycles / clock_hz
    components = {**energy.dynamic(total), "leakage": energy.leakage(seconds)}
    joules = sum(components.values()) * 1e-12
    core_cycles = rows * columns * cycles
    parts = {"layers": sum(sum(energy.dynamic(events).values()) for events in by_layer.values()),
             "waits_delays_and_hand_offs": sum(energy.dynamic(unattributed).values()),
             "reloads": sum(energy.dynamic(reloaded).values()),
             "host_input_and_output": sum(energy.dynamic(host).values()),
             "leakage": components["leakage"]}
    figures = {
        "parameters": source,
        "energy_j_per_frame": _round(joules), "power_w": _round(joules / seconds),
        "fps_per_w": _round(1 / joules) if joules else None,
        "pj_per_mac": _round(joules * 1e12 / macs) if macs else None,
        "pj_per_mac_issued": _round(joules * 1e12 / total.macs_issued) if total.macs_issued else None,
        "breakdown_j": _rounded({name: components[name] * 1e-12 for name in COMPONENTS}),
        "parts_j": _rounded({name: value * 1e-12 for name, value in parts.items()}),
        "macs_per_frame": macs, "macs_issued_per_frame": total.macs_issued,
        "events_per_frame": {**total.as_dict(), "core_cycles": core_cycles,
                             "idle_core_cycles": core_cycles - busy_core_cycles},
        "widths_bits": {"word": energy.word_bits, "flit": energy.flit_bits,
                        "host_command": energy.command_bits, "instruction": energy.instruction_bits,
                        "settings_entry": energy.entry_bits},
    }
    return figures, {name: energy.joules(events) for name, events in by_layer.items()}


def summary(report, name):
    """Lines for ``make project``'s printed table: the frame's energy and its breakdown."""
    energy = report["energy"]
    breakdown = ", ".join(f"{part} {value / energy['energy_j_per_frame']:.0%}"
                          for part, value in energy["breakdown_j"].items() if energy["energy_j_per_frame"])
    pj_per_mac = "-" if energy["pj_per_mac"] is None else f"{energy['pj_per_mac']:.3g}"
    return [f"{name}: {energy['energy_j_per_frame'] * 1e3:.4g} mJ a frame, {energy['power_w']:.3g} W at "
            f"{report['frames_per_s']:,.0f} frames/s, {energy['fps_per_w']:,.4g} frames/s/W, "
            f"{pj_per_mac} pJ/MAC (energy model, parameters {energy['parameters']})",
            f"energy by component: {breakdown}"]


def plot(report, name, out):
    """``<out>/<name>_energy.png``: each layer's dynamic energy by component, and the
    frame's by component (leakage, reloads and host traffic included)."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot

    layers = report["layers"]
    energy = report["energy"]
    colours = dict(zip(COMPONENTS, pyplot.get_cmap("tab10").colors))
    figure, (axes, total) = pyplot.subplots(
        1, 2, figsize=(max(9, len(layers) * 0.22 + 3), 4.5), layout="constrained",
        gridspec_kw={"width_ratios": [max(4, len(layers) * 0.22), 1.5]})
    bottom = [0.0] * len(layers)
    for component in COMPONENTS[:-1]:
        values = [layer["energy_j"][component] * 1e6 for layer in layers]
        if any(values):
            axes.bar(range(len(layers)), values, bottom=bottom, color=colours[component], label=component)
            bottom = [b + v for b, v in zip(bottom, values)]
    axes.set_xticks(range(len(layers)), [layer["name"] for layer in layers], rotation=90, fontsize=6)
    axes.set_ylabel("dynamic energy a frame, µJ")
    axes.legend(fontsize=7)
    axes.set_title(f"{name}: {energy['energy_j_per_frame'] * 1e3:.3g} mJ a frame, "
                   f"{energy['power_w']:.3g} W at {report['frames_per_s']:,.0f} frames/s, "
                   f"{energy['pj_per_mac']} pJ/MAC (model)", fontsize=9)
    low = 0.0
    for component in COMPONENTS:
        value = energy["breakdown_j"][component] * 1e3
        total.bar([0], [value], bottom=[low], color=colours[component], label=component)
        low += value
    total.set_xticks([0], ["frame"])
    total.set_ylabel("energy a frame, mJ")
    total.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    figure.savefig(out / f"{name}_energy.png", dpi=120)
    pyplot.close(figure)
