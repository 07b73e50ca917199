"""kiln.dump and kiln.compile_to: the kiln dump / compile commands in process."""

import subprocess

import numpy as np
import pytest

import kiln


def test_dump(root, kiln_cli, tmp_path):
    model = root / "examples" / "iris_mlp.kiln.txt"
    text = kiln.dump(model)
    assert text == kiln_cli("dump", model).stdout
    dot = kiln.dump(model, format="dot")
    assert dot.startswith("digraph")
    out = tmp_path / "g.dot"
    assert kiln.dump(model, format="dot", output=out) is None and out.read_text() == dot
    page = kiln.dump(model, format="html")  # passed through to kiln dump as is
    assert page.lstrip().lower().startswith("<!doctype html") and "<svg" in page
    with pytest.raises(ValueError, match="--format"):
        kiln.dump(model, format="bogus")
    with pytest.raises(kiln.KilnError, match="no such file"):
        kiln.dump(tmp_path / "missing.onnx")


def test_compile_to(root, tmp_path):
    model = root / "tests" / "data" / "models" / "mlp" / "model.onnx"
    plan = tmp_path / "mlp.plan"
    kiln.compile_to(model, plan, emit="plan", batch=2)
    assert plan.stat().st_size > 0
    exe = tmp_path / "mlp"
    kiln.compile_to(model, exe)
    x = root / "tests" / "data" / "models" / "mlp" / "input_b1.npy"
    result = subprocess.run([str(exe), "--input", str(x)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    with pytest.raises(ValueError, match="emit"):
        kiln.compile_to(model, tmp_path / "x", emit="wasm")


def test_compile_trained_model(root, tmp_path):
    trained = kiln.load(root / "examples" / "iris_mlp.kiln.txt")
    x = np.random.RandomState(1).rand(64, 4).astype(np.float32)
    trained.fit(x, (x[:, 0] > 0.5).astype(np.int64), epochs=2, verbose=0)
    kiln.compile_to(trained, tmp_path / "iris.plan", emit="plan")
    assert (tmp_path / "iris.plan").stat().st_size > 0


def test_summary(root):
    model = kiln.load(root / "examples" / "iris_mlp.kiln.txt")
    lines = []
    model.summary(print_fn=lines.append)
    assert "Total params: 515" in lines[0]
