"""CPU time of rnnt::mutual_information (forward + backward) against a
plain-PyTorch baseline (the same recursion vectorised over batch and
anti-diagonals, differentiated by autograd), in the same run.

    python bench/bench_recursion.py [--B 16 --S 100 --T 500 --threads N]
"""

import argparse
import time

import torch

from rnnt_ops import mutual_information_recursion


def antidiagonal_recursion(px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    """Regular recursion, no boundary: nodes with s + t = k depend only on
    diagonal k - 1, so each diagonal is one vectorised step."""
    B, S, T1 = px.shape
    T = T1 - 1
    neg_inf = torch.tensor(float("-inf"), dtype=px.dtype)
    diag = torch.zeros(B, 1, dtype=px.dtype)  # p on diagonal 0: (0, 0)
    for k in range(1, S + T + 1):
        s = torch.arange(max(0, k - T), min(S, k) + 1)
        t = k - s
        prev_s0 = max(0, k - 1 - T)  # first s on diagonal k - 1
        # from (s-1, t): index s-1-prev_s0 on the previous diagonal
        from_symbol = torch.where(
            s >= 1, diag[:, (s - 1 - prev_s0).clamp(0, diag.shape[1] - 1)] + px[:, (s - 1).clamp(min=0), t], neg_inf
        )
        ok_blank = (t >= 1) & (s - prev_s0 < diag.shape[1])
        from_blank = torch.where(
            ok_blank, diag[:, (s - prev_s0).clamp(0, diag.shape[1] - 1)] + py[:, s, (t - 1).clamp(min=0)], neg_inf
        )
        diag = torch.logaddexp(from_symbol, from_blank)
    return diag[:, -1]


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
