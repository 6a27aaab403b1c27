"""The compiled fills equal the executable spec (``fastinit._reference``) bit for bit.

Every kind x dtype x target library, over sizes that are and are not multiples of the SIMD
width and the Philox block (1, 2, 3, 5, 7, ..., 4097, 50021), seeds including 0 and 2**64 - 1,
and 1-D global offsets that make the first logical index unaligned; then a list of parameters
that exercise the edges of each transform (bounds, std = 0, tiny std, far tails, a == b).
Finally the same comparison runs in subprocesses under FASTINIT_ISA=base / avx2 / the default
build, since the env var is read once per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import (
    HAS_TORCH,
    KINDS,
    DEFAULT_PARAMS,
    TARGETS,
    assert_bits_equal,
    empty_target,
    fill,
    reference_bits,
)

U64 = 1 << 64

# --- sizes x seeds x offsets ---------------------------------------------------------------

SIZES = (1, 2, 3, 5, 7, 13, 18, 20, 31, 4097, 50021)


def _placements() -> list:
    """(n, seed, global_offset or None, extra) per size; offsets are odd, so unaligned."""
    rng = np.random.default_rng(1234)
    seeds = [0, U64 - 1]
    out = []
    for i, n in enumerate(SIZES):
        seed = seeds[i] if i < len(seeds) else int(rng.integers(0, U64, dtype=np.uint64))
        offset = None if i % 3 == 0 else int(rng.integers(0, 5_000_000)) | 1
        extra = int(rng.integers(0, 50))
        ident = f"n{n}-seed{seed}" + ("" if offset is None else f"-off{offset}")
        out.append(pytest.param(n, seed, offset, extra, id=ident))
    return out


def _check(kind, lib, dtype, params, n, seed, offset, extra):
    t = empty_target(lib, dtype, (n,))
    if offset is None or kind == "constant":
        gshape = goff = None
    else:
        gshape, goff = [offset + n + extra], [offset]
    assert fill(kind, t, params, seed=seed, global_shape=gshape, global_offset=goff) is t
    expected = reference_bits(kind, dtype, params, seed, (n,), gshape, goff)
    assert_bits_equal(t, expected, f"{kind}{tuple(params)} {lib} {dtype} n={n} seed={seed} off={goff}")


@pytest.mark.parametrize("n, seed, offset, extra", _placements())
@pytest.mark.parametrize("lib, dtype", TARGETS)
@pytest.mark.parametrize("kind", KINDS)
def test_matches_reference_sizes_seeds_offsets(kind, lib, dtype, n, seed, offset, extra):
    _check(kind, lib, dtype, DEFAULT_PARAMS[kind], n, seed, offset, extra)


# --- interesting parameters ----------------------------------------------------------------

PARAMS = [
    pytest.param("uniform", (0.0, 1.0), id="uniform-0-1"),
    pytest.param("uniform", (-3.7, 2.1), id="uniform-neg-odd"),
    pytest.param("uniform", (-1e-3, -1e-4), id="uniform-both-negative"),
    pytest.param("uniform", (1.0, 1.0 + 1e-7), id="uniform-tiny-range"),
    pytest.param("uniform", (-2.5, -2.5), id="uniform-a-eq-b"),
    pytest.param("uniform", (-0.0, 0.0), id="uniform-minus-zero-eq-zero"),  # every value -0.0
    pytest.param("uniform", (-0.0, -0.0), id="uniform-minus-zero"),
    pytest.param("uniform", (0.0, -0.0), id="uniform-zero-eq-minus-zero"),
    pytest.param("normal", (0.0, 1.0), id="normal-std"),
    pytest.param("normal", (-1.5, 3.25), id="normal-shifted"),
    pytest.param("normal", (0.5, 0.0), id="normal-std0"),
    pytest.param("normal", (0.0, 1e-6), id="normal-tiny-std"),
    pytest.param("normal", (0.0, 1e-30), id="normal-std1e-30"),
    pytest.param("normal", (1e4, 1e-3), id="normal-big-mean-small-std"),
    pytest.param("trunc_normal", (0.0, 1.0, -2.0, 2.0), id="trunc-std-2sigma"),
    pytest.param("trunc_normal", (0.0, 0.02, -2.0, 2.0), id="trunc-std0.02"),
    pytest.param("trunc_normal", (0.0, 0.001, -2.0, 2.0), id="trunc-std0.001"),
    pytest.param("trunc_normal", (0.0, 1.0, 5.0, 6.0), id="trunc-upper-tail-5-6"),
    pytest.param("trunc_normal", (0.0, 1.0, -6.0, -5.0), id="trunc-lower-tail-6-5"),
    pytest.param("trunc_normal", (0.0, 1.0, 20.0, 21.0), id="trunc-far-tail-20-21"),
    pytest.param("trunc_normal", (0.0, 1.0, 0.5, 0.5), id="trunc-a-eq-b"),
    # narrow intervals: the double path where float32 keeps too few bits, and the local
    # (flat-density) form where even double does
    pytest.param("trunc_normal", (0.0, 1.0, -0.01, 0.01), id="trunc-narrow-wide-path"),
    pytest.param("trunc_normal", (0.0, 1.0, -1e-6, 1e-6), id="trunc-narrow-centre"),
    pytest.param("trunc_normal", (0.0, 1e20, -1.0, 1.0), id="trunc-local-huge-std"),
    pytest.param("trunc_normal", (0.0, 1.0, 0.25, 0.25 + 1e-12), id="trunc-local-off-centre"),
    pytest.param("trunc_normal", (0.0, 1.0, -4.0, -4.0 + 1e-13), id="trunc-local-lower-tail"),
    pytest.param("trunc_normal", (0.1, 0.5, -0.3, 0.3), id="trunc-inexact-bounds"),
    pytest.param("trunc_normal", (3.0, 0.0, -2.0, 2.0), id="trunc-std0-clamped"),
    pytest.param("trunc_normal", (0.25, 0.0, -2.0, 2.0), id="trunc-std0-inside"),
    pytest.param("constant", (0.1,), id="constant-0.1"),
    pytest.param("constant", (-2.5,), id="constant-neg"),
    pytest.param("constant", (3e-7,), id="constant-f16-subnormal"),
    # bfloat16 round-to-even ties (about half the float32 values sit exactly on one) and
    # float32 subnormals, which the vector bfloat16 store must round as core does
    pytest.param("normal", (1 + 2**-8, 1e-7), id="normal-bf16-ties-down"),
    pytest.param("normal", (1 + 3 * 2**-8, 1e-7), id="normal-bf16-ties-up"),
    pytest.param("normal", (0.0, 1e-39), id="normal-f32-subnormal"),
]


@pytest.mark.parametrize("lib, dtype", TARGETS)
@pytest.mark.parametrize("kind, params", PARAMS)
def test_matches_reference_parameters(kind, params, lib, dtype):
    seed = (sum(int(abs(p) * 1000) for p in params) + 17) % 2**64
    _check(kind, lib, dtype, params, 4099, seed, 2 * 4099 + 1, 3)


def test_seed_minus_one_is_seed_max():
    a = empty_target("numpy", "float32", (33,))
    b = empty_target("numpy", "float32", (33,))
    fill("normal", a, (0.0, 1.0), seed=-1)
    fill("normal", b, (0.0, 1.0), seed=U64 - 1)
    assert_bits_equal(a, b, "seed=-1 vs seed=2**64-1")


# --- every CPU kernel build, in subprocesses -----------------------------------------------

ISA_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import fastinit

    cases = json.load(open(sys.argv[1]))
    out = {"isa": np.array(fastinit.cpu_isa())}
    for name, c in cases.items():
        if c["dtype"] == "bfloat16":
            import torch
            t = torch.full((c["n"],), float("nan"), dtype=torch.bfloat16)
        else:
            t = np.full(c["n"], np.nan, dtype=c["dtype"])
        fn = getattr(fastinit, c["kind"] + "_")
        if c["kind"] == "constant":
            fn(t, *c["params"])
        else:
            fn(t, *c["params"], seed=c["seed"], global_shape=[c["offset"] + c["n"] + 5],
               global_offset=[c["offset"]])
        if c["dtype"] == "bfloat16":
            out[name] = t.view(torch.int16).numpy().view(np.uint16).copy()
        else:
            out[name] = t.view("u%d" % t.dtype.itemsize)
    np.savez(sys.argv[2], **out)
    """
)


