"""The standard transducer-loss benchmark: rnnt_ops' full and pruned losses
beside torchaudio.functional.rnnt_loss (when it imports) and the same losses
in plain, vectorised PyTorch (bench/plain_rnnt.py), on identical data.

    python bench/bench_loss.py [--device cpu|cuda] [--shapes PATH] [--length-scale 1]
        [--warmup 20 --batches 20] [--scale-batch 30 --scale-warmup 2 --scale-batches 5]

Standard configuration: batches of 30 utterances with real LibriSpeech
train-clean-100 lengths (--shapes, default bench/data/librispeech_shapes.json
relative to the repo root: {"TU": [[T, U], ...]}, consecutive groups of 30;
a seeded stand-in distribution without it, see bench/shapes.py; every T and
U divided by --length-scale, rounded up, for a smaller run), vocabulary
500, blank 0, dim 512, joiner Linear(512, 500)(tanh(am + lm)), random
float32 inputs (--dtype bfloat16/float16: model and inputs in that dtype;
implementations that take no such input are skipped), reduction="sum";
warm-up batches, then measured batches;
step = joiner forward + loss forward + backward (bench/steps.py). Reported:
median step time and peak memory (bench/runner.py), ratios to torchaudio (or,
when it is absent, to the plain full loss, else to our full loss), and our
full loss against torchaudio's, else the plain one's (1e-5 relative in
float32, 1e-2 in bfloat16/float16). Then
scaling versus vocabulary size and T.
Markdown goes to stdout, PNGs to --plots (needs matplotlib: the `bench` extra).
"""

import argparse
import platform
import statistics
import sys
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from bench import plotting  # noqa: E402
from bench.runner import measure  # noqa: E402
from bench.shapes import DEFAULT_SHAPES, DEFAULT_SHAPES_PATH, batches, get_shapes, scale_lengths  # noqa: E402
from bench.steps import LABELS, PRUNED_STEPS, full_logits_gib, torchaudio_rnnt_loss  # noqa: E402

# Relative tolerance of the full-loss check against the reference: float32
# as the issue sets it; low precision as the mixed-precision tests do.
REL_TOL = {"float32": 1e-5, "bfloat16": 1e-2, "float16": 1e-2}
# Input dtypes an implementation takes, where not every one (torchaudio's
# kernels: float32/float16 logits; the plain losses: float32 here).
DTYPES = {"torchaudio": {"float32", "float16"}, "plain_full": {"float32"},
          "plain_pruned": {"float32"}}
DEFAULT_IMPLS = {"cpu": "full,pruned,plain_full,plain_pruned", "cuda": "full,pruned,torchaudio,plain_full"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32",
                   help="dtype of the model and its inputs (so of am, lm and the logits)")
    p.add_argument("--shapes", default=None,
                   help=f"(T, U) rows as JSON {{'TU': [[T, U], ...]}} (default {DEFAULT_SHAPES}, "
                        "relative to the repo root; a seeded stand-in when absent)")
    p.add_argument("--length-scale", type=float, default=1.0,
                   help="divide every T and U by this, rounded up (a smaller, faster run)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads in each measuring process (default: torch's)")
    p.add_argument("--batch-size", type=int, default=30)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--batches", type=int, default=20, help="measured batches")
    p.add_argument("--vocab", type=int, default=500)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--s-range", type=int, default=5)
    p.add_argument("--impls", default=None,
                   help="comma-separated subset of full, full_inplace, pruned, pruned_unchecked, plain_full, plain_pruned, torchaudio "
                        f"(default: {DEFAULT_IMPLS['cpu']} on cpu, {DEFAULT_IMPLS['cuda']} on cuda)")
    p.add_argument("--max-full-gib", type=float, default=None,
                   help="skip full-lattice runs (all but the pruned ones) whose padded "
                        "[B][T][U+1][C] logits exceed this many GiB (default 8 on cuda, 1 on cpu)")
    p.add_argument("--sections", default="standard,vocab,T",
                   help="comma-separated subset of standard, vocab, T")
    p.add_argument("--scale-vocab", default="500,2000,8000")
    p.add_argument("--scale-t", default="1,2,4", help="factors applied to every T")
    p.add_argument("--scale-batch", type=int, default=None,
                   help="utterances of the first group used for scaling (default --batch-size)")
    p.add_argument("--scale-warmup", type=int, default=2)
    p.add_argument("--scale-batches", type=int, default=5)
    p.add_argument("--plots", default=str(REPO / "bench" / "plots"), help="PNG folder ('' for none)")
    args = p.parse_args(argv)
    if args.max_full_gib is None:
        args.max_full_gib = 8.0 if args.device == "cuda" else 1.0
    if args.impls is None:
        args.impls = DEFAULT_IMPLS[args.device]
    return args


