"""``python -m rnnt_ops.build``: build the op library now (e.g. in a Docker
image, or before a read-only deployment) and print the path of the shared
library, for C++ users. ``--help`` lists the options and how to prebuild for
an image or a cluster."""

import argparse
import os
import sys
from typing import List, Optional

from rnnt_ops._build import cuda_enabled, library_path, load_library


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m rnnt_ops.build",
        description=(
            "Build the rnnt_ops C++/CUDA op library (what the first `import rnnt_ops` "
            "does) and print the path of the shared library. The build directory is "
            "$RNNT_OPS_BUILD_DIR, else ~/.cache/rnnt_ops; a later import with the same "
            "torch, settings and sources loads it without building, from any checkout "
            "or environment (the build is keyed by those, not by paths)."
        ),
        epilog=(
            "To prebuild for a Docker image or a cluster, build where every user can\n"
            "read, with the settings they will import with; e.g. in a Dockerfile:\n"
            "\n"
            "  ENV RNNT_OPS_BUILD_DIR=/opt/rnnt_ops TORCH_CUDA_ARCH_LIST=\"8.0;9.0\"\n"
            "  RUN python -m rnnt_ops.build --cuda\n"
            "\n"
            "Every import with the same sources, torch and settings then loads that\n"
            "build. Set TORCH_CUDA_ARCH_LIST for the build and the imports alike: by\n"
            "default a build with no GPU visible (docker build) compiles for every\n"
            "architecture torch has, an import on a GPU machine for its GPUs, and the\n"
            "import would build again. To clear old builds, delete the torch* directories\n"
            "under the cache root: imports rebuild what they need.\n"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cuda = parser.add_mutually_exclusive_group()
    cuda.add_argument(
        "--cuda", dest="cuda", action="store_const", const=True, default=None,
        help="require the CUDA kernels (an error if torch has no CUDA or nvcc is not "
        "found); the default builds them when both are there",
    )
    cuda.add_argument(
        "--no-cuda", dest="cuda", action="store_const", const=False,
        help="CPU kernels only, as RNNT_OPS_CUDA=0 (import with RNNT_OPS_CUDA=0 too "
        "to load this build)",
    )
    parser.add_argument(
        "--print-path", action="store_true",
        help="print where the library is or would be, without building",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="show the compiler commands (RNNT_OPS_VERBOSE=1)"
    )
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.cuda is False:
        os.environ["RNNT_OPS_CUDA"] = "0"
    elif args.cuda is True:
        os.environ.pop("RNNT_OPS_CUDA", None)
        if not cuda_enabled():
            print(
                "python -m rnnt_ops.build: --cuda needs a CUDA build of torch and nvcc "
                "(CUDA_HOME); this torch or machine has not both. Use --no-cuda or no flag.",
                file=sys.stderr,
            )
            return 2
    if args.verbose:
        os.environ["RNNT_OPS_VERBOSE"] = "1"
    print(library_path() if args.print_path else load_library())
    return 0


if __name__ == "__main__":
    sys.exit(main())
