"""DTensor shards filled at their global coordinates equal the unsharded init (gloo ranks on
localhost: 2 on a 1-D mesh, and 4 on a 2x2 mesh as FSDP2 + tensor parallelism make)."""

import os
import sys

import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
if not dist.is_available():
    pytest.skip("torch.distributed is not available", allow_module_level=True)
pytest.importorskip("torch.distributed.tensor")

if __name__ == "__main__":  # run as a script (below): tests/ on the path, as pytest puts it
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from gloo_ranks import _run  # noqa: E402

INITS = (("normal_", (0.0, 0.02)), ("kaiming_uniform_", ()),
         ("trunc_normal_", (0.0, 1.0, -2.0, 2.0)), ("xavier_uniform_", ()))


def _model():
    return torch.nn.Sequential(torch.nn.Linear(12, 10), torch.nn.LayerNorm(10),
                               torch.nn.Linear(10, 7, bias=False))


def _unsharded(init, args, shape):
    import fastinit

    want = torch.empty(*shape)
    with fastinit.streams.keyed(4, {"w": want}):
        getattr(fastinit.nn_init, init)(want, *args)
    return want


def _one_dim_mesh(world):
    import fastinit
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Replicate, Shard, distribute_tensor

    mesh = init_device_mesh("cpu", (world,))
    out = {}
    # init_dtensor_ on odd shapes and both shard dims
    for dim in (0, 1):
        for init, args in INITS:
            dt = distribute_tensor(torch.empty(7, 5), mesh, [Shard(dim)])
            fastinit.init_dtensor_(dt, init, *args, name="w", seed=4)
            out[f"{init}{dim}"] = dt.full_tensor()
    dt = distribute_tensor(torch.empty(7, 5), mesh, [Replicate()])
    fastinit.init_dtensor_(dt, "normal_", name="w", seed=4)
    out["rep"] = dt.full_tensor()
    # init_module on a model whose parameters are DTensors
    model = _model()
    for mod in model:
        for pname, p in list(mod.named_parameters(recurse=False)):
            placement = [Shard(0)] if p.dim() == 2 else [Replicate()]
            mod.register_parameter(pname, torch.nn.Parameter(
                distribute_tensor(p.detach(), mesh, placement)))
    out["left"] = fastinit.init_module(model, seed=9, warn=False)
    out["module"] = {k: v.full_tensor() for k, v in model.state_dict().items()}
    return out


def test_dtensor_equals_unsharded(tmp_path):
    import fastinit

    got = _run(_one_dim_mesh, 2, tmp_path)
    for dim in (0, 1):
        for init, args in INITS:
            want = _unsharded(init, args, (7, 5))
            assert torch.equal(torch.from_numpy(got[f"{init}{dim}"]), want), (init, dim)
    assert torch.equal(torch.from_numpy(got["rep"]), _unsharded("normal_", (), (7, 5)))
    ref = _model()
    assert fastinit.init_module(ref, seed=9) == []
    assert got["left"] == []
    for k, v in ref.state_dict().items():
        assert torch.equal(torch.from_numpy(got["module"][k]), v), k


# per mesh dim: the tensor dim it shards, or None to replicate
PLACEMENTS_2D = ((0, 1), (None, 0), (1, 0), (0, 0), (1, None))
SHAPES_2D = ((7, 5), (9, 6, 3))


def _two_dim_mesh(world):
    import fastinit
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Replicate, Shard, distribute_tensor

    mesh = init_device_mesh("cpu", (2, world // 2))
    out = {}
    for dims in PLACEMENTS_2D:
        placements = [Replicate() if d is None else Shard(d) for d in dims]
        for shape in SHAPES_2D:
            for init, args in INITS:
                dt = distribute_tensor(torch.empty(*shape), mesh, placements)
                fastinit.init_dtensor_(dt, init, *args, name="w", seed=4)
                out[f"{dims}|{shape}|{init}"] = dt.full_tensor()
    return out


def test_2d_mesh_placements_equal_unsharded(tmp_path):
    """Two mesh dims, uneven splits, a dim sharded twice ((0, 0): Shard(0) on both mesh dims),
    3-D tensors."""
    got = _run(_two_dim_mesh, 4, tmp_path)
    assert len(got) == len(PLACEMENTS_2D) * len(SHAPES_2D) * len(INITS)
    for dims in PLACEMENTS_2D:
        for shape in SHAPES_2D:
            for init, args in INITS:
                want = _unsharded(init, args, shape)
                assert torch.equal(torch.from_numpy(got[f"{dims}|{shape}|{init}"]), want), \
                    (dims, shape, init)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
