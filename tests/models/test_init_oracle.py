"""init_module against an outside oracle: the model's own eager construction by plain torch.

fastinit's whole-model init must give every parameter and buffer what constructing the model
eagerly gives, in distribution (its values are keyed by name, so they differ bit for bit):
constants equal exactly (zero biases, unit norms, zeroed padding rows, rotary buffers), random
tensors with the std within 20% (or sampling noise on small tensors) and the mean within a few
standard errors, nothing non-finite, and nothing left unreached; for init_module (built, then
re-initialized), materialize (built on meta, replayed) and checkpoint_module (written from a
meta model, read back from the files). Comparing fastinit with itself
could not catch a wrong order of inits; eager construction can.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable, Dict

import pytest

torch = pytest.importorskip("torch")
import fastinit  # noqa: E402

nn = torch.nn


def _checkpointed(build: Callable[[], Any], seed: int, out_dir: Any) -> Dict[str, Any]:
    """build() on meta, written by checkpoint_module, read back from the files."""
    safetensors_torch = pytest.importorskip("safetensors.torch")
    with torch.device("meta"):
        meta = build()
    fastinit.checkpoint_module(meta, out_dir, seed=seed, progress=False)
    got: Dict[str, Any] = {}
    for f in sorted(out_dir.glob("*.safetensors")):
        got.update(safetensors_torch.load_file(str(f)))
    return got


def assert_like_eager(build: Callable[[], Any], seed: int = 3, how: str = "init_module",
                      out_dir: Any = None) -> None:
    """Build plainly (the oracle), and again by fastinit: built and re-initialized by
    init_module, built on meta and made real by materialize, or written by checkpoint_module
    and read back."""
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eager = build()
        want = dict(eager.named_parameters()) | dict(eager.named_buffers())
        if how == "init_module":
            ours = build()
            assert fastinit.init_module(ours, seed=seed + 1) == []
        elif how == "materialize":
            ours, left = fastinit.materialize(build, seed=seed + 1, return_untouched=True)
            assert left == []
        else:
            got = _checkpointed(build, seed + 1, out_dir)
            assert set(got) <= set(want) and set(dict(eager.named_parameters())) <= set(got)
            want = {k: v for k, v in want.items() if k in got}
    if how != "checkpoint":
        got = dict(ours.named_parameters()) | dict(ours.named_buffers())
    assert want.keys() == got.keys()
    for name, e in want.items():
        g = got[name].detach()
        e = e.detach()
        if not e.is_floating_point():
            assert torch.equal(g, e), name
            continue
        assert torch.isfinite(g).all(), f"{name}: non-finite values"
        e64, g64 = e.double().flatten(), g.double().flatten()
        if e64.numel() == 0:
            continue
        if torch.all(e64 == e64[0]):  # a constant: ours must be the same constant
            assert torch.equal(g, e), f"{name}: expected the constant {e64[0].item()}"
            continue
        if e.dim() == 2:  # rows the model zeroes (padding rows) stay zero
            zero_rows = (e == 0).all(dim=1)
            assert torch.equal((g == 0).all(dim=1), zero_rows), f"{name}: zero rows differ"
        n = e64.numel()
        se, sg = e64.std().item(), g64.std().item()
        tol = max(0.2, 4.0 / math.sqrt(n))  # two samples: the ratio of stds has SE ~ 1/sqrt(n)
        assert abs(sg / se - 1) <= tol, f"{name}: std {sg:.4g}, eager {se:.4g}"
        assert abs(g64.mean().item() - e64.mean().item()) <= 6 * se / math.sqrt(n) + 1e-12, \
            f"{name}: mean {g64.mean().item():.4g}, eager {e64.mean().item():.4g}"


# --- torch.nn ------------------------------------------------------------------------------

TORCH_MODELS = {
    "MultiheadAttention": lambda: nn.MultiheadAttention(64, 4),
    "MultiheadAttention kdim": lambda: nn.MultiheadAttention(64, 4, kdim=32, vdim=48),
    "TransformerEncoderLayer": lambda: nn.TransformerEncoderLayer(64, 4, 128),
    "Transformer": lambda: nn.Transformer(64, 4, 2, 2, 128),
    "LSTM": lambda: nn.LSTM(32, 64, num_layers=2),
    "GRU": lambda: nn.GRU(32, 64, bidirectional=True),
    "conv net": lambda: nn.Sequential(nn.Conv2d(3, 32, 3), nn.BatchNorm2d(32), nn.ReLU(),
                                      nn.Conv2d(32, 64, 3), nn.GroupNorm(8, 64),
                                      nn.Flatten(), nn.Linear(64, 10)),
    "embedding with padding": lambda: nn.Embedding(300, 64, padding_idx=7),
}


@pytest.mark.parametrize("how", ["init_module", "materialize", "checkpoint"])
@pytest.mark.parametrize("name", list(TORCH_MODELS))
def test_torch_nn_modules_match_eager_construction(name, how, tmp_path):
    assert_like_eager(TORCH_MODELS[name], how=how, out_dir=tmp_path)


def test_attention_output_bias_is_zero_as_eager():
    """MultiheadAttention zeroes its out_proj's bias after the child's own init: run in the
    old parent-first order, the child's uniform init overwrote the zeros."""
    m = nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 64), 2, enable_nested_tensor=False)
    fastinit.init_module(m, seed=0)
    for layer in m.layers:
        assert torch.all(layer.self_attn.out_proj.bias == 0)
        assert torch.all(layer.self_attn.in_proj_bias == 0)


