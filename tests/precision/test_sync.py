"""hostsw.precision.sync: identity in one process; rank 0's value / the sum over ranks in a real
2-process gloo group; AdaPT takes rank 0's decision even when a rank's inputs differ."""

import multiprocessing as mp
import socket

import pytest
import torch

from hostsw.precision import sync


def test_without_a_process_group_values_pass_through():
    value = (3, 5, 8, 4)
    assert sync.agree(value) is value
    out = sync.all_reduce_sum(torch.tensor([1.5, 2.0], dtype=torch.float32))
    assert out.dtype == torch.float64 and out.tolist() == [1.5, 2.0]
    assert not sync.active()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _adapt_decision(scale: float) -> tuple:
    """(lb, r, bits, frac) of one AdaPT decision on a 6x4 layer whose weights are ``scale`` times
    a fixed pattern (push-down depends on the weights' range)."""
    from hostsw.precision import PrecisionBoard, build_controller
    from hostsw.quant.layers import FxpLinear
    torch.manual_seed(0)
    layer = FxpLinear(4, 6)
    with torch.no_grad():
        layer.weight.mul_(scale)
    board = PrecisionBoard({"fc": layer})
    ctrl = build_controller("adapt", {"lb_lwr": 1, "lb_upr": 2}, board)
    ctrl.configure()
    ctrl.on_train_begin()
    st = ctrl.layers["fc"]
    ctrl.acc["fc"].fill_(0.1)
    st.count = st.lb
    ctrl._decide("fc", st)
    return st.lb, st.r, st.bits, st.frac


def _worker(rank: int, port: int, queue) -> None:
    import torch.distributed as dist
    try:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                world_size=2)
        agreed = sync.agree({"rank": rank, "value": 7 if rank == 0 else 3})
        summed = sync.all_reduce_sum(torch.tensor([1.0, 2.0]) if rank == 0
                                     else torch.tensor([10.0, 20.0])).tolist()
        # rank 1's weights are 64x rank 0's: on its own it would push down to another frac
        decision = _adapt_decision(1.0 if rank == 0 else 64.0)
        dist.destroy_process_group()
        queue.put((rank, agreed, summed, decision))
    except BaseException as e:  # report instead of hanging the test
        queue.put((rank, "error", repr(e), None))


def test_two_ranks_agree_on_rank_0s_values_and_decisions():
    # spawn, not fork: a parent that already ran torch's OpenMP thread pool (an earlier test in
    # the same pytest process) leaves a forked child hanging in its first parallel torch op
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_worker, args=(r, port, queue)) for r in range(2)]
    for p in procs:
        p.start()
    results = dict((r[0], r[1:]) for r in (queue.get(timeout=120) for _ in procs))
    for p in procs:
        p.join(timeout=30)
    assert all(results[r][0] != "error" for r in results), results
    for r in (0, 1):
        agreed, summed, decision = results[r]
        assert agreed == {"rank": 0, "value": 7}
        assert summed == [11.0, 22.0]
    # both ranks hold rank 0's decision, which is what rank 0 decides alone ...
    assert results[1][2] == results[0][2] == _adapt_decision(1.0)
    # ... and not what rank 1's own weights would have given (so the agreement did something)
    assert _adapt_decision(64.0) != _adapt_decision(1.0)
