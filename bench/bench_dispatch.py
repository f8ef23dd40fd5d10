"""What a pruned training step costs the host: how many kernel-launching
operator calls it makes, and its time per step at a size so small that
dispatch, not arithmetic, sets it (CPU; on a GPU each such call is a kernel
launch the host must queue, see bench/profile_step.py for the device side).

    python bench/bench_dispatch.py [--impls pruned,pruned_unchecked,full]
        [--steps 200] [--repeats 5]

A call counts when it is an aten:: or rnnt:: operator that does work itself
(not a view, an allocation, a no-op conversion or a host read) and none of
whose callees does: the operators that would launch a kernel. The batch is
4 utterances (T 20..29, U 5..8), C=50, dim 32; time is the best of
--repeats runs of --steps steps (wall clock). Prints a Markdown table.
"""

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from bench.steps import LABELS, STEPS, BenchModel, make_batch  # noqa: E402

# Operators that launch no kernel of their own.
NO_KERNEL = {
    "aten::to", "aten::resolve_conj", "aten::resolve_neg", "aten::empty", "aten::empty_strided",
    "aten::empty_like", "aten::view", "aten::as_strided", "aten::expand", "aten::transpose",
    "aten::unsqueeze", "aten::select", "aten::slice", "aten::narrow", "aten::squeeze",
    "aten::permute", "aten::t", "aten::_reshape_alias", "aten::reshape", "aten::alias",
    "aten::detach", "aten::flatten", "aten::lift_fresh", "aten::contiguous", "aten::result_type",
    "aten::_unsafe_view", "aten::item", "aten::_local_scalar_dense", "aten::split",
    "aten::is_nonzero", "aten::set_", "aten::resize_", "aten::expand_as", "aten::view_as",
    "aten::detach_", "rnnt::host_read",
}
SHAPES = [(20 + 3 * i, 5 + i) for i in range(4)]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--impls", default="pruned,pruned_unchecked")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--repeats", type=int, default=5)
    return p.parse_args(argv)


def is_work(event) -> bool:
    return event.name.startswith(("aten::", "rnnt::")) and event.name not in NO_KERNEL


def does_work_below(event) -> bool:
    return any(is_work(c) or does_work_below(c) for c in event.cpu_children)


def kernel_calls(run_step) -> Counter:
    """Kernel-launching operator calls of one step, by name."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run_step()
    return Counter(e.name for e in prof.events() if is_work(e) and not does_work_below(e))


def ms_per_step(run_step, steps: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            run_step()
        best = min(best, (time.perf_counter() - start) / steps)
    return best * 1e3


def main(argv=None) -> int:
    args = parse_args(argv)
    print(f"Host cost of one step, CPU, torch {torch.__version__}, {torch.get_num_threads()} "
          f"threads, B={len(SHAPES)} (T, U) = {SHAPES}, C=50, dim 32\n")
    print("| implementation | kernel-launching calls per step | ms per step | most frequent |")
    print("|---|---|---|---|")
    for impl in [s.strip() for s in args.impls.split(",") if s.strip()]:
        torch.manual_seed(0)
        model = BenchModel(50, 32)
        batch = make_batch(SHAPES, 50, 32)
        step = STEPS[impl]

        def run_step():
            model.zero_grad(set_to_none=True)
            batch.zero_grad()
            step(model, batch)

        for _ in range(5):
            run_step()
        calls = kernel_calls(run_step)
        top = ", ".join(f"{n.split('::')[1]} {c}" for n, c in calls.most_common(5))
        print(f"| {LABELS[impl]} | {sum(calls.values())} | "
              f"{ms_per_step(run_step, args.steps, args.repeats):.3f} | {top} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
