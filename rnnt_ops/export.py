"""ONNX export of the rnnt ops, and the matching ONNX Runtime custom-op library.

The lattice recursion exports as nodes of the custom ONNX domain ``rnnt``
(op set version 1)::

    rnnt::mutual_information(px, py, boundary?)           -> MutualInformation
    rnnt::mutual_information_with_grad(px, py, boundary?) -> MutualInformationWithGrad

Everything else in a model (log-softmax, gathers, ...) exports as standard
ONNX. Both PyTorch exporters are supported:

* TorchScript (``torch.onnx.export(..., dynamo=False)``): call
  :func:`register_torchscript_symbolics` once, export with
  ``custom_opsets={"rnnt": 1}``.
* dynamo (``torch.onnx.export(..., dynamo=True)``, needs ``onnxscript``):
  pass ``custom_translation_table=custom_translation_table()``.

:func:`export_onnx` does either. To run an exported model, ONNX Runtime needs
the custom-op library: :func:`ort_library_path` builds it (once, cached) from
``export/ort/rnnt_ort_ops.cc`` with the system C++ compiler against ONNX
Runtime's C/C++ API headers, which are fetched on demand from Debian's
``libonnxruntime-dev`` package (:func:`ort_include_dir`);
:func:`ort_session_options` returns ``SessionOptions`` with it registered.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from rnnt_ops import _build

DOMAIN = "rnnt"
OPSET_VERSION = 1

# What a checked index (rnnt::_checked_index) outside its range becomes in
# ONNX: far beyond any tensor size, and small enough that the index
# arithmetic around it (row offsets) does not overflow int64.
_OUT_OF_RANGE = 1 << 62

# ---------------------------------------------------------------------------
# TorchScript exporter (dynamo=False)
# ---------------------------------------------------------------------------


def _symbolic_helper():
    """The TorchScript exporter's symbolic_helper module: under
    torch.onnx._internal.torchscript_exporter in current torch,
    torch.onnx.symbolic_helper in torch 2.8 and older."""
    try:
        from torch.onnx._internal.torchscript_exporter import symbolic_helper
    except ModuleNotFoundError:
        from torch.onnx import symbolic_helper
    return symbolic_helper


def _recursion_node(g, onnx_name: str, n_outputs: int, px, py, boundary):
    symbolic_helper = _symbolic_helper()

    inputs = [px, py]
    if not symbolic_helper._is_none(boundary):
        inputs.append(boundary)
    outs = g.op(f"{DOMAIN}::{onnx_name}", *inputs, outputs=n_outputs)
    outs = list(outs) if n_outputs > 1 else [outs]
    # Output types for the exporter's shape inference: scores [B], gradients
    # shaped like px and py, all of px's dtype.
    px_type, py_type = px.type(), py.type()
    sizes = px_type.varyingSizes() if hasattr(px_type, "varyingSizes") else None
    batch = sizes[0] if sizes else None
    outs[0].setType(px_type.with_sizes([batch]))
    if n_outputs == 3:
        outs[1].setType(px_type)
        outs[2].setType(py_type)
    return outs[0] if n_outputs == 1 else tuple(outs)


def _mutual_information_symbolic(g, px, py, boundary=None):
    return _recursion_node(g, "MutualInformation", 1, px, py, boundary)


def _mutual_information_with_grad_symbolic(g, px, py, boundary=None):
    return _recursion_node(g, "MutualInformationWithGrad", 3, px, py, boundary)


def _int64(g, value):
    return g.op("Constant", value_t=torch.tensor(value, dtype=torch.int64))


def _checked_index_symbolic(g, index, size, name=None):
    """rnnt::_checked_index: see _checked_index_translation."""
    size = g.op("Cast", size, to_i=7)  # int64
    bad = g.op("Or", g.op("Less", index, _int64(g, 0)),
               g.op("GreaterOrEqual", index, size))
    return g.op("Where", bad, _int64(g, _OUT_OF_RANGE), index)


def _cummin_symbolic(g, x, dim):
    """aten::cummin for the TorchScript exporter (op set >= 18): see
    _cummin_translation."""
    symbolic_helper = _symbolic_helper()

    dim = symbolic_helper._get_const(dim, "i", "dim")
    rank = symbolic_helper._get_tensor_rank(x)
    if rank is None:
        raise torch.onnx.errors.SymbolicValueError(
            "rnnt_ops: cummin needs an input of known rank", x)
    dim = dim % rank if rank else 0
    n = g.op("Gather", g.op("Shape", x), _int64(g, dim), axis_i=0)
    idx = g.op("Range", _int64(g, 0), n, _int64(g, 1))
    earlier = g.op("LessOrEqual", g.op("Unsqueeze", idx, _int64(g, [0])),
                   g.op("Unsqueeze", idx, _int64(g, [1])))
    trailing = rank - 1 - dim
    if trailing:
        earlier = g.op("Unsqueeze", earlier,
                       _int64(g, list(range(2, 2 + trailing))))
    x_u = g.op("Unsqueeze", x, _int64(g, [dim]))
    x_t = g.op("Unsqueeze", x, _int64(g, [dim + 1]))
    values = g.op("ReduceMin", g.op("Where", earlier, x_u, x_t),
                  _int64(g, [dim + 1]), keepdims_i=0)
    hit = g.op("And", earlier, g.op(
        "Equal", x_u, g.op("Unsqueeze", values, _int64(g, [dim + 1]))))
    u_index = idx
    if trailing:
        u_index = g.op("Unsqueeze", idx, _int64(g, list(range(1, 1 + trailing))))
    indices = g.op("ReduceMax", g.op("Where", hit, u_index, _int64(g, -1)),
                   _int64(g, [dim + 1]), keepdims_i=0)
    return values, indices


def _joiner_logprobs_symbolic(g, logits, symbol_index, termination_symbol, inplace_grad=None):
    """rnnt::_joiner_logprobs (the fused joiner log-probs) in standard ONNX
    (op set >= 18): see _joiner_logprobs_translation."""
    symbolic_helper = _symbolic_helper()

    blank = symbolic_helper._get_const(termination_symbol, "i", "termination_symbol")
    last = _int64(g, [-1])
    log_norm = g.op("ReduceLogSumExp", logits, last, keepdims_i=0)
    symbol = g.op("Squeeze", g.op("GatherElements", logits,
                                  g.op("Unsqueeze", symbol_index, last), axis_i=-1), last)
    blank_logit = g.op("Gather", logits, _int64(g, blank), axis_i=-1)
    return g.op("Sub", symbol, log_norm), g.op("Sub", blank_logit, log_norm), log_norm


def composite_rnnt_ops() -> list:
    """The rnnt ops implemented as CompositeImplicitAutograd (the losses,
    px/py constructions, pruning): compositions of ATen ops and the
    recursion."""
    ops = []
    for full_name in sorted(torch._C._dispatch_get_all_op_names()):
        if not full_name.startswith(f"{DOMAIN}::"):
            continue
        name, _, overload = full_name[len(DOMAIN) + 2:].partition(".")
        op = getattr(getattr(torch.ops.rnnt, name), overload or "default")
        if op.has_kernel_for_dispatch_key(
                torch._C.DispatchKey.CompositeImplicitAutograd):
            ops.append(op)
    return ops


_tracer_library = None


def _register_tracer_decompositions() -> None:
    """Make the TorchScript tracer record the decomposition of our
    CompositeImplicitAutograd ops, as it does for ATen's, instead of one
    opaque node (the tracer's fallback for custom ops): a kernel at the
    Tracer key that runs the composite kernel with tracing still on."""
    global _tracer_library
    if _tracer_library is not None:
        return
    library = torch.library.Library(DOMAIN, "IMPL")
    for op in composite_rnnt_ops():
        def decompose(*args, _op=op, **kwargs):
            return _op.decompose(*args, **kwargs)

        name = op.name().split("::", 1)[1]
        if op._overloadname != "default":
            name = f"{name}.{op._overloadname}"
        library.impl(name, decompose, "Tracer")
    _tracer_library = library


_torchscript_registered = False


def register_torchscript_symbolics() -> None:
    """Register the ONNX symbolics of the rnnt ops for
    ``torch.onnx.export(..., dynamo=False)`` (idempotent).

    Also makes the TorchScript tracer (``torch.jit.trace``, in this process)
    record the decomposition of the composite rnnt ops (losses, pruning), so
    that only the recursion becomes ``rnnt`` nodes, and adds symbolics for
    ``rnnt::_checked_index`` and ``aten::cummin`` (op set >= 18)."""
    global _torchscript_registered
    if _torchscript_registered:
        return
    torch.onnx.register_custom_op_symbolic(
        "rnnt::mutual_information", _mutual_information_symbolic, 1
    )
    torch.onnx.register_custom_op_symbolic(
        "rnnt::mutual_information_with_grad",
        _mutual_information_with_grad_symbolic,
        1,
    )
    if hasattr(torch.ops.rnnt, "_checked_index"):
        torch.onnx.register_custom_op_symbolic(
            "rnnt::_checked_index", _checked_index_symbolic, 1)
        torch.onnx.register_custom_op_symbolic(
            "aten::cummin", _cummin_symbolic, 18)
    if hasattr(torch.ops.rnnt, "_joiner_logprobs"):
        torch.onnx.register_custom_op_symbolic(
            "rnnt::_joiner_logprobs", _joiner_logprobs_symbolic, 18)
    _register_tracer_decompositions()
    _torchscript_registered = True


# ---------------------------------------------------------------------------
# ONNX op schemas and the dynamo exporter (dynamo=True)
# ---------------------------------------------------------------------------


def register_onnx_schemas() -> None:
    """Register the ``rnnt`` domain's op schemas with ``onnx.defs``
    (idempotent). The dynamo exporter (onnxscript) needs them to build the
    nodes; ``onnx.checker`` then also checks the nodes' arity and types."""
    import onnx.defs as defs

    P = defs.OpSchema.FormalParameter
    optional = defs.OpSchema.FormalParameterOption.Optional
    types = [("T", ["tensor(float)", "tensor(double)"], "float32 or float64")]
    inputs = [
        P("px", "T", "[B][S][T+1] (regular) or [B][S][T] (modified) log-probs "
          "of a symbol step"),
        P("py", "T", "[B][S+1][T] log-probs of a blank (frame) step"),
        P("boundary", "tensor(int64)",
          "optional [B][4] rows (s_begin, t_begin, s_end, t_end); default "
          "(0, 0, S, T)", param_option=optional),
    ]
    scores = P("scores", "T", "[B] total log-score p[s_end, t_end] per item")
    schemas = [
        defs.OpSchema(
            "MutualInformation", DOMAIN, OPSET_VERSION,
            "Log-space lattice recursion of pruned RNN-T (k2's "
            "mutual_information_recursion).",
            inputs=inputs, outputs=[scores], type_constraints=types,
        ),
        defs.OpSchema(
            "MutualInformationWithGrad", DOMAIN, OPSET_VERSION,
            "MutualInformation plus the gradients of sum(scores) w.r.t. px "
            "and py (arc occupation probabilities).",
            inputs=inputs,
            outputs=[
                scores,
                P("px_grad", "T", "gradient w.r.t. px, shaped like px"),
                P("py_grad", "T", "gradient w.r.t. py, shaped like py"),
            ],
            type_constraints=types,
        ),
    ]
    for schema in schemas:
        if not defs.has(schema.name, OPSET_VERSION, DOMAIN):
            defs.register_schema(schema)


def custom_translation_table() -> dict[Callable, Callable]:
    """``custom_translation_table`` for ``torch.onnx.export(..., dynamo=True)``
    mapping the rnnt ops to ``rnnt``-domain nodes (needs onnxscript)."""
    register_onnx_schemas()
    from onnxscript import values

    rnnt_opset = values.Opset(DOMAIN, OPSET_VERSION)

    def mutual_information(px, py, boundary=None):
        if boundary is None:
            return rnnt_opset.MutualInformation(px, py)
        return rnnt_opset.MutualInformation(px, py, boundary)

    def mutual_information_with_grad(px, py, boundary=None):
        if boundary is None:
            return rnnt_opset.MutualInformationWithGrad(px, py)
        return rnnt_opset.MutualInformationWithGrad(
            px, py, boundary
        )

    table = {
        torch.ops.rnnt.mutual_information.default: mutual_information,
        torch.ops.rnnt.mutual_information_with_grad.default:
            mutual_information_with_grad,
    }
    if hasattr(torch.ops.rnnt, "_checked_index"):
        from onnxscript import opset18 as op

        def checked_index(index, size, name=""):
            # Standard ONNX has no assertion: an index outside [0, size)
            # becomes _OUT_OF_RANGE, which the Gather/GatherElements/
            # ScatterElements that consume it reject at run time (a plain
            # negative index would silently wrap around instead).
            bad = op.Or(op.Less(index, 0), op.GreaterOrEqual(index, size))
            return op.Where(bad, _OUT_OF_RANGE, index)

        table[torch.ops.rnnt._checked_index.default] = checked_index
        # Pruning (get_rnnt_prune_ranges) needs cummin, which torch's ONNX
        # registry lacks.
        table[torch.ops.aten.cummin.default] = _cummin_translation
        # do_rnnt_pruning multiplies by a symbolic size (S+1), which torch's
        # aten::mul.Scalar translation only accepts as a Python number.
        table[torch.ops.aten.mul.Scalar] = _mul_scalar_translation
    if hasattr(torch.ops.rnnt, "_joiner_logprobs"):
        table[torch.ops.rnnt._joiner_logprobs.default] = _joiner_logprobs_translation
    # The exporter turns Python scalars (loss scales, the smoothed loss's
    # 1 - lm_only_scale - am_only_scale, DBL_MIN guards) into
    # aten::scalar_tensor; onnxscript's translation goes through a float32
    # constant, which would round them (0.55 -> 0.550000011920929, and
    # DBL_MIN -> 0) in float64 models.
    table[torch.ops.aten.scalar_tensor.default] = _scalar_tensor_translation
    return table


def _scalar_tensor_translation(s: float, dtype: int = -1, layout: str = "",
                               device: str = "", pin_memory: bool = False):
    """aten::scalar_tensor with the scalar converted to ``dtype`` exactly
    (torch's rounding), not through float32. The annotations make the
    exporter pass a Python scalar as is (torch 2.8's exporter turns an
    unannotated one into a float32 Constant first)."""
    import onnx_ir as ir
    from onnxscript import opset18 as op

    if dtype is None or dtype == -1:
        dtype = ir.DataType.FLOAT
    dtype = ir.DataType(dtype)
    if isinstance(s, (bool, int, float)):
        return op.Constant(value=ir.tensor(s, dtype=dtype))
    return op.Cast(s, to=dtype)


def _joiner_logprobs_translation(logits, symbol_index, termination_symbol: int, inplace_grad: bool = False):
    """rnnt::_joiner_logprobs in standard ONNX: per row of logits [..., C],
    (logits[sym] - lse, logits[blank] - lse, lse) with lse the row's
    ReduceLogSumExp (ONNX Runtime computes it in one pass as well)."""
    from onnxscript import opset18 as op

    log_norm = op.ReduceLogSumExp(logits, [-1], keepdims=0)
    symbol = op.Squeeze(op.GatherElements(logits, op.Unsqueeze(symbol_index, [-1]), axis=-1), [-1])
    blank = op.Gather(logits, termination_symbol, axis=-1)
    return op.Sub(symbol, log_norm), op.Sub(blank, log_norm), log_norm


def _mul_scalar_translation(self, other):
    """aten::mul.Scalar that also takes a symbolic (traced) scalar."""
    if isinstance(other, (bool, int, float)):
        from onnxscript.function_libs.torch_lib.ops.core import aten_mul_scalar

        return aten_mul_scalar(self, other)
    from onnxscript import opset18 as op

    return op.Mul(self, op.CastLike(other, self))


def _cummin_translation(x, dim: int):
    """aten::cummin(x, dim) -> (values, indices) in standard ONNX, as a
    masked reduction over an [n][n] (frame, earlier frame) grid: O(n^2) work
    and memory along ``dim`` (n = number of frames for the prune ranges)."""
    from onnxscript import opset18 as op

    rank = len(x.shape)
    dim = dim % rank if rank else 0
    n = op.Gather(op.Shape(x), dim, axis=0)
    idx = op.Range(0, n, 1)  # [n]
    # earlier[t, u] = u <= t, broadcast to x's dims after `dim`.
    earlier = op.LessOrEqual(op.Unsqueeze(idx, [0]), op.Unsqueeze(idx, [1]))
    trailing = list(range(2, 2 + rank - 1 - dim))
    if trailing:
        earlier = op.Unsqueeze(earlier, trailing)
    x_u = op.Unsqueeze(x, [dim])      # x[u] along axis dim + 1
    x_t = op.Unsqueeze(x, [dim + 1])  # x[t] along axis dim
    # Later frames (u > t) stand in as x[t] itself: the minimum is unchanged
    # and no dtype-specific +inf is needed.
    values = op.ReduceMin(op.Where(earlier, x_u, x_t), [dim + 1], keepdims=0)
    # Index: the last u <= t holding the minimum (torch's tie rule).
    hit = op.And(earlier, op.Equal(x_u, op.Unsqueeze(values, [dim + 1])))
    u_index = idx
    if rank - 1 - dim:
        u_index = op.Unsqueeze(idx, list(range(1, 1 + rank - 1 - dim)))
    indices = op.ReduceMax(op.Where(hit, u_index, -1), [dim + 1], keepdims=0)
    return values, indices


def export_onnx(
    model: torch.nn.Module,
    args: tuple,
    f: Optional[str | os.PathLike] = None,
    *,
    dynamo: bool = True,
    **kwargs: Any,
):
    """``torch.onnx.export`` with the rnnt ops registered for the chosen
    exporter. Other keyword arguments go to ``torch.onnx.export`` unchanged
    (e.g. ``input_names``, ``dynamic_axes`` for TorchScript, ``dynamic_shapes``
    for dynamo). Returns what ``torch.onnx.export`` returns."""
    if isinstance(model, torch.nn.Module):
        model.eval()
    if dynamo:
        table = dict(custom_translation_table())
        table.update(kwargs.pop("custom_translation_table", None) or {})
        return torch.onnx.export(
            model, args, f, dynamo=True, custom_translation_table=table,
            **kwargs,
        )
    register_torchscript_symbolics()
    opsets = {DOMAIN: OPSET_VERSION}
    opsets.update(kwargs.pop("custom_opsets", None) or {})
    # Op set 20, the TorchScript exporter's default on current torch: the
    # cummin and fused-joiner symbolics need >= 18, and torch 2.6 defaults
    # to 17.
    kwargs.setdefault("opset_version", 20)
    return torch.onnx.export(
        model, args, f, dynamo=False, custom_opsets=opsets, **kwargs
    )


# ---------------------------------------------------------------------------
# ONNX Runtime custom-op library
# ---------------------------------------------------------------------------

ORT_HEADERS_PACKAGE = "libonnxruntime-dev"
ORT_HEADERS_SUITE = "trixie"
ORT_LIBRARY_NAME = "librnnt_ort_ops.so"
_DEFAULT_MIRROR = "http://deb.debian.org/debian"
_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")


class OrtHeadersUnavailable(RuntimeError):
    """ONNX Runtime's C/C++ API headers could not be found or fetched."""


def cache_root() -> Path:
    """Root of the build caches (``RNNT_OPS_BUILD_DIR`` or
    ``~/.cache/rnnt_ops``), shared with the PyTorch op library."""
    return Path(
        os.environ.get("RNNT_OPS_BUILD_DIR")
        or Path.home() / ".cache" / "rnnt_ops"
    )


def ort_source_dir() -> Path:
    """``export/ort``: the installed package's copy (``rnnt_ops/ort_src``,
    see setup.py), or the checkout's."""
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir / "ort_src",
                      package_dir.parent / "export" / "ort"):
        if (candidate / "rnnt_ort_ops.cc").is_file():
            return candidate
    raise RuntimeError(
        f"rnnt_ops: export/ort/rnnt_ort_ops.cc not found next to "
        f"{package_dir}; reinstall the package (pip install .)"
    )


