"""Rules the test suite keeps so that a loaded machine cannot fail it: no
test is bound by wall-clock time (a subprocess or wait with a timeout fails
on a busy machine, not on a bug)."""

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_no_test_has_a_wall_clock_limit():
    bound = []
    for path in sorted(TESTS.glob("*.py")):
        if path.name == Path(__file__).name:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\btimeout\s*=", line):
                bound.append(f"{path.name}:{number}: {line.strip()}")
    assert not bound, "tests bound by wall-clock time:\n" + "\n".join(bound)
