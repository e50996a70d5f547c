"""Run a compiled network on one core's Verilog: the pytest side of ``sim/tb/core.py``.

Compiles the network, writes the job file the testbench reads (host writes for the load
and the input frame, the addresses of each output frame, the predicted cycles), runs the
testbench on the core's Verilog, and decodes the words it read back.
"""

from gen.compiler import compile_network
from hdl.core import Core
from hdl.params import CoreParams

from .runner import elaborated, run_job

__all__ = ["run_on_core"]


def run_on_core(simulator, test_name, network, x, params=CoreParams()):
    """Compile ``network``, run it on input frame ``x`` and read its outputs.

    Returns ``(compiled, result, decoded)``: the :class:`~gen.compiler.Compiled` program,
    the testbench's result (``cycles`` it counted, the core's ``counter``, the ``conflict``
    flag) and each output tensor decoded to an (H, W, C) array.
    """
    compiled = compile_network(network, params)
    result = run_job(elaborated(Core, params, "core"), toplevel="core", test_module="core",
                     test_name=test_name, sim=simulator, job={
                         "load": compiled.load_words(),
                         "input": compiled.input_words(x),
                         "outputs": {name: compiled.output_addresses(name) for name in network.outputs},
                         "predicted_cycles": compiled.predicted_cycles,
                     })
    decoded = {name: compiled.decode(name, words) for name, words in result["outputs"].items()}
    return compiled, result, decoded
