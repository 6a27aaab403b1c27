"""torch.compile: a compiled function calling any public initializer gives eager's bits.

Each call becomes one op, ``fastinit::init_`` (fastinit._engine._torch_ops), so Dynamo traces
it with fullgraph=True and the op runs the initializer eagerly when the compiled code runs.
Unseeded fills draw their key from torch's default generator at that point, in program order:
the same bits and the same generator state after as in eager. What cannot enter a graph (a
torch.Generator, a NumPy target, the deprecated aliases, which warn) breaks the graph cleanly:
fullgraph=True names the reason, fullgraph=False still gives eager's bits. vmap / grad /
functionalize on a fill raise fastinit's error. Before, 27 of 30 compiled calls failed with
TorchRuntimeError (``__dlpack__`` on a FakeTensor).

Mostly the aot_eager backend (Dynamo, AOT autograd and the functionalization of the op's
mutation, no C++ compile); one test runs inductor, which needs a C++ compiler. Each compile
takes about a second on a shared 2-core machine.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable, Dict

import numpy as np
import pytest

import fastinit
from fastinit import keras_init, nn_init

from conftest import as_bits

torch = pytest.importorskip("torch")
dynamo = pytest.importorskip("torch._dynamo")
from torch._dynamo.testing import CompileCounterWithBackend  # noqa: E402

if not hasattr(torch.library, "custom_op"):
    pytest.skip("torch.library.custom_op needs torch >= 2.4", allow_module_level=True)

SHAPE = (4, 6)
#: every public initializer (fastinit.* and fastinit.nn_init.*, the private helpers other
#: libraries import included), with arguments of every kind: floats, ints, strs, bools, axes
#: tuples, seeds past 2**63, shards; and unseeded fills, which draw from torch's generator
CALLS: Dict[str, Callable[[Any], Any]] = {
    "uniform_": lambda t: fastinit.uniform_(t, -1.0, 2.0, seed=3),
    "normal_": lambda t: fastinit.normal_(t, 0.5, 2.0, seed=2**64 - 1),
    "trunc_normal_": lambda t: fastinit.trunc_normal_(t, 0.0, 1.0, -0.5, 2.0, seed=-4),
    "constant_": lambda t: fastinit.constant_(t, 0.1),
    "constant_ -inf": lambda t: fastinit.constant_(t, -math.inf),
    "zeros_": lambda t: fastinit.zeros_(t),
    "ones_": lambda t: fastinit.ones_(t),
    "uniform_ -0.0": lambda t: fastinit.uniform_(t, -0.0, 0.0, seed=1),
    "normal_ shard": lambda t: fastinit.normal_(t, seed=7, global_shape=(8, 6),
                                                global_offset=(4, 0)),
    "nn uniform_": lambda t: nn_init.uniform_(t, -1, 2, seed=3),
    "nn normal_": lambda t: nn_init.normal_(t, std=0.02, seed=3),
    "nn trunc_normal_": lambda t: nn_init.trunc_normal_(t, std=0.02, seed=3),
    "nn constant_": lambda t: nn_init.constant_(t, 0.25),
    "nn ones_": lambda t: nn_init.ones_(t),
    "nn zeros_": lambda t: nn_init.zeros_(t),
    "eye_": lambda t: nn_init.eye_(t),
    "dirac_": lambda t: nn_init.dirac_(t.view(4, 2, 3), 2),
    "xavier_uniform_": lambda t: nn_init.xavier_uniform_(t, 2.0, seed=5),
    "xavier_normal_": lambda t: nn_init.xavier_normal_(t, seed=5),
    "kaiming_uniform_": lambda t: nn_init.kaiming_uniform_(t, a=math.sqrt(5), seed=5),
    "kaiming_normal_": lambda t: nn_init.kaiming_normal_(t, mode="fan_out",
                                                         nonlinearity="relu", seed=5),
    "orthogonal_": lambda t: nn_init.orthogonal_(t, 1.5, seed=2),
    "sparse_": lambda t: nn_init.sparse_(t, 0.5, seed=2),
    "_no_grad_uniform_": lambda t: nn_init._no_grad_uniform_(t, -2, 2, seed=1),
    "_no_grad_normal_": lambda t: nn_init._no_grad_normal_(t, 0, 2, seed=1),
    "_no_grad_trunc_normal_": lambda t: nn_init._no_grad_trunc_normal_(t, 0, 1, -1, 1, seed=1),
    "_no_grad_fill_": lambda t: nn_init._no_grad_fill_(t, 3.0),
    "_no_grad_zero_": lambda t: nn_init._no_grad_zero_(t),
    "variance_scaling_": lambda t: keras_init.variance_scaling_(
        t, 2.0, "fan_avg", "uniform", in_axis=(0,), out_axis=1, seed=1),
    "he_normal_": lambda t: fastinit.he_normal_(t, seed=1),
    "he_uniform_": lambda t: fastinit.he_uniform_(t, seed=1),
    "glorot_normal_": lambda t: fastinit.glorot_normal_(t, seed=1),
    "glorot_uniform_": lambda t: fastinit.glorot_uniform_(t, seed=1),
    "lecun_normal_": lambda t: fastinit.lecun_normal_(t, seed=1),
    "lecun_uniform_": lambda t: fastinit.lecun_uniform_(t, seed=1),
    "uniform_unit_scaling_": lambda t: fastinit.uniform_unit_scaling_(t, 1.2, seed=1),
    "variance_scaling_tf1_": lambda t: fastinit.variance_scaling_tf1_(t, 1.0, "FAN_AVG", True,
                                                                      seed=1),
    "delta_orthogonal_": lambda t: fastinit.delta_orthogonal_(t.view(4, 2, 3), seed=1),
    "unseeded normal_": lambda t: fastinit.normal_(t),
    "unseeded kaiming_uniform_": lambda t: nn_init.kaiming_uniform_(t),
    "unseeded orthogonal_": lambda t: nn_init.orthogonal_(t),
    "unseeded sparse_": lambda t: nn_init.sparse_(t, 0.3),
    "unseeded he_uniform_": lambda t: fastinit.he_uniform_(t),
}


def run_all(targets):
    for name, call in CALLS.items():
        call(targets[name])
    return targets


def fresh():
    return {name: torch.full(SHAPE, math.nan) for name in CALLS}


def test_every_initializer_traces_fullgraph_with_eager_bits():
    """One compiled function calling every initializer: one graph (fullgraph=True), one op
    per call, eager's bits for each, and torch's generator left as eager leaves it."""
    dynamo.reset()
    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(run_all, backend=counter, fullgraph=True)
    for seed in (0, 1):  # the second call reuses the graph
        torch.manual_seed(seed)
        eager = run_all(fresh())
        eager_state = torch.get_rng_state()
        torch.manual_seed(seed)
        got = compiled(fresh())
        assert torch.equal(torch.get_rng_state(), eager_state)
        for name in CALLS:
            assert np.array_equal(as_bits(got[name]), as_bits(eager[name])), name
    assert counter.frame_count == 1
    ops = [n for n in counter.graphs[0].graph.nodes
           if n.op == "call_function" and "fastinit" in str(n.target)]
    assert len(ops) == len(CALLS)


# inductor imports torch.jit code that warns on import (torch 2.13), outside fastinit
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_inductor_gives_eager_bits():
    """inductor reinplaces the op's mutation: the same bits, for an unseeded fill and a
    tensor made in the graph too. (Integer arguments only: a float argument is a small
    kernel for inductor to compile in C++, tens of seconds on a busy 2-core machine.)"""
    def f(w, b):
        nn_init.kaiming_uniform_(w, seed=11)
        nn_init.orthogonal_(b)  # unseeded: torch's generator, in order
        x = torch.empty(3, 5)
        fastinit.normal_(x)  # unseeded too: its key is the second draw (swapped: other bits)
        return x
    dynamo.reset()
    torch.manual_seed(5)
    w, b = torch.empty(SHAPE), torch.empty(5, 5)
    ex = f(w, b)
    torch.manual_seed(5)
    w2, b2 = torch.empty(SHAPE), torch.empty(5, 5)
    cx = torch.compile(f, backend="inductor", fullgraph=True)(w2, b2)
    assert torch.equal(w2, w) and torch.equal(b2, b) and torch.equal(cx, ex)


def test_values_that_change_need_no_recompile_per_value():
    """Seeds (past 2**63 too) and floats become symbolic after the first recompile, as
    Dynamo does with ints and floats: two compiles for any number of values."""
    def f(t, seed, std, lo):
        fastinit.normal_(t, 0.0, std, seed=seed)
        fastinit.uniform_(t[0], lo, 1.0, seed=seed)
        return t
    dynamo.reset()
    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(f, backend=counter, fullgraph=True)
    for seed, std, lo in [(1, 0.5, -1.0), (2, 0.25, -0.0), (2**64 - 1, 3.0, 0.5),
                          (-5, 1e-3, -2.0), (2**63, 1.0, 0.0)]:
        got = compiled(torch.empty(4, 3), seed, std, lo)
        assert np.array_equal(as_bits(got), as_bits(f(torch.empty(4, 3), seed, std, lo)))
    assert counter.frame_count <= 2


def test_parameters_and_intermediates():
    """A Parameter (requires_grad) is filled in place as in eager, no autograd history; a
    tensor computed in the graph too."""
    def f(module, x):
        nn_init.kaiming_uniform_(module.weight, a=math.sqrt(5), seed=1)
        nn_init.zeros_(module.bias)
        y = x * 2
        fastinit.uniform_(y, seed=4)
        return y
    dynamo.reset()
    a, b = torch.nn.Linear(6, 4), torch.nn.Linear(6, 4)
    x = torch.ones(3, requires_grad=True)
    got = torch.compile(f, backend="aot_eager", fullgraph=True)(a, x)
    assert torch.equal(got, f(b, x))
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
    assert a.weight.requires_grad and a.weight.grad_fn is None


def test_generator_breaks_the_graph_cleanly():
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)

    def f(t, g):
        nn_init.normal_(t, generator=g)
        return t
    dynamo.reset()
    with pytest.raises(dynamo.exc.Unsupported, match="fastinit: an argument"):
        torch.compile(f, backend="aot_eager", fullgraph=True)(torch.empty(SHAPE), g1)
    dynamo.reset()
    got = torch.compile(f, backend="aot_eager")(torch.empty(SHAPE), g1)
    assert torch.equal(got, f(torch.empty(SHAPE), g2))
    assert torch.equal(g1.get_state(), g2.get_state())


def test_numpy_target_breaks_the_graph_cleanly():
    def f(a):
        fastinit.normal_(a, seed=1)
        return a
    dynamo.reset()
    a = np.full(SHAPE, np.nan, dtype=np.float32)
    with pytest.raises(dynamo.exc.Unsupported, match="only plain torch tensors"):
        torch.compile(f, backend="aot_eager", fullgraph=True)(a)
    dynamo.reset()
    torch.compile(f, backend="aot_eager")(a)
    assert np.array_equal(a, f(np.empty(SHAPE, np.float32)))


def test_deprecated_alias_breaks_the_graph_and_keeps_eager_bits():
    def f(t):
        nn_init.xavier_uniform(t, seed=2)  # warns (FutureWarning): Dynamo breaks there
        return t
    dynamo.reset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        got = torch.compile(f, backend="aot_eager")(torch.empty(SHAPE))
        assert torch.equal(got, f(torch.empty(SHAPE)))


def test_errors_surface_as_in_eager():
    def f(t):
        fastinit.normal_(t, 0.0, -1.0, seed=1)
        return t
    dynamo.reset()
    t = torch.full(SHAPE, math.nan)
    with pytest.raises(ValueError, match=r"^fastinit\.normal_: std must be >= 0"):
        torch.compile(f, backend="aot_eager", fullgraph=True)(t)
    assert t.isnan().all()


@pytest.mark.parametrize("transform", ["vmap", "grad", "functionalize"])
@pytest.mark.parametrize("call", [lambda x: fastinit.normal_(x, seed=1),
                                  lambda x: nn_init.orthogonal_(x, seed=1),
                                  lambda x: nn_init.kaiming_uniform_(x, seed=1),
                                  lambda x: fastinit.constant_(x, 0.5)],
                         ids=["normal_", "orthogonal_", "kaiming_uniform_", "constant_"])
def test_torch_func_transforms_refused_clearly(transform, call):
    """Before: RuntimeError "Cannot access data pointer of Tensor that doesn't have
    storage" from the DLPack export, and under functionalize a segmentation fault. (eye_ and
    dirac_, torch ops only, work in transforms: test_identity_dtypes.py.)"""
    fn = getattr(torch.func, transform)
    with pytest.raises(RuntimeError, match=r"^fastinit\.\w+: tensors inside torch\.func "
                                           r"transforms \(vmap, grad, jacrev, functionalize"):
        fn(lambda x: call(x).sum())(torch.zeros(3, 4))
