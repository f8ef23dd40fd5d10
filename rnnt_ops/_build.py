"""Just-in-time build and loading of the C++/CUDA op library.

``import rnnt_ops`` calls :func:`load_library`. The first call builds the
library with ``torch.utils.cpp_extension`` (ninja) into a directory keyed by
the torch version, the backend, the compile flags and the source checkout;
later imports only ``dlopen`` the finished library. A marker file written
after a successful link records a hash of every C++/CUDA source: when the
sources change (an edit, an upgrade of the package), the next import runs
ninja again in the same directory, which recompiles only the translation
units whose sources or headers changed. ``RNNT_OPS_BUILD_DIR`` overrides the
cache root (default ``~/.cache/rnnt_ops``). A file lock serialises concurrent
builds.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import sys
import time
from pathlib import Path

import torch

from rnnt_ops import _pch

LIBRARY_NAME = "rnnt_ops_C"
_DONE_MARKER = "build.done"
_loaded_path: Path | None = None


def source_root() -> Path:
    """The ``csrc`` directory: inside the installed package, or the checkout's."""
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir / "csrc", package_dir.parent / "csrc"):
        if (candidate / "ops").is_dir() and (candidate / "cuda").is_dir():
            return candidate
    raise RuntimeError(
        f"rnnt_ops: C++ sources not found next to {package_dir}; "
        "reinstall the package (pip install .)"
    )


def _installed() -> bool:
    """Whether the sources are an installed copy (inside the package), not a checkout's."""
    return source_root().parent == Path(__file__).resolve().parent


def cuda_enabled() -> bool:
    """CUDA kernels are compiled only when torch has CUDA and nvcc is found,
    unless ``RNNT_OPS_CUDA=0`` asks for the CPU kernels alone (a CUDA build
    of torch beside a CUDA toolkit of another major version, which
    torch.utils.cpp_extension refuses to build with)."""
    from torch.utils.cpp_extension import CUDA_HOME

    if os.environ.get("RNNT_OPS_CUDA", "") == "0":
        return False
    return torch.version.cuda is not None and CUDA_HOME is not None


def with_cuda() -> bool:
    """Whether the loaded op library has CUDA kernels (as ``fast_rnnt.with_cuda()``)."""
    return torch._C._dispatch_has_kernel_for_dispatch_key("rnnt::_mutual_information_forward", "CUDA")


def cuda_arch_list() -> str | None:
    """The CUDA architectures to compile for: ``TORCH_CUDA_ARCH_LIST`` when
    set, else those of the visible GPUs (so the first build compiles one
    architecture, not every one torch supports), else, with no GPU to ask
    (a Docker image or CI build), every architecture this torch was built
    for (torch's own default fails there). None without CUDA.
    Querying the GPUs initialises CUDA in this process."""
    if not cuda_enabled():
        return None
    explicit = os.environ.get("TORCH_CUDA_ARCH_LIST")
    if explicit:
        return explicit
    if not torch.cuda.is_available():
        return torch_arch_list()
    capabilities = {
        torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())
    }
    return ";".join(f"{major}.{minor}" for major, minor in sorted(capabilities))


def torch_arch_list() -> str | None:
    """The architectures torch's CUDA kernels were compiled for, as a
    ``TORCH_CUDA_ARCH_LIST`` ("sm_90a" -> "9.0a"), read without a GPU."""
    flags = getattr(torch._C, "_cuda_getArchFlags", lambda: None)() or ""
    archs = []
    for flag in flags.split():
        match = re.fullmatch(r"sm_(\d+)(\d)([a-z]?)", flag)
        if match:
            archs.append(f"{match[1]}.{match[2]}{match[3]}")
    return ";".join(archs) or None


def _sanitize_flags() -> list[str]:
    """``RNNT_OPS_SANITIZE=1`` builds with AddressSanitizer and UBSan."""
    if os.environ.get("RNNT_OPS_SANITIZE", "") in ("", "0"):
        return []
    return ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g"]


