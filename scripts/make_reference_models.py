#!/usr/bin/python3
"""Generates the PyTorch reference models under tests/data/models/.

Each model directory holds model.onnx (opset 13, batch axis "batch" on the input and
the output) and, for batch 1 and batch 64, an input and PyTorch's output:
input_b1.npy, output_b1.npy, input_b64.npy, output_b64.npy (float32).
tests/tools/pytorch_reference_test.cc runs them through kiln and compares.

The files are checked in so CI needs no PyTorch. Regenerate with Debian's torch/onnx
(not a pyenv python):

  /usr/bin/python3 scripts/make_reference_models.py [--out tests/data/models]

Everything is seeded, so a rerun with the same torch version gives the same files.
"""

import argparse
import os

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

OPSET = 13
BATCH_SIZES = (1, 64)


class Mlp(nn.Module):
  """784-128-64-10 with ReLU, ending in log-softmax."""

  def __init__(self):
    super().__init__()
    self.fc1 = nn.Linear(784, 128)
    self.fc2 = nn.Linear(128, 64)
    self.fc3 = nn.Linear(64, 10)

  def forward(self, x):
    x = F.relu(self.fc1(x))
    x = F.relu(self.fc2(x))
    return F.log_softmax(self.fc3(x), dim=1)


class LeNet5(nn.Module):
  """Classic LeNet-5 on 1x28x28: ReLU after the convolutions, tanh after the hidden fc layers."""

  def __init__(self):
    super().__init__()
    self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
    self.conv2 = nn.Conv2d(6, 16, 5)
    self.fc1 = nn.Linear(16 * 5 * 5, 120)
    self.fc2 = nn.Linear(120, 84)
    self.fc3 = nn.Linear(84, 10)

  def forward(self, x):
    x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # 6x14x14
    x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # 16x5x5
    x = torch.flatten(x, 1)
    x = torch.tanh(self.fc1(x))
    x = torch.tanh(self.fc2(x))
    return self.fc3(x)


class BasicBlock(nn.Module):
  """conv-bn-relu-conv-bn + shortcut (identity, or 1x1 conv-bn when the shape changes), relu."""

  def __init__(self, in_channels, out_channels, stride):
    super().__init__()
    self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
    self.bn1 = nn.BatchNorm2d(out_channels)
    self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
    self.bn2 = nn.BatchNorm2d(out_channels)
    self.shortcut = None
    if stride != 1 or in_channels != out_channels:
      self.shortcut = nn.Sequential(
          nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels))

  def forward(self, x):
    out = F.relu(self.bn1(self.conv1(x)))
    out = self.bn2(self.conv2(out))
    identity = x if self.shortcut is None else self.shortcut(x)
    return F.relu(out + identity)


class SmallResNet(nn.Module):
  """CIFAR-style 3x32x32: stem conv-bn-relu (16), blocks 16->16, 16->32/2, 32->64/2, GAP, fc 10."""

  def __init__(self):
    super().__init__()
    self.conv = nn.Conv2d(3, 16, 3, padding=1, bias=False)
    self.bn = nn.BatchNorm2d(16)
    self.block1 = BasicBlock(16, 16, 1)  # identity shortcut
    self.block2 = BasicBlock(16, 32, 2)  # 1x1 conv downsample
    self.block3 = BasicBlock(32, 64, 2)  # 1x1 conv downsample
    self.fc = nn.Linear(64, 10)

  def forward(self, x):
    x = F.relu(self.bn(self.conv(x)))
    x = self.block3(self.block2(self.block1(x)))
    x = F.adaptive_avg_pool2d(x, 1)
    return self.fc(torch.flatten(x, 1))


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


def export(model, name, input_shape, out_dir, training_mode):
  directory = os.path.join(out_dir, name)
  os.makedirs(directory, exist_ok=True)
  model.eval()
  path = os.path.join(directory, "model.onnx")
  torch.onnx.export(
      model,
      torch.zeros((1,) + input_shape),
      path,
      opset_version=OPSET,
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

  mlp = Mlp()
  init_weights(mlp)
  export(mlp, "mlp", (784,), args.out, torch.onnx.TrainingMode.EVAL)
  lenet = LeNet5()
  init_weights(lenet)
  export(lenet, "lenet5", (1, 28, 28), args.out, torch.onnx.TrainingMode.EVAL)
  resnet = SmallResNet()
  init_weights(resnet)
  randomize_batch_norm(resnet)
  # PRESERVE (with the model in eval mode) exports the same inference graph but skips the
  # exporter's eval-mode Conv+BatchNorm folding, so BatchNormalization reaches kiln.
  export(resnet, "resnet", (3, 32, 32), args.out, torch.onnx.TrainingMode.PRESERVE)


if __name__ == "__main__":
  main()
