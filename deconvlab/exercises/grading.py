"""The autograder: load a student's exercise files and run every check on them; imports ``checks`` when grading.

Nothing a student's code does stops the grader: an exception, a wrong shape or type, a syntax error, a
call to ``sys.exit`` or (with a time limit) an endless loop is one failed check with a one-line reason.
Only Ctrl-C stops it. What the student's code prints is swallowed, so the score table stays readable.
"""
import contextlib
import importlib.util
import io
import os
import re
import signal
import threading
import time

from .solutions import EXERCISES

SOLUTIONS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "solutions")


class CheckTimeout(BaseException):
    """A check ran past its time limit (a BaseException, so nothing in the student's code or Hypothesis catches it)."""


class CheckResult:
    """The outcome of one check: ``exercise``, ``name``, ``passed``, ``message`` (why it failed), ``seconds``,
    ``description`` (the property checked) and ``timed_out`` (it ran out of time, or was skipped after one that
    did)."""

    def __init__(self, exercise, name, passed, message="", seconds=0.0, description="", timed_out=False):
        self.exercise, self.name, self.passed, self.message = exercise, name, passed, message
        self.seconds, self.description, self.timed_out = seconds, description, timed_out

    def __repr__(self):
        return f"<CheckResult {self.exercise}.{self.name} {'passed' if self.passed else 'failed'}>"


class ExerciseResult:
    """The outcomes of all checks of one exercise; ``score`` is (passed, total)."""

    def __init__(self, name, checks):
        self.name, self.checks = name, checks

    @property
    def score(self):
        return sum(c.passed for c in self.checks), len(self.checks)

    @property
    def passed(self):
        return all(c.passed for c in self.checks)


def load_student_module(path, name):
    """Import the file ``path`` as a fresh module (not registered in sys.modules); errors propagate."""
    spec = importlib.util.spec_from_file_location(f"deconvlab_exercise_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def time_limit(seconds):
    """Raise CheckTimeout in the block after ``seconds`` (None: no limit; only in the main thread, where
    Unix signals can interrupt it; elsewhere the block runs without a limit)."""
    in_main_thread = threading.current_thread() is threading.main_thread()
    if seconds is None or not hasattr(signal, "setitimer") or not in_main_thread:
        yield
        return

    def expire(signum, frame):
        raise CheckTimeout(f"took longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def describe_failure(exc):
    """One line (plus Hypothesis's falsifying example, when there is one) saying why a check failed."""
    from .checks import CheckFailed

    text = str(exc).strip() or type(exc).__name__
    if not isinstance(exc, CheckFailed):
        text = f"{type(exc).__name__}: {text}"
    example = _falsifying_example(getattr(exc, "__notes__", ()))
    return text + (f" [example: {example}]" if example else "")


def _falsifying_example(notes):
    """Hypothesis's notes on a failure ("Falsifying example: run(\n  P=1,\n ...)", "Draw 1 (kh): 2") as
    one line "P=1, ..., kh=2"; empty when there are none."""
    parts = []
    for note in notes:
        if note.startswith("Falsifying example:"):
            inside = note[note.find("(") + 1 : note.rfind(")")]
            for line in inside.splitlines():
                argument = line.split("  # ")[0].strip().rstrip(",")
                if argument and not argument.startswith("#"):
                    parts.append(argument)
        else:
            drawn = re.match(r"Draw \d+ \((\w+)\): (.*)", note)
            if drawn:
                parts.append(f"{drawn.group(1)}={drawn.group(2)}")
    return ", ".join(parts)


def _guarded(action, timeout):
    """Run ``action()`` with output swallowed and a time limit; returns the exception it raised, or None."""
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), time_limit(timeout):
            action()
    except (Exception, SystemExit, GeneratorExit, CheckTimeout) as exc:
        return exc
    return None


def load_exercise(folder, name, timeout=None):
    """Import ``folder/name.py``: returns (module, None), or (None, why it cannot be graded)."""
    path = os.path.join(folder, f"{name}.py")
    if not os.path.isfile(path):
        return None, f"no file {name}.py in {folder}"
    loaded = []
    error = _guarded(lambda: loaded.append(load_student_module(path, name)), timeout)
    if error is not None:
        return None, f"{name}.py cannot be imported: {describe_failure(error)}"
    return loaded[0], None


def run_check(check, module, timeout=None):
    """Run one check (from ``checks.CHECKS``) on a student's module; returns a CheckResult."""
    missing = [f for f in check.functions if not callable(getattr(module, f, None))]
    if missing:
        why = f"{check.exercise}.py defines no function {missing[0]!r}"
        return CheckResult(check.exercise, check.name, False, why, description=check.description)
    start = time.perf_counter()
    error = _guarded(lambda: check.run(*(getattr(module, f) for f in check.functions)), timeout)
    message = "" if error is None else describe_failure(error)
    return CheckResult(check.exercise, check.name, error is None, message, time.perf_counter() - start,
                       check.description, timed_out=isinstance(error, CheckTimeout))


def grade_exercise(name, folder, timeout=None):
    """Run every check of exercise ``name`` on ``folder/name.py``; returns an ExerciseResult."""
    from .checks import CHECKS

    module, why = load_exercise(folder, name, timeout)
    if module is None:
        return ExerciseResult(name, [CheckResult(name, c.name, False, why, description=c.description)
                                     for c in CHECKS[name]])
    results = []
    for check in CHECKS[name]:
        if results and results[-1].timed_out:
            why = "not run: an earlier check of this exercise ran out of time (an endless loop?)"
            results.append(CheckResult(name, check.name, False, why, description=check.description, timed_out=True))
        else:
            results.append(run_check(check, module, timeout))
    return ExerciseResult(name, results)


def grade(folder, exercises=None, timeout=60.0):
    """Grade the exercise files in ``folder`` (all of ``EXERCISES``, or the names given).

    ``timeout``: seconds allowed per check (None for no limit). Returns a list of ExerciseResult.
    """
    names = list(EXERCISES) if exercises is None else list(exercises)
    unknown = [n for n in names if n not in EXERCISES]
    if unknown:
        raise ValueError(f"unknown exercise {unknown[0]!r}; choose from {', '.join(EXERCISES)}")
    if not os.path.isdir(folder):
        raise NotADirectoryError(f"{folder!r} is not a folder")
    return [grade_exercise(name, folder, timeout) for name in names]


def format_report(results, verbose=False):
    """The score table: one row per exercise ("conv2d_literal   5/5"), then one line per failed check
    (every check, each with the property it checks, with ``verbose``), then the total."""
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
            lines.append(f"{verdict} {name}.{c.name}" + (f": {c.message}" if c.message else ""))
            if verbose and c.description:
                lines.append(f"     {c.description}")
    passed = sum(r.score[0] for r in results)
    total = sum(r.score[1] for r in results)
    lines.append("")
    lines.append(f"total: {passed}/{total} checks passed" + ("" if passed == total else f", {total - passed} failed"))
    return "\n".join(lines)
