"""A GCC precompiled header of the torch headers that the op library's C++
files include. Parsing them is most of each file's compile time (GCC's
``-ftime-report`` on losses.cpp: 21 of 27 CPU seconds in parsing), so the
build parses them once into ``rnnt_pch.h.gch`` and every file starts from
it (``-include rnnt_pch.h``): about a third of the CPU time for the whole
first build. The header must be compiled with exactly the flags ninja will
use, which are read from the ninja file torch.utils.cpp_extension's own
writer makes. GCC ignores a precompiled header that does not match and
parses the headers as before, and any failure here (another compiler, a
torch whose writer differs) just builds without one.
"""

from __future__ import annotations

import inspect
import os
import shlex
import subprocess
from pathlib import Path

HEADERS = (
    "torch/library.h",
    "torch/autograd.h",
    "ATen/ATen.h",
    "ATen/Parallel.h",
    "ATen/Dispatch.h",
)
HEADER_NAME = "rnnt_pch.h"


def _compiler() -> str:
    return os.environ.get("CXX", "c++")


def _is_gcc(compiler: str) -> bool:
    try:
        version = subprocess.run(
            [compiler, "--version"], capture_output=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "Free Software Foundation" in version and "clang" not in version


def ninja_cflags(
    directory: Path, name: str, sources: list[str], cflags: list[str], include_paths: list[str],
    with_cuda: bool,
) -> list[str] | None:
    """The C++ flags ninja will compile ``sources`` with, from the ninja file
    that cpp_extension's writer makes for them (into a scratch file), or
    None if that writer is not the one this code knows."""
    from torch.utils import cpp_extension

    writer = getattr(cpp_extension, "_write_ninja_file_to_build_library", None)
    if writer is None:
        return None
    scratch = directory / "pch_flags.ninja"
    known = {
        "path": str(scratch), "name": name, "sources": sources, "extra_cflags": cflags,
        "extra_cuda_cflags": [], "extra_sycl_cflags": [], "extra_ldflags": [],
        "extra_include_paths": include_paths, "with_cuda": with_cuda, "with_sycl": False,
        "is_standalone": False,
    }
    parameters = inspect.signature(writer).parameters
    if any(p not in known for p in parameters):
        return None
    try:
        writer(**{p: known[p] for p in parameters})
        lines = scratch.read_text().splitlines()
    except Exception:  # a private API: any change means no precompiled header
        return None
    finally:
        scratch.unlink(missing_ok=True)
    for line in lines:
        if line.startswith("cflags = "):
            return shlex.split(line[len("cflags = "):])
    return None


def precompiled_header_flags(
    directory: Path, name: str, sources: list[str], cflags: list[str], include_paths: list[str],
    with_cuda: bool,
) -> list[str]:
    """Make ``directory/rnnt_pch.h.gch`` (unless there already) and return
    the flags that use it, or [] when it cannot be made."""
    if os.environ.get("RNNT_OPS_PCH", "") == "0" or not _is_gcc(_compiler()):
        return []
    header = directory / HEADER_NAME
    compiled = directory / (HEADER_NAME + ".gch")
    text = "".join(f"#include <{h}>\n" for h in HEADERS)
    # Rewritten only when it changes: every object file depends on it.
    if not header.is_file() or header.read_text() != text:
        header.write_text(text)
        compiled.unlink(missing_ok=True)
    if not compiled.is_file():
        flags = ninja_cflags(directory, name, sources, cflags, include_paths, with_cuda)
        if flags is None:
            return []
        partial = compiled.with_suffix(".gch.partial")
        result = subprocess.run(
            [_compiler(), *flags, "-x", "c++-header", str(header), "-o", str(partial)],
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            partial.unlink(missing_ok=True)
            return []
        partial.replace(compiled)
    # Named relative to the build directory, where ninja runs the compiler:
    # the compile commands then do not depend on the directory's path, so
    # the object files of a copied build directory stay up to date for
    # ninja (see _build._seed).
    return ["-include", HEADER_NAME]


def remove(directory: Path) -> None:
    """Delete the precompiled header (hundreds of MB) once the build is done."""
    (directory / (HEADER_NAME + ".gch")).unlink(missing_ok=True)
