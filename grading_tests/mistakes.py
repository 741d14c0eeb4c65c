"""The catalogue of mistakes: realistic wrong implementations of single contract functions.

Each :class:`Mistake` replaces one function's solution cell (found by its nbgrader
``grade_id``, which is the function's name) in a copy of the instructor's notebook.
The project's tests grade every mistake with the hidden suite and check that it loses
points, only in tests tagged with the function it touches, and that the failure message
contains ``diagnosis`` when the mistake has a recognisable signature.

Regenerate the table in docs/mistakes.md (from this catalogue and a real grading run)::

    .venv/bin/python -m grading_tests.mistakes --write docs/mistakes.md
"""

from __future__ import annotations

import copy
import textwrap
from dataclasses import dataclass

from grading_tests import diagnose as d

AUTOGRAD_USED = "must use NumPy only"  # autograder.errors.AutogradUsed's message


@dataclass(frozen=True)
class Mistake:
    key: str
    notebook: str
    function: str
    description: str
    source: str  # the full replacement cell: the def (and any module-level lines it needs)
    diagnosis: str | None  # a phrase the failure message must contain, if the mistake has a signature


def _m(key, notebook, function, description, source, diagnosis=None) -> Mistake:
    return Mistake(key, notebook, function, description, textwrap.dedent(source).strip() + "\n", diagnosis)


