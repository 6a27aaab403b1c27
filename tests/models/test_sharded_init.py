"""fastinit.init_sharded on gloo ranks: transformers models sharded by FSDP2 (and FSDP2 over
tensor parallelism) get, gathered, the unsharded ``materialize`` values bit for bit, and those
follow the law of plain eager construction (tests/models/eager_oracle.py's rule).

The models are the cases where the model's own init code under patch mode goes wrong on
DTensors: a Llama tied with a padding row (the row is not zeroed, the tie loses the
embedding's values), untied with a padding row, Qwen2 tied, and Gemma (tied, padding row 0,
a scaled-embedding buffer and RMSNorm weights of zero); and a torchtitan-style model whose
build calls its init_weights(). One 4-rank gloo world (process startups are the cost) runs the
transformers models on meshes of 1, 2 and 4 ranks and on a 2x2 FSDP x TP mesh (the
torchtitan-style one on 2 ranks and 2x2): FSDP2 over all 4 ranks, over one dim of the 2x2 mesh
(2 ranks, the other dim replicating) and over a 1-rank mesh, and tensor parallel attention and
MLP (the untied Llama also its embedding and head) under FSDP2 on the 2x2 mesh, made real in
about 10 groups; the tied Llama also in bfloat16. The rest runs in this process: a model not
sharded at all, names of wrapped modules (activation checkpointing, torch.compile), a broken
tie, and every refusal.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Dict

import numpy as np
import pytest

import conftest  # noqa: E402, F401  (a spawned rank too: torchvision's ops, see conftest.py)

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
dist = pytest.importorskip("torch.distributed")
if not dist.is_available():
    pytest.skip("torch.distributed is not available", allow_module_level=True)
pytest.importorskip("torch.distributed.tensor")
pytest.importorskip("torch.distributed.fsdp")

import fastinit  # noqa: E402
from eager_oracle import assert_like  # noqa: E402
from gloo_ranks import _run  # noqa: E402

SEED = 11
SMALL = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, vocab_size=203)  # 203: uneven shards


def _build(name: str) -> Callable[[], Any]:
    t = transformers
    configs = {
        "llama tied with pad": lambda: t.LlamaForCausalLM(
            t.LlamaConfig(**SMALL, tie_word_embeddings=True, pad_token_id=3)),
        "llama untied with pad": lambda: t.LlamaForCausalLM(
            t.LlamaConfig(**SMALL, tie_word_embeddings=False, pad_token_id=3)),
        "qwen2 tied": lambda: t.Qwen2ForCausalLM(t.Qwen2Config(**SMALL, tie_word_embeddings=True)),
        "gemma": lambda: t.GemmaForCausalLM(t.GemmaConfig(**SMALL, head_dim=16)),
        "torchtitan-style": _torchtitan_style,
    }
    return configs[name]


def _torchtitan_style() -> Any:
    """A model whose init lives in init_weights(), called after to_empty in torchtitan: the
    build calls it, so its construction holds the model's own scheme."""
    from test_dtensor_patch import TinyLlama

    model = TinyLlama()
    model.init_weights()
    return model


MODELS = ("llama tied with pad", "llama untied with pad", "qwen2 tied", "gemma",
          "torchtitan-style")
MESHES = ("fsdp 1", "fsdp 2", "fsdp 4", "fsdp 2 x tp 2")
BF16 = "fsdp 2 x tp 2 bfloat16"  # the model cast to bfloat16 on meta, before sharding


def _meshes(name: str) -> tuple:
    if name == "torchtitan-style":
        return ("fsdp 2", "fsdp 2 x tp 2")
    return MESHES + (BF16,) if name == "llama tied with pad" else MESHES


def _layers(model: Any) -> Any:
    return model.layers if hasattr(model, "layers") else model.model.layers


def _tp_plan(name: str) -> Dict[str, Any]:
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel

    if name == "torchtitan-style":
        return {"attention.wq": ColwiseParallel(), "attention.wk": ColwiseParallel(),
                "attention.wv": ColwiseParallel(), "attention.wo": RowwiseParallel(),
                "feed_forward.w1": ColwiseParallel(), "feed_forward.w3": ColwiseParallel(),
                "feed_forward.w2": RowwiseParallel()}
    plan = {f"self_attn.{p}_proj": ColwiseParallel() for p in "qkv"}
    return plan | {"self_attn.o_proj": RowwiseParallel(), "mlp.down_proj": RowwiseParallel(),
                   "mlp.gate_proj": ColwiseParallel(), "mlp.up_proj": ColwiseParallel()}


