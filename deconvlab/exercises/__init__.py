"""Exercises with an autograder: solutions, the student versions generated from them, and the grader.

The layer above everything the exercises are graded against (reference, kernels, autograd, functional,
optim); only the command line imports it. ``solutions`` holds one working module per exercise with its
solution regions marked; ``make_student_versions`` writes copies with those regions replaced by stubs;
``grade`` runs the property checks of ``checks`` on a folder of such files. Grading needs Hypothesis
(the ``test`` extra).

    deconvlab exercises make OUTDIR       # student versions (refuses a non-empty OUTDIR without --force)
    deconvlab exercises grade OUTDIR      # score table; exit code 0 only if every check passes
"""
from .grading import SOLUTIONS_DIR, format_report, grade
from .solutions import EXERCISES
from .student import make_student_versions, strip_solutions

__all__ = ["EXERCISES", "SOLUTIONS_DIR", "make_student_versions", "strip_solutions", "grade", "format_report"]
