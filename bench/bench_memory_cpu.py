"""Peak CPU memory of one training step of the pruned path versus the full
loss, in the same run (each in a fresh subprocess; peak RSS from
getrusage, minus the RSS after building the inputs).

    python bench/bench_memory_cpu.py [--B 8 --T 200 --S 50 --C 500 --dim 512]

Step = joiner forward + loss forward + backward; pruned path = two
Linear(dim, C) projections + rnnt_loss_simple(return_grad=True) +
get_rnnt_prune_ranges(s_range=5) + do_rnnt_pruning + joiner + rnnt_loss_pruned.
"""

import argparse
import json
import resource
import subprocess
import sys
import time


def child(mode: str, B: int, T: int, S: int, C: int, dim: int) -> None:
    import torch

    import rnnt_ops

    torch.manual_seed(0)
    encoder = torch.randn(B, T, dim, requires_grad=True)
    decoder = torch.randn(B, S + 1, dim, requires_grad=True)
    symbols = torch.randint(1, C, (B, S))
    output = torch.nn.Linear(dim, C)
    am_proj, lm_proj = torch.nn.Linear(dim, C), torch.nn.Linear(dim, C)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    if mode == "pruned":
        simple, (px_grad, py_grad) = rnnt_ops.rnnt_loss_simple(
            lm_proj(decoder), am_proj(encoder), symbols, 0, reduction="sum", return_grad=True
        )
        ranges = rnnt_ops.get_rnnt_prune_ranges(px_grad, py_grad, None, 5)
        am_p, lm_p = rnnt_ops.do_rnnt_pruning(encoder, decoder, ranges)
        logits = output(torch.tanh(am_p + lm_p))
        loss = 0.5 * simple + rnnt_ops.rnnt_loss_pruned(logits, symbols, ranges, 0, reduction="sum")
    elif mode == "full":
        logits = output(torch.tanh(encoder[:, :, None] + decoder[:, None]))
        loss = rnnt_ops.rnnt_loss(logits, symbols, 0, reduction="sum")
    loss.backward() if mode != "setup" else None
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_kib": peak, "inputs_kib": before, "seconds": elapsed}))


def measure(mode: str, args) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--B", str(args.B), "--T", str(args.T),
         "--S", str(args.S), "--C", str(args.C), "--dim", str(args.dim)],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--B", type=int, default=8)
    parser.add_argument("--T", type=int, default=200)
    parser.add_argument("--S", type=int, default=50)
    parser.add_argument("--C", type=int, default=500)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--child", choices=["setup", "pruned", "full"])
    args = parser.parse_args()
    if args.child:
        child(args.child, args.B, args.T, args.S, args.C, args.dim)
        return
    full = measure("full", args)
    pruned = measure("pruned", args)
    print(f"B={args.B} T={args.T} S={args.S} C={args.C} dim={args.dim}, float32, CPU, one step")
    print("| path | step peak MiB (above inputs) | step s | peak ratio to full |")
    print("|---|---|---|---|")
    base = full["peak_kib"] - full["inputs_kib"]
    for name, r in (("full rnnt_loss (baseline)", full), ("pruned (0.5*simple + pruned)", pruned)):
        extra = r["peak_kib"] - r["inputs_kib"]
        print(f"| {name} | {extra / 1024:.0f} | {r['seconds']:.2f} | {extra / base:.3f} |")


if __name__ == "__main__":
    main()
