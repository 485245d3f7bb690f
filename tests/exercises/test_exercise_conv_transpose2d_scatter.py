"""The graded properties of the conv_transpose2d_scatter exercise, on --impl FOLDER (default: the instructor's solution)."""
EXERCISE = "conv_transpose2d_scatter"


def test_property_holds(check, grade_check):
    grade_check(check)
