"""``deconvlab exercises make | grade``: the exercises' sub-commands, added to the main parser by ``add_parser``.

Follows the command line's rules (``deconvlab.commandline``): a user's mistake is a ``UsageError`` (one line,
exit code 2). ``grade`` exits with 0 only when every check of every graded exercise passes, else 1.
"""
import contextlib
import os
import sys
import tempfile

from ..commandline import UsageError, positive_float
from .solutions import EXERCISES


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
    if not os.path.exists(args.folder):
        raise UsageError(f"folder {args.folder!r} does not exist")
    if not os.path.isdir(args.folder):
        raise UsageError(f"{args.folder!r} is not a folder; give the folder 'deconvlab exercises make' wrote")
    wanted = args.exercise or EXERCISES
    if not any(os.path.isfile(os.path.join(args.folder, f"{name}.py")) for name in wanted):
        raise UsageError(f"{args.folder!r} holds none of the exercise files ({', '.join(f'{n}.py' for n in wanted)}); "
                         "write them with 'deconvlab exercises make'")
    try:
        import hypothesis  # noqa: F401  (the checks are Hypothesis properties)
    except ImportError:
        print("deconvlab exercises: grading needs Hypothesis; install deconvlab's 'test' extra", file=sys.stderr)
        return 1
    from .grading import format_report, grade

    with _hypothesis_files_elsewhere():
        results = grade(args.folder, exercises=args.exercise, timeout=args.timeout)
    print(format_report(results, verbose=args.verbose))
    return 0 if all(r.passed for r in results) else 1


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

    grade = actions.add_parser("grade", help="run the checks on a folder of exercise files and print the scores")
    grade.add_argument("folder", help="folder holding the exercise files (as written by 'make')")
    grade.add_argument("--exercise", action="append", choices=EXERCISES,
                       help="grade only this exercise (repeat for several; default: all)")
    grade.add_argument("--timeout", type=positive_float, default=60.0,
                       help="seconds allowed per check (default 60)")
    grade.add_argument("-v", "--verbose", action="store_true", help="list every check, not only the failed ones")
    grade.set_defaults(run=_cmd_grade)
    return parser
