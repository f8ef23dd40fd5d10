"""The fused joiner losses' sparse backward against the unfused path and the
fused path that recomputes every cell, one training step each, side by side.

    python bench/bench_fused_sparse.py [--full-C 500 4000] [--pruned-C 500 8000]
        [--tdt-C C ...] [--steps 5] [--logit-scale 1.0] [--threads 1]

A step is the forward and backward of am, lm, weight and bias (float32,
tanh joiner, ``reduction="sum"``):

- full: B=4, T=200, S=50, D=256; unfused = ``tanh(am[:, :, None] +
  lm[:, None]) @ weight.T + bias`` then ``rnnt_loss``;
- pruned: B=8, (T, U) the first 8 rows of bench/data/librispeech_shapes.json
  divided by 4 (ragged boundaries), D=256, windows of s_range=5 fixed
  before the steps (from ``rnnt_loss_simple`` on random projections);
  unfused = ``do_rnnt_pruning`` + joiner + ``rnnt_loss_pruned``;
- tdt (``--tdt-C``, none by default): the full shape with a duration head
  (durations 0-4, NeMo's TDT joint); unfused = both heads on the
  materialised hidden, then ``rnnt_loss_tdt``;

fused = ``rnnt_loss_fused`` / ``rnnt_loss_pruned_fused`` /
``rnnt_loss_tdt_fused`` with
``sparse_backward=False`` ("all cells") and True ("sparse"). Times: the
three run interleaved in one process (round-robin, one warm-up round), the
median of ``--steps``. Peak: each variant alone in a fresh process (one
warm-up step and one step), peak RSS above the inputs. Skipped: the share
of the boxes' cells the sparse backward drops, from the occupations it
receives (a hook on its autograd node) and the skip rule. GEMMs: the
aten::mm / addmm / addmm_ calls of one step (torch.profiler).
``--logit-scale`` multiplies the weight (8: a peaky, trained-like joiner).
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.shapes import DEFAULT_SHAPES_PATH, load_shapes, scale_lengths  # noqa: E402

VARIANTS = ("unfused", "all cells", "sparse")
SKIP_RATIO_F32 = 2.0**-24 / 8  # the skip rule's eps for float32 GEMMs
GEMMS = ("aten::mm", "aten::addmm", "aten::addmm_")


def problem(torch, kind: str, C: int, scale: float):
    """(inputs, call(variant) -> loss, cells in the boxes)."""
    import rnnt_ops

    torch.manual_seed(0)
    D = 256
    if kind in ("full", "tdt"):
        B, T, S = 4, 200, 50
        lengths = [(T, S)] * B
    else:
        lengths = scale_lengths(load_shapes(DEFAULT_SHAPES_PATH)[:8], 4)
        B, T, S = len(lengths), max(t for t, _ in lengths), max(u for _, u in lengths)
    am = torch.randn(B, T, D, requires_grad=True)
    lm = torch.randn(B, S + 1, D, requires_grad=True)
    weight = (torch.randn(C, D) * scale / D**0.5).requires_grad_(True)
    bias = torch.zeros(C, requires_grad=True)
    symbols = torch.randint(1, C, (B, S))
    boundary = torch.tensor([[0, 0, u, t] for t, u in lengths])
    inputs = (am, lm, weight, bias)
    if kind == "full":
        cells = sum(t * (u + 1) for t, u in lengths)

        def call(variant):
            if variant == "unfused":
                logits = torch.tanh(am[:, :, None] + lm[:, None]) @ weight.T + bias
                return rnnt_ops.rnnt_loss(logits, symbols, 0, boundary, reduction="sum")
            return rnnt_ops.rnnt_loss_fused(am, lm, weight, bias, symbols, 0, boundary,
                                            reduction="sum",
                                            sparse_backward=variant == "sparse")
        return inputs, call, cells
    if kind == "tdt":
        durations = [0, 1, 2, 3, 4]
        duration_weight = (torch.randn(len(durations), D) / D**0.5).requires_grad_(True)
        duration_bias = torch.zeros(len(durations), requires_grad=True)
        cells = sum(t * (u + 1) for t, u in lengths)

        def call(variant):
            if variant == "unfused":
                hidden = torch.tanh(am[:, :, None] + lm[:, None])
                return rnnt_ops.rnnt_loss_tdt(hidden @ weight.T + bias,
                                              hidden @ duration_weight.T + duration_bias,
                                              symbols, 0, durations, boundary, reduction="sum")
            return rnnt_ops.rnnt_loss_tdt_fused(am, lm, weight, bias, duration_weight,
                                                duration_bias, symbols, 0, durations, boundary,
                                                reduction="sum",
                                                sparse_backward=variant == "sparse")
        return inputs + (duration_weight, duration_bias), call, cells
    s_range = 5
    _, (px_grad, py_grad) = rnnt_ops.rnnt_loss_simple(
        torch.randn(B, S + 1, 8), torch.randn(B, T, 8), torch.randint(1, 8, (B, S)), 0,
        boundary, return_grad=True)
    ranges = rnnt_ops.get_rnnt_prune_ranges(px_grad, py_grad, boundary, s_range)
    cells = sum(t * s_range for t, _ in lengths)

    def call(variant):
        if variant == "unfused":
            am_p, lm_p = rnnt_ops.do_rnnt_pruning(am, lm, ranges)
            logits = torch.tanh(am_p + lm_p) @ weight.T + bias
            return rnnt_ops.rnnt_loss_pruned(logits, symbols, ranges, 0, boundary,
                                             reduction="sum")
        return rnnt_ops.rnnt_loss_pruned_fused(am, lm, ranges, weight, bias, symbols, 0,
                                               boundary, reduction="sum",
                                               sparse_backward=variant == "sparse")
    return inputs, call, cells


def step(torch, inputs, call, variant):
    loss = call(variant)
    torch.autograd.grad(loss, inputs)
    return float(loss.detach())


def fused_node(loss):
    """The autograd node of the fused joiner's log-probs in loss's graph."""
    seen, todo = set(), [loss.grad_fn]
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if "FusedJoiner" in node.name():
            return node
        todo.extend(fn for fn, _ in node.next_functions)
    raise RuntimeError("no fused joiner node in the loss's graph")


def skipped_share(torch, inputs, call, cells: int) -> float:
    """Share of the boxes' cells the skip rule drops in one backward: per
    item, the lightest cells whose occupations |g_symbol| + |g_blank| sum
    to at most eps times the item's total."""
    loss = call("sparse")
    seen = {}
    fused_node(loss).register_prehook(lambda grads: seen.update(g=grads[:2]))
    torch.autograd.grad(loss, inputs)
    occupation = (seen["g"][0].double().abs() + seen["g"][1].double().abs()).flatten(1)
    running = occupation.sort(1).values.cumsum(1)
    kept = int((running > SKIP_RATIO_F32 * running[:, -1:]).sum())
    return 1 - kept / cells


