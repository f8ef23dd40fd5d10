"""The custom ONNX domain of the rnnt ops, shared by both exporters."""

DOMAIN = "rnnt"
OPSET_VERSION = 1

# What a checked index (rnnt::_checked_index) outside its range becomes in
# ONNX: far beyond any tensor size, and small enough that the index
# arithmetic around it (row offsets) does not overflow int64.
OUT_OF_RANGE_INDEX = 1 << 62
