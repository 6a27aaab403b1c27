"""verify says OK exactly when loaders load the values it verified. The loaders are the
oracle: safetensors' own reader and transformers' ``from_pretrained``. For a good checkpoint
they load the files' tensors; for each damaged one below, a loader refuses it or loads other
values, and verify exits 1 (a problem, named) or 2 (one line: input it cannot take), never 0
and never with a traceback."""

import contextlib
import io
import json
import os
import shutil
import struct
import warnings

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
st = pytest.importorskip("safetensors.torch")
import fastinit  # noqa: E402
from fastinit.checkpoint import checkpoints as ck  # noqa: E402
from fastinit.cli import main  # noqa: E402

from checkpoint_edits import edit_json, rewrite_header  # noqa: E402

CONFIG = {"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
          "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 120}
INDEX = "model.safetensors.index.json"
SHARD = "model-00001-of-00004.safetensors"


def files_tensors(d):
    """Every tensor as the files hold it, parsed without safetensors."""
    out = {}
    for name in sorted(set(json.loads((d / INDEX).read_text())["weight_map"].values())):
        raw = (d / name).read_bytes()
        (n,) = struct.unpack("<Q", raw[:8])
        for k, e in json.loads(raw[8:8 + n]).items():
            if k != "__metadata__":
                b, end = e["data_offsets"]
                data = bytearray(raw[8 + n + b:8 + n + end])
                out[k] = torch.frombuffer(data, dtype=torch.float32).reshape(e["shape"])
    return out


def loaded(d, cls=None):
    """``from_pretrained(d)``'s state dict (its tied lm_head left out), and its load report."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, info = (cls or transformers.AutoModelForCausalLM).from_pretrained(
            d, output_loading_info=True, dtype=torch.float32)
    return model.state_dict(), info


def verify_cli(d):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["verify", str(d), "--quiet"])
    return code, out.getvalue() + err.getvalue()


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    d = tmp_path_factory.mktemp("good")
    fastinit.checkpoint(CONFIG, d / "ck", dtype="float32", seed=3, max_shard_size="100KB",
                        progress=False)
    fastinit.checkpoint(CONFIG, d / "other", dtype="float32", seed=4, max_shard_size="1GB",
                        progress=False)
    return d


def test_what_verify_passes_is_what_loaders_load(good):
    d = good / "ck"
    assert verify_cli(d)[0] == 0
    files = files_tensors(d)
    for name in set(json.loads((d / INDEX).read_text())["weight_map"].values()):
        for k, v in st.load_file(str(d / name)).items():
            assert torch.equal(v, files[k]), k
    state, info = loaded(d)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert set(files) <= set(state)
    for k, v in files.items():
        assert torch.equal(state[k], v), k


def test_a_module_checkpoint_too(tmp_path):
    cfg = transformers.GPT2Config(n_embd=32, n_layer=2, n_head=2, vocab_size=64, n_positions=16)
    with torch.device("meta"):
        model = transformers.GPT2LMHeadModel(cfg)
    fastinit.checkpoint_module(model, tmp_path, dtype=torch.float32, seed=5, progress=False)
    assert verify_cli(tmp_path)[0] == 0
    state, info = loaded(tmp_path)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    for k, v in files_tensors(tmp_path).items():
        assert torch.equal(state[k], v), k


def _float_end_offset(d, other):
    rewrite_header(d / SHARD, lambda h: h["model.embed_tokens.weight"].update(
        data_offsets=[h["model.embed_tokens.weight"]["data_offsets"][0],
                      float(h["model.embed_tokens.weight"]["data_offsets"][1])]))


def _metadata_int(d, other):
    rewrite_header(d / SHARD, lambda h: h["__metadata__"].update(note=1))


def _metadata_object(d, other):
    rewrite_header(d / SHARD, lambda h: h["__metadata__"].update(note={"a": "b"}))


def _model_safetensors_beside(d, other):
    shutil.copy(other / "model-00001-of-00001.safetensors", d / "model.safetensors")


def _pytorch_bin_beside(d, other):
    torch.save(st.load_file(str(other / "model-00001-of-00001.safetensors")),
               d / "pytorch_model.bin")


def _bogus_activation(d, other):
    edit_json(d / "config.json", lambda c: c.update(hidden_act="bogus_act"))


def _nan_norm_eps(d, other):
    edit_json(d / "config.json", lambda c: c.update(rms_norm_eps=float("nan")))


def _model_type_of_another_architecture(d, other):
    edit_json(d / "config.json", lambda c: c.update(model_type="gpt2"))


def _weights_redirected(d, other):
    shutil.copy(other / "model-00001-of-00001.safetensors", d / "other.safetensors")
    edit_json(d / "config.json", lambda c: c.update(transformers_weights="other.safetensors"))


def _safetensors_refuses(d):
    with pytest.raises(Exception, match="invalid"):  # SafetensorError: invalid JSON in header
        st.load_file(str(d / SHARD))


def _loads_other_values(d):
    files = files_tensors(d)
    try:
        state, info = loaded(d)
    except Exception:  # noqa: BLE001 - refusing is agreeing that it is not loadable
        return
    assert info["missing_keys"] or any(
        k not in state or not torch.equal(state[k], v) for k, v in files.items())


def _not_strict_json(d):
    def refuse(name):
        raise ValueError(name)

    with pytest.raises(ValueError):
        json.loads((d / "config.json").read_text(), parse_constant=refuse)


# damage, verify's exit code, words of its message, how a loader disagrees
CASES = [
    (_float_end_offset, 1, "header entry is not a consistent", _safetensors_refuses),
    (_metadata_int, 1, "__metadata__ 'note' is a JSON int", _safetensors_refuses),
    (_metadata_object, 1, "__metadata__ 'note' is a JSON dict", _safetensors_refuses),
    (_model_safetensors_beside, 1, "model.safetensors: a loader reads it instead",
     _loads_other_values),
    (_pytorch_bin_beside, 1, "pytorch_model.bin: a loader reads it", None),
    (_bogus_activation, 2, "cannot build LlamaForCausalLM from config.json (KeyError",
     _loads_other_values),
    (_nan_norm_eps, 2, "is not a JSON config (NaN is not a JSON number)", _not_strict_json),
    (_model_type_of_another_architecture, 2, "cannot build LlamaForCausalLM",
     _loads_other_values),
    (_weights_redirected, 2, "transformers_weights is 'other.safetensors'", _loads_other_values),
]


@pytest.mark.parametrize("damage, code, words, loader", CASES,
                         ids=[c[0].__name__.strip("_") for c in CASES])
def test_verify_is_not_ok_where_loaders_disagree(tmp_path, good, damage, code, words, loader):
    d = tmp_path / "ck"
    shutil.copytree(good / "ck", d)
    damage(d, good / "other")
    got, text = verify_cli(d)
    assert got == code and words in text, text
    assert "Traceback" not in text
    if code == 2:
        assert len(text.strip().splitlines()) == 1, text
    if loader is not None:
        loader(d)


def test_overwrite_refuses_weights_a_loader_would_read_instead(tmp_path, good):
    d = tmp_path / "ck"
    d.mkdir()
    shutil.copy(good / "other" / "model-00001-of-00001.safetensors", d / "model.safetensors")
    (d / "adapter_config.json").write_text("{}")
    with pytest.raises(ValueError, match="holds adapter_config.json, model.safetensors, which "
                                         "loaders read instead of"):
        fastinit.checkpoint(CONFIG, d, progress=False, overwrite=True)
    assert sorted(os.listdir(d)) == ["adapter_config.json", "model.safetensors"]
    assert sorted(os.listdir(tmp_path)) == ["ck"]


def test_a_deeply_nested_config_is_one_line(tmp_path, capsys):
    cfg = tmp_path / "cfg.json"
    cfg.write_text("[" * 100_000 + "]" * 100_000)
    assert main(["checkpoint", str(cfg), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "is not a JSON config (nested deeper than a reader can take)" in err
    assert len(err.strip().splitlines()) == 1


class _Broken:
    """A transformers whose classes fail to import, as a broken install's do."""

    def __getattr__(self, name):
        raise RuntimeError("operator torchvision::nms does not exist")


@pytest.mark.parametrize("broken", [None, _Broken()], ids=["missing", "broken"])
def test_verify_without_a_working_transformers_is_one_line_exit_2(tmp_path, monkeypatch, broken):
    cfg = transformers.GPT2Config(n_embd=32, n_layer=1, n_head=2, vocab_size=64, n_positions=16)
    with torch.device("meta"):
        model = transformers.GPT2LMHeadModel(cfg)
    fastinit.checkpoint_module(model, tmp_path, seed=5, progress=False)
    monkeypatch.setitem(__import__("sys").modules, "transformers", broken)
    code, text = verify_cli(tmp_path)
    assert code == 2 and "transformers cannot be imported" in text, text
    assert len(text.strip().splitlines()) == 1 and "Traceback" not in text
    # a Llama checkpoint needs no transformers: verified by fastinit's own rules
    fastinit.checkpoint(CONFIG, tmp_path / "llama", progress=False)
    assert verify_cli(tmp_path / "llama")[0] == 0


def test_anything_else_going_wrong_is_one_line_exit_2(good, monkeypatch):
    def crash(*a, **k):
        raise AttributeError("'NoneType' object has no attribute 'shape'")

    monkeypatch.setattr(ck, "audit", crash)
    code, text = verify_cli(good / "ck")
    assert code == 2 and text.strip() == ("fastinit verify: error: AttributeError: 'NoneType' "
                                          "object has no attribute 'shape'")
