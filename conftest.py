"""Options of the whole test suite, registered here at the top so pytest knows them from any starting folder.

``--impl FOLDER``: the exercise files graded by ``tests/exercises`` (default: the reference solutions).
"""
import os

import pytest


def pytest_addoption(parser):
    parser.addoption(
        "--impl",
        metavar="FOLDER",
        default=None,
        help="folder of exercise files for tests/exercises to grade (default: deconvlab's reference solutions)",
    )


def pytest_configure(config):
    folder = config.getoption("--impl")
    if folder is not None and not os.path.isdir(folder):
        raise pytest.UsageError(f"--impl {folder!r} is not a folder")