def gemm_calls(torch, inputs, call, variant) -> int:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step(torch, inputs, call, variant)
    return sum(e.count for e in prof.key_averages() if e.key in GEMMS)


def peak_child(kind: str, C: int, variant: str, scale: float, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    inputs, call, _ = problem(torch, kind, C, scale)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(2):
        step(torch, inputs, call, variant)
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(json.dumps({"peak_mib": peak}))


def peak(kind: str, C: int, variant: str, args) -> float:
    out = subprocess.run(
        [sys.executable, __file__, "--peak-child", kind, str(C), variant,
         "--logit-scale", str(args.logit_scale), "--threads", str(args.threads)],
        check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["peak_mib"]


def measure(torch, kind: str, C: int, peaks: dict, args) -> None:
    inputs, call, cells = problem(torch, kind, C, args.logit_scale)
    times = {v: [] for v in VARIANTS}
    losses = {}
    for round_ in range(args.steps + 1):
        for v in VARIANTS:
            start = time.perf_counter()
            losses[v] = step(torch, inputs, call, v)
            if round_ > 0:
                times[v].append(time.perf_counter() - start)
    med = {v: statistics.median(times[v]) for v in VARIANTS}
    gemms = {v: gemm_calls(torch, inputs, call, v) for v in VARIANTS}
    skipped = skipped_share(torch, inputs, call, cells)
    base = med["unfused"]
    print(f"| {kind} | {C} | {skipped:.0%} | {base:.3f} | {med['all cells']:.3f} "
          f"({med['all cells'] / base:.2f}x) | {med['sparse']:.3f} "
          f"({med['sparse'] / base:.2f}x) | {peaks['unfused']:.0f} | {peaks['sparse']:.0f} "
          f"({peaks['sparse'] / peaks['unfused']:.3f}x) | {gemms['unfused']} / "
          f"{gemms['all cells']} / {gemms['sparse']} "
          f"| {abs(losses['sparse'] - losses['unfused']) / abs(losses['unfused']):.0e} |",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--full-C", type=int, nargs="*", default=[500, 4000])
    parser.add_argument("--pruned-C", type=int, nargs="*", default=[500, 8000])
    parser.add_argument("--tdt-C", type=int, nargs="*", default=[])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--logit-scale", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--peak-child", nargs=3, metavar=("KIND", "C", "VARIANT"))
    args = parser.parse_args()
    if args.peak_child:
        kind, C, variant = args.peak_child
        peak_child(kind, int(C), variant, args.logit_scale, args.threads)
        return
    import torch

    torch.set_num_threads(args.threads)
    print(f"float32, CPU, {args.threads} thread(s), tanh joiner, logit scale "
          f"{args.logit_scale}, median of {args.steps} interleaved steps; times in s, "
          "ratios to unfused; peaks in MiB above the inputs")
    print("| loss | C | cells skipped | unfused s | all cells s | sparse s | unfused peak "
          "| sparse peak | GEMMs/step unfused / all cells / sparse | loss rel. diff |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    rows = ([("full", C) for C in args.full_C] + [("pruned", C) for C in args.pruned_C]
            + [("tdt", C) for C in args.tdt_C])
    # The peaks first: Linux carries a process's peak RSS over to the
    # children it starts, so they run before this process's own steps.
    peaks = {row: {v: peak(*row, v, args) for v in VARIANTS} for row in rows}
    for row in rows:
        measure(torch, *row, peaks[row], args)


if __name__ == "__main__":
    main()
