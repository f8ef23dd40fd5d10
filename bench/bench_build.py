"""First-build and cached-import time of the op library.

Runs ``python -c "import rnnt_ops"`` twice in fresh processes against an empty
build cache (a temporary RNNT_OPS_BUILD_DIR): the first builds, the second
must only load. Prints a Markdown table.
"""

import os
import subprocess
import sys
import tempfile
import time


def timed_import(cache: str) -> float:
    env = dict(os.environ, RNNT_OPS_BUILD_DIR=cache)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import rnnt_ops"], env=env, check=True,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    baseline_start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    torch_import = time.perf_counter() - baseline_start
    with tempfile.TemporaryDirectory() as cache:
        first = timed_import(cache)
        cached = timed_import(cache)
    print("| step | seconds | ratio to `import torch` |")
    print("|---|---|---|")
    print(f"| `import torch` (baseline) | {torch_import:.2f} | 1.00 |")
    print(f"| first `import rnnt_ops` (builds) | {first:.2f} | {first / torch_import:.2f} |")
    print(f"| cached `import rnnt_ops` | {cached:.2f} | {cached / torch_import:.2f} |")


if __name__ == "__main__":
    main()
