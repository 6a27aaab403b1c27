"""The initializer API, on the engine's fills.

torch.nn.init's names, signatures and errors (``nn_init``; ``_torch_compat``: the primitive
fills behind torch's argument checks; ``_structured``: eye_, dirac_, sparse_;
``_orthogonal``: orthogonal_ and delta_orthogonal_'s Q;
``_fans``: fans and gains) and the Keras/JAX/TF1 names (``keras_init``, ``_tf1_init``).
Imports only the engine (``fastinit._engine``, ``fastinit._core``).
"""
