"""How far float32 gradients are from the float64 truth, on the shapes of the
float32-accuracy comparison with fast_rnnt (lm = 2 randn(B, S+1, C),
am = 2 randn(B, T, C), reduction="sum"; the recursion on randn px, py) and on
long utterances (T up to 2000). Each row: the largest absolute error of one
gradient in float32 against float64 on the same inputs, for rnnt_ops and for
the baseline, fast_rnnt's scheme (fast_rnnt_scheme_grads: its forward
table and backward, written here: fast_rnnt is not installed) on the same
float32 inputs; and fast_rnnt's own float32 error on those shapes, measured on other
random inputs with a CPU build of fast_rnnt 1.2 (quoted). Each row is run
on --seeds input seeds (0..N-1; seed 0 is the inputs of the tests): the
median error of each side, the median of the per-seed ratios and the
largest one (with its seed). Prints a Markdown table per device (CPU, and
CUDA when present), with --per-seed a second one of every seed's ratio.

    python bench/float32_error.py [--seeds 10] [--per-seed] [--device cpu]
"""

import argparse
import statistics

import torch

import rnnt_ops

# (quantity, B, S, T, C, fast_rnnt's float32 error or None)
CASES = [
    ("rnnt_loss_simple lm grad", 4, 40, 150, 100, 5.7e-4),
    ("rnnt_loss_simple am grad", 4, 40, 150, 100, 6.0e-5),
    ("rnnt_loss logits grad", 4, 40, 150, 100, 6.0e-5),
    ("rnnt_loss_simple lm grad", 8, 30, 60, 50, 1.3e-4),
    ("recursion px grad", 4, 100, 500, None, 2.3e-5),
    ("rnnt_loss_simple lm grad", 2, 100, 2000, 100, None),
    ("rnnt_loss_simple am grad", 2, 100, 2000, 100, None),
    ("recursion px grad", 2, 200, 2000, None, None),
]


def case_inputs(B, S, T, C, seed=0):
    """float64 inputs of one case: (lm, am, symbols) or, C None, (px, py)."""
    g = torch.Generator().manual_seed(seed + B + S + T)
    if C is None:
        return (torch.randn(B, S, T + 1, generator=g, dtype=torch.float64),
                torch.randn(B, S + 1, T, generator=g, dtype=torch.float64))
    lm = 2 * torch.randn(B, S + 1, C, generator=g, dtype=torch.float64)
    am = 2 * torch.randn(B, T, C, generator=g, dtype=torch.float64)
    symbols = torch.randint(1, C, (B, S), generator=g)
    return lm, am, symbols


def fast_rnnt_scheme_forward(px, py):
    """The forward table p [B][S+1][T+1] of the regular recursion (full
    boxes) as fast_rnnt computes it: node by node in the inputs' dtype,
    p[s,t] = LogAdd(p[s-1,t] + px[s-1,t], p[s,t-1] + py[s,t-1]), where
    LogAdd(x, y) = max + log1p(exp(min - max)), the correction dropped
    below min - max = log(FLT_EPSILON) in float32. One anti-diagonal a step
    (each node rounds as in fast_rnnt's loop; exp and log1p are torch's)."""
    B, S, T1 = px.shape
    T = T1 - 1
    neg_inf = float("-inf")
    min_log_diff = -15.9423847198486328125 if px.dtype == torch.float32 else neg_inf
    p = torch.full((B, S + 1, T + 1), neg_inf, dtype=px.dtype, device=px.device)
    p[:, 0, 0] = 0
    for k in range(1, S + T + 1):
        s = torch.arange(max(0, k - T), min(S, k) + 1, device=px.device)
        t = k - s
        via_symbol = torch.full((B, len(s)), neg_inf, dtype=px.dtype, device=px.device)
        via_blank = via_symbol.clone()
        has_symbol, has_blank = s > 0, t > 0
        ss, ts = s[has_symbol], t[has_symbol]
        via_symbol[:, has_symbol] = p[:, ss - 1, ts] + px[:, ss - 1, ts]
        sb, tb = s[has_blank], t[has_blank]
        via_blank[:, has_blank] = p[:, sb, tb - 1] + py[:, sb, tb - 1]
        hi, lo = torch.maximum(via_symbol, via_blank), torch.minimum(via_symbol, via_blank)
        diff = lo - hi
        keep = (diff >= min_log_diff) & (lo != neg_inf)
        p[:, s, t] = torch.where(keep, hi + torch.log1p(torch.exp(diff)), hi)
    return p