# --- transformers --------------------------------------------------------------------------

def _transformers():
    return pytest.importorskip("transformers")


def _llama(tied: bool, pad: bool):
    t = _transformers()
    cfg = t.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2, vocab_size=256,
                        tie_word_embeddings=tied, pad_token_id=3 if pad else None)
    return lambda: t.LlamaForCausalLM(cfg)


def _hf(config_name: str, model_name: str, **kwargs: Any):
    def build():
        t = _transformers()
        return getattr(t, model_name)(getattr(t, config_name)(**kwargs))
    return build


SMALL = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
             vocab_size=256)
HF_MODELS = {
    "llama tied with pad": _llama(True, True),
    "llama untied with pad": _llama(False, True),
    "llama untied": _llama(False, False),
    "mistral": _hf("MistralConfig", "MistralForCausalLM", num_key_value_heads=2, **SMALL),
    "qwen2": _hf("Qwen2Config", "Qwen2ForCausalLM", num_key_value_heads=2, **SMALL),
    "qwen3": _hf("Qwen3Config", "Qwen3ForCausalLM", num_key_value_heads=2, head_dim=16, **SMALL),
    "gpt2": _hf("GPT2Config", "GPT2LMHeadModel", n_embd=64, n_layer=4, n_head=4, vocab_size=256,
                n_positions=64),
    "bert": _hf("BertConfig", "BertForMaskedLM", **SMALL, max_position_embeddings=64),
    "t5": _hf("T5Config", "T5ForConditionalGeneration", d_model=64, d_ff=128, num_layers=2,
              num_heads=4, d_kv=16, vocab_size=256),
    "vit": _hf("ViTConfig", "ViTModel", hidden_size=64, intermediate_size=128,
               num_hidden_layers=2, num_attention_heads=4, image_size=32, patch_size=8),
}


@pytest.mark.parametrize("how", ["init_module", "materialize", "checkpoint"])
@pytest.mark.parametrize("name", list(HF_MODELS))
def test_transformers_models_match_eager_construction(name, how, tmp_path):
    assert_like_eager(HF_MODELS[name], how=how, out_dir=tmp_path)


class _Wrapped(nn.Module):
    """A plain module holding a transformers model: construction ran the inner model's
    post_init, and nothing of transformers' for the head outside it."""

    def __init__(self) -> None:
        super().__init__()
        self.lm = _llama(False, True)()
        self.head = nn.Linear(64, 3)


@pytest.mark.parametrize("how", ["init_module", "materialize", "checkpoint"])
def test_a_transformers_model_inside_a_plain_module(how, tmp_path):
    assert_like_eager(_Wrapped, how=how, out_dir=tmp_path)


def test_gpt2_residual_projections_are_depth_scaled():
    """GPT-2's block-level init scales c_proj to 0.02 / sqrt(2 n_layer) after the Conv1D's
    own 0.02: children first, or the scaling is lost."""
    m = HF_MODELS["gpt2"]()
    fastinit.init_module(m, seed=1)
    for block in m.transformer.h:
        std = block.attn.c_proj.weight.std().item()
        assert abs(std / (0.02 / math.sqrt(2 * 4)) - 1) < 0.1, std


