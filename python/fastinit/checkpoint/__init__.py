"""Checkpoints: initial weights written straight to safetensors files, and checked.

The config path (``checkpoints``: a Llama/Mistral config.json, no model built; also the entry
points ``checkpoint`` and ``verify``), the module path (``module_checkpoint``: any model built on
meta, a group at a time), the writer under both (``_safetensors_out``, ``_staged_dir``,
``_out_dir``, ``_ranks``, ``_llama_config``, ``_units``), verify's checks of what a loader
relies on (``_checkpoint_audit``, ``_safetensors_read``), and the command line (``cli``).
Imports whole models, the initializer API and the engine.

The attribute ``fastinit.checkpoint`` is the function; this package is reached by its module
paths (``from fastinit.checkpoint import checkpoints``, ``fastinit.checkpoint.cli``).
"""
