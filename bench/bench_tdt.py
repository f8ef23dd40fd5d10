"""TDT and multi-blank loss time and peak memory beside our regular full
RNN-T loss, on the same logits (loss forward + backward, no joiner).

    python bench/bench_tdt.py [--device cpu|cuda] [--batch 8] [--T 150] [--U 40]
        [--vocab 500] [--durations 0,1,2,3,4] [--steps 5] [--warmup 1] [--threads N]
    python bench/bench_tdt.py --standard [--shapes PATH] [--length-scale 4] ...

Fixed shapes (default): one batch of B utterances, the first T frames and
U symbols, the others T_b in [T/2, T] and U_b in [U/2, U] (seeded), every
step on it. ``--standard``: the standard benchmark's utterance lengths
(bench/shapes.py: the LibriSpeech lengths file ``--shapes``, default
bench/data/librispeech_shapes.json, else the seeded stand-in), every T
and U divided by ``--length-scale`` (rounded up), consecutive groups of B
utterances, one group per step (warm-up groups first).

Each implementation runs in a fresh process on the same inputs, all made
before the first step (peak memory over its steps, warm-up included,
beyond its inputs: CUDA max_memory_allocated, or on CPU the peak RSS
growth). Prints a Markdown table with ratios to the regular full loss.
"""

import argparse
import json
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.isolated import measure_steps, print_ratio_table, run_children  # noqa: E402
from bench.shapes import DEFAULT_SHAPES_PATH, batches, get_shapes, scale_lengths  # noqa: E402

IMPLS = ("rnnt_loss", "rnnt_loss_tdt", "rnnt_loss_multiblank")


def make_inputs(torch, group, vocab, num_durations, dev, seed):
    """Random logits [B][T][U+1][V], duration logits, symbols (never the
    blank 0 or the big blanks V-1, V-2) and boundary rows for one group of
    (T, U) lengths."""
    g = torch.Generator().manual_seed(seed)
    B, T, U = len(group), max(t for t, _ in group), max(u for _, u in group)
    logits = torch.randn(B, T, U + 1, vocab, generator=g).to(dev).requires_grad_()
    z = torch.randn(B, T, U + 1, num_durations, generator=g).to(dev).requires_grad_()
    symbols = torch.randint(1, vocab - 3, (B, U), generator=g).to(dev)
    boundary = torch.tensor([[0, 0, u, t] for t, u in group], dtype=torch.long).to(dev)
    return logits, z, symbols, boundary


def run_child(cfg):
    import torch

    import rnnt_ops as R

    if cfg.get("threads"):
        torch.set_num_threads(cfg["threads"])
    dev = torch.device(cfg["device"])
    V, durations, impl = cfg["vocab"], cfg["durations"], cfg["impl"]
    groups = [tuple(map(tuple, group)) for group in cfg["groups"]]
    distinct = {group: make_inputs(torch, group, V, len(durations), dev, seed=i)
                for i, group in enumerate(dict.fromkeys(groups))}

    def step(group):
        logits, z, symbols, lens = distinct[group]
        if impl == "rnnt_loss":
            loss = R.rnnt_loss(logits, symbols, 0, lens, reduction="sum")
        elif impl == "rnnt_loss_tdt":
            loss = R.rnnt_loss_tdt(logits, z, symbols, 0, durations, lens, reduction="sum")
        else:
            loss = R.rnnt_loss_multiblank(logits, symbols, 0, [V - 1, V - 2], [2, 4], lens,
                                          reduction="sum")
        loss.backward()
        logits.grad = z.grad = None
        return float(loss)

    calls = [lambda group=group: step(group) for group in groups]
    return measure_steps(torch, dev, calls, cfg["warmup"])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--T", type=int, default=150)
    p.add_argument("--U", type=int, default=40)
    p.add_argument("--vocab", type=int, default=500)
    p.add_argument("--durations", default="0,1,2,3,4")
    p.add_argument("--steps", type=int, default=5, help="measured steps")
    p.add_argument("--warmup", type=int, default=1, help="warm-up steps before them")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--standard", action="store_true", help="the standard benchmark's lengths")
    p.add_argument("--shapes", default=str(DEFAULT_SHAPES_PATH), help="lengths file for --standard")
    p.add_argument("--length-scale", type=float, default=1.0, help="--standard: divide every T and U by this")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(run_child(json.loads(sys.stdin.read()))))
        return
    cfg = {k: getattr(args, k) for k in ("device", "vocab", "warmup", "threads")}
    cfg["durations"] = [int(d) for d in args.durations.split(",")]
    n = args.warmup + args.steps
    if args.standard:
        shapes, source = get_shapes(args.shapes)
        if args.length_scale != 1:
            shapes = scale_lengths(shapes, args.length_scale)
            source += f", every T and U divided by {args.length_scale:g} (rounded up)"
        groups = batches(shapes, args.batch)
        cfg["groups"] = [groups[i % len(groups)] for i in range(n)]
        used = [tu for group in cfg["groups"] for tu in group]
        shape_line = (f"{source}; B={args.batch}, groups 0..{n - 1} (T {min(t for t, _ in used)}.."
                      f"{max(t for t, _ in used)}, U {min(u for _, u in used)}..{max(u for _, u in used)})")
    else:
        rng = random.Random(0)
        group = [(args.T, args.U)] + [(rng.randint(args.T // 2, args.T), rng.randint(args.U // 2, args.U))
                                      for _ in range(args.batch - 1)]
        cfg["groups"] = [group] * n
        shape_line = f"B={args.batch} T={args.T} U={args.U} (others T_b in [T/2, T], U_b in [U/2, U])"
    results = run_children(__file__, cfg, IMPLS)
    print(f"{shape_line}; V={args.vocab}, durations={cfg['durations']}, big blanks [2, 4], "
          f"device={args.device}, threads {args.threads or 'default'}, loss forward+backward, "
          f"median of {args.steps} steps after {args.warmup} warm-up\n")
    print_ratio_table(results, "rnnt_loss", "loss", "regular")


if __name__ == "__main__":
    main()
