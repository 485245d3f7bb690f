"""The exercises: the instructor's solutions pass the grader, the shipped student versions fail it and are what the
solutions give, no solution is installed, and the grader and the ``deconvlab exercises`` command survive whatever
a student's code does."""
import argparse
import csv
import os
import pathlib
import re
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import deconvlab
from deconvlab import cli
from deconvlab.exercises import (EXERCISES, grade, make_student_versions, strip_solutions, student_version,
                                 template_source)
from deconvlab.exercises import child
from deconvlab.exercises.checks import ARRAY_VARIANTS, CHECKS
from deconvlab.exercises.cli import add_parser
from deconvlab.exercises.grading import grade_exercise
from deconvlab.exercises.student import BEGIN_MARKER, END_MARKER

PACKAGE_DIR = pathlib.Path(deconvlab.__file__).resolve().parent
REPO = PACKAGE_DIR.parent
SOLUTIONS = REPO / "instructor" / "solutions"


def solution_source(name):
    return (SOLUTIONS / f"{name}.py").read_text(encoding="utf-8")


def _package_files():
    for path in PACKAGE_DIR.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".txt", ".md"):
            yield path.relative_to(PACKAGE_DIR), path.read_text(encoding="utf-8")


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


# ------------------------------------------------------------------------------ solutions and student versions

def test_the_instructor_solutions_pass_every_check():
    results = grade(SOLUTIONS)
    assert [r.name for r in results] == list(EXERCISES) and len(EXERCISES) >= 9
    for r in results:
        failed = [f"{c.name}: {c.message}" for c in r.checks if not c.passed]
        assert not failed, f"solution of {r.name} fails: {failed}"
        assert r.score[1] >= 2


def test_the_shipped_student_versions_fail_every_check(student_dir):
    for r in grade(student_dir):
        assert r.score == (0, len(CHECKS[r.name])), r.name
        assert all("not written yet" in c.message for c in r.checks), [c.message for c in r.checks]


def test_the_shipped_templates_are_what_the_instructor_solutions_give():
    for name in EXERCISES:
        assert template_source(name) == student_version(solution_source(name), name), (
            f"templates/{name}.py.txt is stale: run python instructor/make_templates.py")


def test_a_student_version_is_the_solution_with_each_region_replaced_by_a_stub():
    for name in EXERCISES:
        source = solution_source(name)
        student = template_source(name)
        compile(student, f"{name}.py", "exec")
        assert BEGIN_MARKER not in student and END_MARKER not in student
        kept = [line for line in source.splitlines() if line.strip() not in (BEGIN_MARKER, END_MARKER)]
        assert all(line in student.splitlines() for line in kept if line.lstrip().startswith(("def ", "class ", '"""')))
        assert student.count("not written yet") == source.count(BEGIN_MARKER) >= 1


def _secret_lines(name):
    """The lines of exercise ``name``'s solution regions that no student version gives away (argument handling
    shared with given code aside), stripped, of 25 characters or more."""
    given = {line.strip() for other in EXERCISES for line in template_source(other).splitlines()}
    secret, inside = [], False
    for line in solution_source(name).splitlines():
        if line.strip() in (BEGIN_MARKER, END_MARKER):
            inside = line.strip() == BEGIN_MARKER
        elif inside and len(line.strip()) >= 25 and line.strip() not in given:
            secret.append(line.strip())
    return secret


def test_the_package_holds_no_solution():
    """No marker anywhere, and no line of a solution that no student version shows anywhere in the exercises
    package. The library itself has the article's formulas in deconvlab.reference, by design: they are what the
    checks compare with, and a student's file cannot import them. One exception, by necessity: the grader of
    training_loop replays the loop that exercise specifies (checks/training.py, ``specified_loop``), as the
    library's own training loop (deconvlab/train.py) also shows one."""
    files = {path: {line.strip() for line in text.splitlines()} for path, text in _package_files()
             if path.parts[0] == "exercises"}
    assert not any(line in (BEGIN_MARKER, END_MARKER) for lines in files.values() for line in lines)
    assert not (PACKAGE_DIR / "exercises" / "solutions").exists()
    for name in EXERCISES:
        searched = {p: lines for p, lines in files.items() if not (name == "training_loop" and p.name == "training.py")}
        leaked = [(str(path), line) for line in _secret_lines(name) for path, lines in searched.items() if line in lines]
        assert not leaked, f"solution lines of {name} found in the package: {leaked[:3]}"


