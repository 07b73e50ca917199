"""Keras-style callbacks for Model.fit: EarlyStopping, History and a Callback base class."""

from . import _kiln


class Callback:
    """Override on_train_begin/on_epoch_end/on_train_end; set ``self.model.stop_training = True``
    in on_epoch_end to stop. ``logs`` holds loss, the compiled metrics and their val_ forms."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass


class History(Callback):
    """What fit() returns: ``history`` maps each logged quantity to its per-epoch values."""

    def __init__(self):
        super().__init__()
        self.epoch = []
        self.history = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    Runs inside Kiln's trainer (as ``kiln train --patience``); ``restore_best_weights`` puts
    back the weights of the best epoch. ``monitor``: val_loss, val_accuracy, loss or accuracy
    (without validation data, val_* watches the training value, as kiln train does).
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, restore_best_weights=False):
        super().__init__()
        _kiln._check_training_spec(f'early_stopping {{ monitor: "{_escape(monitor)}" }}')
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"patience must be a non-negative int, got {patience!r}")
        if min_delta < 0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta!r}")
        self.monitor = monitor
        self.min_delta = float(min_delta)
        self.patience = patience
        self.restore_best_weights = bool(restore_best_weights)


class TensorBoard(Callback):
    """TensorBoard event files in ``log_dir`` (``tensorboard --logdir log_dir``), written by
    Kiln's trainer exactly as ``kiln train --logdir``: ``log_dir/train`` (batch_loss and
    batch_accuracy per step, epoch_loss, epoch_accuracy, epoch_learning_rate, weight and
    gradient histograms) and ``log_dir/validation`` (epoch_loss, epoch_accuracy)."""

    def __init__(self, log_dir="logs"):
        super().__init__()
        if not isinstance(log_dir, (str, bytes)) and not hasattr(log_dir, "__fspath__"):
            raise TypeError(f"log_dir must be a path, got {type(log_dir).__name__}")
        import os
        self.log_dir = os.fsdecode(os.fspath(log_dir))
        if not self.log_dir:
            raise ValueError("log_dir must not be empty")


def _escape(s):
    return str(s).replace("\\", "\\\\").replace('"', '\\"')
