"""kiln.load(...).fit against `kiln train` on Iris, callbacks, errors, save and predict."""

import json
import re

import numpy as np
import pytest

import kiln


@pytest.fixture(scope="module")
def iris(root):
    """Iris split in half (a fixed permutation), min-max scaled with the training half's statistics."""
    raw = np.genfromtxt(root / "examples" / "data" / "iris.csv", delimiter=",", skip_header=1, dtype=str)
    x = raw[:, :4].astype(np.float32)
    species = sorted(set(raw[:, 4]))
    y = np.array([species.index(s) for s in raw[:, 4]], dtype=np.int64)
    order = np.random.RandomState(0).permutation(len(x))
    train, test = order[:75], order[75:]
    lo, hi = x[train].min(0), x[train].max(0)
    x = ((x - lo) / (hi - lo)).astype(np.float32)
    return x[train], y[train], x[test], y[test]


def iris_model(root):
    return root / "examples" / "iris_mlp.kiln.txt"


def test_fit_matches_kiln_train(root, kiln_cli, iris, tmp_path):
    x_train, y_train, x_test, y_test = iris
    files = {}
    for name, a in zip(["xtr", "ytr", "xte", "yte"], iris):
        files[name] = tmp_path / f"{name}.npy"
        np.save(files[name], a)
    report = tmp_path / "report.json"
    spec = f"npy:{files['xtr']},{files['ytr']};test={files['xte']},{files['yte']}"
    cli = kiln_cli("train", iris_model(root), "--data", spec, "--preprocess", "none", "--seed", "7",
                   "--report-json", report, "--quiet")
    match = re.search(r"Test: loss ([0-9.]+), accuracy ([0-9.]+)", cli.stdout)
    assert match, cli.stdout
    cli_loss, cli_accuracy = float(match.group(1)), float(match.group(2))
    cli_epochs = json.loads(report.read_text())["epochs"]

    model = kiln.load(iris_model(root))
    history = model.fit(x_train, y_train, seed=7, verbose=0)  # epochs, batch, optimizer: the model's block
    loss, accuracy = model.evaluate(x_test, y_test)
    assert len(history.history["loss"]) == len(cli_epochs) == 150
    np.testing.assert_allclose(history.history["loss"], [e["loss"] for e in cli_epochs], rtol=1e-5)
    np.testing.assert_allclose(history.history["accuracy"], [e["accuracy"] for e in cli_epochs], rtol=1e-9)
    assert round(accuracy, 4) == cli_accuracy and abs(loss - cli_loss) < 1e-4
    assert accuracy >= 0.9


