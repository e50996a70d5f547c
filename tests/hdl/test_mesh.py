"""The mesh in Amaranth's simulator: idle latency, multicast, random traffic under back-pressure, Verilog.

Uses the traffic harness of ``test_router`` (one testbench driving every local port, a
watchdog, an exactly-once and in-order checker). Throughput is printed, not asserted.
"""

import shutil
import subprocess

import numpy as np
import pytest

from gen.verilog import to_verilog
from hdl.mesh import Mesh
from hdl.params import NocParams
from tests.hdl.test_router import MIN_RATE, FlitCodec, Traffic, check_delivery, run_traffic


def nodes(params):
    return [(x, y) for y in range(params.rows) for x in range(params.columns)]


def local_ports(mesh):
    sources = {node: mesh.local_input(*node) for node in nodes(mesh.params)}
    sinks = {node: mesh.local_output(*node) for node in nodes(mesh.params)}
    return sources, sinks


def edge_valids(mesh):
    """The ``valid`` of every router output that faces out of the mesh."""
    return [getattr(router, f"o_{port.name.lower()}").valid for router, port in mesh.edge_ports()]


def xy_throughput_bound(params):
    """Largest accepted flits per node per cycle under uniform random traffic with XY routing.

    Every node sends to every node (itself too) with equal probability; at an injection
    rate of one flit per node per cycle, each link carries the sum over (source,
    destination) pairs whose XY path crosses it of ``1 / nodes``. No link, nor a local
    port (load 1), passes more than a flit a cycle, so the bound is ``1 / max load``.
    """
    load = {}
    for source in nodes(params):
        for destination in nodes(params):
            x, y = source
            while (x, y) != destination:
                step = (x + (destination[0] > x) - (destination[0] < x), y) \
                    if x != destination[0] else (x, y + (destination[1] > y) - (destination[1] < y))
                load[(x, y), step] = load.get(((x, y), step), 0) + 1 / params.nodes
                x, y = step
    return 1 / max([1.0, *load.values()])


@pytest.mark.parametrize("rows, columns, source", [(3, 3, (0, 0)), (3, 3, (1, 1)), (3, 3, (2, 1)),
                                                   (2, 4, (3, 0)), (2, 4, (1, 1))])
def test_idle_latency_is_one_cycle_per_router(rows, columns, source, seed=50):
    """One source sends a flit to every node, back to back: none waits for another."""
    params = NocParams(rows=rows, columns=columns)
    mesh = Mesh(params)
    traffic = Traffic(FlitCodec(params))
    for destination in nodes(params):
        traffic.add_packet(source, destination, destination, 1)
    result = run_traffic(mesh, *local_ports(mesh), traffic, seed=seed, never=edge_valids(mesh))
    check_delivery(traffic, result, seed=seed)
    accepted = {flit.serial: cycle for cycle, flit in result.accepted[source]}
    for destination, flits in result.delivered.items():
        (cycle, raw), = flits
        serial = traffic.codec.decode(raw)["payload"]
        assert cycle - accepted[serial] == Mesh.latency(source, destination), \
            f"{source} -> {destination}: {cycle - accepted[serial]} cycles"


def uniform_random(rng, params, packets, lengths=(1, 4)):
    traffic = Traffic(FlitCodec(params))
    everywhere = nodes(params)
    for _ in range(packets):
        for source in everywhere:
            destination = everywhere[int(rng.integers(len(everywhere)))]
            traffic.add_packet(source, destination, destination,
                               int(rng.integers(lengths[0], lengths[1] + 1)))
    return traffic


@pytest.mark.parametrize("rows, columns, packets", [(3, 3, 40), (4, 4, 40)])
@pytest.mark.parametrize("load", ["random", "saturated"])
@pytest.mark.parametrize("seed", [61, 62])
def test_uniform_random_traffic(rows, columns, packets, load, seed):
    """Each node sends ``packets`` packets of 1 to 4 flits to uniformly random nodes.

    ``random``: sources offer and sinks take with per-node rates drawn from
    [MIN_RATE, 1]; ``saturated``: every source always offers, every sink always takes.
    Every flit must arrive exactly once, unchanged, at its node, in order per pair, with
    packets whole, and no edge output may ever be requested.
    """
    params = NocParams(rows=rows, columns=columns)
    rng = np.random.default_rng(seed)
    mesh = Mesh(params)
    traffic = uniform_random(rng, params, packets)
    rate = (MIN_RATE, 1.0) if load == "random" else 1.0
    result = run_traffic(mesh, *local_ports(mesh), traffic, seed=seed, inject=rate, ready=rate,
                         never=edge_valids(mesh))
    check_delivery(traffic, result, seed=seed)
    # Accepted throughput while every source still had flits to send.
    window = min(flits[-1][0] for flits in result.accepted.values()) + 1
    during = sum(cycle < window for flits in result.accepted.values() for cycle, _ in flits)
    print(f"\n{rows}x{columns} mesh, {load} load, seed {seed}: {len(traffic.flits)} flits in "
          f"{result.cycles} cycles; accepted {during / (params.nodes * window):.3f} "
          f"flits/node/cycle while all sources were busy (XY bound "
          f"{xy_throughput_bound(params):.3f})")


def inside(params, rectangle):
    """The nodes of ``rectangle`` ``(x, x_last, y, y_last)``."""
    x, x_last, y, y_last = rectangle
    return [(cx, cy) for cx, cy in nodes(params) if x <= cx <= x_last and y <= cy <= y_last]


