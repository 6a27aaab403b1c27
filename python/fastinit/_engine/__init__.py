"""The engine: the compiled core's wrapper and what sits right on it.

Targets (NumPy arrays, torch tensors, DLPack producers), seeds and generators, the fills
(``uniform_``, ``normal_``, ``trunc_normal_``, ``constant_``, raw words), name-keyed streams,
the one-line error for a missing torch, the package's and the stream contract's versions
(``_version``), and ``_reference.py``: the stream contract (docs/stream.md) in slow NumPy, which
the compiled core is tested against bit for bit. Imports nothing of fastinit but
``fastinit._core``; every other layer builds on it.
"""
