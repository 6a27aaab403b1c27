"""fastinit.checkpoint_module: any architecture, group by group, equal to materialize and to
eager init_module where the model's init code is its construction."""

import json
import os

import pytest

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")
import fastinit  # noqa: E402
from fastinit.checkpoint import _safetensors_out as writer_mod  # noqa: E402

nn = torch.nn
SEED = 7
LLAMA = {"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 120,
         "tie_word_embeddings": False, "initializer_range": 0.02}  # a tiny Llama config


class Net(nn.Module):
    """Embedding, norms with buffers, attention whose own init also sets a child's bias,
    convolution, and a head tied to the embedding."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(50, 16)
        self.body = nn.Sequential(nn.Linear(16, 32), nn.LayerNorm(32), nn.BatchNorm1d(32),
                                  nn.Linear(32, 16))
        self.attn = nn.MultiheadAttention(16, 4)
        self.conv = nn.Conv1d(16, 8, 3)
        self.head = nn.Linear(16, 50, bias=False)
        self.head.weight = self.emb.weight


def load_dir(d):
    index = json.loads((d / "model.safetensors.index.json").read_text())
    out = {}
    for f in set(index["weight_map"].values()):
        out.update(safetensors_torch.load_file(str(d / f)))
    assert set(out) == set(index["weight_map"])
    return out


def eager(build, dtype=None):
    torch.manual_seed(0)
    m = build()
    if dtype is not None:
        m = m.to(dtype)
    fastinit.init_module(m, seed=SEED)
    return m.state_dict()


@pytest.mark.parametrize("group_bytes", [1 << 30, 4000, 1], ids=["whole", "groups", "per-module"])
def test_equals_eager_init_module(tmp_path, group_bytes):
    index = fastinit.checkpoint_module(Net, tmp_path, seed=SEED, group_bytes=group_bytes,
                                       progress=False)
    got = load_dir(tmp_path)
    want = eager(Net)
    assert set(got) == set(want) - {"head.weight"}, "a tied weight is written once, first name"
    for k, v in got.items():
        assert v.dtype == want[k].dtype and torch.equal(v, want[k]), k
    assert index["metadata"]["total_size"] == sum(v.numel() * v.element_size() for v in got.values())
    materialized = fastinit.materialize(Net, seed=SEED).state_dict()
    assert all(torch.equal(v, materialized[k]) for k, v in got.items())


def test_a_meta_model_of_torch_nn_modules_is_left_as_it_was(tmp_path):
    """Its init code is its construction: no build function needed."""
    def build():
        return nn.Sequential(nn.Embedding(40, 8), nn.LayerNorm(8), nn.Linear(8, 6))

    with torch.device("meta"):
        model = build()
    fastinit.checkpoint_module(model, tmp_path, seed=SEED, progress=False)
    got, want = load_dir(tmp_path), eager(build)
    assert all(torch.equal(v, want[k]) for k, v in got.items()) and set(got) == set(want)
    assert all(t.device.type == "meta" and t.dtype == torch.float32
               for t in model.state_dict().values())


def test_a_meta_model_of_other_classes_needs_its_build_function(tmp_path):
    with torch.device("meta"):
        model = Net()
    with pytest.raises(ValueError, match=r"without a record of its construction, and Net "
                                         r"\(not torch.nn's\).*checkpoint_module\(lambda: Net"):
        fastinit.checkpoint_module(model, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_dtype_and_the_checkpoint_entry_point(tmp_path):
    fastinit.checkpoint(Net, tmp_path, dtype="bfloat16", seed=SEED, progress=False)
    got, want = load_dir(tmp_path), eager(Net, torch.bfloat16)
    for k, v in got.items():
        assert torch.equal(v, want[k]), k
    assert got["emb.weight"].dtype == torch.bfloat16
    assert got["body.2.num_batches_tracked"].dtype == torch.int64


def test_llama_meta_model_equals_config_checkpoint_and_loads(tmp_path):
    transformers = pytest.importorskip("transformers")
    config = dict(LLAMA, tie_word_embeddings=True)
    fastinit.checkpoint(config, tmp_path / "cfg", seed=3, progress=False)
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**config))
    fastinit.checkpoint(model, tmp_path / "mod", seed=3, max_shard_size="40KB", progress=False)
    a, b = load_dir(tmp_path / "cfg"), load_dir(tmp_path / "mod")
    assert set(a) == set(b)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert len(set(json.loads((tmp_path / "mod" / "model.safetensors.index.json").read_text())
                   ["weight_map"].values())) > 1
    loaded, info = transformers.LlamaForCausalLM.from_pretrained(tmp_path / "mod",
                                                                 output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert loaded.dtype == torch.bfloat16


class Uninitialized(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.scale = nn.Parameter(torch.empty(4))  # no init code ever writes it


@pytest.mark.parametrize("make, exc, text", [
    (lambda: Net(), ValueError, "must be built on the meta device.*or passed as the function"),
    (lambda: "not a module", TypeError, "expected a torch.nn.Module or a function"),
    (lambda: lambda: 3, TypeError, r"build\(\) must return a torch.nn.Module, got int"),
    (lambda: lambda: nn.Linear(2, 2, device="cpu"), ValueError, "weight is on cpu"),
])
def test_bad_models(tmp_path, make, exc, text):
    with pytest.raises(exc, match=text):
        fastinit.checkpoint_module(make(), tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("option", [{"workers": 0}, {"workers": -3}, {"group_bytes": 0},
                                    {"workers": 1.5}, {"group_bytes": True}])
def test_bad_counts(tmp_path, option):
    model = Net
    name, value = next(iter(option.items()))
    with pytest.raises(ValueError, match=f"{name} must be an int >= 1, got {value!r}"):
        fastinit.checkpoint_module(model, tmp_path / "out", **option)
    assert not (tmp_path / "out").exists()
    fastinit.checkpoint_module(model, tmp_path / "ok", progress=False)
    with pytest.raises(ValueError, match=f"fastinit.verify_module: {name} must be"):
        fastinit.verify_module(model, tmp_path / "ok", **option)


def test_untouched_parameter_is_an_error_and_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match="scale: no init call or op gave it values"):
        fastinit.checkpoint(Uninitialized, tmp_path, progress=False)
    assert os.listdir(tmp_path) == []


def test_bad_dtype(tmp_path):
    model = Net
    for bad in ("float12", "int32", torch.int8):
        with pytest.raises(ValueError, match="dtype"):
            fastinit.checkpoint(model, tmp_path, dtype=bad, progress=False)
    assert os.listdir(tmp_path) == []


def test_write_failure_leaves_nothing(tmp_path, monkeypatch):
    calls = []
    real = writer_mod._pwrite

    def flaky(fd, data, off):
        calls.append(1)
        if len(calls) == 4:
            raise OSError(28, "No space left on device")
        return real(fd, data, off)

    monkeypatch.setattr(writer_mod, "_pwrite", flaky)
    with pytest.raises(OSError, match="No space"):
        fastinit.checkpoint_module(Net, tmp_path, group_bytes=4000, progress=False)
    assert os.listdir(tmp_path) == []


def test_verify_module(tmp_path):
    model = Net
    fastinit.checkpoint(model, tmp_path, dtype="bfloat16", seed=SEED, max_shard_size="4KB",
                        progress=False)
    assert fastinit.verify_module(model, tmp_path, group_bytes=3000) == []
    wrong_seed = fastinit.verify_module(model, tmp_path, seed=SEED + 1)
    assert "emb.weight: differs" in wrong_seed and "body.1.weight: differs" not in wrong_seed
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    shard = tmp_path / index["weight_map"]["conv.weight"]
    raw = bytearray(shard.read_bytes())
    raw[-1] ^= 0x01  # the last tensor of that shard
    shard.write_bytes(bytes(raw))
    last = [k for k, f in index["weight_map"].items() if f == shard.name][-1]
    assert fastinit.verify_module(model, tmp_path) == [f"{last}: differs"]
    def other():
        net = Net()
        net.conv = nn.Conv1d(16, 8, 5)
        net.extra = nn.Linear(2, 2)
        return net

    problems = fastinit.verify_module(other, tmp_path)
    assert "extra.weight: missing" in problems
    assert any(p.endswith("conv.weight is BF16 [8, 16, 3], the model has BF16 [8, 16, 5]")
               for p in problems)


def _both_paths(tmp_path, config, model_type, model_cls, config_cls):
    """The checkpoint from the config dict and the one from its meta model, both read back."""
    fastinit.checkpoint(dict(config, model_type=model_type), tmp_path / "cfg", seed=3,
                        progress=False)
    with torch.device("meta"):
        model = model_cls(config_cls(**config))
    fastinit.checkpoint(model, tmp_path / "mod", seed=3, progress=False)
    a, b = load_dir(tmp_path / "cfg"), load_dir(tmp_path / "mod")
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)
    return b


def test_tied_llama_with_padding_config_path_equals_module_path(tmp_path):
    """Both paths keep the embedding's zeroed padding row under the tied output layer (the
    module path's init used to refill it, and its own verify then reported a mismatch)."""
    transformers = pytest.importorskip("transformers")
    got = _both_paths(tmp_path, dict(LLAMA, tie_word_embeddings=True, pad_token_id=3), "llama",
                      transformers.LlamaForCausalLM, transformers.LlamaConfig)
    assert torch.all(got["model.embed_tokens.weight"][3] == 0)
    assert fastinit.verify(tmp_path / "mod") == []


