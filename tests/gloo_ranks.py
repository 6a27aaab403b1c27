"""Run a function on gloo ranks in spawned processes and collect what each rank returns: the
harness of the DTensor tests (tests/models/test_dtensor.py, test_dtensor_patch.py) and the
many-process checkpoint tests (tests/checkpoint/test_checkpoint_ranks.py). Importable from every
test folder: pytest puts tests/ (where conftest.py is) on sys.path. Imported only after the
tests have skipped where torch.distributed is missing."""

import os

import numpy as np
import torch
import torch.distributed as dist


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