def _isa_cases() -> dict:
    dtypes = ["float16", "float32", "float64"] + (["bfloat16"] if HAS_TORCH else [])
    shapes = [(1, 3), (7, 1), (17, 5), (67, 0), (4097, 12345), (50021, 99)]
    cases = {}
    for kind in KINDS:
        for dtype in dtypes:
            for n, offset in shapes:
                seed = (n * 2654435761 + offset) % U64
                cases[f"{kind}-{dtype}-n{n}-off{offset}"] = dict(
                    kind=kind, dtype=dtype, params=list(DEFAULT_PARAMS[kind]), n=n, offset=offset,
                    seed=seed)
    extra = [("normal", (0.0, 1e-6)), ("trunc_normal", (0.0, 0.001, -2.0, 2.0)),
             ("trunc_normal", (0.0, 1.0, 5.0, 6.0)), ("trunc_normal", (0.0, 1.0, 20.0, 21.0)),
             ("uniform", (-3.7, 2.1)), ("normal", (1 + 2**-8, 1e-7)),
             ("normal", (1 + 3 * 2**-8, 1e-7)), ("normal", (0.0, 1e-39)),
             # every lane in PPND16's tail (float64 packs those lanes: normal64_simd.h), down
             # to subnormal q on both sides; and both sides mixed
             ("trunc_normal", (0.0, 1.0, -40.0, -30.0)), ("trunc_normal", (0.0, 1.0, 37.0, 38.5)),
             ("trunc_normal", (0.0, 1.0, -0.1, 3.0))]
    for kind, params in extra:
        for dtype in dtypes:
            cases[f"{kind}{params}-{dtype}"] = dict(kind=kind, dtype=dtype, params=list(params),
                                                   n=4097, offset=7, seed=U64 - 1)
    return cases


