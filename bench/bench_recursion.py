"""CPU time of rnnt::mutual_information (forward + backward) against a
plain-PyTorch baseline (the same recursion vectorised over batch and
anti-diagonals, differentiated by autograd: bench/plain_rnnt.py), in the
same run.

    python bench/bench_recursion.py [--B 16 --S 100 --T 500 --threads N]
"""

import argparse
import time

import torch

from plain_rnnt import antidiagonal_recursion
from rnnt_ops import mutual_information_recursion


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--B", type=int, default=16)
    parser.add_argument("--S", type=int, default=100)
    parser.add_argument("--T", type=int, default=500)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    px = torch.randn(args.B, args.S, args.T + 1).log_softmax(-1).requires_grad_()
    py = torch.randn(args.B, args.S + 1, args.T).log_softmax(-1).requires_grad_()

    def ours():
        mutual_information_recursion(px, py).sum().backward()

    def baseline():
        antidiagonal_recursion(px, py).sum().backward()

    torch.testing.assert_close(
        mutual_information_recursion(px, py), antidiagonal_recursion(px, py), rtol=1e-4, atol=1e-3
    )
    t_ours = median_time(ours, args.repeats)
    t_base = median_time(baseline, max(1, args.repeats // 2))
    print(f"B={args.B} S={args.S} T={args.T} float32, {args.threads} thread(s), median of {args.repeats}")
    print("| implementation | forward+backward ms | ratio to baseline |")
    print("|---|---|---|")
    print(f"| plain PyTorch anti-diagonal + autograd (baseline) | {t_base * 1e3:.1f} | 1.00 |")
    print(f"| rnnt_ops CPU kernel | {t_ours * 1e3:.1f} | {t_ours / t_base:.3f} |")


if __name__ == "__main__":
    main()
