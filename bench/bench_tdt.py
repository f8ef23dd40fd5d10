"""TDT and multi-blank loss time and peak memory beside our regular full
RNN-T loss, on the same logits (loss forward + backward, no joiner).

    python bench/bench_tdt.py [--device cpu|cuda] [--batch 8] [--T 150] [--U 40]
        [--vocab 500] [--durations 0,1,2,3,4] [--steps 5]

Each implementation runs in a fresh process (peak memory over its steps,
warm-up included, beyond its inputs: CUDA max_memory_allocated, or on CPU
the peak RSS growth). Prints a Markdown
table with ratios to the regular full loss.
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IMPLS = ("rnnt_loss", "rnnt_loss_tdt", "rnnt_loss_multiblank")


def run_child(cfg):
    import torch

    sys.path.insert(0, str(REPO))
    import rnnt_ops as R

    dev = torch.device(cfg["device"])
    g = torch.Generator().manual_seed(0)
    B, T, U, V = cfg["batch"], cfg["T"], cfg["U"], cfg["vocab"]
    durations = cfg["durations"]
    logits = torch.randn(B, T, U + 1, V, generator=g).to(dev).requires_grad_()
    z = torch.randn(B, T, U + 1, len(durations), generator=g).to(dev).requires_grad_()
    symbols = torch.randint(1, V - 3, (B, U), generator=g).to(dev)
    lens = torch.stack([torch.zeros(B, dtype=torch.long), torch.zeros(B, dtype=torch.long),
                        torch.randint(U // 2, U + 1, (B,), generator=g),
                        torch.randint(T // 2, T + 1, (B,), generator=g)], 1).to(dev)
    lens[0, 2:] = torch.tensor([U, T])
    impl = cfg["impl"]

    def step():
        if impl == "rnnt_loss":
            loss = R.rnnt_loss(logits, symbols, 0, lens, reduction="sum")
        elif impl == "rnnt_loss_tdt":
            loss = R.rnnt_loss_tdt(logits, z, symbols, 0, durations, lens, reduction="sum")
        else:
            loss = R.rnnt_loss_multiblank(logits, symbols, 0, [V - 1, V - 2], [2, 4], lens,
                                          reduction="sum")
        loss.backward()
        logits.grad = z.grad = None
        return float(loss)

    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    step()  # warm-up (counted in the peak memory, not in the time)
    times = []
    for _ in range(cfg["steps"]):
        t0 = time.perf_counter()
        step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    if dev.type == "cuda":
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:
        peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    return {"ms": statistics.median(times), "peak_mib": peak}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--T", type=int, default=150)
    p.add_argument("--U", type=int, default=40)
    p.add_argument("--vocab", type=int, default=500)
    p.add_argument("--durations", default="0,1,2,3,4")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(run_child(json.loads(sys.stdin.read()))))
        return
    cfg = {k: getattr(args, k) for k in ("device", "batch", "T", "U", "vocab", "steps")}
    cfg["durations"] = [int(d) for d in args.durations.split(",")]
    results = {}
    for impl in IMPLS:
        out = subprocess.run([sys.executable, __file__, "--child"], input=json.dumps({**cfg, "impl": impl}),
                             capture_output=True, text=True, check=True)
        results[impl] = json.loads(out.stdout.strip().splitlines()[-1])
    base = results["rnnt_loss"]
    print(f"B={args.batch} T={args.T} U={args.U} V={args.vocab} durations={cfg['durations']} "
          f"device={args.device}, loss forward+backward, median of {args.steps}\n")
    print("| loss | time (ms) | x regular | peak memory (MiB) | x regular |")
    print("|---|---|---|---|---|")
    for impl, r in results.items():
        mem_ratio = r["peak_mib"] / base["peak_mib"] if base["peak_mib"] > 0 else float("nan")
        print(f"| {impl} | {r['ms']:.1f} | {r['ms'] / base['ms']:.2f} | {r['peak_mib']:.0f} | {mem_ratio:.2f} |")


if __name__ == "__main__":
    main()
