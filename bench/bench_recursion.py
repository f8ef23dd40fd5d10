"""Time (and on GPU peak memory) of rnnt::mutual_information, forward +
backward, against a plain-PyTorch baseline in the same run: the same
recursion vectorised over batch and anti-diagonals, differentiated by
autograd (bench/plain_rnnt.py). Prints a Markdown table.

    python bench/bench_recursion.py [--device cpu|cuda] [--shapes BxSxT,...]
        [--threads N] [--repeats 5] [--dtype float32|float64]

Defaults: B=16, S=100, T=500 on CPU; on CUDA B=32, S=100, T=500 (the CUDA
issue's size) and B=30, S=120, T=474 (the standard benchmark's largest
lattice). Timing: time.perf_counter on CPU, CUDA events on GPU; median of
--repeats after one warm-up call. GPU memory: torch.cuda.max_memory_allocated
during our forward + backward, above what was allocated before it (inputs),
beside the size of the forward table p, [B][S+1][T+1], the unit in which the
recursion's memory is counted: the forward holds p and the two occupation
tables (each about p's size), and the backward scales those into px.grad
and py.grad (the H100 run measured about 6 p in all: bench/RESULTS.md).
"""

import argparse
import time

import torch

from plain_rnnt import antidiagonal_recursion
from rnnt_ops import mutual_information_recursion

DEFAULT_SHAPES = {"cpu": "16x100x500", "cuda": "32x100x500,30x120x474"}


def median_ms(fn, repeats: int, device: str = "cpu") -> float:
    """Median wall time of fn() in ms, after one warm-up call."""
    cuda = device == "cuda"
    fn()
    if cuda:
        torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    return sorted(times)[len(times) // 2]


def peak_extra_mib(fn) -> float:
    """GPU memory fn() allocates at its peak, above what was allocated before."""
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / 2**20


def parse_shapes(text: str):
    shapes = []
    for item in text.split(","):
        B, S, T = (int(v) for v in item.lower().split("x"))
        shapes.append((B, S, T))
    return shapes


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--shapes", default=None, help="comma-separated BxSxT (default: per device)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline-repeats", type=int, default=3)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device, dtype = args.device, getattr(torch, args.dtype)
    cuda = device == "cuda"
    where = torch.cuda.get_device_name() if cuda else f"CPU, {args.threads} thread(s)"
    print(f"{where}, torch {torch.__version__}, {args.dtype}, forward+backward, "
          f"median of {args.repeats} (baseline {args.baseline_repeats})")
    memory = " ours peak extra MiB | p table MiB |" if cuda else ""
    print(f"| B | S | T | rnnt_ops ms | plain PyTorch anti-diagonal ms | ratio to baseline | speed-up |{memory}")
    print("|---|---|---|---|---|---|---|" + ("---|---|" if cuda else ""))
    for B, S, T in parse_shapes(args.shapes or DEFAULT_SHAPES[device]):
        px = torch.randn(B, S, T + 1, device=device, dtype=dtype).log_softmax(-1).requires_grad_()
        py = torch.randn(B, S + 1, T, device=device, dtype=dtype).log_softmax(-1).requires_grad_()

        def ours():
            mutual_information_recursion(px, py).sum().backward()

        def baseline():
            antidiagonal_recursion(px, py).sum().backward()

        torch.testing.assert_close(
            mutual_information_recursion(px, py), antidiagonal_recursion(px, py), rtol=1e-4, atol=1e-3
        )
        t_ours = median_ms(ours, args.repeats, device)
        t_base = median_ms(baseline, args.baseline_repeats, device)
        row = f"| {B} | {S} | {T} | {t_ours:.3f} | {t_base:.3f} | {t_ours / t_base:.4f} | {t_base / t_ours:.1f}x |"
        if cuda:
            px.grad = py.grad = None
            p_mib = B * (S + 1) * (T + 1) * px.element_size() / 2**20
            row += f" {peak_extra_mib(ours):.2f} | {p_mib:.2f} |"
        print(row)


if __name__ == "__main__":
    main()
