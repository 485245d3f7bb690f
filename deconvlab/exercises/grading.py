"""The autograder: each exercise file graded in its own process, every check of it in turn; imports the standard
library, ``_files``, ``catalogue``, ``sandbox`` and (when grading) ``checks``.

Grading runs the student's code. It runs it in a child process (``sandbox``) with a memory limit, a CPU-time
limit and a hard wall-clock limit per check (``timeout`` seconds; the child is killed with SIGKILL when it
runs out), where only the modules the exercise allows can be imported. The checks, the oracle they compare
with, and every expected value stay in the grader's process, computed from the grader's own copies of the
inputs. Nothing the student's code does fails the grader or passes a check by itself: an exception, a wrong
type, a syntax error, ``sys.exit``/``os._exit``, a crash, ignoring signals, an endless loop or a forbidden
import is one failed check with a one-line reason. After a check runs out of time, the exercise's remaining
checks are not run (they fail), so an endless loop costs one timeout, not one per check. This keeps honest
mistakes and the usual cheats out; it is not a security boundary against a determined attacker: grade
untrusted files in a container (docs/exercises.md shows how).
"""
import csv
import io
import os
import time

from .._files import atomic_write
from .catalogue import BY_NAME, EXERCISES
from .child import STANDARD_MODULES
from .sandbox import CheckTimeout, ChildEnded, Sandbox, numpy_folder, remove_folder

DEFAULT_TIMEOUT = 60.0
MAX_TIMEOUT = 3600.0


class CheckResult:
    """The outcome of one check: ``exercise``, ``name``, ``passed``, ``message`` (why it failed; its last line
    reproduces the failure), ``seconds``, ``description`` (the property checked) and ``timed_out`` (it ran out of
    time, or was not run after one that did)."""

    def __init__(self, exercise, name, passed, message="", seconds=0.0, description="", timed_out=False):
        self.exercise, self.name, self.passed, self.message = exercise, name, passed, message
        self.seconds, self.description, self.timed_out = seconds, description, timed_out

    def __repr__(self):
        return f"<CheckResult {self.exercise}.{self.name} {'passed' if self.passed else 'failed'}>"


class ExerciseResult:
    """The outcomes of all checks of one exercise in one folder; ``score`` is (passed, total)."""

    def __init__(self, name, checks, folder=None, seconds=0.0):
        self.name, self.checks, self.folder, self.seconds = name, checks, folder, seconds

    @property
    def score(self):
        return sum(c.passed for c in self.checks), len(self.checks)

    @property
    def passed(self):
        return all(c.passed for c in self.checks)


def check_timeout(timeout):
    """``timeout`` as a float if it is a finite number of seconds in (0, MAX_TIMEOUT]; ValueError otherwise."""
    try:
        value = float(timeout)
    except (TypeError, ValueError):
        raise ValueError(f"timeout must be a number of seconds, got {timeout!r}") from None
    if not 0 < value <= MAX_TIMEOUT:
        raise ValueError(f"timeout must be more than 0 and at most {MAX_TIMEOUT:g} seconds, got {timeout!r}")
    return value


def _failed_all(name, checks, why, timed_out=False):
    return [CheckResult(name, c.name, False, why, description=c.description, timed_out=timed_out) for c in checks]


def grade_exercise(name, folder, timeout=DEFAULT_TIMEOUT, numpy_path=None, memory_mb=None):
    """Run every check of exercise ``name`` on ``folder/name.py`` in a child process; returns an ExerciseResult.

    ``numpy_path``: a folder from ``sandbox.numpy_folder()`` (made and removed here when None)."""
    from .checks import CHECKS
    from .checks.base import Student

    exercise, checks, started = BY_NAME[name], CHECKS[name], time.perf_counter()
    path = os.path.join(folder, f"{name}.py")
    if not os.path.isfile(path):
        return ExerciseResult(name, _failed_all(name, checks, f"no file {name}.py in {folder}\nreproduce: "
                                                f"ls {folder}"), folder)
    own_folder = numpy_path is None and exercise.numpy_only
    if own_folder:
        numpy_path = numpy_folder()
    options = dict(numpy_only=exercise.numpy_only, numpy_path=numpy_path,
                   cpu_seconds=timeout * (len(checks) + 1) + 10)
    if memory_mb is not None:
        options["memory_mb"] = memory_mb
    allowed = exercise.allowed + STANDARD_MODULES
    reproduce_import = f"\nreproduce: import {name}  (in the folder of {name}.py)"

    def start():
        return Sandbox(path, name, allowed, exercise.names, time.monotonic() + timeout, **options)

    results, sandbox = [], None
    try:
        try:
            sandbox = start()
        except CheckTimeout:
            return ExerciseResult(name, _failed_all(name, checks, f"importing {name}.py took longer than {timeout:g} s"
                                                    f"{reproduce_import}", timed_out=True), folder)
        if sandbox.load_error:
            return ExerciseResult(name, _failed_all(name, checks, sandbox.load_error + reproduce_import), folder)
        for check in checks:
            if results and results[-1].timed_out:
                why = ("not run: an earlier check of this exercise ran out of time (an endless loop?)\n"
                       + results[-1].message.splitlines()[-1])
                results.append(CheckResult(name, check.name, False, why, description=check.description,
                                           timed_out=True))
                continue
            if not sandbox.alive:
                sandbox.close()
                sandbox = start()
            student = Student(sandbox, name, time.monotonic() + timeout)
            results.append(_run(check, student, timeout))
    finally:
        if sandbox is not None:
            sandbox.close()
        if own_folder:
            remove_folder(numpy_path)
    return ExerciseResult(name, results, folder, time.perf_counter() - started)


