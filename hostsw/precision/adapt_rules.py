"""AdaPT's decision rules as pure functions (spec: shared/specs/adapt.md, paper §3.3).

Kept free of training state so each formula is tested on its own: gradient diversity, lookback and
resolution updates, the loss-driven strategy, push-down by a batched scan of a discrete KL
divergence, push-up from gradient diversity, and buffer bits. Precisions are ``(BW, FL)`` = (bits, frac).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from hostsw.fixedpoint import int_bounds, quantize, round_scaled

MAX_BW = 32
STRATEGIES = ("min", "mean", "max")


def gradient_diversity(count: int, acc_norm: float) -> float:
    """Eq. 3.5: Δs = lb / ||Σ g_k / ||g_k|| ||; >= 1 (triangle inequality), inf if acc is 0."""
    if acc_norm <= 0:
        return math.inf
    return count / acc_norm


def update_lookback(lb: int, diversity: float, lb_lwr: int, lb_upr: int, gamma: float) -> int:
    """lb_new = clip(ceil(lb_upr / Δs), lb_lwr, lb_upr); lb = ceil(γ·lb_new + (1-γ)·lb)."""
    lb_new = lb_upr if not math.isfinite(diversity) or diversity <= 0 else \
        min(max(math.ceil(lb_upr / diversity), lb_lwr), lb_upr)
    return math.ceil(gamma * lb_new + (1.0 - gamma) * lb)


def update_resolution(r: int, lb: int, lb_lwr: int, lb_upr: int, r_lwr: int, r_upr: int) -> int:
    """r += 1 at the longest lookback, r -= 1 at the shortest, clipped to [r_lwr, r_upr]."""
    if lb >= lb_upr:
        r += 1
    elif lb <= lb_lwr:
        r -= 1
    return min(max(r, r_lwr), r_upr)


def update_strategy(strategy: str, avg_loss: float, loss: float) -> str:
    """Escalate min -> mean -> max while the recent average loss is <= the current loss (learning
    stalls); fall back to min as soon as the loss improves on the average."""
    if abs(avg_loss) > abs(loss):
        return "min"
    return {"min": "mean", "mean": "max", "max": "max"}[strategy]


# --- push-down ----------------------------------------------------------------------------------
def histogram(x: torch.Tensor, lo: float, hi: float, bins: int) -> torch.Tensor:
    """Counts over ``bins`` equal bins spanning [lo, hi]; values outside go to the edge bins."""
    if hi <= lo:
        return torch.tensor([x.numel()], dtype=torch.float64)
    idx = torch.floor((x.double() - lo) * (bins / (hi - lo))).clamp_(0, bins - 1).long()
    return torch.bincount(idx.flatten(), minlength=bins).double()


def discrete_kl(p_counts: torch.Tensor, q_counts: torch.Tensor) -> float:
    """KL(P || Q) of two histograms in bits (eq. 3.2, log base 2); inf where P has mass and Q has
    none."""
    p = p_counts / p_counts.sum()
    q = q_counts / q_counts.sum()
    mask = p > 0
    if bool((q[mask] == 0).any()):
        return math.inf
    return float((p[mask] * torch.log2(p[mask] / q[mask])).sum())


def quantization_kl(w: torch.Tensor, bits: int, frac: int, resolution: int,
                    scope: str = "tensor") -> float:
    """KL (bits) between the r-bin histograms (same edges) of the quantized copy and the fp32
    weights, for one precision: the scalar definition ``candidate_kl`` batches."""
    w = _scoped(w, scope)
    wq = quantize(w, bits, frac, True, "nearest", "saturate_sym")
    lo, hi = float(w.min()), float(w.max())
    return discrete_kl(histogram(wq, lo, hi, resolution), histogram(w, lo, hi, resolution))


@dataclass(frozen=True)
class PushDownResult:
    bits: int
    frac: int
    #: KL(P || Q) of the result in bits (0: lossless at this resolution)
    kl_bits: float
    #: candidate precisions <BW, FL> searched
    candidates: int


PD_SCOPES = ("tensor", "first_slice")


def _scoped(w: torch.Tensor, scope: str) -> torch.Tensor:
    """The weights push-down histograms: all of them, or the first output slice w[0] (the
    authors' code, ``fpWeights[i][0]``)."""
    if scope == "first_slice" and w.dim() > 1:
        w = w[0]
    return w.detach().reshape(-1).double()


def _bins(x: torch.Tensor, lo: float, hi: float, r: int) -> torch.Tensor:
    """Bin index of each value, exactly as ``histogram`` bins it."""
    return torch.floor((x - lo) * (r / (hi - lo))).clamp_(0, r - 1).long()


def _saturated_hist(xs: torch.Tensor, fr: torch.Tensor, lo: float, hi: float,
                    r: int) -> torch.Tensor:
    """[len(fr), 32, r] histograms of the sorted weights ``xs`` quantized (nearest, narrow
    saturation) at FL = fr[i] and BW = 1..32, without quantizing a single weight.

    Rounding, saturation and binning are monotone, so the count of weights whose quantized value
    falls in bins 0..j is the count of weights below a threshold: with K_j the largest integer k
    whose value k / 2**FL lies in bins <= j, the weights that round to <= K_j are those below
    (K_j + 1/2) / 2**FL, plus the ties at it if nearest rounding sends K_j + 1/2 down (decided by
    ``round_scaled`` itself). Saturation to |k| <= m moves K_j >= m to "all" and K_j < -m to
    "none". One sort plus O(F·r·log N) instead of O(F·N) work per call.
    """
    dev, n = xs.device, xs.numel()
    scale = torch.pow(2.0, fr.double())[:, None]                  # [F, 1]
    edge = torch.arange(1, r, dtype=torch.float64, device=dev) * ((hi - lo) / r) + lo
    k0 = torch.floor(edge[None, :] * scale)                       # [F, r-1], near K_j
    near = k0[..., None] + torch.arange(-2.0, 3.0, device=dev)    # [F, r-1, 5]
    inside = _bins(near / scale[..., None], lo, hi, r) <= torch.arange(r - 1, device=dev)[:, None]
    k_top = torch.where(inside, near, -math.inf).amax(-1)         # K_j
    half = k_top + 0.5
    t = half / scale
    below = torch.searchsorted(xs, t.contiguous(), right=False)
    ties = torch.searchsorted(xs, t.contiguous(), right=True) - below
    down = round_scaled(half.clone(), "nearest") <= k_top         # ties go to K_j
    cum = (below + torch.where(down, ties, 0)).double()           # [F, r-1]: weights in bins <= j
    m = torch.tensor([int_bounds(b, True, narrow=True)[1] for b in range(1, MAX_BW + 1)],
                     dtype=torch.float64, device=dev)[None, :, None]
    kj = k_top[:, None, :]
    cum = torch.where(kj >= m, float(n), torch.where(kj < -m, 0.0, cum[:, None, :]))
    cum = torch.cat([cum, torch.full_like(cum[..., :1], float(n))], -1)   # [F, 32, r]
    return torch.diff(cum, dim=-1, prepend=torch.zeros_like(cum[..., :1]))


def candidate_kl(w: torch.Tensor, resolution: int, frac_floor: int = 4, scope: str = "tensor",
                 stop_at: float | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """KL(P || Q) in bits, P the r-bin histogram of the quantized copy and Q that of the fp32
    weights, for EVERY candidate ``<BW, FL>`` (frac_floor <= FL <= BW <= 32, BW >= 2), batched on
    w's device: one sort and O(F·32·r) work instead of one quantization per candidate.

    Returns ``(kl [F, B], equal [F, B], fracs [F])``; row f is FL = fracs[f], column b is BW = b + 1
    (invalid cells: inf / False). ``equal`` is exact histogram equality (KL = 0, no rounding).
    ``stop_at`` (a KL tolerance) stops once no larger FL can give fewer bits (FL <= BW): the rows
    not scored stay inf / False.
    """
    x = _scoped(w, scope)
    dev, r, n = x.device, int(resolution), x.numel()
    fracs = torch.arange(frac_floor, MAX_BW + 1, device=dev)
    bw = torch.arange(1, MAX_BW + 1, device=dev)
    valid = bw[None, :] >= torch.clamp(fracs[:, None], min=2)
    kl = torch.full(valid.shape, math.inf, dtype=torch.float64, device=dev)
    equal = torch.zeros_like(valid)
    lo, hi = float(x.min()), float(x.max())
    if not hi > lo:  # one value: a single bin, every precision keeps the histogram
        return kl.masked_fill_(valid, 0.0), valid.clone(), fracs
    q_hist = _bins(x, lo, hi, r).bincount(minlength=r).double()
    xs = x.sort().values
    rows = 8
    for f0 in range(0, len(fracs), rows):
        sl = slice(f0, f0 + rows)
        hist = _saturated_hist(xs, fracs[sl], lo, hi, r)
        eq = (hist == q_hist).all(-1) & valid[sl]
        p = hist / n
        terms = torch.where(p > 0, p * torch.log2(p / (q_hist / n)), torch.zeros_like(p))
        kl[sl] = torch.where(eq, 0.0, torch.where(valid[sl], terms.sum(-1), math.inf))
        equal[sl] = eq
        if stop_at is not None and f0 + rows < len(fracs):
            ok = equal if stop_at <= 0 else kl <= stop_at
            hits = ok.any(0).nonzero()
            if len(hits) and int(hits[0]) + 1 < int(fracs[f0 + rows]):
                break
    return kl, equal, fracs


def push_down(w: torch.Tensor, bits: int, frac: int, resolution: int, frac_floor: int = 4,
              scope: str = "tensor", kl_max: float = 0.0) -> PushDownResult:
    """Smallest ``<BW_min, FL_min>`` (fewest bits, then the coarsest grid) whose quantized copy
    loses at most ``kl_max`` bits per weight at ``resolution`` (0: no information, the paper).

    Every candidate is scored (``candidate_kl``): losslessness is not monotone in FL, so the
    bisection of the paper and the authors' code can miss the smallest. If none qualifies the
    least lossy candidate is taken (at 32 bits with the current integer bits if all are inf).
    """
    kl, equal, fracs = candidate_kl(w, resolution, frac_floor, scope, stop_at=kl_max)
    ok = equal if kl_max <= 0 else (kl <= kl_max)
    cells = ok.T.nonzero()  # (BW - 1, f) in row-major order: fewest bits first, then smallest FL
    if len(cells):
        b, f = (int(v) for v in cells[0])
    elif bool(torch.isfinite(kl).any()):
        flat = int(kl.T.reshape(-1).argmin())  # first minimum: fewest bits, then smallest FL
        b, f = divmod(flat, len(fracs))
    else:
        fl = min(max(MAX_BW - (bits - frac), int(fracs[0])), MAX_BW)
        b, f = MAX_BW - 1, fl - int(fracs[0])
    scored = sum(MAX_BW - max(v, 2) + 1 for v in fracs.tolist())
    return PushDownResult(b + 1, int(fracs[f]), float(kl[f, b]), scored)


# --- push-up and buffer bits ----------------------------------------------------------------------
def push_up_step(diversity: float, fl_min: int, strategy: str) -> int:
    """Suggested FL increase s from gradient diversity (paper's s1, s2; code's x = ln Δs - 1).

    x <= 0 (gradients aligned, Δs <= e) or a non-finite Δs gives the minimal step s = 1.
    """
    if not (0 < diversity < math.inf):
        return 1
    x = math.log(diversity) - 1.0
    if x <= 0:
        return 1
    s1 = max(math.ceil(1.0 / (x * x)), 1)
    s2 = max(min(math.ceil(32.0 * x * x), 32) - fl_min, 0)
    if strategy == "min":
        return min(s1, s2)
    if strategy == "mean":
        return math.ceil(0.5 * (s1 + s2))
    return max(s1, s2)


def push_up(bw_min: int, fl_min: int, step: int) -> tuple[int, int]:
    """FL = min(FL_min + s, 32); BW = min(max(BW_min, FL) + 1, 32)."""
    fl = min(fl_min + step, MAX_BW)
    return min(max(bw_min, fl) + 1, MAX_BW), fl


def apply_buffer_bits(bw: int, fl: int, buff: int) -> tuple[int, int]:
    """FL = min(FL, 32 - buff); BW = max(min(FL + buff, 32), BW): integer headroom for updates."""
    fl = min(fl, MAX_BW - buff)
    return max(min(fl + buff, MAX_BW), bw), fl