def random_rectangle(rng, params):
    """A rectangle ``(x, x_last, y, y_last)`` inside the mesh, corners uniformly drawn."""
    xs = sorted(int(value) for value in rng.integers(params.columns, size=2))
    ys = sorted(int(value) for value in rng.integers(params.rows, size=2))
    return (xs[0], xs[1], ys[0], ys[1])


@pytest.mark.parametrize("rows, columns", [(4, 4), (3, 5)])
def test_multicast_idle_latency(rows, columns, seed=55):
    """Every node sends a multicast to its row, its column, the whole mesh and a random
    rectangle, one flit in the mesh at a time: each node of the rectangle receives it once,
    ``Mesh.latency`` after its acceptance, as a unicast would; no edge output is requested."""
    params = NocParams(rows=rows, columns=columns)
    rng = np.random.default_rng(seed)
    mesh = Mesh(params)
    traffic = Traffic(FlitCodec(params))
    spacing = 2 * (rows + columns)          # more than the longest idle latency
    for source in nodes(params):
        x, y = source
        for rectangle in [(0, columns - 1, y, y), (x, x, 0, rows - 1), (0, columns - 1, 0, rows - 1),
                          random_rectangle(rng, params)]:
            traffic.add_multicast(source, inside(params, rectangle), rectangle,
                                  not_before=spacing * len(traffic.flits))
    result = run_traffic(mesh, *local_ports(mesh), traffic, seed=seed, never=edge_valids(mesh))
    check_delivery(traffic, result, seed=seed)
    accepted = {flit.serial: cycle for flits in result.accepted.values() for cycle, flit in flits}
    for destination, flits in result.delivered.items():
        for cycle, raw in flits:
            flit = traffic.flits[traffic.codec.decode(raw)["payload"]]
            assert cycle - accepted[flit.serial] == Mesh.latency(flit.source, destination), \
                f"seed {seed}: {flit.source} -> {destination}: {cycle - accepted[flit.serial]} cycles"
    assert traffic.deliveries() > len(traffic.flits) * 4


def mixed_random(rng, params, packets, multicast_fraction, lengths=(1, 4)):
    """Uniform random traffic where ``multicast_fraction`` of the packets are single-flit
    multicasts to a random rectangle."""
    traffic = Traffic(FlitCodec(params))
    everywhere = nodes(params)
    for _ in range(packets):
        for source in everywhere:
            if rng.random() < multicast_fraction:
                rectangle = random_rectangle(rng, params)
                traffic.add_multicast(source, inside(params, rectangle), rectangle)
            else:
                destination = everywhere[int(rng.integers(len(everywhere)))]
                traffic.add_packet(source, destination, destination,
                                   int(rng.integers(lengths[0], lengths[1] + 1)))
    return traffic


@pytest.mark.parametrize("rows, columns", [(3, 3), (4, 4)])
@pytest.mark.parametrize("seed", [63, 64])
def test_multicast_mixed_random_traffic(rows, columns, seed):
    """A quarter of each node's 30 packets are multicasts, the rest unicasts of 1 to 4 flits;
    sources and sinks at random rates from [MIN_RATE, 1]: every flit reaches each of its
    destinations once, unchanged, in order per pair, packets whole, no edge requested."""
    params = NocParams(rows=rows, columns=columns)
    rng = np.random.default_rng(seed)
    mesh = Mesh(params)
    traffic = mixed_random(rng, params, 30, 0.25)
    result = run_traffic(mesh, *local_ports(mesh), traffic, seed=seed, inject=(MIN_RATE, 1.0),
                         ready=(MIN_RATE, 1.0), never=edge_valids(mesh))
    check_delivery(traffic, result, seed=seed)
    print(f"\n{rows}x{columns} mesh, mixed multicast, seed {seed}: {len(traffic.flits)} flits, "
          f"{traffic.deliveries()} deliveries in {result.cycles} cycles")


@pytest.mark.parametrize("rows, columns, bound", [(3, 3, 1.0), (4, 4, 1.0), (6, 6, 2 / 3),
                                                  (1, 8, 0.5)])
def test_xy_throughput_bound(rows, columns, bound):
    """Hand-computed: with k even, on a k x k mesh or a 1 x k line, the middle link of a
    row carries k/4 flits a cycle at full injection (k/2 senders, half of whose traffic
    crosses), so the bound is 4/k; at k <= 4 the local port's one flit a cycle binds."""
    assert xy_throughput_bound(NocParams(rows=rows, columns=columns)) == pytest.approx(bound)


def test_mesh_wrong():
    with pytest.raises(TypeError, match=r"^Mesh params must be a NocParams, not \(2, 2\)$"):
        Mesh((2, 2))


def test_mesh_ports_and_edges():
    mesh = Mesh(NocParams(rows=2, columns=3))
    names = [name for name, _ in mesh.signature.members.items()]
    assert names[:2] == ["i_local_0_0", "i_local_0_1"] and names[-1] == "o_local_1_2"
    assert len(names) == 12
    # Edge sides: a 2x3 mesh has 2 * (2 + 3) of them.
    assert len(mesh.edge_ports()) == 10


def test_mesh_verilog(tmp_path):
    params = NocParams(rows=2, columns=2)
    text = to_verilog(Mesh(params), "np_mesh")
    assert text == to_verilog(Mesh(params), "np_mesh")
    if shutil.which("iverilog") is None:
        pytest.skip("iverilog is not installed")
    path = tmp_path / "np_mesh.v"
    path.write_text(text)
    result = subprocess.run(["iverilog", "-Wall", "-g2012", "-o", str(tmp_path / "a.vvp"), str(path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
