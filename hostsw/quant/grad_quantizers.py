"""Gradient (error) quantizers for the backward pass: PTQ, PSQ and BHQ (FQT, Chen et al. 2020).

The error tensor ``g`` of a layer's output has the batch as its first dimension; a *sample* (a
*row*) is ``g[i]`` flattened. All three quantizers are unbiased with stochastic rounding (the
counter-based hash dither of ``hostsw.fixedpoint.quantize``, never ``torch.rand``), and differ in
how they choose scales, hence in variance:

``ptq``  per-tensor: one power-of-two scale from max |g| (what ``GradQuant`` always did).
``psq``  per-sample power-of-two scales (block floating point, one shared exponent per sample):
         row i is quantized on ``<bits, frac_i>`` with frac_i from max |g[i]|. A fixed-point MAC
         array supports it with one shift per sample; variance sum_i range_i^2 instead of
         N * max_i range_i^2.
``bhq``  block Householder: the largest rows are each grouped with several small rows; the group
         is pre-scaled (leader row by k) and mixed by a Householder reflection
         H = I - 2 v v^T / v^T v, v = e_1 - 1/sqrt(n), which maps e_1 onto the all-ones direction,
         so the leader is spread over the n rows of its group. The mixed rows are quantized per
         sample (PSQ) and mixed back: g_hat = diag(1/k) H Q(H diag(k) g). H is orthogonal and its
         own inverse, so g_hat is unbiased; the leader row ends up as the average of n independent
         stochastic roundings, which divides its variance by about n at the price of a little
         resolution in the small rows. Group sizes follow the leaders' magnitudes; when the
         variance model predicts no gain over PSQ (no heavy tail), BHQ is PSQ.

Everything is deterministic for a given (seed, tensor_id, step), so runs resume exactly.
"""

from __future__ import annotations

import math

import torch

from hostsw.errors import ConfigError
from hostsw.fixedpoint import FRAC_LIMIT, frac_for_range, quantize
from hostsw.quant.fused import quantize_rows

GRAD_QUANTIZERS: tuple[str, ...] = ("ptq", "psq", "bhq")


def check_grad_quantizer(name) -> str:
    if name not in GRAD_QUANTIZERS:
        raise ConfigError(f"unknown grad_quantizer {name!r}: use one of {', '.join(GRAD_QUANTIZERS)} "
                          "(per-tensor, per-sample power-of-two, block Householder)")
    return name


# --- per-row power-of-two scales ---------------------------------------------------------------
def row_fracs(max_abs: torch.Tensor, bits: int, signed: bool = True) -> torch.Tensor:
    """``frac_for_range`` of each element of ``max_abs`` (int64, same device), vectorized."""
    if bits == 1 and signed:  # the 1-bit special case of frac_for_range; rare, keep it exact
        return torch.tensor([frac_for_range(v, bits, signed) for v in max_abs.tolist()],
                            dtype=torch.int64, device=max_abs.device)
    m = max_abs.detach().to(torch.float64)
    max_k = float((1 << (bits - 1)) - 1 if signed else (1 << bits) - 1)
    pos = m > 0
    safe = torch.where(pos, m, torch.ones_like(m))
    f = -torch.ceil(torch.log2(safe) - math.log2(max_k)).to(torch.int64)
    mk = torch.full_like(m, max_k)
    # log2 may be off by one ulp near powers of two: make sure max_abs really fits, and no finer
    # grid would also hold it (the same fix-ups as frac_for_range)
    f = torch.where(torch.ldexp(mk, -f) < safe, f - 1, f)
    f = torch.where(torch.ldexp(mk, -(f + 1)) >= safe, f + 1, f)
    f = f.clamp(-FRAC_LIMIT, FRAC_LIMIT)
    zero = min(bits - 1, FRAC_LIMIT) if signed else min(bits, FRAC_LIMIT)
    return torch.where(pos, f, torch.full_like(f, zero))


def _rows(g: torch.Tensor) -> torch.Tensor:
    return g.reshape(g.shape[0], -1) if g.dim() > 1 else g.reshape(1, -1)


def quantize_ptq(g: torch.Tensor, bits: int, seed: int = 0, tensor_id: int = 0, step: int = 0,
                 rounding: str = "stochastic") -> tuple[torch.Tensor, int]:
    """Per-tensor power-of-two scale; returns (quantized g, frac)."""
    max_abs = float(g.abs().max()) if g.numel() else 0.0
    frac = frac_for_range(max_abs, bits)
    return quantize(g, bits, frac, True, rounding, "saturate", seed, tensor_id, step), frac


def quantize_psq(g: torch.Tensor, bits: int, seed: int = 0, tensor_id: int = 0, step: int = 0,
                 rounding: str = "stochastic") -> tuple[torch.Tensor, int]:
    """Per-sample power-of-two scales; returns (quantized g, the coarsest row's frac).

    Row i is scaled by 2**frac_i (exact), rounded to integers of ``bits`` bits with the dither of
    the flat element index, and scaled back: the same numbers as ``quantize(g[i], bits, frac_i)``
    with the whole tensor's dither stream. With equal fracs it is bit-identical to PTQ.
    """
    if g.numel() == 0:
        return g.clone(), min(bits - 1, FRAC_LIMIT)
    rows = _rows(g)
    fracs = row_fracs(rows.abs().amax(dim=1), bits)
    k = quantize_rows(rows, fracs, bits, rounding, seed, tensor_id, step)
    return k.reshape(g.shape), int(fracs.min())


