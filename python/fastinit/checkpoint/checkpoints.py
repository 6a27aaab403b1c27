"""Llama config.json -> sharded safetensors, streamed; and verification.

``checkpoint(config, out_dir, dtype="bfloat16", seed=0, max_shard_size="5GB")`` writes
``model-0000k-of-0000N.safetensors`` + ``model.safetensors.index.json`` + ``config.json`` with
LlamaForCausalLM's names and shapes and the values transformers' ``_init_weights`` gives them
(N(0, initializer_range) for Linear and Embedding, 1 for RMSNorm, 0 for biases, the padding
row zeroed), each tensor keyed by ``(seed, stream_of(name))``: the checkpoint equals
``init_module(LlamaForCausalLM(config), seed)`` in that dtype, bit for bit.

Streaming: each file's header (8-byte little-endian length + JSON, padded with spaces to a
multiple of 8) is written first; then every tensor is generated in row blocks of about
``chunk_bytes`` (``global_shape``/``global_offset`` fills) by a pool of ``workers`` threads,
each writing its block with ``pwrite`` as soon as it is made (fastinit and pwrite release the
GIL, so generation overlaps writing). Memory: one chunk buffer per worker. The config is
checked first (:mod:`._llama_config`); the files are written in a staging directory that is
swapped in whole (:mod:`._staged_dir`), so ``out_dir`` is always the old or the new checkpoint.
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

from ._safetensors_out import (Entry, Progress, ShardedWriter, check_count, check_sample,
                               parse_size, plan_shards, raw_bytes)
from ._checkpoint_audit import audit, contract_note, expected_problems
from ._llama_config import check_llama_config
from ._ranks import ranks_for, write_ranked
from ._fs_at import open_regular, read_small
from ._safetensors_read import parse_json, read_header
from ._transformers_model import TransformersMissing, transformers_model
from .._engine._torch_required import require_torch
from .._engine.streams import _resolving, stream_of

# model types whose parameters are LlamaForCausalLM's, names and inits (checked against
# transformers' own classes built on meta, tests/checkpoint/test_module_checkpoint.py)
_ARCHITECTURES = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM"}
_DTYPES = {"float32": ("F32", 4), "bfloat16": ("BF16", 2), "float16": ("F16", 2)}


class Spec:
    """One tensor of the checkpoint: name, shape and how it is initialized."""

    __slots__ = ("name", "shape", "init", "std", "pad_row")

    def __init__(self, name: str, shape: Tuple[int, ...], init: str, std: float = 0.0,
                 pad_row: Optional[int] = None) -> None:
        self.name, self.shape, self.init, self.std, self.pad_row = name, shape, init, std, pad_row

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


def llama_specs(config: Dict[str, Any]) -> List[Spec]:
    """LlamaForCausalLM's parameters (names, shapes, inits) for a transformers config dict."""
    c = config
    check_llama_config(c, "float32")
    hidden, inter, layers = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
    heads = c["num_attention_heads"]
    kv = c.get("num_key_value_heads") or heads
    head_dim = c.get("head_dim") or hidden // heads
    vocab = c["vocab_size"]
    std = c.get("initializer_range") or 0.02
    pad = c.get("pad_token_id")
    if pad is not None and pad < 0:  # nn.Embedding's padding_idx counts from the end
        pad += vocab
    attn_bias, mlp_bias = bool(c.get("attention_bias")), bool(c.get("mlp_bias"))

    specs = [Spec("model.embed_tokens.weight", (vocab, hidden), "normal", std, pad)]

    def linear(name: str, out: int, inp: int, bias: bool) -> None:
        specs.append(Spec(f"{name}.weight", (out, inp), "normal", std))
        if bias:
            specs.append(Spec(f"{name}.bias", (out,), "zeros"))

    for i in range(layers):
        p = f"model.layers.{i}"
        for proj, out in (("q_proj", heads * head_dim), ("k_proj", kv * head_dim),
                          ("v_proj", kv * head_dim)):
            linear(f"{p}.self_attn.{proj}", out, hidden, attn_bias)
        linear(f"{p}.self_attn.o_proj", hidden, heads * head_dim, attn_bias)
        linear(f"{p}.mlp.gate_proj", inter, hidden, mlp_bias)
        linear(f"{p}.mlp.up_proj", inter, hidden, mlp_bias)
        linear(f"{p}.mlp.down_proj", hidden, inter, mlp_bias)
        specs.append(Spec(f"{p}.input_layernorm.weight", (hidden,), "ones"))
        specs.append(Spec(f"{p}.post_attention_layernorm.weight", (hidden,), "ones"))
    specs.append(Spec("model.norm.weight", (hidden,), "ones"))
    if not c.get("tie_word_embeddings", False):
        specs.append(Spec("lm_head.weight", (vocab, hidden), "normal", std))
    return specs


