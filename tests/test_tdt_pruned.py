"""The simple and pruned TDT losses (rnnt_loss_tdt_simple, rnnt_loss_tdt_pruned)
and the label_logprobs mode of the duration lattice behind them: against
rnnt_loss_tdt (itself checked against tests/duration_reference.py) and
against a float64 DP over the prune windows written here."""

import pytest
import torch
from torch import Tensor

import rnnt_ops as R

F64 = torch.float64
BLANK = 0


def joiner_batch(B, T, S, C, D, seed, ragged=True):
    """lm, am, lm_duration, am_duration (float64 leaves), symbols in [1, C),
    boundary rows (0, 0, U_b, T_b): item 0 the whole lattice."""
    g = torch.Generator().manual_seed(seed)

    def leaf(*shape):
        return torch.randn(*shape, generator=g, dtype=F64).requires_grad_()

    lm, am = leaf(B, S + 1, C), leaf(B, T, C)
    lm_d, am_d = leaf(B, S + 1, D), leaf(B, T, D)
    symbols = torch.randint(1, C, (B, S), generator=g)
    rows = [[0, 0, S, T]]
    for _ in range(B - 1):
        T_b = int(torch.randint(1, T + 1, (1,), generator=g)) if ragged else T
        U_b = int(torch.randint(0, S + 1, (1,), generator=g)) if ragged else S
        rows.append([0, 0, U_b, T_b])
    return lm, am, lm_d, am_d, symbols, torch.tensor(rows)


def full_tdt(lm, am, lm_d, am_d, symbols, durations, boundary, **options):
    return R.rnnt_loss_tdt(am[:, :, None] + lm[:, None], am_d[:, :, None] + lm_d[:, None],
                           symbols, BLANK, durations, boundary, **options)


def pruned_inputs(lm, am, lm_d, am_d, ranges):
    """The pruned joiners' outputs: logits and duration logits in the windows."""
    am_p, lm_p = R.do_rnnt_pruning(am, lm, ranges)
    am_dp, lm_dp = R.do_rnnt_pruning(am_d, lm_d, ranges)
    return am_p + lm_p, am_dp + lm_dp


def full_windows(B, T, S):
    return torch.arange(S + 1).expand(B, T, S + 1).contiguous()


def assert_close(a, b, tol=1e-9):
    torch.testing.assert_close(a, b, rtol=tol, atol=tol)


def assert_same_grads(loss_a, loss_b, inputs, tol=1e-9):
    for ga, gb in zip(torch.autograd.grad(loss_a, inputs, allow_unused=True),
                      torch.autograd.grad(loss_b, inputs, allow_unused=True)):
        assert_close(ga, gb, tol)


# ---- the float64 reference: the TDT lattice restricted to windows ----------

def windowed_log_p(node, durations, T, U, sigma=0.0):
    """log P of one item by the beta recursion of tests/duration_reference.py,
    where node(t, u) gives (blank log-prob, next-symbol log-prob or None,
    duration log-probs [D]) or None for a node outside the windows (no
    arc leaves it)."""
    neg_inf = torch.tensor(float("-inf"), dtype=F64)
    beta = {}
    for t in reversed(range(T)):
        for u in reversed(range(U + 1)):
            terms = []
            probs = node(t, u)
            if probs is not None:
                blank, symbol, dur = probs
                for i, d in enumerate(durations):
                    if d >= 1 and (t + d < T or (t + d == T and u == U)):
                        rest = beta[(t + d, u)] if t + d < T else torch.zeros((), dtype=F64)
                        if rest.isfinite():  # dead ends would give NaN gradients
                            terms.append(blank - sigma + dur[i] + rest)
                    if u < U and t + d < T and beta[(t + d, u + 1)].isfinite():
                        terms.append(symbol - sigma + dur[i] + beta[(t + d, u + 1)])
            beta[(t, u)] = torch.logsumexp(torch.stack(terms), 0) if terms else neg_inf
    return beta[(0, 0)] if T > 0 else neg_inf


