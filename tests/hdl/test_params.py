"""Parameter validation: every bad value is refused with a message naming it."""

import pytest

from hdl.params import (
    MAX_ACTIVATION_BANKS,
    MAX_BUFFER_DEPTH,
    MAX_MAC_LANES,
    MAX_SRAM_BYTES,
    MAX_TABLE_DEPTH,
    NORTHPOLE_CORE,
    PRESETS,
    ChipParams,
    CoreParams,
    MacParams,
    Precision,
    parse_cores,
)


@pytest.mark.parametrize("text, expected", [("4x4", (4, 4)), ("1x16", (1, 16)), ("16X16", (16, 16))])
def test_parse_cores(text, expected):
    assert parse_cores(text) == expected


@pytest.mark.parametrize("text, message", [
    ("4x", r"^CORES must have the form ROWSxCOLUMNS, such as 4x4, not '4x'$"),
    ("4x4x4", r"^CORES must have the form ROWSxCOLUMNS, such as 4x4, not '4x4x4'$"),
    ("-1x4", r"^CORES must have the form ROWSxCOLUMNS, such as 4x4, not '-1x4'$"),
    ("0x4", r"^CORES must be between 1x1 and 32x32, not '0x4'$"),
    ("4x33", r"^CORES must be between 1x1 and 32x32, not '4x33'$"),
])
def test_parse_cores_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        parse_cores(text)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"lanes": 6}, ValueError, r"^MAC lanes must be a power of two of at least 4, not 6$"),
    ({"columns": 1}, ValueError, r"^MAC columns must be a power of two of at least 2, not 1$"),
    ({"lanes": 2, "columns": 2}, ValueError, r"^MAC lanes must be a power of two of at least 4, not 2$"),
    ({"lanes": 8.0}, TypeError, r"^MAC lanes must be an integer, not 8\.0$"),
    ({"lanes": 2 * MAX_MAC_LANES}, ValueError, rf"^MAC lanes must be at most {MAX_MAC_LANES}, not "
                                               rf"{2 * MAX_MAC_LANES}$"),
    ({"multiply_stages": 3}, ValueError, r"^MAC multiply_stages must be one of 1, 2, not 3$"),
    ({"multiply_stages": 0}, ValueError, r"^MAC multiply_stages must be one of 1, 2, not 0$"),
    ({"multiply_stages": True}, TypeError, r"^MAC multiply_stages must be an integer, not True$"),
    ({"scales_below_one": 1}, TypeError, r"^MAC scales_below_one must be True or False, not 1$"),
    ({"operand_register": None}, TypeError, r"^MAC operand_register must be True or False, not None$"),
    ({"delay_memory": 0}, TypeError, r"^MAC delay_memory must be True or False, not 0$"),
    ({"rescale_cycles": 3}, ValueError, r"^MAC rescale_cycles must be one of 1, 2, not 3$"),
    ({"rescale_cycles": 2.0}, TypeError, r"^MAC rescale_cycles must be an integer, not 2\.0$"),
    ({"rescale_cycles": 2}, ValueError, r"^MAC rescale_cycles 2 needs multiply_stages 2, not 1$"),
    ({"requantize_columns": 3}, ValueError,
     r"^MAC requantize_columns must be a power of two dividing its 8 columns, not 3$"),
    ({"requantize_columns": 16}, ValueError,
     r"^MAC requantize_columns must be a power of two dividing its 8 columns, not 16$"),
    ({"requantize_columns": 0}, ValueError,
     r"^MAC requantize_columns must be a power of two dividing its 8 columns, not 0$"),
    ({"requantize_columns": 2.0}, TypeError, r"^MAC requantize_columns must be an integer, not 2\.0$"),
    ({"precisions": ()}, ValueError, r"^MAC precisions must name at least one precision, not \(\)$"),
    ({"precisions": (0, 5)}, ValueError, r"^MAC precisions must be Precision values, not \(0, 5\)$"),
    ({"precisions": 8}, ValueError, r"^MAC precisions must be Precision values, not 8$"),
    ({"dsp_block": "DSP48"}, ValueError, r"^MAC dsp_block must be one of None, 'SB_MAC16', not 'DSP48'$"),
    ({"dsp_block": "SB_MAC16"}, ValueError,
     r"^MAC dsp_block 'SB_MAC16' takes int8 products only, so precisions must be int8 alone, not int8, int4, "
     r"int2$"),
])
def test_mac_params_wrong(kwargs, error, message):
    with pytest.raises(error, match=message):
        MacParams(**kwargs)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"activation_banks": 2 * MAX_ACTIVATION_BANKS, "activation_depth": 2}, ValueError,
     rf"^core activation_banks must be at most {MAX_ACTIVATION_BANKS}, not {2 * MAX_ACTIVATION_BANKS}$"),
    ({"settings_depth": 2 * MAX_TABLE_DEPTH}, ValueError,
     rf"^core settings_depth must be at most {MAX_TABLE_DEPTH}, not {2 * MAX_TABLE_DEPTH}$"),
    ({"program_depth": 2 * MAX_TABLE_DEPTH}, ValueError,
     rf"^core program_depth must be at most {MAX_TABLE_DEPTH}, not {2 * MAX_TABLE_DEPTH}$"),
    # 4 banks of 8-byte words: one more doubling than MAX_SRAM_BYTES allows.
    ({"activation_depth": 2 * MAX_SRAM_BYTES // 32}, ValueError,
     rf"^core activation SRAM must hold at most {MAX_SRAM_BYTES} bytes, not {2 * MAX_SRAM_BYTES}$"),
    ({"weight_depth": 2 * MAX_SRAM_BYTES // 64}, ValueError,
     rf"^core weight SRAM must hold at most {MAX_SRAM_BYTES} bytes, not {2 * MAX_SRAM_BYTES}$"),
    ({"program_split": 1}, TypeError, r"^core program_split must be True or False, not 1$"),
    ({"narrow_program": "yes"}, TypeError, r"^core narrow_program must be True or False, not 'yes'$"),
    ({"message_sequencer": 0}, TypeError, r"^core message_sequencer must be True or False, not 0$"),
    ({"program_steps": 1}, TypeError, r"^core program_steps must be True or False, not 1$"),
    ({"program_steps": True}, ValueError,
     r"^core program_steps needs narrow_program \(the steps are read a word at a time\)$"),
    ({"fused_add": None}, TypeError, r"^core fused_add must be True or False, not None$"),
    ({"program_split": True, "message_sequencer": False}, ValueError,
     r"^core program_split must be False without a message_sequencer \(it halves the program memory for a "
     r"message program\)$"),
    ({"count_width": 3}, ValueError, r"^core count_width must lie in \[4, 12\], not 3$"),
    ({"count_width": 13}, ValueError, r"^core count_width must lie in \[4, 12\], not 13$"),
    ({"count_width": 8.0}, TypeError, r"^core count_width must be an integer, not 8\.0$"),
    ({"tokens": 6}, ValueError, r"^core tokens must be a power of two from 4 to 16, not 6$"),
    ({"tokens": 2}, ValueError, r"^core tokens must be a power of two from 4 to 16, not 2$"),
    ({"tokens": 32}, ValueError, r"^core tokens must be a power of two from 4 to 16, not 32$"),
])
def test_core_params_wrong(kwargs, error, message):
    with pytest.raises(error, match=message):
        CoreParams(**kwargs)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"core": 8}, TypeError, r"^chip core must be a CoreParams, not 8$"),
    ({"core": MacParams()}, TypeError,
     r"^chip core must be a CoreParams, not MacParams\(lanes=8, columns=8, multiply_stages=1, "
     r"requantize_columns=8, rescale_cycles=1, scales_below_one=False, operand_register=True, "
     r"delay_memory=False, precisions=\(<Precision.INT8: 0>, "
     r"<Precision.INT4: 1>, <Precision.INT2: 2>\), dsp_block=None\)$"),
    ({"rows": 2.0}, TypeError, r"^chip rows must be an integer, not 2\.0$"),
    ({"columns": 33}, ValueError, r"^CORES must be between 1x1 and 32x32, not '4x33'$"),
    ({"buffer_depth": 1}, ValueError,
     rf"^chip buffer_depth must be between 2 and {MAX_BUFFER_DEPTH}, not 1$"),
    ({"buffer_depth": MAX_BUFFER_DEPTH + 1}, ValueError,
     rf"^chip buffer_depth must be between 2 and {MAX_BUFFER_DEPTH}, not {MAX_BUFFER_DEPTH + 1}$"),
])
def test_chip_params_wrong(kwargs, error, message):
    with pytest.raises(error, match=message):
        ChipParams(**kwargs)


