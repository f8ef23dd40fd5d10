"""ONNX export of the rnnt ops (both PyTorch exporters) and the ONNX Runtime
custom-op library (export/ort/rnnt_ort_ops.cc), checked against PyTorch.

The ORT library is built against ONNX Runtime's C/C++ API headers, fetched
from Debian once per session (``ort_library`` fixture); without network the
ORT tests skip, unless RNNT_OPS_REQUIRE_ORT=1 (CI), which makes that a
failure.
"""

import os

import pytest
import torch

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import rnnt_ops  # noqa: E402
from rnnt_ops import export as rnnt_export  # noqa: E402
from rnnt_ops.export import ort_headers  # noqa: E402

EXPORTERS = ["torchscript", "dynamo"]
TOL = {torch.float32: 1e-5, torch.float64: 1e-10}


def _have_onnxscript() -> bool:
    try:
        import onnxscript  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="session")
def ort_library():
    """Path of the built ORT custom-op library (fetches the headers once)."""
    try:
        return rnnt_export.ort_library_path()
    except rnnt_export.OrtHeadersUnavailable as exc:
        if os.environ.get("RNNT_OPS_REQUIRE_ORT", "") not in ("", "0"):
            raise
        pytest.skip(f"ONNX Runtime headers unavailable (no network?): {exc}")


def _session(model_bytes: bytes, ort_library) -> "ort.InferenceSession":
    options = ort.SessionOptions()
    options.register_custom_ops_library(str(ort_library))
    return ort.InferenceSession(
        model_bytes, options, providers=["CPUExecutionProvider"]
    )


def _export(module, args, names, outputs, exporter, dynamic):
    """Export to ONNX bytes; dynamic: {input name: {axis: name}} where names
    of the form 'X+1' are one more than the axis named X."""
    if exporter == "dynamo":
        if not _have_onnxscript():
            pytest.skip("the dynamo exporter needs onnxscript")
        from torch.export import Dim

        dims = {}

        def dim(name):
            base, plus = (name[:-2], 1) if name.endswith("+1") else (name, 0)
            if base not in dims:
                dims[base] = Dim(f"{base}_dim", min=1)
            return dims[base] + plus if plus else dims[base]

        shapes = {
            n: {axis: dim(a) for axis, a in dynamic.get(n, {}).items()}
            for n in names
        }
        program = rnnt_export.export_onnx(
            module, args, dynamo=True, input_names=names,
            output_names=outputs, dynamic_shapes=shapes, verbose=False,
        )
        return program.model_proto.SerializeToString()
    import io

    axes = {n: {k: v.replace("+1", "_plus_1") for k, v in d.items()}
            for n, d in dynamic.items() if n in names}
    axes.update({o: {0: "B"} for o in outputs})
    buf = io.BytesIO()
    rnnt_export.export_onnx(
        module, args, buf, dynamo=False, input_names=names,
        output_names=outputs, dynamic_axes=axes,
    )
    return buf.getvalue()


class Recursion(torch.nn.Module):
    """mutual_information_recursion surrounded by a little standard math."""

    def __init__(self, with_boundary: bool, return_grad: bool):
        super().__init__()
        self.with_boundary = with_boundary
        self.return_grad = return_grad

    def forward(self, px, py, boundary=None):
        px = px - 0.5
        if not self.with_boundary:
            boundary = None
        if self.return_grad:
            scores, (px_grad, py_grad) = rnnt_ops.mutual_information_recursion(
                px, py, boundary, return_grad=True)
            return scores, px_grad, py_grad
        return rnnt_ops.mutual_information_recursion(px, py, boundary) * 2.0