MISTAKES: tuple[Mistake, ...] = (
    # ------------------------------------------------------------------------ 01_relu
    _m("relu-in-place", "01_relu", "relu", "zeroes the negative entries of z in place", """
        def relu(z):
            z[z < 0] = 0.0
            return z
        """, d.MODIFIED_IN_PLACE),
    _m("relu-grad-one-at-zero", "01_relu", "relu_grad", "uses z >= 0, so the derivative at the kink is 1", """
        def relu_grad(z):
            return (z >= 0).astype(np.float64)
        """, d.RELU_GRAD_AT_ZERO),
    _m("relu-grad-bool", "01_relu", "relu_grad", "returns the boolean mask instead of float64", """
        def relu_grad(z):
            return z > 0
        """, "dtype bool"),
    _m("sigmoid-float32", "01_relu", "sigmoid", "computes in float32", """
        def sigmoid(z):
            z = np.asarray(z, dtype=np.float32)
            e = np.exp(-np.abs(z))
            return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
        """, d.FLOAT32),
    _m("sigmoid-naive", "01_relu", "sigmoid", "the textbook 1 / (1 + exp(-z)): exact, but exp overflows and warns", """
        def sigmoid(z):
            return 1.0 / (1.0 + np.exp(-z))
        """, d.FP_WARNING),
    _m("sigmoid-exp-ratio", "01_relu", "sigmoid", "exp(z) / (1 + exp(z)): inf / inf at large z", """
        def sigmoid(z):
            e = np.exp(z)
            return e / (1.0 + e)
        """, d.FP_WARNING),
    _m("sigmoid-grad-of-activation", "01_relu", "sigmoid_grad",
       "treats z as if it were already sigmoid(z): z * (1 - z)", """
        def sigmoid_grad(z):
            return z * (1.0 - z)
        """),
    _m("sigmoid-grad-exp-form", "01_relu", "sigmoid_grad", "exp(-z) / (1 + exp(-z))**2: nan at large |z|", """
        def sigmoid_grad(z):
            e = np.exp(-z)
            return e / (1.0 + e) ** 2
        """, d.FP_WARNING),
    _m("numgrad-forward-difference", "01_relu", "numerical_gradient", "a forward difference, O(h) accurate", """
        def numerical_gradient(f, x, eps=1e-6):
            x = np.array(x, dtype=np.float64)
            grad = np.zeros_like(x)
            fx = f(x)
            for i in np.ndindex(x.shape):
                step = x.copy()
                step[i] += eps
                grad[i] = (f(step) - fx) / eps
            return grad
        """, d.FORWARD_DIFFERENCE),
    _m("numgrad-no-restore", "01_relu", "numerical_gradient", "perturbs x in place and never restores it", """
        def numerical_gradient(f, x, eps=1e-6):
            grad = np.zeros_like(x, dtype=np.float64)
            for i in np.ndindex(x.shape):
                x[i] += eps
                f_plus = f(x)
                x[i] -= 2 * eps
                f_minus = f(x)
                grad[i] = (f_plus - f_minus) / (2 * eps)
            return grad
        """, d.MODIFIED_IN_PLACE),
    _m("numgrad-fixed-step", "01_relu", "numerical_gradient", "ignores eps and always steps 1e-5", """
        def numerical_gradient(f, x, eps=1e-6):
            h = 1e-5
            x = np.array(x, dtype=np.float64)
            grad = np.zeros_like(x)
            for i in np.ndindex(x.shape):
                old = x[i]
                x[i] = old + h
                f_plus = f(x)
                x[i] = old - h
                f_minus = f(x)
                x[i] = old
                grad[i] = (f_plus - f_minus) / (2 * h)
            return grad
        """, d.EPS_IGNORED),
    _m("numgrad-rows-only", "01_relu", "numerical_gradient", "indexes x[i], which is a whole row of a 2-D x", """
        def numerical_gradient(f, x, eps=1e-6):
            x = np.array(x, dtype=np.float64)
            grad = np.zeros_like(x)
            for i in range(len(x)):
                plus, minus = x.copy(), x.copy()
                plus[i] += eps
                minus[i] -= eps
                grad[i] = (f(plus) - f(minus)) / (2 * eps)
            return grad
        """),
    # --------------------------------------------------------------------- 02_backward
    _m("forward-no-bias", "02_backward", "forward", "forgets the hidden bias b1", """
        def forward(X, params):
            Z1 = X @ params["W1"]
            A1 = np.maximum(Z1, 0.0)
            out = A1 @ params["W2"] + params["b2"]
            return out, {"Z1": Z1, "A1": A1, "out": out}
        """),
    _m("forward-hardcoded-example", "02_backward", "forward",
       "cheat: returns the public example's answer whatever the input", """
        def forward(X, params):
            out = np.array([[5.0], [9.0]])
            return out, {"Z1": np.zeros((2, 2)), "A1": np.zeros((2, 2)), "out": out}
        """),
    _m("mse-summed", "02_backward", "mse_loss", "sums over the batch instead of averaging", """
        def mse_loss(out, y):
            return float(np.sum(0.5 * (out - y) ** 2))
        """, d.SUMMED_NOT_AVERAGED),
    _m("mse-no-half", "02_backward", "mse_loss", "drops the 1/2", """
        def mse_loss(out, y):
            return float(np.mean((out - y) ** 2))
        """, d.FACTOR_2),
    _m("mse-returns-array", "02_backward", "mse_loss", "returns a 1-element array, not a float", """
        def mse_loss(out, y):
            return np.mean(0.5 * (out - y) ** 2, axis=0)
        """, "Python float"),
    _m("mse-hardcoded-example", "02_backward", "mse_loss",
       "cheat: returns the public examples' answers (1.25, or 0.0)", """
        def mse_loss(out, y):
            return 1.25 if out.shape == (2, 1) else 0.0
        """),
    _m("backward-no-mean", "02_backward", "backward", "forgets the 1/N of the mean loss", """
        def backward(X, y, params, cache):
            d_out = cache["out"] - y
            d_Z1 = (d_out @ params["W2"].T) * (cache["Z1"] > 0)
            return {"W1": X.T @ d_Z1, "b1": d_Z1.sum(axis=0),
                    "W2": cache["A1"].T @ d_out, "b2": d_out.sum(axis=0)}
        """, d.SUMMED_NOT_AVERAGED),
    _m("backward-bias-not-summed", "02_backward", "backward", "returns per-sample bias gradients", """
        def backward(X, y, params, cache):
            d_out = (cache["out"] - y) / X.shape[0]
            d_Z1 = (d_out @ params["W2"].T) * (cache["Z1"] > 0)
            return {"W1": X.T @ d_Z1, "b1": d_Z1, "W2": cache["A1"].T @ d_out, "b2": d_out}
        """, d.BIAS_NOT_SUMMED),
    _m("backward-no-relu-mask", "02_backward", "backward", "lets the gradient through ReLU everywhere", """
        def backward(X, y, params, cache):
            d_out = (cache["out"] - y) / X.shape[0]
            d_Z1 = d_out @ params["W2"].T
            return {"W1": X.T @ d_Z1, "b1": d_Z1.sum(axis=0),
                    "W2": cache["A1"].T @ d_out, "b2": d_out.sum(axis=0)}
        """, d.RELU_MASK_MISSING),
    _m("backward-mask-from-gradient", "02_backward", "backward",
       "masks with the incoming gradient's sign instead of Z1 > 0", """
        def backward(X, y, params, cache):
            d_out = (cache["out"] - y) / X.shape[0]
            d_A1 = d_out @ params["W2"].T
            d_Z1 = d_A1 * (d_A1 > 0)
            return {"W1": X.T @ d_Z1, "b1": d_Z1.sum(axis=0),
                    "W2": cache["A1"].T @ d_out, "b2": d_out.sum(axis=0)}
        """, d.RELU_MASK_WRONG),
    _m("backward-transposed-dW1", "02_backward", "backward", "multiplies in the wrong order: dZ1.T @ X", """
        def backward(X, y, params, cache):
            d_out = (cache["out"] - y) / X.shape[0]
            d_Z1 = (d_out @ params["W2"].T) * (cache["Z1"] > 0)
            return {"W1": d_Z1.T @ X, "b1": d_Z1.sum(axis=0),
                    "W2": cache["A1"].T @ d_out, "b2": d_out.sum(axis=0)}
        """, d.TRANSPOSED),
    _m("backward-sign-flip", "02_backward", "backward", "uses y - out as the output error", """
        def backward(X, y, params, cache):
            d_out = (y - cache["out"]) / X.shape[0]
            d_Z1 = (d_out @ params["W2"].T) * (cache["Z1"] > 0)
            return {"W1": X.T @ d_Z1, "b1": d_Z1.sum(axis=0),
                    "W2": cache["A1"].T @ d_out, "b2": d_out.sum(axis=0)}
        """, d.SIGN_FLIP),
    _m("backward-calls-autograd", "02_backward", "backward", "cheat: computes the 'manual' gradients with autograd", """
        def backward(X, y, params, cache):
            leaves = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
            out = torch.relu(torch.tensor(X) @ leaves["W1"] + leaves["b1"]) @ leaves["W2"] + leaves["b2"]
            torch.mean(0.5 * (out - torch.tensor(y)) ** 2).backward()
            return {k: v.grad.numpy() for k, v in leaves.items()}
        """, AUTOGRAD_USED),
    _m("autograd-float32", "02_backward", "autograd_grads", "builds the tensors in float32", """
        def autograd_grads(X, y, params):
            leaves = {k: torch.tensor(v, dtype=torch.float32, requires_grad=True) for k, v in params.items()}
            X_t, y_t = torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
            out = torch.relu(X_t @ leaves["W1"] + leaves["b1"]) @ leaves["W2"] + leaves["b2"]
            torch.mean(0.5 * (out - y_t) ** 2).backward()
            return {k: v.grad.numpy() for k, v in leaves.items()}
        """, d.FLOAT32),
    # -------------------------------------------------------------------------- 03_mlp
    _m("init-fan-out", "03_mlp", "init_mlp", "scales by fan_out instead of fan_in", """
        def init_mlp(layer_sizes, seed):
            rng = np.random.default_rng(seed)
            params = {}
            for l in range(1, len(layer_sizes)):
                fan_in, fan_out = layer_sizes[l - 1], layer_sizes[l]
                params[f"W{l}"] = rng.normal(0.0, np.sqrt(2.0 / fan_out), size=(fan_in, fan_out))
                params[f"b{l}"] = np.zeros(fan_out)
            return params
        """, d.HE_FAN_OUT),
    _m("init-legacy-rng", "03_mlp", "init_mlp", "uses np.random.seed and np.random.randn", """
        def init_mlp(layer_sizes, seed):
            np.random.seed(seed)
            params = {}
            for l in range(1, len(layer_sizes)):
                fan_in, fan_out = layer_sizes[l - 1], layer_sizes[l]
                params[f"W{l}"] = np.random.randn(fan_in, fan_out) * np.sqrt(2.0 / fan_in)
                params[f"b{l}"] = np.zeros(fan_out)
            return params
        """, d.LEGACY_RNG),
    _m("init-shared-generator", "03_mlp", "init_mlp",
       "keeps one generator across calls, so a second call draws different weights", """
        _generator = {}


        def init_mlp(layer_sizes, seed):
            rng = _generator.setdefault("rng", np.random.default_rng(seed))
            params = {}
            for l in range(1, len(layer_sizes)):
                fan_in, fan_out = layer_sizes[l - 1], layer_sizes[l]
                params[f"W{l}"] = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))
                params[f"b{l}"] = np.zeros(fan_out)
            return params
        """, d.STATE_KEPT),
    _m("mlp-forward-relu-on-output", "03_mlp", "mlp_forward", "applies ReLU to the output layer before the sigmoid", """
        def mlp_forward(X, params):
            L = sum(1 for k in params if k.startswith("W"))
            A, cache = X, {"A0": X}
            for l in range(1, L + 1):
                Z = A @ params[f"W{l}"] + params[f"b{l}"]
                A = np.maximum(Z, 0.0)
                if l == L:
                    A = 1.0 / (1.0 + np.exp(-A))
                cache[f"Z{l}"], cache[f"A{l}"] = Z, A
            return A, cache
        """),
    _m("mlp-forward-fixed-depth", "03_mlp", "mlp_forward", "hard-codes the default 4-layer network", """
        def mlp_forward(X, params):
            cache = {"A0": X}
            A = X
            for l in range(1, 5):
                Z = A @ params[f"W{l}"] + params[f"b{l}"]
                A = np.maximum(Z, 0.0) if l < 4 else 1.0 / (1.0 + np.exp(-Z))
                cache[f"Z{l}"], cache[f"A{l}"] = Z, A
            return A, cache
        """),
    _m("mlp-backward-extra-sigmoid-derivative", "03_mlp", "mlp_backward",
       "multiplies (p - y) by p * (1 - p) again", """
        def mlp_backward(y, params, cache):
            L = sum(1 for k in params if k.startswith("W"))
            p = cache[f"A{L}"]
            d_Z = (p - y) / y.shape[0] * p * (1.0 - p)
            grads = {}
            for l in range(L, 0, -1):
                grads[f"W{l}"] = cache[f"A{l - 1}"].T @ d_Z
                grads[f"b{l}"] = d_Z.sum(axis=0)
                if l > 1:
                    d_Z = (d_Z @ params[f"W{l}"].T) * (cache[f"Z{l - 1}"] > 0)
            return grads
        """, d.EXTRA_SIGMOID_DERIVATIVE),
    _m("mlp-backward-no-mean", "03_mlp", "mlp_backward", "forgets the 1/N", """
        def mlp_backward(y, params, cache):
            L = sum(1 for k in params if k.startswith("W"))
            d_Z = cache[f"A{L}"] - y
            grads = {}
            for l in range(L, 0, -1):
                grads[f"W{l}"] = cache[f"A{l - 1}"].T @ d_Z
                grads[f"b{l}"] = d_Z.sum(axis=0)
                if l > 1:
                    d_Z = (d_Z @ params[f"W{l}"].T) * (cache[f"Z{l - 1}"] > 0)
            return grads
        """, d.SUMMED_NOT_AVERAGED),
    _m("mlp-backward-bias-not-summed", "03_mlp", "mlp_backward", "keeps per-sample bias gradients", """
        def mlp_backward(y, params, cache):
            L = sum(1 for k in params if k.startswith("W"))
            d_Z = (cache[f"A{L}"] - y) / y.shape[0]
            grads = {}
            for l in range(L, 0, -1):
                grads[f"W{l}"] = cache[f"A{l - 1}"].T @ d_Z
                grads[f"b{l}"] = d_Z
                if l > 1:
                    d_Z = (d_Z @ params[f"W{l}"].T) * (cache[f"Z{l - 1}"] > 0)
            return grads
        """, d.BIAS_NOT_SUMMED),
    _m("mlp-backward-calls-autograd", "03_mlp", "mlp_backward", "cheat: replays the network in torch", """
        def mlp_backward(y, params, cache):
            L = sum(1 for k in params if k.startswith("W"))
            leaves = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
            A = torch.tensor(cache["A0"])
            for l in range(1, L + 1):
                Z = A @ leaves[f"W{l}"] + leaves[f"b{l}"]
                A = torch.relu(Z) if l < L else torch.sigmoid(Z)
            torch.nn.functional.binary_cross_entropy(A, torch.tensor(y)).backward()
            return {k: v.grad.numpy() for k, v in leaves.items()}
        """, AUTOGRAD_USED),
    _m("sgd-in-place", "03_mlp", "sgd_step", "updates the parameter arrays in place", """
        def sgd_step(params, grads, lr):
            for k in params:
                params[k] -= lr * grads[k]
            return params
        """, d.MODIFIED_IN_PLACE),
    _m("sgd-ascent", "03_mlp", "sgd_step", "adds the gradient: p + lr * g", """
        def sgd_step(params, grads, lr):
            return {k: v + lr * grads[k] for k, v in params.items()}
        """, d.SIGN_FLIP),
    _m("train-loss-after-step", "03_mlp", "train_mlp", "records the loss after each step", """
        def train_mlp(X, y, layer_sizes, lr, epochs, seed):
            params = init_mlp(layer_sizes, seed)
            losses = []
            for _ in range(epochs):
                probs, cache = mlp_forward(X, params)
                params = sgd_step(params, mlp_backward(y, params, cache), lr)
                p = np.clip(mlp_forward(X, params)[0], 1e-12, 1 - 1e-12)
                losses.append(float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))))
            return params, losses
        """, d.LOSS_AFTER_STEP),
    _m("train-ignores-seed", "03_mlp", "train_mlp", "initialises with seed 0 whatever seed it is given", """
        def train_mlp(X, y, layer_sizes, lr, epochs, seed):
            params = init_mlp(layer_sizes, 0)
            losses = []
            for _ in range(epochs):
                probs, cache = mlp_forward(X, params)
                p = np.clip(probs, 1e-12, 1 - 1e-12)
                losses.append(float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))))
                params = sgd_step(params, mlp_backward(y, params, cache), lr)
            return params, losses
        """),
    _m("to-torch-no-transpose", "03_mlp", "to_torch", "copies W into Linear.weight without transposing", """
        def to_torch(params):
            L = sum(1 for k in params if k.startswith("W"))
            layers = []
            for l in range(1, L + 1):
                linear = torch.nn.Linear(*params[f"W{l}"].shape, dtype=torch.float64)
                linear.weight = torch.nn.Parameter(torch.tensor(params[f"W{l}"]))
                linear.bias = torch.nn.Parameter(torch.tensor(params[f"b{l}"]))
                layers += [linear, torch.nn.ReLU() if l < L else torch.nn.Sigmoid()]
            return torch.nn.Sequential(*layers)
        """, d.TRANSPOSED),
    _m("to-torch-float32", "03_mlp", "to_torch", "leaves the layers in PyTorch's default float32", """
        def to_torch(params):
            L = sum(1 for k in params if k.startswith("W"))
            layers = []
            for l in range(1, L + 1):
                linear = torch.nn.Linear(*params[f"W{l}"].shape)
                with torch.no_grad():
                    linear.weight.copy_(torch.tensor(params[f"W{l}"].T))
                    linear.bias.copy_(torch.tensor(params[f"b{l}"]))
                layers += [linear, torch.nn.ReLU() if l < L else torch.nn.Sigmoid()]
            return torch.nn.Sequential(*layers)
        """, d.FLOAT32),
    _m("to-torch-no-sigmoid", "03_mlp", "to_torch", "ends with the last Linear, no Sigmoid", """
        def to_torch(params):
            L = sum(1 for k in params if k.startswith("W"))
            layers = []
            for l in range(1, L + 1):
                linear = torch.nn.Linear(*params[f"W{l}"].shape, dtype=torch.float64)
                with torch.no_grad():
                    linear.weight.copy_(torch.tensor(params[f"W{l}"].T))
                    linear.bias.copy_(torch.tensor(params[f"b{l}"]))
                layers += [linear] + ([torch.nn.ReLU()] if l < L else [])
            return torch.nn.Sequential(*layers)
        """),
    # -------------------------------------------------------------------------- 04_bce
    _m("bce-no-clip", "04_bce", "bce_loss", "ignores eps: log(0) at probabilities of exactly 0 or 1", """
        def bce_loss(probs, y, eps=1e-12):
            return float(np.mean(-(y * np.log(probs) + (1 - y) * np.log(1 - probs))))
        """, d.NON_FINITE),
    _m("bce-summed", "04_bce", "bce_loss", "sums over the batch", """
        def bce_loss(probs, y, eps=1e-12):
            p = np.clip(probs, eps, 1 - eps)
            return float(np.sum(-(y * np.log(p) + (1 - y) * np.log(1 - p))))
        """, d.SUMMED_NOT_AVERAGED),
    _m("bce-dloss-divided-by-n", "04_bce", "bce_dloss_dprob", "divides the per-sample derivative by N", """
        def bce_dloss_dprob(p, y):
            return (-y / p + (1 - y) / (1 - p)) / len(p)
        """, d.DIVIDED_BY_N),
    _m("bce-dloss-sign-flip", "04_bce", "bce_dloss_dprob", "y / p - (1 - y) / (1 - p)", """
        def bce_dloss_dprob(p, y):
            return y / p - (1 - y) / (1 - p)
        """, d.SIGN_FLIP),
    _m("bce-logits-through-probs", "04_bce", "bce_with_logits", "clips sigmoid(z), losing exactness at large |z|", """
        def bce_with_logits(z, y):
            p = np.clip(0.5 * (1 + np.tanh(z / 2)), 1e-12, 1 - 1e-12)
            return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))
        """, d.NOT_EXACT_AT_EXTREMES),
    _m("bce-logits-overflow", "04_bce", "bce_with_logits", "log(1 + exp(-z)) overflows for very negative z", """
        def bce_with_logits(z, y):
            return float(np.mean(np.log(1 + np.exp(-z)) + (1 - y) * z))
        """, d.FP_WARNING),
    _m("bce-grad-logits-no-mean", "04_bce", "bce_grad_logits", "forgets the 1/N", """
        def bce_grad_logits(z, y):
            return 0.5 * (1 + np.tanh(z / 2)) - y
        """, d.SUMMED_NOT_AVERAGED),
    _m("bce-grad-logits-sign-flip", "04_bce", "bce_grad_logits", "(y - sigmoid(z)) / N", """
        def bce_grad_logits(z, y):
            return (y - 0.5 * (1 + np.tanh(z / 2))) / z.size
        """, d.SIGN_FLIP),
)


