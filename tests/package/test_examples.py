"""The examples run end to end (--quick, in a subprocess) and print their tables."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run(script: str, out: Path) -> str:
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONWARNINGS": "error"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def test_init_experiment_quick(tmp_path: Path) -> None:
    out = _run("init_experiment.py", tmp_path)
    assert "train acc" in out and "test acc" in out and "final cost" in out
    rows = {}
    for name in ("zeros", "normal", "normal x10", "normal /10", "He", "Xavier", "LeCun",
                 "orthogonal", "LSUV"):
        m = re.search(rf"^{re.escape(name)}\s+([\d.]+)%\s+([\d.]+)%\s+([\d.eE+-]+)", out, re.M)
        assert m, f"no row for {name!r} in:\n{out}"
        rows[name] = [float(g) for g in m.groups()]
    train, test, cost = rows["zeros"]
    assert abs(train - 50.0) <= 5.0 and abs(test - 50.0) <= 5.0  # symmetry never breaks
    assert cost == pytest.approx(0.6931, abs=1e-3)  # log 2: the output stays at 1/2
    if _has_matplotlib():
        assert (tmp_path / "cost_curves.png").stat().st_size > 0
        assert (tmp_path / "decision_boundaries.png").stat().st_size > 0
    else:
        assert "matplotlib is not installed" in out


def test_deep_signal_quick(tmp_path: Path) -> None:
    out = _run("deep_signal.py", tmp_path)
    for act in ("tanh", "relu"):
        assert re.search(rf"^{act}: 20 layers of width 128", out, re.M), out
    lines = {}
    for block in out.split("\n\n"):
        act = block.split(":", 1)[0].strip()
        for line in block.splitlines():
            parts = line.split()
            if parts and parts[0] in ("normal", "Xavier", "He", "orthogonal"):
                lines[(act, parts[0])] = line
    assert len(lines) == 8, out
    # the textbook picture: ReLU + N(0, 1) explodes, ReLU + Xavier vanishes, tanh + N(0, 1)
    # saturates, He keeps ReLU's scale
    assert "exploding" in lines[("relu", "normal")]
    assert "vanishing" in lines[("relu", "Xavier")]
    assert "saturated" in lines[("tanh", "normal")]
    assert lines[("relu", "He")].rstrip().endswith("-")
    if _has_matplotlib():
        assert (tmp_path / "deep_signal.png").stat().st_size > 0


def test_init_experiment_shows_progress_on_a_terminal(tmp_path: Path) -> None:
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, str(EXAMPLES / "init_experiment.py"), "--quick",
                             "--out", str(tmp_path)], stdout=follower, stderr=follower)
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 1 << 16)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert proc.wait(timeout=120) == 0, shown
    text = shown.decode()
    # each init counts its iterations in place, then its row overwrites the count
    assert "\rHe          iteration 1500/1500" in text
    assert re.search(r"\rHe\s+[\d.]+%\s+[\d.]+%\s+[\d.eE+-]+\s+[\d.]+s\r?\n", text), text


def test_sharded_init_quick_check() -> None:
    """The torchrun example as one rank on a tiny Llama: its gathered tensors equal the
    unsharded materialize, bit for bit (the gloo tests in tests/models/test_sharded_init.py
    cover 2 and 4 ranks)."""
    pytest.importorskip("transformers")
    tests = str(Path(__file__).resolve().parents[1])
    # outside pytest, transformers needs tests/conftest.py's torchvision workaround
    code = ("import runpy, sys\nsys.path.insert(0, sys.argv[1])\nimport conftest\n"
            "sys.argv = sys.argv[2:]\nrunpy.run_path(sys.argv[0], run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", code, tests, str(EXAMPLES / "sharded_init.py"),
                           "--quick", "--check"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONWARNINGS": "error"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"^check: 0 of 2[0-9] tensors differ from the unsharded materialize; "
                     r"head tied to the embedding: True$", proc.stdout, re.M), proc.stdout
    assert re.search(r"^rank\s+init_sharded s.*\n\s+0\s+[\d.]+", proc.stdout, re.M), proc.stdout
