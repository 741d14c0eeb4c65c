"""Trusted references for the hidden tests: float64 NumPy closed forms and PyTorch autograd.

Nothing here comes from a student notebook or from the instructor's solution: the
references are written independently so that a shared mistake cannot pass unseen.
Gradients come from PyTorch autograd; finite differences are taken of the reference
losses here, never of a student's function.

Shapes follow the contract: X (N, D), y (N, 1), W (fan_in, fan_out), b (fan_out,).
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np
import torch
import torch.nn.functional as F

#: Finite-difference step: central differences, float64 (CURRICULUM.md step 4).
FD_STEP = 1e-6
#: Pre-activations closer than this to 0 are resampled: a gradient check that
#: straddles a ReLU kink disagrees for reasons that are not the student's.
KINK_MARGIN = 1e-3


# --------------------------------------------------------------------------- remembered references
#
# Every submission of a batch is graded with the same seed, so the hidden tests ask
# the same references of the same inputs again and again (training the XOR network,
# autograd gradients, finite differences: a third of a submission's test time). When
# ``remember()`` has been called, the functions marked ``@remembered`` keep what they
# computed, keyed by a digest of their exact arguments: the grader collects what each
# submission's process computed (``new_entries``) and hands it to the processes it
# forks after that (``add_entries``). An entry is a reference computed here, by this
# code, from those exact arguments: whoever asks gets the same value as if it had
# been computed again (a copy of it).

_memo: dict[bytes, object] | None = None
_new: dict[bytes, object] = {}
_memo_bytes = 0
#: What the remembered references may hold in all; beyond it nothing more is kept.
MEMO_LIMIT_BYTES = 64 * 1024 * 1024


class _Unkeyable(Exception):
    pass


def remember(on: bool = True) -> None:
    """Keep (``on``) or stop keeping the references of ``@remembered`` functions."""
    global _memo, _memo_bytes
    _memo, _memo_bytes = ({} if on else None), 0
    _new.clear()


def remembering() -> bool:
    """Whether ``@remembered`` functions keep their references (``remember`` was called)."""
    return _memo is not None


def new_entries() -> dict[bytes, object]:
    """What this process computed and kept since it started remembering (or was forked)."""
    return dict(_new)


def add_entries(entries: dict[bytes, object]) -> None:
    """Keep references another process computed (up to ``MEMO_LIMIT_BYTES``)."""
    global _memo_bytes
    if _memo is None:
        return
    for key, value in entries.items():
        size = _size(value)
        if key in _memo or _memo_bytes + size > MEMO_LIMIT_BYTES:
            continue
        _memo[key] = value
        _memo_bytes += size


def forget_new() -> None:
    """A forked process starts with nothing of its own to report."""
    _new.clear()


def remembered(function):
    """Mark a reference that depends on nothing but its arguments (plain data)."""
    name = f"{function.__module__}.{function.__qualname__}".encode()

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        if _memo is None:
            return function(*args, **kwargs)
        try:
            digest = hashlib.blake2b(name, digest_size=20)
            _feed(digest, (args, sorted(kwargs.items())))
        except _Unkeyable:
            return function(*args, **kwargs)
        key = digest.digest()
        if key not in _memo:
            value = function(*args, **kwargs)
            if _memo_bytes + _size(value) <= MEMO_LIMIT_BYTES:
                _memo[key] = _new[key] = _copy(value)
            return value
        return _copy(_memo[key])

    return wrapper


def _feed(digest, value) -> None:
    """Feed ``value`` to ``digest`` so that different plain data never digest alike."""
    kind = type(value)
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        digest.update(b"a" + array.dtype.str.encode() + repr(array.shape).encode() + b":")
        digest.update(array.tobytes())
    elif kind in (list, tuple):
        digest.update(b"l(" if kind is list else b"t(")
        for item in value:
            _feed(digest, item)
        digest.update(b")")
    elif kind is dict:
        digest.update(b"d(")
        for key, item in value.items():
            _feed(digest, key)
            _feed(digest, item)
        digest.update(b")")
    elif value is None or kind in (bool, int, float, str) or isinstance(value, np.generic):
        digest.update(kind.__name__.encode() + b"=" + repr(value).encode() + b";")
    else:
        raise _Unkeyable(kind.__name__)


def _copy(value):
    if isinstance(value, np.ndarray):
        return value.copy()
    if type(value) is dict:
        return {key: _copy(item) for key, item in value.items()}
    if type(value) in (list, tuple):
        return type(value)(_copy(item) for item in value)
    return value


def _size(value) -> int:
    if isinstance(value, np.ndarray):
        return value.nbytes
    if type(value) is dict:
        return sum(_size(item) for item in value.values()) + 64
    if type(value) in (list, tuple):
        return sum(_size(item) for item in value) + 64
    return 64


def _t(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float64))


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy().copy()


# --------------------------------------------------------------------------- 01_relu


def relu(z):
    return np.maximum(z, 0.0)


def relu_grad(z):
    # PyTorch's convention: the derivative at exactly 0 is 0.
    return (np.asarray(z) > 0).astype(np.float64)


def sigmoid(z):
    return _np(torch.sigmoid(_t(z)))


def sigmoid_grad(z):
    s = sigmoid(z)
    return s * (1.0 - s)


def central_difference(f, x, eps=FD_STEP):
    """``(f(x + eps e_i) - f(x - eps e_i)) / (2 eps)`` for every entry of ``x`` (any shape)."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        plus = f(x)
        x[i] = old - eps
        minus = f(x)
        x[i] = old
        grad[i] = (plus - minus) / (2.0 * eps)
    return grad


