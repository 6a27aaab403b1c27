"""Gains and fans of ``torch.nn.init``, for torch tensors and NumPy arrays alike.

``calculate_gain``, ``_calculate_fan_in_and_fan_out`` and ``_calculate_correct_fan`` have
torch's signatures, values, exception types and messages (torch 2.13, checked by
tests/init/test_nn_init_parity.py). Fans use torch's weight layout ``(out, in, *kernel)``:

    rf      = prod(shape[2:])            (receptive field; 1 for a matrix)
    fan_in  = shape[1] * rf
    fan_out = shape[0] * rf

:func:`fans_for` adds fastinit's ``global_shape=``: a shard's fans are those of the whole tensor.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence, Tuple, Union

from .._engine._fills import _dim
from .._engine._targets import check_writable

#: The nonlinearities whose gain is 1 besides "sigmoid" (torch's list, in torch's order).
_LINEAR_FNS = (
    "linear", "conv1d", "conv2d", "conv3d",
    "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
)
_VALID_MODES = ["fan_in", "fan_out"]


def calculate_gain(nonlinearity: str, param: Optional[Union[int, float]] = None) -> float:
    """The recommended gain for a nonlinearity (torch.nn.init.calculate_gain).

    ======================  =====================================
    nonlinearity            gain
    ======================  =====================================
    linear / conv*d / conv_transpose*d / sigmoid   1
    tanh                    5/3
    relu                    sqrt(2)
    leaky_relu              sqrt(2 / (1 + s^2)), s = param or 0.01
    selu                    3/4 (empirical, pytorch#50664)
    ======================  =====================================

    ``param`` is leaky_relu's negative slope: an int or float, not a bool. Anything else raises
    ``ValueError`` with torch's text ("Unsupported nonlinearity gelu", "negative_slope True not
    a valid number").
    """
    if nonlinearity in _LINEAR_FNS or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope: float = 0.01
        elif (not isinstance(param, bool) and isinstance(param, int)) or isinstance(param, float):
            negative_slope = param  # bool is an int subclass, hence the check above
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4  # found empirically, https://github.com/pytorch/pytorch/pull/50664
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def fans_of_shape(shape: Sequence[int]) -> Tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of ``shape`` in torch's layout (module docstring)."""
    if len(shape) < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"
        )
    receptive_field_size = 1
    for s in shape[2:]:
        receptive_field_size *= int(s)
    return int(shape[1]) * receptive_field_size, int(shape[0]) * receptive_field_size


def _calculate_fan_in_and_fan_out(tensor: Any) -> Tuple[int, int]:
    """``(fan_in, fan_out)`` of a torch tensor or NumPy array: ``(in * rf, out * rf)``."""
    return fans_of_shape(tuple(tensor.shape))


def _correct_fan(shape: Sequence[int], mode: str) -> int:
    mode = mode.lower()
    if mode not in _VALID_MODES:
        raise ValueError(f"Mode {mode} not supported, please use one of {_VALID_MODES}")
    fan_in, fan_out = fans_of_shape(shape)
    return fan_in if mode == "fan_in" else fan_out


def _calculate_correct_fan(tensor: Any, mode: str) -> int:
    """fan_in or fan_out as ``mode`` (case-insensitive) says; other modes raise ValueError."""
    return _correct_fan(tuple(tensor.shape), mode)


def shape_of(fn: str, tensor: Any, torch_ops_only: bool = False) -> Tuple[int, ...]:
    """The shape of a torch tensor or NumPy array; anything else is a clear TypeError.
    ``torch_ops_only`` as :func:`fastinit._engine._targets.check_writable`'s."""
    # every caller writes it; first, as nested tensors lack .shape
    check_writable(tensor, fn, torch_ops_only)
    shape = getattr(tensor, "shape", None)
    if shape is None:
        raise TypeError(
            f"fastinit.{fn}: expected a torch.Tensor or numpy.ndarray, got {type(tensor).__name__}"
        )
    return tuple(int(d) for d in shape)


def fan_shape(fn: str, tensor: Any, global_shape: Optional[Sequence[int]]) -> Tuple[int, ...]:
    """The shape fans come from: ``global_shape`` when given (a shard of it), else the tensor's."""
    shape = shape_of(fn, tensor)
    if global_shape is None:
        return shape
    g = tuple(_dim(fn, "global_shape", d) for d in global_shape)
    if len(g) != len(shape):
        raise ValueError(
            f"fastinit.{fn}: global_shape has {len(g)} dims but the tensor has {len(shape)}"
        )
    return g


def fans_for(fn: str, tensor: Any, global_shape: Optional[Sequence[int]]) -> Tuple[int, int]:
    """``(fan_in, fan_out)`` of the tensor, or of ``global_shape`` when it is a shard."""
    return fans_of_shape(fan_shape(fn, tensor, global_shape))


def correct_fan_for(fn: str, tensor: Any, mode: str,
                    global_shape: Optional[Sequence[int]]) -> int:
    """:func:`_calculate_correct_fan` on the global shape (torch's checks, in torch's order;
    a mode that is no str keeps torch's AttributeError, with a line that says what mode is)."""
    shape = fan_shape(fn, tensor, global_shape)
    if not isinstance(mode, str):
        raise AttributeError(f"fastinit.{fn}: mode must be a str, 'fan_in' or 'fan_out' (any "
                             f"case), got {mode!r}")
    return _correct_fan(shape, mode)
