"""rnnt_ops.nemo.RNNTLoss (NeMo's wrapper: num_classes, reduction,
loss_name, loss_kwargs; forward(log_probs, targets, input_lengths,
target_lengths)) and the inner modules with NeMo's constructor keywords,
against the float64 references of duration_reference.py; their input
errors; and TorchScript script + save + load of every module, with and
without clamp."""

import io

import pytest
import torch

import rnnt_ops as R
from duration_reference import multiblank_arc_kinds, reference_scores, tdt_arc_kinds
from rnnt_ops import nemo

TOL = dict(rtol=1e-9, atol=1e-9)
B, T, U, V = 3, 7, 4, 5
DURATIONS = [0, 1, 2, 3]
BIG = [2, 4]
ACT_LENS = torch.tensor([7, 5, 6])
LABEL_LENS = torch.tensor([4, 2, 3])


def batch(classes, seed):
    g = torch.Generator().manual_seed(seed)
    acts = torch.randn(B, T, U + 1, classes, generator=g, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, V, (B, U), generator=g)
    return acts, labels


def boundary():
    z = torch.zeros(B, dtype=torch.int64)
    return torch.stack([z, z, LABEL_LENS, ACT_LENS], 1)


def rnnt_scores(acts, labels, fastemit_lambda=0.0):
    """RNN-T as a duration lattice: blank (index V) advances one frame."""
    return reference_scores(acts, None, labels, multiblank_arc_kinds(V, [], []), boundary(),
                            fastemit_lambda=fastemit_lambda)


def tdt_scores(acts, labels, sigma=0.0, fastemit_lambda=0.0):
    return reference_scores(acts[..., :V + 1], acts[..., V + 1:], labels,
                            tdt_arc_kinds(V, DURATIONS), boundary(), sigma=sigma,
                            fastemit_lambda=fastemit_lambda)


def multiblank_scores(acts, labels, sigma=0.0):
    blank = V + len(BIG)
    return reference_scores(acts, None, labels,
                            multiblank_arc_kinds(blank, [blank - 1, blank - 2], BIG),
                            boundary(), sigma=sigma)


REDUCE = {
    None: lambda x: x, "sum": lambda x: x.sum(), "mean_batch": lambda x: x.mean(),
    "mean": lambda x: (x / LABEL_LENS).mean(), "mean_volume": lambda x: x.sum() / LABEL_LENS.sum(),
}


def assert_loss_and_grad(loss, ref, acts):
    torch.testing.assert_close(loss, ref, **TOL)
    got = torch.autograd.grad(loss.sum(), acts, retain_graph=True)[0]
    torch.testing.assert_close(got, torch.autograd.grad(ref.sum(), acts)[0], **TOL)


@pytest.mark.parametrize("reduction", list(REDUCE))
@pytest.mark.parametrize("loss_name", ["default", "warprnnt_numba", "warprnnt", "pytorch"])
def test_rnnt_wrapper(loss_name, reduction):
    acts, labels = batch(V + 1, 1)
    loss = nemo.RNNTLoss(num_classes=V, reduction=reduction, loss_name=loss_name)(
        log_probs=acts, targets=labels, input_lengths=ACT_LENS, target_lengths=LABEL_LENS)
    assert_loss_and_grad(loss, REDUCE[reduction](-rnnt_scores(acts, labels)), acts)


@pytest.mark.parametrize("loss_name", ["tdt", "tdt_pytorch"])
def test_tdt_wrapper(loss_name):
    acts, labels = batch(V + 1 + len(DURATIONS), 2)
    loss = nemo.RNNTLoss(V, "mean", loss_name, {"durations": DURATIONS, "sigma": 0.05})(
        acts, labels, ACT_LENS, LABEL_LENS)
    assert_loss_and_grad(loss, REDUCE["mean"](-tdt_scores(acts, labels, sigma=0.05)), acts)


@pytest.mark.parametrize("loss_name", ["multiblank_rnnt", "multiblank_rnnt_pytorch"])
def test_multiblank_wrapper(loss_name):
    """NeMo: num_classes counts the big blanks; the standard blank is last."""
    acts, labels = batch(V + len(BIG) + 1, 3)
    loss = nemo.RNNTLoss(V + len(BIG), "sum", loss_name,
                         {"big_blank_durations": BIG, "sigma": 0.1})(
        acts, labels, ACT_LENS, LABEL_LENS)
    assert_loss_and_grad(loss, -multiblank_scores(acts, labels, sigma=0.1).sum(), acts)


def test_fastemit_is_reported_as_nemo_reports_it():
    """NeMo's kernels report (1 + lambda) * loss and scale the symbol arcs'
    gradient by 1 + lambda."""
    acts, labels = batch(V + 1, 4)
    loss = nemo.RNNTLoss(V, None, loss_kwargs={"fastemit_lambda": 0.25})(
        acts, labels, ACT_LENS, LABEL_LENS)
    ref = -rnnt_scores(acts, labels, fastemit_lambda=0.25)
    torch.testing.assert_close(loss, 1.25 * ref, **TOL)
    torch.testing.assert_close(torch.autograd.grad(loss.sum(), acts)[0],
                               torch.autograd.grad(ref.sum(), acts)[0], **TOL)
    acts, labels = batch(V + 1 + len(DURATIONS), 5)
    loss = nemo.RNNTLoss(V, None, "tdt", {"durations": DURATIONS, "fastemit_lambda": 0.5})(
        acts, labels, ACT_LENS, LABEL_LENS)
    torch.testing.assert_close(loss, -1.5 * tdt_scores(acts, labels), **TOL)


