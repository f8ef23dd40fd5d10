"""Copies of this session's op library build, for tests of the build cache
that must not compile from scratch (a full build is minutes of CPU)."""

import os
import shutil
from pathlib import Path

import rnnt_ops


def _copy_or_link(source: str, target: str) -> None:
    # The precompiled header (hundreds of MB) is only read: a hard link;
    # the rest are copies with their mtimes, which ninja compares.
    if source.endswith(".gch"):
        try:
            os.link(source, target)
            return
        except OSError:
            pass
    shutil.copy2(source, target)


def copy_build(cache: Path) -> Path:
    """Copy the build directory that this session's ``import rnnt_ops``
    loaded into the cache root ``cache``, under the same name: a process
    importing rnnt_ops with ``RNNT_OPS_BUILD_DIR=cache`` (same sources,
    torch and settings) finds it there. Returns the copy."""
    built = rnnt_ops.library_path().parent
    copy = cache / built.name
    shutil.copytree(
        built, copy, copy_function=_copy_or_link,
        ignore=shutil.ignore_patterns("build.lock", "lock", "*.partial"),
    )
    return copy
