"""The graded properties of the sgd_momentum exercise, on --impl FOLDER (default: the instructor's solution)."""
EXERCISE = "sgd_momentum"


def test_property_holds(check, grade_check):
    grade_check(check)
