"""The check a freshly built op library passes before it is used: in a
subprocess, load it and make one op raise a C++ exception, which must
arrive as a Python exception. A library linked against a C++ runtime or
unwinder that differs from torch's can crash instead (the exception's
backtrace capture walks the unwind tables of every loaded object), and
then every bad input of a user would kill the process rather than raise;
such a build is refused with what to change."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import torch

# Exits 0 when a shape error of rnnt::mutual_information arrives as a
# RuntimeError, 3 when the call does not raise at all.
PROBE = """
import sys
import torch
torch.ops.load_library(sys.argv[1])
try:
    torch.ops.rnnt.mutual_information(torch.zeros(1, 1, 2), torch.zeros(2, 2, 1), None)
except RuntimeError:
    sys.exit(0)
sys.exit(3)
"""


class BuildCheckError(RuntimeError):
    """A built op library failed its exception check and is not used."""


def torch_compiler() -> str:
    """The compiler torch was built with, as torch reports it."""
    match = re.search(r"GCC (\S+)|clang (\S+)|MSVC (\S+)", torch.__config__.show())
    return match.group(0) if match else "unknown"


def check_exceptions(library: Path) -> None:
    """Raise BuildCheckError unless an op of ``library`` raising a C++
    exception gives a Python exception (checked in a subprocess)."""
    result = subprocess.run([sys.executable, "-c", PROBE, str(library)], capture_output=True,
                            text=True)
    if result.returncode == 0:
        return
    if result.returncode < 0:
        what = f"crashed with {signal.Signals(-result.returncode).name}"
    elif result.returncode == 3:
        what = "returned instead of raising"
    else:
        what = f"failed (exit status {result.returncode})"
    tail = "\n".join(result.stderr.strip().splitlines()[-5:])
    raise BuildCheckError(
        f"rnnt_ops: the op library built at {library} {what} when one of its ops raised an "
        f"error on bad input, where a Python exception was expected; it is not used. This "
        f"happens when the compiler, linker or C++ runtime (libstdc++, libgcc_s) of the build "
        f"differ from torch's ({torch_compiler()}): build with the compiler torch was built "
        f"with (set CXX, e.g. CXX=g++-<version>), make sure the libstdc++ loaded at run time "
        f"is at least as new as the compiler's, then import again. The probe's stderr:\n{tail}"
    )
