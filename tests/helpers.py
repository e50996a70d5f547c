"""Helpers shared by the Amaranth-simulator unit tests."""

from amaranth.sim import Simulator

__all__ = ["CLOCK_PERIOD", "run_stream"]

#: Simulated clock period, in seconds.
CLOCK_PERIOD = 1e-8


def run_stream(dut, inputs, *, o_port, drain):
    """Drive ``inputs`` one per cycle into ``dut.i_data`` and collect ``dut.<o_port>``.

    ``inputs`` are payload values (dicts for a struct layout), or ``None`` for an idle
    cycle. Runs ``len(inputs) + drain`` cycles and returns ``[(cycle, [int, ...])]`` for
    every cycle the output was valid, where input ``k`` is sampled at the end of cycle
    ``k`` (so an output ``c - k`` cycles after the input that caused it).
    """
    outputs = []
    port = getattr(dut, o_port)

    async def driver(ctx):
        for payload in inputs:
            ctx.set(dut.i_data.valid, payload is not None)
            if payload is not None:
                ctx.set(dut.i_data.payload, payload)
            await ctx.tick()
        ctx.set(dut.i_data.valid, 0)

    async def monitor(ctx):
        cycle = 0
        async for _, _, valid, payload in ctx.tick().sample(port.valid, port.payload):
            if valid:
                outputs.append((cycle, [int(value) for value in payload]))
            cycle += 1

    simulator = Simulator(dut)
    simulator.add_clock(CLOCK_PERIOD)
    simulator.add_testbench(driver)
    simulator.add_process(monitor)
    simulator.run_until(CLOCK_PERIOD * (len(inputs) + drain))
    return outputs
