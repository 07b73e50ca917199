"""The benchmark's models in jax.numpy/lax, on the PyTorch weights (the state dict
saved by make_models.py as .npz: the same names, NCHW activations and OIHW
kernels). Each builder returns (forward(params, x), params); forward is pure, to
be wrapped in jax.jit. Layers follow PyTorch's semantics (bench/torch_models.py).
"""
import jax.numpy as jnp
import numpy as np
from jax import lax

BN_EPS = 1e-5


def linear(p, name, x):
    return x @ p[name + ".weight"].T + p[name + ".bias"]


def conv(p, name, x, stride=1, padding=0, bias=True):
    y = lax.conv_general_dilated(x, p[name + ".weight"], (stride, stride), [(padding, padding)] * 2,
                                 dimension_numbers=("NCHW", "OIHW", "NCHW"))
    return y + p[name + ".bias"][None, :, None, None] if bias else y


def batch_norm(p, name, x):
    """Inference BatchNorm with the running statistics."""
    scale = p[name + ".weight"] * lax.rsqrt(p[name + ".running_var"] + BN_EPS)
    shift = p[name + ".bias"] - p[name + ".running_mean"] * scale
    return x * scale[None, :, None, None] + shift[None, :, None, None]


def max_pool(x, k, stride, padding=0):
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, k, k), (1, 1, stride, stride),
                             [(0, 0), (0, 0), (padding, padding), (padding, padding)])


relu = lambda x: jnp.maximum(x, 0)  # noqa: E731


def mlp(p, x):
    return linear(p, "fc3", relu(linear(p, "fc2", relu(linear(p, "fc1", x)))))


def lenet5(p, x):
    x = max_pool(relu(conv(p, "conv1", x, padding=2)), 2, 2)
    x = max_pool(relu(conv(p, "conv2", x)), 2, 2)
    x = x.reshape(x.shape[0], -1)
    return linear(p, "fc3", relu(linear(p, "fc2", relu(linear(p, "fc1", x)))))


def basic_block(p, name, x, stride):
    out = relu(batch_norm(p, name + ".bn1", conv(p, name + ".conv1", x, stride, 1, bias=False)))
    out = batch_norm(p, name + ".bn2", conv(p, name + ".conv2", out, 1, 1, bias=False))
    if name + ".shortcut.0.weight" in p:
        x = batch_norm(p, name + ".shortcut.1", conv(p, name + ".shortcut.0", x, stride, bias=False))
    return relu(out + x)


def resnet8(p, x):
    x = relu(batch_norm(p, "bn", conv(p, "conv", x, padding=1, bias=False)))
    x = basic_block(p, "block1", x, 1)
    x = basic_block(p, "block2", x, 2)
    x = basic_block(p, "block3", x, 2)
    return linear(p, "fc", jnp.mean(x, axis=(2, 3)))


def bottleneck(p, name, x, stride):
    """torchvision's Bottleneck (v1.5: the stride on the 3x3 convolution)."""
    out = relu(batch_norm(p, name + ".bn1", conv(p, name + ".conv1", x, bias=False)))
    out = relu(batch_norm(p, name + ".bn2", conv(p, name + ".conv2", out, stride, 1, bias=False)))
    out = batch_norm(p, name + ".bn3", conv(p, name + ".conv3", out, bias=False))
    if name + ".downsample.0.weight" in p:
        x = batch_norm(p, name + ".downsample.1", conv(p, name + ".downsample.0", x, stride, bias=False))
    return relu(out + x)


def resnet50(p, x):
    x = relu(batch_norm(p, "bn1", conv(p, "conv1", x, 2, 3, bias=False)))
    x = max_pool(x, 3, 2, 1)
    for layer, blocks in enumerate((3, 4, 6, 3), start=1):
        for b in range(blocks):
            x = bottleneck(p, "layer%d.%d" % (layer, b), x, 2 if layer > 1 and b == 0 else 1)
    return linear(p, "fc", jnp.mean(x, axis=(2, 3)))


def matmul(p, x):
    return x @ p["w"]


FORWARD = {"mlp": mlp, "lenet5": lenet5, "resnet8": resnet8, "resnet50": resnet50, "matmul1024": matmul,
           "matmul2048": matmul}


def load(name, weights_path):
    """(forward, params) for model `name`; params are device arrays (BatchNorm's step counters dropped)."""
    with np.load(weights_path) as w:
        params = {k: jnp.asarray(w[k]) for k in w.files if not k.endswith("num_batches_tracked")}
    return FORWARD[name], params


# ---- Training models (Fashion-MNIST, [batch, 1, 28, 28] -> logits), initialized here ----

def init_train_params(name, seed=0):
    """He-normal kernels and zero biases for the training models (torch_models.train_*)."""
    rng = np.random.default_rng(seed)

    def he(shape, fan_in):
        return jnp.asarray(rng.normal(0, np.sqrt(2.0 / fan_in), shape).astype(np.float32))

    if name == "mlp":
        dims = [(784, 512), (512, 256), (256, 10)]
        return {"fc%d.%s" % (i, k): v for i, (a, b) in enumerate(dims)
                for k, v in (("weight", he((b, a), a)), ("bias", jnp.zeros(b, jnp.float32)))}
    return {"conv1.weight": he((32, 1, 3, 3), 9), "conv1.bias": jnp.zeros(32, jnp.float32),
            "conv2.weight": he((64, 32, 3, 3), 288), "conv2.bias": jnp.zeros(64, jnp.float32),
            "fc0.weight": he((128, 3136), 3136), "fc0.bias": jnp.zeros(128, jnp.float32),
            "fc1.weight": he((10, 128), 128), "fc1.bias": jnp.zeros(10, jnp.float32)}


def train_forward(name, p, x):
    if name == "mlp":
        x = x.reshape(x.shape[0], -1)
        return linear(p, "fc2", relu(linear(p, "fc1", relu(linear(p, "fc0", x)))))
    x = max_pool(relu(conv(p, "conv1", x, padding=1)), 2, 2)
    x = max_pool(relu(conv(p, "conv2", x, padding=1)), 2, 2)
    x = x.reshape(x.shape[0], -1)
    return linear(p, "fc1", relu(linear(p, "fc0", x)))