def _inputs(B, S, T, modified, dtype, boundary, seed):
    g = torch.Generator().manual_seed(seed)
    px = torch.randn(B, S, T if modified else T + 1, generator=g, dtype=dtype)
    py = torch.randn(B, S + 1, T, generator=g, dtype=dtype)
    if not boundary:
        return px, py, None
    rows = []
    for _ in range(B):
        sb = int(torch.randint(0, S // 2 + 1, (1,), generator=g))
        tb = int(torch.randint(0, T // 2 + 1, (1,), generator=g))
        se = int(torch.randint(sb, S + 1, (1,), generator=g))
        # Modified: a symbol also takes a frame; keep a path (mostly).
        low = min(max(tb, tb + se - sb), T) if modified else tb
        te = int(torch.randint(low, T + 1, (1,), generator=g))
        rows.append([sb, tb, se, te])
    rows[0] = [0, 0, S, T]
    return px, py, torch.tensor(rows, dtype=torch.int64)


def _feeds(names, tensors):
    return {n: t.numpy() for n, t in zip(names, tensors)}


def _max_diff(ort_outputs, torch_outputs):
    if isinstance(torch_outputs, torch.Tensor):
        torch_outputs = (torch_outputs,)
    assert len(ort_outputs) == len(torch_outputs)
    diff = 0.0
    for got, want in zip(ort_outputs, torch_outputs):
        got = torch.from_numpy(got)
        assert got.shape == want.shape and got.dtype == want.dtype
        both_inf = torch.isinf(got) & torch.isinf(want) & (got == want)
        assert torch.equal(torch.isfinite(got), torch.isfinite(want))
        d = (got - want).abs()[~both_inf]
        diff = max(diff, float(d.max()) if d.numel() else 0.0)
    return diff


def _check_graph(model_bytes, rnnt_op):
    model = onnx.load_from_string(model_bytes)
    onnx.checker.check_model(model, full_check=True)
    domains = {o.domain: o.version for o in model.opset_import}
    assert domains.get("rnnt") == 1
    ops = [(n.domain, n.op_type) for n in model.graph.node]
    assert ("rnnt", rnnt_op) in ops
    assert all(d in ("", "rnnt") for d, _ in ops), ops
    return model


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("modified", [False, True], ids=["regular", "modified"])
@pytest.mark.parametrize("with_boundary", [False, True],
                         ids=["no_boundary", "boundary"])
@pytest.mark.parametrize("return_grad", [False, True], ids=["scores", "grad"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64],
                         ids=["f32", "f64"])
def test_recursion_export_matches_torch(
    ort_library, exporter, modified, with_boundary, return_grad, dtype
):
    module = Recursion(with_boundary, return_grad)
    names = ["px", "py"] + (["boundary"] if with_boundary else [])
    outputs = ["scores", "px_grad", "py_grad"] if return_grad else ["scores"]
    dynamic = {
        "px": {0: "B", 1: "S", 2: "T" if modified else "T+1"},
        "py": {0: "B", 1: "S+1", 2: "T"},
        "boundary": {0: "B"},
    }
    px, py, boundary = _inputs(2, 3, 4, modified, dtype, with_boundary, 0)
    args = (px, py, boundary) if with_boundary else (px, py)
    model_bytes = _export(module, args, names, outputs, exporter, dynamic)
    _check_graph(
        model_bytes,
        "MutualInformationWithGrad" if return_grad else "MutualInformation",
    )
    session = _session(model_bytes, ort_library)
    # The export sizes, then other batch sizes and lengths (dynamic axes).
    for seed, (B, S, T) in enumerate([(2, 3, 4), (5, 6, 9), (1, 2, 3)]):
        tensors = _inputs(B, S, T, modified, dtype, with_boundary, seed + 1)
        tensors = tensors if with_boundary else tensors[:2]
        got = session.run(None, _feeds(names, tensors))
        with torch.no_grad():
            want = module(*tensors)
        assert _max_diff(got, want) <= TOL[dtype], (B, S, T)


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_export_without_path_gives_minus_inf(ort_library, exporter):
    """Modified recursion with more symbols than frames: no path, score -inf
    and zero gradients, in ORT as in PyTorch."""
    module = Recursion(with_boundary=True, return_grad=True)
    px, py, _ = _inputs(2, 3, 4, True, torch.float64, False, 0)
    boundary = torch.tensor([[0, 0, 3, 4], [0, 0, 3, 2]])
    names = ["px", "py", "boundary"]
    dynamic = {"px": {0: "B"}, "py": {0: "B"}, "boundary": {0: "B"}}
    model_bytes = _export(module, (px, py, boundary), names,
                          ["scores", "px_grad", "py_grad"], exporter, dynamic)
    got = _session(model_bytes, ort_library).run(
        None, _feeds(names, (px, py, boundary)))
    assert got[0][1] == float("-inf")
    assert not got[1][1].any() and not got[2][1].any()
    assert _max_diff(got, module(px, py, boundary)) <= 1e-10


def _graph_model(op_type: str, n_outputs: int, elem_type: int):
    from onnx import TensorProto, helper

    node = helper.make_node(
        op_type, ["px", "py", "boundary"],
        ["scores", "px_grad", "py_grad"][:n_outputs], domain="rnnt")
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info("px", elem_type, None),
         helper.make_tensor_value_info("py", elem_type, None),
         helper.make_tensor_value_info("boundary", TensorProto.INT64, None)],
        [helper.make_tensor_value_info(n, elem_type, None)
         for n in ["scores", "px_grad", "py_grad"][:n_outputs]])
    # IR version 8 (ONNX 1.12, op set 17): onnx's default follows the
    # installed onnx (14 for 1.23), newer than some ONNX Runtimes read
    # (1.30: "Unsupported model IR version: 14, max supported IR version: 13").
    return helper.make_model(graph, ir_version=8, opset_imports=[
        helper.make_opsetid("", 17), helper.make_opsetid("rnnt", 1)])


@pytest.mark.parametrize("op_type,n_outputs", [
    ("MutualInformation", 1), ("MutualInformationWithGrad", 3)])
def test_ort_rejects_bad_inputs(ort_library, op_type, n_outputs):
    """Invalid shapes and boundaries come back as ORT errors, not crashes."""
    from onnx import TensorProto

    model = _graph_model(op_type, n_outputs, TensorProto.FLOAT)
    session = _session(model.SerializeToString(), ort_library)
    px, py, _ = _inputs(2, 3, 4, False, torch.float32, False, 0)
    good = torch.tensor([[0, 0, 3, 4], [1, 1, 2, 3]])
    session.run(None, _feeds(["px", "py", "boundary"], (px, py, good)))
    cases = [
        ((px, py, torch.tensor([[0, 0, 4, 4], [0, 0, 3, 4]])),
         "must satisfy 0 <= s_begin <= s_end <= S = 3"),
        ((px, py, torch.tensor([[0, 0, 3, 4], [2, 1, 1, 3]])),
         "boundary[1] = (2, 1, 1, 3)"),
        ((px, py, torch.tensor([[0, 0, 3, 4], [0, -1, 3, 4]])),
         "boundary[1]"),
        ((px, py, good[:1]), "boundary must be [B][4] = [2, 4]"),
        ((px, py[:, :3], good), "py must be [B][S+1][T]"),
        ((px[:1], py, good), "py must be [B][S+1][T]"),
        ((px[..., :3], py, good), "px must be [B][S][T+1] (regular)"),
        ((px[0], py[0], good), "px must be 3-D"),
    ]
    for tensors, message in cases:
        with pytest.raises(Exception, match="INVALID_ARGUMENT") as info:
            session.run(None, _feeds(["px", "py", "boundary"], tensors))
        assert message in str(info.value), str(info.value)


def test_ort_library_is_cached(ort_library):
    assert rnnt_export.ort_library_path() == ort_library
    assert ort_library.is_file()


def test_onnx_schemas_registered():
    rnnt_export.register_onnx_schemas()
    rnnt_export.register_onnx_schemas()  # idempotent
    schema = onnx.defs.get_schema("MutualInformationWithGrad", 1, "rnnt")
    assert [o.name for o in schema.outputs] == ["scores", "px_grad", "py_grad"]
    assert [i.name for i in schema.inputs] == ["px", "py", "boundary"]


# ---------------------------------------------------------------------------
# Losses: only the recursion becomes rnnt nodes, the rest is standard ONNX.
# ---------------------------------------------------------------------------

C_VOCAB, D_MODEL, S_RANGE = 6, 8, 3


def _loss_inputs(B, S, T, dtype, seed, modified=False):
    g = torch.Generator().manual_seed(seed)
    am = torch.randn(B, T, D_MODEL, generator=g, dtype=dtype)
    lm = torch.randn(B, S + 1, D_MODEL, generator=g, dtype=dtype)
    symbols = torch.randint(1, C_VOCAB, (B, S), generator=g)
    # Item 0 uses the whole lattice, the others are shorter.
    rows = [[0, 0, S, T]] + [[0, 0, S - 1, T - 1]] * (B - 1)
    return am, lm, symbols, torch.tensor(rows, dtype=torch.int64)


class FullLoss(torch.nn.Module):
    """A joiner over the whole lattice, then rnnt_loss."""

    def __init__(self, rnnt_type):
        super().__init__()
        self.rnnt_type = rnnt_type
        self.joiner = torch.nn.Linear(D_MODEL, C_VOCAB)

    def forward(self, am, lm, symbols, boundary):
        logits = self.joiner(torch.tanh(am.unsqueeze(2) + lm.unsqueeze(1)))
        return rnnt_ops.rnnt_loss(logits, symbols, 0, boundary,
                                  rnnt_type=self.rnnt_type, reduction="none")


class PrunedLoss(torch.nn.Module):
    """The pruned RNN-T training path: simple loss with occupation grads,
    prune ranges, pruning, a joiner inside the windows, pruned loss."""

    def __init__(self, use_hat_loss=False):
        super().__init__()
        self.use_hat_loss = use_hat_loss
        self.simple_am = torch.nn.Linear(D_MODEL, C_VOCAB)
        self.simple_lm = torch.nn.Linear(D_MODEL, C_VOCAB)
        self.joiner = torch.nn.Linear(D_MODEL, C_VOCAB)

    def forward(self, am, lm, symbols, boundary):
        simple, (px_grad, py_grad) = rnnt_ops.rnnt_loss_simple(
            self.simple_lm(lm), self.simple_am(am), symbols, 0, boundary,
            reduction="none", return_grad=True)
        ranges = rnnt_ops.get_rnnt_prune_ranges(px_grad, py_grad, boundary,
                                                S_RANGE)
        am_pruned, lm_pruned = rnnt_ops.do_rnnt_pruning(am, lm, ranges)
        logits = self.joiner(torch.tanh(am_pruned + lm_pruned))
        pruned = rnnt_ops.rnnt_loss_pruned(
            logits, symbols, ranges, 0, boundary, reduction="none",
            use_hat_loss=self.use_hat_loss)
        return simple, px_grad, py_grad, ranges, pruned


class SmoothedLoss(torch.nn.Module):
    """rnnt_loss_smoothed of two linear heads, with occupation grads."""

    def __init__(self, rnnt_type="regular"):
        super().__init__()
        self.rnnt_type = rnnt_type
        self.simple_am = torch.nn.Linear(D_MODEL, C_VOCAB)
        self.simple_lm = torch.nn.Linear(D_MODEL, C_VOCAB)

    def forward(self, am, lm, symbols, boundary):
        loss, (px_grad, py_grad) = rnnt_ops.rnnt_loss_smoothed(
            self.simple_lm(lm), self.simple_am(am), symbols, 0,
            lm_only_scale=0.25, am_only_scale=0.2, boundary=boundary,
            rnnt_type=self.rnnt_type, reduction="none", return_grad=True)
        return loss, px_grad, py_grad


LOSS_NAMES = ["am", "lm", "symbols", "boundary"]
LOSS_DYNAMIC = {"am": {0: "B", 1: "T"}, "lm": {0: "B", 1: "S+1"},
                "symbols": {0: "B", 1: "S"}, "boundary": {0: "B"}}


def _check_loss_module(module, outputs, exporter, dtype, ort_library,
                       report=None):
    """Export module, run it in ORT on the export sizes and (dynamo) on two
    other batch sizes and lengths, compare with eager PyTorch. report, a
    dict, receives the ONNX model and the max absolute and relative
    differences."""
    module = module.to(dtype).eval()
    torch.manual_seed(0)
    args = _loss_inputs(2, 3, 5, dtype, 0)
    model_bytes = _export(module, args, LOSS_NAMES, outputs, exporter,
                          LOSS_DYNAMIC)
    model = onnx.load_from_string(model_bytes)
    onnx.checker.check_model(model, full_check=True)
    ops = [(n.domain, n.op_type) for n in model.graph.node]
    assert all(d in ("", "rnnt") for d, _ in ops), ops
    custom = {t for d, t in ops if d == "rnnt"}
    assert custom <= {"MutualInformation", "MutualInformationWithGrad"}
    session = _session(model_bytes, ort_library)
    # The TorchScript tracer bakes the sizes the composite ops compute from
    # shapes into the graph: only the export shapes are valid there.
    shapes = [(2, 3, 5)] + ([(4, 5, 9), (3, 4, 4)] if exporter == "dynamo" else [])
    worst = 0.0  # relative to max(1, max |torch|) per output
    max_abs = 0.0  # max |ORT - torch| over the float outputs
    for seed, (B, S, T) in enumerate(shapes):
        tensors = _loss_inputs(B, S, T, dtype, seed + 1)
        got = session.run(None, _feeds(LOSS_NAMES, tensors))
        with torch.no_grad():
            want = module(*tensors)
        want = want if isinstance(want, tuple) else (want,)
        for g, w in zip(got, want):
            g = torch.from_numpy(g)
            assert g.shape == w.shape and g.dtype == w.dtype
            if w.dtype == torch.int64:
                assert torch.equal(g, w)
                continue
            assert torch.isfinite(w).all() and torch.isfinite(g).all()
            diff = float((g - w).abs().max())
            scale = max(1.0, float(w.abs().max()))
            worst = max(worst, diff / scale)
            max_abs = max(max_abs, diff)
    assert worst <= TOL[dtype], worst
    if report is not None:
        report.update(model=model, max_abs=max_abs, max_rel=worst)
    return custom


DTYPES = pytest.mark.parametrize("dtype", [torch.float32, torch.float64],
                                 ids=["f32", "f64"])
PRUNED_OUTPUTS = ["simple", "px_grad", "py_grad", "ranges", "pruned"]


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("use_hat_loss", [False, True], ids=["rnnt", "hat"])
@DTYPES
def test_pruned_loss_path_exports(ort_library, exporter, use_hat_loss, dtype):
    """rnnt_loss_simple (return_grad=True), get_rnnt_prune_ranges,
    do_rnnt_pruning and rnnt_loss_pruned (also HAT)."""
    custom = _check_loss_module(PrunedLoss(use_hat_loss), PRUNED_OUTPUTS,
                                exporter, dtype, ort_library)
    assert custom == {"MutualInformation", "MutualInformationWithGrad"}


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("rnnt_type", ["regular", "modified", "constrained"])
@DTYPES
def test_full_loss_exports(ort_library, exporter, rnnt_type, dtype):
    custom = _check_loss_module(FullLoss(rnnt_type), ["loss"], exporter,
                                dtype, ort_library)
    assert custom == {"MutualInformation"}


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("rnnt_type", ["regular", "modified"])
@DTYPES
def test_smoothed_loss_exports(ort_library, exporter, rnnt_type, dtype):
    """rnnt_loss_smoothed with return_grad=True."""
    custom = _check_loss_module(SmoothedLoss(rnnt_type),
                                ["loss", "px_grad", "py_grad"], exporter,
                                dtype, ort_library)
    assert custom == {"MutualInformationWithGrad"}


def test_ort_without_our_library_fails():
    """A plain ORT session does not know the rnnt nodes (so they really are
    ours, not standard ONNX that ORT happens to run)."""
    module = Recursion(with_boundary=False, return_grad=False)
    px, py, _ = _inputs(2, 3, 4, False, torch.float32, False, 0)
    for exporter in EXPORTERS:
        model_bytes = _export(module, (px, py), ["px", "py"], ["scores"],
                              exporter, {"px": {0: "B"}, "py": {0: "B"}})
        with pytest.raises(
                Exception,
                match=r"rnnt:MutualInformation\(-1\) is not a registered "
                      r"function/op"):
            ort.InferenceSession(model_bytes, ort.SessionOptions(),
                                 providers=["CPUExecutionProvider"])


# ---------------------------------------------------------------------------
# Where the ORT headers come from (no network needed)
# ---------------------------------------------------------------------------


def _fake_headers(directory):
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("onnxruntime_c_api.h", "onnxruntime_cxx_api.h"):
        (directory / name).write_text("")
    return directory


@pytest.mark.parametrize("variable", ["ORT_INCLUDE_DIR", "RNNT_ORT_INCLUDE_DIR"])
def test_ort_include_dir_from_environment(tmp_path, monkeypatch, variable):
    monkeypatch.delenv("ORT_INCLUDE_DIR", raising=False)
    monkeypatch.delenv("RNNT_ORT_INCLUDE_DIR", raising=False)
    headers = _fake_headers(tmp_path / "include")
    monkeypatch.setenv(variable, str(headers))
    assert rnnt_export.ort_include_dir() == headers
    # ORT_INCLUDE_DIR (the documented name) wins over the alias.
    if variable == "RNNT_ORT_INCLUDE_DIR":
        other = _fake_headers(tmp_path / "other")
        monkeypatch.setenv("ORT_INCLUDE_DIR", str(other))
        assert rnnt_export.ort_include_dir() == other
    # A directory without the headers is an error, not a silent fetch.
    monkeypatch.setenv("ORT_INCLUDE_DIR", str(tmp_path / "empty"))
    with pytest.raises(rnnt_export.OrtHeadersUnavailable) as info:
        rnnt_export.ort_include_dir()
    message = str(info.value)
    assert f"ORT_INCLUDE_DIR={tmp_path / 'empty'} has no" in message
    assert "apt-get install libonnxruntime-dev" in message
    assert "export ORT_INCLUDE_DIR=" in message


def test_ort_headers_unfetchable_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.delenv("ORT_INCLUDE_DIR", raising=False)
    monkeypatch.delenv("RNNT_ORT_INCLUDE_DIR", raising=False)
    monkeypatch.setenv("RNNT_OPS_BUILD_DIR", str(tmp_path))

    def no_network(target):
        raise rnnt_export.OrtHeadersUnavailable(
            "rnnt_ops: could not fetch the Debian trixie package index")

    monkeypatch.setattr(ort_headers, "_fetch_headers", no_network)
    with pytest.raises(rnnt_export.OrtHeadersUnavailable) as info:
        rnnt_export.ort_include_dir()
    message = str(info.value)
    assert "could not fetch the Debian trixie package index" in message
    assert "ORT_INCLUDE_DIR is not set" in message
    assert "apt-get install libonnxruntime-dev" in message
    assert "export ORT_INCLUDE_DIR=/usr/include/onnxruntime" in message
    assert "onnxruntime_c_api.h and onnxruntime_cxx_api.h" in message


def test_checked_index_fails_in_ort(ort_library):
    """Out-of-range symbols fail the ORT run (standard ONNX has no assert:
    the checked index becomes an out-of-bounds gather index), instead of
    wrapping around as a negative ONNX index would."""
    if not _have_onnxscript():
        pytest.skip("the dynamo exporter needs onnxscript")
    module = FullLoss("regular").to(torch.float64).eval()
    args = _loss_inputs(2, 3, 5, torch.float64, 0)
    model_bytes = _export(module, args, LOSS_NAMES, ["loss"], "dynamo",
                          LOSS_DYNAMIC)
    session = _session(model_bytes, ort_library)
    am, lm, symbols, boundary = args
    for bad in (-1, C_VOCAB):
        symbols_bad = symbols.clone()
        symbols_bad[1, 0] = bad
        with pytest.raises(Exception, match="Out of range value in index"):
            session.run(None, _feeds(LOSS_NAMES, (am, lm, symbols_bad, boundary)))
