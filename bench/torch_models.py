"""The PyTorch networks of the benchmarks and of the test suite's reference models, in
one module (bench/jax_models.py has the benchmark ones in jax.numpy/lax).
make_models.py builds the benchmark models with fixed seeds, saves their weights and
exports them to ONNX; the torch runners rebuild them from the saved weights, so every
peer computes with the same numbers. scripts/make_reference_models.py builds
tests/data/models from the same classes (a smaller MLP, LeNet-5 with tanh, ResNet-8).
"""
import torch
import torch.nn.functional as F
from torch import nn


class Mlp(nn.Module):
    """784-h1-h2-10 (default 512-256), ReLU; returns the logits, or their log-softmax."""

    def __init__(self, hidden=(512, 256), log_softmax=False):
        super().__init__()
        self.fc1 = nn.Linear(784, hidden[0])
        self.fc2 = nn.Linear(hidden[0], hidden[1])
        self.fc3 = nn.Linear(hidden[1], 10)
        self.log_softmax = log_softmax

    def forward(self, x):
        y = self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))
        return F.log_softmax(y, dim=1) if self.log_softmax else y


class LeNet5(nn.Module):
    """LeNet-5 on 1x28x28: conv-relu-pool x2, fc 120-84-10 with `fc_activation` after the
    hidden fc layers (ReLU; tests/data/models/lenet5 uses the classic tanh)."""

    def __init__(self, fc_activation=F.relu):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)
        self.fc_activation = fc_activation

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # 6x14x14
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # 16x5x5
        x = torch.flatten(x, 1)
        act = self.fc_activation
        return self.fc3(act(self.fc2(act(self.fc1(x)))))


class BasicBlock(nn.Module):
    """conv3x3-bn-relu-conv3x3-bn + shortcut (identity, or conv1x1-bn when the shape changes), relu."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.shortcut is None else self.shortcut(x)))


class ResNet8(nn.Module):
    """CIFAR-style ResNet-8 on 3x32x32: stem conv-bn-relu (16), three stages of one basic
    block each (16, 32/2, 64/2), global average pooling, fc 10."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.block1 = BasicBlock(16, 16, 1)
        self.block2 = BasicBlock(16, 32, 2)
        self.block3 = BasicBlock(32, 64, 2)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        x = self.block3(self.block2(self.block1(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class MatMul(nn.Module):
    """x[N, N] @ w[N, N]: the large-matrix-product benchmark (the batch is N)."""

    def __init__(self, n):
        super().__init__()
        self.w = nn.Parameter(torch.empty(n, n).uniform_(-1, 1) / n**0.5)

    def forward(self, x):
        return x @ self.w


class TransformerEncoder(nn.Module):
    """nn.TransformerEncoder (batch first) with GELU feed-forward layers and, optionally, a
    causal self-attention mask over the fixed sequence length `seq`: the Transformer
    building blocks (LayerNorm, Softmax, Erf, masked attention) in one model."""

    def __init__(self, d_model=64, heads=4, layers=2, ff=128, seq=10, causal=True):
        super().__init__()
        layer = nn.TransformerEncoderLayer(d_model, heads, ff, dropout=0.0, activation="gelu", batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        mask = torch.triu(torch.full((seq, seq), float("-inf")), diagonal=1) if causal else None
        self.register_buffer("mask", mask)

    def forward(self, x):
        return self.encoder(x, mask=self.mask)


class Recurrent(nn.Module):
    """A 2-layer bidirectional nn.LSTM or nn.GRU in PyTorch's default layout (sequence first:
    [T, batch, features]) with a linear head on every step."""

    def __init__(self, cell="lstm", features=16, hidden=32, outputs=8):
        super().__init__()
        kind = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = kind(features, hidden, num_layers=2, bidirectional=True)
        self.head = nn.Linear(2 * hidden, outputs)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.head(y)


class SequenceRnn(nn.Module):
    """One nn.LSTM or nn.GRU layer (128 -> 128 by default), batch first ([batch, T, features]),
    every step's output returned: the recurrent-kernel benchmark."""

    def __init__(self, cell="lstm", features=128, hidden=128):
        super().__init__()
        self.rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell](features, hidden, batch_first=True)

    def forward(self, x):
        return self.rnn(x)[0]


def resnet50():
    import torchvision  # only this model needs it

    return torchvision.models.resnet50(weights=None)


class RowLstm(nn.Module):
    """Fashion-MNIST as sequences: the 28 rows of 28 pixels through nn.LSTM(28, 128), the
    last state into a dense 10 (bench/models/fmnist_lstm.kiln.txt)."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(28, 128, batch_first=True)
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        _, (h, _) = self.lstm(x.reshape(x.shape[0], 28, 28))
        return self.fc(h[0])


# Training models: Fashion-MNIST, input [batch, 1, 28, 28], logits out.
def train_mlp():
    """784-512-256-10 (bench/models/fmnist_mlp_512.kiln.txt)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                         nn.Linear(256, 10))


def train_cnn():
    """conv3x3(32)-relu-pool, conv3x3(64)-relu-pool, dense 128-relu, dense 10 (bench/models/fmnist_cnn.kiln.txt)."""
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(),
                         nn.Linear(128, 10))


# name -> (constructor, input shape without the batch, batch sizes, whether it has BatchNorm)
INFERENCE_MODELS = {
    "mlp": (Mlp, (784,), (1, 64), False),
    "lenet5": (LeNet5, (1, 28, 28), (1, 64), False),
    "resnet8": (ResNet8, (3, 32, 32), (1, 64), True),
    "resnet50": (resnet50, (3, 224, 224), (1, 64), True),
    "lstm": (lambda: SequenceRnn("lstm"), (32, 128), (1, 64), False),
    "gru": (lambda: SequenceRnn("gru"), (32, 128), (1, 64), False),
    "matmul1024": (lambda: MatMul(1024), (1024,), (1024,), False),
    "matmul2048": (lambda: MatMul(2048), (2048,), (2048,), False),
}
TRAIN_MODELS = {"mlp": train_mlp, "cnn": train_cnn, "lstm": RowLstm}


def load(name, weights_path):
    """The model `name` with the weights make_models.py saved (an .npz of the state dict), in eval mode."""
    import numpy as np

    model = INFERENCE_MODELS[name][0]()
    with np.load(weights_path) as w:
        state = {k: torch.from_numpy(w[k]) for k in w.files}
    model.load_state_dict(state)
    return model.eval()
