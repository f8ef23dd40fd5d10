"""GPU time of rnnt::mutual_information (forward + backward, CUDA kernels)
against a plain-PyTorch baseline on the same GPU (the recursion vectorised
over batch and anti-diagonals, differentiated by autograd), timed with CUDA
events in the same run. Prints a Markdown table.

    python bench/bench_recursion_cuda.py [--repeats 20] [--dtype float32]
"""

import argparse

import torch

from plain_rnnt import antidiagonal_recursion
from rnnt_ops import mutual_information_recursion

SHAPES = [(16, 100, 500), (30, 120, 474)]


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--baseline-repeats", type=int, default=3)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    torch.manual_seed(0)
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, {args.dtype}")
    print("| B | S | T | rnnt_ops CUDA ms | PyTorch anti-diagonal ms | speed-up |")
    print("|---|---|---|---|---|---|")
    for B, S, T in SHAPES:
        px = torch.randn(B, S, T + 1, device="cuda", dtype=dtype).log_softmax(-1)
        py = torch.randn(B, S + 1, T, device="cuda", dtype=dtype).log_softmax(-1)
        px.requires_grad_()
        py.requires_grad_()

        def ours():
            mutual_information_recursion(px, py).sum().backward()

        def baseline():
            antidiagonal_recursion(px, py).sum().backward()

        torch.testing.assert_close(
            mutual_information_recursion(px, py),
            antidiagonal_recursion(px, py),
            rtol=1e-4,
            atol=1e-3,
        )
        t_ours = median_ms(ours, args.repeats)
        t_base = median_ms(baseline, args.baseline_repeats)
        print(f"| {B} | {S} | {T} | {t_ours:.3f} | {t_base:.1f} | {t_base / t_ours:.1f}x |")


if __name__ == "__main__":
    main()