def apply_mistake(nb, mistake: Mistake):
    """A copy of notebook ``nb`` whose solution cell for ``mistake.function`` holds ``mistake.source``."""
    changed = copy.deepcopy(nb)
    for cell in changed.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == mistake.function:
            cell.source = mistake.source
            cell.outputs = []
            return changed
    raise KeyError(f"{mistake.notebook}.ipynb has no cell with grade_id {mistake.function!r}")


# ----------------------------------------------------------------- running the catalogue


class OneNotebookChanged:
    """A provider: notebook ``stem`` from ``changed``, the others from ``base``.

    Notebooks share nothing, so a mistake in one cannot affect the others; borrowing
    the solution's executed notebooks keeps grading the catalogue fast.
    """

    def __init__(self, base, stem: str, changed):
        self.base, self.stem, self.changed = base, stem, changed

    def notebook(self, stem: str):
        return (self.changed if stem == self.stem else self.base).notebook(stem)


def mistake_submission(mistake: Mistake, solution, folder, source_dir=None):
    """Write the mistake's notebook into ``folder``; a provider grading it in-process
    with ``solution`` (an executed provider of the source notebooks) for the rest."""
    from pathlib import Path

    import nbformat

    from autograder.inprocess import InProcessSubmission
    from autograder.paths import SOURCE_DIR

    source_dir = Path(source_dir) if source_dir is not None else SOURCE_DIR
    folder = Path(folder)
    notebook = nbformat.read(source_dir / f"{mistake.notebook}.ipynb", as_version=4)
    nbformat.write(apply_mistake(notebook, mistake), str(folder / f"{mistake.notebook}.ipynb"))
    return OneNotebookChanged(solution, mistake.notebook, InProcessSubmission(folder, source_dir=source_dir))


