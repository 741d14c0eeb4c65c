"""The catalogue of mistakes: realistic wrong implementations of contract functions.

Each :class:`Mistake` replaces one function's solution cell (found by its nbgrader
``grade_id``, which is the function's name) in a copy of the instructor's notebook;
a mistake split across two functions (``also``) replaces both cells.
The project's tests grade every mistake with the hidden suite and check that it loses
points, only in tests tagged with the function it touches, and that the failure message
contains ``diagnosis`` when the mistake has a recognisable signature.

Grading them is ``grading_tests.grade_mistakes``'s (which also writes the table in
docs/mistakes.md).
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
    #: A mistake split across two functions: (function, replacement cell) of the others.
    also: tuple[tuple[str, str], ...] = ()

    @property
    def functions(self) -> tuple[str, ...]:
        """Every function whose cell the mistake replaces; it may lose points only in their tests."""
        return (self.function, *(function for function, _ in self.also))


def _m(key, notebook, function, description, source, diagnosis=None, also=()) -> Mistake:
    also = tuple((other, _clean(cell)) for other, cell in also)
    return Mistake(key, notebook, function, description, _clean(source), diagnosis, also)


def _clean(source: str) -> str:
    return textwrap.dedent(source).strip() + "\n"


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
    _m("relu-flattens", "01_relu", "relu", "ravels z first, so a 2-D or 3-D input comes back 1-D", """
        def relu(z):
            return np.maximum(np.ravel(z), 0.0)
        """, d.WRONG_SHAPE),
    _m("relu-grad-2d-only", "01_relu", "relu_grad", "allocates the result as (z.shape[0], z.shape[1])", """
        def relu_grad(z):
            grad = np.zeros((z.shape[0], z.shape[1]))
            grad[z > 0] = 1.0
            return grad
        """, d.CASE_RAISED),
    _m("sigmoid-where-both-branches", "01_relu", "sigmoid",
       "guards with np.where, which still evaluates the overflowing branch", """
        def sigmoid(z):
            return np.where(z >= 0, 1.0 / (1.0 + np.exp(-z)), np.exp(z) / (1.0 + np.exp(z)))
        """, "np.where evaluates both branches"),
    _m("numgrad-restore-by-subtracting", "01_relu", "numerical_gradient",
       "undoes the step with x[i] += eps instead of putting the saved value back", """
        def numerical_gradient(f, x, eps=1e-6):
            grad = np.zeros_like(x, dtype=np.float64)
            for i in np.ndindex(x.shape):
                x[i] += eps
                f_plus = f(x)
                x[i] -= 2 * eps
                f_minus = f(x)
                x[i] += eps
                grad[i] = (f_plus - f_minus) / (2 * eps)
            return grad
        """, d.NOT_PUT_BACK),
    _m("numgrad-step-scaled", "01_relu", "numerical_gradient", "a relative step: h = eps * max(1, |x|)", """
        def numerical_gradient(f, x, eps=1e-6):
            x = np.array(x, dtype=np.float64)
            grad = np.zeros_like(x)
            for i in np.ndindex(x.shape):
                h = eps * max(1.0, abs(x[i]))
                old = x[i]
                x[i] = old + h
                f_plus = f(x)
                x[i] = old - h
                f_minus = f(x)
                x[i] = old
                grad[i] = (f_plus - f_minus) / (2 * h)
            return grad
        """, d.STEP_SCALED),
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
    _m("forward-params-by-position", "02_backward", "forward", "unpacks params.values() by position", """
        def forward(X, params):
            W1, b1, W2, b2 = params.values()
            Z1 = X @ W1 + b1
            A1 = np.maximum(Z1, 0.0)
            out = A1 @ W2 + b2
            return out, {"Z1": Z1, "A1": A1, "out": out}
        """, d.KEY_ORDER),
    _m("forward-cache-preactivation", "02_backward", "forward",
       "stores the pre-activation Z1 under cache['A1'] (out itself is right)", """
        def forward(X, params):
            Z1 = X @ params["W1"] + params["b1"]
            out = np.maximum(Z1, 0.0) @ params["W2"] + params["b2"]
            return out, {"Z1": Z1, "A1": Z1, "out": out}
        """, d.CACHE_BLAME),
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
    _m("mse-square-of-mean", "02_backward", "mse_loss", "squares the mean error: 0.5 * mean(out - y) ** 2", """
        def mse_loss(out, y):
            return float(0.5 * np.mean(out - y) ** 2)
        """, d.SQUARE_OF_MEAN),
    _m("mse-flatten-broadcast", "02_backward", "mse_loss", "flattens out but not y: an (N, N) difference", """
        def mse_loss(out, y):
            return float(np.mean(0.5 * (out.flatten() - y) ** 2))
        """, d.BROADCAST_N_BY_N),
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
    _m("backward-bias-mean", "02_backward", "backward", "averages the bias gradients over the batch again", """
        def backward(X, y, params, cache):
            d_out = (cache["out"] - y) / X.shape[0]
            d_Z1 = (d_out @ params["W2"].T) * (cache["Z1"] > 0)
            return {"W1": X.T @ d_Z1, "b1": d_Z1.mean(axis=0),
                    "W2": cache["A1"].T @ d_out, "b2": d_out.mean(axis=0)}
        """, d.DIVIDED_BY_N),
    _m("backward-bias-wrong-axis", "02_backward", "backward", "sums the bias gradients over axis 1", """
        def backward(X, y, params, cache):
            d_out = (cache["out"] - y) / X.shape[0]
            d_Z1 = (d_out @ params["W2"].T) * (cache["Z1"] > 0)
            return {"W1": X.T @ d_Z1, "b1": d_Z1.sum(axis=1),
                    "W2": cache["A1"].T @ d_out, "b2": d_out.sum(axis=1)}
        """, d.WRONG_AXIS),
    _m("backward-mask-in-cache", "02_backward", "backward",
       "turns cache['Z1'] into the ReLU mask in place (the gradients are right)", """
        def backward(X, y, params, cache):
            d_out = (cache["out"] - y) / X.shape[0]
            mask = cache["Z1"]
            mask[mask > 0] = 1.0
            mask[mask <= 0] = 0.0
            d_Z1 = (d_out @ params["W2"].T) * mask
            return {"W1": X.T @ d_Z1, "b1": d_Z1.sum(axis=0),
                    "W2": cache["A1"].T @ d_out, "b2": d_out.sum(axis=0)}
        """, "now holds 0/1 values"),
    _m("cache-tuple-order", "02_backward", "backward",
       "forward returns the cache as (Z1, A1, out), backward unpacks it as (A1, Z1, out)", """
        def backward(X, y, params, cache):
            A1, Z1, out = cache
            d_out = (out - y) / X.shape[0]
            d_Z1 = (d_out @ params["W2"].T) * (Z1 > 0)
            return {"W1": X.T @ d_Z1, "b1": d_Z1.sum(axis=0), "W2": A1.T @ d_out, "b2": d_out.sum(axis=0)}
        """, also=[("forward", """
        def forward(X, params):
            Z1 = X @ params["W1"] + params["b1"]
            A1 = np.maximum(Z1, 0.0)
            out = A1 @ params["W2"] + params["b2"]
            return out, (Z1, A1, out)
        """)]),
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
    _m("init-variance-as-std", "03_mlp", "init_mlp", "passes the variance 2 / fan_in as the standard deviation", """
        def init_mlp(layer_sizes, seed):
            rng = np.random.default_rng(seed)
            params = {}
            for l in range(1, len(layer_sizes)):
                fan_in, fan_out = layer_sizes[l - 1], layer_sizes[l]
                params[f"W{l}"] = rng.normal(0.0, 2.0 / fan_in, size=(fan_in, fan_out))
                params[f"b{l}"] = np.zeros(fan_out)
            return params
        """, d.VARIANCE_AS_STD),
    _m("init-bias-row", "03_mlp", "init_mlp", "makes each bias a (1, fan_out) row", """
        def init_mlp(layer_sizes, seed):
            rng = np.random.default_rng(seed)
            params = {}
            for l in range(1, len(layer_sizes)):
                fan_in, fan_out = layer_sizes[l - 1], layer_sizes[l]
                params[f"W{l}"] = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))
                params[f"b{l}"] = np.zeros((1, fan_out))
            return params
        """, d.WRONG_SHAPE),
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
    _m("mlp-forward-values-by-position", "03_mlp", "mlp_forward", "takes the W's and b's in the dict's order", """
        def mlp_forward(X, params):
            Ws = [v for k, v in params.items() if k.startswith("W")]
            bs = [v for k, v in params.items() if k.startswith("b")]
            A, cache = X, {"A0": X}
            for l, (W, b) in enumerate(zip(Ws, bs), start=1):
                Z = A @ W + b
                A = np.maximum(Z, 0.0) if l < len(Ws) else 1.0 / (1.0 + np.exp(-Z))
                cache[f"Z{l}"], cache[f"A{l}"] = Z, A
            return A, cache
        """, d.KEY_ORDER),
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
    _m("mlp-backward-mask-off-by-one", "03_mlp", "mlp_backward",
       "masks with the layer's own Z{l} instead of the previous layer's Z{l-1}", """
        def mlp_backward(y, params, cache):
            L = sum(1 for k in params if k.startswith("W"))
            d_Z = (cache[f"A{L}"] - y) / y.shape[0]
            grads = {}
            for l in range(L, 0, -1):
                grads[f"W{l}"] = cache[f"A{l - 1}"].T @ d_Z
                grads[f"b{l}"] = d_Z.sum(axis=0)
                if l > 1:
                    d_Z = (d_Z @ params[f"W{l}"].T) * (cache[f"Z{l}"] > 0)
            return grads
        """, d.CASE_RAISED),
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
    _m("sgd-zip-items-values", "03_mlp", "sgd_step", "pairs params.items() with grads.values() by position", """
        def sgd_step(params, grads, lr):
            return {k: p - lr * g for (k, p), g in zip(params.items(), grads.values())}
        """, d.KEY_ORDER),
    _m("sgd-shallow-copy", "03_mlp", "sgd_step", "updates a params.copy() with -=, which shares the arrays", """
        def sgd_step(params, grads, lr):
            new = params.copy()
            for k in new:
                new[k] -= lr * grads[k]
            return new
        """, d.SHALLOW_COPY),
    _m("sgd-clipped-step", "03_mlp", "sgd_step", "clips each gradient to [-1, 1] before the step", """
        def sgd_step(params, grads, lr):
            return {k: p - lr * np.clip(grads[k], -1.0, 1.0) for k, p in params.items()}
        """),
    _m("sgd-zip-with-backward-order", "03_mlp", "sgd_step",
       "mlp_backward returns its gradients last layer first (allowed), sgd_step pairs them by position", """
        def sgd_step(params, grads, lr):
            return {k: p - lr * g for (k, p), g in zip(params.items(), grads.values())}
        """, d.KEY_ORDER, also=[("mlp_backward", """
        def mlp_backward(y, params, cache):
            L = sum(1 for k in params if k.startswith("W"))
            d_Z = (cache[f"A{L}"] - y) / y.shape[0]
            grads = {}
            for l in range(L, 0, -1):
                grads[f"W{l}"] = cache[f"A{l - 1}"].T @ d_Z
                grads[f"b{l}"] = d_Z.sum(axis=0)
                if l > 1:
                    d_Z = (d_Z @ params[f"W{l}"].T) * (cache[f"Z{l - 1}"] > 0)
            return grads
        """)]),
    _m("train-reinit-each-epoch", "03_mlp", "train_mlp", "calls init_mlp inside the loop, so it never gets past step 0", """
        def train_mlp(X, y, layer_sizes, lr, epochs, seed):
            losses = []
            for _ in range(epochs):
                params = init_mlp(layer_sizes, seed)
                probs, cache = mlp_forward(X, params)
                p = np.clip(probs, 1e-12, 1 - 1e-12)
                losses.append(float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))))
                params = sgd_step(params, mlp_backward(y, params, cache), lr)
            return params, losses
        """, d.TRAIN_LOOP_BLAME),
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
    _m("to-torch-depth-4", "03_mlp", "to_torch", "hard-codes the default 4-layer network", """
        def to_torch(params):
            layers = []
            for l in range(1, 5):
                linear = torch.nn.Linear(*params[f"W{l}"].shape, dtype=torch.float64)
                with torch.no_grad():
                    linear.weight.copy_(torch.tensor(params[f"W{l}"].T))
                    linear.bias.copy_(torch.tensor(params[f"b{l}"]))
                layers += [linear, torch.nn.ReLU() if l < 4 else torch.nn.Sigmoid()]
            return torch.nn.Sequential(*layers)
        """, d.CASE_RAISED),
    _m("to-torch-items-order", "03_mlp", "to_torch", "builds the layers in the order the dict lists the W's", """
        def to_torch(params):
            L = sum(1 for k in params if k.startswith("W"))
            layers = []
            for k, W in params.items():
                if not k.startswith("W"):
                    continue
                linear = torch.nn.Linear(*W.shape, dtype=torch.float64)
                with torch.no_grad():
                    linear.weight.copy_(torch.tensor(W.T))
                    linear.bias.copy_(torch.tensor(params["b" + k[1:]]))
                layers += [linear, torch.nn.ReLU() if len(layers) < 2 * (L - 1) else torch.nn.Sigmoid()]
            return torch.nn.Sequential(*layers)
        """, d.KEY_ORDER),
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
    _m("bce-loss-matrix-form", "04_bce", "bce_loss", "y.T @ log(p): right for (N, 1) only", """
        def bce_loss(probs, y, eps=1e-12):
            p = np.clip(probs, eps, 1 - eps)
            return (-(y.T @ np.log(p) + (1 - y).T @ np.log(1 - p))).item() / len(y)
        """, d.CASE_RAISED),
    _m("bce-log-p-plus-eps", "04_bce", "bce_loss", "log(p + eps) instead of clipping", """
        def bce_loss(probs, y, eps=1e-12):
            return float(np.mean(-(y * np.log(probs + eps) + (1 - y) * np.log(1 - probs + eps))))
        """, d.LOG_P_PLUS_EPS),
    _m("bce-clip-fixed-eps", "04_bce", "bce_loss", "clips with 1e-12 whatever eps it is given", """
        def bce_loss(probs, y, eps=1e-12):
            p = np.clip(probs, 1e-12, 1 - 1e-12)
            return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))
        """, d.OTHER_CLIP_EPS),
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
    _m("bce-logits-log-sigmoid", "04_bce", "bce_with_logits", "the BCE of a (stable) sigmoid: log(0) at large |z|", """
        def bce_with_logits(z, y):
            e = np.exp(-np.abs(z))
            p = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
            return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))
        """, "rounded to exactly 0 or 1"),
    _m("bce-logits-where-both-branches", "04_bce", "bce_with_logits",
       "picks the stable form per entry with np.where, which evaluates both", """
        def bce_with_logits(z, y):
            per_sample = np.where(z >= 0, z * (1 - y) + np.log1p(np.exp(-z)), -z * y + np.log1p(np.exp(z)))
            return float(np.mean(per_sample))
        """, "np.where evaluates both branches"),
    _m("bce-logits-mean-axis0", "04_bce", "bce_with_logits", "averages over axis 0 and takes entry [0]: column 0 only", """
        def bce_with_logits(z, y):
            per_sample = np.maximum(z, 0.0) - z * y + np.log1p(np.exp(-np.abs(z)))
            return float(np.mean(per_sample, axis=0)[0])
        """),
    _m("bce-grad-logits-len", "04_bce", "bce_grad_logits", "divides by len(z) instead of z.size", """
        def bce_grad_logits(z, y):
            e = np.exp(-np.abs(z))
            return (np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)) - y) / len(z)
        """, d.LEN_NOT_SIZE),
    _m("bce-grad-logits-no-mean", "04_bce", "bce_grad_logits", "forgets the 1/N", """
        def bce_grad_logits(z, y):
            return 0.5 * (1 + np.tanh(z / 2)) - y
        """, d.SUMMED_NOT_AVERAGED),
    _m("bce-grad-logits-sign-flip", "04_bce", "bce_grad_logits", "(y - sigmoid(z)) / N", """
        def bce_grad_logits(z, y):
            return (y - 0.5 * (1 + np.tanh(z / 2))) / z.size
        """, d.SIGN_FLIP),
)


#: The "correct" group: correct but unusual implementations, written as a student might.
#: They are not mistakes: every hidden test and every public check must give them full marks
#: (tests/test_public_checks.py holds the public checks to that). ``apply_mistake`` applies them.
CORRECT: tuple[Mistake, ...] = (
    _m("correct-relu-where", "01_relu", "relu", "np.where(z > 0, z, 0.0)", """
        def relu(z):
            return np.where(z > 0, z, 0.0)
        """),
    _m("correct-relu-grad-heaviside", "01_relu", "relu_grad", "np.heaviside(z, 0.0)", """
        def relu_grad(z):
            return np.heaviside(z, 0.0)
        """),
    _m("correct-sigmoid-clip", "01_relu", "sigmoid", "the clip idiom 1 / (1 + exp(-clip(z, -500, 500)))", """
        def sigmoid(z):
            return 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))
        """),
    _m("correct-sigmoid-tanh", "01_relu", "sigmoid", "the tanh form 0.5 * (1 + tanh(z / 2))", """
        def sigmoid(z):
            return 0.5 * (1.0 + np.tanh(0.5 * z))
        """),
    _m("correct-sigmoid-logaddexp", "01_relu", "sigmoid", "exp(-logaddexp(0, -z))", """
        def sigmoid(z):
            return np.exp(-np.logaddexp(0.0, -z))
        """),
    _m("correct-sigmoid-grad-tanh", "01_relu", "sigmoid_grad", "(1 - tanh(z / 2)**2) / 4, without calling sigmoid", """
        def sigmoid_grad(z):
            return 0.25 * (1.0 - np.tanh(0.5 * z) ** 2)
        """),
    _m("correct-numgrad-flat-steps", "01_relu", "numerical_gradient",
       "adds a one-hot step array to x instead of perturbing a copy in place", """
        def numerical_gradient(f, x, eps=1e-6):
            base = np.asarray(x, dtype=np.float64)
            grad = np.empty(base.size)
            for i in range(base.size):
                step = np.zeros(base.size)
                step[i] = eps
                step = step.reshape(base.shape)
                grad[i] = (f(base + step) - f(base - step)) / (2 * eps)
            return grad.reshape(base.shape)
        """),
    _m("correct-forward-dot", "02_backward", "forward", "np.dot and a multiplied mask for the ReLU", """
        def forward(X, params):
            Z1 = np.dot(X, params["W1"]) + params["b1"]
            A1 = Z1 * (Z1 > 0)
            out = np.dot(A1, params["W2"]) + params["b2"]
            return out, {"Z1": Z1, "A1": A1, "out": out}
        """),
    _m("correct-mse-sum-over-size", "02_backward", "mse_loss", "sum / (2 * out.size)", """
        def mse_loss(out, y):
            return float(np.sum((out - y) ** 2) / (2 * out.size))
        """),
    _m("correct-backward-einsum", "02_backward", "backward",
       "einsum products, the ReLU mask from A1 > 0 (the same mask as Z1 > 0), keys in backward order", """
        def backward(X, y, params, cache):
            d_out = (cache["out"] - y) / len(X)
            d_Z1 = np.where(cache["A1"] > 0, d_out @ params["W2"].T, 0.0)
            return {"W2": np.einsum("nh,no->ho", cache["A1"], d_out), "b2": np.sum(d_out, axis=0),
                    "W1": np.einsum("nd,nh->dh", X, d_Z1), "b1": np.sum(d_Z1, axis=0)}
        """),
    _m("correct-autograd-grad-function", "02_backward", "autograd_grads",
       "torch.autograd.grad on from_numpy copies, clamp(min=0) as the ReLU", """
        def autograd_grads(X, y, params):
            names = sorted(params)
            leaves = [torch.from_numpy(params[name].copy()).requires_grad_() for name in names]
            p = dict(zip(names, leaves))
            out = torch.clamp(torch.tensor(X) @ p["W1"] + p["b1"], min=0.0) @ p["W2"] + p["b2"]
            loss = ((out - torch.tensor(y)) ** 2).mean() / 2
            return {name: grad.numpy() for name, grad in zip(names, torch.autograd.grad(loss, leaves))}
        """),
    _m("correct-init-standard-normal", "03_mlp", "init_mlp",
       "rng.standard_normal(...) * sqrt(2 / fan_in): the same draws as rng.normal", """
        def init_mlp(layer_sizes, seed):
            rng = np.random.default_rng(seed)
            params = {}
            for l, (fan_in, fan_out) in enumerate(zip(layer_sizes[:-1], layer_sizes[1:]), start=1):
                params["W%d" % l] = rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)
                params["b%d" % l] = np.zeros(fan_out)
            return params
        """),
    _m("correct-mlp-forward-tanh", "03_mlp", "mlp_forward", "depth from len(params) // 2, the tanh form of the sigmoid", """
        def mlp_forward(X, params):
            L = len(params) // 2
            A, cache = X, {"A0": X}
            for l in range(1, L + 1):
                Z = A @ params["W%d" % l] + params["b%d" % l]
                A = 0.5 * (1.0 + np.tanh(0.5 * Z)) if l == L else np.maximum(Z, 0.0)
                cache["Z%d" % l], cache["A%d" % l] = Z, A
            return A, cache
        """),
    _m("correct-mlp-backward-einsum", "03_mlp", "mlp_backward",
       "einsum, masks from A > 0, keys in backward order", """
        def mlp_backward(y, params, cache):
            L = len(params) // 2
            grads = {}
            delta = (cache[f"A{L}"] - y) / len(y)
            for l in reversed(range(1, L + 1)):
                grads[f"W{l}"] = np.einsum("ni,nj->ij", cache[f"A{l - 1}"], delta)
                grads[f"b{l}"] = delta.sum(axis=0)
                delta = (delta @ params[f"W{l}"].T) * (cache[f"A{l - 1}"] > 0)
            return grads
        """),
    _m("correct-sgd-subtract", "03_mlp", "sgd_step", "np.subtract over the gradients' keys", """
        def sgd_step(params, grads, lr):
            return {name: np.subtract(params[name], lr * grad) for name, grad in grads.items()}
        """),
    _m("correct-train-where-loss", "03_mlp", "train_mlp", "the loss as -mean(log(where(y == 1, p, 1 - p)))", """
        def train_mlp(X, y, layer_sizes, lr, epochs, seed):
            params, losses = init_mlp(layer_sizes, seed), []
            for _ in range(epochs):
                probs, cache = mlp_forward(X, params)
                p = np.clip(probs, 1e-12, 1 - 1e-12)
                losses.append(float(-np.mean(np.log(np.where(y == 1, p, 1 - p)))))
                params = sgd_step(params, mlp_backward(y, params, cache), lr)
            return params, losses
        """),
    _m("correct-to-torch-data", "03_mlp", "to_torch", "assigns .data of a .double() Linear", """
        def to_torch(params):
            L = len(params) // 2
            layers = []
            for l in range(1, L + 1):
                W = params[f"W{l}"]
                linear = torch.nn.Linear(*W.shape).double()
                linear.weight.data = torch.from_numpy(W.T.copy())
                linear.bias.data = torch.from_numpy(params[f"b{l}"].copy())
                layers += [linear, torch.nn.Sigmoid() if l == L else torch.nn.ReLU()]
            return torch.nn.Sequential(*layers)
        """),
    _m("correct-bce-where", "04_bce", "bce_loss", "picks -log p or -log(1 - p) by the label", """
        def bce_loss(probs, y, eps=1e-12):
            p = np.clip(probs, eps, 1 - eps)
            return float(np.mean(np.where(y == 1, -np.log(p), -np.log1p(-p))))
        """),
    _m("correct-bce-dloss-one-fraction", "04_bce", "bce_dloss_dprob", "(p - y) / (p * (1 - p)), one fraction", """
        def bce_dloss_dprob(p, y):
            return (p - y) / (p * (1 - p))
        """),
    _m("correct-bce-logits-logaddexp", "04_bce", "bce_with_logits", "np.logaddexp(0, z) - y * z", """
        def bce_with_logits(z, y):
            return float(np.mean(np.logaddexp(0.0, z) - y * z))
        """),
    _m("correct-bce-grad-logits-tanh", "04_bce", "bce_grad_logits", "the tanh form of the sigmoid, divided by np.size", """
        def bce_grad_logits(z, y):
            return (0.5 * (1.0 + np.tanh(0.5 * z)) - y) / np.size(z)
        """),
)

def apply_mistake(nb, mistake: Mistake):
    """A copy of notebook ``nb`` whose solution cell for ``mistake.function`` holds
    ``mistake.source`` (and each cell of ``mistake.also`` its replacement)."""
    changed = copy.deepcopy(nb)
    replacements = {mistake.function: mistake.source, **dict(mistake.also)}
    for cell in changed.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in replacements:
            cell.source = replacements.pop(grade_id)
            cell.outputs = []
    if replacements:
        raise KeyError(f"{mistake.notebook}.ipynb has no cell with grade_id {sorted(replacements)}")
    return changed