def perturbed_copies(x, eps=FD_STEP) -> np.ndarray:
    """Every copy of ``x`` that :func:`central_difference` evaluates, stacked: ``x + eps e_i``
    for each entry ``i`` in C order, then ``x - eps e_i``; shape ``(2 x.size, *x.shape)``."""
    x = np.array(x, dtype=np.float64)
    size = x.size
    copies = np.repeat(x[None], 2 * size, axis=0)
    flat = copies.reshape(2 * size, size)
    entry = np.arange(size)
    flat[entry, entry] = x.ravel() + eps
    flat[size + entry, entry] = x.ravel() - eps
    return copies


def central_difference_from(losses, x, eps=FD_STEP) -> np.ndarray:
    """:func:`central_difference` of ``x`` from ``losses``, the function's values at
    :func:`perturbed_copies` ``(x, eps)`` in that order."""
    losses = np.asarray(losses, dtype=np.float64)
    size = np.size(x)
    return ((losses[:size] - losses[size:]) / (2.0 * eps)).reshape(np.shape(x))


def mean_per_copy(values) -> np.ndarray:
    """``np.mean`` of each ``values[k]``, the same float as ``np.mean(values[k])``."""
    values = np.asarray(values)
    return np.mean(values.reshape(len(values), -1), axis=1)


