"""The table of every public entry point of rnnt_ops, in the manner of
PyTorch's OpInfo: for each, how to call it by keyword, inputs to call it
with, an independent float64 reference, and what it supports. The contract
tests (test_op_contract.py) run one battery over every entry, so that a new
entry point gets every check by adding one entry, and test_op_table_covers
fails while an entry point has none.

A sample is a dict of keyword arguments. Tensor arguments are named as the
entry point names them, so that a test can move one to another device or
make its values wrong and expect the error to name it.
"""

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import torch

import rnnt_ops as R
from rnnt_ops import nemo
from duration_reference import multiblank_arc_kinds, reference_scores, tdt_arc_kinds
from reference import (
    hat_log_probs,
    lattice_from_logp,
    loss_reference,
    pruned_logp_to_full,
    recursion_reference,
    smoothed_log_probs,
)

Kwargs = Dict[str, object]
FLOATS = (torch.float32, torch.float64)
HALVES = (torch.float16, torch.bfloat16)


@dataclass
class Problem:
    """One batch of a transducer problem, sized small enough for gradcheck."""

    B: int
    T: int
    S: int
    C: int
    D: int
    blank: int
    lm: torch.Tensor  # [B][S+1][C]
    am: torch.Tensor  # [B][T][C]
    logits: torch.Tensor  # [B][T][S+1][C]
    duration_logits: torch.Tensor  # [B][T][S+1][D]
    symbols: torch.Tensor  # [B][S], no blank-like class
    boundary: torch.Tensor  # [B][4]
    ranges: torch.Tensor  # [B][T][s_range], full windows of s_range = S + 1
    hidden: int = 4
    extras: Dict[str, torch.Tensor] = field(default_factory=dict)


def make_problem(device="cpu", dtype=torch.float64, *, B=2, T=4, S=2, C=6, D=3, seed=0,
                 boundary="ragged", index_dtype=torch.int64) -> Problem:
    """boundary: "ragged" (item 0 spans the tensor, the others shorter),
    "full" (every item spans it), "empty_frames" (an item with T_b = 0)."""
    g = torch.Generator().manual_seed(seed)
    f64 = dict(generator=g, dtype=torch.float64)
    blank = 0
    lm = torch.randn(B, S + 1, C, **f64)
    am = torch.randn(B, T, C, **f64)
    logits = torch.randn(B, T, S + 1, C, **f64)
    duration_logits = torch.randn(B, T, S + 1, D, **f64)
    # Symbols avoid the blank (0) and the two classes below C used as big
    # blanks by the multi-blank entries.
    symbols = torch.randint(1, C - 2, (B, S), generator=g)
    rows = [[0, 0, S, T]]
    for b in range(1, B):
        if boundary == "full":
            rows.append([0, 0, S, T])
        elif boundary == "empty_frames":
            rows.append([0, 0, 0, 0])
        else:
            rows.append([0, 0, max(S - b, 0), max(T - b, 1)])
    bnd = torch.tensor(rows)
    ranges = torch.arange(S + 1).view(1, 1, -1).expand(B, T, S + 1).contiguous()
    hidden = 4
    extras = {
        "joiner_am": torch.randn(B, T, hidden, **f64),
        "joiner_lm": torch.randn(B, S + 1, hidden, **f64),
        "weight": torch.randn(C, hidden, **f64) / 2,
        "bias": torch.randn(C, **f64) / 2,
        "lm_duration": torch.randn(B, S + 1, D, **f64),
        "am_duration": torch.randn(B, T, D, **f64),
    }

    def put(t):
        return t.to(device=device, dtype=dtype if t.is_floating_point() else t.dtype)

    return Problem(
        B, T, S, C, D, blank, put(lm), put(am), put(logits), put(duration_logits),
        put(symbols).to(index_dtype), put(bnd).to(index_dtype), put(ranges), hidden,
        {k: put(v) for k, v in extras.items()},
    )