def pruned_reference(logits, z, symbols, ranges, durations, boundary, sigma=0.0):
    """Per-item log P [B] of the pruned joiner outputs logits [B][T][R][C],
    z [B][T][R][D]: each kept cell's log-softmaxes, nodes outside the windows
    dropped."""
    out = []
    for b in range(logits.shape[0]):
        T, U = int(boundary[b, 3]), int(boundary[b, 2])
        cells = {}
        for t in range(T):
            for k, u in enumerate(ranges[b, t].tolist()):
                if u <= U:
                    lp = logits[b, t, k].log_softmax(-1)
                    symbol = lp[int(symbols[b, u])] if u < U else None
                    cells[(t, u)] = (lp[BLANK], symbol, z[b, t, k].log_softmax(-1))
        out.append(windowed_log_p(lambda t, u: cells.get((t, u)), durations, T, U, sigma))
    return torch.stack(out)


# ---- the simple loss --------------------------------------------------------

DURATION_SETS = [[0, 1, 2, 3, 4], [0, 1], [1, 2, 4], [0, 2], [2, 0, 1]]


@pytest.mark.parametrize("durations", DURATION_SETS)
@pytest.mark.parametrize("options", [{}, {"sigma": 0.05, "omega": 0.3, "reduction": "sum"},
                                     {"reduction": "mean", "zero_infinity": True}])
def test_simple_equals_full_tdt_on_summed_joiners(durations, options):
    options = {"reduction": "none", **options}
    inputs = joiner_batch(3, 7, 4, 6, len(durations), seed=len(durations))
    lm, am, lm_d, am_d, symbols, boundary = inputs
    simple = R.rnnt_loss_tdt_simple(lm, am, lm_d, am_d, symbols, BLANK, durations, boundary,
                                    **options)
    full = full_tdt(lm, am, lm_d, am_d, symbols, durations, boundary, **options)
    assert_close(simple, full)
    finite = torch.isfinite(full)
    assert_same_grads(simple[finite].sum(), full[finite].sum(), [lm, am, lm_d, am_d])


def test_simple_occupations_are_the_label_log_prob_gradients():
    """px_grad / py_grad = d log P / d px, py (regular RNN-T layout) by
    autograd of the reference DP over get_rnnt_logprobs's px, py."""
    durations = [0, 1, 3]
    lm, am, lm_d, am_d, symbols, boundary = joiner_batch(3, 6, 3, 5, 3, seed=11)
    loss, (px_grad, py_grad) = R.rnnt_loss_tdt_simple(
        lm, am, lm_d, am_d, symbols, BLANK, durations, boundary, reduction="none",
        return_grad=True)
    px, py = R.get_rnnt_logprobs(lm.detach(), am.detach(), symbols, BLANK, boundary=boundary)
    px, py = px.clone().requires_grad_(), py.clone().requires_grad_()
    dur = (am_d[:, :, None] + lm_d[:, None]).detach().log_softmax(-1)  # [B][T][S+1][D]
    scores = []
    for b in range(3):
        T, U = int(boundary[b, 3]), int(boundary[b, 2])
        scores.append(windowed_log_p(
            lambda t, u: (py[b, u, t], px[b, u, t] if u < U else None, dur[b, t, u]),
            durations, T, U))
    scores = torch.stack(scores)
    assert_close(-scores, loss.detach())
    want_px, want_py = torch.autograd.grad(scores.sum(), [px, py])
    assert px_grad.shape == px.shape and py_grad.shape == py.shape
    assert_close(px_grad, want_px)
    assert_close(py_grad, want_py)
    # Every path emits U_b symbols.
    assert_close(px_grad.sum((1, 2)), boundary[:, 2].to(F64))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_simple_return_grad_keeps_the_loss_gradients(reduction):
    """return_grad=True (one lattice sweep each way, the gradients saved and
    scaled per item) gives the loss and gradients of return_grad=False."""
    inputs = joiner_batch(3, 6, 4, 5, 3, seed=6)
    leaves = list(inputs[:4])
    args = (*inputs[:5], BLANK, [0, 1, 3], inputs[5])
    with_grad, _ = R.rnnt_loss_tdt_simple(*args, sigma=0.1, omega=0.2, reduction=reduction,
                                          return_grad=True)
    plain = R.rnnt_loss_tdt_simple(*args, sigma=0.1, omega=0.2, reduction=reduction)
    assert_close(with_grad, plain, 1e-12)
    assert_same_grads(with_grad, plain, leaves, 1e-12)