def test_setup_cfg_installs_the_templates_and_not_the_instructor_folder():
    text = (REPO / "setup.cfg").read_text()
    assert "include = deconvlab, deconvlab.*" in text and "exercises/templates/*.py.txt" in text
    assert "prune instructor" in (REPO / "MANIFEST.in").read_text()


@pytest.mark.slow
def test_the_wheel_holds_the_templates_and_no_solution(tmp_path):
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    source = tmp_path / "source"
    for name in listed.stdout.splitlines():
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes((REPO / name).read_bytes())
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                            str(tmp_path / "dist"), str(source)], capture_output=True, text=True)
    if built.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {built.stderr.strip()[-200:]}")
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {f"deconvlab/exercises/templates/{n}.py.txt" for n in EXERCISES} <= set(names)
    assert not [n for n in names if "instructor" in n or "solutions" in n or "mutants" in n]


def test_malformed_markers_are_refused_with_the_line():
    body = "def f():\n    {}\n    return 1\n"
    with pytest.raises(ValueError, match="never closed"):
        strip_solutions(body.format(BEGIN_MARKER), "broken")
    with pytest.raises(ValueError, match="line 2"):
        strip_solutions(body.format(END_MARKER), "broken")
    with pytest.raises(ValueError, match="inside a function body"):
        strip_solutions(f"{BEGIN_MARKER}\nx = 1\n{END_MARKER}\n", "broken")


