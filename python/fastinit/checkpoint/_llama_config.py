"""Checking a Llama/Mistral config.json before any file is touched.

Every field the checkpoint writer reads is type- and range-checked here, and every problem is
reported at once, one line each, so a bad config never gets as far as a header (a negative
``vocab_size`` once wrote data over it) or a traceback (zero heads: ZeroDivisionError).
Meanings follow transformers: ``num_key_value_heads`` and ``head_dim`` default to the heads
and ``hidden_size // heads``, a negative ``pad_token_id`` counts from the end of the vocabulary
(as ``nn.Embedding``'s ``padding_idx`` does).
"""

from __future__ import annotations

import math
from typing import Any, Dict, List

REQUIRED = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
            "vocab_size")
# Far above any real model (Llama-3 405B: 126 layers, 53248 intermediate, 128256 vocab), far
# below sizes that would make the writer's own bookkeeping (one entry per tensor) the problem.
_MAX_DIM = 2**31 - 1
_MAX_LAYERS = 10_000
# data_offsets and total_size are JSON numbers: above 2**53 some readers lose exactness
_MAX_BYTES = 2**53
# fastinit's float32 normal reaches 6.3 sigma (docs/api.md): std * this must stay finite
_NORMAL_TAIL = 6.4
_FINITE_MAX = {"float32": 3.4028234663852886e38, "bfloat16": 3.3895313892515355e38,
               "float16": 65504.0}
_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _size(cfg: Dict[str, Any], key: str, problems: List[str], limit: int = _MAX_DIM,
          optional: bool = False) -> Any:
    """A positive int in [1, limit] (None allowed when ``optional``); else a problem line."""
    v = cfg.get(key)
    if v is None and optional:
        return None
    if not _is_int(v) or not 1 <= v <= limit:
        problems.append(f"{key}: must be an int in [1, {limit}], got {v!r}")
        return None
    return v


def _flag(cfg: Dict[str, Any], key: str, problems: List[str]) -> None:
    v = cfg.get(key)
    if v is not None and not isinstance(v, bool):
        problems.append(f"{key}: must be true or false, got {v!r}")


def check_llama_config(cfg: Dict[str, Any], dtype: str, fn: str = "fastinit.checkpoint"
                       ) -> None:
    """Raise one ValueError listing every problem of ``cfg`` (a Llama/Mistral config dict) for
    a checkpoint in ``dtype``; return None when the writer can use it as it is."""
    missing = [k for k in REQUIRED if k not in cfg]
    if missing:
        raise ValueError(f"{fn}: the config lacks {', '.join(missing)} (a Llama config needs "
                         f"{', '.join(REQUIRED)})")
    problems: List[str] = []
    hidden = _size(cfg, "hidden_size", problems)
    _size(cfg, "intermediate_size", problems)
    _size(cfg, "num_hidden_layers", problems, _MAX_LAYERS)
    heads = _size(cfg, "num_attention_heads", problems)
    vocab = _size(cfg, "vocab_size", problems)
    kv = _size(cfg, "num_key_value_heads", problems, optional=True)
    _size(cfg, "head_dim", problems, optional=True)
    for key in ("tie_word_embeddings", "attention_bias", "mlp_bias"):
        _flag(cfg, key, problems)
    if heads and kv and heads % kv:
        problems.append(f"num_key_value_heads: must divide num_attention_heads ({heads}), "
                        f"got {kv}")
    if heads and hidden and cfg.get("head_dim") is None and hidden % heads:
        problems.append(f"num_attention_heads: must divide hidden_size ({hidden}) unless "
                        f"head_dim is given, got {heads}")
    pad = cfg.get("pad_token_id")
    if pad is not None and (not _is_int(pad) or (vocab and not -vocab <= pad < vocab)):
        span = f"[-{vocab}, {vocab - 1}]" if vocab else "the vocabulary"
        problems.append(f"pad_token_id: must be null or an int in {span}, got {pad!r}")
    std = cfg.get("initializer_range")
    std = 0.02 if std is None else std  # transformers' default
    limit = _FINITE_MAX[dtype] / _NORMAL_TAIL
    if (isinstance(std, bool) or not isinstance(std, (int, float)) or not math.isfinite(std)
            or not 0 < std <= limit):
        problems.append(f"initializer_range: must be a finite number in (0, {limit:.3g}] (so "
                        f"that {dtype} values stay finite), got {std!r}")
    if not problems:
        total = param_count(cfg) * _BYTES[dtype]
        if total > _MAX_BYTES:
            problems.append(f"the model is {total:.3g} bytes in {dtype}, more than safetensors "
                            f"offsets hold exactly (2**53)")
    if problems:
        lines = "\n  ".join(problems)
        raise ValueError(f"{fn}: invalid config ({len(problems)} problem"
                         f"{'s' if len(problems) > 1 else ''}):\n  {lines}")


def param_count(cfg: Dict[str, Any]) -> int:
    """LlamaForCausalLM's parameter count, from the sizes alone (no list of tensors)."""
    hidden, inter = cfg["hidden_size"], cfg["intermediate_size"]
    heads, vocab = cfg["num_attention_heads"], cfg["vocab_size"]
    kv = cfg.get("num_key_value_heads") or heads
    head_dim = cfg.get("head_dim") or hidden // heads
    attn = hidden * head_dim * (2 * heads + 2 * kv)
    if cfg.get("attention_bias"):
        attn += head_dim * (heads + 2 * kv) + hidden
    mlp = 3 * hidden * inter + (2 * inter + hidden if cfg.get("mlp_bias") else 0)
    layer = attn + mlp + 2 * hidden
    heads_out = 1 if cfg.get("tie_word_embeddings") else 2
    return cfg["num_hidden_layers"] * layer + hidden + heads_out * vocab * hidden


__all__ = ["check_llama_config", "param_count", "REQUIRED"]
