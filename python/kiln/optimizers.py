"""Optimizers for Model.compile, with Keras' names. An argument left as None takes Kiln's
default for that optimizer (docs/training.md); compile(optimizer="adam") is the same as Adam()."""


class Optimizer:
    name = None
    # Keras argument -> training-block field (ir/kiln.proto TrainingSpec).
    _fields = {"learning_rate": "learning_rate", "weight_decay": "weight_decay", "clipnorm": "clip_norm"}

    def __init__(self, **kwargs):
        self._values = {k: v for k, v in kwargs.items() if v is not None}

    def _training_fields(self):
        """[(field, value)] for the training block."""
        fields = [("optimizer", self.name)]
        for arg, value in self._values.items():
            fields.append((self._fields[arg], value))
        return fields

    def get_config(self):
        return {"name": self.name, **self._values}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    name = "sgd"
    _fields = {**Optimizer._fields, "momentum": "momentum", "nesterov": "nesterov"}

    def __init__(self, learning_rate=None, momentum=None, nesterov=None, weight_decay=None, clipnorm=None):
        super().__init__(learning_rate=learning_rate, momentum=momentum, nesterov=nesterov,
                         weight_decay=weight_decay, clipnorm=clipnorm)


class Adam(Optimizer):
    name = "adam"
    _fields = {**Optimizer._fields, "beta_1": "beta1", "beta_2": "beta2", "epsilon": "epsilon"}

    def __init__(self, learning_rate=None, beta_1=None, beta_2=None, epsilon=None, weight_decay=None, clipnorm=None):
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                         weight_decay=weight_decay, clipnorm=clipnorm)


class _RhoOptimizer(Optimizer):
    """RMSprop and Adadelta: a decay rate rho for the running averages."""

    _fields = {**Optimizer._fields, "rho": "rho", "epsilon": "epsilon"}

    def __init__(self, learning_rate=None, rho=None, epsilon=None, weight_decay=None, clipnorm=None):
        super().__init__(learning_rate=learning_rate, rho=rho, epsilon=epsilon, weight_decay=weight_decay,
                         clipnorm=clipnorm)


class RMSprop(_RhoOptimizer):
    name = "rmsprop"


class Adagrad(Optimizer):
    name = "adagrad"
    _fields = {**Optimizer._fields, "epsilon": "epsilon"}

    def __init__(self, learning_rate=None, epsilon=None, weight_decay=None, clipnorm=None):
        super().__init__(learning_rate=learning_rate, epsilon=epsilon, weight_decay=weight_decay, clipnorm=clipnorm)


class Adadelta(_RhoOptimizer):
    name = "adadelta"


def get(identifier):
    """An Optimizer from an instance or a name ("sgd", "adam", "momentum", "nesterov", ...)."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        opt = Optimizer()
        opt.name = identifier.lower()  # checked with the training block (unknown names raise)
        return opt
    raise TypeError(f"optimizer must be a name or a kiln.optimizers.Optimizer, got {type(identifier).__name__}")
