"""Run one implementation's steps in a fresh process and measure them.

``measure(config)`` starts ``python bench/runner.py`` with ``config`` (JSON on
stdin) and returns its JSON result; a fresh process per implementation keeps
the peak-memory figures apart. The child builds ``BenchModel``, then runs one
step (bench/steps.py) per group of shapes, warm-up groups first:

- time: CUDA events around the step on GPU; ``time.perf_counter`` on CPU
  (no synchronisation needed there); only the measured steps count;
- memory: on GPU ``torch.cuda.max_memory_allocated`` (peak statistics reset
  before the first step) minus the memory allocated before it; on CPU the
  process's peak RSS (``getrusage``) minus its RSS before the first step.
  Both cover every step of the run, warm-up included, and the inputs of the
  step's batch.

config keys: impl, groups (list of [[T, U], ...] batches), warmup, vocab,
dim, s_range, device, dtype, seed, threads (optional). Result keys: times_ms, losses (measured
steps), peak_mib; or error (the child's stderr tail) when it failed.
"""

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_in_process(cfg: dict) -> dict:
    import torch

    from bench.steps import PRUNED_STEPS, STEPS, BenchModel, make_batch

    if cfg.get("threads"):
        torch.set_num_threads(cfg["threads"])
    device, dtype = torch.device(cfg["device"]), getattr(torch, cfg["dtype"])
    step = STEPS[cfg["impl"]]
    kwargs = {"s_range": cfg["s_range"]} if cfg["impl"] in PRUNED_STEPS else {}
    torch.manual_seed(cfg["seed"])
    model = BenchModel(cfg["vocab"], cfg["dim"]).to(device=device, dtype=dtype)
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    times, losses = [], []
    for i, shapes in enumerate(cfg["groups"]):
        batch = make_batch(shapes, cfg["vocab"], cfg["dim"], device, dtype, seed=cfg["seed"] + i)
        model.zero_grad(set_to_none=True)
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize(device)
            start.record()
            loss = step(model, batch, **kwargs)
            end.record()
            end.synchronize()
            ms = start.elapsed_time(end)
        else:
            t0 = time.perf_counter()
            loss = step(model, batch, **kwargs)
            ms = (time.perf_counter() - t0) * 1e3
        if i >= cfg["warmup"]:
            times.append(ms)
            losses.append(float(loss))
        del batch, loss
    if cuda:
        peak = torch.cuda.max_memory_allocated(device) - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    return {"times_ms": times, "losses": losses, "peak_mib": peak / 2**20}


def measure(cfg: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve())],
        input=json.dumps(cfg), capture_output=True, text=True,
    )
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        return {"error": tail}
    return json.loads(proc.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    print(json.dumps(run_in_process(json.loads(sys.stdin.read()))))