def _sharded(name: str, mesh: str, meshes: Dict[str, Any]) -> Any:
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor.parallel import ColwiseParallel, parallelize_module

    build = _build(name)
    with torch.device("meta"):
        model = build()
    if mesh == BF16:
        model.to(torch.bfloat16)
    if "tp" in mesh:
        for layer in _layers(model):
            parallelize_module(layer, meshes["tp"], _tp_plan(name))
        if name.startswith("llama untied"):  # embedding Shard(1), head Shard(0)
            parallelize_module(model, meshes["tp"], {"model.embed_tokens": ColwiseParallel(),
                                                     "lm_head": ColwiseParallel()})
    dp = meshes[mesh.split(" x ")[0]]
    for layer in _layers(model):
        fully_shard(layer, mesh=dp)
    fully_shard(model, mesh=dp)
    model.to_empty(device="cpu")
    group_bytes = 32 << 10 if mesh == "fsdp 2 x tp 2" else 256 << 20  # about 10 groups
    # build=None: the model's class (behind FSDP2's subclass) rebuilt from its config
    given = None if (name, mesh) == ("qwen2 tied", "fsdp 4") else build
    assert fastinit.init_sharded(model, given, seed=SEED, group_bytes=group_bytes) == []
    return model


def _gathered(model: Any) -> Dict[str, Any]:
    out = {}
    for k, v in list(model.named_parameters()) + list(model.named_buffers()):
        full = v.full_tensor() if hasattr(v, "full_tensor") else v
        out[k] = full.detach().view(torch.int16) if full.dtype == torch.bfloat16 else full.detach()
    return out


def _every_mesh(world: int) -> Dict[str, Any]:
    from torch.distributed.device_mesh import init_device_mesh

    two = init_device_mesh("cpu", (2, 2), mesh_dim_names=("dp", "tp"))
    meshes = {"fsdp 4": init_device_mesh("cpu", (world,)), "fsdp 2": two["dp"], "tp": two["tp"],
              "fsdp 1": init_device_mesh("cpu", (world, 1), mesh_dim_names=("rest", "one"))["one"]}
    out = {}
    for name in MODELS:
        for mesh in _meshes(name):
            model = _sharded(name, mesh, meshes)
            if hasattr(model, "config"):  # fully_shard kept the tie (written once)
                ties = model.lm_head.weight is model.model.embed_tokens.weight
                assert ties == model.config.tie_word_embeddings, (name, mesh)
            out[f"{name} | {mesh}"] = _gathered(model)
            if (name, mesh) == ("llama tied with pad", "fsdp 4"):  # values survive FSDP2's
                model(torch.tensor([[1, 2, 3]]))  # lazy init (it re-pads each shard)
                after = _gathered(model)
                assert all(torch.equal(v, after[k]) for k, v in out[f"{name} | {mesh}"].items())
    return out


def _unsharded(name: str, dtype: Any = None) -> Dict[str, Any]:
    model = fastinit.materialize(_build(name), dtype=dtype, seed=SEED)
    return {k: v.detach() for k, v in list(model.named_parameters()) +
            list(model.named_buffers())}


def test_sharded_models_equal_the_unsharded_values(tmp_path):
    got = _run(_every_mesh, 4, tmp_path)
    for name in MODELS:
        want = _unsharded(name)
        want16 = {k: v.view(torch.int16) for k, v in _unsharded(name, torch.bfloat16).items()
                  if v.dtype == torch.bfloat16} if BF16 in _meshes(name) else {}
        torch.manual_seed(SEED)
        eager = _build(name)()
        eager_tensors = dict(eager.named_parameters()) | dict(eager.named_buffers())
        for mesh in _meshes(name):
            sharded = got[f"{name} | {mesh}"]
            assert set(sharded) == set(want), (name, mesh)
            for k, v in sharded.items():
                expected = want16.get(k, want[k]) if mesh == BF16 else want[k]
                assert np.array_equal(v, expected.numpy()), (name, mesh, k)
        for k, v in want.items():  # and the values are the model's own law
            assert_like(f"{name}: {k}", eager_tensors[k].detach(), v)
        pad = getattr(getattr(eager, "config", None), "pad_token_id", None)
        if pad is not None:
            assert not want["model.embed_tokens.weight"][pad].any(), name
            assert want["model.embed_tokens.weight"].std() > 0


# --- in this process: no mesh -------------------------------------------------------------

