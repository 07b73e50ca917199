"""kiln.InferenceSession against `kiln run` and PyTorch's outputs, its errors and threads."""

import threading

import numpy as np
import pytest

import kiln

MODELS = ["mlp", "lenet5", "resnet"]


def model_dir(root, name):
    return root / "tests" / "data" / "models" / name


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("batch", [1, 64])
def test_run_equals_cli_and_pytorch(root, kiln_cli, tmp_path, name, batch):
    d = model_dir(root, name)
    x = np.load(d / f"input_b{batch}.npy")
    session = kiln.InferenceSession(d / "model.onnx")
    (y,) = session.run(None, {session.inputs[0].name: x})
    kiln_cli("run", d / "model.onnx", "--input", d / f"input_b{batch}.npy", "--output-dir", tmp_path)
    (cli_file,) = tmp_path.glob("*.npy")
    cli = np.load(cli_file)
    assert y.dtype == cli.dtype and y.shape == cli.shape
    np.testing.assert_allclose(y, cli, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y, np.load(d / f"output_b{batch}.npy"), rtol=1e-3, atol=1e-4)


def test_metadata(root):
    session = kiln.InferenceSession(model_dir(root, "lenet5") / "model.onnx")
    (inp,) = session.inputs
    assert (inp.name, inp.dtype, inp.type, inp.shape) == ("input", "float32", "tensor(float)", ["batch", 1, 28, 28])
    (out,) = session.get_outputs()
    assert out.dtype == "float32" and out.shape == ["batch", 10]


def test_bytes_and_output_names(root):
    d = model_dir(root, "mlp")
    session = kiln.InferenceSession((d / "model.onnx").read_bytes(), threads=1)
    x = np.load(d / "input_b1.npy")
    name = session.outputs[0].name
    (y,) = session.run([name], {session.inputs[0].name: x})
    np.testing.assert_allclose(y, np.load(d / "output_b1.npy"), rtol=1e-3, atol=1e-4)
    with pytest.raises(ValueError, match="no output named 'nope'"):
        session.run(["nope"], {session.inputs[0].name: x})


def test_batch_sizes_and_layouts(root):
    d = model_dir(root, "mlp")
    session = kiln.InferenceSession(d / "model.onnx")
    x = np.load(d / "input_b64.npy")
    name = session.inputs[0].name
    (full,) = session.run(None, {name: x})
    (part,) = session.run(None, {name: x[:7]})
    np.testing.assert_allclose(part, full[:7], rtol=1e-5, atol=1e-6)
    # A non-contiguous array is made contiguous (one copy) rather than refused.
    reversed_rows = x[::-1]
    assert not reversed_rows.flags.c_contiguous
    (rev,) = session.run(None, {name: reversed_rows})
    np.testing.assert_allclose(rev, full[::-1], rtol=1e-5, atol=1e-6)


def cli_error(kiln_cli, *args):
    result = kiln_cli("run", *args, check=False)
    assert result.returncode == 1
    line = result.stderr.strip()
    assert line.startswith("kiln: ")
    return line[len("kiln: "):]


def test_bad_inputs_raise_the_cli_message(root, kiln_cli, tmp_path):
    d = model_dir(root, "lenet5")
    model = d / "model.onnx"
    session = kiln.InferenceSession(model)
    x = np.load(d / "input_b1.npy")

    wrong_dtype = tmp_path / "x64.npy"
    np.save(wrong_dtype, x.astype(np.float64))
    with pytest.raises(TypeError) as e:
        session.run(None, {"input": x.astype(np.float64)})
    assert str(e.value) == cli_error(kiln_cli, model, "--input", wrong_dtype).replace(f" ({wrong_dtype})", "")

    wrong_shape = tmp_path / "x_bad.npy"
    np.save(wrong_shape, x[:, :, :20])
    with pytest.raises(ValueError) as e:
        session.run(None, {"input": x[:, :, :20]})
    assert str(e.value) == cli_error(kiln_cli, model, "--input", wrong_shape).replace(f" ({wrong_shape})", "")

    with pytest.raises(ValueError) as e:
        session.run(None, {"image": x})
    assert str(e.value) == cli_error(kiln_cli, model, "--input", f"image={wrong_shape}")

    with pytest.raises(ValueError, match=r"input 'input' \(float32\[batch, 1, 28, 28\]\) is missing"):
        session.run(None, {})
    with pytest.raises(TypeError, match="not supported by Kiln"):
        session.run(None, {"input": x.astype(np.complex64)})
    with pytest.raises(TypeError, match="expected an array"):
        session.run(None, {"input": "pixels"})
    with pytest.raises(TypeError):
        session.run(None, [x])


def test_bad_sessions(root, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        kiln.InferenceSession(tmp_path / "missing.onnx")
    with pytest.raises(ValueError, match="device 'cuda' is not supported"):
        kiln.InferenceSession(model_dir(root, "mlp") / "model.onnx", device="cuda")
    with pytest.raises(ValueError, match="threads"):
        kiln.InferenceSession(model_dir(root, "mlp") / "model.onnx", threads=0)
    with pytest.raises((ValueError, kiln.KilnError)):
        kiln.InferenceSession(b"not a model at all")


def test_two_threads_one_session(root):
    d = model_dir(root, "lenet5")
    session = kiln.InferenceSession(d / "model.onnx")
    inputs = {1: np.load(d / "input_b1.npy"), 64: np.load(d / "input_b64.npy")}
    expected = {b: session.run(None, {"input": x})[0] for b, x in inputs.items()}
    failures = []

    def worker(order):
        for _ in range(20):
            for b in order:
                (y,) = session.run(None, {"input": inputs[b]})
                if not np.array_equal(y, expected[b]):
                    failures.append(b)

    threads = [threading.Thread(target=worker, args=(o,)) for o in ([1, 64], [64, 1], [64, 64])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
