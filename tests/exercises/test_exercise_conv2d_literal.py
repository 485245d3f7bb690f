"""The graded properties of the conv2d_literal exercise, on --impl FOLDER (default: the instructor's solution)."""
EXERCISE = "conv2d_literal"


def test_property_holds(check, grade_check):
    grade_check(check)
