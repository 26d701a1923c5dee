"""Paths a user gives that cannot be read or written are one-line errors with exit code 2 that
name the path, never a traceback, and leave nothing behind."""

import pytest

from groklab.cli.main import main


def one_line(capsys, code, *needles):
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("groklab: error: "), err
    assert "Traceback" not in out + err
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_a_config_file_that_is_not_text(tmp_path, capsys):
    cfg = tmp_path / "binary.yaml"
    cfg.write_bytes(b"\x80\x81\x00\xff")
    one_line(capsys, main(["train", "--config", str(cfg), "--out", str(tmp_path / "r")]),
             "is not UTF-8 text", str(cfg))
    assert not (tmp_path / "r").exists()


def test_an_out_directory_under_a_file(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    code = main(["train", "--quiet", "--p", "7", "--set", "model.d_model=16",
                 "--out", str(blocker / "run")])
    one_line(capsys, code, str(blocker / "run"), "Not a directory")


@pytest.mark.parametrize("where, message", [("dir", "is a directory"),
                                            ("missing/x.csv", "cannot write")])
def test_tasks_export_onto_a_directory_or_a_missing_folder(tmp_path, capsys, where, message):
    target = tmp_path if where == "dir" else tmp_path / where
    one_line(capsys, main(["tasks", "export", "add", "--p", "5", "--out", str(target)]),
             message, str(target))
    assert [p.name for p in tmp_path.iterdir()] == []  # no temp file left