def relative_error(a, b, tiny=1e-300) -> float:
    """``max|a - b| / max(max|a| + max|b|, tiny)``: 0 when equal, about 1 when unrelated."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    num = float(np.max(np.abs(a - b))) if a.size else 0.0
    den = (float(np.max(np.abs(a))) if a.size else 0.0) + (float(np.max(np.abs(b))) if b.size else 0.0)
    return num / max(den, tiny)


# ------------------------------------------------------------------------ 02_backward

TWO_LAYER_KEYS = ("W1", "b1", "W2", "b2")
#: Backward order: the gradient a backward pass computes first comes first.
TWO_LAYER_BACKWARD_ORDER = ("W2", "b2", "W1", "b1")


def two_layer_preactivation(X, params):
    return X @ params["W1"] + params["b1"]


def two_layer_forward(X, params):
    Z1 = _t(X) @ _t(params["W1"]) + _t(params["b1"])
    return _np(torch.relu(Z1) @ _t(params["W2"]) + _t(params["b2"]))


def mse_loss(out, y) -> float:
    return float(np.mean(0.5 * (np.asarray(out) - np.asarray(y)) ** 2))


def mse_loss_variants(out, y) -> dict[str, float]:
    """What the common wrong forms of the mean squared error give, by the key of the
    mistake (``grading_tests.diagnose.SCALAR_VARIANT_TEXT`` says them in words)."""
    out, y = np.asarray(out, dtype=np.float64), np.asarray(y, dtype=np.float64)
    variants = {"square_of_mean": float(0.5 * np.mean(out - y) ** 2),
                "square_of_mean_no_half": float(np.mean(out - y) ** 2)}
    if out.ndim == 2 and out.shape[1] == 1 and out.shape[0] > 1:
        variants["n_by_n_broadcast"] = float(np.mean(0.5 * (out.ravel() - y) ** 2))
    return variants


def two_layer_loss(X, y, params) -> float:
    return mse_loss(two_layer_forward(X, params), y)


@remembered
def two_layer_loss_central_difference(X, y, params, key, eps=FD_STEP) -> np.ndarray:
    """``central_difference(lambda p: two_layer_loss(X, y, {**params, key: p}), params[key])``.

    The same floats, computed for every perturbed copy at once: the layer before
    ``key`` once, the matrix products one copy at a time (a batched torch product
    rounds differently), everything elementwise on the stack. The loop over entries
    took ~0.1 ms per evaluation of the loss.
    """
    copies = torch.from_numpy(perturbed_copies(params[key], eps))
    tX, W1, b1, W2, b2 = _t(X), *(copies if k == key else _t(params[k]) for k in TWO_LAYER_KEYS)
    if key == "W1":
        Z1 = torch.stack([tX @ _aligned(W) for W in W1]) + b1
    elif key == "b1":
        Z1 = (tX @ W1) + b1[:, None, :]
    else:
        Z1 = tX @ W1 + b1
    A1 = torch.relu(Z1)
    if key == "W2":
        out = torch.stack([A1 @ _aligned(W) for W in W2]) + b2
    elif key == "b2":
        out = (A1 @ W2) + b2[:, None, :]
    else:
        out = torch.stack([_aligned(A) @ W2 for A in A1]) + b2
    losses = mean_per_copy(0.5 * (out.numpy() - np.asarray(y)) ** 2)
    return central_difference_from(losses, params[key], eps)


def _aligned(matrix: torch.Tensor) -> torch.Tensor:
    """``matrix``, copied if it does not start on a 16-byte boundary.

    torch's products (MKL) can round differently when an operand is 8 but not 16 bytes
    aligned (measured: 1 product in 40 to 1 in 200 differs in its last bit); a fresh
    array never is, a slice of a stack of copies can be, and a reference must not
    depend on where a copy sits. (NumPy's products do not depend on it.)
    """
    return matrix if matrix.data_ptr() % 16 == 0 else matrix.clone()


@remembered
def two_layer_grads(X, y, params):
    """Autograd gradients of ``mse_loss(forward(X, params), y)``, as float64 arrays."""
    p = {k: _t(params[k]).clone().requires_grad_(True) for k in TWO_LAYER_KEYS}
    out = torch.relu(_t(X) @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
    loss = torch.mean(0.5 * (out - _t(y)) ** 2)
    loss.backward()
    return {k: _np(p[k].grad) for k in TWO_LAYER_KEYS}


@remembered
def two_layer_grad_variants(X, y, params):
    """Gradients of the common wrong backward passes, by the key of the mistake
    (``grading_tests.diagnose.VARIANT_TEXT`` says them in words).

    Computed by hand in NumPy from the reference forward quantities; a student's
    gradients that match one of these (and not the truth) get that diagnosis.
    """
    N = X.shape[0]
    Z1 = two_layer_preactivation(X, params)
    A1 = relu(Z1)
    out = A1 @ params["W2"] + params["b2"]
    dout = (out - y) / N
    dA1 = dout @ params["W2"].T

    def grads(dZ1, dout=dout):
        return {"W2": A1.T @ dout, "b2": dout.sum(0), "W1": X.T @ dZ1, "b1": dZ1.sum(0)}

    return {
        "relu_mask_missing": grads(dA1),
        "relu_mask_wrong_tensor": grads(dA1 * (dA1 > 0)),
    }


# ----------------------------------------------------------------------------- 03_mlp


def layer_count(params) -> int:
    return sum(1 for k in params if k.startswith("W"))


def mlp_keys(L: int) -> tuple[str, ...]:
    return tuple(f"{p}{l}" for l in range(1, L + 1) for p in ("W", "b"))


def mlp_backward_order(L: int) -> tuple[str, ...]:
    return tuple(f"{p}{l}" for l in range(L, 0, -1) for p in ("W", "b"))


def init_mlp(layer_sizes, seed):
    """He initialisation exactly as the contract draws it."""
    rng = np.random.default_rng(seed)
    params = {}
    for l in range(1, len(layer_sizes)):
        fan_in, fan_out = layer_sizes[l - 1], layer_sizes[l]
        params[f"W{l}"] = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))
        params[f"b{l}"] = np.zeros(fan_out)
    return params


def init_mlp_fan_out(layer_sizes, seed):
    """The same draws scaled by fan_out: a frequent misreading of He initialisation."""
    rng = np.random.default_rng(seed)
    params = {}
    for l in range(1, len(layer_sizes)):
        fan_in, fan_out = layer_sizes[l - 1], layer_sizes[l]
        params[f"W{l}"] = rng.normal(0.0, np.sqrt(2.0 / fan_out), size=(fan_in, fan_out))
        params[f"b{l}"] = np.zeros(fan_out)
    return params


def init_mlp_legacy(layer_sizes, seed):
    """The same shapes from NumPy's legacy RNG (``np.random.seed(seed)`` then ``randn``)."""
    legacy = np.random.RandomState(seed)
    params = {}
    for l in range(1, len(layer_sizes)):
        fan_in, fan_out = layer_sizes[l - 1], layer_sizes[l]
        params[f"W{l}"] = legacy.randn(fan_in, fan_out) * np.sqrt(2.0 / fan_in)
        params[f"b{l}"] = np.zeros(fan_out)
    return params


def init_mlp_variance_as_std(layer_sizes, seed):
    """The same draws with the variance 2 / fan_in as the standard deviation."""
    rng = np.random.default_rng(seed)
    params = {}
    for l in range(1, len(layer_sizes)):
        fan_in, fan_out = layer_sizes[l - 1], layer_sizes[l]
        params[f"W{l}"] = rng.normal(0.0, 2.0 / fan_in, size=(fan_in, fan_out))
        params[f"b{l}"] = np.zeros(fan_out)
    return params


def init_variants(layer_sizes, seed):
    return {"he_fan_out": init_mlp_fan_out(layer_sizes, seed), "legacy_rng": init_mlp_legacy(layer_sizes, seed),
            "variance_as_std": init_mlp_variance_as_std(layer_sizes, seed)}


def mlp_preactivations(X, params):
    """The pre-activations ``Z1 .. ZL`` of the reference forward pass (NumPy)."""
    L = layer_count(params)
    A = X
    Zs = []
    for l in range(1, L + 1):
        Z = A @ params[f"W{l}"] + params[f"b{l}"]
        Zs.append(Z)
        A = relu(Z)
    return Zs


def _torch_mlp(X, p, L):
    A = _t(X)
    for l in range(1, L + 1):
        Z = A @ p[f"W{l}"] + p[f"b{l}"]
        A = torch.relu(Z) if l < L else torch.sigmoid(Z)
    return A


def mlp_forward(X, params):
    L = layer_count(params)
    return _np(_torch_mlp(X, {k: _t(v) for k, v in params.items()}, L))


def bce_of_probs(probs, y) -> float:
    """Mean BCE of probabilities (no clipping: references only meet probs inside (0, 1))."""
    return float(F.binary_cross_entropy(_t(probs), _t(y)))


def mlp_loss(X, y, params) -> float:
    """The mean BCE of the network's predictions, computed from the output logits.

    Equal to the BCE of ``probs`` but without its round-off: ``log(1 - p)`` for p near 1
    loses digits that a finite difference then divides by 2h.
    """
    return bce_with_logits(mlp_preactivations(X, params)[-1], y)


@remembered
def mlp_loss_central_difference(X, y, params, key, eps=FD_STEP) -> np.ndarray:
    """``central_difference(lambda p: mlp_loss(X, y, {**params, key: p}), params[key])``.

    The same floats, computed for every perturbed copy at once: the layers before
    ``key`` once, the rest on the stack of copies (NumPy multiplies a stack of matrices
    one matrix at a time, exactly as it multiplies one).
    """
    copies = perturbed_copies(params[key], eps)
    layer = int(key[1:])
    A = X
    for l in range(1, layer_count(params) + 1):
        W, b = params[f"W{l}"], params[f"b{l}"]
        if l == layer and key[0] == "W":
            Z = A @ copies + b
        elif l == layer:
            Z = (A @ W) + copies[:, None, :]
        else:
            Z = A @ W + b
        A = relu(Z)
    losses = mean_per_copy(np.maximum(Z, 0.0) - Z * y + np.log1p(np.exp(-np.abs(Z))))
    return central_difference_from(losses, params[key], eps)


@remembered
def mlp_grads(X, y, params):
    """Autograd gradients of the mean BCE of ``mlp_forward(X, params)`` against ``y``
    (through the logits, which is the same function without the round-off)."""
    L = layer_count(params)
    p = {k: _t(v).clone().requires_grad_(True) for k, v in params.items()}
    A = _t(X)
    for l in range(1, L + 1):
        Z = A @ p[f"W{l}"] + p[f"b{l}"]
        A = torch.relu(Z)
    F.binary_cross_entropy_with_logits(Z, _t(y)).backward()
    return {k: _np(p[k].grad) for k in mlp_keys(L)}


def mlp_grads_numpy(X, y, params, *, extra_sigmoid_derivative=False, relu_mask=True):
    """The same gradients by hand (fast; used for training trajectories and variants).

    ``extra_sigmoid_derivative`` multiplies dL/dZL by p(1 - p) once more, the classic
    mistake of chaining through the sigmoid after already using ``p - y``.
    """
    L = layer_count(params)
    return _mlp_backprop(_mlp_activations(X, params, L), y, params, L,
                         extra_sigmoid_derivative=extra_sigmoid_derivative, relu_mask=relu_mask)


def _mlp_activations(X, params, L):
    """``[X, A1, .., AL]`` of the forward pass by hand; ``AL`` are the probabilities."""
    As = [X]
    for l in range(1, L + 1):
        Z = As[-1] @ params[f"W{l}"] + params[f"b{l}"]
        As.append(relu(Z) if l < L else 1.0 / (1.0 + np.exp(-Z)))
    return As


def _mlp_backprop(As, y, params, L, *, extra_sigmoid_derivative=False, relu_mask=True):
    """The gradients of the mean BCE from the activations ``As`` of ``_mlp_activations``."""
    N = As[0].shape[0]
    probs = As[-1]
    dZ = (probs - y) / N
    if extra_sigmoid_derivative:
        dZ = dZ * probs * (1.0 - probs)
    grads = {}
    for l in range(L, 0, -1):
        grads[f"W{l}"] = As[l - 1].T @ dZ
        grads[f"b{l}"] = dZ.sum(0)
        if l > 1:
            dZ = dZ @ params[f"W{l}"].T
            if relu_mask:
                dZ = dZ * (As[l - 1] > 0)
    return grads


@remembered
def mlp_grad_variants(X, y, params):
    return {
        "extra_sigmoid_derivative": mlp_grads_numpy(X, y, params, extra_sigmoid_derivative=True),
        "relu_mask_missing": mlp_grads_numpy(X, y, params, relu_mask=False),
    }


def sgd_step(params, grads, lr):
    return {k: params[k] - lr * grads[k] for k in params}


@remembered
def train_mlp(X, y, layer_sizes, lr, epochs, seed, *, record_losses=True):
    """The contract's training loop; ``losses[i]`` is the loss before step ``i``
    (an empty list unless ``record_losses``: a caller that needs only the trained
    parameters saves a fifth of the time).

    One forward pass per step gives both the loss and the gradients (the XOR test
    trains 300 steps, and a second forward pass was a third of the time).
    """
    params = init_mlp(layer_sizes, seed)
    L = len(layer_sizes) - 1
    losses = []
    for _ in range(epochs):
        As = _mlp_activations(X, params, L)
        if record_losses:
            losses.append(bce_loss(As[-1], y))
        params = sgd_step(params, _mlp_backprop(As, y, params, L), lr)
    return params, losses


def xor_data(rng, n, margin=0.1):
    """XOR-style data: ``x ~ U([-1, 1]^2)``, ``y = 1[x1 * x2 < 0]``, kept ``margin`` off the axes."""
    X = rng.uniform(margin, 1.0, size=(n, 2)) * rng.choice([-1.0, 1.0], size=(n, 2))
    y = (X[:, :1] * X[:, 1:] < 0).astype(np.float64)
    return X, y


# ----------------------------------------------------------------------------- 04_bce


def bce_loss(probs, y, eps=1e-12) -> float:
    p = np.clip(probs, eps, 1.0 - eps)
    return float(np.mean(-(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))))


