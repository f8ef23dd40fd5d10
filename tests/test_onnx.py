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
    return helper.make_model(graph, opset_imports=[
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
        assert message in str(info.value)


def test_ort_library_is_cached(ort_library):
    assert rnnt_export.ort_library_path() == ort_library
    assert ort_library.is_file()


def test_onnx_schemas_registered():
    rnnt_export.register_onnx_schemas()
    rnnt_export.register_onnx_schemas()  # idempotent
    schema = onnx.defs.get_schema("MutualInformationWithGrad", 1, "rnnt")
    assert [o.name for o in schema.outputs] == ["scores", "px_grad", "py_grad"]
    assert [i.name for i in schema.inputs] == ["px", "py", "boundary"]
