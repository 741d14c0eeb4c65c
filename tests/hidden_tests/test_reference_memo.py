"""Remembered references: computed once per batch, and never a different value for it."""

import numpy as np
import pytest

from grading_tests import reference as ref


@pytest.fixture
def remembering():
    ref.remember()
    yield
    ref.remember(False)


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    X, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 1))
    params = {"W1": rng.normal(size=(3, 4)), "b1": rng.normal(size=4),
              "W2": rng.normal(size=(4, 1)), "b2": rng.normal(size=1)}
    return X, y, params


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, z) for x, z in zip(a, b))
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    return a == b


def test_a_remembered_reference_is_the_computed_one_and_a_fresh_copy_each_time(remembering):
    X, y, params = _problem()
    fresh = ref.two_layer_grads.__wrapped__(X, y, params)
    computed = ref.two_layer_grads(X, y, params)
    computed["W1"][:] = 0.0  # a test that scribbles on its reference cannot change the next one's
    remembered = ref.two_layer_grads(X, y, params)
    assert _same(remembered, fresh)
    remembered["b2"][:] = 0.0
    assert _same(ref.two_layer_grads(X, y, params), fresh)


def test_other_arguments_are_other_references(remembering):
    X, y, params = _problem()
    base = ref.two_layer_grads(X, y, params)
    nudged = dict(params, b2=params["b2"] + 1e-9)
    assert not _same(ref.two_layer_grads(X, y, nudged), base)
    as_float32 = {k: v.astype(np.float32) for k, v in params.items()}  # same shapes, other bytes and dtype
    assert _same(ref.two_layer_grads(X, y, as_float32), ref.two_layer_grads.__wrapped__(X, y, as_float32))
    losses = ref.train_mlp(X[:, :2], (y > 0).astype(float), [2, 3, 1], 0.5, 4, 7)[1]
    no_losses = ref.train_mlp(X[:, :2], (y > 0).astype(float), [2, 3, 1], 0.5, 4, 7, record_losses=False)[1]
    assert len(losses) == 4 and no_losses == []  # keyword arguments are part of the key


def test_references_handed_to_another_process_give_the_same_values(remembering):
    X, y, params = _problem(1)
    computed = ref.mlp_grads(X, y, {"W1": params["W1"], "b1": params["b1"], "W2": params["W2"],
                                    "b2": params["b2"]})
    entries = ref.new_entries()
    assert entries  # what a grading child sends back with its report
    ref.remember()  # another process: nothing remembered yet
    ref.add_entries(entries)
    assert ref.new_entries() == {}
    again = ref.mlp_grads(X, y, dict(params))
    assert _same(again, computed) and ref.new_entries() == {}  # taken, not computed


def test_nothing_is_kept_unless_remembering_is_on():
    X, y, params = _problem()
    ref.remember(False)
    ref.two_layer_grads(X, y, params)
    assert ref.new_entries() == {}
