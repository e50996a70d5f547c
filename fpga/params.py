"""The array configurations the FPGA boards build, and their parameters as JSON.

:func:`fpga_core` is the core an FPGA build uses: the MAC array's lanes and columns as
asked, memories scaled down to what block RAM holds (see ``fpga/boards.py``).
"""

import dataclasses

from hdl.params import ChipParams, CoreParams, MacParams

__all__ = ["fpga_core", "chip_params_from_dict", "chip_params_to_dict"]


def fpga_core(lanes, columns, *, activation_kb, weight_kb, activation_banks=2, settings_depth=8,
              program_depth=8, mac_options=None, **options):
    """A :class:`CoreParams` of ``lanes`` x ``columns`` MACs with SRAMs of the given kilobytes,
    with the FPGA-lean options ``mac_options`` of :class:`MacParams` (``multiply_stages=2``,
    ...) and ``options`` of :class:`CoreParams` (``narrow_program=True``, ...)."""
    mac = MacParams(lanes, columns, **(mac_options or {}))
    for name, value in (("activation_kb", activation_kb), ("weight_kb", weight_kb)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"FPGA core {name} must be a positive integer, not {value!r}")
    return CoreParams(mac, activation_banks=activation_banks,
                      activation_depth=activation_kb * 1024 // (activation_banks * lanes),
                      weight_depth=weight_kb * 1024 // (columns * lanes),
                      settings_depth=settings_depth, program_depth=program_depth, **options)


def chip_params_to_dict(params):
    return dataclasses.asdict(params)


def chip_params_from_dict(value):
    """The :class:`ChipParams` that :func:`chip_params_to_dict` (``dataclasses.asdict``) gave."""
    core = dict(value["core"])
    core["mac"] = MacParams(**core["mac"])
    return ChipParams(**{**value, "core": CoreParams(**core)})
