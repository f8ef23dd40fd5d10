"""How often the pruned TDT loss loses every path of an item whose full TDT
loss is finite, per set of durations, at get_rnnt_prune_ranges' windows
(from rnnt_loss_tdt_simple's occupations) on random peaked joiners
(docs/api.md, "Pruned TDT").

    python bench/pruned_tdt_paths.py [--cases 300] [--s-ranges 2,4]

Prints a Markdown table: items stranded by pruning / items with a finite
full loss.
"""

import argparse
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import rnnt_ops as R  # noqa: E402

DURATION_SETS = ([0, 1, 2, 3, 4], [0, 1], [1, 2, 3, 4], [1, 2], [0, 2, 3, 4], [0, 2])


def stranded(durations, s_range, cases, B=4, C=6, scale=3.0):
    lost = finite = 0
    for seed in range(cases):
        g = torch.Generator().manual_seed(seed)
        T = int(torch.randint(3, 12, (1,), generator=g))
        S = int(torch.randint(1, 8, (1,), generator=g))
        D = len(durations)

        def randn(*shape, s=1.0):
            return s * torch.randn(*shape, generator=g, dtype=torch.float64)

        lm, am = randn(B, S + 1, C, s=scale), randn(B, T, C, s=scale)
        lm_d, am_d = randn(B, S + 1, D), randn(B, T, D)
        symbols = torch.randint(1, C, (B, S), generator=g)
        U_b = torch.randint(0, S + 1, (B,), generator=g)
        T_b = torch.randint(1, T + 1, (B,), generator=g)
        zeros = torch.zeros_like(U_b)
        boundary = torch.stack([zeros, zeros, U_b, T_b], 1)
        _, (px_grad, py_grad) = R.rnnt_loss_tdt_simple(
            lm, am, lm_d, am_d, symbols, 0, durations, boundary, reduction="none",
            return_grad=True)
        full = R.rnnt_loss_tdt(am[:, :, None] + lm[:, None], am_d[:, :, None] + lm_d[:, None],
                               symbols, 0, durations, boundary, reduction="none")
        with warnings.catch_warnings():  # s_range raised for items with U_b > T_b
            warnings.simplefilter("ignore")
            ranges = R.get_rnnt_prune_ranges(px_grad, py_grad, boundary, s_range)
        am_p, lm_p = R.do_rnnt_pruning(am, lm, ranges)
        am_dp, lm_dp = R.do_rnnt_pruning(am_d, lm_d, ranges)
        pruned = R.rnnt_loss_tdt_pruned(am_p + lm_p, am_dp + lm_dp, symbols, ranges, 0,
                                        durations, boundary, reduction="none")
        ok = torch.isfinite(full)
        finite += int(ok.sum())
        lost += int((ok & ~torch.isfinite(pruned)).sum())
    return lost, finite


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=300)
    p.add_argument("--s-ranges", default="2,4")
    args = p.parse_args()
    s_ranges = [int(r) for r in args.s_ranges.split(",")]
    print("| durations | " + " | ".join(f"s_range {r}" for r in s_ranges) + " |")
    print("|---|" + "---|" * len(s_ranges))
    for durations in DURATION_SETS:
        cells = [stranded(durations, r, args.cases) for r in s_ranges]
        print(f"| {durations} | " + " | ".join(f"{a} / {b}" for a, b in cells) + " |")


if __name__ == "__main__":
    main()
