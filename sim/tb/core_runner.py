"""Run a compiled network on one core's Verilog: the pytest side of ``sim/tb/core.py``.

Compiles the network, writes the job file the testbench reads (host writes for the load
and the input frame, the addresses of each output frame, the predicted cycles), runs the
testbench on the core's Verilog, and decodes the words it read back.
"""

import json

from gen.compiler import compile_network
from hdl.core import Core
from hdl.params import CoreParams

from .runner import BUILD_ROOT, run_cocotb

__all__ = ["run_on_core"]


def run_on_core(simulator, test_name, network, x, params=CoreParams()):
    """Compile ``network``, run it on input frame ``x`` and read its outputs.

    Returns ``(compiled, result, decoded)``: the :class:`~gen.compiler.Compiled` program,
    the testbench's result (``cycles`` it counted, the core's ``counter``, the ``conflict``
    flag) and each output tensor decoded to an (H, W, C) array.
    """
    compiled = compile_network(network, params)
    job_path = BUILD_ROOT / f"{test_name}-job.json"
    result_path = BUILD_ROOT / f"{test_name}-result.json"
    job_path.parent.mkdir(parents=True, exist_ok=True)
    result_path.unlink(missing_ok=True)
    job_path.write_text(json.dumps({
        "load": compiled.load_words(),
        "input": compiled.input_words(x),
        "outputs": {name: compiled.output_addresses(name) for name in network.outputs},
        "predicted_cycles": compiled.predicted_cycles,
    }))
    run_cocotb(Core(params), toplevel="core", test_module="core", test_name=test_name,
               sim=simulator, shared_build=True,
               params={"job": str(job_path), "result": str(result_path)})
    result = json.loads(result_path.read_text())
    decoded = {name: compiled.decode(name, words) for name, words in result["outputs"].items()}
    return compiled, result, decoded
