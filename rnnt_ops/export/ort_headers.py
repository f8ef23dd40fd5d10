"""ONNX Runtime's C/C++ API headers, which the custom-op library compiles
against: from ``ORT_INCLUDE_DIR``, else fetched once from Debian's
``libonnxruntime-dev`` package with a private ``apt-get download``."""

import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from rnnt_ops._build import cache_root

ORT_HEADERS_PACKAGE = "libonnxruntime-dev"
ORT_HEADERS_SUITE = "trixie"
_DEFAULT_MIRROR = "http://deb.debian.org/debian"
_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")


class OrtHeadersUnavailable(RuntimeError):
    """ONNX Runtime's C/C++ API headers could not be found or fetched."""



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

