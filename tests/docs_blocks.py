"""The fenced code blocks of the user documentation (README.md, docs/*.md,
examples/*/README.md), and how test_docs.py runs each.

A block is run as its language allows (Python executed, C++ compiled and
called, shell syntax-checked), unless an HTML comment on the line before
its fence says otherwise:

- ``<!-- test: run -->``: a shell block cheap enough to run (from the
  repository root, with the test session's Python first on PATH);
- ``<!-- test: standins NAME -->``: a Python or C++ block that uses names
  it does not define (a model, a batch); the stand-in set NAME of
  docs_standins.py (Python) or test_docs.CPP_STANDINS (C++) defines them;
- ``<!-- test: cuda -->``: a Python block that needs a GPU: compiled
  everywhere, run where CUDA is available;
- ``<!-- test: skip REASON -->``: not run (an install, a long training),
  with the reason.

Python blocks of one file run in order in one namespace, as a reader who
pastes them one after the other would run them.
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = ["README.md"] + sorted(
    str(p.relative_to(ROOT)) for p in list((ROOT / "docs").glob("*.md"))
    + list((ROOT / "examples").glob("*/README.md")))

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
_MARKER = re.compile(r"<!--\s*test:\s*(\w+)\s*(.*?)\s*-->\s*$")


@dataclass
class Block:
    document: str
    line: int  # of the opening fence
    language: str
    source: str
    mode: str  # "default", "run", "standins", "cuda", "skip"
    argument: str  # the stand-in set, or the reason for a skip

    @property
    def id(self) -> str:
        return f"{self.document}:{self.line}"


def _marker(text: str, fence_start: int) -> Optional[re.Match]:
    before = text[:fence_start].rstrip("\n").rsplit("\n", 1)[-1]
    return _MARKER.search(before)


def blocks(document: str) -> List[Block]:
    text = (ROOT / document).read_text()
    found = []
    for match in _FENCE.finditer(text):
        marker = _marker(text, match.start())
        found.append(Block(
            document=document,
            line=text[: match.start()].count("\n") + 1,
            language=match.group(1) or "text",
            source=match.group(2),
            mode=marker.group(1) if marker else "default",
            argument=marker.group(2) if marker else "",
        ))
    return found


def all_blocks() -> List[Block]:
    return [b for d in DOCUMENTS for b in blocks(d)]
