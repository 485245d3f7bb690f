"""Exercises with an autograder: the student versions and the grader; the layer above everything the exercises
are graded against (reference, kernels, autograd, functional, optim, gradcheck); only the command line imports it.

``catalogue`` lists the exercises; ``make_student_versions`` writes their student versions (shipped in the
package as templates made from the instructor's solutions, which are not installed: they live in the
repository's ``instructor/`` folder); ``grade`` runs the property checks of ``checks`` on a folder of such
files, each file in its own process (``sandbox``, ``child``). Grading needs Hypothesis (the ``test`` extra).

    deconvlab exercises make OUTDIR            # student versions (refuses a non-empty OUTDIR without --force)
    deconvlab exercises grade OUTDIR [MORE]    # score table; exit code 0 only if every check passes
    deconvlab exercises grade hw/* --csv class.csv    # a class's results, one row per folder and exercise
"""
from .catalogue import CATALOGUE, EXERCISES
from .grading import format_report, grade, results_csv, write_csv
from .student import make_student_versions, strip_solutions, student_version, template_source

__all__ = ["EXERCISES", "CATALOGUE", "make_student_versions", "strip_solutions", "student_version",
           "template_source", "grade", "format_report", "results_csv", "write_csv"]
