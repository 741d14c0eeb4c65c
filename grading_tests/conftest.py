"""Wiring of the hidden tests: markers, the seed, reported names and the notebook fixtures.

Each test module sets ``pytestmark = pytest.mark.notebook("02_backward")``; each test
carries ``@pytest.mark.points(n)`` and ``@pytest.mark.functions(...)`` and a docstring
whose first line, prefixed with the notebook, is the name a student sees
(DESIGN.md section 4). The notebooks come from the provider plugin registered as
``"backprop_submission"`` or, when there is none, from ``--submission PATH`` run
in-process (DESIGN.md section 3).
"""

from __future__ import annotations

import secrets
import zlib

import numpy as np
import pytest

from autograder.providers import PROVIDER_PLUGIN

NOTEBOOK_FIXTURES = {
    "nb_relu": "01_relu",
    "nb_backward": "02_backward",
    "nb_mlp": "03_mlp",
    "nb_bce": "04_bce",
}
SEED_KEY = pytest.StashKey[int]()


def pytest_addoption(parser):
    group = parser.getgroup("backprop", "backprop hidden tests")
    group.addoption("--submission", metavar="PATH", default=None,
                    help="folder holding the submission's notebooks (when no provider plugin is registered)")
    group.addoption("--seed", metavar="N", type=int, default=None,
                    help="seed of every random input; default: a fresh one, shown in the header")


def pytest_configure(config):
    config.addinivalue_line("markers", "points(n): points the test is worth")
    config.addinivalue_line("markers", "functions(*names): contract functions the test exercises")
    config.addinivalue_line("markers", "notebook(stem): the notebook the test grades, e.g. 02_backward")
    seed = config.getoption("--seed", default=None)
    config.stash[SEED_KEY] = secrets.randbits(32) if seed is None else int(seed)


def pytest_report_header(config):
    seed = config.stash[SEED_KEY]
    return f"grading seed: {seed} (rerun with --seed {seed} to reproduce)"


def reported_name(item) -> str:
    """``"<notebook>: <first docstring line>"`` with ``{param}`` filled from parameters."""
    notebook = item.get_closest_marker("notebook").args[0]
    doc = (item.function.__doc__ or "").strip().splitlines()
    title = doc[0].strip() if doc else item.name
    params = getattr(getattr(item, "callspec", None), "params", {})
    if params:
        title = title.format_map({k: _param_text(v) for k, v in params.items()})
    return f"{notebook}: {title}"


def _param_text(value) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def pytest_collection_modifyitems(session, config, items):
    problems = []
    for item in items:
        notebook = item.get_closest_marker("notebook")
        points = item.get_closest_marker("points")
        functions = item.get_closest_marker("functions")
        if notebook is None or points is None or functions is None:
            problems.append(f"{item.nodeid}: needs notebook, points and functions markers")
            continue
        item.user_properties.append(("name", reported_name(item)))
        item.user_properties.append(("points", float(points.args[0])))
        item.user_properties.append(("tags", [notebook.args[0], *functions.args]))
    if problems:
        raise pytest.UsageError("hidden tests without metadata:\n" + "\n".join(problems))


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def seed(pytestconfig) -> int:
    """The grading run's seed (reported, and settable with --seed)."""
    return pytestconfig.stash[SEED_KEY]


def stable_test_id(nodeid: str) -> str:
    """The node id without its folder, so the RNG does not depend on the rootdir."""
    return nodeid.rsplit("/", 1)[-1]


def generator_for(seed: int, nodeid: str) -> np.random.Generator:
    """The generator of the test ``nodeid`` under ``seed`` (what its ``rng`` fixture is)."""
    return np.random.default_rng([seed, zlib.crc32(stable_test_id(nodeid).encode())])


@pytest.fixture
def rng(seed, request) -> np.random.Generator:
    """This test's own generator: a function of the seed and the test's node id only,
    so the order in which tests run cannot change the inputs any test sees."""
    return generator_for(seed, request.node.nodeid)


@pytest.fixture(scope="session")
def submission(pytestconfig):
    """The provider: the registered plugin, or the in-process runner for --submission."""
    plugin = pytestconfig.pluginmanager.get_plugin(PROVIDER_PLUGIN)
    if plugin is not None:
        return plugin
    path = pytestconfig.getoption("--submission")
    if path is None:
        raise pytest.UsageError(f"no {PROVIDER_PLUGIN!r} plugin registered and no --submission PATH given")
    from autograder.inprocess import InProcessSubmission

    return InProcessSubmission(path)


def _notebook_fixture(stem: str):
    @pytest.fixture(scope="session")
    def fixture(submission):
        return submission.notebook(stem)

    fixture.__doc__ = f"The student's {stem}.ipynb as a Notebook (DESIGN.md section 3)."
    return fixture


nb_relu = _notebook_fixture("01_relu")
nb_backward = _notebook_fixture("02_backward")
nb_mlp = _notebook_fixture("03_mlp")
nb_bce = _notebook_fixture("04_bce")
