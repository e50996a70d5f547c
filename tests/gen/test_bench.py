"""``make bench`` (:mod:`gen.bench`): an unusable ``--out`` is refused in one line before any
case is compiled or simulated."""

from gen import bench


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
