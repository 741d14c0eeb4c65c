"""Both providers and both transports implement the contract the hidden tests rely on
(``autograder.providers``): the same methods, with the same parameters."""

from __future__ import annotations

import inspect

import pytest

from autograder.inprocess import FailingTransport, InProcessSubmission
from autograder.providers import PROVIDER_PLUGIN, Provider, Transport
from autograder.sandbox.submission import SandboxSubmission
from autograder.sandbox.dispatch import Dispatcher


def members(protocol) -> dict[str, inspect.Signature]:
    return {name: inspect.signature(getattr(protocol, name)) for name in dir(protocol)
            if not name.startswith("_") and callable(getattr(protocol, name))}


def parameters(signature: inspect.Signature) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in signature.parameters.values()]


@pytest.mark.parametrize("implementation, protocol", [
    (Dispatcher, Transport),
    (InProcessSubmission, Provider),
    (SandboxSubmission, Provider),
])
def test_an_implementation_has_every_member_of_its_protocol_with_the_same_parameters(implementation, protocol):
    for name, signature in members(protocol).items():
        assert hasattr(implementation, name), f"{implementation.__name__} has no {name}"
        assert parameters(inspect.signature(getattr(implementation, name))) == parameters(signature), name


def test_the_stand_in_for_a_notebook_that_could_not_load_is_a_transport_too():
    from autograder.errors import NotebookMissing

    assert isinstance(FailingTransport(NotebookMissing("01_relu", "no such file")), Transport)


def test_the_hidden_tests_look_the_provider_up_by_the_one_name():
    from grading_tests import conftest

    assert conftest.PROVIDER_PLUGIN is PROVIDER_PLUGIN