def test_second_order_gradient_raises():
    lm, am, lm_d, am_d, symbols, boundary = joiner_batch(2, 5, 3, 5, 3, seed=2)
    for return_grad in (False, True):
        out = R.rnnt_loss_tdt_simple(lm, am, lm_d, am_d, symbols, BLANK, [0, 1, 2], boundary,
                                     return_grad=return_grad)
        loss = out[0] if return_grad else out
        (grad,) = torch.autograd.grad(loss, [lm], create_graph=True)
        with pytest.raises(RuntimeError, match="differentiable once"):
            torch.autograd.grad(grad.sum(), [lm])


# ---- the pruned loss --------------------------------------------------------

@pytest.mark.parametrize("durations", DURATION_SETS)
@pytest.mark.parametrize("options", [{}, {"sigma": 0.05, "omega": 0.4},
                                     {"fastemit_lambda": 0.2, "reduction": "sum"}])
def test_pruned_with_full_windows_equals_full_tdt(durations, options):
    options = {"reduction": "none", **options}
    B, T, S = 3, 6, 4
    lm, am, lm_d, am_d, symbols, boundary = joiner_batch(B, T, S, 6, len(durations), seed=3)
    logits, z = pruned_inputs(lm, am, lm_d, am_d, full_windows(B, T, S))
    pruned = R.rnnt_loss_tdt_pruned(logits, z, symbols, full_windows(B, T, S), BLANK, durations,
                                    boundary, **options)
    full = full_tdt(lm, am, lm_d, am_d, symbols, durations, boundary, **options)
    assert_close(pruned, full)
    finite = torch.isfinite(full)
    assert_same_grads(pruned[finite].sum(), full[finite].sum(), [lm, am, lm_d, am_d])


def random_windows(B, T, S, s_range, g):
    """Non-decreasing window starts in [0, S + 1 - s_range] (any path or none)."""
    starts = torch.randint(0, S + 2 - s_range, (B, T), generator=g).sort(1).values
    return starts[..., None] + torch.arange(s_range)


@pytest.mark.parametrize("durations", [[0, 1, 2, 3], [0, 1], [1, 2], [0, 2, 3]])
@pytest.mark.parametrize("windows", ["prune_ranges", "random"])
@pytest.mark.parametrize("s_range", [2, 3])
def test_pruned_matches_windowed_reference(durations, windows, s_range):
    B, T, S, C = 3, 7, 5, 6
    lm, am, lm_d, am_d, symbols, boundary = joiner_batch(B, T, S, C, len(durations), seed=s_range)
    if windows == "prune_ranges":
        _, (px_grad, py_grad) = R.rnnt_loss_tdt_simple(
            lm, am, lm_d, am_d, symbols, BLANK, durations, boundary, return_grad=True)
        ranges = R.get_rnnt_prune_ranges(px_grad, py_grad, boundary, s_range)
    else:
        ranges = random_windows(B, T, S, s_range, torch.Generator().manual_seed(5))
    logits, z = pruned_inputs(lm.detach(), am.detach(), lm_d.detach(), am_d.detach(), ranges)
    logits.requires_grad_()
    z.requires_grad_()
    ours = R.rnnt_loss_tdt_pruned(logits, z, symbols, ranges, BLANK, durations, boundary,
                                  sigma=0.02, reduction="none")
    ref = -pruned_reference(logits, z, symbols, ranges, durations, boundary, sigma=0.02)
    assert_close(ours, ref)
    finite = torch.isfinite(ref)
    if finite.any():
        assert_same_grads(ours[finite].sum(), ref[finite].sum(), [logits, z])