def _debian_mirror() -> str:
    """The Debian mirror of this machine's apt sources (deb.debian.org if
    none is configured)."""
    files = [Path("/etc/apt/sources.list")]
    parts = Path("/etc/apt/sources.list.d")
    if parts.is_dir():
        files += sorted(parts.iterdir())
    for path in files:
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError):
            continue
        # deb822 (URIs: ...) and one-line (deb [opts] URI suite ...) formats.
        for uri in re.findall(r"^\s*URIs:\s*(\S+)", text, re.M) + re.findall(
            r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)", text, re.M
        ):
            uri = uri.rstrip("/")
            if uri.endswith("/debian"):
                return uri
    return _DEFAULT_MIRROR


def _run(cmd: list[str], what: str) -> str:
    try:
        proc = subprocess.run(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=600,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OrtHeadersUnavailable(f"rnnt_ops: {what} failed: {exc}") from exc
    if proc.returncode != 0:
        raise OrtHeadersUnavailable(
            f"rnnt_ops: {what} failed (exit {proc.returncode}):\n"
            f"{' '.join(cmd)}\n{proc.stdout[-4000:]}"
        )
    return proc.stdout


def _fetch_headers(target: Path) -> None:
    """apt-get download Debian trixie's libonnxruntime-dev with a private apt
    configuration (nothing is installed, no system state is touched) and
    unpack its headers into target/include."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise OrtHeadersUnavailable(
            "rnnt_ops: fetching the ONNX Runtime headers needs apt-get and "
            "dpkg-deb (Debian/Ubuntu)"
        )
    work = Path(tempfile.mkdtemp(prefix="apt-", dir=target.parent))
    try:
        (work / "lists" / "partial").mkdir(parents=True)
        (work / "archives" / "partial").mkdir(parents=True)
        signed = f"[signed-by={_KEYRING}] " if _KEYRING.is_file() else ""
        sources = work / "sources.list"
        sources.write_text(
            f"deb {signed}{_debian_mirror()} {ORT_HEADERS_SUITE} main\n"
        )
        apt_opts = [
            "-q",
            "-o", f"Dir::Etc::SourceList={sources}",
            "-o", "Dir::Etc::SourceParts=/dev/null",
            "-o", f"Dir::State::Lists={work / 'lists'}",
            "-o", f"Dir::Cache={work}",
            "-o", "Debug::NoLocking=1",
            "-o", "Acquire::Retries=2",
            "-o", "Acquire::http::Timeout=30",
            "-o", "Acquire::Languages=none",
        ]
        if os.geteuid() == 0:
            # Downloads go to our private dirs, which _apt cannot write.
            apt_opts += ["-o", "APT::Sandbox::User=root"]
        update = _run(["apt-get", *apt_opts, "update"], "apt-get update")
        # apt-get update exits 0 even when nothing could be fetched.
        if not any((work / "lists").glob("*_Packages*")):
            raise OrtHeadersUnavailable(
                f"rnnt_ops: could not fetch the Debian {ORT_HEADERS_SUITE} "
                f"package index (no network?):\n{update[-4000:]}"
            )
        download = work / "download"
        download.mkdir()
        cmd = ["apt-get", *apt_opts, "download", ORT_HEADERS_PACKAGE]
        try:
            proc = subprocess.run(
                cmd, cwd=download, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True, timeout=600,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise OrtHeadersUnavailable(
                f"rnnt_ops: apt-get download failed: {exc}") from exc
        debs = sorted(download.glob("*.deb"))
        if proc.returncode != 0 or not debs:
            raise OrtHeadersUnavailable(
                f"rnnt_ops: apt-get download {ORT_HEADERS_PACKAGE} failed "
                f"(exit {proc.returncode}):\n{proc.stdout[-4000:]}"
            )
        unpacked = work / "unpacked"
        _run(["dpkg-deb", "-x", str(debs[0]), str(unpacked)], "dpkg-deb -x")
        headers = unpacked / "usr" / "include" / "onnxruntime"
        if not (headers / "onnxruntime_cxx_api.h").is_file():
            raise OrtHeadersUnavailable(
                f"rnnt_ops: {debs[0].name} has no onnxruntime_cxx_api.h")
        staged = work / "include"
        shutil.copytree(headers, staged)
        (staged / "SOURCE").write_text(debs[0].name + "\n")
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


INCLUDE_DIR_VARIABLES = ("ORT_INCLUDE_DIR", "RNNT_ORT_INCLUDE_DIR")
_HEADERS = ("onnxruntime_c_api.h", "onnxruntime_cxx_api.h")


def _what_to_do() -> str:
    """What a user without fetchable headers has to install or set."""
    return (
        "To build the rnnt ONNX Runtime custom-op library, install ONNX "
        "Runtime's C/C++ API headers and point ORT_INCLUDE_DIR at the "
        "directory holding onnxruntime_c_api.h and onnxruntime_cxx_api.h "
        "(ONNX Runtime >= 1.21), e.g.:\n"
        "  Debian/Ubuntu: apt-get install libonnxruntime-dev; "
        "export ORT_INCLUDE_DIR=/usr/include/onnxruntime\n"
        "  elsewhere: unpack an onnxruntime release archive "
        "(https://github.com/microsoft/onnxruntime/releases); "
        "export ORT_INCLUDE_DIR=<archive>/include\n"
        "(RNNT_ORT_INCLUDE_DIR is accepted as an alias.) Without it, "
        f"rnnt_ops fetches Debian {ORT_HEADERS_SUITE}'s {ORT_HEADERS_PACKAGE} "
        "with apt-get download, which needs apt-get, dpkg-deb and network "
        "access to a Debian mirror."
    )


def ort_include_dir() -> Path:
    """Directory holding ONNX Runtime's C/C++ API headers.

    ``ORT_INCLUDE_DIR`` (alias ``RNNT_ORT_INCLUDE_DIR``; the first one set
    wins) if set; otherwise Debian trixie's ``libonnxruntime-dev`` headers
    (ORT 1.21, C API version 21), fetched once into
    ``<cache root>/ort-headers``. Raises :class:`OrtHeadersUnavailable`,
    saying what to install or set, when the variable's directory lacks the
    headers or they cannot be fetched (no network, no apt)."""
    for variable in INCLUDE_DIR_VARIABLES:
        override = os.environ.get(variable)
        if not override:
            continue
        path = Path(override).expanduser()
        missing = [h for h in _HEADERS if not (path / h).is_file()]
        if missing:
            raise OrtHeadersUnavailable(
                f"rnnt_ops: {variable}={override} has no "
                f"{' or '.join(missing)}.\n{_what_to_do()}")
        return path
    root = cache_root() / "ort-headers"
    target = root / ORT_HEADERS_SUITE
    if (target / "onnxruntime_cxx_api.h").is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "fetch.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (target / "onnxruntime_cxx_api.h").is_file():
                print(
                    f"rnnt_ops: fetching the ONNX Runtime headers "
                    f"({ORT_HEADERS_PACKAGE}, Debian {ORT_HEADERS_SUITE}) "
                    f"into {target}...", file=sys.stderr, flush=True,
                )
                try:
                    _fetch_headers(target)
                except OrtHeadersUnavailable as exc:
                    raise OrtHeadersUnavailable(
                        f"{exc}\n\nORT_INCLUDE_DIR is not set and the "
                        f"headers could not be fetched.\n{_what_to_do()}"
                    ) from exc
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target


def _ort_sources() -> list[Path]:
    recursion = _build.source_root() / "ops" / "recursion"
    return [ort_source_dir() / "rnnt_ort_ops.cc", recursion / "rnnt_math.h",
            recursion / "recursion_item.h"]


def _ort_compile_command(include: Path, output: Path) -> list[str]:
    cxx = os.environ.get("CXX", "g++")
    return [
        cxx, "-std=c++17", "-O2", "-shared", "-fPIC", "-fvisibility=hidden",
        "-Wall", "-DORT_API_MANUAL_INIT",
        f"-I{include}", f"-I{_build.source_root() / 'ops' / 'recursion'}",
        str(ort_source_dir() / "rnnt_ort_ops.cc"), "-o", str(output),
    ]


def ort_library_path() -> Path:
    """Build (once) the ONNX Runtime custom-op library and return its path.

    The build is cached under ``<cache root>/ort-<hash>``, keyed by the
    sources, the ORT headers and the compile command; the first call fetches
    the headers (see :func:`ort_include_dir`) and compiles with ``$CXX``
    (default ``g++``), about 2 s."""
    include = ort_include_dir()
    digest = hashlib.sha256()
    for path in _ort_sources():
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    for name in ("onnxruntime_c_api.h", "onnxruntime_cxx_api.h",
                 "onnxruntime_cxx_inline.h"):
        if (include / name).is_file():
            digest.update((include / name).read_bytes())
    digest.update(repr(_ort_compile_command(Path("I"), Path("O"))).encode())
    directory = cache_root() / f"ort-{digest.hexdigest()[:16]}"
    library = directory / ORT_LIBRARY_NAME
    if library.is_file():
        return library
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not library.is_file():
                partial = directory / (ORT_LIBRARY_NAME + ".partial")
                cmd = _ort_compile_command(include, partial)
                proc = subprocess.run(
                    cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                    text=True,
                )
                if proc.returncode != 0:
                    raise RuntimeError(
                        "rnnt_ops: building the ONNX Runtime custom-op "
                        f"library failed:\n{' '.join(cmd)}\n{proc.stdout}"
                    )
                os.replace(partial, library)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return library


def ort_session_options(options=None):
    """``onnxruntime.SessionOptions`` (new, or the one given) with the rnnt
    custom-op library registered."""
    import onnxruntime

    if options is None:
        options = onnxruntime.SessionOptions()
    options.register_custom_ops_library(str(ort_library_path()))
    return options


__all__ = [
    "DOMAIN",
    "OPSET_VERSION",
    "OrtHeadersUnavailable",
    "custom_translation_table",
    "export_onnx",
    "ort_include_dir",
    "ort_library_path",
    "ort_session_options",
    "register_onnx_schemas",
    "register_torchscript_symbolics",
]
