"""Checkpoints: initial weights written straight to safetensors files, and checked.

The config path (``checkpoints``: a Llama/Mistral config.json, no model built; also the entry
points ``checkpoint`` and ``verify``), the module path (``module_checkpoint``: any model built on
meta, a group at a time), the writer under both (``_safetensors_out``; the directory steps in
``_staged_dir``, safe in a parent others can write to: ``_fs_at``, ``_dir_lock``, ``_leftovers``,
``_out_dir``, ``_signals``; ``_ranks``, ``_llama_config``, ``_units``), verify's checks of what a
loader relies on (``_checkpoint_audit``, ``_safetensors_read``, ``_transformers_model``), and the
command line (``cli``). Imports whole models, the initializer API and the engine. On-disk
behaviour and the threat model: docs/checkpoints.md.

The attribute ``fastinit.checkpoint`` is the function; this package is reached by its module
paths (``from fastinit.checkpoint import checkpoints``, ``fastinit.checkpoint.cli``).
"""
