"""A sharded Llama initialized the torchtitan way: built on meta, sharded, then fastinit.

Every rank builds the model on the meta device, applies tensor parallelism (``--tp``) and
FSDP2's ``fully_shard`` (each decoder layer, then the root), gives it memory with
``to_empty``, and calls ``fastinit.init_sharded(model, build, seed)``: each rank's shards get
exactly their blocks of the values ``fastinit.materialize(build, seed)`` gives the unsharded
model (the padding row zeroed, the tied head holding the embedding's values, the RoPE buffers
computed), with no communication. The model is the Llama-3.2-1B shape (1.24B parameters,
tied embeddings) in bfloat16, with the padding token Llama 3's fine-tuning recipes set.

    torchrun --standalone --nproc-per-node 4 examples/sharded_init.py          # FSDP2 on 4 ranks
    torchrun --standalone --nproc-per-node 4 examples/sharded_init.py --tp 2   # 2 x 2: FSDP2 x TP
    torchrun --standalone --nproc-per-node 2 examples/sharded_init.py --check  # and compare bits
    python examples/sharded_init.py --quick --check                            # one process, tiny

``--check`` gathers every tensor (``full_tensor()``, one at a time) and compares its bits with
``fastinit.materialize`` on rank 0 (which then holds the unsharded model too). Rank 0 prints,
for every rank, the seconds ``init_sharded`` took (wall and CPU), the bytes of its shards and
its peak resident memory before and after. On GPUs (``--device cuda``, NCCL) the values are
computed on each rank's CPU and its blocks copied to its GPU.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from typing import Any, Callable, Dict

import torch
import torch.distributed as dist
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
from torch.distributed.tensor.parallel import (ColwiseParallel, RowwiseParallel,
                                               parallelize_module)

import fastinit

# Llama-3.2-1B's shape; pad_token_id: <|finetune_right_pad_id|>, as Llama 3 fine-tuning sets it
LLAMA_1B = dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                num_attention_heads=32, num_key_value_heads=8, head_dim=64, vocab_size=128256,
                tie_word_embeddings=True, pad_token_id=128004, rope_theta=500000.0)
TINY = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, head_dim=16, vocab_size=200, tie_word_embeddings=True,
            pad_token_id=3)


def _builder(quick: bool) -> Callable[[], Any]:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(**(TINY if quick else LLAMA_1B))
    return lambda: LlamaForCausalLM(config)


def _sharded(build: Callable[[], Any], tp: int, device: str) -> Any:
    """torchtitan's order: build on meta, tensor parallel, fully_shard, to_empty."""
    world = dist.get_world_size()
    if world % tp:
        raise SystemExit(f"--tp {tp} does not divide the {world} ranks")
    mesh = init_device_mesh(device, (world // tp, tp), mesh_dim_names=("dp", "tp"))
    with torch.device("meta"):
        model = build()
    model.to(torch.bfloat16)
    if tp > 1:
        plan = {f"self_attn.{p}_proj": ColwiseParallel() for p in "qkv"}
        plan |= {"self_attn.o_proj": RowwiseParallel(), "mlp.gate_proj": ColwiseParallel(),
                 "mlp.up_proj": ColwiseParallel(), "mlp.down_proj": RowwiseParallel()}
        for layer in model.model.layers:
            parallelize_module(layer, mesh["tp"], plan)
    for layer in model.model.layers:
        fully_shard(layer, mesh=mesh["dp"])
    fully_shard(model, mesh=mesh["dp"])
    return model.to_empty(device=device)


def _shard_bytes(model: Any) -> int:
    seen, total = set(), 0
    for t in list(model.parameters()) + list(model.buffers()):
        local = t.to_local() if hasattr(t, "to_local") else t
        if id(t) not in seen:
            seen.add(id(t))
            total += local.numel() * local.element_size()
    return total


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def _bits(t: Any) -> Any:
    return t.detach().cpu().reshape(-1).view(torch.uint8)


def _check(model: Any, build: Callable[[], Any], seed: int) -> int:
    """Gather each tensor and compare its bits with the unsharded model's (on rank 0)."""
    want: Dict[str, Any] = {}
    if dist.get_rank() == 0:
        unsharded = fastinit.materialize(build, dtype=torch.bfloat16, seed=seed)
        want = dict(unsharded.named_parameters()) | dict(unsharded.named_buffers())
    differ, tensors = 0, list(model.named_parameters()) + list(model.named_buffers())
    for name, t in tensors:
        full = t.full_tensor() if hasattr(t, "full_tensor") else t
        if dist.get_rank() == 0 and not torch.equal(_bits(full), _bits(want.pop(name))):
            print(f"  {name}: differs")
            differ += 1
    if dist.get_rank() == 0:
        differ += len(want)  # a tensor the sharded model lacks
        tied = model.lm_head.weight is model.model.embed_tokens.weight
        print(f"check: {differ} of {len(tensors)} tensors differ from the unsharded "
              f"materialize; head tied to the embedding: {tied}")
    return differ


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tp", type=int, default=1, help="tensor-parallel degree (default 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--check", action="store_true", help="compare with the unsharded init")
    p.add_argument("--quick", action="store_true", help="a tiny Llama (for smoke tests)")
    args = p.parse_args()
    backend = "nccl" if args.device == "cuda" else "gloo"
    if "RANK" in os.environ:  # started by torchrun
        dist.init_process_group(backend)
    else:  # one process: a world of 1
        rendezvous = os.path.join(tempfile.mkdtemp(), "rendezvous")
        dist.init_process_group(backend, init_method=f"file://{rendezvous}", rank=0,
                                world_size=1)
    if args.device == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    try:
        build = _builder(args.quick)
        model = _sharded(build, args.tp, args.device)
        dist.barrier()
        rss_before = _peak_rss_bytes()
        start, cpu = time.perf_counter(), time.process_time()
        fastinit.init_sharded(model, build, seed=args.seed)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        row = (dist.get_rank(), seconds, cpu, _shard_bytes(model), rss_before, _peak_rss_bytes())
        rows = [None] * dist.get_world_size()
        dist.all_gather_object(rows, row)
        if dist.get_rank() == 0:
            n = sum(p.numel() for p in model.parameters())
            print(f"{n / 1e6:,.1f}M parameters, bfloat16, {dist.get_world_size()} ranks "
                  f"(fsdp {dist.get_world_size() // args.tp} x tp {args.tp}), {args.device}")
            print("rank  init_sharded s  CPU s  shards MB  peak RSS MB: before  after")
            for rank, s, c, shard, before, after in rows:
                print(f"{rank:4d}  {s:14.2f}  {c:5.2f}  {shard / 1e6:9.1f}  "
                      f"{before / 1e6:18.0f}  {after / 1e6:5.0f}")
        differ = _check(model, build, args.seed) if args.check else 0
        flags = [None] * dist.get_world_size()
        dist.all_gather_object(flags, differ)
        dist.barrier()  # no rank tears gloo down while another is still in a collective
        return 1 if any(flags) else 0
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    raise SystemExit(main())
