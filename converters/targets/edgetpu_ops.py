"""What Edge TPU compiler 16 takes: the documented op list, op versions, the compiler's own status lines and the one
fitted limit. Data only; `edgetpu_map` applies it.

Sources: Coral's "TensorFlow models on the Edge TPU" (supported operations, tensor rules); the compiler's error
messages in public bug reports (rejected op versions); and the real compiler log for Ultralytics YOLOv8n in
../shared/data/models/yolov8n_coco/ (op versions it accepted, the activation limit fitted below)."""

from __future__ import annotations

COMPILER = "edgetpu_compiler 16.0"

# Operations the Edge TPU maps (Coral docs, supported operations). LEAKY_RELU and HARD_SWISH are NOT among them:
# the coral target rewrites them (converters/targets/coral_rewrites.py).
EDGETPU_OPS = {
    "ADD",
    "AVERAGE_POOL_2D",
    "CONCATENATION",
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "EXPAND_DIMS",
    "FULLY_CONNECTED",
    "L2_NORMALIZATION",
    "LOGISTIC",
    "LSTM",
    "UNIDIRECTIONAL_SEQUENCE_LSTM",
    "MAXIMUM",
    "MAX_POOL_2D",
    "MEAN",
    "MINIMUM",
    "MUL",
    "PACK",
    "PAD",
    "PRELU",
    "QUANTIZE",
    "REDUCE_MAX",
    "REDUCE_MIN",
    "RELU",
    "RELU6",
    "RELU_N1_TO_1",
    "RESHAPE",
    "RESIZE_BILINEAR",
    "RESIZE_NEAREST_NEIGHBOR",
    "RSQRT",
    "SLICE",
    "SOFTMAX",
    "SPACE_TO_DEPTH",
    "SPLIT",
    "SQUEEZE",
    "STRIDED_SLICE",
    "SUB",
    "SUM",
    "SQUARED_DIFFERENCE",
    "TANH",
    "TRANSPOSE",
    "TRANSPOSE_CONV",
}
# Ops with a documented "no fused activation function" rule.
NO_FUSED_ACTIVATION = {"AVERAGE_POOL_2D", "CONCATENATION", "MAX_POOL_2D"}
# Ops the workaround names for (what to do instead).
REWRITES = {
    "LEAKY_RELU": "the coral target rewrites it as MAXIMUM(x, alpha*x)",
    "HARD_SWISH": "the coral target rewrites it as x*RELU6(x+3)/6",
    "CUSTOM": "custom ops always run on the CPU",
}

# First op version compiler 16 refuses. Its TFLite op resolver does not know them and the WHOLE model is refused
# ("Didn't find op for builtin opcode 'CONV_2D' version '6'... Model could not be parsed"): google-coral/edgetpu
# issues 631 (CONV_2D 6), 879 (QUANTIZE 3), 845 (TRANSPOSE_CONV 4), libedgetpu issue 71 (EXP 2).
REJECTED_FROM_VERSION = {"CONV_2D": 6, "QUANTIZE": 3, "TRANSPOSE_CONV": 4, "EXP": 2}
# Highest version of each op seen accepted by compiler 16 (the YOLOv8n log: every op of that model compiled).
# A version above this and below REJECTED_FROM_VERSION is not known either way.
SEEN_ACCEPTED_VERSION = {
    "ADD": 2,
    "CONCATENATION": 2,
    "CONV_2D": 3,
    "LOGISTIC": 2,
    "MAX_POOL_2D": 2,
    "MUL": 2,
    "PAD": 2,
    "QUANTIZE": 1,
    "RESHAPE": 1,
    "RESIZE_NEAREST_NEIGHBOR": 2,
    "SOFTMAX": 2,
    "STRIDED_SLICE": 2,
    "SUB": 2,
    "TRANSPOSE": 2,
}

# Activation limit (not documented; fitted on the one real compiler-16 log here, YOLOv8n 640): the Edge TPU keeps a
# tensor's "row" on chip: its two innermost dims x*z of the [y, x, z] view (the whole tensor for a TRANSPOSE, which
# moves data across rows). In that log rows up to 134,400 int8 elements were mapped and rows from 230,400 were not
# ("otherwise supported, but not mapped due to some unspecified limitation"); the limit lies in that band. Coral's
# docs only say "certain reshapes might not be mapped for large tensor sizes" and maintainers in issue threads
# name large activations as the cause.
ROW_LIMIT = 192 * 1024
ROW_LIMIT_BAND = (134_400, 230_400)

# The compiler's status lines, verbatim (its operation log).
MAPPED = "Mapped to Edge TPU"
NOT_SUPPORTED = "Operation not supported"
VERSION_NOT_SUPPORTED = "Operation version not supported"
UNSUPPORTED_TYPE = "Operation is working on an unsupported data type"
LIMITATION = "Operation is otherwise supported, but not mapped due to some unspecified limitation"
SUBGRAPH = "More than one subgraph is not supported"
