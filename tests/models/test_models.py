"""Whole-model init: name-keyed streams, init_module, materialize."""

import hashlib
import warnings

import pytest

torch = pytest.importorskip("torch")
import fastinit  # noqa: E402
from fastinit.streams import stream_of  # noqa: E402


class Block(torch.nn.Module):
    def __init__(self, n=16):
        super().__init__()
        self.fc = torch.nn.Linear(n, 2 * n)
        self.norm = torch.nn.LayerNorm(2 * n)
        self.rot = torch.nn.Parameter(torch.empty(n, n))
        self.reset_parameters()

    def reset_parameters(self):
        torch.nn.init.orthogonal_(self.rot)  # a temporary inside: keyed by "...rot#tmp0"


def build(order=0):
    parts = [("emb", lambda: torch.nn.Embedding(20, 16, padding_idx=1)),
             ("block", lambda: Block()),
             ("bn", lambda: torch.nn.BatchNorm1d(8)),
             ("head", lambda: torch.nn.Linear(16, 4, bias=False))]
    made = dict((n, f()) for n, f in (parts if order == 0 else parts[::-1]))
    return torch.nn.ModuleDict({n: made[n] for n, _ in parts})


def state(m):
    return {k: v.clone() for k, v in m.state_dict().items()}


def test_stream_definition():
    name = "model.layers.0.self_attn.q_proj.weight"
    want = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")
    assert stream_of(name) == want
    assert stream_of("a") != stream_of("b")


def test_init_module_depends_on_name_not_order_or_global_rng():
    torch.manual_seed(0)
    a = build(0)
    assert fastinit.init_module(a, seed=7) == []
    torch.manual_seed(123)
    b = build(1)  # other construction order, other global RNG state
    fastinit.init_module(b, seed=7)
    sa, sb = state(a), state(b)
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    # a fill on its own with the same (seed, stream) gives the same values
    w = torch.empty(4, 16)
    with fastinit.streams.keyed(7, {"head.weight": w}):
        torch.nn.init.kaiming_uniform_(w, a=5 ** 0.5)
    with fastinit.patch(), fastinit.streams.keyed(7, {"head.weight": w}):
        torch.nn.init.kaiming_uniform_(w, a=5 ** 0.5)
    assert torch.equal(w, sa["head.weight"])
    assert torch.all(sa["emb.weight"][1] == 0)  # padding row
    q = sa["block.rot"]
    assert torch.allclose(q @ q.T, torch.eye(16), atol=1e-5)
    c = build(0)
    fastinit.init_module(c, seed=8)
    assert not torch.equal(state(c)["head.weight"], sa["head.weight"])


def assert_rounded(fp32, bf16, name):
    """bf16 == round(fp32) away from the bounds; a uniform value whose rounding would leave
    [a, b) in bf16 is clamped to the extreme bf16 value inside (docs/stream.md section 4)."""
    r = fp32.to(torch.bfloat16)
    diff = r != bf16
    if diff.any():
        at_edge = (bf16[diff] == bf16.max()) | (bf16[diff] == bf16.min())
        assert at_edge.all() and diff.sum() < 0.01 * diff.numel() + 8, name


def test_bf16_is_rounded_fp32():
    a = build()
    fastinit.init_module(a, seed=3)
    b = build().to(torch.bfloat16)
    fastinit.init_module(b, seed=3)
    sb = state(b)
    for k, v in state(a).items():
        if v.is_floating_point() and k != "block.rot":  # rot: QR runs in the dtype
            assert_rounded(v, sb[k], k)


def test_untouched_reported():
    m = build()
    m.extra = torch.nn.Parameter(torch.zeros(3))
    with pytest.warns(UserWarning, match="extra"):
        left = fastinit.init_module(m, seed=0)
    assert left == ["extra"]
    assert fastinit.init_module(m, seed=0, warn=False) == ["extra"]


def test_materialize_equals_eager():
    eager = build()
    fastinit.init_module(eager, seed=11)
    m, left = fastinit.materialize(build, seed=11, return_untouched=True)
    assert left == []
    assert next(m.parameters()).device.type == "cpu"
    se, sm = state(eager), state(m)
    for k in se:
        assert torch.equal(se[k], sm[k]), k
    mb = fastinit.materialize(build, seed=11, dtype=torch.bfloat16)
    for k, v in state(mb).items():
        if v.is_floating_point() and k != "block.rot":
            assert_rounded(se[k], v, k)


def test_materialize_replays_values_computed_in_init():
    def make():
        m = torch.nn.Linear(4, 4)
        m.register_buffer("scale", torch.arange(4.0) * 2)  # computed in __init__
        return m

    m, left = fastinit.materialize(make, seed=0, return_untouched=True)
    assert left == []
    assert torch.equal(m.scale, torch.arange(4.0) * 2)


def test_materialize_ties():
    def make():
        m = torch.nn.Module()
        m.emb = torch.nn.Embedding(10, 4)
        m.out = torch.nn.Linear(4, 10, bias=False)
        m.out.weight = m.emb.weight
        return m

    m = fastinit.materialize(make, seed=0)
    assert m.out.weight is m.emb.weight


def test_transformers_llama_materialize_equals_init_module():
    transformers = pytest.importorskip("transformers")
    cfg = transformers.LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, vocab_size=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eager = transformers.LlamaForCausalLM(cfg)
        assert fastinit.init_module(eager, seed=2) == []
        m = fastinit.materialize(lambda: transformers.LlamaForCausalLM(cfg), seed=2)
    se, sm = eager.state_dict(), m.state_dict()
    for k in se:
        assert torch.equal(se[k], sm[k]), k
    for k, b in eager.named_buffers():
        assert torch.equal(b, dict(m.named_buffers())[k]), k
    w = se["model.layers.0.mlp.up_proj.weight"]
    assert abs(w.std().item() - 0.02) < 0.002


def test_materialize_argument_errors():
    for not_a_builder in (torch.nn.Linear(2, 2), 5):
        with pytest.raises(TypeError, match="fastinit.materialize: build must be a function"):
            fastinit.materialize(not_a_builder)
    with pytest.raises(TypeError, match=r"build\(\) must return a torch.nn.Module, got int"):
        fastinit.materialize(lambda: 5)


def test_init_module_needs_a_module():
    with pytest.raises(TypeError, match="fastinit.init_module: model must be a torch.nn.Module"):
        fastinit.init_module(torch.zeros(3))


def test_materialize_device_and_dtype_errors_come_first():
    built = []

    def build():
        built.append(1)
        return torch.nn.Linear(2, 2)

    for kwargs, exc, text in (({"dtype": torch.int32}, ValueError, "must be a floating torch"),
                              ({"dtype": "bf16"}, ValueError, "unknown dtype 'bf16'"),
                              ({"device": "nope"}, ValueError, "'nope' is not a torch device")):
        with pytest.raises(exc, match=f"fastinit.materialize: .*{text}"):
            fastinit.materialize(build, **kwargs)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no usable CUDA device"):
            fastinit.materialize(build, device="cuda")
    assert built == []  # refused before the model was built
    m = fastinit.materialize(build, dtype="bfloat16", seed=3)
    assert m.weight.dtype == torch.bfloat16
