"""out_dir ownership, the one-writer lock, free space, and what an interrupted write left."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

torch = pytest.importorskip("torch")
import fastinit  # noqa: E402
from fastinit.checkpoint import _safetensors_out as writer_mod  # noqa: E402
from fastinit.checkpoint import _staged_dir as staged  # noqa: E402
from fastinit.cli import main  # noqa: E402

from fs_layouts import holding_lock  # noqa: E402

CONFIG = {"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
          "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 120}
SHARD = "model-00001-of-00001.safetensors"


def cli(tmp_path, out, *extra):
    cfg = tmp_path / "in.json"
    cfg.write_text(json.dumps(CONFIG))
    return main(["checkpoint", str(cfg), "--out", str(out), "--quiet", *extra])


def test_user_files_named_like_shards_are_refused_and_kept(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / SHARD).write_text("my data")
    (out / "config.json").write_text("my config")
    assert cli(tmp_path, out) == 2
    assert "holds no checkpoint fastinit wrote" in capsys.readouterr().err
    assert cli(tmp_path, out, "--overwrite") == 2  # even then: they would be replaced
    assert "config.json, model-00001-of-00001.safetensors, which fastinit did not write" in \
        capsys.readouterr().err
    assert (out / SHARD).read_text() == "my data"
    assert (out / "config.json").read_text() == "my config"
    assert sorted(os.listdir(tmp_path)) == ["in.json", "mine"]  # no staging, no lock left


def test_overwrite_writes_beside_user_files_and_keeps_them(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "model-00007-of-00009.safetensors").write_text("not a shard of ours")
    assert cli(tmp_path, out) == 2
    assert "pass overwrite=True (CLI: --overwrite)" in capsys.readouterr().err
    with pytest.raises(ValueError, match="holds no checkpoint fastinit wrote"):
        fastinit.checkpoint(CONFIG, out, progress=False)
    assert cli(tmp_path, out, "--overwrite") == 0
    assert (out / "notes.txt").read_text() == "mine"
    assert fastinit.verify(out) == []
    # now it is a fastinit checkpoint (with the user's files): no overwrite needed to replace it
    fastinit.checkpoint(CONFIG, out, seed=4, max_shard_size="40KB", progress=False)
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "model-00007-of-00009.safetensors").read_text() == "not a shard of ours"
    assert fastinit.verify(out) == [] and not (out / SHARD).exists()


def test_module_path_has_the_same_rules(tmp_path):
    with torch.device("meta"):
        model = torch.nn.Sequential(torch.nn.Linear(4, 4))
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="holds no checkpoint fastinit wrote"):
        fastinit.checkpoint_module(model, tmp_path, progress=False)
    fastinit.checkpoint_module(model, tmp_path, progress=False, overwrite=True)
    assert fastinit.verify_module(model, tmp_path) == []
    with holding_lock(tmp_path):
        with pytest.raises(ValueError, match="another fastinit writer is writing"):
            fastinit.checkpoint(model, tmp_path, progress=False)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_file_or_a_subdirectory_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="exists and is a file, not a directory"):
        fastinit.checkpoint(CONFIG, tmp_path / "file", progress=False)
    (tmp_path / "d" / "sub").mkdir(parents=True)
    with pytest.raises(ValueError, match="holds the directories sub"):
        fastinit.checkpoint(CONFIG, tmp_path / "d", progress=False, overwrite=True)


def test_second_writer_fails_at_once(tmp_path, capsys):
    out = tmp_path / "out"
    with holding_lock(out):
        t0 = time.perf_counter()
        assert cli(tmp_path, out) == 2
        assert time.perf_counter() - t0 < 5
    err = capsys.readouterr().err
    assert "another fastinit writer is writing" in err and ".out.fastinit-lock" in err
    assert not out.exists()
    assert cli(tmp_path, out) == 0  # the lock went with its holder


SLOW_WRITER = os.path.join(os.path.dirname(__file__), "slow_writer.py")


def test_two_concurrent_processes(tmp_path):
    """A second writer started while the first is writing fails at once with a clear message;
    the first completes, and the directory is its checkpoint."""
    cfg = tmp_path / "in.json"
    cfg.write_text(json.dumps(CONFIG))
    out = tmp_path / "out"
    args = ["checkpoint", str(cfg), "--out", str(out), "--quiet"]
    go = tmp_path / "go"  # the first writer waits at its first write until this exists
    first = subprocess.Popen([sys.executable, SLOW_WRITER, str(go), "0", *args, "--seed", "1"],
                             stdout=subprocess.PIPE, text=True)
    assert first.stdout.readline() == "writing\n"
    second = subprocess.run([sys.executable, "-m", "fastinit.cli", *args, "--seed", "2"],
                            capture_output=True, text=True, timeout=60)
    assert first.poll() is None, "the second writer did not fail at once"
    go.write_text("")
    assert second.returncode == 2 and "Traceback" not in second.stderr
    assert "another fastinit writer is writing" in second.stderr
    out_text, _ = first.communicate(timeout=60)
    assert first.returncode == 0 and "wrote" in out_text
    assert fastinit.verify(out, seed=1) == []
    assert sorted(os.listdir(tmp_path)) == ["go", "in.json", "out"]


def test_free_space_is_checked_first(tmp_path, monkeypatch):
    monkeypatch.setattr(staged, "_free_bytes", lambda path: 1000)
    with pytest.raises(OSError, match=r"the checkpoint needs 2\d\d kB and .* has 1 kB free"):
        fastinit.checkpoint(CONFIG, tmp_path / "out", progress=False)
    assert sorted(os.listdir(tmp_path)) == []


def _killed_in_the_data_phase(out, seed):
    """Fork a writer that SIGKILLs itself at its first pwrite: it leaves its staging directory
    (a marker, headers, no data) and its lock (with the journal)."""
    pid = os.fork()
    if pid == 0:
        def die(*a):
            os.kill(os.getpid(), signal.SIGKILL)

        writer_mod._pwrite = die
        try:
            fastinit.checkpoint(CONFIG, out, seed=seed, progress=False)
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_leftover_staging_is_cleaned_or_named(tmp_path):
    out = tmp_path / "out"
    fastinit.checkpoint(CONFIG, out, seed=1, progress=False)
    _killed_in_the_data_phase(out, 2)
    stage = tmp_path / ".out.fastinit-staging"
    assert sorted(os.listdir(tmp_path)) == [".out.fastinit-lock", ".out.fastinit-staging", "out"]
    assert ".fastinit-staging" in os.listdir(stage)  # the marker
    fastinit.checkpoint(CONFIG, out, seed=2, progress=False)
    assert sorted(os.listdir(tmp_path)) == ["out"]
    # the same leftover, with a file fastinit did not write in it: named, not removed
    _killed_in_the_data_phase(out, 3)
    (stage / "someone-elses.txt").write_text("x")
    with pytest.raises(ValueError, match="left by an interrupted write, holds files fastinit "
                                         "did not write \\(someone-elses.txt\\)"):
        fastinit.checkpoint(CONFIG, out, seed=3, progress=False)
    assert (stage / "someone-elses.txt").read_text() == "x"
    os.unlink(stage / "someone-elses.txt")
    fastinit.checkpoint(CONFIG, out, seed=3, progress=False)
    # a directory of that name without fastinit's marker is never taken for a leftover
    stage.mkdir()
    (stage / SHARD).write_bytes(b"half a shard, but whose?")
    with pytest.raises(ValueError, match="is a directory without fastinit's marker"):
        fastinit.checkpoint(CONFIG, out, seed=4, progress=False)
    assert (stage / SHARD).read_bytes() == b"half a shard, but whose?"
    assert fastinit.verify(out, seed=3) == []


def test_a_file_added_to_out_dir_during_the_write_is_kept_and_named(tmp_path, monkeypatch):
    """It is not in the new checkpoint (the user's files were carried before it appeared): it
    stays in the replaced directory, which is named and not removed, by this writer and the
    next."""
    out = tmp_path / "out"
    fastinit.checkpoint(CONFIG, out, seed=1, progress=False)
    real = writer_mod._pwrite

    def add_a_file(fd, data, off):
        if not (out / "late.txt").exists():
            (out / "late.txt").write_text("written while fastinit wrote")
        return real(fd, data, off)

    monkeypatch.setattr(writer_mod, "_pwrite", add_a_file)
    with pytest.warns(UserWarning, match=r"\.out\.fastinit-staging, the replaced directory, "
                                         r"holds files added to .* \(late\.txt\)"):
        fastinit.checkpoint(CONFIG, out, seed=2, progress=False)
    monkeypatch.undo()
    assert fastinit.verify(out, seed=2) == [] and not (out / "late.txt").exists()
    left = tmp_path / ".out.fastinit-staging"
    assert os.listdir(left) == ["late.txt"]
    with pytest.raises(ValueError, match="holds files fastinit did not write \\(late.txt\\)"):
        fastinit.checkpoint(CONFIG, out, seed=3, progress=False)
    os.rename(left / "late.txt", out / "late.txt")
    fastinit.checkpoint(CONFIG, out, seed=3, progress=False)
    assert (out / "late.txt").read_text() == "written while fastinit wrote"
    assert sorted(os.listdir(tmp_path)) == ["out"]
