"""Enforcing "NumPy only": any PyTorch call during a guarded student call is recorded.

A ``TorchFunctionMode`` sees every torch function and tensor method, factory functions
(``torch.tensor``) and autograd (``torch.autograd.grad``, ``Tensor.backward``)
included. The call is allowed to fail or go on; what matters is the record, which the
dispatcher turns into ``AutogradUsed`` after the call, so a student who catches the
exception gains nothing.
"""

from __future__ import annotations

import contextlib
import sys


@contextlib.contextmanager
def torch_forbidden():
    """Yield a list that collects the names of torch functions used inside the block."""
    used: list[str] = []
    torch = sys.modules.get("torch")
    if torch is None:  # the notebook never imported torch: nothing to watch
        yield used
        return
    if getattr(torch, "__notorch__", False):
        # A NumPy-only sandbox: there is no torch to watch, only a stand-in that refuses
        # every use; what it refused during the block is named in the AutogradUsed.
        from autograder.sandbox import notorch

        before = len(notorch.USED)
        try:
            yield used
        finally:
            used.extend(notorch.USED[before:])
        return
    from torch.overrides import TorchFunctionMode

    class _Forbid(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            qualname = getattr(func, "__qualname__", "") or ""
            short = getattr(func, "__name__", None) or repr(func)
            name = qualname if qualname.startswith("Tensor.") else f"torch.{short}"
            used.append(name)
            raise RuntimeError(f"PyTorch is not allowed in a NumPy-only function (called {name})")

    # Tensor.backward and torch.autograd.grad reach __torch_function__ only when their
    # arguments are tensors; patch them too so nothing slips past the mode.
    autograd = torch.autograd
    originals = (autograd.grad, autograd.backward, torch.Tensor.backward)

    def _forbidden(name):
        def refuse(*args, **kwargs):
            used.append(name)
            raise RuntimeError(f"PyTorch autograd is not allowed in a NumPy-only function (called {name})")
        return refuse

    autograd.grad = _forbidden("torch.autograd.grad")
    autograd.backward = _forbidden("torch.autograd.backward")
    torch.Tensor.backward = _forbidden("Tensor.backward")
    try:
        with _Forbid():
            yield used
    finally:
        autograd.grad, autograd.backward, torch.Tensor.backward = originals
