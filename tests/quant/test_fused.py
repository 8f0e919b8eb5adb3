"""The one-pass quantizer (hostsw.quant.fused) is bit-identical to hostsw.fixedpoint's reference.

The reference (``fixedpoint._quantize_reference``) is the oracle-checked implementation
(tests/fixedpoint check it against ap_fixed); here every result of the fast path is compared with
it bit pattern for bit pattern (so -0 vs +0 and NaN payloads count), on random tensors and on edge
values, for every rounding and saturating overflow, and end to end: the same training run with
the fast path on and off ends with identical weights.
"""

import itertools

import pytest
import torch

from hostsw import fixedpoint
from hostsw.fixedpoint import FixedPoint
from hostsw.quant import fused

pytestmark = pytest.mark.csim  # the fast path needs the host C++ compiler


@pytest.fixture(scope="module")
def lib():
    got = fused.library()
    assert got is not None, "the fused quantizer did not build (see the note on stderr)"
    return got


def _bits_of(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous().view(torch.int32 if t.dtype == torch.float32 else torch.int64)


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(_bits_of(a), _bits_of(b))


def _edge_values(dtype: torch.dtype, frac: int) -> torch.Tensor:
    fi = torch.finfo(dtype)
    step = 2.0 ** -frac
    vals = [0.0, -0.0, fi.tiny, -fi.tiny, fi.tiny * fi.eps, -fi.tiny * fi.eps,  # subnormals
            fi.tiny * fi.eps * 3, -fi.tiny * fi.eps * 7, fi.max, -fi.max, 1e30, -1e30,
            float("inf"), float("-inf"), float("nan"), 2.0 ** 24, -(2.0 ** 24) - 2.0,
            2.0 ** 60, -(2.0 ** 97), 2.0 ** 100]
    for k in range(-6, 7):  # exact ties and their neighbours on the grid
        vals += [(k + 0.5) * step, (k + 0.25) * step, k * step]
    t = torch.tensor(vals, dtype=torch.float64).to(dtype)
    return torch.cat([t, torch.nextafter(t, torch.full_like(t, float("inf")))])


CASES = list(itertools.product(
    (torch.float32, torch.float64), fixedpoint.ROUNDINGS, ("saturate", "saturate_sym"),
    ((1, 0), (2, -3), (8, 4), (8, 12), (16, 30), (24, 8)), (True, False)))


@pytest.mark.parametrize("dtype,rounding,overflow,bf,signed", CASES)
def test_fused_matches_reference(lib, dtype, rounding, overflow, bf, signed):
    bits, frac = bf
    fp = FixedPoint(bits, frac, signed)
    gen = torch.Generator().manual_seed(bits * 1000 + frac)
    rand = [torch.randn(n, generator=gen, dtype=torch.float64) * scale
            for n, scale in ((1000, fp.max), (777, fp.step), (333, 1e-30), (500, 2.0 ** 40))]
    for i, x in enumerate(rand + [_edge_values(dtype, frac)]):
        x = x.to(dtype)
        for seed, tid, step in ((0, 0, 0), (7, 3, 12345)):
            want = fixedpoint._quantize_reference(x, fp, rounding, overflow, seed, tid, step)
            got = fused.try_quantize(x, fp, rounding, overflow, seed, tid, step)
            assert got is not None
            bad = (_bits_of(got) != _bits_of(want)).nonzero()
            assert bad.numel() == 0, (i, x[bad[:3, 0]], got[bad[:3, 0]], want[bad[:3, 0]])


def test_large_multithreaded_and_strided_input(lib):
    """Above 2**18 elements the work is split across threads; shapes and strides are kept."""
    fp = FixedPoint(8, 3)
    x = (torch.randn(601, 517, generator=torch.Generator().manual_seed(1)) * 20).t()  # strided
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        for rounding in fixedpoint.ROUNDINGS:
            want = fixedpoint._quantize_reference(x, fp, rounding, "saturate", 5, 1, 2)
            got = fused.try_quantize(x, fp, rounding, "saturate", 5, 1, 2)
            assert got.shape == (517, 601) and _same(got.contiguous(), want.contiguous())
    finally:
        torch.set_num_threads(threads)


def test_quantize_dispatches_to_fast_path_for_0d_and_numpy(lib):
    x = torch.tensor(2.5)
    assert fixedpoint.quantize(x, 8, 0).item() == 2.0  # half to even, hand-derived
    assert fixedpoint.quantize(x.numpy(), 8, 0, rounding="floor").item() == 2.0
    assert fixedpoint.quantize(torch.tensor([-0.3, 200.0]), 8, 0, rounding="floor").tolist() == \
        [-1.0, 127.0]


def test_psq_rows_match_reference(lib, monkeypatch):
    gen = torch.Generator().manual_seed(3)
    rows = torch.randn(37, 211, generator=gen) * torch.logspace(-6, 3, 37)[:, None]
    rows[0, :5] = torch.tensor([0.0, -0.0, float("inf"), float("nan"), 1e-45])
    fracs = torch.randint(-5, 40, (37,), generator=gen)
    for rounding in fixedpoint.ROUNDINGS:
        got = fused.quantize_rows(rows, fracs, 8, rounding, 9, 4, 77)
        monkeypatch.setenv("HOSTSW_FUSED", "0")
        want = fused.quantize_rows(rows, fracs, 8, rounding, 9, 4, 77)
        monkeypatch.delenv("HOSTSW_FUSED")
        assert _same(got, want)


def test_declines_what_it_does_not_implement(lib):
    fp = FixedPoint(8, 4)
    x = torch.randn(10)
    assert fused.try_quantize(x, fp, "nearest", "wrap") is None
    assert fused.try_quantize(x.half(), fp, "nearest", "saturate") is None
    assert fused.try_quantize(torch.empty(0), fp, "nearest", "saturate") is None
    assert fused.try_quantize(torch.randn(3, device="meta"), fp, "nearest", "saturate") is None
    assert fused.try_quantize(x.requires_grad_(), fp, "nearest", "saturate") is None


def test_env_forces_reference(lib, monkeypatch):
    monkeypatch.setenv("HOSTSW_FUSED", "0")
    x = torch.randn(100)
    assert fused.try_quantize(x, FixedPoint(8, 4), "stochastic", "saturate") is None
    assert _same(fixedpoint.quantize(x, 8, 4, rounding="stochastic"),
                 fixedpoint._quantize_reference(x, FixedPoint(8, 4), "stochastic", "saturate",
                                                None, 0, 0))


def test_build_failure_falls_back_with_one_note(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(fused, "_state", {})
    monkeypatch.setattr(fused, "_SOURCE", tmp_path / "missing.cpp")
    monkeypatch.setenv("HOSTSW_CACHE_DIR", str(tmp_path / "cache"))
    x = torch.randn(50)
    for _ in range(3):
        assert fused.try_quantize(x, FixedPoint(8, 4), "nearest", "saturate") is None
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fused quantizer unavailable" in err[0] and "pure-torch" in err[0]
    assert _same(fixedpoint.quantize(x, 8, 4), torch.round(x * 16).clamp(-128, 127) / 16)


def _train_weights(tmp_path, name: str, preset: str, steps: int, **over):
    from hostsw.train import TrainOptions, Trainer, load_config
    from hostsw.train.rundir import start_fresh
    cfg = load_config(preset)
    cfg.limit_train, cfg.limit_test = steps * cfg.batch_size, 64
    for k, v in over.items():
        setattr(cfg.controller, k, v)
    trainer = Trainer(cfg, start_fresh(tmp_path / name, cfg),
                      TrainOptions(progress=False, log=lambda s: None))
    trainer.controller.on_train_begin()
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.epoch = 1
    trainer.train_epoch()
    after = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    assert any(not torch.equal(before[k], after[k]) for k in after if k.endswith("weight"))
    return after


@pytest.mark.parametrize("preset", ["lenet5-mnist-static8", "lenet5-mnist-adapt"])
def test_training_identical_with_fast_path_on_and_off(lib, tmp_path, monkeypatch, preset):
    calls = []
    real_run = fused._run
    monkeypatch.setattr(fused, "_run", lambda *a: calls.append(1) or real_run(*a))
    on = _train_weights(tmp_path, "on", preset, 3)
    assert len(calls) > 10  # the fast path really ran (forward and gradient quantizers)
    monkeypatch.setenv("HOSTSW_FUSED", "0")
    n_on = len(calls)
    off = _train_weights(tmp_path, "off", preset, 3)
    assert len(calls) == n_on  # and really did not
    assert on.keys() == off.keys()
    for k in on:
        assert torch.equal(on[k], off[k]), k


def _threshold_matches_reference(lib, patterns: torch.Tensor) -> None:
    """The C++ float32 stochastic threshold equals ``stochastic_threshold_i32`` (round_scaled's)
    on every finite float32 with these bit patterns (inf/NaN: the result is inf/NaN whatever the
    threshold, and the whole-quantizer tests cover those)."""
    s = patterns.view(torch.float32)
    want = fixedpoint.stochastic_threshold_i32(s)
    got = torch.empty_like(patterns)
    lib.hostsw_fq_threshold_f32(s.data_ptr(), got.data_ptr(), s.numel())
    bad = ((got != want) & torch.isfinite(s)).nonzero()
    assert bad.numel() == 0, (s[bad[:3, 0]], got[bad[:3, 0]], want[bad[:3, 0]])


def test_stochastic_threshold_sampled_float32(lib):
    """Every exponent and sign with random mantissas, plus both ends of each binade."""
    gen = torch.Generator().manual_seed(5)
    top = torch.arange(512, dtype=torch.int32) << 23  # sign and exponent
    mant = torch.randint(0, 1 << 23, (512, 4096), generator=gen, dtype=torch.int32)
    mant[:, :4] = torch.tensor([0, 1, (1 << 23) - 2, (1 << 23) - 1], dtype=torch.int32)
    _threshold_matches_reference(lib, (top[:, None] | mant).reshape(-1))


@pytest.mark.slow
def test_stochastic_threshold_exhaustive_float32(lib):
    """All 2**32 float32 bit patterns: the float32/uint32 threshold of the fused kernel is exact."""
    chunk = 1 << 24
    for start in range(-(1 << 31), 1 << 31, chunk):
        _threshold_matches_reference(lib, torch.arange(start, start + chunk, dtype=torch.int32))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_tensor_range_matches_aminmax(lib, dtype):
    gen = torch.Generator().manual_seed(8)
    threads = torch.get_num_threads()
    cases = [torch.randn(270001, generator=gen, dtype=dtype) * 1e3,  # above the threading size
             torch.randn(301, 517, generator=gen, dtype=dtype).t(),  # strided
             torch.tensor([float("inf"), -3.0, 1e-45, -0.0], dtype=dtype),
             torch.tensor([2.5], dtype=dtype), -torch.rand(9, generator=gen, dtype=dtype)]
    try:
        torch.set_num_threads(2)
        for x in cases:
            lo, hi = torch.aminmax(x)
            assert fused.tensor_range(x) == (lo.item(), hi.item())
            assert fused.tensor_range(x.requires_grad_()) == (lo.item(), hi.item())
    finally:
        torch.set_num_threads(threads)
    x = torch.tensor([1.0, float("nan"), -2.0], dtype=dtype)  # torch's NaN propagation
    lo, hi = fused.tensor_range(x)
    assert lo != lo and hi != hi


def test_clip_mask_decision_matches_the_mask(lib):
    """The STE's "is a gradient mask needed" test on Python floats decides as the float32 mask
    compares, also where the bounds are not float32 numbers (bits > 24)."""
    from hostsw.quant.tensor_quant import ActTensorQuant, _clip_bounds
    gen = torch.Generator().manual_seed(4)
    for bits, signed in ((8, False), (8, True), (26, True), (32, True), (32, False)):
        q = ActTensorQuant(bits, 0, signed=signed)
        q.train()
        fp = q.fixed_point()
        lo, hi = _clip_bounds(fp, q.overflow)
        for edge in (lo, hi):
            near = torch.tensor([edge], dtype=torch.float64).float()
            for x0 in (near, torch.nextafter(near, torch.tensor([-1e40])),
                       torch.nextafter(near, torch.tensor([1e40]))):
                x = torch.cat([x0, torch.rand(5, generator=gen) * fp.max])
                q.current_fixed_point(x)  # frac pinned: no range measured
                q.__dict__["_range"] = fused.tensor_range(x)
                inside = bool(((x >= lo) & (x <= hi)).all())
                assert q._needs_clip_mask(x, fp) == (not inside), (bits, signed, x0)


def test_auto_frac_guess_hits_and_misses_match_reference(lib, monkeypatch):
    """An auto-frac quantizer quantizes with the previous step's frac and checks it against the
    range of the same pass: hits, misses (the range moved by powers of two), stochastic and
    nearest, with and without autograd, all equal the reference path's values and gradients."""
    from hostsw.quant.tensor_quant import ActTensorQuant, FixedPointTensorQuant
    gen = torch.Generator().manual_seed(6)
    base = torch.randn(300, 301, generator=gen)  # above the threading size
    scales = [1.0, 1.1, 3.0, 0.2, 0.2, 40.0, 1e-3]

    def run(fast: bool):
        if not fast:
            monkeypatch.setenv("HOSTSW_FUSED", "0")
        outs = []
        for q in (FixedPointTensorQuant(8, None, rounding="stochastic", tensor_id=3),
                  ActTensorQuant(6, None, signed=False, tensor_id=5)):
            q.train()
            for s in scales:
                x = (base * s).requires_grad_()
                y = q.quantize(x)
                y.backward(torch.ones_like(y))
                outs += [y.detach(), x.grad, q.frac.clone()]
                with torch.no_grad():
                    outs.append(q.quantize(base * s))
        monkeypatch.delenv("HOSTSW_FUSED", raising=False)
        return outs

    got, want = run(True), run(False)
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert _same(a, b)
