"""The graded properties of the training_loop exercise, on --impl FOLDER (default: the instructor's solution)."""
EXERCISE = "training_loop"


def test_property_holds(check, grade_check):
    grade_check(check)
