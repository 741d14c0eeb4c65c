"""The stand-in for PyTorch in a NumPy-only sandbox: ``import torch`` works, every use fails.

What enforces "NumPy only" is outside the student's code: the NumPy-only functions run in
a sandbox forked from a template that never imported torch, in a mount namespace where
torch's files are covered (``autograder.sandbox``). This module only makes that
readable: the notebook's locked ``import torch`` still succeeds, and any use of the
stand-in raises the error students read everywhere else ("must use NumPy only"), and
records it so the grader names it. A student who removes the stand-in finds no torch
behind it: there is none to load.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types

#: What a student's code touched, in order; the dispatcher reads it after each call.
USED: list[str] = []
MESSAGE = "PyTorch is not available in a NumPy-only function (used {name}); compute it with NumPy"


class _StandIn(types.ModuleType):
    """A module whose every attribute (but the import system's own) is a refusal."""

    def __getattr__(self, attr: str):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        name = f"{self.__name__}.{attr}"
        USED.append(name)
        raise RuntimeError(MESSAGE.format(name=name))


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers ``import torch`` and ``import torch.anything`` with stand-ins."""

    PACKAGES = ("torch", "torchvision", "functorch")

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in self.PACKAGES:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = _StandIn(spec.name)
        module.__path__ = []
        module.__notorch__ = True
        return module

    def exec_module(self, module):
        pass


def install() -> None:
    """Make ``import torch`` give the stand-in in this process (a torch-free template);
    refused where torch (or a package of it) was really imported already."""
    loaded = [name for name, module in sys.modules.items()
              if name.split(".")[0] in _Finder.PACKAGES and not getattr(module, "__notorch__", False)]
    if loaded:
        raise RuntimeError(f"{loaded[0]} is already imported: this process cannot be made NumPy-only")
    sys.meta_path.insert(0, _Finder())


def active() -> bool:
    """Whether this process is a NumPy-only one (the stand-in is installed)."""
    return any(isinstance(finder, _Finder) for finder in sys.meta_path)
