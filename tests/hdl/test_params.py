"""Parameter validation: every bad value is refused with a message naming it."""

import pytest

from hdl.params import ChipParams, MacParams, Precision, parse_cores


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
    ({"columns": 2}, ValueError, r"^MAC columns must be a power of two of at least 4, not 2$"),
    ({"lanes": 8.0}, TypeError, r"^MAC lanes must be an integer, not 8\.0$"),
])
def test_mac_params_wrong(kwargs, error, message):
    with pytest.raises(error, match=message):
        MacParams(**kwargs)


def test_chip_params_wrong():
    with pytest.raises(TypeError, match=r"^mac must be a MacParams, not 8$"):
        ChipParams(mac=8)


def test_peak_macs_per_cycle():
    params = MacParams(lanes=16, columns=8)
    assert [params.peak_macs_per_cycle(p) for p in Precision] == [128, 256, 512]


def test_precision_ranges():
    assert [(p.bits, p.min, p.max, p.values_per_lane) for p in Precision] == \
        [(8, -128, 127, 1), (4, -8, 7, 2), (2, -2, 1, 4)]
    with pytest.raises(ValueError, match=r"^Precision bits must be one of 8, 4, 2, not 3$"):
        Precision.from_bits(3)
