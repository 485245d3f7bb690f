"""The graded properties of the mse exercise, on --impl FOLDER (default: the instructor's solution)."""
EXERCISE = "mse"


def test_property_holds(check, grade_check):
    grade_check(check)