def clipped_item_grads(per_item, acts, clamp, scale, columns=slice(None)):
    """Each item's own gradient, clipped in ``columns``, times ``scale``."""
    grads = []
    for b in range(B):
        g = torch.autograd.grad(per_item[b], acts, retain_graph=True)[0][b]
        g[..., columns] = g[..., columns].clamp(-clamp, clamp)
        grads.append(g * scale)
    return torch.stack(grads)


@pytest.mark.parametrize("kind", ["rnnt", "tdt", "multiblank"])
def test_clamp_clips_each_items_gradient_before_the_reduction(kind):
    """NeMo's CUDA kernels clip d loss_b / d acts_b, then the reduction
    scales it (mean_batch: 1/B); TDT clips the label logits only."""
    clamp = 0.02
    if kind == "rnnt":
        acts, labels = batch(V + 1, 6)
        module = nemo.RNNTLoss(V, loss_kwargs={"clamp": clamp})
        per_item, columns = -rnnt_scores(acts, labels), slice(None)
    elif kind == "tdt":
        acts, labels = batch(V + 1 + len(DURATIONS), 7)
        module = nemo.RNNTLoss(V, loss_name="tdt",
                               loss_kwargs={"clamp": clamp, "durations": DURATIONS})
        per_item, columns = -tdt_scores(acts, labels), slice(0, V + 1)
    else:
        acts, labels = batch(V + len(BIG) + 1, 8)
        module = nemo.RNNTLoss(V + len(BIG), loss_name="multiblank_rnnt",
                               loss_kwargs={"clamp": clamp, "big_blank_durations": BIG})
        per_item, columns = -multiblank_scores(acts, labels), slice(None)
    loss = module(acts, labels, ACT_LENS, LABEL_LENS)
    torch.testing.assert_close(loss, per_item.mean(), **TOL)
    want = clipped_item_grads(per_item, acts, clamp, 1 / B, columns)
    got = torch.autograd.grad(loss, acts)[0]
    torch.testing.assert_close(got, want, **TOL)
    assert (want.abs() < clamp / B - 1e-12).any()  # the scaling came after the clip


def test_wrapper_narrows_to_the_longest_input_and_target():
    acts, labels = batch(V + 1, 9)
    padded = torch.cat([acts, torch.zeros(B, 2, U + 1, V + 1, dtype=torch.float64)], 1)
    wide = torch.cat([labels, torch.zeros(B, 3, dtype=torch.int64)], 1)
    loss = nemo.RNNTLoss(V, None)(padded, wide.int(), ACT_LENS.int(), LABEL_LENS.int())
    torch.testing.assert_close(loss, -rnnt_scores(acts, labels), **TOL)


def test_inner_modules_take_nemos_keywords():
    acts, labels = batch(V + 1 + len(DURATIONS), 10)
    ref = -tdt_scores(acts, labels, sigma=0.05)
    nemo_style = R.TDTLoss(blank=V, durations=DURATIONS, reduction=None, fastemit_lambda=0.0,
                           clamp=-1, sigma=0.05, omega=0.0)
    old_style = R.TDTLoss(blank_idx=V, durations=DURATIONS, reduction="none", sigma=0.05)
    for module in (nemo_style, old_style):
        torch.testing.assert_close(module(acts, labels, ACT_LENS, LABEL_LENS), ref, **TOL)
    acts, labels = batch(V + len(BIG) + 1, 11)
    module = R.MultiBlankRNNTLoss(blank=V + len(BIG), big_blank_durations=BIG, reduction=None,
                                  fastemit_lambda=0.0, clamp=-1, sigma=0.1)
    torch.testing.assert_close(module(acts, labels, ACT_LENS, LABEL_LENS),
                               -multiblank_scores(acts, labels, sigma=0.1), **TOL)
    acts, labels = batch(V + 1, 12)
    module = nemo.RNNTLossNumba(blank=V, reduction="sum", fastemit_lambda=0.0, clamp=-1)
    torch.testing.assert_close(module(acts, labels, ACT_LENS, LABEL_LENS),
                               -rnnt_scores(acts, labels).sum(), **TOL)


