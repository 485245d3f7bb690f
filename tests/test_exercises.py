"""The exercises: solutions pass the grader, generated stubs fail it, stubs never enter the library, and the
grader and the ``deconvlab exercises`` command survive whatever a student's code does."""
import argparse
import os
import re
import subprocess
import sys

import pytest

import deconvlab
from deconvlab import cli
from deconvlab.exercises import EXERCISES, SOLUTIONS_DIR, grade, make_student_versions, strip_solutions
from deconvlab.exercises.checks import CHECKS
from deconvlab.exercises.cli import add_parser
from deconvlab.exercises.student import BEGIN_MARKER, END_MARKER, solution_source

PACKAGE_DIR = os.path.dirname(os.path.abspath(deconvlab.__file__))


def _package_sources():
    for folder, _, files in os.walk(PACKAGE_DIR):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8") as f:
                    yield os.path.relpath(path, PACKAGE_DIR), f.read()


@pytest.fixture
def student_dir(tmp_path):
    folder = tmp_path / "student"
    make_student_versions(folder)
    return folder


@pytest.fixture
def run_cli(monkeypatch, capsys):
    """run_cli(*argv) -> (exit code, stdout, stderr) of ``deconvlab`` with the ``exercises`` command present."""
    build_parser = cli.build_parser

    def with_exercises():
        parser = build_parser()
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if "exercises" not in commands.choices:
            add_parser(commands)
        return parser

    monkeypatch.setattr(cli, "build_parser", with_exercises)

    def run(*argv):
        code = cli.main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_reference_solutions_pass_every_check():
    results = grade(SOLUTIONS_DIR)
    assert [r.name for r in results] == list(EXERCISES)
    for r in results:
        failed = [f"{c.name}: {c.message}" for c in r.checks if not c.passed]
        assert not failed, f"solution of {r.name} fails: {failed}"
        assert r.score[1] >= 5


def test_generated_stubs_fail_every_check(student_dir):
    for r in grade(student_dir):
        assert r.score == (0, len(CHECKS[r.name]))
        assert all("not written yet" in c.message for c in r.checks), [c.message for c in r.checks]


def test_student_version_is_the_solution_with_each_region_replaced_by_a_stub():
    for name in EXERCISES:
        source = solution_source(name)
        student = strip_solutions(source, name)
        compile(student, f"{name}.py", "exec")
        assert BEGIN_MARKER not in student and END_MARKER not in student
        kept = [line for line in source.splitlines() if line.strip() not in (BEGIN_MARKER, END_MARKER)]
        assert all(line in student.splitlines() for line in kept if line.lstrip().startswith(("def ", '"""')))
        assert student.count("not written yet") == source.count(BEGIN_MARKER) >= 1


def test_malformed_markers_are_refused_with_the_line():
    body = "def f():\n    {}\n    return 1\n"
    with pytest.raises(ValueError, match="line 2.*never closed|never closed"):
        strip_solutions(body.format(BEGIN_MARKER), "broken")
    with pytest.raises(ValueError, match="line 2"):
        strip_solutions(body.format(END_MARKER), "broken")
    with pytest.raises(ValueError, match="inside a function body"):
        strip_solutions(f"{BEGIN_MARKER}\nx = 1\n{END_MARKER}\n", "broken")


def test_solution_markers_exist_only_in_the_exercise_sources():
    solutions = os.path.join("exercises", "solutions")
    marked = {path for path, text in _package_sources()
              if any(line.strip() in (BEGIN_MARKER, END_MARKER) for line in text.splitlines())}
    assert marked == {os.path.join(solutions, f"{name}.py") for name in EXERCISES}


def test_no_exercise_stub_is_importable_from_the_library():
    stub = re.compile(r"raise\s+NotImplementedError\s*\(\s*f?[\"']exercise")
    assert not [path for path, text in _package_sources() if stub.search(text)]
    for path, text in _package_sources():
        if path.startswith("exercises"):
            assert not re.search(r"raise NotImplementedError|TODO|FIXME", text), path


