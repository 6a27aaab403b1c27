"""fastinit.patch as a decorator, with and without parentheses: the function runs patched on
each call, patch mode is off again after it (also when it raises), and its name and return
value are its own."""

from __future__ import annotations

import pytest

import fastinit

torch = pytest.importorskip("torch")


def test_bare_decorator_patches_each_call() -> None:
    @fastinit.patch
    def build(n: int) -> torch.nn.Linear:
        """Builds a layer."""
        assert fastinit.is_patched()
        torch.manual_seed(0)
        return torch.nn.Linear(n, n)

    assert not fastinit.is_patched()
    assert build.__name__ == "build" and build.__doc__ == "Builds a layer."
    layer = build(8)
    assert not fastinit.is_patched()
    # fastinit's values (torch's own differ): the same as the decorator with parentheses gives
    called = fastinit.patch()(build.__wrapped__)(8)
    torch.manual_seed(0)
    plain = torch.nn.Linear(8, 8)
    assert torch.equal(layer.weight, called.weight)
    assert not torch.equal(layer.weight, plain.weight)


def test_bare_decorator_restores_after_an_exception() -> None:
    @fastinit.patch
    def fails() -> None:
        assert fastinit.is_patched()
        raise KeyError("inside")

    with pytest.raises(KeyError, match="inside"):
        fails()
    assert not fastinit.is_patched()


@pytest.mark.parametrize("arg", [1, "fn", 0.5])
def test_a_non_function_argument_is_refused(arg: object) -> None:
    with pytest.raises(TypeError, match=r"^fastinit\.patch: takes no argument, or a function"):
        fastinit.patch(arg)


def test_context_manager_form_is_unchanged() -> None:
    cm = fastinit.patch()
    assert isinstance(cm, fastinit.patch)
    with cm:
        assert fastinit.is_patched()
    assert not fastinit.is_patched()
