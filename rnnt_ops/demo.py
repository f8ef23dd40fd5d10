"""``python -m rnnt_ops.demo``: the recursion on random data, with timing."""

import time

import torch

from rnnt_ops import mutual_information_recursion


def main() -> None:
    torch.manual_seed(0)
    B, S, T = 4, 20, 100
    px = torch.randn(B, S, T + 1, requires_grad=True)
    py = torch.randn(B, S + 1, T, requires_grad=True)
    boundary = torch.tensor([[0, 0, S, T], [0, 0, S - 5, T], [0, 0, S, T - 30], [0, 0, 3, 10]])
    start = time.perf_counter()
    scores, (px_grad, py_grad) = mutual_information_recursion(px, py, boundary, return_grad=True)
    (-scores.sum()).backward()
    elapsed = time.perf_counter() - start
    print(f"scores: {scores.tolist()}")
    print(f"symbols per item (sum of px_grad): {px_grad.sum((1, 2)).tolist()}")
    print(f"forward+backward, B={B} S={S} T={T}: {elapsed * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
