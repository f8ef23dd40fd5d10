"""Train a small spoken-digit transducer with the pruned RNN-T loss (or the
full one, or the token-and-duration transducer loss).

Single process:   python examples/digits/train.py
DDP (2 procs):    torchrun --nproc_per_node=2 examples/digits/train.py
TDT:              python examples/digits/train.py --loss tdt
Pruned TDT:       python examples/digits/train.py --loss pruned_tdt
Fused joiner:     python examples/digits/train.py --fused [--loss full|tdt]
GPU timing:       python examples/digits/train.py --device cuda --loss full|pruned

See examples/digits/README.md.
"""

import argparse
import gc
import json
import math
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from corpus import DEFAULT_DATA_DIR, load_split  # noqa: E402
from data import collate, rank_batches  # noqa: E402
from decode import error_counts, greedy_search, greedy_search_tdt  # noqa: E402
from model import Conv2dSubsampling, Transducer  # noqa: E402
from progress import Progress  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="spoken-digit transducer with the pruned RNN-T loss")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--num-train", type=int, default=2000)
    p.add_argument("--num-test", type=int, default=200)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=32, help="global batch (utterances, all ranks together)")
    p.add_argument("--lr", type=float, default=2e-3, help="peak Adam learning rate")
    p.add_argument("--lr-warmup-steps", type=int, default=50)
    p.add_argument("--warm-steps", type=int, default=300,
                   help="loss-scale warm-up: simple 1.0 -> 0.5, pruned 0.1 -> 1.0 over these steps")
    p.add_argument("--simple-loss-scale", type=float, default=0.5)
    p.add_argument("--s-range", type=int, default=5)
    p.add_argument("--loss", choices=["pruned", "full", "tdt", "pruned_tdt"], default="pruned",
                   help="pruned: 0.5 * simple + pruned RNN-T; full: rnnt_loss; tdt: rnnt_loss_tdt; "
                        "pruned_tdt: 0.5 * rnnt_loss_tdt_simple + rnnt_loss_tdt_pruned")
    p.add_argument("--durations", default="0,1,2,3,4",
                   help="TDT durations in encoder frames (--loss tdt / pruned_tdt); keep 0 and 1 for pruned_tdt")
    p.add_argument("--tdt-sigma", type=float, default=0.0, help="TDT logit under-normalisation")
    p.add_argument("--tdt-omega", type=float, default=0.0, help="weight of the plain RNN-T loss in the TDT loss")
    p.add_argument("--fused", action="store_true",
                   help="fuse the joiner into the loss (rnnt_loss_fused / rnnt_loss_pruned_fused / "
                        "rnnt_loss_tdt_fused): the same losses without the logits; not with pruned_tdt")
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--num-layers", type=int, default=2)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--threads", type=int, default=0, help="torch threads per process (0: cores / processes)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--log-every", type=int, default=20)
    p.add_argument("--out-dir", type=Path, default=None, help="history.json, curve.png (default: --data-dir/exp)")
    p.add_argument("--dump-params", action="store_true", help="save each rank's final parameters (tests)")
    args = p.parse_args(argv)
    if args.fused and args.loss == "pruned_tdt":
        p.error("--fused takes --loss pruned, full or tdt (there is no fused pruned TDT loss)")
    return args


def loss_scales(step: int, warm_steps: int, simple_scale: float):
    """icefall's warm-up: the simple loss starts at 1.0 and the pruned loss at
    0.1 (its pruning bounds are poor until the simple loss has learned)."""
    if step >= warm_steps:
        return simple_scale, 1.0
    frac = step / warm_steps
    return 1.0 - frac * (1.0 - simple_scale), 0.1 + 0.9 * frac


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up, then cosine decay to 5% of the peak."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * progress))


def all_sum(values, device):
    """Sum a list of numbers over the ranks (no-op without DDP)."""
    t = torch.tensor(values, dtype=torch.float64, device=device)
    if dist.is_initialized():
        dist.all_reduce(t)
    return t.tolist()


