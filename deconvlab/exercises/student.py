"""Student versions of the exercises, generated from the solutions; imports the standard library, ``_files``
and the list of exercises.

In a solution module, a solution region runs from a line reading ``### BEGIN SOLUTION`` to a line reading
``### END SOLUTION`` (indentation aside), inside a function body. A student version is the same module
with each region, markers included, replaced by a stub at the marker's indentation that raises an error
naming the exercise. Stubs are written only into the student's folder: they are built here from pieces
and never stored in the package.
"""
import os
from importlib import resources

from .._files import atomic_write
from .solutions import EXERCISES

BEGIN_MARKER = "### BEGIN SOLUTION"
END_MARKER = "### END SOLUTION"


def solution_source(name):
    """The text of the solution module of exercise ``name`` (one of ``EXERCISES``)."""
    if name not in EXERCISES:
        raise ValueError(f"unknown exercise {name!r}; choose from {', '.join(EXERCISES)}")
    source = resources.files(__package__).joinpath("solutions").joinpath(f"{name}.py")
    return source.read_text(encoding="utf-8")


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
        "Only NumPy is needed. Grade your work at any time (run it from anywhere):\n",
        "\n",
        "    deconvlab exercises grade THIS_FOLDER\n",
        "\n",
        "It prints a score per exercise and a reason for every failed check. Exercises, in order:\n",
        "\n",
    ]
    lines += [f"- {name}.py\n" for name in EXERCISES]
    return "".join(lines)


def _write_atomically(path, text):
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def make_student_versions(outdir, overwrite=False):
    """Write the student version of every exercise, and a README.md, into the folder ``outdir``.

    The folder is created if needed. A folder that already holds anything is refused with
    FileExistsError unless ``overwrite`` is true, in which case files of the same names are replaced
    (a student's work in them is lost) and other files are left alone. Every file is generated before
    any is written. Returns the paths written.
    """
    outdir = os.fspath(outdir)
    if os.path.exists(outdir) and not os.path.isdir(outdir):
        raise NotADirectoryError(f"{outdir!r} exists and is not a folder")
    if os.path.isdir(outdir) and os.listdir(outdir) and not overwrite:
        raise FileExistsError(
            f"{outdir!r} is not empty; choose a new folder, or pass overwrite=True to replace the exercise "
            "files in it (a student's work in them is lost)"
        )
    header = "# A deconvlab exercise. Check your work with: deconvlab exercises grade FOLDER_OF_THIS_FILE\n"
    texts = {f"{name}.py": header + strip_solutions(solution_source(name), name) for name in EXERCISES}
    texts["README.md"] = _readme()
    os.makedirs(outdir, exist_ok=True)
    written = []
    for filename, text in texts.items():
        path = os.path.join(outdir, filename)
        _write_atomically(path, text)
        written.append(path)
    return written