def environment(args) -> str:
    if args.device == "cuda":
        where = f"{torch.cuda.get_device_name()} (CUDA {torch.version.cuda})"
    else:
        threads = args.threads or torch.get_num_threads()
        where = f"CPU ({platform.processor() or platform.machine()}, {threads} torch thread{'s' * (threads != 1)})"
    ta = "absent"
    if torchaudio_rnnt_loss() is not None:
        import torchaudio

        ta = torchaudio.__version__
    return f"{where}; torch {torch.__version__}; torchaudio {ta}; {args.dtype}"


def impls(args):
    wanted = [i.strip() for i in args.impls.split(",") if i.strip()]
    if "torchaudio" in wanted and torchaudio_rnnt_loss() is None:
        wanted.remove("torchaudio")
    return wanted


def run(args, impl, groups, warmup, vocab):
    """Result dict of one implementation, or {"skipped": why}."""
    if args.dtype not in DTYPES.get(impl, {args.dtype}):
        return {"skipped": f"skipped: takes no {args.dtype} input"}
    if impl not in PRUNED_STEPS:
        gib = max(full_logits_gib(g, vocab) for g in groups)
        if gib > args.max_full_gib:
            return {"skipped": f"skipped: logits {gib:.1f} GiB > --max-full-gib {args.max_full_gib:g}"}
    cfg = dict(impl=impl, groups=groups, warmup=warmup, vocab=vocab, dim=args.dim,
               s_range=args.s_range, device=args.device, dtype=args.dtype, seed=args.seed,
               threads=args.threads)
    r = measure(cfg)
    if "error" not in r:
        r["ms"] = statistics.median(r["times_ms"])
        r["mib"] = r["peak_mib"]
    return r


def ok(r) -> bool:
    return "ms" in r


def reference(results) -> Optional[str]:
    """The baseline that ran: torchaudio, else the plain full loss (None if neither)."""
    return next((n for n in ("torchaudio", "plain_full") if ok(results.get(n, {}))), None)


def note(r) -> str:
    return r.get("skipped") or f"failed: {r['error']}"


def standard(args, shapes, source) -> bool:
    groups = batches(shapes, args.batch_size)
    if not groups:
        sys.exit(f"need at least {args.batch_size} shapes, have {len(shapes)}")
    used = [groups[i % len(groups)] for i in range(args.warmup + args.batches)]
    names = impls(args)
    results = {name: run(args, name, used, args.warmup, args.vocab) for name in names}
    ref = reference(results)
    base = ref or "full"
    print(f"\n### Standard configuration ({args.device})\n")
    print(f"{environment(args)}. {source}. B={args.batch_size}, C={args.vocab}, dim {args.dim}, "
          f"s_range {args.s_range}, warm-up {args.warmup} + measured {args.batches} batches "
          f"(groups 0..{len(used) - 1} of {len(groups)}, cycled if fewer).")
    if base != "torchaudio":
        print(f"\ntorchaudio did not run here: ratios are to {LABELS[base]}.")
    print(f"\n| implementation | median step ms | time ratio to {base} | peak MiB | memory ratio to {base} |")
    print("|---|---|---|---|---|")
    b = results.get(base, {})
    for name in names:
        r = results[name]
        if not ok(r):
            print(f"| {LABELS[name]} | {note(r)} | | | |")
            continue
        # Four places: a ratio near a target (0.10x) must not round onto it.
        t_ratio = f"{r['ms'] / b['ms']:.4f}" if ok(b) else "-"
        m_ratio = f"{r['mib'] / b['mib']:.4f}" if ok(b) and b["mib"] > 0 else "-"
        print(f"| {LABELS[name]} | {r['ms']:.2f} | {t_ratio} | {r['mib']:.0f} | {m_ratio} |")
    passed = True
    full = results.get("full", {})
    if ok(full) and ref:
        losses = results[ref]["losses"]
        rel = max(abs(a - t) / max(abs(t), 1e-30) for a, t in zip(full["losses"], losses))
        tol = REL_TOL[args.dtype]
        passed = rel <= tol
        print(f"\nFull loss versus {LABELS[ref]} over {len(losses)} batches: max relative "
              f"difference {rel:.2e} ({'OK' if passed else 'FAIL'}, tolerance {tol:g}).")
    else:
        print("\nFull loss versus torchaudio or the plain full loss: not checked (one of them and ours must run).")
    if args.plots:
        rows = [dict(label=n, ms=results[n]["ms"], mib=results[n]["mib"]) for n in names if ok(results[n])]
        path = plotting.plot_standard(
            Path(args.plots) / f"standard_{args.device}.png",
            f"standard benchmark, B={args.batch_size}, C={args.vocab} ({args.device})", rows)
        print(f"\nPlot: {path}" if path else "\nNo plot (matplotlib not installed).")
    return passed


