"""Generates the benchmark's models and data once, into bench/.models/ (ignored by git).

For each model of torch_models.INFERENCE_MODELS and each of its batch sizes B:
  NAME/weights.npz      the state dict (parameters and BatchNorm statistics) as numpy
  NAME/bB.onnx          ONNX opset 13, fixed batch B (torch.onnx.export, TorchScript exporter)
  NAME/input_bB.npy     an input, uniform in [-1, 1)
  NAME/output_bB.npy    PyTorch eager's output on it (the runners check theirs against it)
and the Fashion-MNIST training data as .npy (uint8 images [N, 1, 28, 28], uint8 labels):
  data/fmnist_N_x.npy, data/fmnist_N_y.npy  (the first N training images; --train-samples)

Everything is seeded. A file STAMP holds a hash of this script and torch_models.py;
a model directory whose stamp differs is regenerated.

  python bench/make_models.py [--out bench/.models] [--models mlp,lenet5,...] [--train-samples 60000 6400]
"""
import argparse
import warnings
import gzip
import hashlib
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models  # noqa: E402

OPSET = 13
HERE = os.path.dirname(os.path.abspath(__file__))


def stamp():
    h = hashlib.sha256()
    for f in ("make_models.py", "torch_models.py"):
        with open(os.path.join(HERE, f), "rb") as fh:
            h.update(fh.read())
    return h.hexdigest()[:16] + " torch " + torch.__version__


def randomize_batch_norm(model):
    """Fresh BatchNorm layers are the identity in eval mode; give them real statistics."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)


def make_model(name, out_dir, seed):
    build, shape, batches, has_bn = torch_models.INFERENCE_MODELS[name]
    directory = os.path.join(out_dir, name)
    os.makedirs(directory, exist_ok=True)
    torch.manual_seed(seed)
    model = build()
    if has_bn:
        randomize_batch_norm(model)
    model.eval()
    np.savez(os.path.join(directory, "weights.npz"),
             **{k: v.detach().numpy() for k, v in model.state_dict().items()})
    for b in batches:
        x = torch.rand((b,) + shape) * 2 - 1
        path = os.path.join(directory, "b%d.onnx" % b)
        # PRESERVE keeps BatchNormalization nodes (eval mode folds them into the
        # convolutions at export): each runtime gets the graph as written.
        torch.onnx.export(model, (x,), path, opset_version=OPSET, input_names=["input"], output_names=["output"],
                          do_constant_folding=True, dynamo=False,
                          training=torch.onnx.TrainingMode.PRESERVE if has_bn else torch.onnx.TrainingMode.EVAL)
        with torch.inference_mode():
            y = model(x)
        np.save(os.path.join(directory, "input_b%d.npy" % b), x.numpy())
        np.save(os.path.join(directory, "output_b%d.npy" % b), y.numpy())
        print("make_models: %s b%d" % (name, b), file=sys.stderr)


def read_idx(path, offset):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def make_data(out_dir, fmnist_dir, samples):
    directory = os.path.join(out_dir, "data")
    os.makedirs(directory, exist_ok=True)
    images = labels = None
    for n in samples:
        x_path, y_path = (os.path.join(directory, "fmnist_%d_%s.npy" % (n, s)) for s in "xy")
        if os.path.exists(x_path) and os.path.exists(y_path):
            continue
        if images is None:
            images = read_idx(os.path.join(fmnist_dir, "train-images-idx3-ubyte.gz"), 16).reshape(-1, 1, 28, 28)
            labels = read_idx(os.path.join(fmnist_dir, "train-labels-idx1-ubyte.gz"), 8)
        np.save(x_path, np.ascontiguousarray(images[:n]))
        np.save(y_path, np.ascontiguousarray(labels[:n]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(HERE, ".models"))
    ap.add_argument("--models", default=",".join(torch_models.INFERENCE_MODELS))
    ap.add_argument("--train-samples", type=int, nargs="*", default=[60000])
    ap.add_argument("--fashion-mnist", default=os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
    args = ap.parse_args()
    warnings.filterwarnings("ignore")  # the TorchScript exporter's deprecation and constant-folding notes
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    current = stamp()
    for name in args.models.split(","):
        if name not in torch_models.INFERENCE_MODELS:
            continue  # a training-only name (bench/run.sh --models)
        stamp_path = os.path.join(args.out, name, "STAMP")
        if os.path.exists(stamp_path) and open(stamp_path).read() == current:
            continue
        make_model(name, args.out, seed=20261123 + list(torch_models.INFERENCE_MODELS).index(name))
        with open(stamp_path, "w") as f:
            f.write(current)
    if args.train_samples:
        make_data(args.out, args.fashion_mnist, args.train_samples)


if __name__ == "__main__":
    main()