def test_make_refuses_a_non_empty_folder_and_leaves_it_alone(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        make_student_versions(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]
    written = make_student_versions(tmp_path, overwrite=True)
    assert len(written) == len(EXERCISES) + 1
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_every_array_exercise_is_checked_on_every_input_variant():
    for name in ("conv2d_literal", "conv_transpose2d_scatter", "im2col", "conv2d_backward",
                 "conv_transpose2d_backward", "mse"):
        assert all(c.variants == ARRAY_VARIANTS for c in CHECKS[name]), name
    assert {v.name for c in CHECKS["sgd_momentum"] for v in c.variants} == {v.name for v in ARRAY_VARIANTS}


# ------------------------------------------------------------------------------ the grader's process

def _grade_files(folder, files, **options):
    for name, text in files.items():
        (folder / f"{name}.py").write_text(text)
    return {r.name: r for r in grade(folder, exercises=list(files), **options)}


def test_the_grader_turns_every_kind_of_broken_code_into_failures(tmp_path):
    results = _grade_files(tmp_path, {
        "conv2d_literal": "def conv2d_literal(x, h)\n    return x\n",  # syntax error
        "conv_transpose2d_scatter": "import numpy as np\ndef conv_transpose2d_scatter(x, k, stride=1):\n"
                                    "    print('debugging' * 100000)\n    return np.zeros((1, 1))\n",
        "conv2d_backward": "def conv2d_backward(gy, x, w, stride=1, padding=0):\n    return None\n",
        "mse": "def mse(y_true, y_pred, mask=None):\n    raise SystemExit(3)\n",
        "sgd_momentum": "def sgd_momentum_step(theta, grad, velocity, lr, momentum=0.9, weight_decay=0.0):\n"
                        "    while True:\n        pass\n",
    }, timeout=0.5)
    assert all(r.score[0] == 0 for r in results.values())
    assert "cannot be imported: SyntaxError" in results["conv2d_literal"].checks[0].message
    assert "returned shape (1, 1)" in results["conv_transpose2d_scatter"].checks[0].message
    assert "returned None" in results["conv2d_backward"].checks[0].message
    assert "SystemExit" in results["mse"].checks[0].message
    assert "defines no 'mse_grad'" in results["mse"].checks[2].message
    assert "longer than 0.5 s" in results["sgd_momentum"].checks[0].message
    later = results["sgd_momentum"].checks[1:]
    assert later and all(c.timed_out and not c.passed and "ran out of time" in c.message for c in later)
    assert sum(c.seconds for c in results["sgd_momentum"].checks) < 3  # one timeout, not one per check


def test_every_failure_message_ends_with_a_reproduction_that_runs(tmp_path):
    wrong = solution_source("conv2d_literal").replace("h[i - p, j - q]", "h[K - 1 - (i - p), L - 1 - (j - q)]")
    results = _grade_files(tmp_path, {"conv2d_literal": wrong})
    failed = [c for c in results["conv2d_literal"].checks if not c.passed]
    assert {c.name for c in failed} == {"matches_seed_conv2d", "delta_kernel_shifts_input", "is_commutative"}
    for c in failed:
        last = c.message.splitlines()[-1]
        assert last.startswith("reproduce: import numpy as np; from conv2d_literal import conv2d_literal; ")
        done = subprocess.run([sys.executable, "-c", last[len("reproduce: "):]], cwd=tmp_path, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0 and done.stdout.startswith("[["), done.stderr


def test_expected_values_come_from_copies_taken_before_the_students_code_runs(tmp_path):
    in_place = solution_source("mse").replace(
        "    diff = np.asarray(y_true, dtype=np.float64) - np.asarray(y_pred, dtype=np.float64)\n",
        "    y_pred = np.asarray(y_pred, dtype=np.float64)\n    y_pred -= np.asarray(y_true, dtype=np.float64)\n"
        "    diff = -y_pred\n")
    (result,) = _grade_files(tmp_path, {"mse": in_place}).values()
    message = result.checks[0].message
    assert "changed its argument y_pred in place" in message and "expected" not in message.splitlines()[0]


def test_a_student_process_that_exits_is_a_failure_and_the_grader_still_reports(tmp_path):
    (tmp_path / "mse.py").write_text(
        "import numpy as np\nimp = np.__builtins__['__import__'] if isinstance(np.__builtins__, dict) else "
        "np.__builtins__.__import__\ndef mse(y_true, y_pred, mask=None):\n    imp('os')._exit(0)\n")
    done = subprocess.run([sys.executable, "-m", "deconvlab", "exercises", "grade", str(tmp_path), "--exercise", "mse"],
                          cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 1, done.stderr
    assert re.search(r"^mse\s+0/6", done.stdout, re.M) and "ended (exit code 0) before it gave a result" in done.stdout


def test_forbidden_imports_are_refused_with_the_allowed_list(tmp_path):
    results = _grade_files(tmp_path, {
        "conv2d_literal": "from deconvlab import reference\n",
        "im2col": "import scipy.signal\n",
        "mse": "import os\n",
        "receptive_field": "import importlib\n",
        "training_loop": "from deconvlab import train\n",
    })
    for name, r in results.items():
        assert r.score[0] == 0
        assert "may not import" in r.checks[0].message and "write the computation yourself" in r.checks[0].message


def test_the_numpy_only_process_cannot_reach_deconvlab_even_around_the_guard(tmp_path):
    (result,) = _grade_files(tmp_path, {"conv2d_literal": (
        "import numpy as np\nimp = np.__builtins__['__import__'] if isinstance(np.__builtins__, dict) else "
        "np.__builtins__.__import__\ndef conv2d_literal(x, h):\n    return imp('deconvlab.reference', "
        "fromlist=['x']).seed_conv2d(x, h)\n")}).values()
    assert result.score[0] == 0 and "No module named 'deconvlab'" in result.checks[0].message


def test_the_wire_format_round_trips_and_refuses_what_is_not_data():
    value = {"a": (np.arange(6.0).reshape(2, 3), [1, 2.5, None, True, "x"]), "b": np.float32(1.5),
             "c": np.zeros((0, 2), dtype=np.int64), "d": np.array([[True, False]])}
    back = child.decode(child.encode(value))
    assert back["a"][1] == [1, 2.5, None, True, "x"] and isinstance(back["a"], tuple)
    assert np.array_equal(back["a"][0], value["a"][0]) and back["a"][0].flags.writeable
    assert back["b"] == np.float32(1.5) and back["b"].dtype == np.float32
    assert back["c"].shape == (0, 2) and back["d"].dtype == bool
    opaque = child.decode(child.encode([object(), np.array([object()]), 1j]))
    assert [type(o).__name__ for o in opaque] == ["Opaque"] * 3
    frame = bytearray(child.encode(np.ones(3)))
    with pytest.raises(ValueError):
        child.decode(bytes(frame[:-1]))
    header = b'{"$": "array", "dtype": "|O", "shape": [1], "offset": 0, "nbytes": 8}'
    with pytest.raises(ValueError, match="malformed"):
        child.decode(child.struct.pack(">QQ", len(header), 8) + header + bytes(8))


def test_the_import_guard_admits_allowed_modules_and_their_submodules_only():
    allowed = ("numpy", "deconvlab.functional", "math")
    assert child.allowed_import("numpy.lib.stride_tricks", (), allowed)
    assert child.allowed_import("deconvlab", ("functional",), allowed)
    assert child.allowed_import("deconvlab.functional", None, allowed)
    assert not child.allowed_import("deconvlab", (), allowed)
    assert not child.allowed_import("deconvlab", ("functional", "train"), allowed)
    assert not child.allowed_import("numpyx", (), allowed)


def test_timeouts_are_finite_positive_and_bounded():
    for bad in (0, -1, float("inf"), float("nan"), 1e10, "soon"):
        with pytest.raises(ValueError, match="timeout"):
            grade(SOLUTIONS, exercises=["mse"], timeout=bad)


# ------------------------------------------------------------------------------ the command

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
    code, out, _ = run_cli("exercises", "grade", SOLUTIONS, *[a for n in graded for a in ("--exercise", n)])
    assert code == 0
    for name in graded:
        n = len(CHECKS[name])
        assert re.search(rf"^{name}\s+{n}/{n}$", out, re.M), out


@pytest.mark.parametrize("value", ["1e10", "0", "-3", "inf", "nan", "soon"])
def test_cli_refuses_a_bad_timeout_in_one_line(run_cli, value):
    code, out, err = run_cli("exercises", "grade", SOLUTIONS, "--timeout", value)
    assert code == 2 and out == "" and "--timeout" in err and err.count("\n") == 1, err


def test_cli_collects_a_class_as_csv(tmp_path, run_cli):
    for student in ("ana", "ben"):
        make_student_versions(tmp_path / student)
    (tmp_path / "ana" / "mse.py").write_text(solution_source("mse"))
    code, out, _ = run_cli("exercises", "grade", tmp_path / "ana", tmp_path / "ben", "--exercise", "mse",
                           "--exercise", "receptive_field", "--csv", tmp_path / "class.csv")
    assert code == 1 and "== " in out and "wrote" in out
    rows = list(csv.DictReader((tmp_path / "class.csv").open()))
    scores = {(pathlib.Path(r["folder"]).name, r["exercise"]): (int(r["passed"]), int(r["total"])) for r in rows}
    assert scores == {("ana", "mse"): (6, 6), ("ana", "receptive_field"): (0, 5),
                      ("ben", "mse"): (0, 6), ("ben", "receptive_field"): (0, 5)}
    assert rows[1]["failed_checks"].split() == [c.name for c in CHECKS["receptive_field"]]


def test_cli_grade_of_a_missing_folder_is_a_usage_error(tmp_path, run_cli):
    code, _, err = run_cli("exercises", "grade", tmp_path / "nowhere")
    assert code == 2 and "does not exist" in err


def test_cli_grade_of_a_file_or_a_folder_without_exercises_is_a_usage_error(tmp_path, run_cli):
    (tmp_path / "notes.txt").write_text("hello")
    code, out, err = run_cli("exercises", "grade", tmp_path / "notes.txt")
    assert code == 2 and out == "" and "is not a folder" in err and err.count("\n") == 1
    code, out, err = run_cli("exercises", "grade", tmp_path)
    assert code == 2 and out == "" and "holds none of the exercise files" in err and err.count("\n") == 1


def test_cli_grading_leaves_no_hypothesis_folder_and_no_bytecode_behind(tmp_path, run_cli):
    """Hypothesis fixes its cache folder (./.hypothesis) once per process, so this runs in a fresh one."""
    folder = tmp_path / "hw"
    assert run_cli("exercises", "make", folder)[0] == 0
    done = subprocess.run([sys.executable, "-m", "deconvlab", "exercises", "grade", str(folder), "--exercise", "mse"],
                          cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 1 and "mse" in done.stdout, done.stderr
    assert sorted(os.listdir(tmp_path)) == ["hw"] and "__pycache__" not in os.listdir(folder)


def test_grade_exercise_reports_a_missing_file(tmp_path):
    result = grade_exercise("mse", str(tmp_path))
    assert result.score == (0, len(CHECKS["mse"])) and "no file mse.py" in result.checks[0].message


def test_import_from_the_folder_that_holds_the_clone_finds_the_package(tmp_path):
    """A folder named deconvlab in the working directory (the clone itself, seen from its parent) must not shadow
    the installed package as an empty namespace package."""
    (tmp_path / "deconvlab").symlink_to(REPO, target_is_directory=True)
    code = "import deconvlab; print(deconvlab.__file__, hasattr(deconvlab, 'inpaint'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    file, has_inpaint = out.stdout.split()
    assert file != "None" and has_inpaint == "True", out.stdout
