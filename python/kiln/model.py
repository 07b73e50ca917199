"""kiln.load() and kiln.Model: compile / fit / evaluate / predict / save with Keras' names."""

import math
import os

import numpy as np

from . import _kiln, optimizers
from .callbacks import Callback, EarlyStopping, History, TensorBoard
from .session import InferenceSession


def load(path):
    """Load a model (.onnx, .kiln, .kiln.txt); its training block supplies compile()'s defaults."""
    return Model(_kiln._Model.load(os.fspath(path)))


def _text_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(float(v)) if isinstance(v, float) else str(v)
    s = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


def _rows(a, name):
    a = np.asarray(a)
    if a.ndim == 0:
        raise ValueError(f"{name} must be an array of samples [N, ...], not a scalar")
    return a


class Model:
    """A loaded model. ``compile`` sets the optimizer, loss and metrics (default: the model
    file's training block); ``fit`` trains in place and returns a History; ``evaluate``,
    ``predict`` and ``save`` use the current weights."""

    def __init__(self, native):
        self._model = native
        self._session = None  # predict()'s, until the weights change
        self.stop_training = False

    @property
    def name(self):
        return self._model.name

    @property
    def metrics_names(self):
        return ["loss"] + (["accuracy"] if self._has_accuracy() else [])

    def _has_accuracy(self):
        return any(m in ("accuracy", "acc") for m in self._model.metrics)

    def compile(self, optimizer=None, loss=None, metrics=None):
        """Set what fit() trains with; anything left as None keeps the training block's value."""
        fields = []
        if optimizer is not None:
            fields += optimizers.get(optimizer)._training_fields()
        if loss is not None:
            fields.append(("loss", loss))
        for m in metrics or []:
            fields.append(("metrics", m))
        text = " ".join(f"{k}: {_text_value(v)}" for k, v in fields)
        self._model.compile(text, optimizer is not None, metrics is not None)
        self._session = None

    def fit(self, x, y, batch_size=None, epochs=None, verbose=1, callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, seed=None):
        """Train on (x, y); the weights stay trained. Returns a History.

        y: int class indices [N] or float targets [N, k]. validation_split holds out the last
        fraction of the samples (before shuffling), as Keras does. batch_size and epochs default
        to the training block's (else 32 and 1); seed (shuffling, dropout) too (else 0).
        """
        x, y = _rows(x, "x"), _rows(y, "y")
        if validation_data is not None and validation_split:
            raise ValueError("pass validation_data or validation_split, not both")
        x_val = y_val = None
        if validation_data is not None:
            if len(validation_data) != 2:
                raise ValueError("validation_data must be a tuple (x_val, y_val)")
            x_val, y_val = _rows(validation_data[0], "validation x"), _rows(validation_data[1], "validation y")
        elif validation_split:
            if not 0.0 < validation_split < 1.0:
                raise ValueError(f"validation_split must be in (0, 1), got {validation_split!r}")
            split_at = int(math.floor(len(x) * (1.0 - validation_split)))
            x, x_val, y, y_val = x[:split_at], x[split_at:], y[:split_at], y[split_at:]

        options = _kiln._FitOptions()
        options.batch_size = _positive("batch_size", batch_size)
        options.epochs = _positive("epochs", epochs)
        options.shuffle = bool(shuffle)
        options.seed = seed
        options.verbose = bool(verbose)
        callbacks = list(callbacks or [])
        stoppers = [c for c in callbacks if isinstance(c, EarlyStopping)]
        if len(stoppers) > 1:
            raise ValueError("at most one EarlyStopping callback")
        for c in callbacks:
            if not isinstance(c, Callback):
                raise TypeError(f"callbacks must be kiln.callbacks.Callback instances, got {type(c).__name__}")
        boards = [c for c in callbacks if isinstance(c, TensorBoard)]
        if len(boards) > 1:
            raise ValueError("at most one TensorBoard callback")
        if boards:
            options.log_dir = boards[0].log_dir
        if stoppers:
            s = stoppers[0]
            options.monitor = s.monitor
            options.patience = max(1, s.patience)  # Keras' patience 0 stops at the first epoch without improvement
            options.min_delta = s.min_delta
            options.restore_best_weights = s.restore_best_weights

        history = History()
        others = [c for c in callbacks if not isinstance(c, EarlyStopping)] + [history]
        params = {"epochs": epochs, "batch_size": batch_size, "verbose": verbose}
        for c in others:
            c.set_model(self)
            c.set_params(params)
            c.on_train_begin()
        self.stop_training = False
        keep = ["loss"] + (["accuracy"] if self._has_accuracy() else [])

        def on_epoch_end(stats):
            logs = {k: stats[k] for k in keep if k in stats}
            logs.update({"val_" + k: stats["val_" + k] for k in keep if "val_" + k in stats})
            for c in others:
                c.on_epoch_end(stats["epoch"] - 1, dict(logs))
            return bool(self.stop_training)

        try:
            self._model.fit(x, y, x_val, y_val, options, on_epoch_end)
        finally:
            self._session = None
        for c in others:
            c.on_train_end()
        return history

    def evaluate(self, x, y, batch_size=None, verbose=0):
        """The loss (and accuracy, when compiled with metrics=["accuracy"]) on (x, y)."""
        loss, accuracy = self._model.evaluate(_rows(x, "x"), _rows(y, "y"), _positive("batch_size", batch_size))
        return [loss, accuracy] if self._has_accuracy() else loss

    def predict(self, x, batch_size=None, verbose=0):
        """The model's outputs for x (an array; a list or dict of arrays for several inputs),
        batch by batch with the current weights. One output: an array; several: a list."""
        session = self._inference_session()
        inputs = session.inputs
        if isinstance(x, dict):
            feeds = dict(x)
        elif isinstance(x, (list, tuple)):
            if len(x) != len(inputs):
                raise ValueError(f"the model has {len(inputs)} input(s), got {len(x)} arrays")
            feeds = {i.name: a for i, a in zip(inputs, x)}
        else:
            if len(inputs) != 1:
                raise ValueError(f"the model has {len(inputs)} inputs: pass a list or dict of arrays")
            feeds = {inputs[0].name: x}
        dtypes = {i.name: i.dtype for i in inputs}
        feeds = {k: np.ascontiguousarray(v, dtype=dtypes.get(k)) for k, v in feeds.items()}
        n = len(next(iter(feeds.values())))
        batch = min(_positive("batch_size", batch_size) or 32, max(n, 1))
        results = []
        for start in range(0, n, batch):
            chunk = {}
            for k, v in feeds.items():
                part = v[start:start + batch]
                if len(part) < batch:  # pad the last batch: one compiled batch size serves all
                    part = np.concatenate([part, np.zeros((batch - len(part),) + part.shape[1:], part.dtype)])
                chunk[k] = part
            valid = min(batch, n - start)
            results.append([o[:valid] for o in session.run(None, chunk)])
        outputs = [np.concatenate([r[i] for r in results]) for i in range(len(session.outputs))] if results else []
        return outputs[0] if len(outputs) == 1 else outputs

    def save(self, path):
        """Write the model with its current weights and training block (.kiln, .kiln.txt or .onnx)."""
        self._model.save(os.fspath(path))

    def summary(self, print_fn=print):
        """Print the graph with its current weights as `kiln dump` does (types, parameter counts, plan)."""
        from .tools import dump

        print_fn(dump(self))

    def inference_session(self, threads=None):
        """An InferenceSession of the model with its current weights."""
        from .session import _positive_threads

        return InferenceSession(self._model.inference_session(_positive_threads(threads)))

    def _inference_session(self):
        if self._session is None:
            self._session = self.inference_session()
        return self._session

    def __repr__(self):
        return f"<kiln.Model {self.name!r} from {self._model.source!r}>"


def _positive(name, value):
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)
