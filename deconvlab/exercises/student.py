"""Student versions of the exercises: made from the instructor's solutions, shipped as templates; imports the
standard library, ``_files`` and ``catalogue``.

The solutions are not part of the installed package: they live in the repository's ``instructor/solutions``
folder. There, a solution region runs from a line reading ``### BEGIN SOLUTION`` to a line reading
``### END SOLUTION`` (indentation aside), inside a function body. ``student_version`` replaces each region,
markers included, by a stub at the marker's indentation that raises an error naming the exercise, and puts a
header on top. ``instructor/make_templates.py`` writes the student versions into the package, as
``templates/NAME.py.txt`` (data, not modules: nothing imports them), and a test checks that they are what the
solutions give. ``make_student_versions`` copies the templates into a student's folder.
"""
import os
import textwrap
from importlib import resources

from .._files import atomic_write
from .catalogue import BY_NAME, EXERCISES
from .child import STANDARD_MODULES

BEGIN_MARKER = "### BEGIN SOLUTION"
END_MARKER = "### END SOLUTION"


def template_source(name):
    """The student version of exercise ``name`` (one of ``EXERCISES``), as shipped in the package."""
    if name not in EXERCISES:
        raise ValueError(f"unknown exercise {name!r}; choose from {', '.join(EXERCISES)}")
    return resources.files(__package__).joinpath("templates").joinpath(f"{name}.py.txt").read_text(encoding="utf-8")


def header(name):
    """The comment lines on top of a student version: how to grade it and what it may import."""
    exercise = BY_NAME[name]
    standard = ", ".join(m for m in STANDARD_MODULES if m != "__future__")
    text = (f"The grader runs this file in a separate process, where it may import {', '.join(exercise.allowed)} "
            f"and the standard modules {standard}; nothing else. Inputs may be float64, float32 or integer "
            "arrays, and read-only: never change an argument, and return new arrays.")
    lines = [f"A deconvlab exercise: {exercise.title}. Check your work with",
             f"    deconvlab exercises grade FOLDER_OF_THIS_FILE --exercise {name}"]
    lines += textwrap.wrap(text, 100)
    return "".join(f"# {line}\n" for line in lines)


def student_version(source, name):
    """The student version of a solution module's ``source``: the header, then the text with every solution
    region replaced by a stub."""
    return header(name) + strip_solutions(source, name)


def _stub(indent, name):
    error = "NotImplemented" + "Error"
    return [
        f"{indent}# Exercise: replace these two lines with your code (the docstrings say what to compute).\n",
        f'{indent}raise {error}("exercise {name}: not written yet")\n',
    ]


def strip_solutions(source, name):
    """``source`` with every solution region replaced by a stub; ValueError if the markers are malformed."""
    out, region_start, indent = [], None, ""
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        marker = line.strip()
        if marker == BEGIN_MARKER:
            if region_start is not None:
                raise ValueError(
                    f"{name}: line {number}: {BEGIN_MARKER!r} inside the region opened at line {region_start}"
                )
            region_start, indent = number, line[: len(line) - len(line.lstrip())]
            if not indent:
                raise ValueError(f"{name}: line {number}: a solution region must be inside a function body")
        elif marker == END_MARKER:
            if region_start is None:
                raise ValueError(f"{name}: line {number}: {END_MARKER!r} without a {BEGIN_MARKER!r} before it")
            if line[: len(line) - len(line.lstrip())] != indent:
                raise ValueError(f"{name}: line {number}: {END_MARKER!r} is not indented like its {BEGIN_MARKER!r}")
            out.extend(_stub(indent, name))
            region_start = None
        elif region_start is None:
            out.append(line)
    if region_start is not None:
        raise ValueError(f"{name}: the solution region opened at line {region_start} is never closed")
    return "".join(out)


def _readme():
    lines = [
        "# deconvlab exercises\n",
        "\n",
        "Each file below holds one exercise. Its docstrings give the formula to implement; the function\n",
        "bodies that raise an error saying the exercise is not written yet are yours to write.\n",
        "Grade your work at any time (run it from anywhere):\n",
        "\n",
        "    deconvlab exercises grade THIS_FOLDER\n",
        "    deconvlab exercises grade THIS_FOLDER --exercise mse -v\n",
        "\n",
        "It prints a score per exercise and, for every failed check, what was wrong and one line of Python\n",
        "that reproduces it (run it in this folder). The grader runs your files in a separate process and\n",
        "lets them import only what each exercise allows (NumPy, and for the training loop a few deconvlab\n",
        "modules). Exercises, in order:\n",
        "\n",
    ]
    lines += [f"- {name}.py: {BY_NAME[name].title}\n" for name in EXERCISES]
    return "".join(lines)


def make_student_versions(outdir, overwrite=False):
    """Write the student version of every exercise, and a README.md, into the folder ``outdir``.

    The folder is created if needed. A folder that already holds anything is refused with
    FileExistsError unless ``overwrite`` is true, in which case files of the same names are replaced
    (a student's work in them is lost) and other files are left alone. Every file is read before
    any is written, and each is written whole or not at all. Returns the paths written.
    """
    outdir = os.fspath(outdir)
    if os.path.exists(outdir) and not os.path.isdir(outdir):
        raise NotADirectoryError(f"{outdir!r} exists and is not a folder")
    if os.path.isdir(outdir) and os.listdir(outdir) and not overwrite:
        raise FileExistsError(
            f"{outdir!r} is not empty; choose a new folder, or pass overwrite=True to replace the exercise "
            "files in it (a student's work in them is lost)"
        )
    texts = {f"{name}.py": template_source(name) for name in EXERCISES}
    texts["README.md"] = _readme()
    os.makedirs(outdir, exist_ok=True)
    written = []
    for filename, text in texts.items():
        path = os.path.join(outdir, filename)
        atomic_write(path, lambda handle, text=text: handle.write(text.encode("utf-8")))
        written.append(path)
    return written
