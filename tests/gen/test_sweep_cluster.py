"""``make sweep`` with ``RAY_ADDRESS=``: a small sweep on a real Ray cluster of its own.

The fixture starts a Ray head (``ray start --head --block``, one CPU) as a separate
process group, on free ports and in a temporary directory of its own, so that it neither
joins nor disturbs any other Ray on the machine, and ends it by that group alone. The
sweep joins it through ``RAY_ADDRESS``; its rows must equal a serial run's.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.gen.test_sweep import DIGITS, rows, sweep, sweep_file

RAY = Path(sys.executable).parent / "ray"
#: Seconds the head may take to start, and to stop once asked (Ray drains for up to 30 s,
#: needless for a cluster whose every task has ended).
START_SECONDS, STOP_SECONDS = 60, 3
#: Three points, all of which fit: the digits ResNet on 1x1, 1x2 and 2x2 arrays.
GRID = f'model = "{DIGITS}"\ncores = ["1x1", "1x2", "2x2"]\npreset = "default"\nweight_kb = 64\n'
#: ``ray start``'s port options, each given a free port (the defaults are fixed numbers).
PORTS = ("--port", "--node-manager-port", "--object-manager-port", "--dashboard-port",
         "--dashboard-agent-listen-port", "--dashboard-agent-grpc-port", "--runtime-env-agent-port",
         "--metrics-export-port")

pytestmark = pytest.mark.skipif(not RAY.exists(), reason="ray is not installed (the 'sweep' extra)")


def free_ports(count):
    """``count`` distinct TCP ports free on this machine now."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for each in sockets:
            each.bind(("127.0.0.1", 0))
        return [each.getsockname()[1] for each in sockets]


def stop(head):
    """End the head's process group: SIGTERM, then SIGKILL to whatever of it (the head, or
    children still draining) is left after :data:`STOP_SECONDS`."""
    for sent in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(head.pid, sent)
        except ProcessLookupError:      # the whole group has ended
            break
        try:
            head.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            pass
    head.wait()


@pytest.fixture
def ray_cluster(monkeypatch):
    """The address of a Ray head of one CPU, started for the test and stopped after it; and
    its temporary directory."""
    # A short path: Ray's sockets live under it, and a socket's path is at most 107 bytes.
    directory = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))
    ports = dict(zip(PORTS, free_ports(len(PORTS)), strict=True))
    # No token authentication between this test's driver and its own head.
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    log = (directory / "head.log").open("w")
    head = subprocess.Popen(
        [str(RAY), "start", "--head", "--block", "--num-cpus=1", f"--temp-dir={directory}",
         "--node-ip-address=127.0.0.1", "--include-dashboard=false", "--disable-usage-stats",
         *(f"{option}={port}" for option, port in ports.items())],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + START_SECONDS
        while "Ray runtime started" not in (directory / "head.log").read_text():
            if head.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"ray start did not start a head:\n{(directory / 'head.log').read_text()}")
            time.sleep(0.5)
        yield f"127.0.0.1:{ports['--port']}", directory
    finally:
        stop(head)
        log.close()
        shutil.rmtree(directory, ignore_errors=True)


def test_small_sweep_on_a_ray_cluster(tmp_path, monkeypatch, ray_cluster):
    address, directory = ray_cluster
    path = sweep_file(tmp_path, GRID)
    monkeypatch.setenv("RAY_ADDRESS", address)
    assert sweep(path, tmp_path / "cluster") == 0
    # The cluster's workers ran the points from this checkout, shipped as their working directory.
    assert list(directory.glob("session_*/runtime_resources/working_dir_files/*"))
    monkeypatch.delenv("RAY_ADDRESS")
    assert sweep(path, tmp_path / "serial", "--serial") == 0
    on_cluster, serial = rows(tmp_path / "cluster"), rows(tmp_path / "serial")
    assert [(row["cores"], row["fits"]) for row in on_cluster] == [("1x1", "True"), ("1x2", "True"),
                                                                   ("2x2", "True")]
    for row, expected in zip(on_cluster, serial, strict=True):
        assert {**row, "seconds": ""} == {**expected, "seconds": ""}
