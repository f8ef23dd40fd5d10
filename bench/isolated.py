"""Shared by the benchmarks that run each implementation in a fresh process
(bench_tdt.py, bench_tdt_pruned.py), so that peak-memory figures stay apart:
the child's step loop, the parent's launch of one child per implementation,
and the ratio table."""

import json
import resource
import statistics
import subprocess
import sys
import time


def measure_steps(torch, device, calls, warmup: int) -> dict:
    """Runs ``calls`` (zero-argument steps) in order; the first ``warmup``
    count in the peak memory, not in the time. Returns the median step time
    ``ms`` and ``peak_mib``, the peak beyond what was allocated before the
    first step (CUDA ``max_memory_allocated``, or on CPU the peak RSS)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for i, call in enumerate(calls):
        t0 = time.perf_counter()
        call()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append((time.perf_counter() - t0) * 1e3)
    if device.type == "cuda":
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:
        peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    return {"ms": statistics.median(times), "peak_mib": peak}


def run_children(script: str, cfg: dict, impls) -> dict:
    """``python script --child`` once per implementation, ``{**cfg, "impl":
    impl}`` as JSON on stdin; returns each child's last stdout line, parsed."""
    results = {}
    for impl in impls:
        out = subprocess.run([sys.executable, script, "--child"],
                             input=json.dumps({**cfg, "impl": impl}), capture_output=True,
                             text=True, check=True)
        results[impl] = json.loads(out.stdout.strip().splitlines()[-1])
    return results


def print_ratio_table(results: dict, base: str, row_name: str, base_name: str) -> None:
    """Markdown table of time and peak memory, each with its ratio to
    ``results[base]``."""
    ref = results[base]
    print(f"| {row_name} | time (ms) | x {base_name} | peak memory (MiB) | x {base_name} |")
    print("|---|---|---|---|---|")
    for impl, r in results.items():
        mem_ratio = r["peak_mib"] / ref["peak_mib"] if ref["peak_mib"] > 0 else float("nan")
        print(f"| {impl} | {r['ms']:.1f} | {r['ms'] / ref['ms']:.2f} | {r['peak_mib']:.0f} "
              f"| {mem_ratio:.2f} |")
