"""Write the student versions of the exercises into the package: deconvlab/exercises/templates/NAME.py.txt.

Run from the repository's top folder after changing a solution in instructor/solutions:

    python instructor/make_templates.py

Each template is the solution with every region between "### BEGIN SOLUTION" and "### END SOLUTION" replaced
by a stub, under a header saying how to grade it (deconvlab.exercises.student_version). The test suite checks
that the templates in the package are exactly what this script writes.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SOLUTIONS = os.path.join(HERE, "solutions")
TEMPLATES = os.path.join(ROOT, "deconvlab", "exercises", "templates")


def templates():
    """{file name: text} of every student version, from the solutions here."""
    sys.path.insert(0, ROOT)
    from deconvlab.exercises import EXERCISES, student_version

    out = {}
    for name in EXERCISES:
        with open(os.path.join(SOLUTIONS, f"{name}.py"), encoding="utf-8") as handle:
            out[f"{name}.py.txt"] = student_version(handle.read(), name)
    return out


def main():
    os.makedirs(TEMPLATES, exist_ok=True)
    for filename, text in templates().items():
        with open(os.path.join(TEMPLATES, filename), "w", encoding="utf-8") as handle:
            handle.write(text)
        print("wrote", os.path.relpath(os.path.join(TEMPLATES, filename), ROOT))


if __name__ == "__main__":
    main()
