"""DTensor shards filled at their global coordinates equal the unsharded init (gloo ranks on
localhost: 2 on a 1-D mesh, and 4 on a 2x2 mesh as FSDP2 + tensor parallelism make)."""

import os
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
if not dist.is_available():
    pytest.skip("torch.distributed is not available", allow_module_level=True)
pytest.importorskip("torch.distributed.tensor")

INITS = (("normal_", (0.0, 0.02)), ("kaiming_uniform_", ()),
         ("trunc_normal_", (0.0, 1.0, -2.0, 2.0)), ("xavier_uniform_", ()))


def _model():
    return torch.nn.Sequential(torch.nn.Linear(12, 10), torch.nn.LayerNorm(10),
                               torch.nn.Linear(10, 7, bias=False))


def _worker(body, rank, world, rendezvous, q):
    # Each rank reports through the queue (its values, or its traceback), then leaves with
    # os._exit. CI once saw "terminate called without an active exception" and a nonzero exit
    # after rank 0's values had arrived; no C++ thread of ours exists, so the likely source is
    # torch's gloo teardown during interpreter finalization, which os._exit skips.
    try:
        # a file rendezvous: no TCP port to pick (a free port can be taken before rank 0 binds)
        dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank,
                                world_size=world)
        try:
            out = body(world)
            dist.barrier()  # no rank tears down while another is still in a collective
        finally:
            dist.destroy_process_group()
        # numpy arrays pickle by value (tensors would go by shared memory, which vanishes
        # when this process exits before the parent reads them)
        q.put((rank, "ok", {k: ({n: t.numpy() for n, t in v.items()} if isinstance(v, dict) else
                                v if isinstance(v, list) else v.numpy()) for k, v in out.items()}))
    except BaseException:
        import traceback
        q.put((rank, "error", traceback.format_exc()))
    q.close()
    q.join_thread()
    os._exit(0)


def _run(body, world, tmp_path):
    """body(world) -> {name: full tensor} on every rank; returns rank 0's, after checking that
    every rank succeeded, exited cleanly and gathered the same tensors."""
    ctx = torch.multiprocessing.get_context("spawn")
    q = ctx.Queue()
    rendezvous = tmp_path / "rendezvous"
    procs = [ctx.Process(target=_worker, args=(body, r, world, str(rendezvous), q))
             for r in range(world)]
    for p in procs:
        p.start()
    reports = {}
    try:  # a failed rank leaves the others blocked in a collective: stop at the first error
        while len(reports) < len(procs) and all(s == "ok" for s, _ in reports.values()):
            rank, status, value = q.get(timeout=120)
            reports[rank] = (status, value)
    finally:
        for p in procs:
            p.join(timeout=30 if len(reports) == len(procs) else 1)
            if p.is_alive():
                p.kill()
    failed = [f"rank {rank} failed:\n{value}" for rank, (status, value)
              in sorted(reports.items()) if status != "ok"]
    assert not failed, "\n".join(failed)
    assert [p.exitcode for p in procs] == [0] * world
    got = reports[0][1]
    for rank in range(1, world):  # every rank gathered the same full tensors
        for name, value in reports[rank][1].items():
            if isinstance(value, dict):
                assert all(np.array_equal(value[n], got[name][n]) for n in value), name
            elif isinstance(value, list):
                assert value == got[name], name
            else:
                assert np.array_equal(value, got[name]), name
    return got


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
