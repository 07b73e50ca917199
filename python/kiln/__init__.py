"""Kiln from Python: run, train and compile neural networks (ONNX and Kiln models).

    import kiln, numpy as np
    sess = kiln.InferenceSession("model.onnx")            # ONNX Runtime's calling convention
    (probs,) = sess.run(None, {"input": x})

    model = kiln.load("examples/iris_mlp.kiln.txt")       # Keras' names
    model.compile(optimizer=kiln.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=20, validation_split=0.2,
                        callbacks=[kiln.EarlyStopping(patience=3)])
    model.save("iris.kiln")

See docs/python.md.
"""

from . import optimizers
from ._kiln import KilnError, NodeArg
from .callbacks import Callback, EarlyStopping, History, TensorBoard
from .model import Model, load
from .session import InferenceSession
from .tools import compile_to, dump

__version__ = "0.1.0"

__all__ = [
    "Callback",
    "EarlyStopping",
    "TensorBoard",
    "History",
    "InferenceSession",
    "KilnError",
    "Model",
    "NodeArg",
    "compile_to",
    "dump",
    "load",
    "optimizers",
]
