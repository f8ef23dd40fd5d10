"""What the Autograd key costs a non-differentiable op: rnnt::_prune_ranges
(integer ranges, no autograd kernel registered, so torch's boxed autograd
fallback passes it through) against the same op with an Autograd
fallthrough registered at runtime (the baseline), interleaved in one run.
Timed through get_rnnt_prune_ranges, whose C++ body calls the op through
the dispatcher once per training step, and through a direct Python call.

    python bench/bench_autograd_key.py [--calls 5000 --repeats 9]

Tiny inputs (B=4, S=8, T=29, s_range 5, 1 thread), so that dispatch, not
the kernel, sets the time; best of --repeats runs of --calls calls each.
"""

import argparse
import time

import torch

import rnnt_ops as R


def us_per_call(fn, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=5000)
    p.add_argument("--repeats", type=int, default=9)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    px, py = torch.rand(4, 8, 30, generator=g), torch.rand(4, 9, 29, generator=g)
    cases = {
        "get_rnnt_prune_ranges": lambda: R.get_rnnt_prune_ranges(px, py, None, 5),
        "torch.ops.rnnt._prune_ranges": lambda: torch.ops.rnnt._prune_ranges(px, py, None, 5, 5),
    }
    best = {(case, key): float("inf") for case in cases for key in ("fallthrough", "none")}
    for _ in range(args.repeats):
        for key in ("fallthrough", "none"):
            lib = None
            if key == "fallthrough":
                lib = torch.library.Library("rnnt", "IMPL")
                lib.impl("_prune_ranges", torch.library.fallthrough_kernel, "Autograd")
            for case, fn in cases.items():
                us_per_call(fn, args.calls // 10)  # warm-up
                best[case, key] = min(best[case, key], us_per_call(fn, args.calls))
            if lib is not None:
                lib._destroy()
    print(f"torch {torch.__version__}, 1 thread, best of {args.repeats} x {args.calls} calls\n")
    print("| call | Autograd fallthrough (baseline) us | no Autograd kernel us | ratio |")
    print("|---|---|---|---|")
    for case in cases:
        base, none = best[case, "fallthrough"], best[case, "none"]
        print(f"| {case} | {base:.2f} | {none:.2f} | {none / base:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
