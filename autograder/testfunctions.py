"""Trusted scalar functions that the hidden tests hand to a student's `numerical_gradient`.

`numerical_gradient(f, x)` takes a function, and a function cannot cross the boundary
between the grader and the process running student code. So the grader never sends
one: it asks the provider for ``nb.reference_function(kind, **params)``, the provider
calls :func:`make` where the student code runs and returns a Handle (or, in-process,
the object itself). The grader builds the same function locally with :func:`make` to
know the true gradient.

Everything here is pure NumPy and takes plain data only (floats, lists, arrays), so
both providers can build it from a call that crossed the boundary.
"""

from __future__ import annotations

import numpy as np


class TestFunction:
    """A scalar function of an array of any shape, counting its calls.

    ``f(x) -> float``; ``f.gradient(x)`` is the exact gradient, shaped like ``x``.
    """

    __test__ = False  # not a pytest test class, despite its name

    kind = ""

    def __init__(self):
        self.calls = 0

    def __call__(self, x) -> float:
        self.calls += 1
        return float(self.value(np.asarray(x, dtype=np.float64)))

    def value(self, x: np.ndarray) -> float:
        raise NotImplementedError

    def gradient(self, x) -> np.ndarray:
        raise NotImplementedError


class CubicSum(TestFunction):
    """``f(x) = sum(a * x**3 + b * sin(x)) + c * sum(x)**2``.

    Curved in every coordinate (so a forward difference is visibly less accurate than
    a central one) and, through ``c``, coupled across coordinates (so perturbing the
    wrong entry shows). ``a`` and ``b`` are scalars or arrays broadcastable to ``x``.
    """

    kind = "cubic_sum"

    def __init__(self, a=1.0, b=1.0, c=0.0):
        super().__init__()
        self.a = np.asarray(a, dtype=np.float64)
        self.b = np.asarray(b, dtype=np.float64)
        self.c = float(c)

    def value(self, x):
        return np.sum(self.a * x**3 + self.b * np.sin(x)) + self.c * np.sum(x) ** 2

    def gradient(self, x):
        x = np.asarray(x, dtype=np.float64)
        grad = 3.0 * self.a * x**2 + self.b * np.cos(x) + 2.0 * self.c * np.sum(x)
        return np.broadcast_to(grad, x.shape).copy()


class Quadratic(TestFunction):
    """``f(x) = 0.5 * v @ A @ v + g @ v`` with ``v = x.ravel()`` (C order).

    ``A`` is ``(n, n)`` for ``n = x.size``; a non-symmetric ``A`` is fine (the gradient
    uses ``(A + A.T) / 2``). Central differences are exact on it up to rounding.
    """

    kind = "quadratic"

    def __init__(self, A, g=None):
        super().__init__()
        self.A = np.asarray(A, dtype=np.float64)
        n = self.A.shape[0]
        self.g = np.zeros(n) if g is None else np.asarray(g, dtype=np.float64).ravel()

    def value(self, x):
        v = x.ravel()
        return 0.5 * v @ self.A @ v + self.g @ v

    def gradient(self, x):
        x = np.asarray(x, dtype=np.float64)
        v = x.ravel()
        return (0.5 * (self.A + self.A.T) @ v + self.g).reshape(x.shape)


class LogSumExp(TestFunction):
    """``f(x) = log(sum(exp(s * x)))``, computed stably; gradient ``softmax(s * x) * s``."""

    kind = "log_sum_exp"

    def __init__(self, s=1.0):
        super().__init__()
        self.s = float(s)

    def value(self, x):
        t = self.s * x
        m = np.max(t)
        return m + np.log(np.sum(np.exp(t - m)))

    def gradient(self, x):
        x = np.asarray(x, dtype=np.float64)
        t = self.s * x
        e = np.exp(t - np.max(t))
        return self.s * e / np.sum(e)


KINDS = {cls.kind: cls for cls in (CubicSum, Quadratic, LogSumExp)}


def make(kind: str, **params) -> TestFunction:
    """Build the test function ``kind`` (one of :data:`KINDS`) from plain-data params."""
    try:
        cls = KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown test function {kind!r}; known: {', '.join(sorted(KINDS))}") from None
    return cls(**params)
