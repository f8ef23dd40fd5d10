"""How far the float32 recursion kernels are from float64, on the cases of
tests/test_cuda_vs_cpu.py (unnormalised randn px/py, ragged and full boxes,
regular and modified): per device (CPU, and CUDA when present), the largest
absolute error of the occupation-probability gradients, also in units of
eps * max|p|, and the largest error of scores and p in units of that test's
tolerance (1e-4 + 1e-5 |value|). Prints a Markdown table.

    python bench/float32_error.py
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import rnnt_ops  # noqa: E402,F401  (loads the ops)
from test_cuda_vs_cpu import CASES, TOL, case_inputs, run_ops  # noqa: E402

EPS = torch.finfo(torch.float32).eps


def worst_in_tolerance(got, exact):
    finite = exact.isfinite()
    tol = TOL[torch.float32]
    bound = tol["atol"] + tol["rtol"] * exact[finite].abs()
    return ((got.double()[finite] - exact[finite]).abs() / bound).max().item()


def main() -> None:
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}; float32 against the float64 CPU kernels")
    print("| device | B, S, T | modified | boundary | max abs p | gradient error | "
          "in eps max abs p | scores, p error / test tolerance |")
    print("|---|---|---|---|---|---|---|---|")
    for B, S, T in CASES:
        for modified in (False, True):
            if modified and S > T:
                continue
            px, py, ragged = case_inputs(B, S, T, modified, torch.float32)
            for boundary in (ragged, None):
                exact = run_ops(px.double(), py.double(), boundary)
                max_p = exact[1][exact[1].isfinite()].abs().max().item()
                for device in devices:
                    got = [t.cpu() for t in run_ops(
                        px.to(device), py.to(device),
                        None if boundary is None else boundary.to(device))]
                    grad_error = max(
                        (g.double() - e).abs().max().item() if e.numel() else 0.0
                        for g, e in zip(got[2:], exact[2:]))
                    value_error = max(worst_in_tolerance(g, e) for g, e in zip(got[:2], exact[:2]))
                    print(f"| {device} | {B}, {S}, {T} | {modified} | "
                          f"{'ragged' if boundary is not None else 'full'} | {max_p:.0f} | "
                          f"{grad_error:.1e} | {grad_error / (EPS * max(1.0, max_p)):.1f} | "
                          f"{value_error:.2f} |")


if __name__ == "__main__":
    main()