def test_gradcheck_simple_and_pruned():
    durations = [0, 1, 2]
    lm, am, lm_d, am_d, symbols, boundary = joiner_batch(2, 4, 2, 4, 3, seed=1)

    def simple(lm, am, lm_d, am_d):
        return R.rnnt_loss_tdt_simple(lm, am, lm_d, am_d, symbols, BLANK, durations, boundary,
                                      sigma=0.1, omega=0.2, reduction="sum")

    assert torch.autograd.gradcheck(simple, (lm, am, lm_d, am_d))
    ranges = torch.tensor([[0, 1], [0, 1], [1, 2], [1, 2]]).expand(2, 4, 2).contiguous()
    logits, z = pruned_inputs(lm.detach(), am.detach(), lm_d.detach(), am_d.detach(), ranges)

    def pruned(logits, z):
        return R.rnnt_loss_tdt_pruned(logits, z, symbols, ranges, BLANK, durations, boundary,
                                      omega=0.3, fastemit_lambda=0.0, reduction="sum")

    assert torch.autograd.gradcheck(pruned, (logits.requires_grad_(), z.requires_grad_()))


@pytest.mark.parametrize("seed", range(12))
def test_pruned_finite_wherever_full_is_with_durations_zero_and_one(seed):
    """With 0 and 1 among the durations the TDT lattice holds every RNN-T
    path, and get_rnnt_prune_ranges keeps one: the pruned loss is finite
    wherever the full one is (U_b > T_b included: symbols of duration 0)."""
    g = torch.Generator().manual_seed(seed)
    extra = [d for d in (2, 3, 4) if torch.rand((), generator=g) < 0.5]
    durations = [0, 1] + extra
    B, T, S = 4, int(torch.randint(2, 9, (1,), generator=g)), int(torch.randint(1, 9, (1,), generator=g))
    lm, am, lm_d, am_d, symbols, boundary = joiner_batch(B, T, S, 5, len(durations), seed=seed)
    lm, am = 3 * lm.detach(), 3 * am.detach()  # peaked: narrow occupations
    _, (px_grad, py_grad) = R.rnnt_loss_tdt_simple(
        lm, am, lm_d, am_d, symbols, BLANK, durations, boundary, reduction="none",
        return_grad=True)
    full = full_tdt(lm, am, lm_d, am_d, symbols, durations, boundary, reduction="none")
    for s_range in (2, 3):
        ranges = R.get_rnnt_prune_ranges(px_grad, py_grad, boundary, s_range)
        logits, z = pruned_inputs(lm, am, lm_d, am_d, ranges)
        pruned = R.rnnt_loss_tdt_pruned(logits, z, symbols, ranges, BLANK, durations, boundary,
                                        reduction="none")
        assert torch.equal(torch.isfinite(pruned), torch.isfinite(full)), (pruned, full)
        # Pruning drops paths: the pruned loss is never below the full one.
        finite = torch.isfinite(full)
        assert (pruned[finite] >= full[finite] - 1e-9).all()


def test_windows_without_a_path_give_inf_and_zero_grads():
    """Without duration 0 a symbol always advances a frame: windows that
    climb two rows in one frame (an RNN-T path emits two symbols there)
    keep no TDT path. The item's loss is inf with zero gradients, 0 with
    zero_infinity; the full loss is finite."""
    durations = [1, 2]
    lm, am, lm_d, am_d, symbols, boundary = joiner_batch(1, 6, 4, 5, 2, seed=2, ragged=False)
    starts = torch.tensor([[0, 2, 2, 2, 2, 2]])
    ranges = starts[..., None] + torch.arange(3)
    logits, z = pruned_inputs(lm.detach(), am.detach(), lm_d.detach(), am_d.detach(), ranges)
    logits.requires_grad_()
    loss = R.rnnt_loss_tdt_pruned(logits, z, symbols, ranges, BLANK, durations, boundary,
                                  reduction="none")
    assert torch.isinf(loss).all()
    assert torch.isfinite(full_tdt(lm, am, lm_d, am_d, symbols, durations, boundary)).all()
    (grad,) = torch.autograd.grad(loss.sum(), [logits])
    assert torch.equal(grad, torch.zeros_like(grad))
    zeroed = R.rnnt_loss_tdt_pruned(logits, z, symbols, ranges, BLANK, durations, boundary,
                                    zero_infinity=True)
    assert zeroed.item() == 0.0


