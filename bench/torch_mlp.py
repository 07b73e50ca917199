#!/usr/bin/python3
"""PyTorch eager side of bench/train_mlp.sh: the Fashion-MNIST MLP 784-512-256-10
(ReLU, ReLU, logits + CrossEntropyLoss, the same function as Kiln's softmax +
sparse categorical cross-entropy), Adam lr 1e-3, batch 64, pixels scaled to
[0, 1], shuffled every epoch, the last partial batch dropped (as Kiln's
trainer does). Like Kiln's epoch, each timed epoch includes the batch
gathering and the running loss and accuracy.

Prints one JSON object: {"threads": T, "steps_per_epoch": S, "epochs": [{"epoch", "seconds", "loss", "accuracy"}]}.
"""
import argparse
import gzip
import json
import os
import time

import numpy as np
import torch
from torch import nn


def read_idx(path, offset):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    images = read_idx(os.path.join(args.data, "train-images-idx3-ubyte.gz"), 16).reshape(-1, 784)
    labels = read_idx(os.path.join(args.data, "train-labels-idx1-ubyte.gz"), 8).astype(np.int64)
    x_all = torch.from_numpy(images.astype(np.float32) / 255.0)
    y_all = torch.from_numpy(labels)
    n = x_all.shape[0]
    steps = n // args.batch

    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(args.seed)
    epochs = []
    for epoch in range(args.epochs):
        start = time.perf_counter()
        order = torch.from_numpy(rng.permutation(n))
        loss_sum, correct = 0.0, 0
        for s in range(steps):
            rows = order[s * args.batch:(s + 1) * args.batch]
            x, y = x_all[rows], y_all[rows]
            logits = model(x)
            loss = loss_fn(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item()
            correct += int((logits.argmax(1) == y).sum())
        seconds = time.perf_counter() - start
        epochs.append({"epoch": epoch + 1, "seconds": seconds, "loss": loss_sum / steps,
                       "accuracy": correct / (steps * args.batch)})
    print(json.dumps({"threads": args.threads, "torch": torch.__version__, "steps_per_epoch": steps,
                      "epochs": epochs}))


if __name__ == "__main__":
    main()
