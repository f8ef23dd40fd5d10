"""rnnt_ops.functional.rnnt_loss / rnnt_ops.RNNTLoss (torchaudio's call)
against a float64 reference written from torchaudio's documented semantics:
per item b with T_b frames and U_b targets, on log-probs lp (log_softmax of
the logits, or the logits as given with fused_log_softmax=False),

    alpha[0, 0] = 0
    alpha[t, u] = logaddexp(alpha[t-1, u] + lp[t-1, u, blank],
                            alpha[t, u-1] + lp[t, u-1, targets[u-1]])
    loss_b = -(alpha[T_b-1, U_b] + lp[T_b-1, U_b, blank])

reduction "mean" averages over the batch; clamp clips each element of every
item's own gradient d loss_b / d logits[b] to [-clamp, clamp] before the
reduction scales it; FastEmit scales the gradient through every
label-emission log-prob by 1 + lambda."""

import pytest
import torch

import rnnt_ops
from rnnt_ops.functional import rnnt_loss


def reference_costs(label_lp, blank_lp, targets, logit_lengths, target_lengths, blank):
    """Per-item losses [B] (differentiable); label terms read ``label_lp``,
    blank terms ``blank_lp`` (the same values, kept apart so a test can
    weight their gradients)."""
    costs = []
    for b in range(label_lp.shape[0]):
        T, U = int(logit_lengths[b]), int(target_lengths[b])
        alpha = {(0, 0): label_lp.new_zeros(())}
        for t in range(T):
            for u in range(U + 1):
                if t == 0 and u == 0:
                    continue
                terms = []
                if t > 0:
                    terms.append(alpha[t - 1, u] + blank_lp[b, t - 1, u, blank])
                if u > 0:
                    terms.append(alpha[t, u - 1] + label_lp[b, t, u - 1, int(targets[b, u - 1])])
                alpha[t, u] = torch.logsumexp(torch.stack(terms), 0)
        costs.append(-(alpha[T - 1, U] + blank_lp[b, T - 1, U, blank]))
    return torch.stack(costs)


def reference(logits, targets, logit_lengths, target_lengths, blank, fused, fastemit=0.0):
    """(per-item losses [B], per-item gradients d loss_b / d logits[b]
    [B][T][U+1][C]) in float64."""
    z = logits.detach().double().requires_grad_()
    lp = z.log_softmax(-1) if fused else z
    label_lp = lp.detach().requires_grad_()
    blank_lp = lp.detach().requires_grad_()
    costs = reference_costs(label_lp, blank_lp, targets, logit_lengths, target_lengths, blank)
    grads = []
    for b in range(len(costs)):
        g_label, g_blank = torch.autograd.grad(costs[b], [label_lp, blank_lp], retain_graph=True)
        (g,) = torch.autograd.grad(lp, z, (1 + fastemit) * g_label + g_blank, retain_graph=True)
        grads.append(g[b])  # zero outside item b
    return costs.detach(), torch.stack(grads)


def make_batch(B=3, T=5, U=3, C=6, blank=-1, dtype=torch.int32, seed=0, full=True):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, T, U + 1, C, generator=g, dtype=torch.float64)
    blank_index = blank % C
    labels = [c for c in range(C) if c != blank_index]
    targets = torch.tensor(labels)[torch.randint(len(labels), (B, U), generator=g)].to(dtype)
    logit_lengths = torch.randint(1, T + 1, (B,), generator=g).to(dtype)
    target_lengths = torch.randint(0, U + 1, (B,), generator=g).to(dtype)
    if full:  # torchaudio's own requirement: the longest item fills the padding
        logit_lengths[0], target_lengths[0] = T, U
    return logits, targets, logit_lengths, target_lengths


def reduce_grads(grads, reduction, weights):
    if reduction == "mean":
        return grads / grads.shape[0]
    if reduction == "sum":
        return grads
    return grads * weights.view(-1, 1, 1, 1)


def run(logits, targets, logit_lengths, target_lengths, reduction, **options):
    """(loss, d (weighted) loss / d logits) of rnnt_ops' call."""
    x = logits.clone().requires_grad_()
    loss = rnnt_loss(x, targets, logit_lengths, target_lengths, reduction=reduction, **options)
    weights = torch.linspace(0.5, 1.5, logits.shape[0], dtype=logits.dtype)
    (loss * weights if reduction == "none" else loss).sum().backward()
    return loss.detach(), x.grad, weights


