"""Where a run's numbers go: the logger protocol the training loop reports to, and its sinks
(TensorBoard, the progress display, Weights & Biases), plus the run's JSON files and videos."""

import sys

# tensorboardX, which writes the event files, imports torch whenever torch is installed (4.5 s and
# hundreds of MB on a GPU machine) for tensors jaxrl never hands it. It is imported here, before
# any sink, with `import torch` failing as where torch is absent, which tensorboardX expects; a
# torch the program imported itself is left to tensorboardX, and a later `import torch` works.
if "torch" not in sys.modules:
    sys.modules["torch"] = None
    try:
        import tensorboardX  # noqa: F401
    finally:
        del sys.modules["torch"]
