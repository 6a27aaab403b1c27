"""Streaming safetensors checkpoints: format, values, atomicity, CLI, transformers."""

import json
import os
import struct
import warnings

import pytest

torch = pytest.importorskip("torch")
import fastinit  # noqa: E402
from fastinit.checkpoint import _safetensors_out as writer_mod  # noqa: E402
from fastinit import checkpoints as ck  # noqa: E402
from fastinit.cli import main  # noqa: E402

CONFIG = {"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
          "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 120,
          "tie_word_embeddings": False, "initializer_range": 0.02}
BF16 = {"BF16": torch.bfloat16, "F32": torch.float32, "F16": torch.float16}


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_all(d):
    """Parse the files ourselves (no safetensors needed): name -> tensor."""
    index = load_json(os.path.join(d, "model.safetensors.index.json"))
    out = {}
    for fname in sorted(set(index["weight_map"].values())):
        with open(os.path.join(d, fname), "rb") as f:
            raw = f.read()
        (n,) = struct.unpack("<Q", raw[:8])
        assert (8 + n) % 8 == 0
        text = raw[8:8 + n]
        assert text.startswith(b"{") and text.rstrip(b" ") == text.rstrip()
        head = json.loads(text)
        assert head["__metadata__"]["format"] == "pt"
        data = raw[8 + n:]
        ends = sorted((e["data_offsets"] for k, e in head.items() if k != "__metadata__"))
        pos = 0
        for b, e in ends:  # no holes, fully covered
            assert b == pos
            pos = e
        assert pos == len(data)
        for k, e in head.items():
            if k == "__metadata__":
                continue
            b, end = e["data_offsets"]
            t = torch.frombuffer(bytearray(data[b:end]), dtype=BF16[e["dtype"]])
            out[k] = t.reshape(e["shape"])
            assert index["weight_map"][k] == fname
    assert index["metadata"]["total_size"] == sum(t.numel() * t.element_size()
                                                  for t in out.values())
    return out


def full(spec, dtype, seed):
    return ck.make_block(spec, 0, spec.shape[0], dtype, seed)


def test_round_trip_values_and_format(tmp_path):
    d = tmp_path / "ck"
    index = fastinit.checkpoint(CONFIG, d, dtype="bfloat16", seed=3, max_shard_size="40KB",
                                chunk_bytes=1000, workers=3, progress=False)
    files = sorted(os.listdir(d))
    assert "config.json" in files and "model.safetensors.index.json" in files
    assert not [f for f in files if f.startswith(".")]
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) > 1 and shards[0] == f"model-00001-of-{len(shards):05d}.safetensors"
    got = read_all(d)
    specs = ck.llama_specs(CONFIG)
    assert list(got) == [s.name for s in specs] or set(got) == {s.name for s in specs}
    assert "lm_head.weight" in got and got["model.norm.weight"].eq(1).all()
    for s in specs:  # chunked + threaded == one whole fill, and fp32 rounds to bf16
        assert torch.equal(got[s.name], full(s, "bfloat16", 3)), s.name
        if s.init == "normal":
            assert torch.equal(got[s.name], full(s, "float32", 3).to(torch.bfloat16))
    w = got["model.layers.0.self_attn.q_proj.weight"].float()
    assert abs(w.std().item() - 0.02) < 0.002
    assert load_json(d / "config.json")["hidden_size"] == 64
    assert ck.verify(d) == []
    assert ck.verify(d, sample=3) == []


