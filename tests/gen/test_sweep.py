"""``make sweep``: the grid, its refusals, resuming, failures as rows, the Pareto fronts and
the area model, and a small sweep end to end, serially and on a local Ray.

The points project the digits ResNet (``models/``) on arrays of one to four default cores,
a fraction of a second each.
"""

import csv
import dataclasses
import json
import sys
from pathlib import Path

import pytest

from gen import cli, energy, extras, project
from gen.area import AreaError, chip_area, load_figures
from gen.sweep import main
from gen.sweep import point as sweep_point
from gen.sweep import run as sweep_run
from gen.sweep.grid import load_grid, points
from gen.sweep.pareto import front
from hdl.params import NORTHPOLE_CORE, PRESETS, ChipParams

ROOT = Path(__file__).resolve().parents[2]
DIGITS = str(ROOT / "models" / "digits_resnet.tflite")
#: The regression's sweep: 1x1 and 2x2 arrays with 2 KB (too little) or 64 KB of weight SRAM.
TINY = f'model = "{DIGITS}"\ncores = ["1x1", "2x2"]\npreset = "default"\nweight_kb = [2, 64]\n'


def sweep_file(tmp_path, text, name="grid.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def sweep(path, out, *options):
    """Run ``make sweep`` on ``path`` into ``out``; its exit status."""
    return main(["--sweep", str(path), "--out", str(out), *options])


def rows(out, name="grid"):
    with (out / f"{name}.csv").open() as file:
        return list(csv.DictReader(file))


@pytest.fixture
def ran(monkeypatch):
    """The points each run evaluates, in order (the serial runner's evaluate, wrapped)."""
    evaluated = []

    def evaluate(point, network, energy=None):
        evaluated.append(point)
        return sweep_point.evaluate(point, network, energy)

    monkeypatch.setattr(sweep_run, "evaluate", evaluate)
    return evaluated


def test_grid_is_every_combination_in_order(tmp_path):
    path = sweep_file(tmp_path, 'model = "resnet18"\nbits = [4, 2]\ncores = ["8x8", "16x16", "4x8"]\n'
                                'clock_mhz = 500\n')
    expected = [{"model": "resnet18", "cores": cores, "bits": bits, "clock_mhz": 500}
                for cores in ("8x8", "16x16", "4x8") for bits in (4, 2)]
    assert points(load_grid(path)) == expected
    as_json = sweep_file(tmp_path, json.dumps({"model": "resnet18", "cores": ["8x8", "16x16", "4x8"],
                                               "bits": [4, 2], "clock_mhz": 500}), "grid.json")
    assert points(load_grid(as_json)) == expected


def test_model_replaced(tmp_path):
    path = sweep_file(tmp_path, 'model = "resnet18"\ncores = "8x8"\n')
    assert points(load_grid(path, model="resnet50")) == [{"model": "resnet50", "cores": "8x8"}]


#: The clocks a sweep file may give, as its refusal states them.
CLOCKS = "a number of MHz from 0.001 to 1e+06 (1 kHz to 1 THz)"


@pytest.mark.parametrize("text, message", [
    ('model = "resnet18"\nlane = [8]\n', "unknown parameter 'lane' (one of model, cores, preset, lanes, "
                                        "columns, activation_kb, weight_kb, activation_banks, "
                                        "settings_depth, program_depth, bits, clock_mhz, mapping)"),
    ('model = "resnet18"\nlanes = []\n', "lanes has no values, so the grid is empty; give at least one"),
    ('cores = "4x4"\n', "model must be given (resnet18, resnet50 or an existing .tflite file), in the file "
                        "or as MODEL"),
    ('', "model must be given (resnet18, resnet50 or an existing .tflite file), in the file or as MODEL"),
    ('model = "resnet34"\n', "model must be resnet18, resnet50 or an existing .tflite file, not 'resnet34'"),
    ('model = "absent.tflite"\n', "model must be resnet18, resnet50 or an existing .tflite file, "
                                  "not 'absent.tflite'"),
    ('model = "resnet18"\ncores = ["4x4", "0x4"]\n', "cores must be ROWSxCOLUMNS from 1x1 to 32x32, "
                                                     "not '0x4'"),
    ('model = "resnet18"\ncores = [44]\n', "cores must be ROWSxCOLUMNS from 1x1 to 32x32, not 44"),
    ('model = "resnet18"\npreset = "big"\n', "preset must be one of default, northpole, not 'big'"),
    ('model = "resnet18"\nlanes = [8, 12]\n', "lanes must be a power of two from 4 to 128, not 12"),
    ('model = "resnet18"\ncolumns = 256\n', "columns must be a power of two from 2 to 128, not 256"),
    ('model = "resnet18"\nlanes = 2\n', "lanes must be a power of two from 4 to 128, not 2"),
    ('model = "resnet18"\nlanes = true\n', "lanes must be a power of two from 4 to 128, not True"),
    ('model = "resnet18"\nweight_kb = 32768\n', "weight_kb must be a power of two from 1 to 16384, "
                                                "not 32768"),
    ('model = "resnet18"\nactivation_kb = "64"\n', "activation_kb must be a power of two from 1 to 16384, "
                                                   "not '64'"),
    ('model = "resnet18"\nactivation_banks = 1\n', "activation_banks must be a power of two of at least 2, "
                                                   "not 1"),
    ('model = "resnet18"\nsettings_depth = 8192\n', "settings_depth must be a power of two from 2 to 4096, "
                                                    "not 8192"),
    ('model = "resnet18"\nprogram_depth = 0\n', "program_depth must be a power of two from 2 to 4096, not 0"),
    ('model = "resnet18"\nbits = [4, 3]\n', "bits must be 8, 4 or 2, not 3"),
    ('model = "resnet18"\nclock_mhz = -400\n', f"clock_mhz must be {CLOCKS}, not -400"),
    ('model = "resnet18"\nclock_mhz = inf\n', f"clock_mhz must be {CLOCKS}, not inf"),
    ('model = "resnet18"\nclock_mhz = 1e308\n', f"clock_mhz must be {CLOCKS}, not 1e+308"),
    ('model = "resnet18"\nbits = [4, 2, 4]\n', "bits lists 4 more than once"),
    ('model = "resnet18"\nmapping = "stream"\n', "mapping must be one of pipeline, layers, not 'stream'"),
    ('model = "resnet18"\ncores = [\n', "not TOML (Invalid value (at end of document))"),
])
def test_sweep_file_wrong(tmp_path, capsys, ran, text, message):
    path = sweep_file(tmp_path, text)
    assert sweep(path, tmp_path / "out", "--serial") == 2
    assert capsys.readouterr().err.splitlines() == [f"error: {path}: {message}"]
    assert ran == []
    assert not (tmp_path / "out").exists()


def test_sweep_file_suffix_wrong(tmp_path, capsys):
    path = sweep_file(tmp_path, 'model = "resnet18"\n', "grid.yaml")
    assert sweep(path, tmp_path / "out", "--serial") == 2
    message = f"error: SWEEP must be a .toml or .json file, not '{path}'"
    assert capsys.readouterr().err.splitlines() == [message]


def test_area_file_wrong(tmp_path, capsys):
    figures = tmp_path / "area.json"
    figures.write_text(json.dumps({"figures": {"mac_int8_um2": 24.8, "sram_um2_per_bit": -0.1}}))
    assert sweep(sweep_file(tmp_path, TINY), tmp_path / "out", "--serial", "--area", str(figures)) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: {figures}: figure sram_um2_per_bit must be finite and non-negative, not -0.1"]


def test_energy_file_prices_every_point(tmp_path, ran):
    path, out = sweep_file(tmp_path, TINY), tmp_path / "out"
    assert sweep(path, out, "--serial") == 0
    default = rows(out)
    doubled = tmp_path / "doubled.json"
    figures = {name: 2 * value for name, value in energy.load_figures().items()}
    doubled.write_text(json.dumps({"figures": figures}))
    ran.clear()
    assert sweep(path, out, "--serial", "--energy", str(doubled)) == 0
    # Rows priced with other figures are not resumed: every point runs again.
    assert len(ran) == 4
    again = rows(out)
    fitting = [(before, after) for before, after in zip(default, again, strict=True)
               if after["fits"] == "True"]
    assert len(fitting) == 2
    for before, after in fitting:
        assert float(after["energy_j_per_frame"]) == pytest.approx(2 * float(before["energy_j_per_frame"]),
                                                                   rel=1e-3)
        assert after["frames_per_s"] == before["frames_per_s"]
    assert json.loads((out / "grid.json").read_text())["energy_parameters"] == "doubled.json"


@pytest.mark.parametrize("figures, message", [
    ({"mac_int8_pj": 0.05}, "figure mac_int4_pj is missing"),
    ({**energy.load_figures(), "link_pj_per_bit": -1}, "figure link_pj_per_bit must be finite and "
                                                       "non-negative, not -1"),
])
def test_energy_file_wrong(tmp_path, capsys, ran, figures, message):
    path = tmp_path / "energy.json"
    path.write_text(json.dumps({"figures": figures}))
    assert sweep(sweep_file(tmp_path, TINY), tmp_path / "out", "--serial", "--energy", str(path)) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: ENERGY {path}: {message}")
    assert ran == []
    assert not (tmp_path / "out").exists()


def test_energy_file_missing_wrong(tmp_path, capsys, ran):
    path = tmp_path / "none.json"
    assert sweep(sweep_file(tmp_path, TINY), tmp_path / "out", "--serial", "--energy", str(path)) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: ENERGY {path}: cannot be read (No such file or directory)"]
    assert ran == []


def test_missing_ray_names_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    assert sweep(sweep_file(tmp_path, TINY), tmp_path / "out") == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: make sweep needs ray, from the 'sweep' extra: pip install 'northpole-gen[sweep]' "
        "(or run serially: SERIAL=1, --serial)"]


