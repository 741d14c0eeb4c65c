"""The plain-data rule and the call options, as the hidden tests rely on them."""

import numpy as np
import pytest

from autograder.errors import AutogradUsed, FunctionMissing, NotPlainData, StudentException
from autograder.handles import Handle, Notebook
from autograder.sandbox.cells import new_shell, run_cells
from autograder.sandbox.dispatch import Dispatcher

STUDENT_CODE = '''
import numpy as np
import torch

class Sneaky(np.ndarray):
    def __eq__(self, other):
        return True
    def copy(self):
        return "not an array"

class Liar(float):
    def __eq__(self, other):
        return True

def sneaky(x):
    return np.asarray(x).view(Sneaky)

def liar():
    return Liar(0.5)

def in_place(z):
    z *= 2
    return z

def with_autograd(x):
    t = torch.tensor(x, requires_grad=True)
    try:
        (t ** 2).sum().backward()
    except Exception:
        pass
    return 2 * x

def tensor_out():
    return torch.ones(2, 3, dtype=torch.float32)

def grads_as_tensors():
    return {"W1": torch.ones(2, 2, dtype=torch.float64), "b1": np.zeros(2), "loss": np.float64(0.5), "n": 3}, [True]

def model():
    return torch.nn.Sequential(torch.nn.Linear(3, 2, dtype=torch.float64), torch.nn.Sigmoid())

def bad_str():
    class Weird(Exception):
        def __str__(self):
            raise RuntimeError("no")
    raise Weird()

def cache_pair(x):
    return x, {"x": x, 1: "non-str key"}

def deep():
    value = []
    for _ in range(100):
        value = [value]
    return value
'''


@pytest.fixture(scope="module")
def nb():
    namespace = {}
    results = run_cells(new_shell(namespace), [STUDENT_CODE])
    assert results[0].error is None
    return Notebook("02_backward", Dispatcher("02_backward", namespace))


def test_ndarray_subclasses_arrive_as_exact_arrays(nb):
    got = nb.sneaky(np.arange(3.0))
    assert type(got) is np.ndarray and (got == np.arange(3.0)).all()
    assert not (got == np.zeros(3)).all()  # the fake __eq__ did not survive


def test_float_subclasses_arrive_as_exact_floats(nb):
    got = nb.liar()
    assert type(got) is float and got == 0.5 and got != 0.7


def test_tensors_arrive_as_arrays_of_their_dtype(nb):
    got = nb.tensor_out()
    assert type(got) is np.ndarray and got.dtype == np.float32 and got.shape == (2, 3)


def test_a_test_is_told_what_type_each_value_had_before_it_became_plain_data(nb):
    (grads, flags), types = nb.call("grads_as_tensors", return_types=True)
    assert type(grads["W1"]) is np.ndarray and grads["W1"].dtype == np.float64  # converted, as always
    assert types == ({"W1": "torch.Tensor", "b1": "numpy.ndarray", "loss": "numpy.float64", "n": "int"}, ["bool"])
    assert nb.last_call_types == types
    nb.tensor_out()
    assert nb.last_call_types == "torch.Tensor"
    nb.model()
    assert nb.last_call_types == "torch.nn.modules.container.Sequential"  # a handle's own type
    result, (after,), types = nb.call("in_place", np.ones(2), return_args=True, return_types=True)
    assert after.tolist() == [2.0, 2.0] and types == "numpy.ndarray"  # the result's types only


def test_a_type_record_that_is_not_plain_str_to_str_is_refused():
    class Lying:
        def call(self, name, args, kwargs, **options):
            return 1.0, {"": ["not", "a", "name"]}

    with pytest.raises(NotPlainData, match="types of its result"):
        Notebook("02_backward", Lying()).call("anything")


def test_in_place_modification_is_visible_with_return_args(nb):
    x = np.array([1.0, 2.0])
    result, (after,) = nb.call("in_place", x, return_args=True)
    assert (x == [1.0, 2.0]).all(), "the grader's own array must never change"
    assert (after == [2.0, 4.0]).all()


def test_readonly_arguments_make_in_place_writes_fail(nb):
    with pytest.raises(StudentException, match="read-only"):
        nb.call("in_place", np.ones(2), readonly_args=True)


def test_numpy_only_catches_autograd_even_when_the_student_swallows_the_error(nb):
    with pytest.raises(AutogradUsed, match="NumPy only"):
        nb.call("with_autograd", np.ones(2), numpy_only=True)
    assert (nb.with_autograd(np.ones(2)) == 2).all()  # allowed without the option


def test_modules_stay_behind_as_handles_that_can_be_inspected_and_called(nb):
    model = nb.model()
    assert isinstance(model, Handle) and model.handle_type == "torch.nn.modules.container.Sequential"
    assert [layer.handle_type.rsplit(".", 1)[1] for layer in model] == ["Linear", "Sigmoid"]
    assert model[0].weight.shape == (2, 3) and model[0].weight.dtype == np.float64
    out = model(np.ones((4, 3)))
    assert type(out) is np.ndarray and out.shape == (4, 2)


def test_non_plain_parts_of_a_result_become_handles_that_pass_back(nb):
    x, cache = nb.cache_pair(np.ones(2))
    assert isinstance(cache, Handle) and cache.handle_type == "dict"
    assert len(cache) == 2 and (cache["x"] == 1).all()


def test_errors_name_the_function_and_survive_a_hostile_str(nb):
    with pytest.raises(StudentException, match="`bad_str` raised Weird"):
        nb.bad_str()
    with pytest.raises(FunctionMissing, match="`backward` is not defined"):
        nb.backward(1)


def test_absurdly_nested_results_are_refused(nb):
    with pytest.raises(NotPlainData, match="nested"):
        nb.deep()


def test_a_handle_from_one_notebook_does_not_reach_an_object_of_another(nb):
    other = Notebook("03_mlp", Dispatcher("03_mlp", {"echo": lambda value: value}))
    model = nb.model()
    with pytest.raises(NotPlainData, match="unknown handle"):
        other.echo(model)


def test_fp_errors_raise_turns_numpy_warnings_into_a_failure(nb):
    naive = Notebook("01_relu", Dispatcher("01_relu", {"sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z))}))
    z = np.array([-1e4, 0.0, 1e4])
    with pytest.warns(RuntimeWarning, match="overflow"):
        assert np.isfinite(naive.sigmoid(z)).all()  # exact and finite: only the warning tells
    with pytest.raises(StudentException, match="FloatingPointError: overflow"):
        naive.call("sigmoid", z, fp_errors="raise")
    stable = Notebook("01_relu", Dispatcher("01_relu", {"f": lambda z: np.exp(-np.abs(z))}))
    assert stable.call("f", z, fp_errors="raise")[0] == 0.0  # underflow stays allowed