def expected_loss(costs, reduction):
    return {"mean": costs.mean(), "sum": costs.sum(), "none": costs}[reduction]


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("blank", [-1, 0])
@pytest.mark.parametrize("index_dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("fused", [True, False])
def test_matches_reference(reduction, blank, index_dtype, fused):
    logits, targets, logit_lengths, target_lengths = make_batch(blank=blank, dtype=index_dtype)
    if not fused:
        logits = logits.log_softmax(-1)
    costs, grads = reference(logits, targets, logit_lengths, target_lengths, blank % 6, fused)
    loss, grad, weights = run(
        logits, targets, logit_lengths, target_lengths, reduction, blank=blank, fused_log_softmax=fused
    )
    torch.testing.assert_close(loss, expected_loss(costs, reduction))
    torch.testing.assert_close(grad, reduce_grads(grads, reduction, weights))


def test_unfused_takes_logits_as_given():
    """fused_log_softmax=False does not normalise: unnormalised scores give
    the reference on those scores, not on their log_softmax."""
    logits, targets, logit_lengths, target_lengths = make_batch(seed=3)
    costs, grads = reference(logits, targets, logit_lengths, target_lengths, 5, fused=False)
    loss, grad, _ = run(logits, targets, logit_lengths, target_lengths, "sum", fused_log_softmax=False)
    torch.testing.assert_close(loss, costs.sum())
    torch.testing.assert_close(grad, grads)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("fused", [True, False])
def test_clamp_clips_each_items_gradient(reduction, fused):
    logits, targets, logit_lengths, target_lengths = make_batch(B=4, seed=1)
    logits = 3 * logits if fused else (3 * logits).log_softmax(-1)
    costs, grads = reference(logits, targets, logit_lengths, target_lengths, 5, fused)
    clamp = 0.25
    assert grads.abs().max() > clamp  # the clip changes something
    loss, grad, weights = run(
        logits, targets, logit_lengths, target_lengths, reduction, clamp=clamp, fused_log_softmax=fused
    )
    torch.testing.assert_close(loss, expected_loss(costs, reduction))
    torch.testing.assert_close(grad, reduce_grads(grads.clamp(-clamp, clamp), reduction, weights))


@pytest.mark.parametrize("fused", [True, False])
def test_fastemit_scales_label_gradients(fused):
    logits, targets, logit_lengths, target_lengths = make_batch(seed=2)
    if not fused:
        logits = logits.log_softmax(-1)
    lam = 0.3
    costs, grads = reference(logits, targets, logit_lengths, target_lengths, 5, fused, fastemit=lam)
    _, plain = reference(logits, targets, logit_lengths, target_lengths, 5, fused)
    assert not torch.allclose(grads, plain)
    loss, grad, _ = run(
        logits, targets, logit_lengths, target_lengths, "mean", fused_log_softmax=fused, fastemit_lambda=lam
    )
    # The reported value is (1 + lambda) * loss, as every FastEmit loss here.
    torch.testing.assert_close(loss, (1 + lam) * costs.mean())
    torch.testing.assert_close(grad, grads / grads.shape[0])


def test_float32_logits_and_short_padding():
    """float32 logits, lengths all shorter than the padding, and padded
    targets holding -1 (never read)."""
    logits, targets, logit_lengths, target_lengths = make_batch(T=6, U=4, seed=4, full=False)
    logit_lengths.clamp_(max=5)
    target_lengths.clamp_(max=3)
    for b in range(targets.shape[0]):
        targets[b, int(target_lengths[b]):] = -1
    costs, grads = reference(logits, targets, logit_lengths, target_lengths, 5, True)
    loss, grad, weights = run(logits.float(), targets, logit_lengths, target_lengths, "none")
    torch.testing.assert_close(loss, costs.float(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad, (grads * weights.view(-1, 1, 1, 1).double()).float(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fused", [True, False])
def test_gradcheck(fused):
    logits, targets, logit_lengths, target_lengths = make_batch(B=2, T=3, U=2, C=4, seed=5)
    if not fused:
        logits = logits.log_softmax(-1)
    logits.requires_grad_()
    assert torch.autograd.gradcheck(
        lambda x: rnnt_loss(x, targets, logit_lengths, target_lengths, reduction="none", fused_log_softmax=fused),
        (logits,),
    )


def test_module_scripted_and_compiled():
    logits, targets, logit_lengths, target_lengths = make_batch(seed=6)
    logits = logits.float()
    module = rnnt_ops.RNNTLoss(blank=-1, clamp=0.5, reduction="sum")
    scripted = torch.jit.script(module)
    results = []
    for fn in (module, scripted, torch.compile(module)):
        x = logits.clone().requires_grad_()
        loss = fn(x, targets, logit_lengths, target_lengths)
        loss.backward()
        results.append((loss.detach(), x.grad))
    for loss, grad in results[1:]:
        torch.testing.assert_close(loss, results[0][0])
        torch.testing.assert_close(grad, results[0][1])


def test_compiled_fullgraph_without_clamp():
    logits, targets, logit_lengths, target_lengths = make_batch(seed=7)
    compiled = torch.compile(rnnt_loss, fullgraph=True, dynamic=False)
    x = logits.clone().requires_grad_()
    loss = compiled(x, targets, logit_lengths, target_lengths)
    loss.backward()
    expected, grad, _ = run(logits, targets, logit_lengths, target_lengths, "mean")
    torch.testing.assert_close(loss.detach(), expected)
    torch.testing.assert_close(x.grad, grad)


def test_boundary_from_lengths():
    boundary = rnnt_ops.boundary_from_lengths(
        torch.tensor([5, 3], dtype=torch.int32), torch.tensor([2, 0])
    )
    assert boundary.dtype == torch.int64
    assert boundary.tolist() == [[0, 0, 2, 5], [0, 0, 0, 3]]


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda a: rnnt_ops.boundary_from_lengths([5, 3], a[3]), TypeError, "logit_lengths must be a torch.Tensor.*pass a tensor"),
        (lambda a: rnnt_ops.boundary_from_lengths(a[2], a[3][:1]), RuntimeError, "both be"),
        (lambda a: rnnt_ops.boundary_from_lengths(a[2].float(), a[3]), RuntimeError, "logit_lengths must be a 1-D int32 or int64"),
        (lambda a: rnnt_loss(a[0], a[1].tolist(), a[2], a[3]), TypeError, "targets must be a torch.Tensor.*pass a tensor"),
        (lambda a: rnnt_loss(a[0], a[1], a[2].tolist(), a[3]), TypeError, "functional.rnnt_loss: logit_lengths must be a torch.Tensor"),
        (lambda a: rnnt_loss(a[0], a[1].float(), a[2], a[3]), RuntimeError, "targets must be a 2-D int32 or int64"),
        (lambda a: rnnt_loss(a[0][0], a[1], a[2], a[3]), RuntimeError, "logits must be 4-D"),
        (lambda a: rnnt_loss(a[0], a[1], a[2], a[3], blank=6), ValueError, r"blank must be in \[-C, C\) with C = 6"),
        (lambda a: rnnt_loss(a[0], a[1], a[2], a[3], blank=-7), ValueError, "blank must be in"),
        (lambda a: rnnt_loss(a[0], a[1], a[2], a[3], reduction="avg"), ValueError, "reduction must be"),
        (lambda a: rnnt_loss(a[0], a[1], a[2], a[3], fastemit_lambda=-1.0), ValueError, "fastemit_lambda must be >= 0"),
        (lambda a: rnnt_loss(a[0], a[1], a[2] + 1, a[3]), ValueError, r"functional.rnnt_loss: logit_lengths must lie in \[0, 6\)"),
    ],
)
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call(make_batch())


@pytest.mark.parametrize("name", ["rnnt_loss_simple", "rnnt_loss_smoothed", "rnnt_loss", "rnnt_loss_pruned"])
def test_k2_losses_take_int32_symbols_and_boundary(name):
    g = torch.Generator().manual_seed(8)
    B, T, S, C = 2, 5, 3, 6
    lm = torch.randn(B, S + 1, C, generator=g)
    am = torch.randn(B, T, C, generator=g)
    symbols = torch.randint(1, C, (B, S), generator=g)
    boundary = torch.tensor([[0, 0, 3, 5], [0, 0, 2, 4]])

    def call(sy, bd):
        if name == "rnnt_loss_simple":
            return rnnt_ops.rnnt_loss_simple(lm, am, sy, 0, bd, reduction="none")
        if name == "rnnt_loss_smoothed":
            return rnnt_ops.rnnt_loss_smoothed(lm, am, sy, 0, boundary=bd, reduction="none")
        if name == "rnnt_loss":
            return rnnt_ops.rnnt_loss(am[:, :, None] + lm[:, None], sy, 0, bd, reduction="none")
        _, (px_grad, py_grad) = rnnt_ops.rnnt_loss_simple(lm, am, symbols, 0, boundary, return_grad=True)
        ranges = rnnt_ops.get_rnnt_prune_ranges(px_grad, py_grad, boundary, 2)
        am_pruned, lm_pruned = rnnt_ops.do_rnnt_pruning(am, lm, ranges)
        return rnnt_ops.rnnt_loss_pruned(am_pruned + lm_pruned, sy, ranges, 0, bd, reduction="none")

    expected = call(symbols, boundary)
    assert torch.isfinite(expected).all()
    torch.testing.assert_close(call(symbols.int(), boundary.int()), expected)


@pytest.mark.parametrize("argument", ["symbols", "boundary"])
def test_k2_losses_name_a_list_passed_for_a_tensor(argument):
    lm, am = torch.randn(2, 3, 5), torch.randn(2, 4, 5)
    symbols, boundary = torch.tensor([[1, 2], [3, 4]]), torch.tensor([[0, 0, 2, 4]] * 2)
    args = {"symbols": symbols, "boundary": boundary}
    args[argument] = args[argument].tolist()
    with pytest.raises(RuntimeError, match=f"rnnt_loss_simple.*Expected a value of type '(Optional\\[)?Tensor\\]?' for argument '{argument}' but instead found type 'list'"):
        rnnt_ops.rnnt_loss_simple(lm, am, args["symbols"], 0, args["boundary"])


def _torchaudio_rnnt_loss():
    try:
        from torchaudio.functional import rnnt_loss as torchaudio_rnnt_loss
    except Exception:  # not installable beside every torch (e.g. 2.13 on CPU)
        return None
    return torchaudio_rnnt_loss


@pytest.mark.skipif(_torchaudio_rnnt_loss() is None, reason="torchaudio is not importable here")
@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize(
    "options",
    [{}, {"blank": 0}, {"reduction": "none"}, {"reduction": "sum", "clamp": 0.1},
     {"fused_log_softmax": False}, {"fused_log_softmax": False, "clamp": 0.05}],
)
def test_matches_torchaudio_itself(device, options):
    """Where torchaudio imports (e.g. a GPU image), the same call gives its numbers."""
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    blank = options.get("blank", -1)
    logits, targets, logit_lengths, target_lengths = make_batch(B=4, T=7, U=4, C=9, blank=blank, seed=9)
    logits = (2 * logits).float().to(device)
    if not options.get("fused_log_softmax", True):
        logits = logits.log_softmax(-1)
    args = [t.to(device) for t in (targets, logit_lengths, target_lengths)]
    results = []
    for fn in (_torchaudio_rnnt_loss(), rnnt_loss):
        x = logits.clone().requires_grad_()
        loss = fn(x, *args, **options)
        loss.sum().backward()
        results.append((loss.detach(), x.grad))
    torch.testing.assert_close(results[1][0], results[0][0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(results[1][1], results[0][1], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("options", [{}, {"clamp": 0.5}, {"fused_log_softmax": False}])
def test_loss_has_the_logits_dtype(dtype, options):
    """As torchaudio: float16 logits give a float16 loss."""
    logits, targets, logit_lengths, target_lengths = make_batch()
    x = logits.to(dtype)
    if options.get("fused_log_softmax", True) is False:
        x = x.float().log_softmax(-1).to(dtype)
    x.requires_grad_()
    loss = rnnt_loss(x, targets, logit_lengths, target_lengths, **options)
    assert loss.dtype == dtype
    loss.backward()
    assert x.grad.dtype == dtype


@pytest.mark.parametrize("poison", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("options", [{}, {"reduction": "sum"}, {"fastemit_lambda": 0.01}])
def test_padding_never_reaches_the_loss_or_its_gradient(poison, options):
    """Logits past an item's lengths may hold anything: the loss and the
    gradient inside the lengths are those of clean padding, and the
    gradient in the padding is 0 (as torchaudio)."""
    logits, targets, logit_lengths, target_lengths = make_batch(full=False, seed=3)
    T, U1 = logits.shape[1], logits.shape[2]
    frames = torch.arange(T).view(1, T, 1, 1) >= logit_lengths.long().view(-1, 1, 1, 1)
    labels = torch.arange(U1).view(1, 1, U1, 1) > target_lengths.long().view(-1, 1, 1, 1)
    padding = (frames | labels).expand_as(logits)
    assert padding.any()
    results = []
    for x in (logits, logits.masked_fill(padding, poison)):
        x = x.clone().requires_grad_()
        loss = rnnt_loss(x, targets, logit_lengths, target_lengths, **options)
        loss.sum().backward()
        results.append((loss.detach(), x.grad))
    torch.testing.assert_close(results[1][0], results[0][0])
    torch.testing.assert_close(results[1][1], results[0][1])
    assert (results[1][1][padding] == 0).all()