def _blocks(spec: Spec, itemsize: int, chunk_bytes: int) -> Iterator[Tuple[int, int]]:
    if len(spec.shape) < 2:
        yield 0, spec.shape[0] if spec.shape else 1
        return
    row = math.prod(spec.shape[1:]) * itemsize
    step = max(1, chunk_bytes // row)
    for r in range(0, spec.shape[0], step):
        yield r, min(spec.shape[0], r + step)


def make_block(spec: Spec, r0: int, r1: int, dtype: str, seed: int, out: Any = None) -> Any:
    """Rows r0:r1 of ``spec``'s tensor (torch, ``dtype``), exactly as the whole fill has them."""
    import torch  # noqa: PLC0415

    from .._engine._fills import constant_, normal_  # noqa: PLC0415

    tdtype = getattr(torch, dtype)
    shape = (r1 - r0,) + tuple(spec.shape[1:]) if len(spec.shape) >= 1 else ()
    n = math.prod(shape)
    t = torch.empty(shape, dtype=tdtype) if out is None else out[: n * tdtype.itemsize].view(
        tdtype).view(shape)
    if spec.init == "normal":
        stream = stream_of(spec.name)
        with _resolving(lambda _t: (seed % (1 << 64), stream)):
            normal_(t, 0.0, spec.std, global_shape=list(spec.shape),
                    global_offset=[r0] + [0] * (len(spec.shape) - 1))
        if spec.pad_row is not None and r0 <= spec.pad_row < r1:
            t[spec.pad_row - r0].zero_()
    else:
        constant_(t, 1.0 if spec.init == "ones" else 0.0)
    return t


def load_config(config: Union[str, os.PathLike, Dict[str, Any]]) -> Dict[str, Any]:
    if isinstance(config, dict):
        return dict(config)
    if not isinstance(config, (str, bytes, os.PathLike)):
        raise TypeError(f"fastinit.checkpoint: config must be a dict, a path to config.json or "
                        f"to its directory, or a torch.nn.Module built on meta; got "
                        f"{type(config).__name__}")
    path = os.fsdecode(config)
    if os.path.isdir(path):
        path = os.path.join(path, "config.json")
    try:
        fd = open_regular(path, follow=True)
    except OSError as e:
        raise ValueError(f"{path}: cannot be read ({e.strerror or e})") from None
    try:  # bad JSON or UTF-8, NaN, nested too deeply: a ValueError
        cfg = parse_json(read_small(fd, 64 << 20), f"{path} is not a JSON config",
                         infinity=True)
    finally:
        os.close(fd)
    if not isinstance(cfg, dict):
        raise ValueError(f"{path} holds a JSON {type(cfg).__name__}, not a config object")
    return cfg


def checkpoint(config: Any, out_dir: Union[str, os.PathLike], dtype: str = "bfloat16",
               seed: int = 0, max_shard_size: Union[int, str] = "5GB", *,
               chunk_bytes: int = 64 << 20, workers: int = 4,
               progress: Optional[bool] = None, overwrite: bool = False,
               rank: Optional[int] = None, world_size: Optional[int] = None) -> Dict[str, Any]:
    """Write a LlamaForCausalLM checkpoint of ``config`` (a dict, a config.json path or a
    directory holding one) to ``out_dir``; returns the index dict. See the module docstring.
    ``config`` may also be a function that builds a model (or a ``torch.nn.Module`` built on
    the meta device): then :func:`fastinit.module_checkpoint.checkpoint_module` writes it (any
    architecture).
    ``rank``, ``world_size``: this process's place among ``world_size`` processes of
    torch.distributed's default process group writing one checkpoint together, each its share
    of the shard files (:mod:`._ranks`); the files are byte-identical to one writer's."""
    torch = require_torch("fastinit.checkpoint")

    from .._engine._seeds import check_seed  # noqa: PLC0415

    if isinstance(config, torch.nn.Module) or callable(config):  # a model, or its build
        from .module_checkpoint import checkpoint_module  # noqa: PLC0415

        if rank is not None or world_size is not None:
            raise ValueError("fastinit.checkpoint: rank= and world_size= are for config files; "
                             "a module is written by one process")

        return checkpoint_module(config, out_dir, dtype=dtype, seed=seed,
                                 max_shard_size=max_shard_size, workers=workers,
                                 progress=progress, overwrite=overwrite)
    if dtype not in _DTYPES:
        raise ValueError(f"fastinit.checkpoint: dtype must be one of {sorted(_DTYPES)}, "
                         f"got {dtype!r}")
    check_count(workers, "workers", "fastinit.checkpoint")
    check_count(chunk_bytes, "chunk_bytes", "fastinit.checkpoint")
    seed = check_seed(seed, "checkpoint")
    cfg = load_config(config)
    model_type = cfg.setdefault("model_type", "llama")
    if not isinstance(model_type, str) or model_type not in _ARCHITECTURES:
        raise ValueError(f"fastinit.checkpoint: a config of model_type {model_type!r} is not "
                         f"supported (config files: {', '.join(_ARCHITECTURES)}); for another "
                         f"architecture build the model on the meta device and pass it: "
                         f"fastinit.checkpoint(model, out_dir)")
    check_llama_config(cfg, dtype)
    ranks = ranks_for(rank, world_size, "fastinit.checkpoint")
    cfg.setdefault("architectures", [_ARCHITECTURES[model_type]])
    cfg["torch_dtype"] = dtype
    _as_transformers_reads_it(cfg, model_type, "fastinit.checkpoint")
    out = os.fspath(out_dir)
    itemsize = _DTYPES[dtype][1]
    specs = llama_specs(cfg)
    by_name = {sp.name: sp for sp in specs}
    shards = plan_shards([Entry(sp.name, sp.shape, dtype) for sp in specs],
                         parse_size(max_shard_size))
    meta = {"format": "pt", "fastinit_seed": str(seed), "fastinit_dtype": dtype,
            "fastinit_stream": "sha256(name)[:8] little-endian"}
    stop = threading.Event()
    local = threading.local()
    # one reusable buffer per worker, big enough for a chunk or the widest single row
    buf_bytes = max([chunk_bytes] + [_row_bytes(sp, dtype) for sp in specs])

    def job(writer: ShardedWriter, spec: Spec, r0: int, r1: int) -> None:
        if stop.is_set():
            return
        buf = getattr(local, "buf", None)
        if buf is None:
            buf = local.buf = torch.empty(buf_bytes, dtype=torch.uint8)
        t = make_block(spec, r0, r1, dtype, seed, buf)
        writer.write(spec.name, raw_bytes(t), r0 * _row_bytes(spec, dtype))
        bar.add(t.numel() * itemsize)

    def fill(writer: ShardedWriter, mine: List[int]) -> None:
        nonlocal bar
        bar = Progress(sum(e.nbytes for k in mine for e in shards[k]),
                       sys.stderr.isatty() if progress is None else progress, "fastinit ")
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(job, writer, by_name[e.name], r0, r1)
                       for k in mine for e in shards[k]
                       for r0, r1 in _blocks(by_name[e.name], itemsize, chunk_bytes)]
            try:
                for f in futures:
                    f.result()
            except BaseException:
                stop.set()
                for f in futures:
                    f.cancel()
                raise
        bar.close()

    bar: Any = None
    writer = ShardedWriter(out, shards, meta, json.dumps(cfg, indent=2) + "\n",
                           overwrite=overwrite)
    if ranks is not None:
        return write_ranked(writer, ranks, fill)
    with writer:
        fill(writer, list(range(len(shards))))
        return writer.commit()


