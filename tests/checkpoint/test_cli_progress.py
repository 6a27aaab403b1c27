"""CLI: progress only on a terminal (or --progress), in units that fit; Ctrl-C is one line,
exit 130, and the output directory is as it was."""

import json
import os
import signal
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
import fastinit  # noqa: E402
from fastinit.checkpoint._units import human_bytes  # noqa: E402
from fastinit.cli import main  # noqa: E402

CONFIG = {"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
          "num_attention_heads": 4, "vocab_size": 120}


def test_no_progress_into_a_redirected_stderr(tmp_path, capsys):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(CONFIG))
    assert main(["checkpoint", str(cfg), "--out", str(tmp_path / "a")]) == 0  # not a tty
    assert capsys.readouterr().err == ""
    assert main(["checkpoint", str(cfg), "--out", str(tmp_path / "b"), "--progress"]) == 0
    err = capsys.readouterr().err
    assert "\r" in err and "kB / " in err and "0.00" not in err
    assert main(["verify", str(tmp_path / "b")]) == 0
    assert capsys.readouterr().err == ""


def test_units_fit():
    assert [human_bytes(n) for n in (512, 2048, 3.5e6, 1.07e9, 2e12)] == [
        "512 B", "2.05 kB", "3.5 MB", "1.07 GB", "2 TB"]


SLOW = os.path.join(os.path.dirname(__file__), "slow_writer.py")


def test_ctrl_c_is_one_line_and_exit_130(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(CONFIG))
    out = tmp_path / "out"
    fastinit.checkpoint(CONFIG, out, seed=1, progress=False)
    before = {n: (out / n).read_bytes() for n in os.listdir(out)}
    p = subprocess.Popen([sys.executable, SLOW, "0", "0.5", "checkpoint", str(cfg), "--out",
                          str(out), "--seed", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    assert p.stdout.readline() == "writing\n"
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130
    assert err.strip().splitlines() == [f"fastinit checkpoint: interrupted; {out} is as it was"]
    assert {n: (out / n).read_bytes() for n in os.listdir(out)} == before
    assert sorted(os.listdir(tmp_path)) == ["c.json", "out"]
