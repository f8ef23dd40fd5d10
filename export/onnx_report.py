"""Measure what README's "ONNX export" section reports: the nodes of the
exported pruned-RNN-T model and the max |ORT - torch| of each exported model.

Exports with the dynamo exporter the models of tests/test_onnx.py, runs them
in ONNX Runtime with the rnnt custom-op library on the test sizes (the export
size and two other batch sizes and lengths) and compares with eager PyTorch;
prints Markdown. Run from the repository root:

    PYTHONPATH=. python export/onnx_report.py
"""

import collections
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import test_onnx as t  # noqa: E402
import test_onnx_tdt as tt  # noqa: E402

from rnnt_ops import export as rnnt_export  # noqa: E402

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def recursion_diff(library, return_grad, dtype):
    module = t.Recursion(with_boundary=True, return_grad=return_grad)
    names = ["px", "py", "boundary"]
    outputs = ["scores", "px_grad", "py_grad"] if return_grad else ["scores"]
    dynamic = {"px": {0: "B", 1: "S", 2: "T+1"}, "py": {0: "B", 1: "S+1", 2: "T"},
               "boundary": {0: "B"}}
    model_bytes = t._export(module, t._inputs(2, 3, 4, False, dtype, True, 0),
                            names, outputs, "dynamo", dynamic)
    session = t._session(model_bytes, library)
    worst = 0.0
    for seed, (B, S, T) in enumerate([(2, 3, 4), (5, 6, 9), (1, 2, 3)]):
        tensors = t._inputs(B, S, T, False, dtype, True, seed + 1)
        with torch.no_grad():
            want = module(*tensors)
        worst = max(worst, t._max_diff(session.run(None, t._feeds(names, tensors)), want))
    return worst, None


def main():
    library = rnnt_export.ort_library_path()
    models = [
        ("recursion (`mutual_information_recursion`)",
         lambda dtype: recursion_diff(library, False, dtype)),
        ("recursion, `return_grad=True`",
         lambda dtype: recursion_diff(library, True, dtype)),
    ]
    pruned_model = {}

    def loss(make, outputs, keep=None):
        def run(dtype):
            report = {}
            t._check_loss_module(make(), outputs, "dynamo", dtype, library, report)
            if keep is not None and dtype == torch.float32:
                keep["model"] = report["model"]
            return report["max_abs"], report["max_rel"]
        return run

    models += [
        ("`rnnt_loss` (full joiner, regular)", loss(lambda: t.FullLoss("regular"), ["loss"])),
        ("`rnnt_loss_smoothed`, `return_grad=True`",
         loss(t.SmoothedLoss, ["loss", "px_grad", "py_grad"])),
        ("pruned path: `rnnt_loss_simple` (`return_grad=True`), prune ranges, "
         "pruning, `rnnt_loss_pruned`",
         loss(t.PrunedLoss, t.PRUNED_OUTPUTS, pruned_model)),
        ("pruned path with `rnnt_loss_pruned(use_hat_loss=True)`",
         loss(lambda: t.PrunedLoss(use_hat_loss=True), t.PRUNED_OUTPUTS)),
    ]

    def duration_loss(make, make_inputs, names=tt.LOSS_NAMES, dynamic=tt.LOSS_DYNAMIC):
        def run(dtype):
            report = {}
            tt.check_loss_export(make(), make_inputs, names, dynamic, "dynamo", dtype,
                                 library, report)
            return report["max_abs"], report["max_rel"]
        return run

    def tdt(case):
        durations, options = tt.TDT_CASES[case]
        return lambda: tt.TDTLoss(durations, **{"reduction": "none", **options})

    models += [
        ("`rnnt_loss_tdt`, durations [0, 1, 2, 3, 4]",
         duration_loss(tdt("nemo_default"), tt._tdt_inputs)),
        ("`rnnt_loss_tdt`, durations [1, 2, 4], sigma 0.05",
         duration_loss(tdt("no_zero_sigma"), tt._tdt_inputs)),
        ("`rnnt_loss_tdt`, durations [2, 0, 1], sigma 0.1, omega 0.4",
         duration_loss(tdt("unordered_omega_sigma"), tt._tdt_inputs)),
        ("`rnnt_loss_tdt`, durations [0, 1, 2, 3], fastemit_lambda 0.01",
         duration_loss(tdt("fastemit"), tt._tdt_inputs)),
        ("`rnnt_loss_multiblank`, NeMo's layout, big blanks of 2 and 4 frames",
         duration_loss(lambda: tt.MultiBlankLoss(reduction="none"), tt._mb_inputs)),
    ]
    rows = []
    for name, run in models:
        rows.append((name, *(run(dtype) for dtype in DTYPES.values())))
        print(f"measured: {rows[-1]}", file=sys.stderr, flush=True)

    counts = collections.Counter(
        (n.domain or "ai.onnx", n.op_type) for n in pruned_model["model"].graph.node)
    print(f"Nodes of the pruned-path model (dynamo exporter, float32), "
          f"{sum(counts.values())} in all:\n")
    print(", ".join(f"`{d}::{op}` {c}" for (d, op), c in
                    sorted(counts.items(), key=lambda kv: (kv[0][0] != "rnnt", -kv[1], kv[0]))))
    def cell(diff):
        absolute, relative = diff
        return f"{absolute:.1e}" + ("" if relative is None else f" ({relative:.1e})")

    print("\n| exported model (dynamo) | max abs diff (relative), float32 | float64 |")
    print("|---|---|---|")
    for name, f32, f64 in rows:
        print(f"| {name} | {cell(f32)} | {cell(f64)} |")


if __name__ == "__main__":
    main()
