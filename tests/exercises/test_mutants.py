"""The mutant catalogue (instructor/mutants.py): every plausible wrong solution fails at least one check, every
cheat fails every check, and each failure says what went wrong and ends with a reproduction."""
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "instructor"))
from mutants import MUTANTS, grade_mutant  # noqa: E402

SIGNATURES = {"in-place": "in place", "aliasing": "shares memory", "cheat": ""}


def test_the_catalogue_covers_every_category_and_exercise():
    from deconvlab.exercises import EXERCISES

    assert len(MUTANTS) >= 30
    assert {m.category for m in MUTANTS} >= {"formula", "indexing", "dtype", "in-place", "aliasing", "mask", "cheat"}
    assert {m.exercise for m in MUTANTS} == set(EXERCISES)


@pytest.mark.slow
@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: f"{m.exercise}.{m.name}")
def test_the_grader_catches_the_mutant(mutant, tmp_path):
    result = grade_mutant(mutant, str(tmp_path))
    failed = [c for c in result.checks if not c.passed]
    assert failed, f"{mutant.exercise}.{mutant.name} ({mutant.why}) passes every check"
    if mutant.category == "cheat":
        assert result.score[0] == 0, [c.name for c in result.checks if c.passed]
    assert all(c.message.splitlines()[-1].startswith("reproduce: ") for c in failed)
    signature = SIGNATURES.get(mutant.category)
    if signature:
        assert any(signature in c.message for c in failed), failed[0].message
