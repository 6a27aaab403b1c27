"""DTensor shards filled at their global coordinates equal the unsharded init (2 gloo ranks)."""

import os
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
if not dist.is_available():
    pytest.skip("torch.distributed is not available", allow_module_level=True)
pytest.importorskip("torch.distributed.tensor")


def _model():
    return torch.nn.Sequential(torch.nn.Linear(12, 10), torch.nn.LayerNorm(10),
                               torch.nn.Linear(10, 7, bias=False))


def _worker(rank, world, rendezvous, q):
    # Each rank reports through the queue (its values, or its traceback), then leaves with
    # os._exit. CI once saw "terminate called without an active exception" and a nonzero exit
    # after rank 0's values had arrived; no C++ thread of ours exists, so the likely source is
    # torch's gloo teardown during interpreter finalization, which os._exit skips.
    try:
        q.put((rank, "ok", _run_rank(rank, world, rendezvous)))
    except BaseException:
        import traceback
        q.put((rank, "error", traceback.format_exc()))
    q.close()
    q.join_thread()
    os._exit(0)


def _run_rank(rank, world, rendezvous):
    import fastinit
    from torch.distributed.tensor import Replicate, Shard, distribute_tensor
    from torch.distributed.device_mesh import init_device_mesh

    # a file rendezvous: no TCP port to pick (a free port can be taken before rank 0 binds it)
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank,
                            world_size=world)
    try:
        mesh = init_device_mesh("cpu", (world,))
        out = {}
        # init_dtensor_ on odd shapes and both shard dims
        for dim in (0, 1):
            for init, args in (("normal_", (0.0, 0.02)), ("kaiming_uniform_", ()),
                               ("trunc_normal_", (0.0, 1.0, -2.0, 2.0))):
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
        left = fastinit.init_module(model, seed=9, warn=False)
        out["module"] = {k: v.full_tensor() for k, v in model.state_dict().items()}
        out["left"] = left
        dist.barrier()  # no rank tears down while the other is still in a collective
        # numpy arrays pickle by value (tensors would go by shared memory, which vanishes
        # when this process exits before the parent reads them)
        return {k: ({n: t.numpy() for n, t in v.items()} if isinstance(v, dict) else
                    v if isinstance(v, list) else v.numpy()) for k, v in out.items()}
    finally:
        dist.destroy_process_group()


def test_dtensor_equals_unsharded(tmp_path):
    import fastinit

    ctx = torch.multiprocessing.get_context("spawn")
    q = ctx.Queue()
    rendezvous = tmp_path / "rendezvous"
    procs = [ctx.Process(target=_worker, args=(r, 2, str(rendezvous), q)) for r in range(2)]
    for p in procs:
        p.start()
    reports = {}
    try:  # a failed rank leaves the other blocked in a collective: stop at the first error
        while len(reports) < len(procs) and all(s == "ok" for s, _ in reports.values()):
            rank, status, value = q.get(timeout=90)
            reports[rank] = (status, value)
    finally:
        for p in procs:
            p.join(timeout=30 if len(reports) == len(procs) else 1)
            if p.is_alive():
                p.kill()
    failed = [f"rank {rank} failed:\n{value}" for rank, (status, value)
              in sorted(reports.items()) if status != "ok"]
    assert not failed, "\n".join(failed)
    assert [p.exitcode for p in procs] == [0, 0]
    got = reports[0][1]
    for name, value in reports[1][1].items():  # both ranks gathered the same full tensors
        if isinstance(value, dict):
            assert all(np.array_equal(value[n], got[name][n]) for n in value), name
        elif isinstance(value, list):
            assert value == got[name], name
        else:
            assert np.array_equal(value, got[name]), name
    for dim in (0, 1):
        for init, args in (("normal_", (0.0, 0.02)), ("kaiming_uniform_", ()),
                           ("trunc_normal_", (0.0, 1.0, -2.0, 2.0))):
            want = torch.empty(7, 5)
            with fastinit.streams.keyed(4, {"w": want}):
                getattr(fastinit.nn_init, init)(want, *args)
            assert torch.equal(torch.from_numpy(got[f"{init}{dim}"]), want), (init, dim)
    want = torch.empty(7, 5)
    with fastinit.streams.keyed(4, {"w": want}):
        fastinit.normal_(want)
    assert torch.equal(torch.from_numpy(got["rep"]), want)
    ref = _model()
    assert fastinit.init_module(ref, seed=9) == []
    assert got["left"] == []
    for k, v in ref.state_dict().items():
        assert torch.equal(torch.from_numpy(got["module"][k]), v), k


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
