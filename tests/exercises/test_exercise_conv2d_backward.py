"""The graded properties of the conv2d_backward exercise, on --impl FOLDER (default: the instructor's solution)."""
EXERCISE = "conv2d_backward"


def test_property_holds(check, grade_check):
    grade_check(check)