@dataclass
class OpInfo:
    """An entry point and what the contract tests need to know of it."""

    name: str  # as the user calls it, after "rnnt_ops."
    call: Callable[..., object]  # call(**sample)
    samples: Callable[[Problem], List[Kwargs]]  # valid samples of a problem
    reference: Callable[[Kwargs], torch.Tensor]  # float64 summary of the result
    summary: Callable[[object, Kwargs], torch.Tensor] = lambda out, kw: out
    error_name: str = ""  # regex of the function named in its errors (default: name)
    grad_args: Tuple[str, ...] = ()  # float tensors it differentiates
    index_args: Tuple[str, ...] = ()  # integer tensors whose values index
    ops: Tuple[str, ...] = ()  # the public torch.ops.rnnt ops it stands for
    dtypes: Tuple[torch.dtype, ...] = FLOATS + HALVES
    differentiable_once: bool = True  # a second-order gradient raises
    # How to make each index argument wrong (a value outside its range).
    bad_index: Dict[str, Callable[[Kwargs], torch.Tensor]] = field(default_factory=dict)
    module: Optional[Callable[[], torch.nn.Module]] = None  # for modules: the instance
    # Whether it runs on fake tensors (torch.compile); NeMo's wrapper reads
    # its lengths on the host, as NeMo does, to cut the padding.
    traceable: bool = True
    # Whether a compiled graph of it checks index values when it runs.
    compiled_checks: bool = True
    scripted_call: Optional[Callable[[Kwargs], object]] = None  # TorchScript form

    def errors(self) -> str:
        return self.error_name or self.name


# ---- references -------------------------------------------------------------

def f64(t):
    return t.to(torch.float64) if isinstance(t, torch.Tensor) else t


def scores_of(px, py, boundary):
    return recursion_reference(f64(px), f64(py), boundary)


def joint_logp(kw):
    return (f64(kw["am"])[:, :, None] + f64(kw["lm"])[:, None]).log_softmax(-1)


def reduce(per_item, reduction):
    if reduction == "none":
        return per_item
    return per_item.sum() if reduction == "sum" else per_item.mean()


def symbols_of(kw, name="symbols"):
    return kw[name].long()


def boundary_of(kw):
    b = kw.get("boundary")
    return None if b is None else b.long()


def tanh_joiner(kw):
    hidden = torch.tanh(f64(kw["am"])[:, :, None] + f64(kw["lm"])[:, None])
    out = hidden @ f64(kw["weight"]).t()
    return out if kw.get("bias") is None else out + f64(kw["bias"])


def regular_loss_from_logp(logp, kw, blank=0):
    return reduce(loss_reference(logp, symbols_of(kw), blank, kw.get("rnnt_type", "regular"),
                                 boundary_of(kw)), kw.get("reduction", "mean"))


# ---- bad indices -------------------------------------------------------------

def with_value(name, value, at=(0, 0)):
    def make(kw):
        t = kw[name].clone()
        t[at] = value
        return t
    return make


def bad_boundary(kw):
    b = kw["boundary"].clone()
    b[0, 3] = 10**6  # t_end far past T
    return b


def bad_symbols(kw):
    return with_value("symbols", 10**6)(kw)


def bad_ranges(kw):
    r = kw["ranges"].clone()
    r[0, 0, 0] = 10**6
    return r


# ---- samples -------------------------------------------------------------------

def with_boundary(p: Problem, kw: Kwargs) -> List[Kwargs]:
    """The sample with the problem's boundary and without one."""
    return [dict(kw, boundary=p.boundary), dict(kw, boundary=None)]


def recursion_samples(p):
    logp = (p.am.double()[:, :, None] + p.lm.double()[:, None]).log_softmax(-1)
    px, py = lattice_from_logp(logp, p.symbols.long(), 0)
    px, py = px.to(p.am.dtype), py.to(p.am.dtype)
    return [dict(px=px, py=py, boundary=p.boundary)]


