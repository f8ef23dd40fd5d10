"""The build cache: keyed by what determines the binary, checked before
loading (and healed), seeded from an earlier build, with a live progress
line. Most tests stub the compile step; the healing tests rebuild a copy of
this session's build, which ninja does by linking its object files."""

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from build_copies import copy_build
from rnnt_ops import _build

SNIPPET = (
    "import torch, rnnt_ops;"
    "s = rnnt_ops.mutual_information_recursion(torch.zeros(1, 2, 4), torch.zeros(1, 3, 3));"
    "print(float(s))"
)
LOG_10 = 2.302585  # SNIPPET's result: log C(5, 2)
LIBRARY = f"{_build.LIBRARY_NAME}.so"


def import_in(cache: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, RNNT_OPS_BUILD_DIR=str(cache))
    return subprocess.run([sys.executable, "-c", SNIPPET], env=env, capture_output=True, text=True)


# -- healing a damaged build: a real (relinking) build in a subprocess ------


def truncate(library: Path) -> str:
    size = library.stat().st_size
    with open(library, "r+b") as file:
        file.truncate(size // 2)
    return f"truncated ({size // 2} bytes, {size} when built)"


def empty(library: Path) -> str:
    library.write_bytes(b"")
    return "empty"


def delete(library: Path) -> str:
    library.unlink()
    return "missing"


def corrupt(library: Path) -> str:
    """One byte changed, size and mtime kept: only the hash tells."""
    stat = library.stat()
    data = bytearray(library.read_bytes())
    data[len(data) // 2] ^= 0xFF
    library.write_bytes(bytes(data))
    os.utime(library, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return "altered (its SHA-256 is not the one recorded when it was built)"


def not_a_library(library: Path) -> str:
    """Bytes the marker vouches for (as if built so) that dlopen rejects."""
    data = b"not a shared object\n"
    library.write_bytes(data)
    marker = library.parent / "build.done"
    record = json.loads(marker.read_text())
    record["library"] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    marker.write_text(json.dumps(record))
    return "not loadable ("


@pytest.mark.parametrize("damage", [truncate, empty, delete, corrupt, not_a_library])
def test_a_damaged_library_is_rebuilt_on_import(tmp_path, damage):
    """Before the marker recorded the library's size and hash, a truncated
    library killed the import with SIGBUS (dlopen maps past the end of the
    file) and a missing, empty or foreign one raised a bare OSError."""
    directory = copy_build(tmp_path)
    library = directory / LIBRARY
    what = damage(library)
    proc = import_in(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert abs(float(proc.stdout) - LOG_10) < 1e-5, proc.stdout
    first = proc.stderr.splitlines()[0]
    assert first.startswith(f"rnnt_ops: the op library in {directory} is {what}"), proc.stderr
    assert first.endswith("; rebuilding it."), proc.stderr
    record = json.loads((directory / "build.done").read_text())["library"]
    assert record == {"size": library.stat().st_size, "sha256": _build._file_sha256(library)}
    again = import_in(tmp_path)
    assert again.returncode == 0 and again.stderr == "", again.stderr


# -- the marker's check, without building ------------------------------------


def fake_build(directory: Path, digest: str, content: bytes = b"\x7fELF library") -> Path:
    directory.mkdir(parents=True)
    (directory / LIBRARY).write_bytes(content)
    _build._write_marker(directory, digest)
    return directory / LIBRARY


def test_the_marker_vouches_for_sources_size_and_hash(tmp_path):
    library = fake_build(tmp_path / "build", "digest")
    directory = library.parent
    record = json.loads((directory / "build.done").read_text())
    assert record["sources"] == "digest"
    assert record["library"] == {"size": 12, "sha256": hashlib.sha256(b"\x7fELF library").hexdigest()}
    assert _build._library_problem(directory, "digest") is None
    assert _build._library_problem(directory, "other sources") == _build._NOT_BUILT
    library.write_bytes(b"\x7fELF librarx")
    assert _build._library_problem(directory, "digest").startswith("altered (its SHA-256")
    library.write_bytes(b"\x7fELF library, relinked")
    assert _build._library_problem(directory, "digest") == "altered (22 bytes, 12 when built)"
    (directory / "build.done").write_text("digest\n")  # an older rnnt_ops's marker
    assert _build._library_problem(directory, "digest") == _build._NOT_BUILT


# -- the key: what determines the binary, not the checkout's path ------------


def test_identical_sources_share_a_build_directory_across_checkouts(tmp_path, monkeypatch):
    checkouts = []
    for name in ("a", "b"):
        shutil.copytree(_build.source_root(), tmp_path / name / "csrc")
        checkouts.append(tmp_path / name / "csrc")
    directories = []
    for root in checkouts:
        monkeypatch.setattr(_build, "source_root", lambda root=root: root)
        directories.append(_build.build_dir())
    assert directories[0] == directories[1] == _build.build_dir(_build.sources_digest())
    edited = next((checkouts[1] / "ops").rglob("*.cpp"))
    edited.write_text(edited.read_text() + "// an edit\n")
    edited_directory = _build.build_dir()
    assert edited_directory != directories[0]
    # The same torch and flags: only the sources digest, the last part, differs.
    assert edited_directory.name.rsplit("-", 1)[0] == directories[0].name.rsplit("-", 1)[0]
    monkeypatch.setenv("RNNT_OPS_SANITIZE", "1")
    assert _build.build_dir().name.rsplit("-", 1)[0] != directories[0].name.rsplit("-", 1)[0]


# -- seeding a new directory: real ninja, copying files instead of compiling -


NINJA_FILE = """\
rule compile
  command = cp $in $out
rule link
  command = cat $in > $out
build a.o: compile {src}/a.cpp
build b.o: compile {src}/b.cpp
build {library}: link a.o b.o
default {library}
"""


def ninja_build(directory: Path, src: Path, library: str = LIBRARY) -> None:
    (directory / "build.ninja").write_text(NINJA_FILE.format(src=src, library=library))
    subprocess.run(["ninja"], cwd=directory, check=True, capture_output=True)


def ninja_log_outputs(directory: Path) -> list:
    lines = (directory / ".ninja_log").read_text().splitlines()[1:]
    return [line.split("\t")[3] for line in lines]


def test_a_new_directory_starts_from_the_last_used_build_of_its_checkout(tmp_path):
    """An edit to one source gives a new build directory, seeded from the
    most recently used build of the same checkout, torch and flags: ninja
    then recompiles only the edited file."""
    src, cache = tmp_path / "src", tmp_path / "cache"
    src.mkdir()
    an_hour_ago = time.time() - 3600
    for name in ("a.cpp", "b.cpp"):
        (src / name).write_text(name)
        os.utime(src / name, (an_hour_ago, an_hour_ago))
    config = "torch9.9-cpu-0123456789ab"
    seed, older, other_flags = cache / f"{config}-seed", cache / f"{config}-older", cache / "torch9.9-cpu-ffffffffffff-x"
    for directory in (older, seed, other_flags):
        directory.mkdir(parents=True)
        ninja_build(directory, src)
        _build._write_marker(directory, "digest")
    (seed / "rnnt_pch.h.gch").write_bytes(b"precompiled")
    os.utime(older / "build.done", (an_hour_ago, an_hour_ago))  # used less recently
    foreign = cache / f"{config}-other-checkout"
    shutil.copytree(seed, foreign)
    record = json.loads((foreign / "build.done").read_text())
    (foreign / "build.done").write_text(json.dumps(dict(record, checkout="/elsewhere/csrc")))

    new = cache / f"{config}-new"
    new.mkdir()
    assert _build._seed(new) == seed
    for name in ("a.o", "b.o", ".ninja_log", ".ninja_deps", "build.ninja"):
        if (seed / name).exists():
            assert (new / name).read_bytes() == (seed / name).read_bytes()
            assert (new / name).stat().st_mtime_ns == (seed / name).stat().st_mtime_ns
            assert not (new / name).samefile(seed / name), "the compiler rewrites object files"
    assert (new / "rnnt_pch.h.gch").samefile(seed / "rnnt_pch.h.gch")
    assert not (new / LIBRARY).exists() and not (new / "build.done").exists()

    (src / "b.cpp").write_text("b, edited")
    later = time.time() + 60  # surely after b.o, whatever the clock's granularity
    os.utime(src / "b.cpp", (later, later))
    assert _build._pending_compiles(new) == 1
    ninja_build(new, src)
    assert ninja_log_outputs(new)[-2:] == ["b.o", LIBRARY]
    assert ninja_log_outputs(new).count("a.o") == 1, "a.o is the seed's, not rebuilt"
    assert (seed / "b.o").read_text() == "b.cpp", "the seed is untouched"
    os.utime(src / "b.cpp", (an_hour_ago, an_hour_ago))  # back from the future
    assert _build._pending_compiles(new) == 0
    (new / LIBRARY).unlink()
    assert _build._pending_compiles(new) == 0  # only the link


def test_without_a_build_of_the_same_checkout_nothing_is_seeded(tmp_path):
    cache = tmp_path / "cache"
    fake_build(cache / "torch9.9-cpu-0123456789ab-other", "digest")
    record = json.loads((cache / "torch9.9-cpu-0123456789ab-other" / "build.done").read_text())
    (cache / "torch9.9-cpu-0123456789ab-other" / "build.done").write_text(
        json.dumps(dict(record, torch="/another/venv/torch"))
    )
    new = cache / "torch9.9-cpu-0123456789ab-new"
    new.mkdir()
    assert _build._seed(new) is None and list(new.iterdir()) == []


# -- the progress line ---------------------------------------------------------

LINE = re.compile(
    r"rnnt_ops: compiled (\d+) of (\d+) files, \d+:\d\d elapsed(, about \d+:\d\d left|, linking)?"
)


def wait_for(condition) -> None:
    while not condition():
        time.sleep(0.01)


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_counts_files_written_since_the_start(tmp_path):
    (tmp_path / "old.o").write_bytes(b"")
    (tmp_path / "other.txt").write_bytes(b"")
    progress = _build._Progress(tmp_path, 4, stream=io.StringIO())
    assert progress.done() == 0
    (tmp_path / "new.o").write_bytes(b"")
    (tmp_path / "rnnt_pch.h.gch").write_bytes(b"")
    assert progress.done() == 2
    later = time.time_ns() + 10**9
    os.utime(tmp_path / "old.o", ns=(later, later))  # rewritten
    assert progress.done() == 3
    assert re.fullmatch(r"rnnt_ops: compiled 3 of 4 files, 0:\d\d elapsed, about \d+:\d\d left", progress.line())
    (tmp_path / "last.o").write_bytes(b"")
    assert progress.line().endswith(", linking")


def test_progress_prints_a_line_every_interval_when_not_a_terminal(tmp_path):
    stream = io.StringIO()
    with _build._Progress(tmp_path, 3, stream=stream, interval=0.01):
        for k in (1, 2, 3):
            (tmp_path / f"{k}.o").write_bytes(b"")
            wait_for(lambda: f"compiled {k} of 3 files" in stream.getvalue())
    lines = stream.getvalue().splitlines()
    counts = [int(LINE.fullmatch(line)[1]) for line in lines]
    assert counts == sorted(counts) and counts[-1] == 3, lines
    assert "\r" not in stream.getvalue()


def test_progress_rewrites_one_line_on_a_terminal(tmp_path):
    stream = Terminal()
    with _build._Progress(tmp_path, 2, stream=stream, interval=0.01):
        (tmp_path / "a.o").write_bytes(b"")
        wait_for(lambda: "compiled 1 of 2 files" in stream.getvalue())
    text = stream.getvalue()
    assert text.startswith("\r") and text.endswith("\n") and text.count("\n") == 1, repr(text)
    for update in text[1:-1].split("\r"):
        assert LINE.fullmatch(update.rstrip(" ")), repr(update)


def test_the_build_shows_progress_while_it_compiles(tmp_path, monkeypatch, capsys):
    """_build with the compile step stubbed: the stub writes the object
    files one by one, each once the previous one's line has been printed."""
    from torch.utils import cpp_extension

    compiled, _ = _build._sources(_build.source_root())
    monkeypatch.setattr(_build, "_PROGRESS_INTERVAL", 0.01)
    monkeypatch.setattr(_build._pch, "precompiled_header_flags", lambda *args: [])
    monkeypatch.delenv("RNNT_OPS_VERBOSE", raising=False)
    printed = []

    def compile_one_by_one(name, sources, build_directory, **kwargs):
        assert len(sources) == len(compiled)
        for k, source in enumerate(sources, 1):
            (Path(build_directory) / (Path(source).stem + ".o")).write_bytes(b"")
            line = f"compiled {k} of {len(sources)} files"
            wait_for(lambda: printed.append(capsys.readouterr().err) or line in "".join(printed))
        (Path(build_directory) / LIBRARY).write_bytes(b"")

    monkeypatch.setattr(cpp_extension, "load", compile_one_by_one)
    _build._build(tmp_path)
    printed.append(capsys.readouterr().err)
    lines = "".join(printed).splitlines()
    assert lines[0].startswith("rnnt_ops: building the C++") and str(tmp_path) in lines[0]
    assert re.fullmatch(r"rnnt_ops: built in \d+\.\d s", lines[-1]), lines
    counts = [int(LINE.fullmatch(line)[1]) for line in lines[1:-1]]
    assert counts == sorted(counts) and counts[-1] == len(compiled), lines