def _meta_model(build: Callable[[], Any]) -> Any:
    with torch.device("meta"):
        model = build()
    return model.to_empty(device="cpu")


def test_an_unsharded_model_gets_the_materialized_values():
    build = _build("llama tied with pad")
    model = _meta_model(build)
    fastinit.init_sharded(model, seed=SEED, group_bytes=4 << 10)  # rebuilt from its config
    want = fastinit.materialize(build, seed=SEED)
    # to_empty gave the head its own copy of the tied weight: both hold the tie's values
    assert model.lm_head.weight is not model.model.embed_tokens.weight
    assert torch.equal(model.lm_head.weight, want.model.embed_tokens.weight)
    for k, v in want.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
    assert torch.equal(model.model.rotary_emb.inv_freq, want.model.rotary_emb.inv_freq)


def test_wrapper_names_are_left_out():
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper

    build = _build("llama untied with pad")
    model = _meta_model(build)
    for i, layer in enumerate(model.model.layers):
        model.model.layers[i] = checkpoint_wrapper(layer)
    with warnings.catch_warnings():  # importing dynamo warns of torch.jit's deprecation
        warnings.simplefilter("ignore", DeprecationWarning)
        compiled = torch.compile(model)  # not run: only its names matter
    named = dict(compiled.named_parameters())
    assert all(k.startswith("_orig_mod.") for k in named)
    assert any("_checkpoint_wrapped_module" in k for k in named)
    fastinit.init_sharded(compiled, build, seed=SEED)
    want = dict(fastinit.materialize(build, seed=SEED).named_parameters())
    for k, v in named.items():
        plain = k.replace("_checkpoint_wrapped_module.", "").removeprefix("_orig_mod.")
        assert torch.equal(v, want[plain]), k


def test_a_broken_tie_gives_both_copies_the_values():
    build = _build("qwen2 tied")
    model = _meta_model(build)
    model.lm_head.weight = torch.nn.Parameter(torch.empty_like(model.lm_head.weight))
    fastinit.init_sharded(model, build, seed=SEED)
    want = fastinit.materialize(build, seed=SEED)
    assert torch.equal(model.lm_head.weight, want.model.embed_tokens.weight)
    assert torch.equal(model.model.embed_tokens.weight, want.model.embed_tokens.weight)


def test_a_model_unlike_the_build_is_refused_naming_the_differences():
    build = _build("llama untied with pad")
    other = _meta_model(build)
    other.lm_head.weight = other.model.embed_tokens.weight
    with pytest.raises(ValueError, match=r"model.embed_tokens.weight and lm_head.weight share "
                                         r"one tensor, build\(\) gives them two"):
        fastinit.init_sharded(other, build)
    bigger = transformers.LlamaConfig(**(SMALL | {"vocab_size": 256}), pad_token_id=3)
    model = _meta_model(lambda: transformers.LlamaForCausalLM(bigger))
    with pytest.raises(ValueError, match=r"model.embed_tokens.weight has global shape "
                                         r"\[256, 64\], build\(\) gives \[203, 64\]"):
        fastinit.init_sharded(model, build)
    model = _meta_model(build)
    del model.model.layers[1]
    with pytest.raises(ValueError, match=r"model.layers.1.mlp.up_proj.weight is missing"):
        fastinit.init_sharded(model, build)
    model = _meta_model(build)
    model.extra = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match=r"extra.weight is not in the model built by build"):
        fastinit.init_sharded(model, build)


def test_bad_arguments_are_refused():
    build = _build("gemma")
    with torch.device("meta"):
        on_meta = build()
    with pytest.raises(ValueError, match=r"is on the meta device; .*to_empty"):
        fastinit.init_sharded(on_meta, build)
    model = _meta_model(build)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        fastinit.init_sharded(build, build)
    with pytest.raises(TypeError, match="build must be the function"):
        fastinit.init_sharded(model, model)
    with pytest.raises(TypeError, match="seed must be an int"):
        fastinit.init_sharded(model, build, seed=1.5)
    for bad in (0, -1, True, 2.0):
        with pytest.raises(ValueError, match="group_bytes must be an int >= 1"):
            fastinit.init_sharded(model, build, group_bytes=bad)
        with pytest.raises(ValueError, match="workers must be an int >= 1"):
            fastinit.init_sharded(model, build, workers=bad)
    plain = _meta_model(lambda: torch.nn.Linear(3, 3))
    with pytest.raises(ValueError, match=r"pass the function that builds the unsharded model"):
        fastinit.init_sharded(plain)
