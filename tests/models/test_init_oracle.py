"""Whole-model init against an outside oracle: the model's own eager construction by plain
torch (tests/models/eager_oracle.py holds the rule), for init_module, materialize and
checkpoint_module, each run twice under different global seeds (the same bits) and every
checkpoint verified. init_module re-runs a built model's init code: where the model's init
lives in ``__init__`` it must refuse to change the law of the constructed values (or keep
them when told), never write another law silently.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

torch = pytest.importorskip("torch")
import fastinit  # noqa: E402
from eager_oracle import PATHS, assert_like_eager  # noqa: E402

nn = torch.nn


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


@pytest.mark.parametrize("how", PATHS)
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
    # state-space and hybrid models: dt_bias drawn with torch.rand in _init_weights, A_log / D
    # computed in __init__
    "mamba2": _hf("Mamba2Config", "Mamba2ForCausalLM", hidden_size=64, num_hidden_layers=2,
                  vocab_size=256, num_heads=32, head_dim=4, state_size=16, n_groups=1, expand=2),
    "falcon_mamba": _hf("FalconMambaConfig", "FalconMambaForCausalLM", hidden_size=64,
                        num_hidden_layers=2, vocab_size=256, state_size=16, expand=2),
    "zamba2": _hf("Zamba2Config", "Zamba2ForCausalLM", hidden_size=64, num_hidden_layers=2,
                  vocab_size=256, intermediate_size=128, num_attention_heads=4,
                  num_key_value_heads=4, mamba_d_state=16, mamba_headdim=4, n_mamba_heads=32,
                  mamba_expand=2, layers_block_type=["mamba", "hybrid"], hybrid_layer_ids=[1],
                  attention_head_dim=16),
    "bamba": _hf("BambaConfig", "BambaForCausalLM", **SMALL, num_key_value_heads=2,
                 mamba_n_heads=32, mamba_d_head=4, mamba_d_state=16, mamba_n_groups=1,
                 mamba_expand=2, attn_layer_indices=[1]),
    "jamba": _hf("JambaConfig", "JambaForCausalLM", **SMALL, num_key_value_heads=2,
                 num_experts=4, mamba_d_state=8, mamba_expand=2, attn_layer_period=2,
                 attn_layer_offset=1, expert_layer_period=2, expert_layer_offset=1),
    # mixture of experts: the router and the experts' stacked weights in _init_weights
    "mixtral": _hf("MixtralConfig", "MixtralForCausalLM", **SMALL, num_key_value_heads=2,
                   num_local_experts=4),
    # orthogonal inits and time-mixing tables computed in _init_weights
    "rwkv": _hf("RwkvConfig", "RwkvForCausalLM", hidden_size=64, num_hidden_layers=2,
                vocab_size=256, attention_hidden_size=64, intermediate_size=128,
                context_length=32),
    # a weight-norm parametrization (registered in __init__) and torch.Tensor(n).uniform_()
    "wav2vec2": _hf("Wav2Vec2Config", "Wav2Vec2Model", hidden_size=32, num_hidden_layers=2,
                    num_attention_heads=2, intermediate_size=64, conv_dim=(16, 16),
                    conv_stride=(5, 2), conv_kernel=(10, 3), num_conv_pos_embeddings=16,
                    num_conv_pos_embedding_groups=4, vocab_size=32),
}
# init_module cannot reach a weight-norm parametrization's originals (right_inverse of the
# weight at registration, inside __init__): it returns their names
HF_LEFT = {"wav2vec2": ["encoder.pos_conv_embed.conv.parametrizations.weight.original0",
                        "encoder.pos_conv_embed.conv.parametrizations.weight.original1"]}


@pytest.mark.parametrize("how", PATHS)
@pytest.mark.parametrize("name", list(HF_MODELS))
def test_transformers_models_match_eager_construction(name, how, tmp_path):
    assert_like_eager(HF_MODELS[name], how=how, out_dir=tmp_path, left=HF_LEFT.get(name, ()))


class _Wrapped(nn.Module):
    """A plain module holding a transformers model: construction ran the inner model's
    post_init, and nothing of transformers' for the head outside it."""

    def __init__(self) -> None:
        super().__init__()
        self.lm = _llama(False, True)()
        self.head = nn.Linear(64, 3)


