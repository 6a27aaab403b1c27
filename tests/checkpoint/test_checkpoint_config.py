"""Bad configs: one clear line per problem, exit 2, ValueError, and no file touched."""

import json
import sys
import warnings

import pytest

torch = pytest.importorskip("torch")
import fastinit  # noqa: E402
from fastinit.cli import main  # noqa: E402

GOOD = {"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 120,
        "initializer_range": 0.02}

# (change to the good config, text of the problem line); each of these was once written
# without an error, or failed with a traceback (issue 12)
BAD = [
    ({"vocab_size": -5}, "vocab_size: must be an int in [1,"),
    ({"num_attention_heads": -4}, "num_attention_heads: must be an int in [1,"),
    ({"num_hidden_layers": -1}, "num_hidden_layers: must be an int in [1, 10000]"),
    ({"num_hidden_layers": 1e9}, "num_hidden_layers: must be an int in [1, 10000], got 1000000000.0"),
    ({"num_hidden_layers": 10**9}, "num_hidden_layers: must be an int in [1, 10000]"),
    ({"initializer_range": 1e39}, "initializer_range: must be a finite number"),
    ({"initializer_range": 0}, "initializer_range: must be a finite number"),
    ({"initializer_range": "0.02"}, "initializer_range: must be a finite number"),
    ({"hidden_size": 0}, "hidden_size: must be an int in [1,"),
    ({"hidden_size": -64}, "hidden_size: must be an int in [1,"),
    ({"hidden_size": True}, "hidden_size: must be an int in [1,"),
    ({"num_attention_heads": 0}, "num_attention_heads: must be an int in [1,"),
    ({"num_attention_heads": 5}, "num_attention_heads: must divide hidden_size (64)"),
    ({"num_key_value_heads": 3}, "num_key_value_heads: must divide num_attention_heads (4)"),
    ({"head_dim": -16}, "head_dim: must be an int in [1,"),
    ({"pad_token_id": 1.5}, "pad_token_id: must be null or an int in [-120, 119], got 1.5"),
    ({"pad_token_id": 120}, "pad_token_id: must be null or an int in [-120, 119]"),
    ({"pad_token_id": -121}, "pad_token_id: must be null or an int in [-120, 119]"),
    ({"vocab_size": 10**12}, "vocab_size: must be an int in [1, 2147483647]"),
    ({"tie_word_embeddings": "yes"}, "tie_word_embeddings: must be true or false"),
    ({"intermediate_size": None}, "intermediate_size: must be an int in [1,"),
    ({"model_type": ["llama"]}, "model_type ['llama'] is not supported"),
    ({"num_hidden_layers": 10_000, "hidden_size": 2**20, "num_attention_heads": 1, "num_key_value_heads": 1,
      "intermediate_size": 2**20}, "more than safetensors offsets hold exactly"),
]


@pytest.mark.parametrize("change, problem", BAD, ids=[str(c) for c, _ in BAD])
def test_bad_config_exit_2_one_line_nothing_written(tmp_path, capsys, change, problem):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(dict(GOOD, **change)))
    out = tmp_path / "out"
    assert main(["checkpoint", str(cfg), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert problem in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]  # nothing touched
    with pytest.raises(ValueError) as e:
        fastinit.checkpoint(dict(GOOD, **change), out, progress=False)
    assert problem in str(e.value)
    assert not out.exists()


def test_every_problem_is_reported_at_once(tmp_path):
    with pytest.raises(ValueError) as e:
        fastinit.checkpoint(dict(GOOD, vocab_size=-5, hidden_size=0, pad_token_id="x"),
                            tmp_path / "out", progress=False)
    lines = str(e.value).splitlines()
    assert "3 problems" in lines[0]
    assert [ln.split(":")[0].strip() for ln in lines[1:]] == ["hidden_size", "vocab_size",
                                                              "pad_token_id"]


@pytest.fixture
def no_transformers(monkeypatch):
    """fastinit's own config rules alone, as where transformers is not installed."""
    monkeypatch.setitem(sys.modules, "transformers", None)


def test_float16_range_is_checked_in_float16(tmp_path, no_transformers):
    with pytest.raises(ValueError, match="float16 values stay finite"):
        fastinit.checkpoint(dict(GOOD, initializer_range=20000.0), tmp_path / "o",
                            dtype="float16", progress=False)
    assert not (tmp_path / "o").exists()
    fastinit.checkpoint(dict(GOOD, initializer_range=20000.0), tmp_path / "o",
                        dtype="bfloat16", progress=False)
    assert fastinit.verify(tmp_path / "o") == []


EDGE = [{"head_dim": 24, "num_attention_heads": 5, "num_key_value_heads": None},
        {"initializer_range": None}, {"initializer_range": 20000.0}, {"pad_token_id": None},
        {"attention_bias": True, "mlp_bias": False}]


@pytest.mark.parametrize("ok", EDGE)
def test_edge_configs_are_written_by_fastinit_rules(tmp_path, no_transformers, ok):
    fastinit.checkpoint(dict(GOOD, **ok), tmp_path, progress=False)
    assert fastinit.verify(tmp_path) == []


@pytest.mark.parametrize("ok", EDGE)
def test_edge_configs_are_written_where_transformers_loads_them(tmp_path, ok):
    """Where transformers is installed, a config its LlamaConfig refuses (transformers 5:
    initializer_range null or above 1, heads that do not divide hidden_size even with head_dim)
    is refused before any file is written, naming transformers' reason; one it takes is written,
    verified, and loaded by from_pretrained."""
    transformers = pytest.importorskip("transformers")
    cfg = dict(GOOD, **ok)
    try:
        with torch.device("meta"):
            transformers.LlamaForCausalLM(transformers.LlamaConfig.from_dict(dict(cfg)))
        loads = True
    except Exception:  # noqa: BLE001 - whatever transformers refuses it with
        loads = False
    if not loads:
        with pytest.raises(ValueError, match="transformers' LlamaConfig refuses config.json"):
            fastinit.checkpoint(cfg, tmp_path / "o", progress=False)
        assert not (tmp_path / "o").exists()
        return
    fastinit.checkpoint(cfg, tmp_path / "o", progress=False)
    assert fastinit.verify(tmp_path / "o") == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        transformers.LlamaForCausalLM.from_pretrained(tmp_path / "o")
