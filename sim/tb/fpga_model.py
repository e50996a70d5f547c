"""cocotb testbench of the FPGA top level running a whole model through the host's command line.

The host driver's command line itself (:func:`fpga.host.cli.main`) runs in a cocotb bridge
thread with the job's arguments, talking to the design through the simulated UART of
:mod:`sim.tb.fpga` instead of a serial port: ``run-model`` imports the model, compiles it
for the array, loads it, streams the frames, checks them and writes its output file. The
result file holds its exit status and what it printed on standard output and standard
error, for the pytest side to check against its own golden model and prediction.
"""

import contextlib
import io
import json

import cocotb

from sim.tb.fpga import Transport, bridge, start_top
from sim.tb.runner import testbench_params


@cocotb.test()
async def host_command_line(dut):
    from fpga.host.cli import main

    tb = testbench_params()
    with open(tb["job"]) as file:
        job = json.load(file)
    uart = await start_top(dut, job["divisor"])
    out, err = io.StringIO(), io.StringIO()

    @bridge
    def command():
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            return main(job["argv"], transport=Transport(uart))

    status = await command()
    with open(tb["result"], "w") as file:
        json.dump({"status": status, "stdout": out.getvalue(), "stderr": err.getvalue()}, file)