def _cpu_vector_flags() -> list[str]:
    """Host C++ flags that make ``at::vec::Vectorized`` (the vectorised
    recursion sweeps and fused-joiner rows) use AVX2 registers on a CPU where
    torch itself runs AVX2 or AVX512 kernels; the build is per machine (keyed
    by these flags). Elsewhere at::vec runs the same code lane by lane."""
    if torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512"):
        return ["-DCPU_CAPABILITY=AVX2", "-DCPU_CAPABILITY_AVX2", "-mavx2", "-mfma", "-mf16c"]
    return []


def _compile_flags() -> tuple[list[str], list[str], list[str]]:
    sanitize = _sanitize_flags()
    # No -std flag: torch.utils.cpp_extension passes the C++ standard its
    # headers need (C++17 up to torch 2.11, C++20 from 2.13; 2.15's headers
    # require C++20), and a flag here would override it.
    # at::parallel_for is inline: without -fopenmp it runs serially.
    cflags = ["-O3", "-fopenmp"] + _cpu_vector_flags() + sanitize
    cuda_flags = ["-O3"] if cuda_enabled() else []
    return cflags, cuda_flags, ["-fopenmp"] + sanitize


def _sources(root: Path) -> tuple[list[Path], list[Path]]:
    """(files to compile, every file whose content keys the build)."""
    compiled = sorted((root / "ops").rglob("*.cpp"))
    if cuda_enabled():
        compiled += sorted((root / "cuda").rglob("*.cu"))
    headers = sorted(root.rglob("*.h")) + sorted(root.rglob("*.cuh"))
    return compiled, compiled + headers


def sources_digest() -> str:
    """A hash of every C++/CUDA source and header, and of the precompiled
    header's contents (recorded in the marker)."""
    root = source_root()
    digest = hashlib.sha256(" ".join(_pch.HEADERS).encode())
    for path in _sources(root)[1]:
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


_WHAT_TO_DO = (
    "Set RNNT_OPS_BUILD_DIR to a writable directory (the library is built "
    "there once and reused), or build it ahead of time where that is "
    "writable with `python -m rnnt_ops.build` (e.g. in a Docker image) and "
    "set RNNT_OPS_BUILD_DIR to the same directory when importing."
)


class BuildDirectoryError(RuntimeError):
    """The build directory cannot be found or written."""


def cache_root() -> Path:
    """Root of the build caches: ``RNNT_OPS_BUILD_DIR``, else
    ``~/.cache/rnnt_ops``. The op library and the ONNX Runtime custom-op
    library (rnnt_ops.export) build under it."""
    explicit = os.environ.get("RNNT_OPS_BUILD_DIR")
    if explicit:
        return Path(explicit)
    try:
        return Path.home() / ".cache" / "rnnt_ops"
    except RuntimeError as error:  # no HOME and no password-database entry
        raise BuildDirectoryError(
            f"rnnt_ops: no home directory to keep the op library in ({error}). {_WHAT_TO_DO}"
        ) from None


def build_dir() -> Path:
    """The build directory of this torch, backend, set of flags and checkout."""
    digest = hashlib.sha256()
    digest.update(torch.__version__.encode())
    digest.update(repr(_compile_flags()).encode())
    digest.update(repr(cuda_arch_list()).encode())
    digest.update(str(source_root()).encode())
    backend = f"cu{torch.version.cuda}" if cuda_enabled() else "cpu"
    name = f"torch{torch.__version__}-{backend}-{digest.hexdigest()[:16]}"
    return cache_root() / name.replace("+", "_")


def library_path() -> Path:
    """Where the built shared library is (or will be) for this torch."""
    return build_dir() / f"{LIBRARY_NAME}.so"


