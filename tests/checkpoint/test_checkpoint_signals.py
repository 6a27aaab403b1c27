"""SIGINT and SIGTERM at every step of the commit: the CLI's one line tells the truth about
which checkpoint out_dir holds (exit 130 / 143); SIGTERM undoes the write as Ctrl-C does (the
library then still dies of SIGTERM, after cleaning up); a Ctrl-C during interpreter shutdown,
after the result was printed, does not change the exit status."""

import contextlib
import io
import json
import os
import signal
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
import fastinit  # noqa: E402
from fastinit.checkpoint import _safetensors_out as writer_mod  # noqa: E402
from fastinit.checkpoint import _staged_dir as staged  # noqa: E402
from fastinit.cli import main  # noqa: E402

from fs_layouts import as_user, tree  # noqa: E402

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

CONFIG = {"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
          "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 120}
STEPS = [(writer_mod, "_pwrite"), (writer_mod, "_fsync"), (staged, "_fsync"),
         (staged, "_link"), (staged, "_rename"), (staged, "_exchange")]


def hooked(at, sig, log):
    """Wrap the writer's system steps; at step ``at`` the process signals itself."""
    mp = pytest.MonkeyPatch()
    count = [0]
    for mod, attr in STEPS:
        real = getattr(mod, attr)

        def step(*a, _real=real, _kind=f"{mod.__name__.rsplit('.', 1)[-1]}.{attr}", **k):
            count[0] += 1
            log.append(_kind)
            if count[0] == at:
                os.kill(os.getpid(), sig)
            return _real(*a, **k)

        mp.setattr(mod, attr, step)


@pytest.fixture
def setup(tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps(CONFIG))
    out = tmp_path / "out"
    fastinit.checkpoint(CONFIG, out, seed=1, progress=False)
    old = tree(out)
    fastinit.checkpoint(CONFIG, tmp_path / "new", seed=2, progress=False)
    new = tree(tmp_path / "new")

    def steps():  # the steps of a write over the old checkpoint
        log = []
        hooked(-1, 0, log)
        fastinit.checkpoint(CONFIG, out, seed=2, progress=False)
        return log

    status, log = as_user(None, steps)
    assert status == "ok" and tree(out) == new
    fastinit.checkpoint(CONFIG, out, seed=1, progress=False)
    return cfg, out, old, new, log


def cli_signalled(cfg, out, at, sig):
    def run():
        signal.signal(signal.SIGINT, signal.default_int_handler)
        hooked(at, sig, [])
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = main(["checkpoint", str(cfg), "--out", str(out), "--seed", "2", "--quiet"])
        return code, err.getvalue()

    status, value = as_user(None, run)
    assert status == "ok", value
    return value


@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "interrupted"),
                                             (signal.SIGTERM, 143, "terminated")])
def test_the_cli_says_which_checkpoint_out_dir_holds(setup, sig, code, word):
    cfg, out, old, new, log = setup
    commit = [i + 1 for i, k in enumerate(log) if not k.endswith("_pwrite")]
    seen = set()
    for at in [1, 3] + commit:
        got, err = cli_signalled(cfg, out, at, sig)
        now = tree(out)
        assert got == code, (at, log[at - 1], got, err)
        truth = "holds the new checkpoint (it was complete)" if now == new else "is as it was"
        assert now in (old, new)
        assert err.strip() == f"fastinit checkpoint: {word}; {out} {truth}", (at, log[at - 1])
        assert sorted(os.listdir(out.parent)) == ["cfg.json", "new", "out"]
        seen.add(now == new)
        if now == new:
            fastinit.checkpoint(CONFIG, out, seed=1, progress=False)
    assert seen == {True, False}  # both truths were told


def test_sigterm_cleans_up_then_kills_as_sigterm_does(setup):
    _, out, old, new, log = setup
    commit = [i + 1 for i, k in enumerate(log) if not k.endswith("_pwrite")]
    for at in [1, commit[0], commit[-1]]:
        def run():
            hooked(at, signal.SIGTERM, [])
            fastinit.checkpoint(CONFIG, out, seed=2, progress=False)
            return "not killed"

        status, value = as_user(None, run)
        assert (status, value) == ("signal", signal.SIGTERM), (at, status, value)
        now = tree(out)
        assert now in (old, new)
        assert sorted(os.listdir(out.parent)) == ["cfg.json", "new", "out"]  # no staging, lock
        if now == new:
            fastinit.checkpoint(CONFIG, out, seed=1, progress=False)


def test_ctrl_c_during_interpreter_shutdown_keeps_the_exit_status(tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps(CONFIG))
    code = ("import atexit, os, signal, sys\n"
            "atexit.register(lambda: os.kill(os.getpid(), signal.SIGINT))\n"
            "from fastinit.checkpoint.cli import main\n"
            "sys.exit(main())\n")
    r = subprocess.run([sys.executable, "-c", code, "checkpoint", str(cfg), "--out",
                        str(tmp_path / "out"), "--quiet"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0 and r.stdout.startswith("wrote "), (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and "KeyboardInterrupt" not in r.stderr
