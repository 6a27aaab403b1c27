"""Patch mode on DTensor parameters: torchtitan-style init after fully_shard, the same values
however the model is sharded.

A small Llama-like model with torchtitan's init scheme (our own code: truncated normals with a
depth-scaled std for the output projections, N(0, 1) embeddings, dim^-0.5 with a 3-sigma cut
for the head) is built on meta, sharded with FSDP2's fully_shard (and, on 4 ranks, also a 2x2
mesh with a tensor-parallel plan), given memory with to_empty, and initialized by its own
init_weights() under fastinit.patch() after torch.manual_seed on every rank. Gathered, the
state dicts of 1, 2 and 4 gloo ranks are equal bit for bit, and equal to the unsharded model
initialized the same way.

Why: torch 2.13's own DTensor init (the same code without patch, same seed) gives other
values on 1, 2 and 4 ranks: measured while writing this test, all 23 random tensors of the 30
differ between 1 and 2 ranks and between 1 and 4 (the 7 others are norms, all ones), so a run's
initial weights depend on its parallelism (pytorch issue 168058).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
if not dist.is_available():
    pytest.skip("torch.distributed is not available", allow_module_level=True)
pytest.importorskip("torch.distributed.tensor")
pytest.importorskip("torch.distributed.fsdp")

from gloo_ranks import _run  # noqa: E402

nn = torch.nn
DIM, HIDDEN, LAYERS, VOCAB, HEADS = 32, 48, 3, 64, 4


class Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.wq, self.wk, self.wv, self.wo = (nn.Linear(DIM, DIM, bias=False) for _ in range(4))

    def init_weights(self, std: float) -> None:
        for w in (self.wq, self.wk, self.wv):
            nn.init.trunc_normal_(w.weight, mean=0.0, std=0.02)
        nn.init.trunc_normal_(self.wo.weight, mean=0.0, std=std)


class FeedForward(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w1 = nn.Linear(DIM, HIDDEN, bias=False)
        self.w2 = nn.Linear(HIDDEN, DIM, bias=False)
        self.w3 = nn.Linear(DIM, HIDDEN, bias=False)

    def init_weights(self, std: float) -> None:
        nn.init.trunc_normal_(self.w1.weight, mean=0.0, std=0.02)
        for w in (self.w2, self.w3):
            nn.init.trunc_normal_(w.weight, mean=0.0, std=std)


class Block(nn.Module):
    def __init__(self, layer_id: int) -> None:
        super().__init__()
        self.attention, self.feed_forward = Attention(), FeedForward()
        self.attention_norm, self.ffn_norm = nn.RMSNorm(DIM), nn.RMSNorm(DIM)
        self.std = 0.02 / math.sqrt(2 * (layer_id + 1))  # depth-scaled

    def init_weights(self) -> None:
        for norm in (self.attention_norm, self.ffn_norm):
            norm.reset_parameters()
        self.attention.init_weights(self.std)
        self.feed_forward.init_weights(self.std)


class TinyLlama(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.tok_embeddings = nn.Embedding(VOCAB, DIM)
        self.layers = nn.ModuleList(Block(i) for i in range(LAYERS))
        self.norm = nn.RMSNorm(DIM)
        self.output = nn.Linear(DIM, VOCAB, bias=False)

    def init_weights(self, buffer_device=None) -> None:
        nn.init.normal_(self.tok_embeddings.weight)
        for layer in self.layers:
            layer.init_weights()
        self.norm.reset_parameters()
        std = DIM ** -0.5
        nn.init.trunc_normal_(self.output.weight, mean=0.0, std=std, a=-3 * std, b=3 * std)


def _sharded_init(world: int, two_dim: bool = False, patched: bool = True):
    import fastinit
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    if two_dim:
        from torch.distributed.tensor.parallel import (ColwiseParallel, RowwiseParallel,
                                                       parallelize_module)
        mesh = init_device_mesh("cpu", (2, world // 2), mesh_dim_names=("dp", "tp"))
        dp = mesh["dp"]
    else:
        dp = init_device_mesh("cpu", (world,))
    with torch.device("meta"):
        model = TinyLlama()
    if two_dim:
        plan = {"attention.wq": ColwiseParallel(), "attention.wk": ColwiseParallel(),
                "attention.wv": ColwiseParallel(), "attention.wo": RowwiseParallel(),
                "feed_forward.w1": ColwiseParallel(), "feed_forward.w3": ColwiseParallel(),
                "feed_forward.w2": RowwiseParallel()}
        for layer in model.layers:
            parallelize_module(layer, mesh["tp"], plan)
    for layer in model.layers:
        fully_shard(layer, mesh=dp)
    fully_shard(model, mesh=dp)
    model.to_empty(device="cpu")
    torch.manual_seed(1234)
    if patched:
        with fastinit.patch():
            model.init_weights()
    else:
        with torch.no_grad():
            model.init_weights()
    return {"sd": {k: v.full_tensor() for k, v in model.state_dict().items()}}


def _unsharded():
    import fastinit

    model = TinyLlama()
    torch.manual_seed(1234)
    with fastinit.patch():
        model.init_weights()
    return {k: v.detach().numpy() for k, v in model.state_dict().items()}


def _one(world):
    return _sharded_init(world)


def _two_dim(world):
    return _sharded_init(world, two_dim=True)


def test_fully_sharded_init_is_the_same_on_1_2_and_4_ranks(tmp_path):
    want = _unsharded()
    for world, body in ((1, _one), (2, _one), (4, _one), (4, _two_dim)):
        run_dir = tmp_path / f"{world}-{body.__name__}"
        run_dir.mkdir()
        got = _run(body, world, run_dir)["sd"]
        assert set(got) == set(want)
        for name in want:
            assert np.array_equal(got[name], want[name]), (world, body.__name__, name)
    # and the scheme is the model's: depth-scaled output projections, a 3-sigma head
    assert abs(want["layers.2.attention.wo.weight"].std() / (0.02 / math.sqrt(6)) - 1) < 0.15
    assert np.abs(want["output.weight"]).max() <= 3 * DIM ** -0.5


STRUCTURED = (("orthogonal_", {}), ("eye_", {}), ("sparse_", {"sparsity": 0.3}),
              ("kaiming_uniform_", {}), ("method normal_", {}))


def _apply(name, kwargs, t):
    if name == "method normal_":
        with torch.no_grad():
            t.normal_(0.0, 0.5)
    else:
        getattr(torch.nn.init, name)(t, **kwargs)


def _structured(world):
    import fastinit
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Shard, distribute_tensor

    mesh = init_device_mesh("cpu", (world,))
    out = {}
    for dim in (0, 1):
        for name, kwargs in STRUCTURED:
            dt = distribute_tensor(torch.empty(7, 5), mesh, [Shard(dim)])
            torch.manual_seed(7)
            with fastinit.patch():
                _apply(name, kwargs, dt)
            out[f"{name}{dim}"] = dt.full_tensor()
    return out


def test_whole_matrix_inits_on_sharded_dtensors(tmp_path):
    """orthogonal_, eye_ and sparse_ need the whole matrix: each rank computes it with the same
    key (no communication) and keeps its block, so the gathered tensor is the unsharded one."""
    import fastinit

    got = _run(_structured, 2, tmp_path)
    for dim in (0, 1):
        for name, kwargs in STRUCTURED:
            want = torch.empty(7, 5)
            torch.manual_seed(7)
            with fastinit.patch():
                _apply(name, kwargs, want)
            assert np.array_equal(got[f"{name}{dim}"], want.numpy()), (name, dim)