def table() -> List[OpInfo]:
    rows: List[OpInfo] = []

    rows.append(OpInfo(
        name="mutual_information_recursion",
        call=lambda **kw: R.mutual_information_recursion(**kw),
        samples=recursion_samples,
        reference=lambda kw: scores_of(kw["px"], kw["py"], boundary_of(kw)),
        error_name="mutual_information",
        grad_args=("px", "py"), index_args=("boundary",),
        ops=("rnnt::mutual_information", "rnnt::mutual_information_with_grad"),
        dtypes=FLOATS, bad_index={"boundary": bad_boundary},
    ))
    rows.append(OpInfo(
        name="joint_mutual_information_recursion",
        call=lambda px, py, boundary=None: R.joint_mutual_information_recursion(
            [px], [py], boundary)[0],
        samples=recursion_samples,
        reference=lambda kw: scores_of(kw["px"], kw["py"], boundary_of(kw)),
        error_name="mutual_information",
        grad_args=("px", "py"), index_args=("boundary",),
        dtypes=FLOATS, bad_index={"boundary": bad_boundary},
    ))

    def logprobs_summary(out, kw):
        return scores_of(out[0], out[1], boundary_of(kw))

    rows.append(OpInfo(
        name="get_rnnt_logprobs",
        call=lambda **kw: R.get_rnnt_logprobs(**kw),
        samples=lambda p: with_boundary(p, dict(lm=p.lm, am=p.am, symbols=p.symbols,
                                                termination_symbol=0)),
        reference=lambda kw: scores_of(*lattice_from_logp(joint_logp(kw), symbols_of(kw), 0,
                                                          boundary=boundary_of(kw)),
                                       boundary_of(kw)),
        summary=logprobs_summary,
        grad_args=("lm", "am"), index_args=("symbols", "boundary"),
        ops=("rnnt::get_rnnt_logprobs",),
        bad_index={"symbols": bad_symbols, "boundary": bad_boundary},
    ))
    rows.append(OpInfo(
        name="get_rnnt_logprobs_smoothed",
        call=lambda **kw: R.get_rnnt_logprobs_smoothed(**kw),
        samples=lambda p: with_boundary(p, dict(lm=p.lm, am=p.am, symbols=p.symbols,
                                                termination_symbol=0, lm_only_scale=0.1,
                                                am_only_scale=0.2)),
        reference=lambda kw: scores_of(*lattice_from_logp(
            smoothed_log_probs(f64(kw["lm"]), f64(kw["am"]), 0.1, 0.2), symbols_of(kw), 0,
            boundary=boundary_of(kw)), boundary_of(kw)),
        summary=logprobs_summary,
        grad_args=("lm", "am"), index_args=("symbols", "boundary"),
        ops=("rnnt::get_rnnt_logprobs_smoothed",),
        bad_index={"symbols": bad_symbols, "boundary": bad_boundary},
    ))
    rows.append(OpInfo(
        name="get_rnnt_logprobs_joint",
        call=lambda **kw: R.get_rnnt_logprobs_joint(**kw),
        samples=lambda p: with_boundary(p, dict(logits=p.logits, symbols=p.symbols,
                                                termination_symbol=0)),
        reference=lambda kw: scores_of(*lattice_from_logp(
            f64(kw["logits"]).log_softmax(-1), symbols_of(kw), 0, boundary=boundary_of(kw)),
            boundary_of(kw)),
        summary=logprobs_summary,
        grad_args=("logits",), index_args=("symbols", "boundary"),
        ops=("rnnt::get_rnnt_logprobs_joint",),
        bad_index={"symbols": bad_symbols, "boundary": bad_boundary},
    ))
    rows.append(OpInfo(
        name="get_rnnt_logprobs_pruned",
        call=lambda **kw: R.get_rnnt_logprobs_pruned(**kw),
        samples=lambda p: with_boundary(p, dict(logits=p.logits, symbols=p.symbols,
                                                ranges=p.ranges, termination_symbol=0)),
        reference=lambda kw: scores_of(*lattice_from_logp(pruned_logp_to_full(
            f64(kw["logits"]).log_softmax(-1), kw["ranges"], kw["symbols"].shape[1]),
            symbols_of(kw), 0, boundary=boundary_of(kw)), boundary_of(kw)),
        summary=logprobs_summary,
        grad_args=("logits",), index_args=("symbols", "ranges", "boundary"),
        ops=("rnnt::get_rnnt_logprobs_pruned",),
        bad_index={"symbols": bad_symbols, "ranges": bad_ranges, "boundary": bad_boundary},
    ))

    def prune_samples(p):
        loss, (px_grad, py_grad) = R.rnnt_loss_simple(
            p.lm.double(), p.am.double(), p.symbols.long(), 0, p.boundary.long(),
            reduction="sum", return_grad=True)
        return [dict(px_grad=px_grad.to(p.am.dtype), py_grad=py_grad.to(p.am.dtype),
                     boundary=p.boundary, s_range=2)]

    rows.append(OpInfo(
        name="get_rnnt_prune_ranges",
        call=lambda **kw: R.get_rnnt_prune_ranges(**kw),
        samples=prune_samples,
        reference=prune_ranges_reference,
        summary=lambda out, kw: out.double(),
        index_args=("boundary",), ops=("rnnt::get_rnnt_prune_ranges",), dtypes=FLOATS,
        bad_index={"boundary": bad_boundary},
        # Traced, it clamps the boundary into the lattice (every range stays
        # in [0, S]); the losses that take the same boundary check it.
        compiled_checks=False,
    ))
    rows.append(OpInfo(
        name="do_rnnt_pruning",
        call=lambda **kw: R.do_rnnt_pruning(**kw),
        samples=lambda p: [dict(am=p.am, lm=p.lm, ranges=p.ranges[:, :, :2].contiguous())],
        reference=lambda kw: torch.cat([
            f64(kw["am"])[:, :, None].expand(-1, -1, kw["ranges"].shape[2], -1),
            torch.stack([f64(kw["lm"])[b, kw["ranges"][b]] for b in range(kw["am"].shape[0])])],
            -1),
        summary=lambda out, kw: torch.cat([f64(out[0]), f64(out[1])], -1),
        grad_args=("am", "lm"), index_args=("ranges",), ops=("rnnt::do_rnnt_pruning",),
        differentiable_once=False, bad_index={"ranges": bad_ranges},
    ))

    k2_losses = [
        ("rnnt_loss", lambda p: dict(logits=p.logits, symbols=p.symbols, termination_symbol=0),
         lambda kw: regular_loss_from_logp(f64(kw["logits"]).log_softmax(-1), kw),
         ("logits",), ("rnnt::rnnt_loss", "rnnt::rnnt_loss_with_grad")),
        ("rnnt_loss_simple",
         lambda p: dict(lm=p.lm, am=p.am, symbols=p.symbols, termination_symbol=0),
         lambda kw: regular_loss_from_logp(joint_logp(kw), kw),
         ("lm", "am"), ("rnnt::rnnt_loss_simple", "rnnt::rnnt_loss_simple_with_grad")),
        ("rnnt_loss_smoothed",
         lambda p: dict(lm=p.lm, am=p.am, symbols=p.symbols, termination_symbol=0,
                        lm_only_scale=0.1, am_only_scale=0.2),
         lambda kw: regular_loss_from_logp(
             smoothed_log_probs(f64(kw["lm"]), f64(kw["am"]), 0.1, 0.2), kw),
         ("lm", "am"), ("rnnt::rnnt_loss_smoothed", "rnnt::rnnt_loss_smoothed_with_grad")),
        ("rnnt_loss_pruned",
         lambda p: dict(logits=p.logits, symbols=p.symbols, ranges=p.ranges,
                        termination_symbol=0),
         lambda kw: regular_loss_from_logp(pruned_logp_to_full(
             f64(kw["logits"]).log_softmax(-1), kw["ranges"], kw["symbols"].shape[1]), kw),
         ("logits",), ("rnnt::rnnt_loss_pruned", "rnnt::rnnt_loss_pruned_with_grad")),
    ]
    for name, sample, ref, grads, ops in k2_losses:
        fn = getattr(R, name)
        indices = ("symbols", "boundary") + (("ranges",) if "pruned" in name else ())
        rows.append(OpInfo(
            name=name,
            call=lambda _fn=fn, **kw: _fn(**kw),
            samples=lambda p, _s=sample: [
                dict(kw, reduction=r) for kw, r in zip(with_boundary(p, _s(p)), ("none", "sum"))
            ],
            reference=ref, grad_args=grads, index_args=indices, ops=ops,
            bad_index={"symbols": bad_symbols, "boundary": bad_boundary, "ranges": bad_ranges},
        ))

    def fused_sample(p, pruned):
        kw = dict(am=p.extras["joiner_am"], lm=p.extras["joiner_lm"], weight=p.extras["weight"],
                  bias=p.extras["bias"], symbols=p.symbols, termination_symbol=0,
                  reduction="none")
        if pruned:
            kw["ranges"] = p.ranges
        return with_boundary(p, kw)

    rows.append(OpInfo(
        name="rnnt_loss_fused",
        call=lambda **kw: R.rnnt_loss_fused(**kw),
        samples=lambda p: fused_sample(p, False),
        reference=lambda kw: regular_loss_from_logp(tanh_joiner(kw).log_softmax(-1), kw),
        grad_args=("am", "lm", "weight", "bias"), index_args=("symbols", "boundary"),
        ops=("rnnt::rnnt_loss_fused",),
        bad_index={"symbols": bad_symbols, "boundary": bad_boundary},
    ))
    rows.append(OpInfo(
        name="rnnt_loss_pruned_fused",
        call=lambda **kw: R.rnnt_loss_pruned_fused(**kw),
        samples=lambda p: fused_sample(p, True),
        reference=lambda kw: regular_loss_from_logp(pruned_logp_to_full(
            full_to_pruned(tanh_joiner(kw), kw["ranges"]).log_softmax(-1), kw["ranges"],
            kw["symbols"].shape[1]), kw),
        grad_args=("am", "lm", "weight", "bias"), index_args=("symbols", "ranges", "boundary"),
        ops=("rnnt::rnnt_loss_pruned_fused",),
        bad_index={"symbols": bad_symbols, "boundary": bad_boundary, "ranges": bad_ranges},
    ))

    durations = [0, 1, 2]
    rows.append(OpInfo(
        name="rnnt_loss_tdt",
        call=lambda **kw: R.rnnt_loss_tdt(**kw),
        samples=lambda p: [
            dict(kw, logits=p.logits, duration_logits=p.duration_logits, symbols=p.symbols,
                 termination_symbol=0, durations=durations, reduction="none")
            for kw in ({"boundary": p.boundary, "sigma": 0.05}, {"boundary": None, "omega": 0.3})
        ],
        reference=lambda kw: tdt_reference(kw, durations),
        grad_args=("logits", "duration_logits"), index_args=("symbols", "boundary"),
        ops=("rnnt::rnnt_loss_tdt",),
        bad_index={"symbols": bad_symbols, "boundary": bad_boundary},
    ))
    def tdt_fused_sample(p):
        x = p.extras
        # The duration head: rows of the label head's, reordered.
        heads = dict(duration_weight=x["weight"].flip(0)[:len(durations)],
                     duration_bias=x["bias"][:len(durations)].flip(0))
        kw = dict(am=x["joiner_am"], lm=x["joiner_lm"], weight=x["weight"], bias=x["bias"],
                  **heads, symbols=p.symbols, termination_symbol=0, durations=durations,
                  reduction="none")
        return [dict(kw, boundary=p.boundary, sigma=0.05), dict(kw, boundary=None, omega=0.3)]

    def tdt_fused_reference(kw):
        hidden = torch.tanh(f64(kw["am"])[:, :, None] + f64(kw["lm"])[:, None])
        logits = hidden @ f64(kw["weight"]).t() + f64(kw["bias"])
        duration_logits = hidden @ f64(kw["duration_weight"]).t() + f64(kw["duration_bias"])
        return tdt_reference(dict(kw, logits=logits, duration_logits=duration_logits),
                             durations)

    rows.append(OpInfo(
        name="rnnt_loss_tdt_fused",
        call=lambda **kw: R.rnnt_loss_tdt_fused(**kw),
        samples=tdt_fused_sample,
        reference=tdt_fused_reference,
        grad_args=("am", "lm", "weight", "bias", "duration_weight", "duration_bias"),
        index_args=("symbols", "boundary"),
        ops=("rnnt::rnnt_loss_tdt_fused",),
        bad_index={"symbols": bad_symbols, "boundary": bad_boundary},
    ))
    big_ids, big_durations = [5, 4], [2, 3]
    rows.append(OpInfo(
        name="rnnt_loss_multiblank",
        call=lambda **kw: R.rnnt_loss_multiblank(**kw),
        samples=lambda p: [
            dict(logits=p.logits, symbols=p.symbols, termination_symbol=0,
                 big_blank_ids=big_ids, big_blank_durations=big_durations, boundary=b,
                 sigma=0.05, reduction="none")
            for b in (p.boundary, None)
        ],
        reference=lambda kw: -reference_scores(
            f64(kw["logits"]), None, symbols_of(kw), multiblank_arc_kinds(0, big_ids,
                                                                        big_durations),
            boundary_of(kw), sigma=0.05),
        grad_args=("logits",), index_args=("symbols", "boundary"),
        ops=("rnnt::rnnt_loss_multiblank",),
        bad_index={"symbols": bad_symbols, "boundary": bad_boundary},
    ))
    rows.append(OpInfo(
        name="rnnt_loss_tdt_simple",
        call=lambda **kw: R.rnnt_loss_tdt_simple(**kw),
        samples=lambda p: [
            dict(lm=p.lm, am=p.am, lm_duration=p.extras["lm_duration"],
                 am_duration=p.extras["am_duration"], symbols=p.symbols, termination_symbol=0,
                 durations=durations, boundary=b, reduction="none")
            for b in (p.boundary, None)
        ],
        reference=lambda kw: tdt_reference(dict(
            kw, logits=f64(kw["am"])[:, :, None] + f64(kw["lm"])[:, None],
            duration_logits=f64(kw["am_duration"])[:, :, None] + f64(kw["lm_duration"])[:, None]),
            durations),
        grad_args=("lm", "am", "lm_duration", "am_duration"),
        index_args=("symbols", "boundary"),
        ops=("rnnt::rnnt_loss_tdt_simple", "rnnt::rnnt_loss_tdt_simple_with_grad"),
        bad_index={"symbols": bad_symbols, "boundary": bad_boundary},
    ))
    rows.append(OpInfo(
        name="rnnt_loss_tdt_pruned",
        call=lambda **kw: R.rnnt_loss_tdt_pruned(**kw),
        samples=lambda p: [
            dict(logits=p.logits, duration_logits=p.duration_logits, symbols=p.symbols,
                 ranges=p.ranges, termination_symbol=0, durations=durations, boundary=b,
                 reduction="none")
            for b in (p.boundary, None)
        ],
        # Full windows: the full TDT loss.
        reference=lambda kw: tdt_reference(kw, durations),
        grad_args=("logits", "duration_logits"), index_args=("symbols", "ranges", "boundary"),
        ops=("rnnt::rnnt_loss_tdt_pruned",),
        bad_index={"symbols": bad_symbols, "boundary": bad_boundary, "ranges": bad_ranges},
    ))

    def lengths_sample(p):
        return [dict(logits=p.logits, targets=p.symbols, logit_lengths=p.boundary[:, 3],
                     target_lengths=p.boundary[:, 2], blank=0, reduction="none")]

    def lengths_reference(kw):
        boundary = R.boundary_from_lengths(kw["logit_lengths"], kw["target_lengths"])
        return regular_loss_from_logp(f64(kw["logits"]).log_softmax(-1),
                                      dict(symbols=kw["targets"], boundary=boundary,
                                           reduction=kw.get("reduction", "mean")))

    def bad_length(name):
        def make(kw):
            t = kw[name].clone()
            t[0] = 10**6
            return t
        return make

    rows.append(OpInfo(
        name="functional.rnnt_loss",
        call=lambda **kw: R.functional.rnnt_loss(**kw),
        samples=lengths_sample,
        reference=lengths_reference,
        error_name=r"(rnnt_ops\.functional\.rnnt_loss|rnnt::rnnt_loss)",
        grad_args=("logits",),
        index_args=("targets", "logit_lengths", "target_lengths"),
        bad_index={"targets": with_value("targets", 10**6),
                   "logit_lengths": bad_length("logit_lengths"),
                   "target_lengths": bad_length("target_lengths")},
    ))
    rows.append(OpInfo(
        name="RNNTLoss",
        call=lambda **kw: R.RNNTLoss(blank=0, reduction="none")(**kw),
        samples=lambda p: [{k: v for k, v in s.items() if k not in ("blank", "reduction")}
                           for s in lengths_sample(p)],
        reference=lambda kw: lengths_reference(dict(kw, reduction="none")),
        error_name=r"(rnnt_ops\.functional\.rnnt_loss|rnnt::rnnt_loss)",
        grad_args=("logits",),
        index_args=("targets", "logit_lengths", "target_lengths"),
        bad_index={"targets": with_value("targets", 10**6),
                   "logit_lengths": bad_length("logit_lengths"),
                   "target_lengths": bad_length("target_lengths")},
        module=lambda: R.RNNTLoss(blank=0, reduction="none"),
    ))

    def nemo_sample(p, with_durations):
        acts = torch.cat([p.logits, p.duration_logits], -1) if with_durations else p.logits
        return [dict(acts=acts, labels=p.symbols, act_lens=p.boundary[:, 3],
                     label_lens=p.boundary[:, 2])]

    def nemo_boundary(kw):
        return R.boundary_from_lengths(kw["act_lens"], kw["label_lens"])

    C = 6  # the problems' classes: the label logits of acts
    rows.append(OpInfo(
        name="TDTLoss",
        call=lambda **kw: R.TDTLoss(blank_idx=0, durations=durations, reduction="none")(**kw),
        samples=lambda p: nemo_sample(p, True),
        reference=lambda kw: tdt_reference(dict(
            logits=f64(kw["acts"])[..., :-len(durations)],
            duration_logits=f64(kw["acts"])[..., -len(durations):],
            symbols=kw["labels"], boundary=nemo_boundary(kw), reduction="none"), durations),
        error_name=r"(TDTLoss|rnnt_loss_tdt)",
        grad_args=("acts",), index_args=("labels", "act_lens", "label_lens"),
        bad_index={"labels": with_value("labels", 10**6),
                   "act_lens": bad_length("act_lens"), "label_lens": bad_length("label_lens")},
        module=lambda: R.TDTLoss(blank_idx=0, durations=durations, reduction="none"),
    ))
    rows.append(OpInfo(
        name="MultiBlankRNNTLoss",
        call=lambda **kw: R.MultiBlankRNNTLoss(
            blank_idx=C - 1, big_blank_durations=[2, 3], reduction="none")(**kw),
        # Labels 0 .. C - 4: the last three classes are the blank and big blanks.
        samples=lambda p: [dict(s, labels=s["labels"] - 1) for s in nemo_sample(p, False)],
        reference=lambda kw: -reference_scores(
            f64(kw["acts"]), None, kw["labels"].long(),
            multiblank_arc_kinds(C - 1, [C - 2, C - 3], [2, 3]), nemo_boundary(kw)),
        error_name=r"(MultiBlankRNNTLoss|rnnt_loss_multiblank)",
        grad_args=("acts",), index_args=("labels", "act_lens", "label_lens"),
        bad_index={"labels": with_value("labels", 10**6),
                   "act_lens": bad_length("act_lens"), "label_lens": bad_length("label_lens")},
        module=lambda: R.MultiBlankRNNTLoss(blank_idx=C - 1, big_blank_durations=[2, 3],
                                            reduction="none"),
    ))
    def nemo_rnnt_reference(kw, acts, labels, frames, label_lens):
        boundary = R.boundary_from_lengths(kw[frames], kw[label_lens])
        return loss_reference(f64(kw[acts]).log_softmax(-1), kw[labels].long(), C - 1,
                              "regular", boundary)

    rows.append(OpInfo(
        name="nemo.RNNTLoss",
        call=lambda **kw: nemo.RNNTLoss(num_classes=C - 1, reduction=None)(**kw),
        samples=lambda p: [dict(log_probs=s["acts"], targets=s["labels"],
                                input_lengths=s["act_lens"], target_lengths=s["label_lens"])
                           for s in nemo_sample(p, False)],
        reference=lambda kw: nemo_rnnt_reference(kw, "log_probs", "targets", "input_lengths",
                                                 "target_lengths"),
        error_name=r"(rnnt_ops\.nemo\.RNNTLoss|rnnt::rnnt_loss)",
        grad_args=("log_probs",), index_args=("targets", "input_lengths", "target_lengths"),
        bad_index={"targets": with_value("targets", 10**6),
                   "input_lengths": bad_length("input_lengths"),
                   "target_lengths": bad_length("target_lengths")},
        module=lambda: nemo.RNNTLoss(num_classes=C - 1, reduction=None), traceable=False,
    ))
    rows.append(OpInfo(
        name="nemo.RNNTLossNumba",
        call=lambda **kw: nemo.RNNTLossNumba(blank=C - 1, reduction=None)(**kw),
        samples=lambda p: nemo_sample(p, False),
        reference=lambda kw: nemo_rnnt_reference(kw, "acts", "labels", "act_lens", "label_lens"),
        error_name=r"(RNNTLossNumba|rnnt::rnnt_loss)",
        grad_args=("acts",), index_args=("labels", "act_lens", "label_lens"),
        bad_index={"labels": with_value("labels", 10**6),
                   "act_lens": bad_length("act_lens"), "label_lens": bad_length("label_lens")},
        module=lambda: nemo.RNNTLossNumba(blank=C - 1, reduction=None),
    ))
    rows.append(OpInfo(
        name="boundary_from_lengths",
        call=lambda **kw: R.boundary_from_lengths(**kw),
        samples=lambda p: [dict(logit_lengths=p.boundary[:, 3], target_lengths=p.boundary[:, 2])],
        reference=lambda kw: torch.stack([
            torch.zeros_like(kw["logit_lengths"]), torch.zeros_like(kw["logit_lengths"]),
            kw["target_lengths"], kw["logit_lengths"]], 1).double(),
        summary=lambda out, kw: out.double(),
        differentiable_once=False,  # (the losses that take the boundary check its values)
    ))
    return rows


