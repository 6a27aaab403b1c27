"""The executable spec: a slow, readable NumPy implementation of the stream contract.

Nothing here calls the compiled core. Tests demand that fastinit's output equals these
functions bit for bit, for every distribution and dtype (docs/stream.md explains each step).
Arithmetic is done in the same order and precision as csrc/core, with no fused multiply-add,
so IEEE float32/float64 arithmetic gives the same bits everywhere.

Entry points: :func:`philox4x32_10`, :func:`words`, :func:`fill` (values for given logical
indices), :func:`fill_like` (the whole of a tensor shape, optionally a block of a larger one).
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

from ._normal_table import DEGREE as NORMAL_DEGREE
from ._normal_table import TABLE as NORMAL_TABLE

F32, F64, U32, U64 = np.float32, np.float64, np.uint32, np.uint64
M0, M1, W0, W1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85
MASK32 = 0xFFFFFFFF
# dtype name -> (words per Philox block, compute type of the values)
LAYOUT = {"float32": 4, "float16": 4, "bfloat16": 4, "float64": 2, "uint32": 4,
          "float8_e4m3fn": 4, "float8_e5m2": 4}


# --- engine -------------------------------------------------------------------------------

def philox4x32_10(counters: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Philox4x32-10 on rows: counters (n, 4), keys (n, 2) -> (n, 4) uint32."""
    c = [np.asarray(counters, U64)[:, i].copy() for i in range(4)]
    k0 = np.asarray(keys, U64)[:, 0].copy()
    k1 = np.asarray(keys, U64)[:, 1].copy()
    for _ in range(10):
        p0 = U64(M0) * c[0]
        p1 = U64(M1) * c[2]
        c = [(p1 >> U64(32)) ^ c[1] ^ k0, p1 & U64(MASK32), (p0 >> U64(32)) ^ c[3] ^ k1, p0 & U64(MASK32)]
        k0 = (k0 + U64(W0)) & U64(MASK32)
        k1 = (k1 + U64(W1)) & U64(MASK32)
    return np.stack(c, axis=1).astype(U32)


def blocks(key: int, stream: int, block_index: np.ndarray) -> np.ndarray:
    """Blocks of the stream contract: counter (block lo, block hi, stream lo, stream hi)."""
    b = np.asarray(block_index, U64)
    ctr = np.stack([b & U64(MASK32), b >> U64(32),
                    np.full_like(b, stream & MASK32), np.full_like(b, stream >> 32)], axis=1)
    keys = np.tile(np.array([key & MASK32, key >> 32], U64), (len(b), 1))
    return philox4x32_10(ctr, keys)


