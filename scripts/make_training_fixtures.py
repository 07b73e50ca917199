#!/usr/bin/python3
"""Fixtures of the PyTorch agreement tests (tests/compiler/torch_agreement_test.cc).

For an MLP, a small CNN, an LSTM and a GRU: the initial model as ONNX (ending in Softmax), 20
random batches, and, for SGD(lr=0.1) and Adam(lr=0.01), the per-step losses
and the final weights of 20 PyTorch training steps from the same initial
weights (nn.CrossEntropyLoss on the pre-softmax logits; the loss of a step is
the one computed before its update, as Kiln's step reports it).

Writes tests/data/training/:
  <model>.onnx                   the initial model (opset 13), output = softmax probabilities
  <model>_x.npy, <model>_y.npy   float32 [20, 8, ...] inputs, int64 [20, 8] labels
  <model>_<opt>_losses.npy       float64 [20]: PyTorch's loss at each step
  <model>_<opt>_final/<name>.npy float32: each parameter after the 20 steps, by ONNX initializer name

Run with Debian's python3 (torch 1.13, onnx): /usr/bin/python3 scripts/make_training_fixtures.py
"""
import os
import sys

import numpy as np
import onnx
import torch
from torch import nn

STEPS = 20
BATCH = 8
CLASSES = 5
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "training")


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(20, 32)
        self.fc2 = nn.Linear(32, 16)
        self.fc3 = nn.Linear(16, CLASSES)

    def forward(self, x):  # logits
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(4, 8, 3)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(8 * 3 * 3, CLASSES)

    def forward(self, x):  # logits; 1x10x10 -> 4x10x10 -> 4x5x5 -> 8x3x3 -> 5
        x = self.pool(torch.relu(self.conv1(x)))
        return self.fc(self.flatten(torch.relu(self.conv2(x))))


class Recurrent(nn.Module):
    """nn.LSTM / nn.GRU (hidden 12) over batch-first sequences [B, 7, 6], a linear head on the last step.

    The exporter writes the recurrent op sequence-first (its default layout) after a Transpose,
    and, without constant folding, keeps PyTorch's parameters (weight_ih_l0, ...) as the
    initializers, with the gate reordering as Slice/Concat nodes: Kiln trains the same tensors.
    """

    def __init__(self, cell):
        super().__init__()
        self.rnn = cell(6, 12)
        self.fc = nn.Linear(12, CLASSES)

    def forward(self, x):  # logits
        y, _ = self.rnn(x.transpose(0, 1))
        return self.fc(y[-1])


class WithSoftmax(nn.Module):
    """The exported model: probabilities, so Kiln fuses softmax + cross-entropy from the logits."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return torch.softmax(self.net(x), dim=1)


def export_onnx(net, example, path):
    torch.onnx.export(WithSoftmax(net), example, path, opset_version=13, do_constant_folding=False,
                      training=torch.onnx.TrainingMode.EVAL, input_names=["x"], output_names=["probs"],
                      dynamic_axes={"x": {0: "batch"}, "probs": {0: "batch"}})
    model = onnx.load(path)
    onnx.checker.check_model(model)
    # Map ONNX initializer names back to the torch parameters ("net.fc1.weight" -> "fc1.weight").
    names = {}
    for init in model.graph.initializer:
        key = init.name[len("net."):] if init.name.startswith("net.") else init.name
        names[key] = init.name
    for name, _ in net.named_parameters():
        if name not in names:
            sys.exit(f"parameter {name} is not an initializer of {path}: {sorted(names)}")
    return names


def train(make_net, initial_state, xs, ys, make_opt):
    net = make_net()
    net.load_state_dict(initial_state)
    opt = make_opt(net.parameters())
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for x, y in zip(xs, ys):
        opt.zero_grad()
        loss = loss_fn(net(torch.from_numpy(x)), torch.from_numpy(y))
        losses.append(float(loss.item()))
        loss.backward()
        opt.step()
    return np.array(losses, dtype=np.float64), {k: v.detach().numpy().copy() for k, v in net.named_parameters()}


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float32)
    rng = np.random.default_rng(1234)
    os.makedirs(OUT, exist_ok=True)
    optimizers = {
        "sgd": lambda p: torch.optim.SGD(p, lr=0.1),
        "adam": lambda p: torch.optim.Adam(p, lr=0.01),
    }
    # New models go at the end: the random streams of the earlier ones stay as they were.
    models = {
        "mlp": (Mlp, (20,)),
        "cnn": (Cnn, (1, 10, 10)),
        "lstm": (lambda: Recurrent(nn.LSTM), (7, 6)),
        "gru": (lambda: Recurrent(nn.GRU), (7, 6)),
    }
    for model_name, (make_net, sample_shape) in models.items():
        net = make_net()
        initial = {k: v.detach().clone() for k, v in net.state_dict().items()}
        xs = rng.standard_normal((STEPS, BATCH) + sample_shape).astype(np.float32)
        ys = rng.integers(0, CLASSES, size=(STEPS, BATCH)).astype(np.int64)
        names = export_onnx(net, torch.from_numpy(xs[0]), os.path.join(OUT, f"{model_name}.onnx"))
        np.save(os.path.join(OUT, f"{model_name}_x.npy"), xs)
        np.save(os.path.join(OUT, f"{model_name}_y.npy"), ys)
        for opt_name, make_opt in optimizers.items():
            losses, final = train(make_net, initial, xs, ys, make_opt)
            case = f"{model_name}_{opt_name}"
            np.save(os.path.join(OUT, f"{case}_losses.npy"), losses)
            final_dir = os.path.join(OUT, f"{case}_final")
            os.makedirs(final_dir, exist_ok=True)
            for k, v in final.items():
                np.save(os.path.join(final_dir, f"{names[k]}.npy"), v.astype(np.float32))
            print(f"{case}: loss {losses[0]:.4f} -> {losses[-1]:.4f}")


if __name__ == "__main__":
    main()
