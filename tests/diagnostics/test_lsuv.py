"""fastinit.lsuv_: output stds within tolerance, bias rule, seeds, and the model's state."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")
import fastinit  # noqa: E402

nn = torch.nn


def _model() -> "torch.nn.Sequential":
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.Tanh(), nn.Flatten(),
        nn.Linear(8 * 6 * 6, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 32), nn.ReLU(),
        nn.Linear(32, 4))


def _batch(n: int = 64) -> "torch.Tensor":
    return fastinit.normal_(torch.empty(n, 3, 8, 8), std=2.0, seed=11)


def _layer_stats(model: "torch.nn.Module", x: "torch.Tensor") -> list:
    rep = fastinit.diagnose(model, x)
    return [(r.std, r.mean) for r in rep.rows if r.kind in ("Conv2d", "Linear")]


@pytest.mark.parametrize("target_std, tol", [(1.0, 0.1), (0.5, 0.01)])
def test_output_stds_within_tol(target_std: float, tol: float) -> None:
    torch.manual_seed(0)
    model, x = _model(), _batch()
    rep = fastinit.lsuv_(model, x, target_std=target_std, tol=tol, seed=1)
    assert [r.name for r in rep.rows] == ["0", "2", "5", "8", "10"]
    assert [r.kind for r in rep.rows] == ["Conv2d", "Conv2d", "Linear", "Linear", "Linear"]
    stats = _layer_stats(model.eval(), x)
    assert len(stats) == 5
    for r, (std, mean) in zip(rep.rows, stats):
        assert r.converged and abs(std - target_std) <= tol, (r.name, std)
        assert r.final_std == pytest.approx(std, rel=1e-5)
        assert abs(mean) < 1e-5  # the bias sets every layer's output mean to target_mean = 0
        assert 1 <= r.iterations <= 2  # the output is affine in (W, b): one rescale suffices
    assert "target std" in str(rep) and rep.skipped == []


def test_deterministic_under_seed() -> None:
    x = _batch()
    torch.manual_seed(1)
    a = _model()
    torch.manual_seed(2)
    b = _model()  # other starting weights: the orthonormal step replaces them
    ra = fastinit.lsuv_(a, x, seed=7)
    rb = fastinit.lsuv_(b, x, seed=7)
    for (k, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), k
    assert [r.scale for r in ra.rows] == [r.scale for r in rb.rows]
    c = _model()
    fastinit.lsuv_(c, x, seed=8)
    assert not torch.equal(c[0].weight, a[0].weight)


def test_seed_none_follows_torch_manual_seed() -> None:
    x = _batch()
    models = []
    for _ in range(2):
        m = _model()
        torch.manual_seed(5)
        fastinit.lsuv_(m, x)
        models.append(m)
    assert all(torch.equal(p, q) for p, q in zip(models[0].parameters(), models[1].parameters()))


def test_orthonormal_pre_init_and_bias() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 32))
    x = torch.randn(128, 16)
    rep = fastinit.lsuv_(model, x, max_iters=0, seed=3)  # orthonormal step only
    w0, w1 = model[0].weight.detach(), model[2].weight.detach()
    assert torch.allclose(w0 @ w0.T, torch.eye(8), atol=1e-5)  # rows orthonormal (8 x 16)
    assert torch.allclose(w1.T @ w1, torch.eye(8), atol=1e-5)  # columns orthonormal (32 x 8)
    assert all(bool((m.bias == 0).all()) for m in (model[0], model[2]))
    assert all(r.iterations == 0 and r.scale == 1.0 for r in rep.rows)
    # target_mean=None: the weights are rescaled, the (zero) biases stay untouched
    fastinit.lsuv_(model, x, seed=3, target_mean=None)
    assert all(bool((m.bias == 0).all()) for m in (model[0], model[2]))
    std0 = float((x @ model[0].weight.detach().T).std(correction=0))
    assert abs(std0 - 1.0) <= 0.1


def test_state_restored_and_report() -> None:
    model, x = _model(), _batch()
    model.train()
    model[7].eval()
    requires = [p.requires_grad for p in model.parameters()]
    modes = [m.training for m in model.modules()]
    rep = fastinit.lsuv_(model, x, seed=0)
    assert [m.training for m in model.modules()] == modes
    assert [p.requires_grad for p in model.parameters()] == requires
    assert all(p.grad is None for p in model.parameters())
    for m in model.modules():
        assert not m._forward_hooks
    text = str(rep)
    assert "Conv2d" in text and "yes" in text and "NO" not in text


def test_uncalled_layer_skipped_and_dead_input_warns() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used = nn.Linear(4, 4)
            self.unused = nn.Linear(4, 4)

        def forward(self, x: "torch.Tensor") -> "torch.Tensor":
            return self.used(x * 0.0)  # a zero input: output std 0, cannot be rescaled

    net = Net()
    before = copy.deepcopy(net.unused.state_dict())
    with pytest.warns(RuntimeWarning, match="did not reach std"):
        rep = fastinit.lsuv_(net, torch.randn(8, 4), seed=0)
    assert rep.skipped == ["unused"] and [r.name for r in rep.rows] == ["used"]
    assert not rep.rows[0].converged and rep.rows[0].final_std == 0.0
    assert all(torch.equal(v, before[k]) for k, v in net.unused.state_dict().items())


def test_argument_errors() -> None:
    with pytest.raises(TypeError, match="torch.nn.Module"):
        fastinit.lsuv_(object(), torch.zeros(1))
    with pytest.raises(ValueError, match="target_std"):
        fastinit.lsuv_(nn.Linear(2, 2), torch.zeros(1, 2), target_std=0.0)
    with pytest.raises(ValueError, match="max_iters"):
        fastinit.lsuv_(nn.Linear(2, 2), torch.zeros(1, 2), max_iters=-1)
    with pytest.raises(ValueError, match="no Linear or Conv layer"):
        fastinit.lsuv_(nn.Sequential(nn.ReLU()), torch.zeros(1, 2))


@pytest.mark.parametrize("batch, text", [
    (torch.zeros(0, 4), "gives 0 output value"),
    (torch.full((8, 4), float("nan")), "gives non-finite outputs"),
], ids=["empty", "nan"])
def test_a_batch_without_an_output_std_is_an_error_before_any_write(batch, text) -> None:
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    before = copy.deepcopy(net.state_dict())
    with pytest.raises(ValueError, match=f"fastinit.lsuv_: layer 0 {text}"):
        fastinit.lsuv_(net, batch, seed=0)
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    for m in net.modules():
        assert not m._forward_hooks
