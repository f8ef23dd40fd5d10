"""Where a benchmark step spends its time: torch.profiler over the steps of
bench/steps.py on the first batch of the standard configuration, printing
the top operators/kernels per implementation as Markdown (self time on the
device for CUDA, on the CPU otherwise).

    python bench/profile_step.py [--device cuda] [--impls full,pruned,torchaudio]
        [--shapes PATH] [--batch-size 30] [--length-scale 1] [--warmup 2] [--steps 3] [--top 12]

Used by bench/gpu_check.sh to explain any target of issue 10 that is missed.
"""

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import time  # noqa: E402

import torch  # noqa: E402
from torch.autograd import DeviceType  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from bench.shapes import DEFAULT_SHAPES_PATH, batches, get_shapes, scale_lengths  # noqa: E402
from bench.steps import LABELS, STEPS, BenchModel, make_batch, torchaudio_rnnt_loss  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--impls", default="full,pruned,torchaudio")
    p.add_argument("--shapes", default=str(DEFAULT_SHAPES_PATH))
    p.add_argument("--batch-size", type=int, default=30)
    p.add_argument("--length-scale", type=float, default=1.0,
                   help="divide every T and U by this, rounded up (for small CPU runs)")
    p.add_argument("--vocab", type=int, default=500)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=3, help="profiled steps")
    p.add_argument("--top", type=int, default=12)
    return p.parse_args(argv)


def self_time_us(event, on_device: bool) -> float:
    """The event's self time on the GPU (0 for a host-only operator) or CPU."""
    return event.self_device_time_total if on_device else event.self_cpu_time_total


def is_kernel(event) -> bool:
    """A device activity (kernel, memcpy, memset), not a host operator: on a
    GPU an operator's self device time repeats its kernels' time, so totals
    count kernels alone."""
    return getattr(event, "device_type", DeviceType.CPU) != DeviceType.CPU


def wall_ms_per_step(run_steps, steps: int, on_device: bool) -> float:
    """Wall-clock time per step, unprofiled (the device drained before and after)."""
    if on_device:
        torch.cuda.synchronize()
    start = time.perf_counter()
    run_steps(steps)
    if on_device:
        torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1e3 / steps


def host_ms_per_step(run_steps, steps: int) -> float:
    """The host's own time to queue a step, with the GPU held busy by a long
    sleep kernel queued first, so that no launch waits for the device. Only
    meaningful for a step without host syncs (each would wait for the sleep).
    Compared with the device-busy time it says which side sets the pace."""
    torch.cuda.synchronize()
    torch.cuda._sleep(int(2e8))  # about 0.1 s at 1.7 GHz
    start = time.perf_counter()
    run_steps(steps)
    host = (time.perf_counter() - start) * 1e3 / steps
    torch.cuda.synchronize()
    return host


def host_syncs(prof) -> int:
    """Waits of the host for the GPU in a profile: cudaStreamSynchronize
    calls (a device-to-host copy such as ``.item()`` or ``.cpu()`` makes
    one; it drains the queue the host had run ahead with, so the launches
    after it are no longer hidden) and cudaEventSynchronize calls (the value
    checks' read-ahead waits for its own copy only). The profile's final
    torch.cuda.synchronize is a cudaDeviceSynchronize, not counted."""
    waits = ("cudaStreamSynchronize", "cudaEventSynchronize")
    return sum(e.count for e in prof.key_averages() if e.key in waits)


def value_check_reads(prof) -> int:
    """Host reads made by our value checks (``rnnt::host_read`` ranges)."""
    return sum(e.count for e in prof.key_averages() if e.key == "rnnt::host_read")


def profile_impl(impl: str, args, shapes) -> str:
    device = torch.device(args.device)
    on_device = device.type == "cuda"
    torch.manual_seed(0)
    model = BenchModel(args.vocab, args.dim).to(device)
    batch = make_batch(shapes, args.vocab, args.dim, device)
    step = STEPS[impl]

    def run_steps(count: int) -> None:
        for _ in range(count):
            model.zero_grad(set_to_none=True)
            batch.zero_grad()
            # New symbols and boundary tensors each step, as a data loader
            # gives: the value checks read them again (checked_values.h).
            batch.symbols, batch.boundary = batch.symbols.clone(), batch.boundary.clone()
            step(model, batch)

    run_steps(args.warmup)
    wall = wall_ms_per_step(run_steps, args.steps, on_device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_device else [])
    with profile(activities=activities) as prof:
        run_steps(args.steps)
        if on_device:
            torch.cuda.synchronize(device)
    events = [e for e in prof.key_averages() if self_time_us(e, on_device) > 0]
    events.sort(key=lambda e: self_time_us(e, on_device), reverse=True)
    counted = [e for e in events if is_kernel(e)] if on_device else events
    total = sum(self_time_us(e, on_device) for e in counted)
    busy = total / 1e3 / args.steps
    where = "device" if on_device else "CPU"
    gpu = ""
    if on_device:
        syncs = host_syncs(prof) / args.steps
        host = (f"; the host alone queues a step in {host_ms_per_step(run_steps, args.steps):.2f} ms"
                if syncs == 0 else "")
        launches = sum(e.count for e in counted) / args.steps
        gpu = (f" (the GPU busy {busy / wall:.0%} of the step) in {launches:g} kernels, copies "
               f"and fills; {syncs:g} host syncs per step, "
               f"{value_check_reads(prof) / args.steps:g} of them value-check reads{host}")
    lines = [
        f"{LABELS[impl]}: step {wall:.2f} ms wall clock (unprofiled); self {where} time "
        f"per step {busy:.2f} ms{gpu}",
        "",
        f"| operator / kernel | calls per step | self {where} ms per step | share |",
        "|---|---|---|---|",
    ]
    for e in events[: args.top]:
        t = self_time_us(e, on_device)
        name = e.key if len(e.key) <= 70 else e.key[:67] + "..."
        lines.append(f"| `{name}` | {e.count / args.steps:g} | {t / 1e3 / args.steps:.3f} | "
                     f"{t / total:.1%} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    rows, source = get_shapes(args.shapes)
    shapes = scale_lengths(batches(rows, args.batch_size)[0], args.length_scale)
    print(f"Profile of one step, {args.device}, torch {torch.__version__}, first batch of "
          f"{args.batch_size} ({source}; lengths divided by {args.length_scale:g}, rounded up), "
          f"C={args.vocab}, dim {args.dim}, {args.steps} profiled steps after {args.warmup} warm-up\n")
    for impl in [s.strip() for s in args.impls.split(",") if s.strip()]:
        if impl == "torchaudio" and torchaudio_rnnt_loss() is None:
            print("torchaudio: not importable, skipped\n")
            continue
        print(profile_impl(impl, args, shapes) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