def _row_bytes(spec: Spec, dtype: str) -> int:
    return (math.prod(spec.shape[1:]) if len(spec.shape) > 1 else 1) * _DTYPES[dtype][1]


def verify(out_dir: Union[str, os.PathLike], seed: Optional[int] = None,
           sample: Optional[int] = None, *, chunk_bytes: int = 64 << 20,
           progress: bool = False) -> List[str]:
    """Check a checkpoint's structure (:mod:`._checkpoint_audit`: index, headers, file sizes,
    metadata, no other weight file a loader would read instead, and dtypes and shapes against
    the model config.json implies), then recompute its tensors (all row blocks, or ``sample``
    random ones) and compare bytes. Returns the problems (each naming the file, or
    ``name rows r0:r1`` for values), empty when all agree; raises ValueError for input it cannot
    read (not a directory, no config or index, a header that does not parse, a config
    transformers cannot build the model from, files of another stream contract).

    Llama and Mistral are recomputed from config.json alone; where transformers can be imported
    the config is also read by its config class and the model built on meta from it, as
    ``from_pretrained`` would. Other transformers models (written by :func:`checkpoint_module`)
    are rebuilt on meta from config.json's ``architectures`` and checked by
    :func:`verify_module` (``sample``: N whole tensors)."""
    fn = "fastinit.verify"
    require_torch(fn)
    check_sample(sample, fn)
    out = os.fspath(out_dir)
    if not os.path.isdir(out):
        what = "does not exist" if not os.path.lexists(out) else "is not a directory"
        raise ValueError(f"{fn}: {out} {what}; verify takes a checkpoint's directory")
    if not os.path.lexists(os.path.join(out, "config.json")):
        raise ValueError(f"{fn}: {out} holds no config.json, so no checkpoint fastinit wrote")
    cfg = load_config(out)
    model_type = cfg.get("model_type", "llama")
    if model_type not in _ARCHITECTURES:
        from .module_checkpoint import verify_transformers  # noqa: PLC0415

        bad = verify_transformers(out, cfg, seed=seed, sample=sample)
        return contract_note(audit(out, seed), bad) if bad else bad
    checked = audit(out, seed)
    bad = list(checked.problems)
    dtype = checked.metadata.get("fastinit_dtype") or cfg.get("torch_dtype", "bfloat16")
    if dtype not in _DTYPES:
        raise ValueError(f"{fn}: the files' dtype {dtype!r} is not one of {sorted(_DTYPES)}")
    if cfg.get("torch_dtype", dtype) != dtype:
        bad.append(f"config.json: torch_dtype {cfg['torch_dtype']!r}, the files hold {dtype}")
    check_llama_config(cfg, dtype, fn)
    _as_transformers_reads_it(cfg, model_type, fn)
    specs = {s.name: s for s in llama_specs(cfg)}
    want = {n: (_DTYPES[dtype][0], sp.shape) for n, sp in specs.items()}
    mismatched = expected_problems(checked.tensors, want)
    bad += mismatched
    seed = checked.seed
    if seed is None:
        return bad  # the audit said why: nothing to recompute with
    itemsize = _DTYPES[dtype][1]
    work = [(st.path, st.offset, specs[n], r0, r1) for n, st in checked.tensors.items()
            if n in specs and not any(f" {n} is " in p for p in mismatched)
            for r0, r1 in _blocks(specs[n], itemsize, chunk_bytes)]
    if sample is not None and sample < len(work):
        work = random.Random(0).sample(work, sample)
    bar = Progress(sum((w[4] - w[3]) * _row_bytes(w[2], dtype) for w in work), progress, "verify ")
    for path, base, spec, r0, r1 in work:
        want_bytes = raw_bytes(make_block(spec, r0, r1, dtype, seed)).tobytes()
        with open(path, "rb") as f:
            f.seek(base + r0 * _row_bytes(spec, dtype))
            got = f.read(len(want_bytes))
        if got != want_bytes:
            bad.append(f"{spec.name} rows {r0}:{r1}")
        bar.add(len(want_bytes))
    bar.close()
    return contract_note(checked, bad)


def _as_transformers_reads_it(cfg: Dict[str, Any], model_type: str, fn: str) -> None:
    """Where transformers can be imported: the model builds from ``cfg`` as ``from_pretrained``
    builds it (ValueError naming the cause if not); elsewhere fastinit's own rules decide."""
    names = cfg.get("architectures") or [_ARCHITECTURES[model_type]]
    arch = names[0] if len(names) == 1 and isinstance(names[0], str) else repr(names)
    try:
        transformers_model(cfg, arch, fn)
    except TransformersMissing:
        pass  # from_pretrained cannot run here either


__all__ = ["checkpoint", "verify", "llama_specs", "read_header"]