def test_inplace_grad_gives_the_same_gradients():
    durations = [0, 1, 2]
    B, T, S = 2, 5, 3
    lm, am, lm_d, am_d, symbols, boundary = joiner_batch(B, T, S, 6, 3, seed=8)
    ranges = torch.tensor([0, 0, 1, 1, 2])[:, None] + torch.arange(2)
    ranges = ranges.expand(B, T, 2).contiguous()
    grads = []
    for inplace in (False, True):
        logits, z = pruned_inputs(lm.detach(), am.detach(), lm_d.detach(), am_d.detach(), ranges)
        logits = logits.contiguous().requires_grad_()
        loss = R.rnnt_loss_tdt_pruned(logits, z, symbols, ranges, BLANK, durations, boundary,
                                      inplace_grad=inplace)
        loss.backward()
        grads.append(logits.grad.clone())
    assert_close(grads[0], grads[1])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_low_precision_inputs_accumulate_in_float32(dtype):
    durations = [0, 1, 2]
    B, T, S = 2, 6, 3
    lm, am, lm_d, am_d, symbols, boundary = joiner_batch(B, T, S, 5, 3, seed=4)
    lo = [t.detach().to(dtype) for t in (lm, am, lm_d, am_d)]
    simple = R.rnnt_loss_tdt_simple(*lo, symbols, BLANK, durations, boundary, reduction="none")
    assert simple.dtype == torch.float32
    want = R.rnnt_loss_tdt_simple(*[t.double() for t in lo], symbols, BLANK, durations, boundary,
                                  reduction="none")
    torch.testing.assert_close(simple.double(), want, rtol=1e-5, atol=1e-5)
    ranges = full_windows(B, T, S)
    logits, z = pruned_inputs(*lo, ranges)
    pruned = R.rnnt_loss_tdt_pruned(logits, z, symbols, ranges, BLANK, durations, boundary,
                                    reduction="none")
    assert pruned.dtype == torch.float32
    want = R.rnnt_loss_tdt_pruned(logits.double(), z.double(), symbols, ranges, BLANK, durations,
                                  boundary, reduction="none")
    torch.testing.assert_close(pruned.double(), want, rtol=1e-5, atol=1e-5)


# ---- errors -----------------------------------------------------------------

def test_bad_inputs_name_the_function_and_argument():
    lm, am, lm_d, am_d, symbols, boundary = joiner_batch(2, 5, 3, 5, 3, seed=0)
    with pytest.raises(RuntimeError, match=r"rnnt_loss_tdt_simple.*am_duration.*len\(durations\)"):
        R.rnnt_loss_tdt_simple(lm, am, lm_d, am_d[..., :2], symbols, BLANK, [0, 1, 2])
    with pytest.raises(RuntimeError, match=r"rnnt_loss_tdt_simple.*lm_duration must be \[B\]\[S\+1\]"):
        R.rnnt_loss_tdt_simple(lm, am, lm_d[:, :2], am_d, symbols, BLANK, [0, 1, 2])
    with pytest.raises(ValueError, match=r"rnnt_loss_tdt_simple.*durations must be distinct"):
        R.rnnt_loss_tdt_simple(lm, am, lm_d, am_d, symbols, BLANK, [0, 1, 1])
    with pytest.raises(ValueError, match=r"rnnt_loss_tdt_simple: boundary\[0\] = \(1, 0, 3, 5\) "
                                         r"must be \(0, 0, U, T'\)"):
        R.rnnt_loss_tdt_simple(lm, am, lm_d, am_d, symbols, BLANK, [0, 1, 2],
                               torch.tensor([[1, 0, 3, 5], [0, 0, 2, 4]]))
    ranges = full_windows(2, 5, 3)
    logits, z = pruned_inputs(lm, am, lm_d, am_d, ranges)
    with pytest.raises(RuntimeError, match=r"rnnt_loss_tdt_pruned.*duration_logits must be "):
        R.rnnt_loss_tdt_pruned(logits, z[:, :, :2], symbols, ranges, BLANK, [0, 1, 2])
    with pytest.raises(ValueError, match=r"rnnt_loss_tdt_pruned.*omega must be in \[0, 1\]"):
        R.rnnt_loss_tdt_pruned(logits, z, symbols, ranges, BLANK, [0, 1, 2], omega=2.0)
    with pytest.raises(RuntimeError, match=r"rnnt_loss_tdt_pruned.*ranges"):
        R.rnnt_loss_tdt_pruned(logits, z, symbols, ranges[:, :4], BLANK, [0, 1, 2])