def test_mistral_config_equals_its_meta_model_and_other_types_are_refused(tmp_path):
    transformers = pytest.importorskip("transformers")
    config = LLAMA
    _both_paths(tmp_path, config, "mistral", transformers.MistralForCausalLM,
                transformers.MistralConfig)
    loaded = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "cfg")
    assert type(loaded).__name__ == "MistralForCausalLM"
    with pytest.raises(ValueError, match="model_type 'gpt2' is not supported"):
        fastinit.checkpoint(dict(config, model_type="gpt2"), tmp_path / "gpt2", progress=False)
    assert not (tmp_path / "gpt2").exists()


class ParentWrites(nn.Module):
    """A parent whose own init writes its children's weights (as T5's attention init does).
    Eager order runs it after the children's own inits, so its values are the last; a later
    group re-running it must not reach an earlier group's tensors."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c = nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 8)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in (self.a, self.b, self.c):
            nn.init.constant_(m.weight, 7.0)


@pytest.mark.parametrize("group_bytes", [1 << 30, 300, 1])
def test_parent_init_does_not_reach_finished_groups(tmp_path, group_bytes):
    def model():
        return nn.Sequential(ParentWrites(), ParentWrites())

    fastinit.checkpoint_module(model, tmp_path, seed=SEED, group_bytes=group_bytes,
                               progress=False)
    got = load_dir(tmp_path)
    want = eager(lambda: nn.Sequential(ParentWrites(), ParentWrites()))
    assert torch.all(want["0.a.weight"] == 7.0)  # the parent's init runs after its children's
    for k, v in got.items():
        assert torch.equal(v, want[k]), k


def _tiny_t5(transformers, device="meta"):
    config = transformers.T5Config(d_model=32, d_ff=48, num_layers=2, num_heads=2, d_kv=16,
                                   vocab_size=64)
    with torch.device(device):
        return transformers.T5ForConditionalGeneration(config)


def test_t5_at_every_grouping(tmp_path):
    transformers = pytest.importorskip("transformers")
    model = _tiny_t5(transformers)
    want = eager(lambda: _tiny_t5(transformers, "cpu"))
    for group_bytes in (1 << 30, 8000, 1):
        out = tmp_path / str(group_bytes)
        fastinit.checkpoint_module(model, out, seed=SEED, group_bytes=group_bytes,
                                   progress=False)
        got = load_dir(out)
        assert [k for k in got if not torch.equal(got[k], want[k])] == [], group_bytes
        assert fastinit.verify_module(model, out, group_bytes=group_bytes) == []


def test_verify_rebuilds_a_transformers_model_from_its_config(tmp_path, capsys):
    transformers = pytest.importorskip("transformers")
    from fastinit.cli import main

    model = _tiny_t5(transformers)
    fastinit.checkpoint(model, tmp_path, seed=SEED, max_shard_size="20KB", progress=False)
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "t5"
    assert fastinit.verify(tmp_path) == []
    assert fastinit.verify(tmp_path, sample=3) == []
    assert main(["verify", str(tmp_path), "--quiet"]) == 0
    assert "verify: OK" in capsys.readouterr().out
    assert "shared.weight: differs" in fastinit.verify(tmp_path, seed=SEED + 1)
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    name = "decoder.block.1.layer.2.DenseReluDense.wo.weight"
    shard = tmp_path / index["weight_map"][name]
    header, start = fastinit.checkpoints.read_header(str(shard))
    raw = bytearray(shard.read_bytes())
    raw[start + header[name]["data_offsets"][0]] ^= 0x01
    shard.write_bytes(bytes(raw))
    assert fastinit.verify(tmp_path) == [f"{name}: differs"]
    assert main(["verify", str(tmp_path), "--quiet"]) == 1
    assert f"MISMATCH {name}: differs" in capsys.readouterr().out
    # a sample checks that many tensors (a wrong seed changes all but the constant norms)
    everything = fastinit.verify_module(model, tmp_path, seed=SEED + 1)
    assert len(everything) > 20
    sampled = fastinit.verify_module(model, tmp_path, seed=SEED + 1, sample=3)
    assert 1 <= len(sampled) <= 3 and set(sampled) <= set(everything)


@pytest.mark.parametrize("architectures, text", [
    (None, "names no model class"), (["NoSuchModel"], "names no model class"),
    (["T5ForConditionalGeneration"], "transformers cannot be imported")])
def test_verify_says_why_it_cannot_rebuild(tmp_path, monkeypatch, architectures, text):
    pytest.importorskip("transformers")
    config = {"model_type": "t5", "d_model": 32}
    if architectures:
        config["architectures"] = architectures
    (tmp_path / "config.json").write_text(json.dumps(config))
    if text.startswith("transformers"):
        monkeypatch.setitem(__import__("sys").modules, "transformers", None)
    with pytest.raises(ValueError, match=text) as e:
        fastinit.verify(tmp_path)
    assert "verify_module" in str(e.value)


@pytest.mark.parametrize("sample", [0, -2, 1.5, True])
def test_verify_sample_must_be_positive(tmp_path, sample):
    model = Net
    fastinit.checkpoint(model, tmp_path, seed=SEED, progress=False)
    with pytest.raises(ValueError, match="sample must be a positive int"):
        fastinit.verify_module(model, tmp_path, sample=sample)
    fastinit.checkpoint(dict(LLAMA, num_hidden_layers=1), tmp_path / "llama", progress=False)
    with pytest.raises(ValueError, match="sample must be a positive int"):
        fastinit.verify(tmp_path / "llama", sample=sample)