def test_tied_llama_keeps_the_zeroed_padding_row():
    """The embedding zeroes its padding row; the tied output layer's own init must not refill
    it (transformers initializes both, then ties: the embedding's values stay)."""
    m = HF_MODELS["llama tied with pad"]()
    assert m.lm_head.weight is m.model.embed_tokens.weight
    fastinit.init_module(m, seed=5)
    assert m.lm_head.weight is m.model.embed_tokens.weight
    assert torch.all(m.model.embed_tokens.weight[3] == 0)
    assert m.model.embed_tokens.weight.std().item() == pytest.approx(0.02, rel=0.1)


# --- timm ----------------------------------------------------------------------------------

def _timm():
    return pytest.importorskip("timm", reason="timm (and a torchvision it can import) is not "
                               "installed")


def _timm_model(name: str, **kwargs: Any):
    return lambda: _timm().create_model(name, **kwargs)


TIMM_MODELS = {
    "vit_base_patch16_224": _timm_model("vit_base_patch16_224", depth=2, embed_dim=64,
                                        num_heads=4, img_size=32, patch_size=8, num_classes=10),
    "vit fix_init": _timm_model("vit_base_patch16_224", depth=2, embed_dim=64, num_heads=4,
                                img_size=32, patch_size=8, num_classes=10, fix_init=True),
    "resnet50": _timm_model("resnet50", num_classes=10),
    "convnext_tiny": _timm_model("convnext_tiny", depths=(1, 1, 2, 1), dims=(16, 32, 64, 128),
                                 num_classes=10),
}
# ConvNeXt initializes only inside __init__ (a module-level _init_weights and
# `ls_init_value * torch.ones(dim)`): no code a built model can run again, so only
# materialize, which replays the construction, can give its values
_INIT_ONLY = {"convnext_tiny"}


@pytest.mark.parametrize("how", ["init_module", "materialize", "checkpoint"])
@pytest.mark.parametrize("name", list(TIMM_MODELS))
def test_timm_models_match_eager_construction(name, how, tmp_path):
    build = TIMM_MODELS[name]
    if name in _INIT_ONLY and how == "init_module":
        with pytest.warns(UserWarning, match=r"no init reached .*gamma.*fastinit\.materialize"):
            fastinit.init_module(build(), seed=0)
    elif name in _INIT_ONLY and how == "checkpoint":
        with pytest.raises(ValueError, match="no init reached .*gamma"):
            _checkpointed(build, 0, tmp_path)
    else:
        assert_like_eager(build, how=how, out_dir=tmp_path)


def test_timm_resnet_zeroes_the_last_norm_of_each_block():
    """ResNet.init_weights (run by the constructor) zeroes each bottleneck's bn3 and draws
    the convs as kaiming_normal(fan_out): init_module must run it, not only reset_parameters."""
    m = TIMM_MODELS["resnet50"]()
    fastinit.init_module(m, seed=0)
    assert torch.all(m.layer1[0].bn3.weight == 0)
    std = m.conv1.weight.std().item()
    assert std == pytest.approx(math.sqrt(2 / (64 * 7 * 7)), rel=0.05)


def test_timm_layer_scale_is_replayed_exactly():
    """ConvNeXt's gamma is `ls_init_value * torch.ones(dim)`, computed in __init__: materialize
    replays the ops (it held uninitialized memory before)."""
    m = fastinit.materialize(TIMM_MODELS["convnext_tiny"], seed=0)
    for block in (b for s in m.stages for b in s.blocks):
        assert torch.equal(block.gamma, torch.full_like(block.gamma, 1e-6))
    assert torch.isfinite(m(torch.randn(1, 3, 32, 32))).all()


def _clip():
    t = _transformers()
    cfg = t.CLIPConfig(text_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                        num_attention_heads=2, vocab_size=99, bos_token_id=0,
                                        eos_token_id=1, pad_token_id=1),
                       vision_config=dict(hidden_size=32, intermediate_size=64,
                                          num_hidden_layers=1, num_attention_heads=2,
                                          image_size=32, patch_size=8),
                       projection_dim=16)
    return t.CLIPModel(cfg)


def test_clip_built_on_meta_keeps_its_logit_scale(tmp_path):
    """CLIP's logit_scale is nn.Parameter(torch.tensor(2.6592)), set only in __init__ (its
    _init_weights leaves it): materialize keeps the data torch.tensor was given on meta (it
    refused before: no op carried it); init_module cannot re-run __init__ and names it."""
    assert_like_eager(_clip, how="materialize")
    with pytest.warns(UserWarning, match="logit_scale"):
        assert fastinit.init_module(_clip(), seed=0) == ["logit_scale"]
