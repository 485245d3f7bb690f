"""The graded properties of the im2col exercise, on --impl FOLDER (default: the instructor's solution)."""
EXERCISE = "im2col"


def test_property_holds(check, grade_check):
    grade_check(check)