def bce_loss_variants(probs, y, eps=1e-12) -> dict[str, float]:
    """What the common wrong forms of the clipped mean BCE give (see ``mse_loss_variants``)."""
    probs, y = np.asarray(probs, dtype=np.float64), np.asarray(y, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        variants = {"log_p_plus_eps": float(np.mean(-(y * np.log(probs + eps) + (1.0 - y) * np.log(1.0 - probs + eps))))}
        for other in (1e-7, 1e-8, 1e-10, 1e-12, 1e-15, 1e-16):
            if other != eps:
                variants[f"clip_eps_{other:g}"] = bce_loss(probs, y, other)
        if probs.ndim == 2 and probs.shape[1] == 1 and probs.shape[0] > 1:
            p = np.clip(probs, eps, 1.0 - eps)
            variants["n_by_n_broadcast"] = float(np.mean(-(y.ravel() * np.log(p) + (1.0 - y.ravel()) * np.log(1.0 - p))))
    return variants


def bce_dloss_dprob(p, y):
    return -y / p + (1.0 - y) / (1.0 - p)


def bce_with_logits(z, y) -> float:
    """The stable closed form ``max(z, 0) - z y + log(1 + exp(-|z|))``, averaged."""
    z = np.asarray(z, dtype=np.float64)
    return float(np.mean(np.maximum(z, 0.0) - z * y + np.log1p(np.exp(-np.abs(z)))))


def bce_with_logits_torch(z, y) -> float:
    return float(F.binary_cross_entropy_with_logits(_t(z), _t(y)))


def bce_grad_logits(z, y):
    """Autograd gradient of ``binary_cross_entropy_with_logits`` (mean) w.r.t. ``z``."""
    zt = _t(z).clone().requires_grad_(True)
    F.binary_cross_entropy_with_logits(zt, _t(y)).backward()
    return _np(zt.grad)
