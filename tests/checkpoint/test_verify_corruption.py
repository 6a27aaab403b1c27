"""verify checks what a loader relies on: each corruption issue 12 found verify passing (or
crashing on) is now a named problem with exit 1, or unreadable input with exit 2."""

import os
import shutil

import pytest

torch = pytest.importorskip("torch")
import fastinit  # noqa: E402
from fastinit.cli import main  # noqa: E402

from checkpoint_edits import edit_json, rewrite_header  # noqa: E402

CONFIG = {"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
          "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 120}
INDEX = "model.safetensors.index.json"
FIRST = "model-00001-of-00006.safetensors"


def edit_index(d, change):
    edit_json(d / INDEX, change)


def append_bytes(d, other):
    with open(d / FIRST, "ab") as f:
        f.write(b"\0" * 100)


def dtype_f32_to_i32(d, other):
    rewrite_header(d / FIRST, lambda h: h["model.embed_tokens.weight"].update(dtype="I32"))


def one_shard_for_all(d, other):
    edit_index(d, lambda ix: ix["weight_map"].update({k: FIRST for k in ix["weight_map"]}))


def shard_of_another_seed(d, other):
    shutil.copy(other / "model-00002-of-00006.safetensors", d)


def entry_removed(d, other):
    rewrite_header(d / FIRST, lambda h: h.pop("model.embed_tokens.weight"))


def wrong_total_size(d, other):
    edit_index(d, lambda ix: ix["metadata"].update(total_size=ix["metadata"]["total_size"] + 2))


def seed_out_of_range_in_files(d, other):
    for n in os.listdir(d):
        if n.endswith(".safetensors"):
            rewrite_header(d / n, lambda h: h["__metadata__"].update(
                fastinit_seed="-1"))


def empty_shard(d, other):
    (d / FIRST).write_bytes(b"")


def huge_header_length(d, other):
    raw = bytearray((d / FIRST).read_bytes())
    raw[:8] = (2**62).to_bytes(8, "little")
    (d / FIRST).write_bytes(bytes(raw))


def index_not_json(d, other):
    (d / INDEX).write_text("{")


def shard_missing(d, other):
    os.unlink(d / FIRST)


CASES = [  # corruption, exit code, text of the problem line
    (append_bytes, 1, " bytes, its header ends the data at"),
    (dtype_f32_to_i32, 1, f"{FIRST}: model.embed_tokens.weight is I32 [120, 64], the model "
                          f"has F32"),
    (one_shard_for_all, 1, "maps model.norm.weight to model-00001-of-00006.safetensors, "
                           "which does not hold it"),
    (shard_of_another_seed, 1, "model-00002-of-00006.safetensors: fastinit_seed '6', "
                               "model-00001-of-00006.safetensors says '5'"),
    (entry_removed, 1, "model.embed_tokens.weight: missing"),
    (wrong_total_size, 1, f"{INDEX}: total_size "),
    (seed_out_of_range_in_files, 1, "fastinit_seed '-1' is not a seed in [0, 2**64)"),
    (empty_shard, 2, f"{FIRST}: 0 bytes, too short for a safetensors header"),
    (huge_header_length, 2, f"{FIRST}: header length 4611686018427387904 is impossible"),
    (index_not_json, 2, f"{INDEX}: not JSON"),
    (shard_missing, 2, f"{FIRST}: named by {INDEX}, missing"),
]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("pair")
    for seed in (5, 6):
        fastinit.checkpoint(CONFIG, d / str(seed), dtype="float32", seed=seed,
                            max_shard_size="60KB", progress=False)
    assert sorted(os.listdir(d / "5"))[1] == FIRST
    return d / "5", d / "6"


@pytest.mark.parametrize("corrupt, code, text", CASES, ids=[c.__name__ for c, _, _ in CASES])
def test_each_corruption_is_named(tmp_path, capsys, pair, corrupt, code, text):
    d = tmp_path / "ck"
    shutil.copytree(pair[0], d)
    assert main(["verify", str(d), "--quiet"]) == 0
    capsys.readouterr()
    corrupt(d, pair[1])
    assert main(["verify", str(d), "--quiet"]) == code
    captured = capsys.readouterr()
    shown = captured.out + captured.err
    assert text in shown and "Traceback" not in shown, shown
    assert FIRST in shown or INDEX in shown or "00002" in shown  # the file is named


def test_a_seed_out_of_range_is_refused_as_checkpoint_refuses_it(pair, capsys):
    assert main(["verify", str(pair[0]), "--seed", str(2**64), "--quiet"]) == 2
    assert "seed must be in [-2**63, 2**64)" in capsys.readouterr().err
    assert main(["verify", str(pair[0]), "--seed", "6", "--quiet"]) == 1
    assert "fastinit_seed 5, the seed asked for is 6" in capsys.readouterr().out


def test_module_checkpoints_get_the_same_checks(tmp_path):
    with torch.device("meta"):
        model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Linear(8, 4))
    fastinit.checkpoint_module(model, tmp_path, seed=1, progress=False)
    shard = tmp_path / "model-00001-of-00001.safetensors"
    with open(shard, "ab") as f:
        f.write(b"\0" * 8)
    assert any("its header ends the data at" in p for p in fastinit.verify_module(model, tmp_path))
