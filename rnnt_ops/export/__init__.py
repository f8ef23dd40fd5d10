"""ONNX export of the rnnt ops, and the matching ONNX Runtime custom-op library.

The lattice recursions export as nodes of the custom ONNX domain ``rnnt``
(op set version 1)::

    rnnt::mutual_information(px, py, boundary?)           -> MutualInformation
    rnnt::mutual_information_with_grad(px, py, boundary?) -> MutualInformationWithGrad
    rnnt::_duration_lattice (TDT, multi-blank losses)     -> DurationLattice

Everything else in a model (log-softmax, gathers, ...) exports as standard
ONNX. Both PyTorch exporters are supported:

* TorchScript (``torch.onnx.export(..., dynamo=False)``): call
  :func:`register_torchscript_symbolics` once, export with
  ``custom_opsets={"rnnt": 1}``.
* dynamo (``torch.onnx.export(..., dynamo=True)``, needs ``onnxscript``):
  pass ``custom_translation_table=custom_translation_table()``.

:func:`export_onnx` does either. To run an exported model, ONNX Runtime needs
the custom-op library: :func:`ort_library_path` builds it (once, cached) from
``export/ort/*.cc`` with the system C++ compiler against ONNX
Runtime's C/C++ API headers, which are fetched on demand from Debian's
``libonnxruntime-dev`` package (:func:`ort_include_dir`);
:func:`ort_session_options` returns ``SessionOptions`` with it registered.
"""

from __future__ import annotations

import os
from typing import Any, Optional

import torch

from rnnt_ops.export.domain import DOMAIN, OPSET_VERSION
from rnnt_ops.export.dynamo import custom_translation_table, register_onnx_schemas
from rnnt_ops.export.ort_headers import OrtHeadersUnavailable, ort_include_dir
from rnnt_ops.export.ort_library import ort_library_path, ort_session_options
from rnnt_ops.export.torchscript import register_torchscript_symbolics


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

