"""``deconvlab exercises make | grade``: the exercises' sub-commands, added to the main parser by ``add_parser``;
imports the standard library, ``commandline`` and ``catalogue`` (the rest when a command runs).

Follows the command line's rules (``deconvlab.commandline``): a user's mistake is a ``UsageError`` (one line,
exit code 2). ``grade`` exits with 0 only when every check of every graded exercise in every folder passes,
else 1; ``--csv FILE`` also writes the results as CSV, one row per folder and exercise.
"""
import contextlib
import os
import sys
import tempfile

from ..commandline import UsageError, argument_type, positive_int
from .catalogue import EXERCISES


def _cmd_make(args):
    from .student import make_student_versions

    try:
        written = make_student_versions(args.outdir, overwrite=args.force)
    except FileExistsError:
        raise UsageError(
            f"{args.outdir!r} is not empty; choose a new folder, or pass --force to replace the exercise files "
            "in it (a student's work in them is lost)"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot write the exercises into {args.outdir!r}: {exc}") from None
    names = [os.path.basename(p) for p in written]
    print(f"wrote {', '.join(names)} into {args.outdir}")
    print(f"grade them with: deconvlab exercises grade {args.outdir}")
    return 0


@contextlib.contextmanager
def _hypothesis_files_elsewhere():
    """Hypothesis caches what it learns in ./.hypothesis; a grading run keeps those files in a temporary folder
    so that the student's folder (or wherever the command runs) stays as it was."""
    try:
        from hypothesis import configuration
    except ImportError:
        yield
        return
    with tempfile.TemporaryDirectory(prefix="deconvlab-grading-") as home:
        previous = getattr(configuration, "__hypothesis_home_directory", None)  # None: ./.hypothesis
        configuration.set_hypothesis_home_dir(home)
        try:
            yield
        finally:
            configuration.set_hypothesis_home_dir(previous)


def _cmd_grade(args):
    wanted = args.exercise or EXERCISES
    for folder in args.folders:
        if not os.path.exists(folder):
            raise UsageError(f"folder {folder!r} does not exist")
        if not os.path.isdir(folder):
            raise UsageError(f"{folder!r} is not a folder; give the folder 'deconvlab exercises make' wrote")
        if not any(os.path.isfile(os.path.join(folder, f"{name}.py")) for name in wanted):
            raise UsageError(f"{folder!r} holds none of the exercise files "
                             f"({', '.join(f'{n}.py' for n in wanted)}); write them with 'deconvlab exercises make'")
    if args.csv is not None and not os.path.isdir(os.path.dirname(os.path.abspath(args.csv))):
        raise UsageError(f"cannot write {args.csv!r}: its folder does not exist")
    try:
        import hypothesis  # noqa: F401  (the checks are Hypothesis properties)
    except ImportError:
        print("deconvlab exercises: grading needs Hypothesis; install deconvlab's 'test' extra", file=sys.stderr)
        return 1
    from .grading import format_report, grade, write_csv

    results = []
    with _hypothesis_files_elsewhere():
        for folder in args.folders:
            graded = grade(folder, exercises=args.exercise, timeout=args.timeout, memory_mb=args.memory)
            if len(args.folders) > 1:
                print(f"== {folder}")
            print(format_report(graded, verbose=args.verbose))
            results += graded
    if args.csv is not None:
        write_csv(args.csv, results)
        print(f"wrote {args.csv}")
    return 0 if all(r.passed for r in results) else 1


def _timeout(text):
    from .grading import MAX_TIMEOUT

    return argument_type(float, lambda v: 0 < v <= MAX_TIMEOUT, f"seconds, more than 0 and at most {MAX_TIMEOUT:g}")(text)


def add_parser(subparsers):
    """Add the ``exercises`` command (with actions ``make`` and ``grade``) to ``subparsers``; returns its parser."""
    parser = subparsers.add_parser("exercises", help="teaching exercises: write student versions, grade them")
    actions = parser.add_subparsers(dest="exercises_action", metavar="ACTION")
    actions.required = True

    make = actions.add_parser("make", help="write the student versions of the exercises into a new folder")
    make.add_argument("outdir", help="folder to write (created if needed; must be empty unless --force)")
    make.add_argument("--force", action="store_true",
                      help="write into a non-empty folder, replacing exercise files of the same names")
    make.set_defaults(run=_cmd_make)

    grade = actions.add_parser("grade", help="run the checks on folders of exercise files and print the scores",
                               description="Grade exercise files. Grading runs the files' code, each exercise in a "
                               "child process with only its allowed modules importable and hard time and memory "
                               "limits; grade untrusted files in a container (see the exercises page of the docs).")
    grade.add_argument("folders", nargs="+", metavar="FOLDER",
                       help="folder holding the exercise files (as written by 'make'); several for a class")
    grade.add_argument("--exercise", action="append", choices=EXERCISES,
                       help="grade only this exercise (repeat for several; default: all)")
    grade.add_argument("--timeout", type=_timeout, default=60.0,
                       help="wall-clock seconds allowed per check before the student's process is killed (default 60)")
    grade.add_argument("--memory", type=positive_int, default=None, metavar="MB",
                       help="memory limit of the student's process in MiB (default 2048)")
    grade.add_argument("--csv", metavar="FILE", help="also write the results as CSV: one row per folder and exercise")
    grade.add_argument("-v", "--verbose", action="store_true", help="list every check, not only the failed ones")
    grade.set_defaults(run=_cmd_grade)
    return parser