def fast_rnnt_scheme_grads(px, py):
    """Gradients of the summed scores of the regular recursion (full boxes)
    w.r.t. px [B][S][T+1] and py [B][S+1][T] by fast_rnnt's backward: from
    the last node (occupation 1) back, each node's occupation g is pushed to
    its two incoming arcs, the symbol arc taking exp(p[s-1,t] + px[s-1,t] -
    p[s,t]) of it and the blank arc the rest; p is fast_rnnt's forward table
    (fast_rnnt_scheme_forward). One anti-diagonal a step."""
    B, S, T1 = px.shape
    T = T1 - 1
    with torch.no_grad():
        p = fast_rnnt_scheme_forward(px, py)
        g = torch.zeros_like(p)
        g[:, S, T] = 1
        px_grad, py_grad = torch.zeros_like(px), torch.zeros_like(py)
        for k in range(S + T, 0, -1):
            s = torch.arange(max(0, k - T), min(S, k) + 1, device=px.device)
            t = k - s
            here, g_here = p[:, s, t], g[:, s, t]
            symbol_share = torch.ones_like(here)
            both = (s > 0) & (t > 0)
            sb, tb = s[both], t[both]
            symbol_share[:, both] = torch.exp(p[:, sb - 1, tb] + px[:, sb - 1, tb] - here[:, both])
            symbol_share[:, s == 0] = 0
            symbol_share = torch.where(here == float("-inf"), 0, symbol_share)
            blank_share = torch.where((here == float("-inf")) | (t == 0), 0, 1 - symbol_share)
            has_symbol, has_blank = s > 0, t > 0
            via_symbol = (symbol_share * g_here)[:, has_symbol]
            px_grad[:, s[has_symbol] - 1, t[has_symbol]] = via_symbol
            g[:, s[has_symbol] - 1, t[has_symbol]] += via_symbol
            via_blank = (blank_share * g_here)[:, has_blank]
            py_grad[:, s[has_blank], t[has_blank] - 1] = via_blank
            g[:, s[has_blank], t[has_blank] - 1] += via_blank
    return px_grad, py_grad


def gradient(quantity, inputs, dtype, device, recursion_grads=None):
    """The gradient named by `quantity`, computed in `dtype` on `device`;
    with recursion_grads (a function of (px, py) returning their gradients),
    the recursion's backward is that function instead of ours."""
    if quantity.startswith("recursion"):
        px, py = (x.to(device, dtype, copy=True).requires_grad_() for x in inputs)
        if recursion_grads is not None:
            return recursion_grads(px.detach(), py.detach())[0]
        rnnt_ops.mutual_information_recursion(px, py).sum().backward()
        return px.grad
    lm, am, symbols = inputs
    lm = lm.to(device, dtype, copy=True).requires_grad_()
    am = am.to(device, dtype, copy=True).requires_grad_()
    symbols = symbols.to(device)
    simple = quantity.startswith("rnnt_loss_simple")
    logits = None if simple else (am[:, :, None] + lm[:, None]).detach().requires_grad_()
    if recursion_grads is None:
        if simple:
            rnnt_ops.rnnt_loss_simple(lm, am, symbols, 0, reduction="sum").backward()
        else:
            rnnt_ops.rnnt_loss(logits, symbols, 0, reduction="sum").backward()
    else:
        if simple:
            px, py = rnnt_ops.get_rnnt_logprobs(lm, am, symbols, 0)
        else:
            px, py = rnnt_ops.get_rnnt_logprobs_joint(logits, symbols, 0)
        # d loss / d (px, py) = -(occupation probabilities).
        px_grad, py_grad = recursion_grads(px.detach(), py.detach())
        torch.autograd.backward((px, py), (-px_grad, -py_grad))
    if simple:
        return lm.grad if "lm" in quantity else am.grad
    return logits.grad


def float32_errors(quantity, B, S, T, C, device="cpu", seed=0):
    """Largest absolute error of the float32 gradient against float64:
    (rnnt_ops, fast_rnnt's backward scheme), on the same inputs."""
    inputs = case_inputs(B, S, T, C, seed)
    exact = gradient(quantity, inputs, torch.float64, "cpu")
    ours = gradient(quantity, inputs, torch.float32, device)
    theirs = gradient(quantity, inputs, torch.float32, device, fast_rnnt_scheme_grads)
    return tuple((got.cpu().double() - exact).abs().max().item() for got in (ours, theirs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", action="append", help="cpu and/or cuda (default: all present)")
    parser.add_argument("--seeds", type=int, default=10, help="input seeds 0..N-1 per row")
    parser.add_argument("--per-seed", action="store_true", help="also every seed's ratio")
    args = parser.parse_args()
    devices = args.device or ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    seeds = range(args.seeds)
    print(f"torch {torch.__version__}; float32 against float64, largest absolute error; "
          f"seeds 0-{args.seeds - 1}")
    print("| device | quantity | B, S, T, C | rnnt_ops (median) | fast_rnnt's scheme (median) | "
          "ratio, median | ratio, max (seed) | fast_rnnt 1.2 (quoted, other inputs) |")
    print("|---|---|---|---|---|---|---|---|")
    per_seed = []
    for device in devices:
        for quantity, B, S, T, C, quoted in CASES:
            errors = [float32_errors(quantity, B, S, T, C, device, seed) for seed in seeds]
            ratios = [ours / scheme for ours, scheme in errors]
            worst = max(seeds, key=lambda seed: ratios[seed])
            per_seed.append((device, quantity, (B, S, T, C), ratios))
            print(f"| {device} | {quantity} | {B}, {S}, {T}, {C or '-'} | "
                  f"{statistics.median(e[0] for e in errors):.1e} | "
                  f"{statistics.median(e[1] for e in errors):.1e} | "
                  f"{statistics.median(ratios):.2f} | {ratios[worst]:.2f} ({worst}) | "
                  f"{f'{quoted:.1e}' if quoted else '-'} |", flush=True)
    if args.per_seed:
        print("\nratio rnnt_ops / fast_rnnt's scheme per seed")
        print("| device | quantity | B, S, T, C | " + " | ".join(str(s) for s in seeds) + " |")
        print("|---|---|---|" + "---|" * len(seeds))
        for device, quantity, (B, S, T, C), ratios in per_seed:
            print(f"| {device} | {quantity} | {B}, {S}, {T}, {C or '-'} | "
                  + " | ".join(f"{r:.2f}" for r in ratios) + " |")


if __name__ == "__main__":
    main()
