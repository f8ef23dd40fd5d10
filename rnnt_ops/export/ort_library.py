"""The ONNX Runtime custom-op library of the ``rnnt`` domain
(``export/ort/*.cc``, entry point ``rnnt_ort_ops.cc``), built once with the system C++ compiler
and cached."""

import fcntl
import hashlib
import os
import subprocess
from pathlib import Path

from rnnt_ops import _build
from rnnt_ops._build import cache_root
from rnnt_ops.export.ort_headers import ort_include_dir

ORT_LIBRARY_NAME = "librnnt_ort_ops.so"


def ort_source_dir() -> Path:
    """``export/ort``: the installed package's copy (``rnnt_ops/ort_src``,
    see setup.py), or the checkout's."""
    package_dir = Path(__file__).resolve().parent.parent
    for candidate in (package_dir / "ort_src",
                      package_dir.parent / "export" / "ort"):
        if (candidate / "rnnt_ort_ops.cc").is_file():
            return candidate
    raise RuntimeError(
        f"rnnt_ops: export/ort/rnnt_ort_ops.cc not found next to "
        f"{package_dir}; reinstall the package (pip install .)"
    )



# The ORT library's own files (export/ort/*.cc, *.h) also include these
# math headers of csrc/ops, shared with the PyTorch kernels.
_SHARED_HEADERS = ("recursion/rnnt_math.h", "recursion/recursion_item.h",
                   "joiner/joiner_math.h", "tdt/duration_lattice_math.h")


def _ort_own_sources() -> list[Path]:
    directory = ort_source_dir()
    return sorted([*directory.glob("*.cc"), *directory.glob("*.h")])


def _ort_sources() -> list[Path]:
    ops = _build.source_root() / "ops"
    return _ort_own_sources() + [ops / name for name in _SHARED_HEADERS]


def _ort_compile_command(include: Path, output: Path) -> list[str]:
    cxx = os.environ.get("CXX", "g++")
    sources = [str(p) for p in _ort_own_sources() if p.suffix == ".cc"]
    return [
        cxx, "-std=c++17", "-O2", "-shared", "-fPIC", "-fvisibility=hidden",
        "-Wall", "-DORT_API_MANUAL_INIT",
        f"-I{include}", f"-I{_build.source_root() / 'ops'}",
        *sources, "-o", str(output),
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