def evaluate(model, test, rank, world_size, device, batch_size=50):
    """Digit error rate over the whole test set; each rank decodes a shard.
    Greedy RNN-T search, or greedy TDT search for a model with durations.
    Returns (DER, examples, frames visited, encoder frames): the RNN-T search
    visits every encoder frame, the TDT search skips frames."""
    model.eval()
    errors = ref_len = visited = frames = 0
    mine = list(range(rank, len(test["texts"]), world_size))
    examples = []
    for start in range(0, len(mine), batch_size):
        feats, feat_lens, _, _, texts = collate(test, mine[start:start + batch_size], device)
        if model.durations:
            hyps, batch_visited, enc_lens = greedy_search_tdt(model, feats, feat_lens)
        else:
            hyps = greedy_search(model, feats, feat_lens)
            enc_lens = batch_visited = Conv2dSubsampling.output_lengths(feat_lens)
        e, n = error_counts(texts, hyps)
        errors, ref_len = errors + e, ref_len + n
        visited, frames = visited + int(batch_visited.sum()), frames + int(enc_lens.sum())
        examples += list(zip(texts, hyps))[: 3 - len(examples)]
    model.train()
    errors, ref_len, visited, frames = all_sum([errors, ref_len, visited, frames], device)
    return errors / max(ref_len, 1), examples, int(visited), int(frames)


def save_curve(history, path: Path, loss_name: str = "pruned"):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not importable: no curve PNG (pip install matplotlib)")
        return
    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in (("simple", "simple loss"), ("pruned", f"{loss_name} loss")):
        if any(h[key] > 0 for h in history):  # --loss full / tdt: no simple loss
            ax1.plot(epochs, [h[key] for h in history], marker="o", label=label)
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("train loss per utterance")
    ax1.set_yscale("log")
    ax1.legend()
    ax2.plot(epochs, [100 * h["der"] for h in history], marker="o", color="C3")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("test digit error rate (%)")
    ax2.set_yscale("symlog", linthresh=0.1)  # log above 0.1%, linear below: 0% stays visible
    ax2.set_ylim(bottom=0)
    ax2.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    print(f"wrote {path}")


