"""The UART host bridge, split three ways: gateware (:mod:`fpga.host.gateware`,
:mod:`fpga.host.uart`), the host class (:mod:`fpga.host.interface`) and the command line
(:mod:`fpga.host.cli`, run as ``python -m fpga.host``); :mod:`fpga.host.protocol` is the
framing both sides share."""
