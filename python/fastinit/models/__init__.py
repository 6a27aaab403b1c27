"""Whole models, on the initializer API.

Patch mode (``patch``: torch's and timm's initializers routed to fastinit; ``_bindings``: where
modules bound them; ``_timm_compat``: timm's own initializers), the init tracer
(``_init_tracing``), name-keyed init of a built model (``module_init``), DTensor shards at their
global coordinates (``_dtensor``), materialize: build on meta, allocate, replay the inits
(``deferred``, ``_meta_replay``), a meta model made real a group at a time
(``_module_groups``, for checkpoints), and a sharded model given its blocks of the unsharded
values (``sharded_init``). Imports the initializer API and the engine.
"""