def main(argv=None):
    args = parse_args(argv)
    t_start = time.time()
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    ddp = world_size > 1
    if args.device == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
        torch.set_num_threads(args.threads or max(1, (os.cpu_count() or 1) // world_size))
    if ddp:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    history = run_training(args, device, rank, world_size, local_rank, t_start)
    if ddp:
        # The DDP wrapper sits in a reference cycle, so it outlives run_training()
        # until a collection. Its reducer holds the process group and must go
        # before gloo is torn down: otherwise the process can abort at exit
        # ("terminate called without an active exception"; 8 of 30 two-rank
        # runs of a minimal DDP script with torch 2.13, 0 of 30 with this).
        gc.collect()
        dist.destroy_process_group()
    return history


def run_training(args, device, rank, world_size, local_rank, t_start):
    """The data, the model and the epochs; returns the per-epoch history."""
    ddp = world_size > 1

    def log(*a):
        if rank == 0:
            print(*a, flush=True)

    # Rank 0 synthesizes (once; cached), the others wait and load the cache.
    if rank == 0:
        train = load_split(args.data_dir, "train", args.num_train, args.seed, log)
        test = load_split(args.data_dir, "test", args.num_test, args.seed + 1000, log)
    if ddp:
        dist.barrier()
    if rank != 0:
        train = load_split(args.data_dir, "train", args.num_train, args.seed, log)
        test = load_split(args.data_dir, "test", args.num_test, args.seed + 1000, log)
    log(f"data ready in {time.time() - t_start:.1f} s: {len(train['texts'])} train, {len(test['texts'])} test utterances")

    torch.manual_seed(args.seed)  # same initial parameters on every rank
    durations = [int(d) for d in args.durations.split(",")] if args.loss in ("tdt", "pruned_tdt") else None
    model = Transducer(dim=args.dim, num_layers=args.num_layers, durations=durations).to(device)
    log(f"model: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, "
        f"world size {world_size}, device {device}, loss {args.loss}"
        + (f", durations {durations}" if durations else ""))
    net = model
    if ddp:  # --loss full / tdt leave the simple-loss projections unused
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[local_rank] if device.type == "cuda" else None,
            find_unused_parameters=args.loss in ("full", "tdt"))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    steps_per_epoch = sum(1 for _ in rank_batches(train, args.batch_size, args.seed, 0, rank, world_size))
    total_steps = steps_per_epoch * args.epochs

    out_dir = args.out_dir or (Path(args.data_dir) / "exp")
    out_dir.mkdir(parents=True, exist_ok=True)
    history, step = [], 0
    progress = Progress(total_steps)
    for epoch in range(1, args.epochs + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t_epoch = time.time()
        sums = [0.0, 0.0, 0.0]  # simple, pruned, utterances (this rank)
        for indices, global_batch in rank_batches(train, args.batch_size, args.seed, epoch, rank, world_size):
            feats, feat_lens, symbols, symbol_lens, _ = collate(train, indices, device)
            simple, pruned = net(feats, feat_lens, symbols, symbol_lens, loss=args.loss, s_range=args.s_range,
                                 tdt_sigma=args.tdt_sigma, tdt_omega=args.tdt_omega, fused=args.fused)
            if args.loss in ("full", "tdt"):
                loss = pruned
            else:
                simple_scale, pruned_scale = loss_scales(step, args.warm_steps, args.simple_loss_scale)
                loss = simple_scale * simple + pruned_scale * pruned
            # Losses are sums over this rank's utterances. DDP *averages*
            # gradients over ranks, so scaling by world_size / global_batch
            # makes the result the gradient of the mean loss per utterance of
            # the global batch (see README: "Loss reduction and DDP").
            for group in optimizer.param_groups:
                group["lr"] = args.lr * lr_factor(step, args.lr_warmup_steps, total_steps)
            optimizer.zero_grad()
            (loss * (world_size / global_batch)).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            step += 1
            sums[0] += simple.item()
            sums[1] += pruned.item()
            sums[2] += len(indices)
            if step % args.log_every == 0:
                log(f"epoch {epoch} {progress.line(step)}: simple {simple.item() / len(indices):.3f} "
                    f"{args.loss} {pruned.item() / len(indices):.3f} per utterance, lr {optimizer.param_groups[0]['lr']:.2e}")
        if device.type == "cuda":
            torch.cuda.synchronize()
        train_time = time.time() - t_epoch
        simple_sum, pruned_sum, utts = all_sum(sums, device)
        der, examples, visited, frames = evaluate(model, test, rank, world_size, device)
        record = {
            "epoch": epoch, "step": step, "simple": simple_sum / utts, "pruned": pruned_sum / utts,
            "der": der, "frames_visited": visited, "frames": frames,
            "train_time_s": train_time, "elapsed_s": time.time() - t_start,
        }
        if device.type == "cuda":
            record["max_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        history.append(record)
        log(f"epoch {epoch}: simple {record['simple']:.3f} {args.loss} {record['pruned']:.3f} per utterance, "
            f"test DER {100 * der:.2f}%, frames visited {visited}/{frames}, train {train_time:.1f} s, elapsed {record['elapsed_s']:.0f} s; "
            f"e.g. ref/hyp {examples}")
        if rank == 0:  # after every epoch, so an interrupted run keeps its curve
            (out_dir / "history.json").write_text(json.dumps(history, indent=1))

    if args.dump_params:
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, out_dir / f"params-rank{rank}.pt")
    if rank == 0:
        save_curve(history, out_dir / "curve.png", args.loss)
        last = history[-1]
        print(f"final test digit error rate {100 * last['der']:.2f}% after {args.epochs} epochs, "
              f"frames visited {last['frames_visited']}/{last['frames']} "
              f"({100 * last['frames_visited'] / max(last['frames'], 1):.1f}%), total {time.time() - t_start:.0f} s")
    return history


if __name__ == "__main__":
    main()