def scaling(args, shapes, kind: str) -> None:
    n = args.scale_batch or args.batch_size
    group = shapes[:n]
    if kind == "vocab":
        xs = [int(v) for v in args.scale_vocab.split(",")]
        configs = [(group, x) for x in xs]
        xlabel, head = "vocabulary size C", "C"
    else:
        xs = [float(f) for f in args.scale_t.split(",")]
        configs = [([(round(t * f), u) for t, u in group], args.vocab) for f in xs]
        xlabel, head = "T factor", "T factor"
    names = impls(args)
    series = {name: [] for name in names}
    print(f"\n### Scaling versus {xlabel} ({args.device})\n")
    fixed = "T x1" if kind == "vocab" else f"C={args.vocab}"
    print(f"{environment(args)}. First {n} utterances of the shapes, max T {max(t for t, _ in group)}, "
          f"max U {max(u for _, u in group)}, {fixed}, "
          f"dim {args.dim}; warm-up {args.scale_warmup} + measured {args.scale_batches} steps "
          "on the same batch.\n")
    print(f"| {head} | " + " | ".join(f"{n_} ms | {n_} MiB" for n_ in names) + " |")
    print("|---|" + "---|---|" * len(names))
    for x, (g, vocab) in zip(xs, configs):
        cells = []
        for name in names:
            r = run(args, name, [g] * (args.scale_warmup + args.scale_batches), args.scale_warmup, vocab)
            series[name].append(dict(ms=r["ms"], mib=r["mib"]) if ok(r) else None)
            cells.append(f"{r['ms']:.1f} | {r['mib']:.0f}" if ok(r) else f"{note(r)} | -")
        print(f"| {x:g} | " + " | ".join(cells) + " |")
    if args.plots:
        path = plotting.plot_scaling(
            Path(args.plots) / f"scaling_{kind}_{args.device}.png",
            f"scaling versus {xlabel}, B={n} ({args.device})", xlabel, xs, series, logx=kind == "vocab")
        print(f"\nPlot: {path}" if path else "\nNo plot (matplotlib not installed).")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: CUDA is not available")
    shapes, source = get_shapes(args.shapes or DEFAULT_SHAPES_PATH, seed=args.seed)
    if args.shapes is None:
        source = source.replace(str(DEFAULT_SHAPES_PATH), f"{DEFAULT_SHAPES} (repo-relative)")
    if args.length_scale != 1:
        shapes = scale_lengths(shapes, args.length_scale)
        source += f", every T and U divided by {args.length_scale:g} (rounded up)"
    sections = [s.strip() for s in args.sections.split(",")]
    print(f"\n## Transducer-loss benchmark ({args.device})")
    passed = True
    if "standard" in sections:
        passed = standard(args, shapes, source)
    for kind in ("vocab", "T"):
        if kind in sections:
            scaling(args, shapes, kind)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
