"""Training epochs of a peer, for bench/run.sh: the Fashion-MNIST MLP 784-512-256-10,
the small CNN or the row-sequence LSTM (bench/torch_models.py, bench/jax_models.py;
jax has no LSTM), Adam lr 1e-3, batch
64, softmax cross-entropy on the logits, pixels scaled to [0, 1], shuffled every
epoch, the last partial batch dropped -- as Kiln's `kiln train` does. Like Kiln's
epoch, each timed epoch includes the batch gathering and the running loss and
accuracy (read back every step, as `loss.item()` does).

Runners: torch (eager, torch.optim.Adam) and jax (one jax.jit step: forward,
jax.grad, a hand-written Adam with PyTorch's formula; parameters donated).

Prints one JSON object: {"runner", "version", "steps_per_epoch", "first_step_seconds",
"epochs": [{"epoch", "seconds", "loss", "accuracy"}]}, or {"error": reason}.

  python bench/peer_train.py --runner jax --model mlp --x X.npy --y Y.npy --threads 2 --epochs 3
  python bench/peer_train.py --runner torch --device cuda --model mlp --x X.npy --y Y.npy
"""
import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def train_torch(args, images, labels):
    import torch
    from torch import nn

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)
    sys.path.insert(0, HERE)
    import torch_models

    device = torch.device(args.device)
    if device.type == "cuda":  # FP32 as Kiln computes it: no TF32
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    model = torch_models.TRAIN_MODELS[args.model]().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()
    # On a GPU the whole data set lives on the device (the batches are gathered there).
    x_all = torch.from_numpy(images).to(device)
    y_all = torch.from_numpy(labels).to(device)

    def step(rows):
        x, y = x_all[rows], y_all[rows]
        logits = model(x)
        loss = loss_fn(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item(), int((logits.argmax(1) == y).sum())

    return step, lambda order: torch.from_numpy(order).to(device), torch.__version__


def train_jax(args, images, labels):
    import jax
    import jax.numpy as jnp

    sys.path.insert(0, HERE)
    import jax_models

    params = jax_models.init_train_params(args.model, args.seed)
    state = {"p": params, "m": jax.tree_util.tree_map(jnp.zeros_like, params),
             "v": jax.tree_util.tree_map(jnp.zeros_like, params), "t": jnp.zeros((), jnp.float32)}
    lr, b1, b2, eps = args.lr, 0.9, 0.999, 1e-8

    def loss_and_logits(p, x, y):
        logits = jax_models.train_forward(args.model, p, x)
        logp = jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1)), logits

    def train_step(s, x, y):
        (loss, logits), g = jax.value_and_grad(loss_and_logits, has_aux=True)(s["p"], x, y)
        t = s["t"] + 1
        m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, s["m"], g)
        v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, s["v"], g)
        c1, c2 = 1 - b1**t, 1 - b2**t  # bias corrections, as torch.optim.Adam
        p = jax.tree_util.tree_map(lambda p, m, v: p - lr * (m / c1) / (jnp.sqrt(v / c2) + eps), s["p"], m, v)
        correct = jnp.sum(jnp.argmax(logits, axis=1) == y)
        return {"p": p, "m": m, "v": v, "t": t}, loss, correct

    train_step = jax.jit(train_step, donate_argnums=0)
    holder = {"s": state}

    def step(rows):
        holder["s"], loss, correct = train_step(holder["s"], images[rows], labels[rows])
        return float(loss), int(correct)

    return step, lambda order: order, jax.__version__


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runner", required=True, choices=["torch", "jax"])
    ap.add_argument("--model", required=True, choices=["mlp", "cnn", "lstm"])
    ap.add_argument("--x", required=True, help="uint8 images [N, 1, 28, 28] (.npy)")
    ap.add_argument("--y", required=True, help="uint8 labels [N] (.npy)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                    help="torch: where the model and data live (jax: its default backend, the GPU when it has one)")
    args = ap.parse_args()
    if args.runner == "jax":
        sys.path.insert(0, HERE)
        from peer_infer import limit_jax_threads

        limit_jax_threads(args.threads)
    images = np.load(args.x).astype(np.float32) / 255.0
    labels = np.load(args.y).astype(np.int64 if args.runner == "torch" else np.int32)
    n = images.shape[0]
    steps = n // args.batch
    try:
        step, convert, version = (train_torch if args.runner == "torch" else train_jax)(args, images, labels)
        # The first step (jax: tracing and compilation) is timed apart, on the first batch.
        start = time.perf_counter()
        step(convert(np.arange(args.batch)))
        first = time.perf_counter() - start
        rng = np.random.default_rng(args.seed)
        epochs = []
        for epoch in range(args.epochs):
            start = time.perf_counter()
            order = convert(rng.permutation(n))
            loss_sum, correct = 0.0, 0
            for s in range(steps):
                loss, c = step(order[s * args.batch:(s + 1) * args.batch])
                loss_sum += loss
                correct += c
            epochs.append({"epoch": epoch + 1, "seconds": time.perf_counter() - start, "loss": loss_sum / steps,
                           "accuracy": correct / (steps * args.batch)})
    except Exception as e:
        msg = str(e).strip().splitlines()
        print(json.dumps({"runner": args.runner, "error": "%s: %s" % (type(e).__name__, msg[0][:200] if msg else "")}))
        return
    print(json.dumps({"runner": args.runner, "model": args.model, "version": version, "threads": args.threads,
                      "device": args.device,
                      "steps_per_epoch": steps, "first_step_seconds": first, "epochs": epochs}))


if __name__ == "__main__":
    main()
