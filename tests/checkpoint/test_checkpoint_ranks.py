"""A checkpoint written by several processes (fastinit.checkpoint(..., rank=, world_size=), as
torchrun runs the CLI) is byte-identical to one written by one process; a failure on any rank
leaves the old checkpoint in place on every rank's view (gloo ranks on localhost)."""

from __future__ import annotations

import os

import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
if not dist.is_available():
    pytest.skip("torch.distributed is not available", allow_module_level=True)

import fastinit  # noqa: E402

from gloo_ranks import _run  # noqa: E402

CONFIG = {"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 3,
          "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 128,
          "tie_word_embeddings": False, "pad_token_id": 3}
SHARD = 40_000  # bytes: about eight shards of this model in bfloat16


def _write(world):
    out = os.environ["FASTINIT_TEST_OUT"]
    if os.environ.get("FASTINIT_TEST_FAIL_RANK") == str(dist.get_rank()):
        from fastinit.checkpoint import _safetensors_out

        def disk_full(*args):
            raise OSError(28, "No space left on device (injected)")

        _safetensors_out._pwrite = disk_full
    try:
        index = fastinit.checkpoint(CONFIG, out, seed=5, max_shard_size=SHARD, workers=2,
                                    progress=False, rank=dist.get_rank(), world_size=world)
        return {"shards": sorted(set(index["weight_map"].values()))}
    except OSError:  # this rank's own failure
        return {"error": ["failed"]}
    except RuntimeError as e:  # another rank's, named
        assert "failed on another rank" in str(e) and "No space left" in str(e), str(e)
        return {"error": ["failed"]}


def _files(path):
    return {name: (path / name).read_bytes() for name in sorted(os.listdir(path))}


@pytest.mark.parametrize("world", [2, 4])
def test_ranks_write_the_single_process_checkpoint(world, tmp_path, monkeypatch):
    single = tmp_path / "single"
    fastinit.checkpoint(CONFIG, single, seed=5, max_shard_size=SHARD, progress=False)
    out = tmp_path / "ranks"
    monkeypatch.setenv("FASTINIT_TEST_OUT", str(out))
    monkeypatch.delenv("FASTINIT_TEST_FAIL_RANK", raising=False)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    got = _run(_write, world, run_dir)
    assert len(got["shards"]) >= world  # every rank had shards to write
    assert _files(out) == _files(single)
    assert fastinit.verify(out) == []


def test_a_failing_rank_leaves_the_old_checkpoint(tmp_path, monkeypatch):
    out = tmp_path / "ckpt"
    fastinit.checkpoint(CONFIG, out, seed=1, max_shard_size=SHARD, progress=False)
    before = _files(out)
    monkeypatch.setenv("FASTINIT_TEST_OUT", str(out))
    monkeypatch.setenv("FASTINIT_TEST_FAIL_RANK", "1")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    got = _run(_write, 2, run_dir)  # every rank raised (rank 0 naming rank 1's error), none hung
    assert got["error"] == ["failed"]
    assert _files(out) == before
    assert sorted(os.listdir(tmp_path)) == ["ckpt", "run"]  # no staging directory left


def test_rank_arguments_are_checked():
    with pytest.raises(ValueError, match="rank must be in"):
        fastinit.checkpoint(CONFIG, "/nonexistent/x", rank=2, world_size=2)
    with pytest.raises(RuntimeError, match="needs torch.distributed's default process group"):
        fastinit.checkpoint(CONFIG, "/nonexistent/x", rank=0, world_size=2)
    with pytest.raises(TypeError, match="world_size must be an int"):
        fastinit.checkpoint(CONFIG, "/nonexistent/x", rank=0)


def test_torchrun_runs_the_cli_on_two_ranks(tmp_path):
    """torchrun --standalone --nproc-per-node 2 -m fastinit.cli checkpoint ...: the ranks share
    the shards (loopback rendezvous) and the files equal one process's."""
    import json
    import shutil
    import subprocess
    import sys

    torchrun = shutil.which("torchrun") or os.path.join(os.path.dirname(sys.executable),
                                                          "torchrun")
    if not os.path.exists(torchrun):
        pytest.skip("torchrun is not installed beside this Python")
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(CONFIG))
    single = tmp_path / "single"
    fastinit.checkpoint(CONFIG, single, seed=5, max_shard_size=SHARD, progress=False)
    out = tmp_path / "two"
    r = subprocess.run([torchrun, "--standalone", "--nproc-per-node", "2", "-m", "fastinit.cli",
                        "checkpoint", str(cfg), "--out", str(out), "--seed", "5",
                        "--max-shard-size", str(SHARD), "--quiet"],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("wrote ") == 1, r.stdout  # rank 0 reports
    assert _files(out) == {k: v for k, v in _files(single).items()}
