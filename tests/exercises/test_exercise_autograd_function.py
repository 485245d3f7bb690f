"""The graded properties of the autograd_function exercise, on --impl FOLDER (default: the instructor's solution)."""
EXERCISE = "autograd_function"


def test_property_holds(check, grade_check):
    grade_check(check)