ISA_CASES = _isa_cases()


@pytest.fixture(scope="module")
def isa_run(tmp_path_factory):
    """isa_run(isa) -> npz of every ISA_CASES fill, made in a fresh process (cached)."""
    root = tmp_path_factory.mktemp("isa")
    script = root / "fill_cases.py"
    script.write_text(ISA_SCRIPT)
    cases = root / "cases.json"
    cases.write_text(json.dumps(ISA_CASES))
    cache = {}

    def run(isa: str):
        if isa not in cache:
            env = dict(os.environ)
            env.pop("FASTINIT_ISA", None)
            if isa != "default":
                env["FASTINIT_ISA"] = isa
            out = root / f"{isa}.npz"
            proc = subprocess.run([sys.executable, str(script), str(cases), str(out)], env=env,
                                  capture_output=True, text=True, timeout=300)
            assert proc.returncode == 0, f"FASTINIT_ISA={isa} run failed:\n{proc.stderr}"
            with np.load(out) as data:
                cache[isa] = {k: data[k] for k in data.files}
        return cache[isa]

    return run


@pytest.mark.parametrize("isa", ["default", "base", "avx2"])
def test_isa_env_var_selects_the_build(isa, isa_run):
    plain = str(isa_run("default")["isa"])
    if isa == "avx2" and plain == "base":
        pytest.skip("this CPU has no AVX2 build")
    got = str(isa_run(isa)["isa"])
    assert got == (plain if isa == "default" else isa)


@pytest.mark.parametrize("case", list(ISA_CASES))
@pytest.mark.parametrize("isa", ["default", "base", "avx2"])
def test_isa_build_matches_reference(isa, case, isa_run):
    if isa == "avx2" and str(isa_run("default")["isa"]) == "base":
        pytest.skip("this CPU has no AVX2 build")
    c = ISA_CASES[case]
    n, off = c["n"], c["offset"]
    if c["kind"] == "constant":
        expected = reference_bits("constant", c["dtype"], c["params"], 0, (n,))
    else:
        expected = reference_bits(c["kind"], c["dtype"], c["params"], c["seed"], (n,),
                                  [off + n + 5], [off])
    assert_bits_equal(isa_run(isa)[case], expected, f"FASTINIT_ISA={isa} {case}")
