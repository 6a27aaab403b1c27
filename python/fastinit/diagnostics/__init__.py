"""Seeing initialization: what an init does to a model's signal.

``diagnose`` (per-layer activation and gradient statistics of one batch, flags, an optional
plot drawn by ``_plots``) and ``lsuv`` (layer-sequential unit-variance init, data-driven).
Imports the initializer API and the engine.
"""
