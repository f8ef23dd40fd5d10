"""Just-in-time build and loading of the C++/CUDA op library.

``import rnnt_ops`` calls :func:`load_library`. The first call builds the
library with ``torch.utils.cpp_extension`` (ninja) into a directory keyed by
what determines the binary: the torch version, the backend, the compile
flags, the CUDA architectures and a digest of the sources' contents (not
the checkout's path), so checkouts and virtual environments with the same
sources and torch share one build. Later imports load the finished library
after checking it against the completion marker (``build.done``), which
records the sources digest and the size and SHA-256 of the library file; a
missing, truncated or altered library, or one that fails to load, is
rebuilt. A new directory (after an edit or an upgrade) starts from a copy of
the object files and ninja state of the most recently used build of the same
checkout, torch and flags, so ninja recompiles only the translation units
whose sources changed. ``RNNT_OPS_BUILD_DIR`` overrides the cache root
(default ``~/.cache/rnnt_ops``). A file lock serialises concurrent builds.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch

from rnnt_ops import _build_probe, _pch

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
    # A sanitized build is for finding bad accesses, not speed: -O1 (the
    # sanitizers' recommendation) compiles in a fraction of -O3's time.
    optimize = "-O1" if sanitize else "-O3"
    cflags = [optimize, "-fopenmp"] + _cpu_vector_flags() + sanitize
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


def _config_name() -> str:
    """The part of a build directory's name that the toolchain and settings
    determine: ``torch<version>-<backend>-<digest of the flags, the CUDA
    architectures, the compiler and torch's C++ ABI>``. Build directories
    that share it differ only in their sources, so one can seed another."""
    digest = hashlib.sha256()
    for part in (
        torch.__version__,
        repr(_compile_flags()),
        repr(cuda_arch_list()),
        os.environ.get("CXX", ""),  # unset: cpp_extension's default, c++
        str(torch._C._GLIBCXX_USE_CXX11_ABI),
    ):
        digest.update(part.encode() + b"\0")
    backend = f"cu{torch.version.cuda}" if cuda_enabled() else "cpu"
    return f"torch{torch.__version__}-{backend}-{digest.hexdigest()[:12]}".replace("+", "_")


def build_dir(digest: str | None = None) -> Path:
    """The build directory of this torch, backend and set of flags and of
    these sources (``digest``, :func:`sources_digest` when not given). The
    checkout's path is no part of it: checkouts and environments with the
    same sources and torch share one build (whose error messages name the
    source files of the checkout that built it)."""
    return cache_root() / f"{_config_name()}-{(digest or sources_digest())[:16]}"


def library_path() -> Path:
    """Where the built shared library is (or will be) for this torch."""
    return build_dir() / f"{LIBRARY_NAME}.so"


def _library_context() -> dict[str, str]:
    """What ninja's compile commands contain besides what keys the build
    directory: the paths of the sources and of torch's headers. A directory
    seeds another only where these match; elsewhere every command differs
    and ninja would recompile everything anyway."""
    return {"checkout": str(source_root()), "torch": str(Path(torch.__file__).resolve().parent)}


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_marker(directory: Path) -> dict | None:
    """The completion marker's record, or None where there is none or it is
    unreadable (a build that never finished, or one by an older rnnt_ops)."""
    try:
        record = json.loads((directory / _DONE_MARKER).read_text())
    except (OSError, ValueError):
        return None
    library = record.get("library") if isinstance(record, dict) else None
    if not (
        isinstance(library, dict)
        and isinstance(library.get("size"), int)
        and isinstance(library.get("sha256"), str)
    ):
        return None
    return record


def _write_marker(directory: Path, digest: str) -> None:
    """Vouch for the library just built: the sources digest, the library's
    size and SHA-256, and its context (for seeding). Written whole or not at
    all (a rename), so a reader never sees half a marker."""
    library = directory / f"{LIBRARY_NAME}.so"
    record = {
        "sources": digest,
        "library": {"size": library.stat().st_size, "sha256": _file_sha256(library)},
        **_library_context(),
    }
    partial = directory / (_DONE_MARKER + ".partial")
    partial.write_text(json.dumps(record, indent=1) + "\n")
    partial.replace(directory / _DONE_MARKER)


_NOT_BUILT = "not built"


def _library_problem(directory: Path, digest: str) -> str | None:
    """None when the completion marker vouches for the library in
    ``directory``: built from these sources, with the size and SHA-256 the
    build recorded. Otherwise what is wrong, for the message (``_NOT_BUILT``
    when no build of these sources finished there). Nothing here maps the
    library: a truncated one would kill the process with SIGBUS in dlopen.

    The library is hashed on every import, not trusted on its size and
    modification time: SHA-256 runs at about 1 GB/s (2 ms for the 2 MB CPU
    library, measured with the marker's check; about 10 ms for a 10 MB CUDA
    one), under 1% of ``import rnnt_ops`` (1.1 s, most of it importing
    torch), while a size and mtime fast path would miss a same-size
    corruption and would hash anyway wherever a copy (``cp -r``, a Docker
    layer) changed the mtimes."""
    record = _read_marker(directory)
    if record is None or record.get("sources") != digest:
        return _NOT_BUILT
    expected = record["library"]
    path = directory / f"{LIBRARY_NAME}.so"
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return "missing"
    if size == 0:
        return "empty"
    if size != expected["size"]:
        what = "truncated" if size < expected["size"] else "altered"
        return f"{what} ({size} bytes, {expected['size']} when built)"
    if _file_sha256(path) != expected["sha256"]:
        return "altered (its SHA-256 is not the one recorded when it was built)"
    return None


# Files of a build directory that a seeded one does not take: the library
# (ninja links it anew from the objects), the marker vouching for it, and
# the locks.
_NOT_SEEDED = frozenset({f"{LIBRARY_NAME}.so", _DONE_MARKER, "build.lock", "lock"})


def _seed(directory: Path) -> Path | None:
    """Fill a new build directory with the object files and ninja state
    (``build.ninja``, ``.ninja_log``, ``.ninja_deps``, the precompiled
    header) of the most recently used finished build of the same checkout,
    torch and flags: a sibling whose name differs only in the sources
    digest. The copies keep their modification times and ninja's log its
    command hashes, so ninja recompiles only the translation units whose
    sources or headers changed. Returns the seed, or None without one."""
    config = directory.name.rsplit("-", 1)[0] + "-"
    context = _library_context()
    candidates = []
    for sibling in directory.parent.iterdir():
        record = _read_marker(sibling) if sibling.name.startswith(config) else None
        if sibling != directory and record and all(record.get(k) == v for k, v in context.items()):
            try:  # load_library touches the marker: its mtime is the last use
                candidates.append(((sibling / _DONE_MARKER).stat().st_mtime_ns, sibling.name))
            except OSError:
                continue
    if not candidates:
        return None
    seed = directory.parent / max(candidates)[1]
    for entry in seed.iterdir():
        if entry.name in _NOT_SEEDED or entry.name.endswith(".partial") or not entry.is_file():
            continue
        target = directory / entry.name
        if entry.name.endswith(".gch"):
            # Hundreds of MB, only read by the compiler, and replaced (a
            # rename), never rewritten, by _pch: a hard link will do. Object
            # files are copies: the compiler rewrites them in place.
            try:
                os.link(entry, target)
                continue
            except OSError:
                pass
        # Copied under another name and renamed: a copy cut short (the seed
        # being rebuilt, a full disk) must not leave a partial object file
        # newer than its sources, which ninja would take for up to date.
        partial = directory / (entry.name + ".partial")
        try:
            shutil.copy2(entry, partial)
            partial.replace(target)
        except OSError:  # that file is just built again
            partial.unlink(missing_ok=True)
    return seed


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds + 0.5), 60)
    return f"{minutes}:{seconds:02d}"


# Seconds between progress lines: rewritten in place on a terminal, one
# line each in a log.
_PROGRESS_INTERVAL_TTY = 0.5
_PROGRESS_INTERVAL = 10.0


class _Progress:
    """The build's progress on stderr while it runs: files compiled of those
    to compile, the time elapsed, and an estimate of the time left.
    torch.utils.cpp_extension runs ninja with its output captured until the
    build ends, so this thread counts the files ninja's compilations (and
    the precompiled header's) write into the build directory: object files
    and ``.gch`` files that appear or are rewritten. On a terminal the line
    is rewritten in place; elsewhere (a log, CI) a line is printed each
    ``interval`` seconds."""

    def __init__(self, directory: Path, total: int, stream=None, interval: float | None = None):
        self.directory = directory
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        if interval is None:
            interval = _PROGRESS_INTERVAL_TTY if self.tty else _PROGRESS_INTERVAL
        self.interval = interval
        self._start = time.monotonic()
        self._before = self._outputs()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rnnt_ops build progress", daemon=True)
        self._width = 0

    def _outputs(self) -> dict[str, int]:
        outputs = {}
        try:
            with os.scandir(self.directory) as entries:
                for entry in entries:
                    if entry.name.endswith((".o", ".gch")):
                        outputs[entry.name] = entry.stat().st_mtime_ns
        except OSError:  # a file removed while listed: counted next time
            pass
        return outputs

    def done(self) -> int:
        """Files written since the build started."""
        return sum(self._before.get(name) != mtime for name, mtime in self._outputs().items())

    def line(self) -> str:
        done, elapsed = self.done(), time.monotonic() - self._start
        total = max(self.total, done)
        text = f"rnnt_ops: compiled {done} of {total} files, {_clock(elapsed)} elapsed"
        if done == total:
            return text + ", linking"
        if done:  # the rest at the pace so far
            text += f", about {_clock(elapsed / done * (total - done))} left"
        return text

    def _show(self) -> None:
        text = self.line()
        if self.tty:
            self.stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._show()

    def __enter__(self) -> "_Progress":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()
        if self.tty and self._width:  # leave the final count, and the cursor on a new line
            self._show()
            self.stream.write("\n")
            self.stream.flush()


def _pending_compiles(directory: Path) -> int | None:
    """How many files ninja will compile in ``directory``, by a dry run of
    the ninja file of its last build (a seeded or damaged directory), or
    None without one. Every command but the link compiles a file."""
    if not (directory / "build.ninja").is_file():
        return None
    try:
        dry_run = subprocess.run(
            ["ninja", "-n"], cwd=directory, capture_output=True, text=True,
            env=dict(os.environ, NINJA_STATUS="[%t] "),
        )
    except OSError:
        return None
    if dry_run.returncode != 0:
        return None
    match = re.match(r"\[(\d+)\] ", dry_run.stdout)
    return max(int(match[1]) - 1, 0) if match else 0


def _build(directory: Path, seed: Path | None = None) -> None:
    root = source_root()
    compiled, _ = _sources(root)
    cflags, cuda_flags, ldflags = _compile_flags()
    what = "C++ and CUDA" if cuda_enabled() else "C++ (CPU)"
    if seed is None:
        intro = (
            f"building the {what} op library in {directory} ({len(compiled)} files, "
            f"{_parallel_jobs()} at a time). First import only: later imports load it, an "
            "upgrade or edit recompiles what changed. It takes about 3 CPU-minutes (CPU "
            "kernels): 1.5-2 min on 2 idle cores, less with more, several times longer on a "
            "busy machine; CUDA adds a few minutes. `python -m rnnt_ops.build` builds ahead "
            "of time..."
        )
    else:
        intro = (
            f"building the {what} op library for changed sources in {directory}, starting "
            f"from the object files of {seed.name}: only what changed is recompiled..."
        )
    print(f"rnnt_ops: {intro}", file=sys.stderr, flush=True)
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
    verbose = os.environ.get("RNNT_OPS_VERBOSE", "") not in ("", "0")
    # Until the precompiled header is made, a guess: it is made unless
    # disabled or already there.
    header_to_make = os.environ.get("RNNT_OPS_PCH", "") != "0" and not (
        directory / (_pch.HEADER_NAME + ".gch")
    ).is_file()
    progress = _Progress(directory, len(compiled) + header_to_make)
    # Verbose, ninja prints its own progress with the compiler commands.
    with contextlib.nullcontext() if verbose else progress:
        pch_flags = _pch.precompiled_header_flags(
            directory, LIBRARY_NAME, cpp_sources, cflags, include_paths, cuda_enabled()
        )
        pending = _pending_compiles(directory)
        progress.total = progress.done() + (len(compiled) if pending is None else pending)
        try:
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
                verbose=verbose,
            )
        except OSError as error:
            # cpp_extension loads the library once linked (the build removed
            # any earlier one): with the library there, that load failed.
            if not (directory / f"{LIBRARY_NAME}.so").is_file():
                raise
            raise _load_error(directory, error) from error


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


class LibraryLoadError(RuntimeError):
    """The op library, built afresh, does not load."""


def _load_error(directory: Path, error: OSError) -> LibraryLoadError:
    return LibraryLoadError(
        f"rnnt_ops: the op library just built in {directory} does not load ({error}). "
        f"Check that torch {torch.__version__} and the C++ compiler are installed "
        f"consistently, or delete {directory} to build it from scratch."
    )


def _recorded_sha256(directory: Path) -> str | None:
    record = _read_marker(directory)
    return record["library"]["sha256"] if record else None


def _build_locked(directory: Path, digest: str, unloadable: str | None) -> None:
    """Build the library in ``directory`` unless, once this process holds
    the directory's lock, another process has built it meanwhile.
    ``unloadable``: the SHA-256 of a library that passed the marker's check
    but failed to load, which is rebuilt even so."""
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
            if _library_problem(directory, digest) is None and (
                unloadable is None or _recorded_sha256(directory) != unloadable
            ):
                return
            # No marker while the library is rebuilt: a build killed midway
            # must not leave one vouching for a partial library. The library
            # is removed, not overwritten: another process may have it
            # mapped, and ninja would not relink a damaged file newer than
            # its object files.
            (directory / _DONE_MARKER).unlink(missing_ok=True)
            (directory / f"{LIBRARY_NAME}.so").unlink(missing_ok=True)
            # torch.utils.cpp_extension's own lock file: a build killed
            # midway leaves it behind, and the next build would wait for it
            # forever; holding our flock, no other build runs here, so any
            # such file is stale.
            (directory / "lock").unlink(missing_ok=True)
            seed = None if (directory / "build.ninja").exists() else _seed(directory)
            _build(directory, seed)
            # Refused (no marker, so the next import builds again) if a C++
            # exception from it would crash the process.
            _build_probe.check_exceptions(directory / f"{LIBRARY_NAME}.so")
            _write_marker(directory, digest)
            if _installed():  # no edits to come: free the disk
                _pch.remove(directory)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def load_library() -> Path:
    """Build (once) and load the op library; returns its path. A library
    that the completion marker does not vouch for (missing, empty, truncated
    or altered since its build) or that fails to load is rebuilt, with a line
    on stderr saying why."""
    global _loaded_path
    if _loaded_path is not None:
        return _loaded_path
    digest = sources_digest()
    directory = build_dir(digest)
    path = directory / f"{LIBRARY_NAME}.so"
    problem = _library_problem(directory, digest)
    unloadable = None
    if problem is None:
        try:
            torch.ops.load_library(str(path))
        except OSError as error:
            problem = f"not loadable ({error})"
            unloadable = _recorded_sha256(directory)
    if problem is not None:
        if problem != _NOT_BUILT:
            print(
                f"rnnt_ops: the op library in {directory} is {problem}; rebuilding it.",
                file=sys.stderr,
                flush=True,
            )
        _build_locked(directory, digest, unloadable)
        try:
            torch.ops.load_library(str(path))
        except OSError as error:
            raise _load_error(directory, error) from error
    try:  # the last use, which picks the seed of a new build directory
        os.utime(directory / _DONE_MARKER)
    except OSError:  # a read-only cache (e.g. prebuilt in a Docker image)
        pass
    _loaded_path = path
    return path
