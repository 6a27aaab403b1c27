"""Several processes writing one checkpoint: who writes which shard, and agreeing on failure.

``fastinit.checkpoint(..., rank=r, world_size=n)`` (or ``torchrun`` running the CLI) splits the
shard files among ``n`` processes. Every process plans the same files; rank 0 makes the staging
directory and every file's header; each rank fills its own shards and fsyncs them; rank 0 then
writes the index and config.json and swaps the directory in. The ranks meet through
torch.distributed's default process group (gloo works, on one machine or several sharing a
filesystem): a failure anywhere is known everywhere before anything is committed, so every
rank raises and ``out_dir`` keeps the old checkpoint.
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence


class Ranks:
    """This process's place among ``world`` writers and the collectives they meet with."""

    def __init__(self, rank: int, world: int, fn: str) -> None:
        self.rank, self.world, self.fn = rank, world, fn

    def mine(self, sizes: Sequence[int]) -> List[int]:
        """The shard indices this rank writes: largest first, each to the least loaded rank
        (ties to the lower rank), so every rank computes the same split."""
        load = [0] * self.world
        owner = [0] * len(sizes)
        for k in sorted(range(len(sizes)), key=lambda k: (-sizes[k], k)):
            r = min(range(self.world), key=lambda r: (load[r], r))
            owner[k] = r
            load[r] += sizes[k]
        return [k for k in range(len(sizes)) if owner[k] == self.rank]

    def agree(self, error: Optional[BaseException], who: str) -> None:
        """Collective: raise on every rank if any rank (``who`` describes the step) failed."""
        import torch.distributed as dist  # noqa: PLC0415

        mine = None if error is None else f"{type(error).__name__}: {error}"
        every: List[Any] = [None] * self.world
        dist.all_gather_object(every, mine)
        failed = [f"rank {r}: {e}" for r, e in enumerate(every) if e is not None]
        if failed:
            if error is not None:
                raise error
            raise RuntimeError(f"{self.fn}: {who} failed on another rank ({'; '.join(failed)})")

    def share(self, value: Any) -> Any:
        """Collective: rank 0's ``value``, on every rank."""
        import torch.distributed as dist  # noqa: PLC0415

        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def ranks_for(rank: Optional[int], world_size: Optional[int], fn: str) -> Optional[Ranks]:
    """None for a single writer (both None, or world_size 1); else the checked rank and world
    size, which must be the default process group's."""
    if rank is None and world_size is None:
        return None
    for name, value in (("rank", rank), ("world_size", world_size)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{fn}: {name} must be an int (give both rank and world_size), got "
                            f"{type(value).__name__}")
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"{fn}: rank must be in [0, world_size), got rank={rank}, "
                         f"world_size={world_size}")
    if world_size == 1:
        return None
    import torch.distributed as dist  # noqa: PLC0415

    if not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError(f"{fn}: rank={rank}, world_size={world_size} needs torch.distributed's "
                           f"default process group (torchrun, then "
                           f"torch.distributed.init_process_group('gloo'))")
    if dist.get_world_size() != world_size or dist.get_rank() != rank:
        raise ValueError(f"{fn}: rank={rank}, world_size={world_size} differ from the process "
                         f"group's ({dist.get_rank()} of {dist.get_world_size()})")
    return Ranks(rank, world_size, fn)


__all__ = ["Ranks", "ranks_for"]


def write_ranked(writer: Any, ranks: Ranks, fill: Any) -> Any:
    """Write ``writer``'s checkpoint (a ShardedWriter, not entered) with ``ranks``:
    ``fill(writer, shard_indices)`` writes this rank's shards. Returns the index."""
    sizes = [sum(e.nbytes for e in shard) for shard in writer.shards]
    mine = ranks.mine(sizes)
    error: Optional[BaseException] = None
    entered = committed = False
    if ranks.rank == 0:  # the staging directory, the lock, every file and its header
        try:
            writer.__enter__()
            entered = True
        except BaseException as e:  # noqa: BLE001 - every rank must hear of it
            error = e
    ranks.agree(error, "making the staging directory")  # also: the files exist from here on
    token = ranks.share(writer.stage.token if ranks.rank == 0 else None)
    try:
        try:
            if ranks.rank != 0:
                writer.attach(mine, token)
            fill(writer, mine)
            writer.sync()
        except BaseException as e:  # noqa: BLE001
            error = e
        ranks.agree(error, "writing the shards")
        if ranks.rank == 0:
            try:
                writer.commit()
                committed = True
            except BaseException as e:  # noqa: BLE001
                error = e
        ranks.agree(error, "the commit")
        return writer.index()
    finally:
        if entered and not committed:
            writer.__exit__()  # the staging directory goes; out_dir was never touched
        else:
            writer.detach()
