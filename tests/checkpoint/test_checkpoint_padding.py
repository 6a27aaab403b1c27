"""The padding row and tied/untied heads are what transformers' own construction gives, for
the config path and the module path alike (issue 12: pad_token_id -1 was not zeroed)."""

import warnings

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
import fastinit  # noqa: E402
from fastinit.checkpoints import read_header  # noqa: E402

CONFIG = {"hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 1,
          "num_attention_heads": 2, "vocab_size": 40}


def load(d):
    import safetensors.torch as st

    out = {}
    for p in sorted(d.glob("model-*.safetensors")):
        read_header(str(p))
        out.update(st.load_file(str(p)))
    return out


@pytest.mark.parametrize("tied", [False, True], ids=["untied", "tied"])
@pytest.mark.parametrize("pad", [None, 0, 5, -1])
def test_equals_init_module_of_the_eager_model(tmp_path, pad, tied):
    config = dict(CONFIG, pad_token_id=pad, tie_word_embeddings=tied)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eager = transformers.LlamaForCausalLM(transformers.LlamaConfig(**config))
        with torch.device("meta"):
            meta = transformers.LlamaForCausalLM(transformers.LlamaConfig(**config))
    assert fastinit.init_module(eager, seed=4) == []
    want = {k: v.to(torch.bfloat16) for k, v in eager.state_dict().items()}
    fastinit.checkpoint(config, tmp_path / "cfg", seed=4, progress=False)
    fastinit.checkpoint(meta, tmp_path / "mod", seed=4, progress=False)
    for path in ("cfg", "mod"):
        got = load(tmp_path / path)
        assert ("lm_head.weight" in got) == (not tied)
        for k, v in got.items():
            assert torch.equal(v, want[k]), (path, k)
        assert fastinit.verify(tmp_path / path) == []
    if pad is not None:
        assert torch.all(got["model.embed_tokens.weight"][pad] == 0)