def test_compile_callbacks_and_history(root, iris):
    x_train, y_train, x_test, y_test = iris
    model = kiln.load(iris_model(root))
    model.compile(optimizer=kiln.optimizers.Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    seen = []

    class Recorder(kiln.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((epoch, sorted(logs)))
            if epoch == 4:
                self.model.stop_training = True

    history = model.fit(x_train, y_train, epochs=50, batch_size=16, validation_data=(x_test, y_test), verbose=0,
                        callbacks=[Recorder()])
    assert history.epoch == [0, 1, 2, 3, 4]
    assert seen[0] == (0, ["accuracy", "loss", "val_accuracy", "val_loss"])
    assert history.history["loss"][-1] < history.history["loss"][0]

    stopper = kiln.EarlyStopping(monitor="val_loss", patience=2, min_delta=10.0)  # nothing improves by 10
    history = model.fit(x_train, y_train, epochs=50, validation_split=0.2, verbose=0, callbacks=[stopper])
    assert len(history.epoch) == 3


def test_tensorboard_callback(root, iris, tmp_path):
    from tensorboard.backend.event_processing import event_accumulator as ea

    x_train, y_train, x_test, y_test = iris
    model = kiln.load(iris_model(root))
    model.compile(optimizer=kiln.optimizers.Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=4, batch_size=16, validation_data=(x_test, y_test), verbose=0,
                        callbacks=[kiln.TensorBoard(tmp_path / "run")])

    def scalars(sub, tag):
        acc = ea.EventAccumulator(str(tmp_path / "run" / sub), size_guidance={ea.SCALARS: 0, ea.HISTOGRAMS: 0})
        acc.Reload()
        return acc, [e.value for e in acc.Scalars(tag)]

    train, loss = scalars("train", "epoch_loss")
    np.testing.assert_allclose(loss, history.history["loss"], rtol=1e-6)
    np.testing.assert_allclose(scalars("validation", "epoch_accuracy")[1], history.history["val_accuracy"], rtol=1e-6)
    assert [e.value for e in train.Scalars("epoch_learning_rate")] == pytest.approx([0.01] * 4)
    assert len(train.Scalars("batch_loss")) == 4 * (len(x_train) // 16)
    assert {"weights/dense1/kernel", "gradients/dense1/kernel"} <= set(train.Tags()["histograms"])
    with pytest.raises(ValueError, match="at most one TensorBoard"):
        model.fit(x_train, y_train, epochs=1, verbose=0,
                  callbacks=[kiln.TensorBoard(tmp_path / "a"), kiln.TensorBoard(tmp_path / "b")])
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="cannot create the log directory"):
        model.fit(x_train, y_train, epochs=1, verbose=0, callbacks=[kiln.TensorBoard(tmp_path / "file" / "run")])


def test_callback_exception_propagates(root, iris):
    model = kiln.load(iris_model(root))

    class Boom(kiln.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyError("boom")

    before = model.predict(iris[2])
    with pytest.raises(KeyError, match="boom"):
        model.fit(iris[0], iris[1], epochs=3, verbose=0, callbacks=[Boom()])
    np.testing.assert_array_equal(model.predict(iris[2]), before)  # a failed fit changes no weight


def test_save_load_predict(root, iris, tmp_path):
    x_train, y_train, x_test, _ = iris
    model = kiln.load(iris_model(root))
    model.fit(x_train, y_train, epochs=5, verbose=0)
    before = model.predict(x_test, batch_size=32)
    assert before.shape == (75, 3)
    np.testing.assert_allclose(before.sum(axis=1), 1.0, rtol=1e-5)
    path = tmp_path / "trained.kiln"
    model.save(path)
    after = kiln.load(path).predict(x_test)
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-6)
    (direct,) = kiln.InferenceSession(path).run(None, {"features": x_test})
    np.testing.assert_allclose(direct, before, rtol=1e-5, atol=1e-6)


def test_training_errors(root, iris):
    model = kiln.load(iris_model(root))
    with pytest.raises(ValueError, match="unknown optimizer 'adamw'"):
        model.compile(optimizer="adamw")
    with pytest.raises(ValueError, match="loss"):
        model.compile(loss="hinge")
    with pytest.raises(ValueError, match="metric"):
        model.compile(metrics=["auc"])
    with pytest.raises(ValueError, match="monitor"):
        kiln.EarlyStopping(monitor="val_auc")
    with pytest.raises(ValueError):
        model.fit(iris[0][:, :3], iris[1], epochs=1, verbose=0)
    with pytest.raises(ValueError):
        model.fit(iris[0], iris[1][:10], epochs=1, verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        model.fit(iris[0], iris[1], batch_size=0, verbose=0)
    onnx = kiln.load(root / "tests" / "data" / "models" / "mlp" / "model.onnx")
    with pytest.raises(ValueError, match="no loss"):
        onnx.fit(np.zeros((4, 1, 28, 28), np.float32), np.zeros(4, np.int64), verbose=0)


@pytest.mark.parametrize("optimizer, expected", [
    (kiln.optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True), 'optimizer: "sgd"'),
    (kiln.optimizers.Adam(learning_rate=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-6), "beta1: 0.8"),
    (kiln.optimizers.RMSprop(learning_rate=0.01, rho=0.8), 'optimizer: "rmsprop"'),
    (kiln.optimizers.Adagrad(learning_rate=0.1), 'optimizer: "adagrad"'),
    (kiln.optimizers.Adadelta(rho=0.9), "rho: 0.9"),
    ("adam", 'optimizer: "adam"'),
])
def test_optimizers(root, iris, optimizer, expected):
    model = kiln.load(iris_model(root))
    model.compile(optimizer=optimizer)
    spec = model._model.training_spec
    assert expected in spec
    if not isinstance(optimizer, kiln.optimizers.SGD):
        assert "momentum" not in spec and "nesterov" not in spec  # the file's sgd settings do not leak
    history = model.fit(iris[0], iris[1], epochs=5, verbose=0)
    losses = history.history["loss"]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