def words(key: int, stream: int, index: np.ndarray, per_block: int = 4) -> np.ndarray:
    """The word of each logical index: uint32 (4 per block) or uint64 (2 per block, low first)."""
    idx = np.asarray(index, U64)
    blk = blocks(key, stream, idx // U64(per_block))
    lane = (idx % U64(per_block)).astype(np.intp)
    rows = np.arange(len(idx))
    if per_block == 4:
        return blk[rows, lane]
    lo = blk[rows, 2 * lane].astype(U64)
    hi = blk[rows, 2 * lane + 1].astype(U64)
    return lo | (hi << U64(32))


# --- math (same operations, same order as csrc/core/fmath.h) ------------------------------

def _poly(x: np.ndarray, coeffs: Sequence, dtype: type) -> np.ndarray:
    p = np.full_like(x, dtype(coeffs[0]))
    for c in coeffs[1:]:
        p = p * x + dtype(c)
    return p


LOG_F32 = [7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1,
           1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1]


def log_f32(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, F32)
    sub = x < F32(1.17549435e-38)
    x = np.where(sub, x * F32(33554432.0), x)
    ix = x.view(U32)
    e = ((ix >> U32(23)) & U32(0xFF)).astype(np.int32) - 127 - np.where(sub, 25, 0).astype(np.int32)
    m = ((ix & U32(0x007FFFFF)) | U32(0x3F800000)).view(F32)
    big = m > F32(1.41421356)
    m = np.where(big, m * F32(0.5), m)
    e = e + big.astype(np.int32)
    f = m - F32(1.0)
    z = f * f
    ef = e.astype(F32)
    y = f * z * _poly(f, LOG_F32, F32)
    y = y + ef * F32(-2.12194440e-4)
    y = y - F32(0.5) * z
    return (f + y) + ef * F32(0.693359375)


def log_f64(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, F64)
    sub = x < 2.2250738585072014e-308
    x = np.where(sub, x * 18014398509481984.0, x)
    ix = x.view(U64)
    e = ((ix >> U64(52)) & U64(0x7FF)).astype(np.int64) - 1023 - np.where(sub, 54, 0)
    m = ((ix & U64(0x000FFFFFFFFFFFFF)) | U64(0x3FF0000000000000)).view(F64)
    big = m > 1.4142135623730951
    m = np.where(big, m * 0.5, m)
    e = e + big
    f = m - 1.0
    s = f / (2.0 + f)
    s2 = s * s
    r = _poly(s2, [2.0 / k for k in range(21, 1, -2)], F64) * s2
    ed = e.astype(F64)
    log_m = (s + s) + s * r
    return (ed * 1.90821492927058770002e-10 + log_m) + ed * 6.93147180369123816490e-01


# PPND7 (AS241, 7 digits) for float32: rows are (central, tail r <= 5, far tail r > 5),
# highest degree first; the tail denominators are quadratics (leading 0).
PPND7_NUM = [(59.109374720, 0.17023821103, 0.017337203997), (159.29113202, 1.3067284816, 0.42868294337),
             (50.434271938, 2.7568153900, 3.0812263860), (3.3871327179, 1.4234372777, 6.6579051150)]
PPND7_DEN = [(67.187563600, 0.0, 0.0), (78.757757664, 0.12021132975, 0.012258202635),
             (17.895169469, 0.73700164250, 0.24197894225), (1.0, 1.0, 1.0)]


def ndtri_lower_f32(q: np.ndarray) -> np.ndarray:
    """Phi^-1(q) for q in (0, 1/2], float32: AS241 PPND7 as one selected rational function."""
    q = np.asarray(q, F32)
    c = q - F32(0.5)
    central = c >= F32(-0.425)
    rc = F32(0.180625) - c * c
    with np.errstate(invalid="ignore"):
        r0 = np.sqrt(-log_f32(np.minimum(q, F32(0.5))))
    far = r0 > F32(5.0)
    x = np.where(central, rc, np.where(far, r0 - F32(5.0), r0 - F32(1.6)))

    def pick(row: tuple) -> np.ndarray:
        return np.where(central, F32(row[0]), np.where(far, F32(row[2]), F32(row[1])))

    num, den = pick(PPND7_NUM[0]), pick(PPND7_DEN[0])
    for nrow, drow in zip(PPND7_NUM[1:], PPND7_DEN[1:]):
        num = num * x + pick(nrow)
        den = den * x + pick(drow)
    v = num / den
    return np.where(central, c * v, -v)


def ndtri_table_f32(q: np.ndarray) -> np.ndarray:
    """Phi^-1(q) for q in [2^-33, 1/2], float32: per-binade degree-8 polynomials (the table)."""
    q = np.asarray(q, F32)
    k = 125 - (q.view(U32) >> U32(23)).astype(np.int64)
    k = np.where(q >= F32(0.25), 0, np.minimum(k, 31))
    top = k == 0
    c = q - F32(0.5)
    m = ((q.view(U32) & U32(0x007FFFFF)) | U32(0x3F800000)).view(F32)
    x = np.where(top, c, m - F32(1.5))
    table = np.asarray(NORMAL_TABLE, F32)
    p = table[0][k]
    for j in range(1, NORMAL_DEGREE + 1):
        p = p * x + table[j][k]
    return np.where(top, p * c, p)


AS241_A = [2.5090809287301226727e+3, 3.3430575583588128105e+4, 6.7265770927008700853e+4,
           4.5921953931549871457e+4, 1.3731693765509461125e+4, 1.9715909503065514427e+3,
           1.3314166789178437745e+2, 3.3871328727963666080e+0]
AS241_B = [5.2264952788528545610e+3, 2.8729085735721942674e+4, 3.9307895800092710610e+4,
           2.1213794301586595867e+4, 5.3941960214247511077e+3, 6.8718700749205790830e+2,
           4.2313330701600911252e+1, 1.0]
AS241_C = [7.74545014278341407640e-4, 2.27238449892691845833e-2, 2.41780725177450611770e-1,
           1.27045825245236838258e+0, 3.64784832476320460504e+0, 5.76949722146069140550e+0,
           4.63033784615654529590e+0, 1.42343711074968357734e+0]
AS241_D = [1.05075007164441684324e-9, 5.47593808499534494600e-4, 1.51986665636164571966e-2,
           1.48103976427480074590e-1, 6.89767334985100004550e-1, 1.67638483018380384940e+0,
           2.05319162663775882187e+0, 1.0]
AS241_E = [2.01033439929228813265e-7, 2.71155556874348757815e-5, 1.24266094738807843860e-3,
           2.65321895265761230930e-2, 2.96560571828504891230e-1, 1.78482653991729133580e+0,
           5.46378491116411436990e+0, 6.65790464350110377720e+0]
AS241_F = [2.04426310338993978564e-15, 1.42151175831644588870e-7, 1.84631831751005468180e-5,
           7.86869131145613259100e-4, 1.48753612908506148525e-2, 1.36929880922735805310e-1,
           5.99832206555887937690e-1, 1.0]


def ndtri_lower_f64(q: np.ndarray) -> np.ndarray:
    """Phi^-1(q) for q in (0, 1/2], float64: Wichura's AS241, both regions then a select."""
    q = np.asarray(q, F64)
    c = q - 0.5
    rc = 0.180625 - c * c
    central = c * _poly(rc, AS241_A, F64) / _poly(rc, AS241_B, F64)
    r0 = np.sqrt(-log_f64(np.where(q < 0.5, q, 0.5)))
    far = r0 > 5.0
    r = np.where(far, r0 - 5.0, r0 - 1.6)
    tn = np.where(far, AS241_E[0], AS241_C[0])
    for e, cc in zip(AS241_E[1:], AS241_C[1:]):
        tn = tn * r + np.where(far, e, cc)
    td = np.where(far, AS241_F[0], AS241_D[0])
    for f, d in zip(AS241_F[1:-1], AS241_D[1:-1]):
        td = td * r + np.where(far, f, d)
    td = td * r + 1.0
    return np.where(c < -0.425, -(tn / td), central)


# --- transforms (csrc/core/distributions.h) -----------------------------------------------

def unit_f32(w: np.ndarray) -> np.ndarray:
    return (w >> U32(8)).astype(np.int32).astype(F32) * F32(5.9604644775390625e-08)


def unit_f64(w: np.ndarray) -> np.ndarray:
    return (w >> U64(11)).astype(np.int64).astype(F64) * 1.1102230246251565e-16


def open_unit(w: np.ndarray, ct: type) -> np.ndarray:
    if w.dtype == U64:
        return ((w >> U64(12)).astype(np.int64).astype(F64) + 0.5) * 2.0 ** -52
    if ct is F64:
        return (w.astype(F64) + 0.5) * 2.0 ** -32
    return ((w >> U32(9)).astype(np.int32).astype(F32) + F32(0.5)) * F32(2.0 ** -23)


def std_normal(w: np.ndarray) -> np.ndarray:
    if w.dtype == U64:
        r = (w & U64(0x7FFFFFFFFFFFFFFF)) >> U64(11)
        z = ndtri_lower_f64((r.astype(np.int64).astype(F64) + 0.5) * 2.0 ** -53)
        return np.where((w >> U64(63)) != 0, -z, z)
    q = ((w & U32(0x7FFFFFFF)).astype(np.int32).astype(F32) + F32(0.5)) * F32(2.0 ** -32)
    z = ndtri_table_f32(q)
    return np.where((w >> U32(31)) != 0, -z, z)


def trunc_std_normal(u: np.ndarray, mass_lo, mass_hi, mass, ct: type) -> np.ndarray:
    t = ct(mass_lo) + u * ct(mass)
    s = ct(mass_hi) + (ct(1.0) - u) * ct(mass)
    lower = t <= ct(0.5)
    tiny = ct(1.40129846e-45) if ct is F32 else ct(4.9406564584124654e-324)
    q = np.maximum(np.where(lower, t, s), tiny)
    if ct is F32:
        deep = q < F32(2.0 ** -33)
        z = np.where(deep, ndtri_lower_f32(q), ndtri_table_f32(np.where(deep, F32(0.5), q)))
    else:
        z = ndtri_lower_f64(q)
    return np.where(lower, z, -z)


# --- dtypes and bounds (csrc/core/bits.h, csrc/params.cpp) --------------------------------

def bf16_bits(x: np.ndarray) -> np.ndarray:
    u = np.asarray(x, F32).view(U32)
    rounded = (u + U32(0x7FFF) + ((u >> U32(16)) & U32(1))) >> U32(16)
    nan = (u & U32(0x7FFFFFFF)) > U32(0x7F800000)
    return np.where(nan, (u >> U32(16)) | U32(0x40), rounded).astype(np.uint16)


def bf16_value(bits: np.ndarray) -> np.ndarray:
    return (np.asarray(bits, U32) << U32(16)).view(F32)


def _f8_bits(f: np.ndarray, fmt: str) -> np.ndarray:
    """float32 -> float8 bits, round to nearest even, torch's (c10) overflow rules."""
    u = f.view(U32)
    sign = (u >> U32(24)) & U32(0x80)
    a = u & U32(0x7FFFFFFF)
    af = a.view(F32)
    if fmt == "float8_e4m3fn":
        normal = (a + U32(0xC407FFFF) + ((a >> U32(20)) & U32(1))) >> U32(20)
        sub = (af + F32(16384.0)).view(U32) - U32(0x46800000)
        h = np.where(a < U32(0x3C800000), sub, normal)
        h = np.where(a >= U32(0x43E80000), U32(0x7E), h)
        h = np.where(a > U32(0x7F800000), U32(0x7F), h)
    else:
        normal = (a + U32(0xC80FFFFF) + ((a >> U32(21)) & U32(1))) >> U32(21)
        sub = (af + F32(128.0)).view(U32) - U32(0x43000000)
        h = np.where(a < U32(0x38800000), sub, normal)
        h = np.where(a >= U32(0x47800000), U32(0x7C), h)
        h = np.where(a > U32(0x7F800000), U32(0x7F), h)
    return (sign | h).astype(np.uint8)


def f8_value(bits: np.ndarray, fmt: str) -> np.ndarray:
    h = np.asarray(bits, np.uint32)
    if fmt == "float8_e5m2":
        return (h << np.uint32(8)).astype(np.uint16).view(np.float16).astype(F32)
    sign = np.where(h & 0x80, -1.0, 1.0)
    e, m = (h >> 3) & 0xF, h & 0x7
    mag = np.where(e == 0, m * 2.0 ** -9, (1 + m / 8.0) * 2.0 ** (e.astype(np.int64) - 7))
    return np.where((h & 0x7F) == 0x7F, np.nan, sign * mag).astype(F32)


def to_dtype(x: np.ndarray, dtype: str) -> np.ndarray:
    """Store computed values: narrow types are round-to-nearest-even of the float32 value."""
    if dtype == "float64":
        return np.asarray(x, F64)
    with np.errstate(over="ignore"):  # past the range is inf, as IEEE rounding makes it
        f = np.asarray(x).astype(F32)
        if dtype == "float32":
            return f
        if dtype == "float16":
            return f.astype(np.float16)
    if dtype.startswith("float8"):
        return _f8_bits(f, dtype)  # as uint8 bit patterns
    return bf16_bits(f)  # bfloat16, as uint16 bit patterns


def _value_of_small(h: int, dtype: str) -> float:
    if dtype == "float16":
        return float(np.array([h], np.uint16).view(np.float16)[0])
    if dtype.startswith("float8"):
        return float(f8_value(np.array([h]), dtype)[0])
    return float(bf16_value(np.array([h]))[0])


def _step_small(h: int, sign: int, up: bool) -> int:
    if h & (sign - 1) == 0:
        return 1 if up else sign | 1
    return h - 1 if bool(h & sign) == up else h + 1


def round_into(dtype: str, x: float, direction: str) -> float:
    """Representable value of dtype: 'up' (>= x), 'down' (<= x) or 'below' (< x)."""
    if dtype == "float64":
        return float(np.nextafter(x, -np.inf)) if direction == "below" else x
    if dtype == "float32":
        with np.errstate(over="ignore"):  # past float32's range: inf, then stepped back
            f = F32(x)
        while direction == "up" and float(f) < x:
            f = np.nextafter(f, F32(np.inf))
        while direction != "up" and (float(f) > x or (direction == "below" and float(f) >= x)):
            f = np.nextafter(f, F32(-np.inf))
        return float(f)
    with np.errstate(over="ignore"):
        start = np.array([x], F32)
    h = int(to_dtype(start, dtype).view(np.uint16 if dtype in ("float16", "bfloat16") else np.uint8)[0])
    sign = 0x80 if dtype.startswith("float8") else 0x8000
    value = _value_of_small(h, dtype)
    while direction == "up" and value < x:
        h = _step_small(h, sign, True)
        value = _value_of_small(h, dtype)
    while direction != "up" and (value > x or (direction == "below" and value >= x)):
        h = _step_small(h, sign, False)
        value = _value_of_small(h, dtype)
    return value


def phi(x: float) -> float:
    return 0.5 * math.erfc(-x * 0.7071067811865476)


def values(kind: str, dtype: str, params: Sequence[float], w: Optional[np.ndarray]) -> np.ndarray:
    """Distribution values for words ``w``, stored in ``dtype`` (bfloat16 as uint16 bits,
    float8 as uint8 bits). Arithmetic past a type's range gives inf, as IEEE makes it (the
    engine refuses parameters whose values could reach it; the bounds clamp the rest)."""
    with np.errstate(over="ignore"):
        return _values(kind, dtype, params, w)


def _values(kind: str, dtype: str, params: Sequence[float], w: Optional[np.ndarray]) -> np.ndarray:
    narrow = dtype != "float64"
    ct = F32 if narrow else F64
    lo, hi = -np.inf, np.inf
    if kind == "uniform":
        a, b = params
        v = ct(a) + ct(b - a) * (unit_f32(w) if narrow else unit_f64(w))
        lo = round_into(dtype, a, "up")
        hi = lo if a == b else round_into(dtype, b, "below")
        if a == b:  # every value is lo, sign of zero included (a = -0.0 gives -0.0)
            v = np.full(len(w), ct(lo), ct)
    elif kind == "normal":
        mean, std = params
        v = ct(mean) + ct(std) * std_normal(w)
    elif kind == "trunc_normal":
        mean, std, a, b = params
        lo, hi = round_into(dtype, a, "up"), round_into(dtype, b, "down")
        if std == 0:
            v = np.full(len(w), ct(min(max(mean, a), b)), ct)
        else:
            alpha, beta = (a - mean) / std, (b - mean) / std
            m_lo, m_hi = phi(alpha), phi(-beta)
            if beta <= 0:
                mass = phi(beta) - m_lo
            elif alpha >= 0:
                mass = phi(-alpha) - m_hi
            else:
                mass = 1.0 - m_lo - m_hi
            base = m_lo if beta <= 0 else (m_hi if alpha >= 0 else 0.5)
            # IEEE division, as the engine's: m / 0 is inf, 0 / 0 NaN
            r = mass / base if base > 0 else (math.inf if mass > 0 else math.nan)
            if r < (2.0 ** -31 if narrow else 2.0 ** -28):  # flat density: the local form
                width = (b - a) / std
                e1_half, e2_third = ct(alpha * width / 2), ct(width * width / 6)
                u = open_unit(w, ct)
                u2 = u * u
                pos = u + e1_half * (u2 - u) + e2_third * (u2 * u - u)
                v = ct(a) + ct(b - a) * pos
            else:
                if narrow and not (mass >= 1e-30 and r >= 2.0 ** -3):
                    ct = F64  # too few float bits: double precision from the same 32-bit word
                u = open_unit(w, ct)
                v = ct(mean) + ct(std) * trunc_std_normal(u, m_lo, m_hi, mass, ct)
    elif kind == "constant":
        v = np.full(len(w), ct(params[0]), ct)
    else:
        raise ValueError(f"unknown distribution {kind!r}")
    # clamp as the engine's compare-and-select does: a value equal to a bound is kept, so a
    # zero keeps its sign unless it lies strictly outside [lo, hi]
    v = np.where(v < ct(lo), ct(lo), v)
    v = np.where(v > ct(hi), ct(hi), v)
    return to_dtype(v, dtype)


def fill(kind: str, dtype: str, params: Sequence[float], key: int, stream: int,
         index: np.ndarray) -> np.ndarray:
    """Values of the elements with the given logical indices."""
    w = words(key, stream, index, LAYOUT[dtype]) if kind != "constant" else np.zeros(len(index), U32)
    return values(kind, dtype, params, w)


def logical_indices(shape: Sequence[int], global_shape: Optional[Sequence[int]] = None,
                    global_offset: Optional[Sequence[int]] = None) -> np.ndarray:
    """Row-major index, in the global tensor, of every element of a block (flattened C order)."""
    gshape = list(shape) if global_shape is None else list(global_shape)
    goff = [0] * len(shape) if global_offset is None else list(global_offset)
    grids = np.indices(shape, dtype=np.int64).reshape(len(shape), -1) if shape else np.zeros((0, 1), np.int64)
    index = np.zeros(grids.shape[1], U64)
    stride = 1
    for k in range(len(shape) - 1, -1, -1):
        index += (grids[k] + goff[k]).astype(U64) * U64(stride)
        stride *= gshape[k]
    return index


def fill_like(kind: str, dtype: str, params: Sequence[float], key: int, stream: int,
              shape: Sequence[int], global_shape: Optional[Sequence[int]] = None,
              global_offset: Optional[Sequence[int]] = None) -> np.ndarray:
    """A whole tensor of ``shape`` (a block of ``global_shape`` at ``global_offset``)."""
    index = logical_indices(shape, global_shape, global_offset)
    return fill(kind, dtype, params, key, stream, index).reshape(shape)
