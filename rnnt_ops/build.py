"""``python -m rnnt_ops.build``: build the op library now (e.g. in a Docker
image) and print the path of the shared library, for C++ users."""

from rnnt_ops._build import load_library

if __name__ == "__main__":
    print(load_library())
