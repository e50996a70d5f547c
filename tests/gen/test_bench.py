"""``make bench`` (:mod:`gen.bench`): an unusable ``--out`` is refused in one line before any
case is compiled or simulated; the resident benchmark's choice of the core and array it runs."""

from types import SimpleNamespace

from gen import bench
from gen.array import Stage


def test_out_wrong(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    for out, message in [
            (tmp_path / "file", f"error: OUT must name a directory, not the file {str(tmp_path / 'file')!r}"),
            (tmp_path / "file" / "bench", f"error: OUT must lie in a directory, not under the file "
                                          f"{str(tmp_path / 'file')!r}")]:
        assert bench.main(["--out", str(out)]) == 2
        captured = capsys.readouterr()
        assert captured.err.splitlines() == [message]
        assert captured.out == ""


def test_heaviest_core_is_found_in_its_stage():
    compiled = SimpleNamespace(
        busy={(0, 0): {"stem": 5}, (1, 0): {"conv": 3, "add": 4}, (0, 1): {"conv": 6}},
        stages=(Stage(("stem",), ((0, 0),)), Stage(("conv", "add"), ((0, 1), (1, 0)))))
    assert bench.heaviest_core(compiled) == (compiled.stages[1], 1)


def test_smallest_array_is_the_squarest_of_exactly_that_many_cores():
    assert [bench.smallest_array(cores) for cores in (1, 7, 12, 16, 18)] == [
        (1, 1), (1, 7), (3, 4), (4, 4), (3, 6)]