# ---- references needing more than a line ----------------------------------------

def full_to_pruned(full, ranges):
    """[B][T][S+1][C] -> [B][T][s_range][C] at the ranges' positions."""
    index = ranges.unsqueeze(-1).expand(-1, -1, -1, full.shape[-1])
    return full.gather(2, index)


def tdt_reference(kw, durations):
    arcs = tdt_arc_kinds(0, durations)
    symbols, boundary = symbols_of(kw), boundary_of(kw)
    logits, z = f64(kw["logits"]), f64(kw["duration_logits"])
    tdt = -reference_scores(logits, z, symbols, arcs, boundary, sigma=kw.get("sigma", 0.0))
    omega = kw.get("omega", 0.0)
    if omega:
        rnnt = loss_reference(logits.log_softmax(-1), symbols, 0, "regular", boundary)
        tdt = (1 - omega) * tdt + omega * rnnt
    return reduce(tdt, kw.get("reduction", "mean"))


def prune_ranges_reference(kw):
    """Not the windows themselves (a heuristic), but what they must be: each
    frame's window of s_range consecutive positions in [0, S], starting at 0
    on frame 0, non-decreasing starts that end at the item's last position.
    Returns the op's own windows when they pass, so the comparison tests the
    properties."""
    ranges = R.get_rnnt_prune_ranges(kw["px_grad"].double(), kw["py_grad"].double(),
                                     kw["boundary"], kw["s_range"])
    S = kw["py_grad"].shape[1] - 1
    start = ranges[..., 0]
    assert (ranges == start[..., None] + torch.arange(ranges.shape[-1])).all()
    assert (ranges >= 0).all() and (ranges <= S).all()
    assert (start[:, 0] == 0).all() and (start[:, 1:] >= start[:, :-1]).all()
    return ranges.double()


TABLE = table()
BY_NAME = {info.name: info for info in TABLE}

# Names in rnnt_ops.__all__ that are no entry point over tensors: switches,
# the library's path, submodules.
NOT_OPS = {
    "__version__", "functional", "library_path", "load_library", "set_value_checks",
    "value_checks", "value_checks_enabled", "with_cuda",
}
# torch.ops.rnnt ops that are settings, not computations.
NOT_OP_ENTRIES = {"rnnt::set_value_checks", "rnnt::value_checks_enabled"}
