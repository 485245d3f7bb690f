"""Grading with pytest: each test module names its ``EXERCISE``; a test taking ``check`` runs once per property.

The exercise files come from ``--impl FOLDER`` (an option registered in the top-level conftest.py), or
are deconvlab's reference solutions when it is not given.
"""
import pytest

from deconvlab.exercises import SOLUTIONS_DIR
from deconvlab.exercises.checks import CHECKS
from deconvlab.exercises.grading import load_exercise, run_check


def pytest_generate_tests(metafunc):
    if "check" in metafunc.fixturenames:
        checks = CHECKS[metafunc.module.EXERCISE]
        metafunc.parametrize("check", checks, ids=[c.name for c in checks])


@pytest.fixture(scope="session")
def impl_dir(request):
    return request.config.getoption("--impl") or SOLUTIONS_DIR


@pytest.fixture(scope="session")
def grade_check(impl_dir):
    """grade_check(check): run one check on the exercise file; a failure is one readable line, no traceback."""
    modules = {}

    def run(check):
        if check.exercise not in modules:
            modules[check.exercise] = load_exercise(impl_dir, check.exercise)
        module, why = modules[check.exercise]
        if module is None:
            pytest.fail(why, pytrace=False)
        result = run_check(check, module)
        if not result.passed:
            pytest.fail(result.message, pytrace=False)

    return run
