"""A freshly built library is used only once a C++ exception from one of its
ops has arrived as a Python exception in a subprocess (rnnt_ops/_build_probe.py)."""

import re

import pytest

import rnnt_ops
from rnnt_ops import _build, _build_probe


def test_the_loaded_library_passes_the_exception_probe():
    _build_probe.check_exceptions(rnnt_ops.library_path())


@pytest.mark.parametrize("probe, says", [
    ("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", "crashed with SIGSEGV"),
    ("import sys; sys.exit(3)", "returned instead of raising"),
    ("raise SystemExit(7)", "failed (exit status 7)"),
])
def test_a_failing_probe_refuses_the_library_saying_what_to_change(monkeypatch, probe, says):
    monkeypatch.setattr(_build_probe, "PROBE", probe)
    with pytest.raises(_build_probe.BuildCheckError, match=rf"{re.escape(says)}.*set CXX"):
        _build_probe.check_exceptions(rnnt_ops.library_path())


def test_a_refused_build_leaves_no_completion_marker(monkeypatch, tmp_path):
    """_build_locked writes the marker only after the probe passes, so the
    next import builds (and checks) again instead of loading the library."""
    directory = tmp_path / "build"

    def build(directory, seed):
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{_build.LIBRARY_NAME}.so").write_bytes(b"\x7fELF not a library")

    def refuse(library):
        raise _build_probe.BuildCheckError("refused")

    monkeypatch.setattr(_build, "_build", build)
    monkeypatch.setattr(_build_probe, "check_exceptions", refuse)
    with pytest.raises(_build_probe.BuildCheckError):
        _build._build_locked(directory, "digest", None)
    assert not (directory / _build._DONE_MARKER).exists()
