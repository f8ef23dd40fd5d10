"""GPU time of rnnt::mutual_information (forward + backward, CUDA kernels)
against a plain-PyTorch baseline on the same GPU (the recursion vectorised
over batch and anti-diagonals, differentiated by autograd), timed with CUDA
events in the same run. Prints a Markdown table.

    python bench/bench_recursion_cuda.py [--repeats 20] [--dtype float32]
"""

import argparse

import torch

from rnnt_ops import mutual_information_recursion

SHAPES = [(16, 100, 500), (30, 120, 474)]


def antidiagonal_recursion(px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    """Regular recursion, no boundary, on px's device: the nodes with s + t = k
    depend only on diagonal k - 1, so each diagonal is one vectorised step."""
    B, S, T1 = px.shape
    T = T1 - 1
    device = px.device
    neg_inf = torch.tensor(float("-inf"), dtype=px.dtype, device=device)
    diag = torch.zeros(B, 1, dtype=px.dtype, device=device)  # node (0, 0)
    for k in range(1, S + T + 1):
        s = torch.arange(max(0, k - T), min(S, k) + 1, device=device)
        t = k - s
        prev_lo = max(0, k - 1 - T)  # first row of diagonal k - 1
        width = diag.shape[1]
        up = (s - 1 - prev_lo).clamp(0, width - 1)  # (s-1, t) on diagonal k-1
        left = (s - prev_lo).clamp(0, width - 1)  # (s, t-1) on diagonal k-1
        from_symbol = torch.where(
            s >= 1, diag[:, up] + px[:, (s - 1).clamp(min=0), t], neg_inf
        )
        from_blank = torch.where(
            (t >= 1) & (s - prev_lo < width),
            diag[:, left] + py[:, s, (t - 1).clamp(min=0)],
            neg_inf,
        )
        diag = torch.logaddexp(from_symbol, from_blank)
    return diag[:, -1]


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