def test_missing_matplotlib_names_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert project.main(["--model", "resnet18", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: make project needs matplotlib, from the 'plot' extra: pip install 'northpole-gen[plot]'"]


def test_npgen_names_a_missing_extra(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "cocotb", None)
    assert cli.main(["run", "--help"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: npgen run needs cocotb, from the 'sim' extra: pip install 'northpole-gen[sim]'"]


def test_extra_wrong():
    with pytest.raises(ValueError, match=r"^extra must be one of sim, fpga, plot, sweep, not 'gpu'$"):
        extras.require("gpu", "make sweep")


def test_npgen_dispatches_sweep(capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main(["sweep", "--help"])
    assert exit.value.code == 0
    assert "--serial" in capsys.readouterr().out


def test_points_that_cannot_fit_are_rows_with_their_reason(tmp_path, ran):
    # Columns beyond the lanes: no such core. 2 KB of weights: the digits ResNet's 3x3 convs
    # of 16 channels need more on one core.
    path = sweep_file(tmp_path, TINY.replace("weight_kb = [2, 64]", "weight_kb = [2, 64]\ncolumns = [8, 16]"))
    assert sweep(path, tmp_path / "out", "--serial") == 0
    table = rows(tmp_path / "out")
    assert [(row["cores"], row["columns"], row["weight_kb"], row["fits"]) for row in table] == [
        ("1x1", "8", "2", "False"), ("1x1", "8", "64", "True"), ("1x1", "16", "2", "False"),
        ("1x1", "16", "64", "False"), ("2x2", "8", "2", "False"), ("2x2", "8", "64", "True"),
        ("2x2", "16", "2", "False"), ("2x2", "16", "64", "False")]
    for row in table:
        if row["columns"] == "16":
            assert row["reason"] == "core MAC columns must be at most its 8 lanes, not 16"
            assert row["area_mm2"] == "" and row["frames_per_s"] == ""
        elif row["weight_kb"] == "2":
            assert f"do not fit a {row['cores']} array of this core: weight SRAM overflows" in row["reason"]
    assert [(point["cores"], point["columns"]) for point in ran] == [("1x1", 8)] * 2 + [("2x2", 8)] * 2


def test_weight_overflow_reason(tmp_path):
    path = sweep_file(tmp_path, f'model = "{DIGITS}"\ncores = "1x1"\npreset = "default"\nweight_kb = 4\n')
    assert sweep(path, tmp_path / "out", "--serial") == 0
    (row,) = rows(tmp_path / "out")
    assert row["fits"] == "False"
    assert row["reason"].startswith("layers ")
    assert "do not fit a 1x1 array of this core: weight SRAM overflows at layer " in row["reason"]
    assert row["reason"].endswith("the core has 4096")      # 4 KB, 8 banks of 512 bytes
    assert row["frames_per_s"] == ""
    assert "\n" not in row["reason"]


def test_a_failing_compilation_never_aborts_the_sweep(tmp_path, monkeypatch):
    real = sweep_point.project

    def project_or_fail(network, params, rows, columns, clock_hz, **options):
        if rows == 2:
            raise RuntimeError("the compiler broke\nsecond line")
        return real(network, params, rows, columns, clock_hz, **options)

    monkeypatch.setattr(sweep_point, "project", project_or_fail)
    assert sweep(sweep_file(tmp_path, TINY), tmp_path / "out", "--serial") == 0
    table = rows(tmp_path / "out")
    reasons = [row["reason"] for row in table if row["cores"] == "2x2"]
    assert reasons == ["RuntimeError: the compiler broke"] * 2
    assert [row["fits"] for row in table if row["cores"] == "1x1"] == ["False", "True"]


def test_rerun_runs_only_the_removed_points(tmp_path, ran):
    path, out = sweep_file(tmp_path, TINY), tmp_path / "out"
    assert sweep(path, out, "--serial") == 0
    assert len(ran) == 4
    first = rows(out)
    removed = [first[1]["key"], first[2]["key"]]
    for key in removed:
        (out / "grid" / f"{key}.json").unlink()
    ran.clear()
    assert sweep(path, out, "--serial") == 0
    assert [point["cores"] + "/" + str(point["weight_kb"]) for point in ran] == ["1x1/64", "2x2/2"]
    again = rows(out)
    for before, after in zip(first, again, strict=True):
        assert {**before, "seconds": ""} == {**after, "seconds": ""}


def test_rerun_after_a_subset_runs_the_rest(tmp_path, ran):
    out = tmp_path / "out"
    (tmp_path / "subset").mkdir()
    subset = sweep_file(tmp_path / "subset", TINY.replace('cores = ["1x1", "2x2"]', 'cores = "1x1"'))
    assert sweep(subset, out, "--serial") == 0
    assert [point["weight_kb"] for point in ran] == [2, 64]
    ran.clear()
    assert sweep(sweep_file(tmp_path, TINY), out, "--serial") == 0
    assert [(point["cores"], point["weight_kb"]) for point in ran] == [("2x2", 2), ("2x2", 64)]
    assert len(rows(out)) == 4


def test_interrupted_sweep_resumes(tmp_path, capsys, monkeypatch, ran):
    path, out = sweep_file(tmp_path, TINY), tmp_path / "out"
    counting = sweep_run.evaluate

    def interrupted(point, network, energy=None):
        if len(ran) == 2:
            raise KeyboardInterrupt
        return counting(point, network, energy)

    monkeypatch.setattr(sweep_run, "evaluate", interrupted)
    assert sweep(path, out, "--serial") == 130
    assert "interrupted: 2 of 4 points done; run again to resume" in capsys.readouterr().err
    assert not (out / "grid.csv").exists()
    monkeypatch.setattr(sweep_run, "evaluate", counting)
    ran.clear()
    assert sweep(path, out, "--serial") == 0
    assert [(point["cores"], point["weight_kb"]) for point in ran] == [("2x2", 2), ("2x2", 64)]
    assert [row["fits"] for row in rows(out)] == ["False", "True", "False", "True"]


def test_pareto_front():
    def row(fps, energy, fits=True):
        return {"fits": fits, "frames_per_s": fps, "energy_j_per_frame": energy}
    table = [row(100, 5.0), row(200, 5.0), row(200, 4.0), row(50, 1.0), row(300, 9.0), row(400, 0.5, False),
             row(50, 2.0), row(300, 9.0)]
    # 0 and 1 are beaten by 2; 6 by 3; 4 and 7 tie, neither beats the other; 5 does not fit.
    assert front(table, "energy_j_per_frame") == [2, 3, 4, 7]
    assert front([row(1, 1, False)], "energy_j_per_frame") == []


def test_area_of_northpole():
    figures = load_figures()
    area = chip_area(ChipParams(16, 16, NORTHPOLE_CORE), figures)
    # 256 cores of 64 x 32 MACs; 256 KB + 512 KB of SRAM, a settings table of 64 entries of
    # 32 columns x 9 bytes (5 words of 64 bytes each) and 512 instructions of 2 words.
    macs, bits = 256 * 64 * 32, 256 * 8 * (256 * 1024 + 512 * 1024 + 64 * 5 * 64 + 512 * 2 * 64)
    assert area["mac_mm2"] == pytest.approx(macs * figures["mac_int8_um2"] / 1e6)
    assert area["sram_mm2"] == pytest.approx(bits * figures["sram_um2_per_bit"] / 1e6)
    assert area["total_mm2"] == pytest.approx(area["mac_mm2"] + area["sram_mm2"])
    assert 100 < area["total_mm2"] < 800        # NorthPole's die is 800 mm^2, more than MACs and memories


def test_area_figures_wrong(tmp_path):
    path = tmp_path / "area.json"
    path.write_text(json.dumps({"figures": {"mac_int8_um2": 1.0}}))
    with pytest.raises(AreaError, match=r"^.*area\.json: figure sram_um2_per_bit is missing \(um\^2 per bit "
                                        r"of memory, its periphery included\)$"):
        load_figures(path)


def test_area_params_wrong():
    with pytest.raises(TypeError, match=r"^chip_area params must be a ChipParams, not 4$"):
        chip_area(4, load_figures())


def test_small_sweep_on_local_ray(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    out = tmp_path / "out"
    assert sweep(sweep_file(tmp_path, TINY), out) == 0
    table = rows(out)
    assert [(row["cores"], row["weight_kb"], row["fits"]) for row in table] == [
        ("1x1", "2", "False"), ("1x1", "64", "True"), ("2x2", "2", "False"), ("2x2", "64", "True")]
    assert json.loads((out / "grid.json").read_text())["runner"] == "ray"
    assert (out / "grid_pareto.png").stat().st_size > 0
    # Each point that fits has what make project reports for its array.
    network = project._network(DIGITS, None, 0)
    for row in table[1::2]:
        height, width = map(int, row["cores"].split("x"))
        core = PRESETS["default"]     # 64 KB of weights: 8 banks of 1024 words of 8 bytes
        core = dataclasses.replace(core, weight_depth=64 * 1024 // (core.mac.columns * core.mac.lanes))
        report = project.project(network, core, height, width, 400e6)
        assert float(row["frames_per_s"]) == report["frames_per_s"]
        assert float(row["energy_j_per_frame"]) == report["energy"]["energy_j_per_frame"]
        assert float(row["utilization"]) == report["utilization"]
    assert "4/4 points, 2 do not fit" in capsys.readouterr().err


def test_unreachable_cluster_wrong(tmp_path, capsys, monkeypatch, ran):
    def unreachable(address, **options):
        raise ConnectionError("Failed to connect to Ray cluster at 127.0.0.1:9")

    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:9")
    monkeypatch.setattr("ray.init", unreachable)
    assert sweep(sweep_file(tmp_path, TINY), tmp_path / "out") == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "error: RAY_ADDRESS '127.0.0.1:9': Failed to connect to Ray cluster at 127.0.0.1:9")
    assert ran == []
