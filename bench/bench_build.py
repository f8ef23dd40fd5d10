"""First-build and cached-import time of the op library.

Runs ``python -c "import rnnt_ops"`` in fresh processes against an empty
build cache (a temporary RNNT_OPS_BUILD_DIR): the first builds, the second
must only load, and a third, from a copy of the checkout elsewhere (another
checkout of the same sources), must load the same build. Prints a Markdown
table.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed_import(cache: str, checkout: str = ROOT) -> float:
    env = dict(os.environ, RNNT_OPS_BUILD_DIR=cache, PYTHONPATH=checkout)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import rnnt_ops"], env=env, check=True, cwd=checkout,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def copy_checkout(into: str) -> str:
    """The package and its C++ sources, copied as another checkout would hold them."""
    for part in ("rnnt_ops", "csrc", "export"):
        shutil.copytree(os.path.join(ROOT, part), os.path.join(into, part),
                        ignore=shutil.ignore_patterns("__pycache__"))
    return into


def main() -> None:
    baseline_start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    torch_import = time.perf_counter() - baseline_start
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as other:
        first = timed_import(cache)
        cached = timed_import(cache)
        builds = len(os.listdir(cache))
        second_checkout = timed_import(cache, copy_checkout(other))
        assert len(os.listdir(cache)) == builds, "the second checkout built again"
    print("| step | seconds | ratio to `import torch` |")
    print("|---|---|---|")
    print(f"| `import torch` (baseline) | {torch_import:.2f} | 1.00 |")
    print(f"| first `import rnnt_ops` (builds) | {first:.2f} | {first / torch_import:.2f} |")
    print(f"| cached `import rnnt_ops` | {cached:.2f} | {cached / torch_import:.2f} |")
    print(f"| first `import rnnt_ops` of another checkout, same sources | {second_checkout:.2f} | "
          f"{second_checkout / torch_import:.2f} |")


if __name__ == "__main__":
    main()
