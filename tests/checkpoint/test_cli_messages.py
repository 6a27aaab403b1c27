"""The CLI's lines say what is wrong in the user's terms: no doubled prefix, no raw errno, no
internal file names, a directory asked for where one is expected, times that are not 0.0 s."""

import json
import os
import re

import pytest

torch = pytest.importorskip("torch")
from fastinit.cli import main  # noqa: E402

CONFIG = {"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
          "num_attention_heads": 4, "vocab_size": 120}


@pytest.fixture
def cfg(tmp_path):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(CONFIG))
    return path


def one_line(capsys, code, *argv):
    assert main(list(argv)) == code
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and "[Errno" not in err, err
    return err, captured.out


def test_no_doubled_prefix(tmp_path, cfg, capsys):
    err, _ = one_line(capsys, 2, "checkpoint", str(cfg), "--out", str(tmp_path / "o"),
                      "--workers", "0")
    assert err == "fastinit checkpoint: error: workers must be an int >= 1, got 0"


def test_an_unwritable_parent_is_named_not_the_lock_file(tmp_path, cfg, capsys):
    err, _ = one_line(capsys, 2, "checkpoint", str(cfg), "--out", "/proc/forbidden")
    assert err.startswith("fastinit checkpoint: error: cannot create files in /proc (")
    assert "fastinit-lock" not in err


@pytest.mark.parametrize("what, words", [("file", "is not a directory"),
                                         ("missing", "does not exist"),
                                         ("empty", "holds no config.json")])
def test_verify_wants_a_checkpoint_directory(tmp_path, cfg, capsys, what, words):
    target = {"file": cfg, "missing": tmp_path / "nothing", "empty": tmp_path / "empty"}[what]
    if what == "empty":
        target.mkdir()
    err, _ = one_line(capsys, 2, "verify", str(target))
    assert err.startswith(f"fastinit verify: error: {target} {words}"), err


def test_a_tiny_checkpoint_reports_milliseconds(tmp_path, cfg, capsys):
    assert main(["checkpoint", str(cfg), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    out = capsys.readouterr().out
    took = re.search(r" in (\S+) (ms|s) \(", out)
    assert took and not (took.group(1) == "0.0" and took.group(2) == "s"), out
    if took.group(2) == "ms":
        assert re.fullmatch(r"\d+", took.group(1))
    assert main(["verify", str(tmp_path / "o"), "--quiet"]) == 0
    assert re.search(r"verify: OK \((\d+ ms|\d+\.\d s)\)", capsys.readouterr().out)


def test_an_existing_file_or_link_where_out_dir_belongs(tmp_path, cfg, capsys):
    os.mkfifo(tmp_path / "fifo")
    err, _ = one_line(capsys, 2, "checkpoint", str(cfg), "--out", str(tmp_path / "fifo"))
    assert err.endswith("fifo exists and is a FIFO, not a directory")
    os.symlink(tmp_path, tmp_path / "link")
    err, _ = one_line(capsys, 2, "checkpoint", str(cfg), "--out", str(tmp_path / "link"))
    assert "is a symbolic link (to " in err and "pass the directory it points to" in err
