"""Numbers in the engine's error messages are written as Python writes them (repr: the fewest
digits that read back as the same double), not as C's %f (`mean=1e+39` was printed as a
39-digit number, and -1e-07 as -0.000000)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastinit

F32_MAX = float(np.finfo(np.float32).max)


def message(fill, *args, **kwargs) -> str:
    with pytest.raises(ValueError) as e:
        fill(np.empty(4, np.float32), *args, **kwargs)
    return str(e.value)


def test_the_documented_text() -> None:
    # docs/api.md quotes it
    assert message(fastinit.normal_, mean=1e39) == (
        "fastinit.normal_: mean=1e+39 is out of float32's range (the fill would hold inf or NaN)")


@pytest.mark.parametrize("std, shown", [
    (-0.1, "-0.1"), (-1e-7, "-1e-07"), (-1.0, "-1.0"), (-1e6, "-1000000.0"), (-2.5e-5, "-2.5e-05"),
    (-1e16, "-1e+16"), (-123456789012345.6, "-123456789012345.6"), (-5e-324, "-5e-324"),
    (-0.0001, "-0.0001"), (-1.7976931348623157e308, "-1.7976931348623157e+308"),
])
def test_known_numbers(std: float, shown: str) -> None:
    assert repr(std) == shown  # the cases are Python's own spelling
    assert message(fastinit.normal_, std=std).endswith(f"std must be >= 0, got {shown}")


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False, max_value=-0.0, exclude_max=True))
def test_any_negative_std_is_shown_as_repr(std: float) -> None:
    assert message(fastinit.normal_, std=std).endswith(f"got {std!r}")


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=F32_MAX * 1.0001, allow_infinity=False))
def test_any_mean_past_float32_is_shown_as_repr(mean: float) -> None:
    for sign in (1.0, -1.0):
        assert f"mean={sign * mean!r} is out of float32's range" in message(
            fastinit.normal_, mean=sign * mean)


def test_every_number_of_the_other_messages_reads_back() -> None:
    texts = [
        message(fastinit.uniform_, 2.5, 0.1),
        message(fastinit.trunc_normal_, 0.0, 1.0, 3.0, -1.0 / 3),
        message(fastinit.normal_, mean=1e38, std=1e38),
        message(fastinit.trunc_normal_, 0.0, 1e38, -1e39, 1e39),
    ]
    for text in texts:
        for number in re.findall(r"-?\d[\d.]*(?:e[+-]\d+)?", text.split(":", 1)[1]):
            if "." not in number and "e" not in number:
                continue  # an integer: float32's name
            x = float(number)
            assert math.isfinite(x) and repr(x) == number, (number, text)
    assert texts[0].endswith("a must be <= b, got a=2.5, b=0.1")
    assert texts[1].endswith("a must be <= b, got a=3.0, b=-0.3333333333333333")