# --- block Householder ---------------------------------------------------------------------------
#: a leader contributes at least this fraction of its magnitude per mixed row (keeps k > 0)
_MIN_SHARE = 2.0 ** -12


def _group_cost(lam: float, mu: float, n: int) -> tuple[float, float]:
    """(variance model, leader pre-scale k) for a leader of range lam with n-1 members <= mu.

    Total variance ~ sum over mixed rows of range^2 x the column norms of diag(1/k) H:
    (c + mu)^2 (lam^2 / (n c^2) + n - 1), with c = k lam / sqrt(n) the leader's share per row;
    minimal at c = mu * (lam^2 / (n (n-1) mu^2))^(1/3).
    """
    mu = max(mu, lam * _MIN_SHARE)
    c = mu * (lam * lam / (n * (n - 1) * mu * mu)) ** (1.0 / 3.0)
    cost = (c + mu) ** 2 * (lam * lam / (n * c * c) + n - 1)
    return cost, c * math.sqrt(n) / lam


def plan_groups(mags: list[float]) -> list[tuple[int, list[int], float]]:
    """Householder groups for row magnitudes ``mags``: [(leader, members, k)], [] = plain PSQ.

    Rows are sorted by magnitude; for G = 1, 2, 4, ... leaders, the other rows are shared out in
    proportion to the leaders' magnitudes (largest leader gets the smallest rows), and the plan
    with the lowest modelled variance wins, PSQ's sum of squared ranges included.
    """
    n_rows = len(mags)
    order = sorted(range(n_rows), key=lambda i: (-mags[i], i))
    best_cost = sum(m * m for m in mags)
    best: list[tuple[int, list[int], float]] = []
    g = 1
    while g <= n_rows // 2:
        leaders, rest = order[:g], order[g:]
        lams = [mags[i] for i in leaders]
        if lams[-1] <= 0:
            break
        total = sum(lams)
        sizes = [max(1, int(len(rest) * lam / total)) for lam in lams]
        while sum(sizes) > len(rest):  # rounding up of tiny shares: take back from the largest
            sizes[sizes.index(max(sizes))] -= 1
        plan, cost, pos = [], 0.0, len(rest)
        for leader, lam, size in zip(leaders, lams, sizes):
            members = rest[pos - size:pos]  # the largest leader takes the smallest rows
            pos -= size
            mu = max((mags[i] for i in members), default=0.0)
            c, k = _group_cost(lam, mu, size + 1)
            plan.append((leader, members, k))
            cost += c
        cost += sum(mags[i] ** 2 for i in rest[:pos])  # rows left out stay PSQ
        if cost < best_cost:
            best_cost, best = cost, plan
        g *= 2
    return best


def _householder(x: torch.Tensor, v: torch.Tensor, group: torch.Tensor, vv: torch.Tensor,
                 n_groups: int) -> torch.Tensor:
    """Apply each group's H = I - 2 v v^T / v^T v to the rows of x (rows outside groups: v = 0)."""
    s = torch.zeros(n_groups, x.shape[1], dtype=x.dtype, device=x.device)
    s.index_add_(0, group, x * v[:, None])
    return x - (2.0 * v / vv[group])[:, None] * s[group]


def quantize_bhq(g: torch.Tensor, bits: int, seed: int = 0, tensor_id: int = 0, step: int = 0,
                 rounding: str = "stochastic") -> tuple[torch.Tensor, int]:
    """Block Householder quantizer; returns (g_hat, the coarsest mixed row's frac)."""
    if g.numel() == 0:
        return g.clone(), min(bits - 1, FRAC_LIMIT)
    rows = _rows(g)
    mags = rows.abs().amax(dim=1).tolist()
    plan = plan_groups(mags)
    if not plan:
        return quantize_psq(g, bits, seed, tensor_id, step, rounding)
    n_rows, n_groups = rows.shape[0], len(plan) + 1
    group = [len(plan)] * n_rows  # the last group id collects the rows that are not mixed
    v = [0.0] * n_rows
    pre = [1.0] * n_rows
    vv = [1.0] * n_groups
    for gi, (leader, members, k) in enumerate(plan):
        inv = 1.0 / math.sqrt(len(members) + 1)
        group[leader], v[leader], pre[leader] = gi, 1.0 - inv, k
        for i in members:
            group[i], v[i] = gi, -inv
        vv[gi] = 2.0 - 2.0 * inv
    dev, dt = rows.device, rows.dtype
    group_t = torch.tensor(group, dtype=torch.int64, device=dev)
    v_t = torch.tensor(v, dtype=dt, device=dev)
    vv_t = torch.tensor(vv, dtype=dt, device=dev)
    pre_t = torch.tensor(pre, dtype=dt, device=dev)[:, None]
    mixed = _householder(rows * pre_t, v_t, group_t, vv_t, n_groups)
    q, frac = quantize_psq(mixed, bits, seed, tensor_id, step, rounding)
    out = _householder(q, v_t, group_t, vv_t, n_groups).div_(pre_t)
    return out.reshape(g.shape), frac


_QUANTIZE = {"ptq": quantize_ptq, "psq": quantize_psq, "bhq": quantize_bhq}


def quantize_grad(name: str, g: torch.Tensor, bits: int, seed: int = 0, tensor_id: int = 0,
                  step: int = 0, rounding: str = "stochastic") -> tuple[torch.Tensor, int]:
    """Quantize an error tensor with the named quantizer; returns (g_hat, frac for the record)."""
    return _QUANTIZE[check_grad_quantizer(name)](g, bits, seed, tensor_id, step, rounding)
