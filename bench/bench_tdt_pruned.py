"""Pruned TDT training step beside the full TDT one, joiner included: time
and peak memory (docs/api.md, "Pruned TDT").

    python bench/bench_tdt_pruned.py [--device cpu|cuda] [--batch 8] [--T 150] [--U 40]
        [--vocab 500] [--hidden 256] [--s-range 5] [--durations 0,1,2,3,4] [--steps 5]

Encoder and decoder outputs am [B][T][H], lm [B][U+1][H]. Full TDT: a linear
joiner on tanh(am + lm) for every node ([B][T][U+1][V+D]), then
rnnt_loss_tdt. Pruned TDT: linear heads on am and lm for
rnnt_loss_tdt_simple (return_grad), get_rnnt_prune_ranges, the joiner on
do_rnnt_pruning's [B][T][s_range] cells, rnnt_loss_tdt_pruned + 0.5 x the
simple loss. Pruned RNN-T (for scale): the same recipe with rnnt_loss_simple
and rnnt_loss_pruned on the label logits alone. Forward + backward of
everything. Item 0 has T frames and U
symbols, the others T_b in [T/2, T] and U_b in [U/2, U] (seeded).

Each runs in a fresh process (peak memory over its steps, warm-up
included, beyond its inputs: CUDA max_memory_allocated, or on CPU the peak
RSS growth). Prints a Markdown table with ratios to the full TDT step.
"""

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.isolated import measure_steps, print_ratio_table, run_children  # noqa: E402

IMPLS = ("full TDT + joiner", "pruned TDT + joiner", "pruned RNN-T + joiner")


def run_child(cfg):
    import torch

    import rnnt_ops as R

    dev = torch.device(cfg["device"])
    g = torch.Generator().manual_seed(0)
    B, T, U, V, H = cfg["batch"], cfg["T"], cfg["U"], cfg["vocab"], cfg["hidden"]
    durations = cfg["durations"]
    D = len(durations)
    torch.manual_seed(0)
    am = torch.randn(B, T, H, generator=g).to(dev).requires_grad_()
    lm = torch.randn(B, U + 1, H, generator=g).to(dev).requires_grad_()
    symbols = torch.randint(1, V, (B, U), generator=g).to(dev)
    lens = torch.stack([torch.zeros(B, dtype=torch.long), torch.zeros(B, dtype=torch.long),
                        torch.randint(U // 2, U + 1, (B,), generator=g),
                        torch.randint(T // 2, T + 1, (B,), generator=g)], 1).to(dev)
    lens[0, 2:] = torch.tensor([U, T])
    joiner = torch.nn.Linear(H, V + D).to(dev)
    am_head, lm_head = torch.nn.Linear(H, V + D).to(dev), torch.nn.Linear(H, V + D).to(dev)
    params = [am, lm, *joiner.parameters(), *am_head.parameters(), *lm_head.parameters()]

    def step():
        if cfg["impl"] == IMPLS[0]:
            out = joiner(torch.tanh(am[:, :, None] + lm[:, None]))
            loss = R.rnnt_loss_tdt(out[..., :V], out[..., V:], symbols, 0, durations, lens,
                                   reduction="sum")
        elif cfg["impl"] == IMPLS[2]:
            a, l = am_head(am), lm_head(lm)
            simple, (px_grad, py_grad) = R.rnnt_loss_simple(
                l[..., :V], a[..., :V], symbols, 0, lens, reduction="sum", return_grad=True)
            ranges = R.get_rnnt_prune_ranges(px_grad, py_grad, lens, cfg["s_range"])
            am_p, lm_p = R.do_rnnt_pruning(am, lm, ranges)
            out = joiner(torch.tanh(am_p + lm_p))
            loss = 0.5 * simple + R.rnnt_loss_pruned(out[..., :V], symbols, ranges, 0, lens,
                                                     reduction="sum")
        else:
            a, l = am_head(am), lm_head(lm)
            simple, (px_grad, py_grad) = R.rnnt_loss_tdt_simple(
                l[..., :V], a[..., :V], l[..., V:], a[..., V:], symbols, 0, durations, lens,
                reduction="sum", return_grad=True)
            ranges = R.get_rnnt_prune_ranges(px_grad, py_grad, lens, cfg["s_range"])
            am_p, lm_p = R.do_rnnt_pruning(am, lm, ranges)
            out = joiner(torch.tanh(am_p + lm_p))
            loss = 0.5 * simple + R.rnnt_loss_tdt_pruned(
                out[..., :V], out[..., V:], symbols, ranges, 0, durations, lens, reduction="sum")
        loss.backward()
        for p in params:
            p.grad = None
        return float(loss)

    # One warm-up step (counted in the peak memory, not in the time).
    return measure_steps(torch, dev, [step] * (1 + cfg["steps"]), warmup=1)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--T", type=int, default=150)
    p.add_argument("--U", type=int, default=40)
    p.add_argument("--vocab", type=int, default=500)
    p.add_argument("--hidden", type=int, default=256, help="joiner input size H")
    p.add_argument("--s-range", type=int, default=5, help="prune window")
    p.add_argument("--durations", default="0,1,2,3,4")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(run_child(json.loads(sys.stdin.read()))))
        return
    cfg = {k: getattr(args, k)
           for k in ("device", "batch", "T", "U", "vocab", "hidden", "s_range", "steps")}
    cfg["durations"] = [int(d) for d in args.durations.split(",")]
    results = run_children(__file__, cfg, IMPLS)
    print(f"B={args.batch} T={args.T} U={args.U} V={args.vocab} H={args.hidden} "
          f"s_range={args.s_range} durations={cfg['durations']} device={args.device}, "
          f"training step with joiner, median of {args.steps}\n")
    print_ratio_table(results, IMPLS[0], "step", "full")


if __name__ == "__main__":
    main()
