#!/usr/bin/python3
"""Generates the PyTorch reference models under tests/data/models/.

The networks are bench/torch_models.py's: Mlp 784-128-64-10 with log-softmax, LeNet5
with tanh, ResNet8 (opset 13), and a 2-layer TransformerEncoder (d_model 64, 4 heads,
GELU, causal mask, sequence length 10) at opsets 14 and 17 (transformer_op14,
transformer_op17). Each model directory holds model.onnx (batch axis "batch" on the input
and the output) and, for batch 1 and batch 64, an input and PyTorch's output:
input_b1.npy, output_b1.npy, input_b64.npy, output_b64.npy (float32).
tests/tools/torch_models_cli_test.cc runs them through kiln and compares.

The files are checked in so CI needs no PyTorch. Regenerate with Debian's torch/onnx
(not a pyenv python):

  /usr/bin/python3 scripts/make_reference_models.py [--out tests/data/models]

Everything is seeded, so a rerun with the same torch version gives the same files.
"""

import argparse
import os

import sys

import numpy as np
import onnx
import torch
import torch.nn as nn

# The networks live in one module, shared with the benchmarks.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
from torch_models import LeNet5, Mlp, ResNet8, TransformerEncoder  # noqa: E402

OPSET = 13
BATCH_SIZES = (1, 64)


def init_weights(model):
  """He-normal weights (PyTorch's default init shrinks activations layer by layer, leaving outputs near
  0.1 where a 1e-4 absolute tolerance is loose); small random biases."""
  for module in model.modules():
    if isinstance(module, (nn.Conv2d, nn.Linear)):
      nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
      if module.bias is not None:
        nn.init.uniform_(module.bias, -0.1, 0.1)


def randomize_batch_norm(model):
  """Fresh BN layers are the identity in eval mode; give them real statistics and affine params."""
  for module in model.modules():
    if isinstance(module, nn.BatchNorm2d):
      c = module.num_features
      with torch.no_grad():
        module.running_mean.uniform_(-0.5, 0.5)
        module.running_var.uniform_(0.5, 2.0)
        module.weight.uniform_(0.5, 1.5)
        module.bias.uniform_(-0.3, 0.3)
      assert module.running_mean.shape == (c,)


def randomize_transformer(model):
  """The encoder's layers start as copies of one layer; give each its own weights (so a mixed-up
  layer shows) and LayerNorms that are not the identity."""
  for name, p in model.named_parameters():
    with torch.no_grad():
      if "norm" in name:
        p.uniform_(0.5, 1.5) if name.endswith("weight") else p.uniform_(-0.2, 0.2)
      elif p.dim() > 1:
        nn.init.xavier_uniform_(p)
      else:
        p.uniform_(-0.1, 0.1)


def export(model, name, input_shape, out_dir, training_mode, opset=OPSET):
  directory = os.path.join(out_dir, name)
  os.makedirs(directory, exist_ok=True)
  model.eval()
  path = os.path.join(directory, "model.onnx")
  torch.onnx.export(
      model,
      torch.zeros((1,) + input_shape),
      path,
      opset_version=opset,
      input_names=["input"],
      output_names=["output"],
      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
      do_constant_folding=True,
      training=training_mode,
  )
  onnx.checker.check_model(onnx.load(path))
  ops = sorted({node.op_type for node in onnx.load(path).graph.node})
  for batch in BATCH_SIZES:
    x = torch.rand((batch,) + input_shape) * 2 - 1
    with torch.no_grad():
      y = model(x)
    np.save(os.path.join(directory, "input_b%d.npy" % batch), x.numpy().astype(np.float32))
    np.save(os.path.join(directory, "output_b%d.npy" % batch), y.numpy().astype(np.float32))
    print("%s b%d: output range [%.3f, %.3f]" % (name, batch, y.min().item(), y.max().item()))
  print("%s: %s" % (name, ", ".join(ops)))


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "models"))
  args = parser.parse_args()
  torch.manual_seed(20240613)
  torch.set_num_threads(1)  # deterministic reductions

  mlp = Mlp(hidden=(128, 64), log_softmax=True)
  init_weights(mlp)
  export(mlp, "mlp", (784,), args.out, torch.onnx.TrainingMode.EVAL)
  lenet = LeNet5(fc_activation=torch.tanh)
  init_weights(lenet)
  export(lenet, "lenet5", (1, 28, 28), args.out, torch.onnx.TrainingMode.EVAL)
  resnet = ResNet8()
  init_weights(resnet)
  randomize_batch_norm(resnet)
  # PRESERVE (with the model in eval mode) exports the same inference graph but skips the
  # exporter's eval-mode Conv+BatchNorm folding, so BatchNormalization reaches kiln.
  export(resnet, "resnet", (3, 32, 32), args.out, torch.onnx.TrainingMode.PRESERVE)
  transformer = TransformerEncoder()
  randomize_transformer(transformer)
  for opset in (14, 17):
    export(transformer, "transformer_op%d" % opset, (10, 64), args.out, torch.onnx.TrainingMode.EVAL, opset)


if __name__ == "__main__":
  main()
