"""torch's random ops inside whole-model init draw from name-keyed streams.

Inside init_module, materialize and checkpoint_module, ``torch.rand`` & co. must give the same
bits for the same seed whatever torch's global generator holds (transformers' Mamba2 draws
``dt_bias`` with ``torch.rand``); outside them torch's semantics stay. Each op keeps its law
(KS against the distribution at n = 20,000); ops with no keyed version are refused by name.
"""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
stats = pytest.importorskip("scipy.stats")
import fastinit  # noqa: E402

nn = torch.nn
N = 20_000

# op name -> (draw into the module's tensor t, the law of one element as a scipy distribution)
OPS = {
    "rand": (lambda t: t.copy_(torch.rand(N)), stats.uniform()),
    "randn": (lambda t: t.copy_(torch.randn(N)), stats.norm()),
    "rand_like": (lambda t: t.copy_(torch.rand_like(t)), stats.uniform()),
    "randn_like": (lambda t: t.copy_(torch.randn_like(t)), stats.norm()),
    "normal": (lambda t: t.copy_(torch.normal(2.0, 3.0, (N,))), stats.norm(2.0, 3.0)),
    "normal tensor mean": (lambda t: t.copy_(torch.normal(torch.full((N,), -1.0), 0.5)),
                           stats.norm(-1.0, 0.5)),
    "exponential_": (lambda t: t.exponential_(2.0), stats.expon(scale=0.5)),
    "cauchy_": (lambda t: t.cauchy_(1.0, 2.0), stats.cauchy(1.0, 2.0)),
    "log_normal_": (lambda t: t.log_normal_(0.5, 0.25), stats.lognorm(0.25, scale=math.exp(0.5))),
    "geometric_": (lambda t: t.geometric_(0.3), stats.geom(0.3)),
    "bernoulli_": (lambda t: t.bernoulli_(0.3), stats.bernoulli(0.3)),
    "bernoulli": (lambda t: t.copy_(torch.bernoulli(torch.full((N,), 0.7))), stats.bernoulli(0.7)),
    "random_": (lambda t: t.random_(3, 10), stats.randint(3, 10)),
    "randint": (lambda t: t.copy_(torch.randint(-5, 5, (N,))), stats.randint(-5, 5)),
    "randperm": (lambda t: t.copy_(torch.randperm(N).float() / N), stats.uniform()),
}


class Drawn(nn.Module):
    """A module whose reset_parameters fills its parameter with one random op."""

    def __init__(self, op: str) -> None:
        super().__init__()
        self.op = op
        self.w = nn.Parameter(torch.empty(N))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            OPS[self.op][0](self.w)


def _twice(run):
    torch.manual_seed(1)
    a = run()
    torch.manual_seed(2)
    return a, run()


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("how", ["init_module", "materialize"])
def test_random_ops_are_keyed_and_keep_their_law(op, how):
    if how == "init_module":
        def run():
            m = Drawn(op)
            # a Cauchy law has no std for init_module's law check to compare
            fastinit.init_module(m, seed=5, check=op != "cauchy_")
            return m.w.detach().clone()
    else:
        def run():
            return fastinit.materialize(lambda: Drawn(op), seed=5).w.detach().clone()
    a, b = _twice(run)
    assert torch.equal(a, b), "the global generator moved a keyed random op"
    law = OPS[op][1]
    x = a.double().numpy()
    if hasattr(law.dist, "pdf"):  # continuous: KS
        assert stats.kstest(x, law.cdf).pvalue > 1e-4, op
    else:  # discrete: every value's frequency within 5 standard errors
        values, counts = torch.unique(a, return_counts=True)
        for v, c in zip(values.tolist(), counts.tolist()):
            p = law.pmf(v)
            assert abs(c / N - p) <= 5 * math.sqrt(p * (1 - p) / N) + 1e-9, (op, v)
    other = fastinit.materialize(lambda: Drawn(op), seed=6).w if how == "materialize" else None
    if other is not None:
        assert not torch.equal(other, a), "the seed must matter"


def test_outside_the_scopes_torch_keeps_its_generator():
    torch.manual_seed(0)
    want = torch.rand(5)
    with fastinit.patch():
        torch.manual_seed(0)
        assert torch.equal(torch.rand(5), want)  # patch mode: torch's generator semantics
    fastinit.init_module(Drawn("rand"), seed=1)
    torch.manual_seed(0)
    assert torch.equal(torch.rand(5), want)


def test_an_explicit_generator_is_the_callers_choice():
    class Seeded(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.empty(8))
            self.reset_parameters()

        def reset_parameters(self) -> None:
            with torch.no_grad():
                self.w.copy_(torch.rand(8, generator=torch.Generator().manual_seed(3)))

    m = Seeded()
    fastinit.init_module(m, seed=0)
    assert torch.equal(m.w, torch.rand(8, generator=torch.Generator().manual_seed(3)))


@pytest.mark.parametrize("draw, op", [
    (lambda: torch.multinomial(torch.ones(8), 4).float(), "multinomial"),
    (lambda: torch.poisson(torch.ones(8)), "poisson"),
])
def test_random_ops_without_a_keyed_version_are_refused_by_name(draw, op):
    class Unkeyed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.empty(4 if op == "multinomial" else 8))

        def reset_parameters(self) -> None:
            with torch.no_grad():
                self.w.copy_(draw())

    with pytest.raises(RuntimeError, match=f"aten.{op} draws from torch's generator and has "
                                           f"no keyed version"):
        fastinit.init_module(Unkeyed(), seed=0, check=False)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_a_mamba2_checkpoint_verifies_whatever_the_global_generator(tmp_path, dtype):
    """Mamba2's _init_weights draws dt_bias with torch.rand: the checkpoint and verify's
    recomputation must agree (verify used to report dt_bias as differing)."""
    transformers = pytest.importorskip("transformers")
    config = transformers.Mamba2Config(hidden_size=64, num_hidden_layers=2, vocab_size=128,
                                       num_heads=8, head_dim=16, state_size=16, n_groups=1,
                                       expand=2)
    with torch.device("meta"):
        model = transformers.Mamba2ForCausalLM(config)
    torch.manual_seed(1)
    fastinit.checkpoint(model, tmp_path, dtype=dtype, seed=4, progress=False)
    torch.manual_seed(2)
    assert fastinit.verify(tmp_path) == []
    assert fastinit.verify_module(model, tmp_path) == []
