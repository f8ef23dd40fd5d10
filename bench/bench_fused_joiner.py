"""Peak memory and time of one training step of the fused joiner + loss
(rnnt_loss_fused) against the unfused path (joiner logits materialised,
then rnnt_loss), side by side in one run, on CPU (or CUDA).

    python bench/bench_fused_joiner.py [--B 4 --T 200 --S 50 --D 256]
        [--C 500 2000 4000 8000] [--fused-only-C 32000] [--steps 3]
        [--device cuda]

Step = joiner + loss forward + backward (float32), from am [B][T][D],
lm [B][S+1][D], weight [C][D], bias [C], all requiring grad; tanh joiner.
Each (path, C) runs in a fresh subprocess: peak = the process's peak RSS
(getrusage) minus its RSS after building the inputs (on CUDA: the peak
allocated minus what the inputs hold); time = the median of ``--steps``
steps after one warm-up step (on CUDA synchronised). ``--fused-only-C`` sizes run the
fused path alone (the unfused logits would not fit in memory).

``--s-range N`` measures the pruned losses instead: rnnt_loss_pruned_fused
against do_rnnt_pruning + joiner + rnnt_loss_pruned, on windows of N label
positions fixed before the steps (from a simple loss on random logits).
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time


def child(path: str, B: int, T: int, S: int, D: int, C: int, steps: int, device: str,
          s_range: int) -> None:
    import torch

    import rnnt_ops

    torch.manual_seed(0)
    am = torch.randn(B, T, D, device=device, requires_grad=True)
    lm = torch.randn(B, S + 1, D, device=device, requires_grad=True)
    weight = (torch.randn(C, D, device=device) / D**0.5).requires_grad_(True)
    bias = torch.zeros(C, device=device, requires_grad=True)
    symbols = torch.randint(1, C, (B, S), device=device)
    cuda = device == "cuda"
    ranges = None
    if s_range:
        _, (px_grad, py_grad) = rnnt_ops.rnnt_loss_simple(
            torch.randn(B, S + 1, 8, device=device), torch.randn(B, T, 8, device=device),
            torch.randint(1, 8, (B, S), device=device), 0, return_grad=True)
        ranges = rnnt_ops.get_rnnt_prune_ranges(px_grad, py_grad, None, s_range)

    def step() -> float:
        if ranges is not None and path == "fused":
            loss = rnnt_ops.rnnt_loss_pruned_fused(am, lm, ranges, weight, bias, symbols, 0)
        elif ranges is not None:
            am_pruned, lm_pruned = rnnt_ops.do_rnnt_pruning(am, lm, ranges)
            logits = torch.tanh(am_pruned + lm_pruned) @ weight.T + bias
            loss = rnnt_ops.rnnt_loss_pruned(logits, symbols, ranges, 0)
        elif path == "fused":
            loss = rnnt_ops.rnnt_loss_fused(am, lm, weight, bias, symbols, 0)
        else:
            logits = torch.tanh(am[:, :, None] + lm[:, None]) @ weight.T + bias
            loss = rnnt_ops.rnnt_loss(logits, symbols, 0)
        loss.backward()
        return float(loss)

    if cuda:
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated() / 2**20
    else:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times, losses = [], []
    for i in range(steps + 1):
        start = time.perf_counter()
        losses.append(step())  # float(loss) synchronises
        if i > 0:
            times.append(time.perf_counter() - start)
        for p in (am, lm, weight, bias):
            p.grad = None
    if cuda:
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_mib": peak - before, "seconds": statistics.median(times),
                      "loss": losses[-1]}))


def measure(path: str, C: int, args) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", path, "--B", str(args.B), "--T", str(args.T),
         "--S", str(args.S), "--D", str(args.D), "--C", str(C), "--steps", str(args.steps),
         "--device", args.device, "--s-range", str(args.s_range)],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--B", type=int, default=4)
    parser.add_argument("--T", type=int, default=200)
    parser.add_argument("--S", type=int, default=50)
    parser.add_argument("--D", type=int, default=256)
    parser.add_argument("--C", type=int, nargs="*", default=[500, 2000, 4000, 8000])
    parser.add_argument("--fused-only-C", type=int, nargs="*", default=[32000])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--s-range", type=int, default=0)
    parser.add_argument("--child", choices=["fused", "unfused"])
    args = parser.parse_args()
    if args.child:
        child(args.child, args.B, args.T, args.S, args.D, args.C[0], args.steps, args.device,
              args.s_range)
        return
    import torch

    where = (torch.cuda.get_device_name() if args.device == "cuda"
             else f"CPU ({torch.get_num_threads()} threads)")
    what = f"pruned losses, s_range={args.s_range}" if args.s_range else "full losses"
    print(f"{what}, B={args.B} T={args.T} S={args.S} D={args.D}, float32, {where}, tanh joiner, "
          f"one step = forward + backward, median of {args.steps} steps")
    print("| C | unfused peak MiB | fused peak MiB | peak ratio | unfused s | fused s "
          "| time ratio | loss diff |")
    print("|---|---|---|---|---|---|---|---|")
    for C in args.C:
        unfused, fused = measure("unfused", C, args), measure("fused", C, args)
        print(f"| {C} | {unfused['peak_mib']:.0f} | {fused['peak_mib']:.0f} "
              f"| {fused['peak_mib'] / unfused['peak_mib']:.3f} | {unfused['seconds']:.3f} "
              f"| {fused['seconds']:.3f} | {fused['seconds'] / unfused['seconds']:.2f} "
              f"| {abs(fused['loss'] - unfused['loss']):.1e} |", flush=True)
    for C in args.fused_only_C:
        fused = measure("fused", C, args)
        print(f"| {C} | (not run) | {fused['peak_mib']:.0f} | - | - | {fused['seconds']:.3f} "
              f"| - | - |", flush=True)


if __name__ == "__main__":
    main()
