"""fastinit.diagnose: statistics checked against hand-computed values, flags, and that the model
is left exactly as it was (hooks, modes, .grad, buffers)."""

from __future__ import annotations

import copy
import math
import sys

import pytest

torch = pytest.importorskip("torch")
import fastinit  # noqa: E402
from fastinit.diagnose import (  # noqa: E402
    DEAD_FRACTION, EXPLODING_RATIO, SATURATED_FRACTION, VANISHING_RATIO)

nn = torch.nn


def _linear(weight: list, bias: list) -> "torch.nn.Linear":
    w = torch.tensor(weight, dtype=torch.float64)
    lin = nn.Linear(w.shape[1], w.shape[0], dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_(w)
        lin.bias.copy_(torch.tensor(bias, dtype=torch.float64))
    return lin


def test_hand_computed_linear_relu_tanh_sigmoid() -> None:
    # y = x W^T + b with x = [[-1], [1]], W = [[2], [-3]], b = [1, 0]: y = [[-1, 3], [3, -3]]
    model = nn.Sequential(_linear([[2.0], [-3.0]], [1.0, 0.0]), nn.ReLU(), nn.Tanh(),
                          nn.Sigmoid())
    x = torch.tensor([[-1.0], [1.0]], dtype=torch.float64)
    rep = fastinit.diagnose(model, x)
    lin, relu, tanh, sig = rep.rows
    assert [r.name for r in rep.rows] == ["0", "1", "2", "3"]
    assert [r.kind for r in rep.rows] == ["Linear", "ReLU", "Tanh", "Sigmoid"]
    assert lin.shape == (2, 2)
    assert lin.mean == pytest.approx(0.5) and lin.std == pytest.approx(math.sqrt(6.75))
    # relu: [[0, 3], [3, 0]]
    assert relu.mean == pytest.approx(1.5) and relu.std == pytest.approx(1.5)
    assert relu.dead == 0.5 and relu.saturated is None and lin.dead is None
    # tanh(3) = 0.99505 > 0.99: half the outputs saturated
    assert tanh.saturated == 0.5 and tanh.dead is None
    # sigmoid(tanh(y)) lies in (0.5, 0.73): nothing saturated
    assert sig.saturated == 0.0
    assert rep.input_std == pytest.approx(1.0) and rep.loss is None
    assert all(r.out_grad_norm is None and r.grad_norms == {} for r in rep.rows)


def test_std_scales_exactly_and_orthogonal_preserves_it() -> None:
    x = fastinit.normal_(torch.empty(4096, 64, dtype=torch.float64), seed=1)
    half = nn.Linear(64, 64, dtype=torch.float64)
    with torch.no_grad():
        half.weight.copy_(0.5 * torch.eye(64, dtype=torch.float64))
        half.bias.zero_()
    ortho = nn.Linear(64, 64, bias=False, dtype=torch.float64)
    fastinit.orthogonal_(ortho.weight, gain=3.0, seed=2)
    rep = fastinit.diagnose(nn.Sequential(half, ortho), x)
    x_std = float(x.std(correction=0))
    assert rep.input_std == pytest.approx(x_std, rel=1e-12)
    assert rep.rows[0].std == pytest.approx(0.5 * x_std, rel=1e-12)
    # an orthogonal map keeps the norm of every row: E|Wx|² = 9 E|x|²
    assert rep.rows[1].std == pytest.approx(1.5 * x_std, rel=0.02)


def test_dead_relu_and_flags() -> None:
    lin = nn.Linear(8, 16)
    fastinit.normal_(lin.weight, std=0.1, seed=0)
    fastinit.constant_(lin.bias, -100.0)
    rep = fastinit.diagnose(nn.Sequential(lin, nn.ReLU()), torch.randn(32, 8))
    relu = rep.rows[1]
    assert relu.dead == 1.0 and relu.std == 0.0
    assert "dead" in relu.flags and "vanishing" in relu.flags
    assert rep.flagged[-1] is relu and "dead" in str(rep)


def test_saturated_and_exploding_flags() -> None:
    lin = nn.Linear(16, 16)
    fastinit.normal_(lin.weight, std=100.0, seed=3)
    rep = fastinit.diagnose(nn.Sequential(lin, nn.Tanh()), torch.randn(64, 16))
    assert "exploding" in rep.rows[0].flags
    assert rep.rows[1].saturated > 0.9 and "saturated" in rep.rows[1].flags
    assert rep.rows[1].flags == ["saturated"]  # std ~1 = input std: neither vanishing nor exploding


def test_gradients_equal_autograd() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3),
                          nn.Tanh(), nn.Linear(3, 1))
    x = torch.randn(5, 2, 6, 6)

    def loss_fn(y: "torch.Tensor") -> "torch.Tensor":
        return (y - 1.0).pow(2).mean()

    rep = fastinit.diagnose(model, x, loss_fn)
    ref = copy.deepcopy(model)
    acts = {}

    def keep(m: object, i: object, o: "torch.Tensor") -> None:
        o.retain_grad()
        acts["tanh"] = o

    ref[4].register_forward_hook(keep)
    loss = loss_fn(ref(x))
    loss.backward()
    assert rep.loss == pytest.approx(float(loss.detach()))
    by_name = {r.name: r for r in rep.rows}
    for name in ("0", "3", "5"):
        for k, p in ref[int(name)].named_parameters():
            assert by_name[name].grad_norms[k] == pytest.approx(float(p.grad.norm()), rel=1e-6)
    assert by_name["4"].out_grad_norm == pytest.approx(float(acts["tanh"].grad.norm()), rel=1e-6)
    # the last call's output gradient is d mean((y-1)²)/dy = 2 (y - 1) / n
    y = ref(x).detach()
    assert by_name["5"].out_grad_norm == pytest.approx(float((2 * (y - 1) / 5).norm()), rel=1e-6)
    assert all(p.grad is None for p in model.parameters())  # diagnose never writes .grad


