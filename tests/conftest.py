"""Shared pytest set-up: the simulator each hardware test runs on.

Hardware tests take the ``simulator`` fixture and pass it to ``run_cocotb``. The
regression runs them on the simulator ``SIM`` names (Icarus by default); tests marked
``smoke`` run on both Icarus and Verilator, so that both stay working.
"""


from sim.tb.runner import SIMULATORS, simulator


def pytest_generate_tests(metafunc):
    if "simulator" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("smoke"):
        metafunc.parametrize("simulator", SIMULATORS)
    else:
        metafunc.parametrize("simulator", [simulator()])