def _build(directory: Path) -> None:
    from torch.utils import cpp_extension

    root = source_root()
    compiled, _ = _sources(root)
    cflags, cuda_flags, ldflags = _compile_flags()
    what = "C++ and CUDA" if cuda_enabled() else "C++ (CPU)"
    print(
        f"rnnt_ops: building the {what} op library in {directory} ({len(compiled)} files, "
        f"{_parallel_jobs()} at a time). First import only: later imports load it, an "
        "upgrade or edit recompiles what changed. It takes about 3 CPU-minutes (CPU "
        "kernels): 1.5-2 min on 2 idle cores, less with more, several times longer on a "
        "busy machine; CUDA adds a few minutes. `python -m rnnt_ops.build` builds ahead "
        "of time...",
        file=sys.stderr,
        flush=True,
    )
    start = time.perf_counter()
    arch_list = cuda_arch_list()
    saved_arch_env = os.environ.get("TORCH_CUDA_ARCH_LIST")
    if arch_list is not None:
        os.environ["TORCH_CUDA_ARCH_LIST"] = arch_list
    try:
        _load(directory, compiled, cflags, cuda_flags, ldflags)
    finally:
        if saved_arch_env is None:
            os.environ.pop("TORCH_CUDA_ARCH_LIST", None)
        else:
            os.environ["TORCH_CUDA_ARCH_LIST"] = saved_arch_env
    print(
        f"rnnt_ops: built in {time.perf_counter() - start:.1f} s",
        file=sys.stderr,
        flush=True,
    )


def _parallel_jobs() -> int:
    """The compilations ninja runs at once: ``MAX_JOBS`` when set, else
    ninja's default, the CPUs this process may use plus 2."""
    explicit = os.environ.get("MAX_JOBS", "")
    if explicit.isdigit():
        return int(explicit)
    return len(os.sched_getaffinity(0)) + 2


def _load(directory, compiled, cflags, cuda_flags, ldflags) -> None:
    from torch.utils import cpp_extension

    root = source_root()
    include_paths = [str(root / "ops"), str(root)]
    cpp_sources = [str(p) for p in compiled if p.suffix == ".cpp"]
    pch_flags = _pch.precompiled_header_flags(
        directory, LIBRARY_NAME, cpp_sources, cflags, include_paths, cuda_enabled()
    )
    cpp_extension.load(
        name=LIBRARY_NAME,
        sources=[str(p) for p in compiled],
        extra_include_paths=include_paths,
        extra_cflags=cflags + pch_flags,
        extra_cuda_cflags=cuda_flags,
        extra_ldflags=ldflags,
        build_directory=str(directory),
        with_cuda=cuda_enabled(),
        is_python_module=False,
        verbose=os.environ.get("RNNT_OPS_VERBOSE", "") not in ("", "0"),
    )


def _built(marker: Path, digest: str) -> bool:
    """Whether the library in the marker's directory is built from these sources."""
    return marker.is_file() and marker.read_text().strip() == digest


def build_cli_requested() -> bool:
    """Whether this process is ``python -m rnnt_ops.build`` importing its
    package: ``sys.argv[0]`` is ``"-m"`` until runpy has found the module,
    and ``sys.orig_argv`` (Python 3.10+) names it. The package then hands
    over to the command line before building anything (``--help`` must not
    build)."""
    argv = getattr(sys, "orig_argv", None)
    if sys.argv[:1] != ["-m"] or not argv or "-m" not in argv:
        return False
    where = argv.index("-m")
    return argv[where + 1 : where + 2] == ["rnnt_ops.build"]


def load_library() -> Path:
    """Build (once) and load the op library; returns its path."""
    global _loaded_path
    if _loaded_path is not None:
        return _loaded_path
    directory = build_dir()
    path = directory / f"{LIBRARY_NAME}.so"
    marker = directory / _DONE_MARKER
    digest = sources_digest()
    if not _built(marker, digest):
        try:
            directory.mkdir(parents=True, exist_ok=True)
            lock = open(directory / "build.lock", "w")
        except OSError as error:
            raise BuildDirectoryError(
                f"rnnt_ops: the C++ op library must be built on first import, but its build "
                f"directory {directory} cannot be created or written ({error}). {_WHAT_TO_DO}"
            ) from None
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if not _built(marker, digest):
                    # torch.utils.cpp_extension's own lock file: a build
                    # killed midway leaves it behind, and the next build
                    # would wait for it forever; holding our flock, no other
                    # build runs here, so any such file is stale.
                    (directory / "lock").unlink(missing_ok=True)
                    _build(directory)
                    marker.write_text(digest + "\n")
                    if _installed():  # no edits to come: free the disk
                        _pch.remove(directory)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
    torch.ops.load_library(str(path))
    _loaded_path = path
    return path
