"""Power-of-two scaling that keeps float working values in range (private; see the
"Extreme scales" notes of :mod:`rdm_widgets.distances`).

Why this module exists: features scaled by 1e20 overflow float32's squares and by 1e-25
underflow them, which made correlation/cosine RDMs all 1 (or only 0 and 2) and euclidean RDMs
all 0 without a word. Multiplying by a power of two changes only the exponent, so it is exact:
ordinary data are not touched at all (the same bits as before), and rescaled data give what
exact arithmetic would. The kernels of :mod:`rdm_widgets._distance_kernels` call these.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch

from ._distance_accuracy import row_norms

__all__ = ["safe_range", "pow2_exponents", "mul_pow2_", "rescale_rows_", "global_exponent", "unscale_",
           "common_scale"]


def safe_range(dtype) -> tuple:
    """``(lo, hi)``: the norms / squared norms for which float arithmetic in ``dtype`` is safe.

    Below ``lo = tiny / eps**2`` the squares that make up a norm have left the normal range
    (float32: 2**-80) and digits are lost to underflow; above ``hi = max / 8`` the sums and
    the Gram identity ``|a|^2 + |b|^2 - 2 a.b`` may overflow.
    """
    fi = torch.finfo(dtype)
    return fi.tiny / fi.eps ** 2, fi.max / 8


def pow2_exponents(m: torch.Tensor) -> torch.Tensor:
    """Integer exponents ``e`` (int64, on the CPU) with ``m * 2**-e`` in [0.5, 1); 0 where m is 0."""
    return torch.frexp(m.detach().to("cpu").to(torch.float64))[1].to(torch.int64)   # (MPS: no float64)


def mul_pow2_(t: torch.Tensor, k) -> torch.Tensor:
    """``t *= 2**k`` in place, exactly (a power of two changes the exponent only), in steps
    that stay inside ``t.dtype``'s range. ``k``: an int, or an int64 (n,) tensor (one per row)."""
    step_max = int(np.log2(torch.finfo(t.dtype).max)) - 1     # 2**step_max fits t.dtype
    if isinstance(k, int):
        while k:
            step = max(-step_max, min(step_max, k))
            t.mul_(2.0 ** step)
            k -= step
        return t
    k = k.clone()
    while bool((k != 0).any()):
        step = k.clamp(-step_max, step_max)
        t.mul_(torch.ldexp(torch.ones(step.shape, dtype=torch.float64), step).to(t.dtype).to(t.device)[:, None])
        k -= step
    return t


def rescale_rows_(x: torch.Tensor, norms: torch.Tensor) -> torch.Tensor:
    """Rows whose norm left the safe range (overflow to inf, or squares underflowing: the
    float32 norm of a row scaled by 1e-25 is 0) are multiplied by a power of two that puts their
    largest |value| in [0.5, 1), and their norms recomputed; both in place. Every scale-invariant
    distance (correlation, cosine, spearman) is unchanged by a positive factor per row, and a
    power of two is exact, so rows already in range (all rows of ordinary data) keep their
    bits and rescaled rows give what exact arithmetic would. Returns ``norms``."""
    lo, _ = safe_range(x.dtype)
    bad = ~((norms >= lo) & torch.isfinite(norms)).flatten()
    if bool(bad.any()):
        idx = bad.nonzero().flatten()
        rows = x[idx]
        e = pow2_exponents(torch.linalg.vector_norm(rows, ord=float("inf"), dim=1))
        mul_pow2_(rows, -e)
        x[idx] = rows
        norms[idx] = row_norms(rows, keepdim=norms.dim() == 2).to(norms.dtype)
    return norms


def global_exponent(x: torch.Tensor, sq: torch.Tensor) -> int:
    """0 when the squared row norms ``sq`` are in the safe range of ``x.dtype`` (ordinary data:
    no rescaling at all); otherwise the power-of-two exponent ``k`` with ``max |x| * 2**k`` in
    [0.5, 1) (features scaled by 1e20 overflow float32's squares, by 1e-25 underflow them)."""
    lo, hi = safe_range(x.dtype)
    top = float(sq.max()) if sq.numel() else 0.0
    if lo <= top <= hi:
        return 0
    m = torch.linalg.vector_norm(x, ord=float("inf"))
    return -int(pow2_exponents(m.reshape(1))[0]) if float(m) > 0 else 0


def unscale_(d: torch.Tensor, k: int, power: int) -> torch.Tensor:
    """``d * 2**(-power * k)`` in place: distances computed on features scaled by ``2**k``
    back in the features' units. Warns when values representable before become subnormal or
    0 in ``d.dtype`` (e.g. squared euclidean distances of features scaled by 1e-25 in float32:
    about 1e-50, below float32's range); values beyond its range become inf, which the callers
    report as an error."""
    if not k:
        return d
    shift = -power * k
    if shift < 0:
        tiny = torch.finfo(d.dtype).tiny
        lost = int(((d > 0) & (d < tiny * 2.0 ** (-shift))).sum()) if -shift < 1100 else int((d > 0).sum())
        if lost:
            warnings.warn(f"{lost} distance(s) are below the smallest normal {d.dtype} number "
                          f"({tiny:.3g}) and lose digits or become 0: the features are tiny "
                          "(max |x| about 2**" f"{-k}). Use dtype='float64' or rescale the features.",
                          RuntimeWarning, stacklevel=2)
    return mul_pow2_(d, shift)


def common_scale(sa, sb):
    """Two separately prepared euclidean blocks at one power-of-two scale: the smaller of the
    two exponents (the block of larger features decides; the other is scaled down, exactly, on
    a copy -- prepared blocks are cached). Ordinary data: both exponents 0, nothing is done."""
    ka, kb = sa[2], sb[2]
    if ka == kb:
        return sa, sb
    k = min(ka, kb)

    def to(state):
        x, _, own = state
        if own == k:
            return state
        x = mul_pow2_(x.clone(), k - own)
        return x, row_norms(x, squared=True), k
    return to(sa), to(sb)