def test_make_refuses_a_non_empty_folder_and_leaves_it_alone(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        make_student_versions(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]
    written = make_student_versions(tmp_path, overwrite=True)
    assert len(written) == len(EXERCISES) + 1
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_grader_turns_every_kind_of_broken_code_into_failures(tmp_path):
    broken = {
        "conv2d_literal": "def conv2d_literal(x, h)\n    return x\n",  # syntax error
        "conv_transpose2d_scatter": "import numpy as np\ndef conv_transpose2d_scatter(x, k, stride=1):\n"
                                    "    print('debugging' * 1000)\n    return np.zeros((1, 1))\n",
        "conv2d_backward": "def conv2d_backward(gy, x, w, stride=1, padding=0):\n    return None\n",
        "mse": "import sys\ndef mse(y_true, y_pred, mask=None):\n    sys.exit(3)\n",
        "sgd_momentum": "def sgd_momentum_step(theta, grad, velocity, lr, momentum=0.9, weight_decay=0.0):\n"
                        "    while True:\n        pass\n",
    }
    for name, text in broken.items():
        (tmp_path / f"{name}.py").write_text(text)
    results = {r.name: r for r in grade(tmp_path, timeout=0.2)}
    assert all(r.score[0] == 0 for r in results.values())
    assert "cannot be imported: SyntaxError" in results["conv2d_literal"].checks[0].message
    assert "returned shape (1, 1)" in results["conv_transpose2d_scatter"].checks[0].message
    assert "returned None" in results["conv2d_backward"].checks[0].message
    assert "SystemExit" in results["mse"].checks[0].message
    assert "defines no function 'mse_grad'" in results["mse"].checks[2].message
    assert "longer than 0.2 s" in results["sgd_momentum"].checks[0].message
    later = results["sgd_momentum"].checks[1:]
    assert later and all(c.timed_out and not c.passed and "ran out of time" in c.message for c in later)
    assert sum(c.seconds for c in results["sgd_momentum"].checks) < 2  # one timeout, not one per check


def test_correlation_instead_of_convolution_fails_exactly_the_flip_sensitive_checks(tmp_path):
    wrong = solution_source("conv2d_literal").replace("h[i - p, j - q]", "h[K - 1 - (i - p), L - 1 - (j - q)]")
    (tmp_path / "conv2d_literal.py").write_text(wrong)
    (result,) = grade(tmp_path, exercises=["conv2d_literal"])
    failed = {c.name for c in result.checks if not c.passed}
    assert failed == {"matches_seed_conv2d", "delta_kernel_shifts_input", "is_commutative"}


def test_cli_make_then_grade(tmp_path, run_cli):
    folder = tmp_path / "hw"
    code, out, _ = run_cli("exercises", "make", folder)
    assert code == 0 and "grade them with" in out
    assert sorted(os.listdir(folder)) == sorted([f"{n}.py" for n in EXERCISES] + ["README.md"])

    code, _, err = run_cli("exercises", "make", folder)
    assert code == 2 and "not empty" in err and "--force" in err
    assert run_cli("exercises", "make", folder, "--force")[0] == 0

    code, out, _ = run_cli("exercises", "grade", folder, "--exercise", "mse")
    assert code == 1
    assert re.search(r"^mse\s+0/6", out, re.M) and "total: 0/6 checks passed" in out


def test_cli_grade_of_the_solutions_exits_0_with_full_scores(run_cli):
    graded = ("conv_transpose2d_scatter", "sgd_momentum")
    code, out, _ = run_cli("exercises", "grade", SOLUTIONS_DIR, *[a for n in graded for a in ("--exercise", n)])
    assert code == 0
    for name in graded:
        n = len(CHECKS[name])
        assert re.search(rf"^{name}\s+{n}/{n}$", out, re.M), out


def test_cli_grade_of_a_missing_folder_is_a_usage_error(tmp_path, run_cli):
    code, _, err = run_cli("exercises", "grade", tmp_path / "nowhere")
    assert code == 2 and "does not exist" in err


def test_cli_grade_of_a_file_or_a_folder_without_exercises_is_a_usage_error(tmp_path, run_cli):
    (tmp_path / "notes.txt").write_text("hello")
    code, out, err = run_cli("exercises", "grade", tmp_path / "notes.txt")
    assert code == 2 and out == "" and "is not a folder" in err and err.count("\n") == 1
    code, out, err = run_cli("exercises", "grade", tmp_path)
    assert code == 2 and out == "" and "holds none of the exercise files" in err and err.count("\n") == 1


def test_cli_grading_leaves_no_hypothesis_folder_behind(tmp_path, run_cli):
    """Hypothesis fixes its cache folder (./.hypothesis) once per process, so this runs in a fresh one."""
    folder = tmp_path / "hw"
    assert run_cli("exercises", "make", folder)[0] == 0
    done = subprocess.run([sys.executable, "-m", "deconvlab", "exercises", "grade", str(folder), "--exercise", "mse"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 1 and "mse" in done.stdout, done.stderr
    assert sorted(os.listdir(tmp_path)) == ["hw"]
