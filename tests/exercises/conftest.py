"""Grading with pytest: each test module names its ``EXERCISE``; a test taking ``check`` runs once per property.

The exercise files come from ``--impl FOLDER`` (an option registered in the top-level conftest.py), or are the
instructor's solutions in the repository (``instructor/solutions``) when it is not given. Each exercise is
graded once per test run, in its own process, as ``deconvlab exercises grade`` does; each test reports one
check's result.
"""
import pathlib

import pytest

from deconvlab.exercises.checks import CHECKS
from deconvlab.exercises.grading import grade_exercise

SOLUTIONS = pathlib.Path(__file__).resolve().parents[2] / "instructor" / "solutions"


def pytest_generate_tests(metafunc):
    if "check" in metafunc.fixturenames:
        checks = CHECKS[metafunc.module.EXERCISE]
        metafunc.parametrize("check", checks, ids=[c.name for c in checks])


@pytest.fixture(scope="session")
def impl_dir(request):
    return request.config.getoption("--impl") or str(SOLUTIONS)


@pytest.fixture(scope="session")
def grade_check(impl_dir):
    """grade_check(check): the check's result on the exercise file; a failure is its message, no traceback."""
    graded = {}

    def run(check):
        if check.exercise not in graded:
            graded[check.exercise] = {c.name: c for c in grade_exercise(check.exercise, impl_dir).checks}
        result = graded[check.exercise][check.name]
        if not result.passed:
            pytest.fail(result.message, pytrace=False)

    return run