def test_model_left_as_it_was() -> None:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5),
                          nn.Linear(8, 1))
    model.train()
    model[3].eval()  # a mixed mode must survive as well
    sentinel = torch.full_like(model[0].weight, 7.0)
    model[0].weight.grad = sentinel
    state = copy.deepcopy(model.state_dict())
    rep = fastinit.diagnose(model, torch.randn(16, 4), lambda y: y.sum(), plot=None)
    assert len(rep.rows) == 3  # Linear, ReLU, Linear (BatchNorm and Dropout are not watched)
    assert [m.training for m in model.modules()] == [True, True, True, True, False, True]
    assert model[0].weight.grad is sentinel and bool((sentinel == 7.0).all())
    assert model[4].weight.grad is None
    for k, v in model.state_dict().items():  # BatchNorm running stats restored
        assert torch.equal(v, state[k]), k
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks


def test_repeated_module_and_inputs() -> None:
    lin = nn.Linear(3, 3)
    model = nn.Sequential(lin, nn.ReLU(), lin)
    rep = fastinit.diagnose(model, (torch.randn(4, 3),))  # a tuple is unpacked
    assert [r.name for r in rep.rows] == ["0", "1", "0#2"]
    assert rep.as_dicts()[2]["name"] == "0#2"
    emb = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 2))
    rep = fastinit.diagnose(emb, torch.tensor([[1, 2, 3]]))
    assert rep.input_std == 1.0  # no floating tensor in the batch: absolute thresholds
    with pytest.raises(TypeError, match="torch.nn.Module"):
        fastinit.diagnose(lambda x: x, torch.zeros(1))
    with pytest.raises(ValueError, match=r"fastinit.diagnose: the batch is empty \(shape"):
        fastinit.diagnose(model, torch.zeros(0, 3))


def test_plot_png(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "d.png"
    model = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 1))
    fastinit.diagnose(model, torch.randn(8, 4), lambda y: y.mean(), plot=str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib(monkeypatch, tmp_path) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    model = nn.Sequential(nn.Linear(4, 4))
    with pytest.raises(ImportError, match="pip install matplotlib"):
        fastinit.diagnose(model, torch.randn(8, 4), plot=str(tmp_path / "x.png"))
    for m in model.modules():
        assert not m._forward_hooks


def test_thresholds_are_documented_constants() -> None:
    assert VANISHING_RATIO == 1e-2 and EXPLODING_RATIO == 1e2
    assert SATURATED_FRACTION == 0.5 and DEAD_FRACTION == 0.9


def test_non_scalar_loss_is_a_clear_error() -> None:
    model = nn.Sequential(nn.Linear(3, 2))
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match=r"^fastinit\.diagnose: loss_fn must return a scalar"):
        fastinit.diagnose(model, torch.randn(4, 3), loss_fn=lambda out: out)
    with pytest.raises(ValueError, match="got float"):
        fastinit.diagnose(model, torch.randn(4, 3), loss_fn=lambda out: 1.0)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(p.grad is None for p in model.parameters())