# ---- runtimes -----------------------------------------------------------------

def run_recipe(simple_loss, pruned_loss, lm: Tensor, am: Tensor, lm_d: Tensor, am_d: Tensor,
               symbols: Tensor, boundary: Tensor) -> Tensor:
    """The pruned TDT recipe of docs/api.md (summed joiners) with the given
    simple and pruned loss functions."""
    durations = [0, 1, 2]
    # Every argument given: a reloaded scripted function has no defaults.
    simple, (px_grad, py_grad) = simple_loss(
        lm, am, lm_d, am_d, symbols, 0, durations, boundary, sigma=0.0, omega=0.0,
        reduction="sum", return_grad=True, zero_infinity=False)
    ranges = R.get_rnnt_prune_ranges(px_grad, py_grad, boundary, 2)
    am_p, lm_p = R.do_rnnt_pruning(am, lm, ranges)
    am_dp, lm_dp = R.do_rnnt_pruning(am_d, lm_d, ranges)
    pruned = pruned_loss(am_p + lm_p, am_dp + lm_dp, symbols, ranges, 0, durations, boundary,
                         sigma=0.05, omega=0.1, fastemit_lambda=0.0, reduction="sum",
                         zero_infinity=False, inplace_grad=False)
    return 0.5 * simple + pruned


def recipe(lm, am, lm_d, am_d, symbols, boundary):
    return run_recipe(R.rnnt_loss_tdt_simple, R.rnnt_loss_tdt_pruned, lm, am, lm_d, am_d,
                      symbols, boundary)


def check_recipe(fn, seed, B, T, S):
    inputs = list(joiner_batch(B, T, S, 7, 3, seed=seed))
    # T_b >= U_b: s_range 2 keeps a path. (Eager get_rnnt_prune_ranges
    # raises s_range from the boundary's values, a compiled graph cannot.)
    boundary = inputs[5].clone()
    boundary[:, 3] = torch.maximum(boundary[:, 3], boundary[:, 2])
    inputs[5] = boundary
    leaves = inputs[:4]
    out, ref = fn(*inputs), recipe(*inputs)
    assert_close(out, ref, 1e-12)
    assert_same_grads(out, ref, leaves, 1e-12)


def test_recipe_compiles_fullgraph_with_dynamic_shapes():
    import torch._dynamo
    torch._dynamo.reset()
    compiled = torch.compile(recipe, fullgraph=True, dynamic=True, backend="aot_eager")
    for seed, (B, T, S) in enumerate([(2, 8, 5), (3, 10, 6)]):
        check_recipe(compiled, seed, B, T, S)


def test_wrappers_script_save_and_reload(tmp_path):
    loaded = []
    for name, fn in [("simple", R.rnnt_loss_tdt_simple), ("pruned", R.rnnt_loss_tdt_pruned)]:
        path = str(tmp_path / f"{name}.pt")
        torch.jit.save(torch.jit.script(fn), path)
        loaded.append(torch.jit.load(path))

    def scripted_recipe(*inputs):
        return run_recipe(loaded[0], loaded[1], *inputs)

    check_recipe(scripted_recipe, 3, 3, 7, 4)