def test_labels_narrower_than_label_lens_raise():
    """Zero-padding them would invent label 0 for the missing labels."""
    acts, labels = batch(V + 1 + len(DURATIONS), 13)
    with pytest.raises(ValueError, match=r"TDTLoss: labels has 3 columns but label_lens asks "
                                         r"for up to 4 labels"):
        R.TDTLoss(blank=V, durations=DURATIONS)(acts, labels[:, :3], ACT_LENS, LABEL_LENS)
    acts, labels = batch(V + len(BIG) + 1, 14)
    with pytest.raises(ValueError, match="MultiBlankRNNTLoss: labels has 2 columns"):
        R.MultiBlankRNNTLoss(blank=V + 2, big_blank_durations=BIG)(
            acts, labels[:, :2], ACT_LENS, LABEL_LENS)
    # Narrower than the lattice but holding every item's labels is fine.
    short = torch.tensor([3, 2, 3])
    loss = R.MultiBlankRNNTLoss(blank=V + 2, big_blank_durations=BIG, reduction=None)(
        acts, labels[:, :3], ACT_LENS, short)
    z = torch.zeros(B, dtype=torch.int64)
    ref = reference_scores(acts, None, labels, multiblank_arc_kinds(V + 2, [V + 1, V], BIG),
                           torch.stack([z, z, short, ACT_LENS], 1))
    torch.testing.assert_close(loss, -ref, **TOL)


@pytest.mark.parametrize("bad", ["act_lens", "label_lens"])
def test_wrong_shape_lengths_raise(bad):
    acts, labels = batch(V + 1 + len(DURATIONS), 15)
    lens = {"act_lens": ACT_LENS, "label_lens": LABEL_LENS}
    lens[bad] = lens[bad][:2]
    with pytest.raises(RuntimeError, match=rf"TDTLoss: {bad} must be an integer \[B\] tensor "
                                           r"with B = 3"):
        R.TDTLoss(blank=V, durations=DURATIONS)(acts, labels, lens["act_lens"], lens["label_lens"])
    lens[bad] = torch.stack([ACT_LENS, ACT_LENS], 1) if bad == "act_lens" else LABEL_LENS[:, None]
    with pytest.raises(RuntimeError, match=rf"{bad} must be an integer \[B\] tensor"):
        nemo.RNNTLossNumba(blank=V)(acts[..., :V + 1], labels, lens["act_lens"],
                                    lens["label_lens"])


def test_bad_configuration_raises():
    with pytest.raises(ValueError, match="RNNTLoss: loss_name must be one of"):
        nemo.RNNTLoss(V, loss_name="warp")
    with pytest.raises(ValueError, match="not provided by rnnt_ops"):
        nemo.RNNTLoss(V, loss_name="graph_rnnt")
    with pytest.raises(ValueError, match="RNNTLoss: reduction must be one of"):
        nemo.RNNTLoss(V, reduction="none")
    with pytest.raises(ValueError, match="MultiBlankRNNTLoss: fastemit_lambda must be 0"):
        R.MultiBlankRNNTLoss(blank=6, big_blank_durations=BIG, fastemit_lambda=0.1)
    with pytest.raises(ValueError, match="TDTLoss: the blank index must be given"):
        R.TDTLoss(durations=DURATIONS)
    with pytest.warns(UserWarning, match=r"ignores the loss_kwargs \['sigma'\]"):
        nemo.RNNTLoss(V, loss_kwargs={"sigma": 0.1, "fastemit_lambda": 0.1})


def modules(clamp):
    return [
        (R.TDTLoss(blank=V, durations=DURATIONS, clamp=clamp, sigma=0.05, omega=0.3,
                   fastemit_lambda=0.1), V + 1 + len(DURATIONS)),
        (R.MultiBlankRNNTLoss(blank=V + 2, big_blank_durations=BIG, clamp=clamp,
                              reduction="mean"), V + len(BIG) + 1),
        (nemo.RNNTLossNumba(blank=V, clamp=clamp, fastemit_lambda=0.2), V + 1),
        (nemo.RNNTLoss(V, None, "tdt", {"durations": DURATIONS, "clamp": clamp}),
         V + 1 + len(DURATIONS)),
        (nemo.RNNTLoss(V + 2, "mean_volume", "multiblank_rnnt",
                       {"big_blank_durations": BIG, "clamp": clamp}), V + len(BIG) + 1),
        (nemo.RNNTLoss(V, "mean", loss_kwargs={"clamp": clamp}), V + 1),
    ]


@pytest.mark.parametrize("clamp", [-1.0, 0.01])
def test_modules_script_save_and_load(clamp):
    for index, (module, classes) in enumerate(modules(clamp)):
        acts, labels = batch(classes, 20 + index)
        buffer = io.BytesIO()
        torch.jit.save(torch.jit.script(module), buffer)
        buffer.seek(0)
        loaded = torch.jit.load(buffer)
        want = module(acts, labels, ACT_LENS, LABEL_LENS)
        want_grad = torch.autograd.grad(want.sum(), acts)[0]
        got = loaded(acts, labels, ACT_LENS, LABEL_LENS)
        torch.testing.assert_close(got, want, rtol=0, atol=0)
        torch.testing.assert_close(torch.autograd.grad(got.sum(), acts)[0], want_grad,
                                   rtol=0, atol=0)
        inner = getattr(module, "_loss", module)
        if clamp > 0 and not isinstance(inner, R.TDTLoss):  # TDT: duration logits unclipped
            assert want_grad.abs().max() <= clamp