def outcome_row(mistake: Mistake, run) -> dict:
    """What grading the mistake gave, in the terms the table and the tests use."""
    failed = [test for test in run.tests if test.status == "failed"]
    messages = "\n".join(test.output for test in failed)
    return {
        "points_lost": run.max_score - run.score,
        "failed": len(failed),
        "outside": [test.name for test in failed if mistake.function not in test.tags],
        "named": mistake.diagnosis is not None and mistake.diagnosis in messages,
        "first_message": failed[0].output.splitlines()[0] if failed and failed[0].output else "",
        "internal": [test.name for test in failed if test.internal_error],
    }


def render_table(rows, seed: int) -> str:
    lines = [
        "# The mistake catalogue",
        "",
        f"{len(rows)} realistic wrong implementations of single contract functions (and a few cheats), "
        "each applied to the solution notebook and graded by the hidden tests. *Lost* is the points "
        "the hidden suite takes off; *failed* the number of failing tests, all of them tagged with the "
        "function the mistake touches; *diagnosis* the phrase the failure message must contain when "
        "the mistake has a recognisable signature (checked: ✓).",
        "",
        f"Generated from `grading_tests/mistakes.py` and a grading run (seed {seed}); do not edit by "
        "hand. Regenerate with `.venv/bin/python -m grading_tests.mistakes --write docs/mistakes.md`.",
        "",
        "| notebook | function | mistake | diagnosis | lost | failed | first failure message (start) |",
        "|---|---|---|---|---:|---:|---|",
    ]
    for mistake, row in rows:
        diagnosis = f"{mistake.diagnosis} {'✓' if row['named'] else '✗ (not named)'}" if mistake.diagnosis else "—"
        message = row["first_message"]
        message = message if len(message) <= 160 else message[:157] + "..."
        lines.append(f"| {mistake.notebook} | `{mistake.function}` | {_cell(mistake.description)} (`{mistake.key}`) "
                     f"| {_cell(diagnosis)} | {row['points_lost']:g} | {row['failed']} | {_cell(message)} |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def main(argv=None) -> int:
    import argparse
    import tempfile
    from pathlib import Path

    from autograder.grading.suite import run_hidden_tests
    from autograder.inprocess import InProcessSubmission
    from autograder.paths import SOURCE_DIR

    parser = argparse.ArgumentParser(description="Grade every catalogued mistake; print or write the table.")
    parser.add_argument("--write", metavar="PATH", help="write the Markdown table there (default: print it)")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)

    solution = InProcessSubmission(SOURCE_DIR)
    rows, problems = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for index, mistake in enumerate(MISTAKES):
            folder = Path(tmp) / str(index)
            folder.mkdir()
            run = run_hidden_tests(mistake_submission(mistake, solution, folder), args.seed)
            row = outcome_row(mistake, run)
            rows.append((mistake, row))
            if not row["failed"] or row["outside"] or row["internal"] or (mistake.diagnosis and not row["named"]):
                problems.append(f"{mistake.key}: {row}")
    table = render_table(rows, args.seed)
    if args.write:
        Path(args.write).write_text(table, encoding="utf-8")
        print(f"wrote {args.write}: {len(rows)} mistakes")
    else:
        print(table)
    for problem in problems:
        print(f"NOT AS EXPECTED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