@pytest.mark.parametrize("how", PATHS)
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
    "efficientnet_b0": _timm_model("efficientnet_b0", num_classes=10),
    "mobilenetv3_small_100": _timm_model("mobilenetv3_small_100", num_classes=10),
    "regnetx_002": _timm_model("regnetx_002", num_classes=10),
    "levit_128s": _timm_model("levit_128s", num_classes=10),
    "nf_resnet26": _timm_model("nf_resnet26", depths=(1, 1, 1, 1), channels=(32, 64, 96, 128),
                               num_classes=10),
    "convnextv2_atto": _timm_model("convnextv2_atto", depths=(1, 1, 1, 1),
                                   dims=(16, 32, 48, 64), num_classes=10),
    "dm_nfnet_f0": _timm_model("dm_nfnet_f0", depths=(1, 1, 1, 1), num_classes=10),
}
# These initialize only inside __init__ (module-level init functions applied by the
# constructor, zero-initialized last norms, layer scale as `value * torch.ones(dim)`): no code
# a built model holds gives those values again, so init_module refuses; materialize and the
# checkpoint replay the construction.
INIT_IN_CONSTRUCTOR = {"convnext_tiny", "efficientnet_b0", "mobilenetv3_small_100",
                       "regnetx_002", "levit_128s", "nf_resnet26", "convnextv2_atto",
                       "dm_nfnet_f0"}


@pytest.mark.parametrize("how", PATHS)
@pytest.mark.parametrize("name", list(TIMM_MODELS))
def test_timm_models_match_eager_construction(name, how, tmp_path):
    assert_like_eager(TIMM_MODELS[name], how=how, out_dir=tmp_path,
                      refused=name in INIT_IN_CONSTRUCTOR)


def test_init_module_names_each_tensor_whose_law_would_change():
    """EfficientNet's convolutions are N(0, sqrt(2 / fan_out)) and its SE biases 0 by its
    constructor; torch's reset_parameters would give them kaiming_uniform(a=sqrt(5)) and
    uniform biases."""
    m = TIMM_MODELS["efficientnet_b0"]()
    with pytest.raises(ValueError) as e:
        fastinit.init_module(m, seed=0)
    text = str(e.value)
    assert "fastinit.materialize(build)" in text and "keep_constructed=True" in text
    assert "blocks.0.0.conv_dw.weight: holds std" in text
    assert "se.conv_expand.bias: holds the constant 0" in text


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


# --- custom modules -------------------------------------------------------------------------

class InitInConstructor(nn.Module):
    """Values made in __init__ and never again: init_module names them and leaves them."""

    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.full((8,), 0.5))
        self.noise = nn.Parameter(torch.randn(64, 64) * 0.1)
        self.lin = nn.Linear(64, 64)


class RandomReset(nn.Module):
    """Its own reset_parameters draws with torch.randn: keyed inside fastinit's scopes."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.empty(64, 32))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.w.copy_(torch.randn(64, 32) * 0.02)


class Legacy(nn.Module):
    """Legacy constructors ignore the meta device context; a meta build sees them anyway."""

    def __init__(self) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.Tensor(256).uniform_())
        self.grid = nn.Parameter(torch.FloatTensor(32, 16).normal_(0.0, 0.5))
        self.fixed = nn.Parameter(torch.Tensor([1.0, 2.0, 3.0]))


CUSTOM = {"init in the constructor": (InitInConstructor, ["gain", "noise"]),
          "random reset_parameters": (RandomReset, []),
          "legacy constructors": (Legacy, ["fixed", "grid", "table"])}


@pytest.mark.parametrize("how", PATHS)
@pytest.mark.parametrize("name", list(CUSTOM))
def test_custom_modules_match_eager_construction(name, how, tmp_path):
    build, left = CUSTOM[name]
    assert_like_eager(build, how=how, out_dir=tmp_path, left=left)