def test_presets():
    assert set(PRESETS) == {"default", "northpole"}
    assert PRESETS["default"] == CoreParams()
    # The paper's core: 2048 MACs a cycle at int8, twice at int4, four times at int2; 768 KB.
    assert [NORTHPOLE_CORE.mac.peak_macs_per_cycle(p) for p in Precision] == [2048, 4096, 8192]
    assert NORTHPOLE_CORE.weight_sram.size_bytes == 512 * 1024
    assert NORTHPOLE_CORE.activation_sram.size_bytes == 256 * 1024


def test_peak_macs_per_cycle():
    params = MacParams(lanes=16, columns=8)
    assert [params.peak_macs_per_cycle(p) for p in Precision] == [128, 256, 512]


def test_precision_ranges():
    assert [(p.bits, p.min, p.max, p.values_per_lane) for p in Precision] == \
        [(8, -128, 127, 1), (4, -8, 7, 2), (2, -2, 1, 4)]
    with pytest.raises(ValueError, match=r"^Precision bits must be one of 8, 4, 2, not 3$"):
        Precision.from_bits(3)


def test_requantize_columns_default_to_every_column():
    assert MacParams(4, 8) == MacParams(4, 8, requantize_columns=8)
    assert MacParams(4, 8).tile_interval == 1
    assert MacParams(4, 8, requantize_columns=2).tile_interval == 4
    assert MacParams(4, 8, multiply_stages=2, requantize_columns=2, rescale_cycles=2).tile_interval == 8


def test_program_limits():
    """Each program may fill a bank shared; split, each has its half; without a message
    sequencer, the compute program has the bank."""
    assert CoreParams(program_depth=32).program_limits == (32, 32, 32)
    assert CoreParams(program_depth=32, program_banks=2, program_split=True).program_limits == (8, 8, 16)
    # Without a message sequencer, the message program (its HALT) takes no memory.
    assert CoreParams(program_depth=32, message_sequencer=False).program_limits == (32, 0, 32)


def test_precisions_normalised():
    """Given in any order and as codes, the precisions compare equal; left out, they peak at 0."""
    params = MacParams(4, 4, precisions=[2, Precision.INT8])
    assert params == MacParams(4, 4, precisions=(Precision.INT8, Precision.INT2))
    assert params.precisions == (Precision.INT8, Precision.INT2)
    assert [params.peak_macs_per_cycle(p) for p in Precision] == [16, 0, 64]
