"""kiln.InferenceSession: ONNX Runtime's calling convention on a Kiln-compiled model."""

import os

import numpy as np

from . import _kiln


def _positive_threads(threads):
    if threads is None:
        return 0
    if isinstance(threads, bool) or not isinstance(threads, int) or threads <= 0:
        raise ValueError(f"threads must be a positive int or None, got {threads!r}")
    return threads


def _check_device(device):
    if device != "cpu":
        raise ValueError(f"device {device!r} is not supported: Kiln runs models on the CPU (device='cpu')")


class InferenceSession:
    """A model compiled for the CPU.

    ``run(output_names, {name: array})`` returns the outputs as a list of NumPy arrays, like
    ``onnxruntime.InferenceSession.run``. Inputs must have the model's dtype and shape (a
    symbolic batch dimension takes any size; one plan is compiled per batch size). Arrays in C
    order are read in place; the GIL is released while the plan runs, and one session may be
    used from several threads (runs of one batch size take turns).
    """

    def __init__(self, path_or_bytes, device="cpu", threads=None):
        _check_device(device)
        threads = _positive_threads(threads)
        if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
            self._session = _kiln._InferenceSession.from_bytes(bytes(path_or_bytes), threads)
        elif isinstance(path_or_bytes, (str, os.PathLike)):
            self._session = _kiln._InferenceSession.from_path(os.fspath(path_or_bytes), threads)
        elif isinstance(path_or_bytes, _kiln._InferenceSession):  # from Model.inference_session()
            self._session = path_or_bytes
        else:
            raise TypeError(f"expected a model path or the model's bytes, got {type(path_or_bytes).__name__}")

    @property
    def inputs(self):
        """The model's inputs (NodeArg: name, dtype, shape, type)."""
        return list(self._session.inputs)

    @property
    def outputs(self):
        """The model's outputs (NodeArg: name, dtype, shape, type)."""
        return list(self._session.outputs)

    def get_inputs(self):
        return self.inputs

    def get_outputs(self):
        return self.outputs

    def run(self, output_names, input_feed, run_options=None):
        """The outputs named in ``output_names`` (all when None) for ``input_feed`` {name: array}."""
        if run_options is not None:
            raise ValueError("run_options are not supported")
        if not isinstance(input_feed, dict):
            raise TypeError(f"input_feed must be a dict {{name: array}}, got {type(input_feed).__name__}")
        if isinstance(output_names, str):
            raise TypeError("output_names must be a list of names or None")
        feeds = {k: np.asarray(v) if isinstance(v, (list, tuple, int, float)) else v for k, v in input_feed.items()}
        return self._session.run(None if output_names is None else list(output_names), feeds)
