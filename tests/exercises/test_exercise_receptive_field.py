"""The graded properties of the receptive_field exercise, on --impl FOLDER (default: the instructor's solution)."""
EXERCISE = "receptive_field"


def test_property_holds(check, grade_check):
    grade_check(check)