def _run(check, student, timeout):
    """One check on the student's code: a CheckResult, whatever happens."""
    from .checks import CheckFailed

    start = time.perf_counter()
    message, timed_out = "", False
    try:
        check.run(student)
    except CheckFailed as failure:
        message = str(failure)
    except CheckTimeout as stop:
        timed_out = True
        where = getattr(stop, "call", None)
        message = (f"took longer than {timeout:g} s{f' in {where}' if where else ''}; the process running the "
                   f"exercise was killed\nreproduce: {getattr(stop, 'reproduction', 'grade again with --timeout')}")
    except ChildEnded as ended:
        where = getattr(ended, "call", None)
        message = (f"{where + ': ' if where else ''}{ended.reason}\n"
                   f"reproduce: {getattr(ended, 'reproduction', f'import {check.exercise}')}")
    except Exception as error:  # a check that cannot finish (Hypothesis giving up, say) fails; the grader goes on
        message = (f"the check could not finish: {type(error).__name__}: {str(error).strip()[:300]}\n"
                   f"reproduce: deconvlab exercises grade FOLDER --exercise {check.exercise} -v")
    return CheckResult(check.exercise, check.name, not message, message, time.perf_counter() - start,
                       check.description, timed_out=timed_out)


def grade(folder, exercises=None, timeout=DEFAULT_TIMEOUT, memory_mb=None):
    """Grade the exercise files in ``folder`` (all of ``EXERCISES``, or the names given).

    ``timeout``: wall-clock seconds allowed per check (ValueError unless finite, positive and at most
    MAX_TIMEOUT); ``memory_mb``: the child's address-space limit (default ``sandbox.MEMORY_LIMIT_MB``).
    Returns a list of ExerciseResult.
    """
    names = list(EXERCISES) if exercises is None else list(exercises)
    unknown = [n for n in names if n not in EXERCISES]
    if unknown:
        raise ValueError(f"unknown exercise {unknown[0]!r}; choose from {', '.join(EXERCISES)}")
    timeout = check_timeout(timeout)
    if not os.path.isdir(folder):
        raise NotADirectoryError(f"{folder!r} is not a folder")
    numpy_path = numpy_folder()
    try:
        return [grade_exercise(name, folder, timeout, numpy_path, memory_mb) for name in names]
    finally:
        remove_folder(numpy_path)


def format_report(results, verbose=False):
    """The score table: one row per exercise ("conv2d_literal   5/5"), then each failed check (every check,
    each with the property it checks, with ``verbose``) with its reason and, indented, its reproduction;
    then the total."""
    width = max([len("exercise")] + [len(r.name) for r in results])
    lines = [f"{'exercise':<{width}}  score"]
    for r in results:
        passed, total = r.score
        lines.append(f"{r.name:<{width}}  {passed}/{total}" + ("" if passed == total else "  FAILED"))
    details = [(r.name, c) for r in results for c in r.checks if verbose or not c.passed]
    if details:
        lines.append("")
        for name, c in details:
            verdict = "ok  " if c.passed else "FAIL"
            first, *rest = (c.message or "").split("\n")
            lines.append(f"{verdict} {name}.{c.name}" + (f": {first}" if first else ""))
            lines += [f"     {line}" for line in rest]
            if verbose and c.description:
                lines.append(f"     ({' '.join(c.description.split())})")
    passed = sum(r.score[0] for r in results)
    total = sum(r.score[1] for r in results)
    lines.append("")
    lines.append(f"total: {passed}/{total} checks passed" + ("" if passed == total else f", {total - passed} failed"))
    return "\n".join(lines)


CSV_COLUMNS = ("folder", "exercise", "passed", "total", "seconds", "failed_checks")


def results_csv(results):
    """The results (of one or many folders) as CSV text: one row per folder and exercise, with the columns
    ``CSV_COLUMNS`` (failed checks separated by spaces)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in results:
        passed, total = r.score
        failed = " ".join(c.name for c in r.checks if not c.passed)
        writer.writerow([r.folder, r.name, passed, total, f"{r.seconds:.1f}", failed])
    return out.getvalue()


def write_csv(path, results):
    """Write ``results_csv(results)`` to ``path``, whole or not at all."""
    text = results_csv(results)
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))
