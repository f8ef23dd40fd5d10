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

import torch  # noqa: E402
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


def profile_impl(impl: str, args, shapes) -> str:
    device = torch.device(args.device)
    on_device = device.type == "cuda"
    torch.manual_seed(0)
    model = BenchModel(args.vocab, args.dim).to(device)
    batch = make_batch(shapes, args.vocab, args.dim, device)
    step = STEPS[impl]
    for _ in range(args.warmup):
        model.zero_grad(set_to_none=True)
        batch.zero_grad()
        step(model, batch)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_device else [])
    with profile(activities=activities) as prof:
        for _ in range(args.steps):
            model.zero_grad(set_to_none=True)
            batch.zero_grad()
            step(model, batch)
        if on_device:
            torch.cuda.synchronize(device)
    events = [e for e in prof.key_averages() if self_time_us(e, on_device) > 0]
    events.sort(key=lambda e: self_time_us(e, on_device), reverse=True)
    total = sum(self_time_us(e, on_device) for e in events)
    where = "device" if on_device else "CPU"
    lines = [
        f"{LABELS[impl]}: self {where} time per step {total / 1e3 / args.steps:.2f} ms",
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