def test_matches_init_module(tmp_path):
    pytest.importorskip("transformers")
    from transformers import LlamaConfig, LlamaForCausalLM

    fastinit.checkpoint(CONFIG, tmp_path, seed=1, progress=False)
    got = read_all(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LlamaForCausalLM(LlamaConfig(**CONFIG))
    assert fastinit.init_module(model, seed=1) == []
    for k, v in model.state_dict().items():
        assert torch.equal(v.to(torch.bfloat16), got[k]), k


def test_transformers_loads_it(tmp_path):
    pytest.importorskip("transformers")
    from transformers import LlamaForCausalLM

    cfg = dict(CONFIG, tie_word_embeddings=True)
    fastinit.checkpoint(cfg, tmp_path, seed=0, max_shard_size="50KB", progress=False)
    assert "lm_head.weight" not in load_json(
        tmp_path / "model.safetensors.index.json")["weight_map"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, info = LlamaForCausalLM.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert not info["mismatched_keys"]
    got = read_all(tmp_path)
    assert torch.equal(model.model.embed_tokens.weight, got["model.embed_tokens.weight"])


def test_safetensors_reads_it(tmp_path):
    st = pytest.importorskip("safetensors.torch")
    fastinit.checkpoint(CONFIG, tmp_path, dtype="float16", progress=False)
    got = read_all(tmp_path)
    for f in set(load_json(tmp_path / "model.safetensors.index.json")["weight_map"].values()):
        for k, v in st.load_file(str(tmp_path / f)).items():
            assert torch.equal(v, got[k])


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_failure_leaves_nothing_complete(tmp_path, monkeypatch, exc):
    calls = []
    real = writer_mod._pwrite

    def flaky(fd, data, off):
        calls.append(1)
        if len(calls) == 6:
            raise exc("injected")
        return real(fd, data, off)

    monkeypatch.setattr(writer_mod, "_pwrite", flaky)
    with pytest.raises(exc):
        fastinit.checkpoint(CONFIG, tmp_path, max_shard_size="40KB", chunk_bytes=2000,
                            workers=2, progress=False)
    assert os.listdir(tmp_path) == []


def test_verify_detects_corruption(tmp_path, capsys):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(CONFIG))
    out = tmp_path / "out"
    assert main(["checkpoint", str(cfg), "--out", str(out), "--seed", "5", "--quiet"]) == 0
    size = load_json(out / "model.safetensors.index.json")["metadata"]["total_size"]
    assert f"wrote {size / 1e3:.3g} kB, " in capsys.readouterr().out  # not "0.00 GB"
    assert main(["verify", str(out), "--quiet"]) == 0
    assert main(["verify", str(out), "--seed", "6", "--quiet"]) == 1
    shard = out / "model-00001-of-00001.safetensors"
    raw = bytearray(shard.read_bytes())
    raw[-3] ^= 0xFF
    shard.write_bytes(bytes(raw))
    assert main(["verify", str(out), "--quiet"]) == 1
    assert "MISMATCH lm_head.weight" in capsys.readouterr().out


def test_specs_shapes():
    c = dict(CONFIG, num_attention_heads=8, num_key_value_heads=2, head_dim=16,
             attention_bias=True)
    s = {x.name: x.shape for x in ck.llama_specs(c)}
    assert s["model.layers.1.self_attn.q_proj.weight"] == (128, 64)
    assert s["model.layers.1.self_attn.k_proj.weight"] == (32, 64)
    assert s["model.layers.1.self_attn.o_proj.weight"] == (64, 128)
    assert s["model.layers.1.self_attn.k_proj.bias"] == (32,)
    assert s["model.layers.0.mlp.down_proj.weight"] == (64, 96)
    assert ck.parse_size("5GB") == 5 * 10**9 and ck.parse_size("1GiB") == 2**30


def test_cli_errors_are_messages_not_tracebacks(tmp_path, capsys):
    assert main(["checkpoint", str(tmp_path / "missing.json"), "--out", str(tmp_path / "o")]) == 2
    assert "fastinit checkpoint: error:" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"hidden_size": 8}')
    assert main(["checkpoint", str(bad), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "lacks intermediate_size" in capsys.readouterr().err
    assert main(["checkpoint", str(bad), "--out", str(tmp_path / "o"), "--chunk-mb", "0"]) == 2
    assert "--chunk-mb" in capsys.readouterr().err
    assert main(["verify", str(tmp_path)]) == 2
    for text, problem in (("not json", "is not a JSON config"), ("[1, 2]", "holds a JSON list")):
        bad.write_text(text)
        assert main(["checkpoint", str(bad), "--out", str(tmp_path / "o"), "--quiet"]) == 2
        assert problem in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    with pytest.raises(ValueError, match="workers must be"):
        fastinit.checkpoint(CONFIG, tmp_path / "o", workers=0)


def test_shipped_example_config_is_the_7b_shape():
    path = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "configs",
                        "llama-2-7b.json")
    specs = ck.llama_specs(ck.load_config(path))
    assert sum(s.numel for s in specs) == 6_738_415_616  # Llama-2-7B's parameter count


@pytest.mark.parametrize("size", ["abc", "0", "-1GB", "inf GB", "GB"])
def test_bad_max_shard_size(tmp_path, capsys, size):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(CONFIG))
    assert main(["checkpoint", str(cfg), "--out", str(tmp_path / "o"), "--quiet",
                 f"--max-shard-size={size}"]) == 2
    assert "max_shard_size must be a positive number" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_rewriting_a_directory_replaces_the_earlier_checkpoint(tmp_path):
    fastinit.checkpoint(CONFIG, tmp_path, max_shard_size="40KB", seed=1, progress=False)
    many = sorted(p.name for p in tmp_path.glob("model-*.safetensors"))
    assert len(many) > 2
    (tmp_path / "notes.txt").write_text("mine")  # not ours: left alone
    fastinit.checkpoint(CONFIG, tmp_path, seed=2, progress=False)
    assert sorted(p.name for p in tmp_path.glob("model-*.safetensors")) == [
        "model-00001-of-00001.safetensors"]
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert ck.verify(tmp_path) == []
    assert load_json(tmp_path / "model.safetensors.index.json")["weight_map"]


def test_verify_refuses_a_model_type_it_cannot_recompute(tmp_path, capsys):
    cfg = dict(CONFIG, model_type="gpt2")
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    (tmp_path / "model.safetensors.index.json").write_text('{"weight_map": {}}')
    assert main(["verify", str(tmp_path), "--quiet"]) == 2
    assert "verify_module" in capsys.readouterr().err
