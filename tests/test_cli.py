"""The ``deconvlab`` command: every sub-command works, and every mistake is one line on stderr with exit code 2,
no traceback, and no file written. Run in-process through ``deconvlab.cli.main`` (fast), plus real processes."""
import itertools
import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import deconvlab
from deconvlab import adaptation, checkpoints, cli, data, inpainting, train



@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Inputs shared by the tests: a tiny model, a 20x24 photo (PNG and JPEG), masks, a folder of photos."""
    root = tmp_path_factory.mktemp("inputs")
    cfg = train.TrainConfig(width=4)
    checkpoints.save_weights(root / "tiny.npz", train.build_model(cfg), cfg)
    rng = np.random.default_rng(0)
    rgb = (rng.random((20, 24, 3)) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(root / "photo.png")
    Image.fromarray(rgb).save(root / "photo.jpg", quality=95)
    hole = np.zeros((20, 24), np.uint8)
    hole[5:12, 6:14] = 255
    Image.fromarray(hole).save(root / "mask.png")
    Image.fromarray(hole[:10]).save(root / "mask-10x24.png")
    Image.fromarray(np.zeros_like(hole)).save(root / "mask-empty.png")
    Image.fromarray(np.full_like(hole, 255)).save(root / "mask-full.png")
    folder = root / "photos"
    folder.mkdir()
    for k in range(2):
        Image.fromarray((rng.random((40, 48, 3)) * 255).astype(np.uint8)).save(folder / f"p{k}.png")
    Image.fromarray((rng.random((36, 40)) * 255).astype(np.uint8)).save(folder / "gray.jpg")
    (root / "notes.txt").write_text("not an image")
    return root


def run(capsys, *args):
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def listing(*folders):
    return {str(p) for f in folders for p in pathlib.Path(f).rglob("*")}


def assert_one_line_error(code, err, *needles):
    assert code == 2, err
    assert err.endswith("\n") and err.count("\n") == 1, f"expected one line, got {err!r}"
    assert "Traceback" not in err and err.startswith("deconvlab")
    for needle in needles:
        assert needle in err, err


# ----------------------------------------------------------------------------------------- every command works

@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_inpaint_fills_the_hole_and_keeps_known_pixels(files, tmp_path, capsys, ext):
    out_path = tmp_path / f"out{ext}"
    code, out, err = run(capsys, "inpaint", files / "photo.png", "--mask", files / "mask.png", "-o", out_path,
                         "--model", files / "tiny.npz")
    assert code == 0 and err == ""
    assert out.strip() == f"filled 56 pixels; wrote {out_path}"
    assert os.listdir(tmp_path) == [out_path.name]
    result, original = data.load_image(out_path), data.load_image(files / "photo.png")
    assert result.shape == original.shape
    if ext == ".png":
        known = data.load_image(files / "mask.png", as_gray=True) < 0.5
        assert np.array_equal(result[known], original[known])


@pytest.mark.parametrize("mode", ["L", "LA", "I;16"])
def test_a_gray_photo_is_written_back_in_gray(files, tmp_path, capsys, mode):
    rgb = np.asarray(Image.open(files / "photo.png"))
    gray = Image.fromarray(rgb[:, :, 1])
    if mode == "LA":
        gray = Image.merge("LA", (gray, Image.new("L", gray.size, 255)))
    elif mode == "I;16":
        gray = Image.fromarray(rgb[:, :, 1].astype(np.uint16) * 257)
    gray.save(tmp_path / "gray.png")
    assert data.is_gray_file(tmp_path / "gray.png") and not data.is_gray_file(files / "photo.png")
    code, out, err = run(capsys, "inpaint", tmp_path / "gray.png", "--mask", files / "mask.png",
                         "-o", tmp_path / "out.png", "--model", files / "tiny.npz")
    assert code == 0, err
    with Image.open(tmp_path / "out.png") as written:
        assert written.mode == "L"
        result = np.asarray(written)
    known = data.load_image(files / "mask.png", as_gray=True) < 0.5
    assert np.array_equal(result[known], rgb[:, :, 1][known])


def test_inpaint_with_an_empty_mask_writes_the_image_unchanged_without_a_model(files, tmp_path, capsys):
    code, out, err = run(capsys, "inpaint", files / "photo.png", "--mask", files / "mask-empty.png",
                         "-o", tmp_path / "o.png")
    assert code == 0 and "filled 0 pixels" in out
    assert err.count("\n") == 1 and "marks no pixel as missing" in err
    assert np.array_equal(data.load_image(tmp_path / "o.png"), data.load_image(files / "photo.png"))


def test_evaluate_a_folder_as_json(files, capsys):
    code, out, err = run(capsys, "evaluate", files / "photos", "--model", files / "tiny.npz", "--crops", 4,
                         "--patch", 16, "--masks", "center,bernoulli", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["run"] == dict(protocol="crops", source=str(files / "photos"), crops=4, patch=16, seed=1234,
                                 masks=["center", "bernoulli"], model=str(files / "tiny.npz"),
                                 unit="dB for PSNR; intensity in [0, 1] for L1")
    results = report["results"]
    assert sorted(results) == ["bernoulli", "center"]
    for rows in results.values():
        assert {"model", "mean", "harmonic"} <= set(rows)
        for scores in rows.values():
            assert set(scores) == {"hole_psnr", "mean_hole_psnr", "full_psnr", "hole_l1", "ssim"}
            assert all(np.isfinite(v) for v in scores.values())


def test_evaluate_prints_a_table_for_the_bundled_photos(files, capsys):
    code, out, err = run(capsys, "evaluate", "--model", files / "tiny.npz", "--crops", 3, "--masks", "center")
    assert code == 0, err
    assert "3 crops of 32x32 from the bundled held-out photos" in out
    assert "hole PSNR" in out and "center" in out and "model" in out


def test_train_a_few_steps_then_resume_longer(files, tmp_path, capsys):
    out_dir = tmp_path / "run"
    common = ["--data", files / "photos", "--width", 4, "--batch-size", 2, "--patch-size", 16, "--eval-every", 2,
              "--dtype", "float64", "--quiet"]
    code, out, err = run(capsys, "train", "--out", out_dir, "--steps", 2, *common)
    assert code == 0, err
    assert "step 2: loss" in out
    assert sorted(os.listdir(out_dir)) == [".lock", "checkpoint.npz", "history.csv", "history.png"]
    code, out, err = run(capsys, "train", "--out", out_dir, "--resume", "--steps", 4, "--quiet",
                         "--data", files / "photos")
    assert code == 0, err
    assert "resumed from" in out and "step 4: loss" in out
    assert checkpoints.load_checkpoint(out_dir / "checkpoint.npz")[0]["step"] == 4
    code, _, err = run(capsys, "train", "--out", out_dir, "--resume", "--steps", 3, "--quiet")
    assert_one_line_error(code, err, "is already at step 4 of 3; pass a larger --steps to continue it")
    code, _, err = run(capsys, "train", "--out", out_dir, "--resume", "--width", 8, "--quiet")
    assert_one_line_error(code, err, "width: 4 -> 8")
    before = (out_dir / "checkpoint.npz").read_bytes()
    code, _, err = run(capsys, "train", "--out", out_dir, "--steps", 2, *common)
    assert_one_line_error(code, err, "already holds a run (checkpoint.npz); continue it with --resume")
    assert (out_dir / "checkpoint.npz").read_bytes() == before
    code, out, err = run(capsys, "train", "--out", out_dir, "--steps", 2, "--overwrite", *common)
    assert code == 0, err
    assert checkpoints.load_checkpoint(out_dir / "checkpoint.npz")[0]["step"] == 2


def test_a_coloured_or_mostly_white_mask_is_filled_with_a_one_line_warning(files, tmp_path, capsys):
    photo = np.asarray(Image.open(files / "photo.png"))
    red = np.zeros(photo.shape[:2] + (3,), np.uint8)
    red[2:6, 2:6] = (255, 0, 0)
    red[8:12, 8:12] = 255
    Image.fromarray(red).save(tmp_path / "red.png")
    code, out, err = run(capsys, "inpaint", files / "photo.png", "--mask", tmp_path / "red.png",
                         "-o", tmp_path / "o.png", "--model", files / "tiny.npz")
    assert code == 0 and "filled 16 pixels" in out
    assert err.count("\n") == 1 and err.startswith("deconvlab: warning: mask") and "is in colour" in err
    inverted = np.full(photo.shape[:2], 255, np.uint8)
    inverted[3:6, 3:6] = 0
    Image.fromarray(inverted).save(tmp_path / "inverted.png")
    code, out, err = run(capsys, "inpaint", files / "photo.png", "--mask", tmp_path / "inverted.png",
                         "-o", tmp_path / "o.png", "--model", files / "tiny.npz")
    assert code == 0
    assert err.count("\n") == 1 and "% of the pixels as missing" in err and "invert it" in err


def test_version_and_python_dash_m(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("deconvlab ")
    done = subprocess.run([sys.executable, "-m", "deconvlab", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == out


def test_train_reports_divergence_in_one_line_with_exit_code_1(files, tmp_path, capsys):
    code, _, err = run(capsys, "train", "--out", tmp_path, "--data", files / "photos", "--width", 4, "--batch-size", 1,
                       "--patch-size", 16, "--steps", 20, "--optimizer", "sgd", "--momentum", 0, "--lr", 1e30,
                       "--quiet")
    assert code == 1
    assert err.count("\n") == 1 and "stopped:" in err and "Try a lower --lr" in err


def test_demo_draws_its_comparison_with_whatever_network_it_is_given(files, tmp_path, capsys):
    code, out, err = run(capsys, "demo", "-o", tmp_path / "demo.jpg", "--photo", "camera", "--model", files / "tiny.npz")
    assert code == 0, err
    assert [line.split()[0] for line in out.splitlines()] == ["network", "harmonic", "mean", "wrote"]
    assert Image.open(tmp_path / "demo.jpg").format == "JPEG"
    assert os.listdir(tmp_path) == ["demo.jpg"]


def test_demo_writes_its_comparison_picture_with_the_network_ahead_of_the_harmonic_fill(tmp_path, capsys):
    code, out, err = run(capsys, "demo", "-o", tmp_path / "demo.png")
    assert code == 0, err
    assert "network" in out and "harmonic fill" in out and "wrote" in out
    assert Image.open(tmp_path / "demo.png").size[0] > 500
    psnr = {line.split("hole PSNR")[0].strip(): float(line.split("hole PSNR")[1].split()[0])
            for line in out.splitlines() if "hole PSNR" in line}
    assert psnr["network"] > psnr["harmonic fill"] + 0.2  # measured 22.12 against 21.82 dB on chelsea


def test_help_exits_0(capsys):
    code, out, _ = run(capsys, "inpaint", "--help")
    assert code == 0 and "--max-pixels" in out


# ----------------------------------------------------------------------------------------- mistakes: exit 2, one line

MISTAKES = [
    # (arguments with {f} = the inputs folder and {t} = an empty output folder, text the message must contain)
    ("inpaint {f}/missing.png --mask {f}/mask.png -o {t}/o.png", "'{f}/missing.png' does not exist"),
    ("inpaint {f}/photo.png --mask {f}/missing.png -o {t}/o.png", "mask '{f}/missing.png' does not exist"),
    ("inpaint {f}/notes.txt --mask {f}/mask.png -o {t}/o.png --model {f}/tiny.npz", "not a readable image"),
    ("inpaint {f}/photos --mask {f}/mask.png -o {t}/o.png --model {f}/tiny.npz", "takes its masks from --mask-dir"),
    ("inpaint {f}/photo.png --mask {f}/mask-10x24.png -o {t}/o.png --model {f}/tiny.npz", "is 24x10 pixels but image"),
    ("inpaint {f}/photo.png --mask {f}/mask-full.png -o {t}/o.png --model {f}/tiny.npz", "every pixel"),
    ("inpaint {f}/photo.png --mask {f}/mask.png -o {t}/o.gif --model {f}/tiny.npz", "must end in .png, .jpg or .jpeg"),
    ("inpaint {f}/photo.png --mask {f}/mask.png -o {t}/nowhere/o.png --model {f}/tiny.npz", "folder of output"),
    ("inpaint {f}/photo.png --mask {f}/mask.png -o {t}/o.png --model {f}/missing.npz",
     "model '{f}/missing.npz' does not exist"),
    ("inpaint {f}/photo.png --mask {f}/mask.png -o {t}/o.png --model {f}/photo.png", "not an .npz archive"),
    ("inpaint {f}/photo.png --mask {f}/mask.png -o {t}/o.png --model {f}/photos", "is not a file"),
    ("inpaint {f}/photo.png --mask {f}/mask.png -o {t}/o.png --tile 100",
     "--tile: expected a tile side of at least 256"),
    ("inpaint {f}/photo.png --mask {f}/mask.png -o {t}/o.png --tile -3", "expected a positive integer, got '-3'"),
    ("inpaint {f}/photo.png --mask {f}/mask.png -o {t}/o.png --max-pixels 100", "more than --max-pixels 100; pass a larger --max-pixels"),
    ("inpaint {f}/photo.png -o {t}/o.png", "give the mask with --mask MASK"),
    ("inpaint {f}/photo.png --mask {f}/mask.png -o {t}/o.png --bogus", "unrecognized arguments: --bogus"),
    ("evaluate {f}/missing --model {f}/tiny.npz", "folder '{f}/missing' does not exist"),
    ("evaluate {f}/photo.png --model {f}/tiny.npz", "is not a folder"),
    ("evaluate {t} --model {f}/tiny.npz", "no PNG or JPEG images"),
    ("evaluate {f}/photos --model {f}/tiny.npz --crops --patch 20", "--patch must be a multiple of 8"),
    ("evaluate {f}/photos --model {f}/tiny.npz --crops --patch 8", "and at least 16 (SSIM's 11x11 window must fit), got 8"),
    ("evaluate {f}/photos --model {f}/tiny.npz --seed -1", "--seed: expected a non-negative integer, got '-1'"),
    ("evaluate {f}/photos --model {f}/tiny.npz --masks ,", "--masks names no mask kind"),
    ("evaluate {f}/photos --model {f}/tiny.npz --crops --patch 64", "smaller than the 64x64 patch"),
    ("evaluate {f}/photos --model {f}/tiny.npz --crops --masks squares",
     "unknown mask kind(s) squares for the crop protocol; choose from center, rectangles"),
    ("evaluate {f}/photos --model {f}/tiny.npz --masks center",
     "unknown mask kind(s) center for the whole-photo protocol; choose from thin-strokes"),
    ("evaluate {f}/photos --model {f}/tiny.npz --patch 16", "--patch sets the crop size of --crops"),
    ("evaluate {f}/photos --model {f}/tiny.npz --whole --crops 3", "not allowed with argument --whole"),
    ("evaluate {f}/photos --data {f}/photos --model {f}/tiny.npz", "give the folder of photos once"),
    ("evaluate {f}/photos --model {f}/tiny.npz --crops 0", "--crops: expected a number of crops from 1 to 100000, got '0'"),
    ("evaluate {f}/photos --model {f}/tiny.npz --max-pixels 500", "more than --max-pixels 500"),
    ("train --out {t}/run --steps 0", "--steps: expected a positive integer, got '0'"),
    ("train --out {t}/run --lr nan", "--lr: expected a positive number, got 'nan'"),
    ("train --out {t}/run --momentum 1.5", "--momentum must be in [0, 1), got 1.5"),
    ("train --out {t}/run --patch-size 12", "--patch-size must be a multiple of 8, got 12"),
    ("train --out {t}/run --mask-kinds center,holes", "--mask-kinds must be among"),
    ("train --out {t}/run --optimizer lbfgs", "--optimizer: invalid choice: 'lbfgs'"),
    ("train --out {t}/run --resume", "no checkpoint.npz in '{t}/run'"),
    ("train --out {t}/run --resume --overwrite", "--resume and --overwrite contradict each other"),
    ("train --out {t}/run --seed -2", "--seed: expected a non-negative integer, got '-2'"),
    ("train --out {f}/photo.png", "is a file; give a folder"),
    ("train --out {t}/run --data {f}/missing", "data folder '{f}/missing' does not exist"),
    ("train --out {t}/run --data {f}/photos --patch-size 64", "smaller than the 64x64 patch"),
    ("train --out {t}/run --tv-weight -1", "--tv-weight must be a finite number >= 0, got -1.0"),
    ("train --out {t}/run --adversarial-weight inf", "--adversarial-weight: expected a finite number, got 'inf'"),
    ("train --out {t}/run --critic-width 0", "--critic-width: expected a positive integer, got '0'"),
    ("inpaint {f}/photo.png --mask {f}/mask.png -o {t}/o.png --passes 3", "--passes: invalid choice: 3"),
    ("inpaint {f}/photo.png --mask {f}/mask.png -o {t}/o.png --orientations 3", "--orientations: invalid choice: 3"),
    ("evaluate --crops 4 --orientations 2", "cannot be combined with --crops"),
    ("evaluate --crops 4 --adapt 2", "--adapt adapts the network to whole photos; it cannot be combined with --crops"),
    ("evaluate --adapt -3", "--adapt: expected a non-negative integer, got '-3'"),
    ("inpaint {f}/photo.png --mask {f}/mask.png -o {t}/o.png --adapt x", "--adapt: expected a non-negative integer"),
    ("inpaint {f}/photo.png --mask {f}/mask.png -o {t}/o.png --model vae --samples 2 --adapt 2",
     "--samples and --adapt cannot be combined"),
    ("evaluate --crops 4 --passes 4", "--passes averages the network's fills of whole photos; it cannot be combined with --crops"),
    ("evaluate --passes 3", "--passes: invalid choice: 3"),
    ("bench layers", "unknown benchmark 'layers'; expected 'kernels', 'train-step' or 'compile'"),
    ("bench --repeats 0", "--repeats: expected a positive integer, got '0'"),
    ("bench kernels --width 5", "--width sets the network of 'bench train-step'"),
    ("bench compile --width 5", "'bench compile' compiles the kernels"),
    ("bench compile --repeats 3", "--repeats sets what 'bench kernels' and 'bench train-step' time"),
    ("bench compile --batch 4", "--batch sets what 'bench kernels' and 'bench train-step' time"),
    ("bench train-step --dtype float64", "times float32 training only"),
    ("demo -o {t}/demo.png --model {f}/missing.npz", "model '{f}/missing.npz' does not exist"),
    ("inpaint {f}/photo.png --mask {f}/mask.png -o {t}/%s.png --model {f}/tiny.npz" % ("n" * 260),
     "cannot write output"),
    ("demo -o {t}/demo.bmp", "must end in .png, .jpg or .jpeg"),
    ("demo --photo astronaut", "--photo: invalid choice: 'astronaut'"),
    ("unknown-command", "invalid choice: 'unknown-command'"),
    ("", "the following arguments are required: COMMAND"),
]


@pytest.mark.parametrize("template, needle", MISTAKES,
                         ids=[m[0].split(" {")[0] + f"-{i}" for i, m in enumerate(MISTAKES)])
def test_a_mistake_is_one_line_exit_2_and_writes_nothing(files, tmp_path, capsys, template, needle):
    args = [a.format(f=files, t=tmp_path) for a in template.split()]
    before = listing(files, tmp_path)
    code, out, err = run(capsys, *args)
    assert_one_line_error(code, err, needle.format(f=files, t=tmp_path))
    assert listing(files, tmp_path) == before


def test_a_corrupt_checkpoint_given_to_resume_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "checkpoint.npz").write_bytes(b"PK\x03\x04 but nothing else")
    code, _, err = run(capsys, "train", "--out", tmp_path, "--resume")
    assert_one_line_error(code, err, "checkpoint.npz", "truncated")


def test_a_write_that_fails_half_way_leaves_no_output_and_no_temporary_file(files, tmp_path, capsys, monkeypatch):
    def full_disk(self, handle, *args, **kwargs):
        handle.write(b"\x89PNG half of a picture")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full_disk)
    (tmp_path / "o.png").write_bytes(b"an older result")
    code, _, err = run(capsys, "inpaint", files / "photo.png", "--mask", files / "mask.png", "-o", tmp_path / "o.png",
                       "--model", files / "tiny.npz")
    assert code == 1 and err.count("\n") == 1 and "No space left on device" in err
    assert os.listdir(tmp_path) == ["o.png"]
    assert (tmp_path / "o.png").read_bytes() == b"an older result"


def test_an_internal_failure_is_one_line_exit_1_and_a_traceback_only_when_debugging(files, tmp_path, capsys,
                                                                                    monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the kernel fell over\nsecond line of detail")

    monkeypatch.setattr(inpainting, "inpaint", broken)
    args = ["inpaint", files / "photo.png", "--mask", files / "mask.png", "-o", tmp_path / "o.png",
            "--model", files / "tiny.npz"]
    code, _, err = run(capsys, *args)
    assert code == 1
    assert err == "deconvlab inpaint: failed: RuntimeError: the kernel fell over second line of detail\n"
    assert os.listdir(tmp_path) == []
    monkeypatch.setenv("DECONVLAB_DEBUG", "1")
    with pytest.raises(RuntimeError, match="kernel fell over"):
        cli.main([str(a) for a in args])


# ----------------------------------------------------------------------------------------- the real console script

def console(*args, env=None):
    exe = shutil.which("deconvlab")
    command = [exe] if exe else [sys.executable, "-m", "deconvlab.cli"]
    return subprocess.run(command + [str(a) for a in args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def test_console_script_inpaints_and_reports_a_bad_image_in_one_line(files, tmp_path):
    done = console("inpaint", files / "photo.jpg", "--mask", files / "mask.png", "-o", tmp_path / "o.png",
                   "--model", files / "tiny.npz")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "o.png").exists()
    bad = console("inpaint", files / "notes.txt", "--mask", files / "mask.png", "-o", tmp_path / "x.png",
                  "--model", files / "tiny.npz")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    assert not (tmp_path / "x.png").exists()


@pytest.mark.slow
def test_console_script_bench():
    done = console("bench", "--repeats", 1, "--batch", 2, "--no-compile-times")
    assert done.returncode == 0, done.stderr
    assert "forward+backward, batch 2" in done.stdout and "total" in done.stdout


@pytest.mark.parametrize("value", ["abc", "0", "-1", "2.0"])
@pytest.mark.parametrize("command", ["train", "demo", "evaluate", "inpaint"])
def test_a_bad_thread_budget_is_a_one_line_usage_error_before_any_work(files, tmp_path, capsys, monkeypatch,
                                                                        command, value):
    monkeypatch.setenv("DECONVLAB_NUM_THREADS", value)
    args = {"train": ["train", "--out", tmp_path / "run", "--steps", 2, "--quiet"],
            "demo": ["demo", "-o", tmp_path / "demo.png"],
            "evaluate": ["evaluate", "--crops", 2],
            "inpaint": ["inpaint", files / "photo.png", "--mask", files / "mask.png", "-o", tmp_path / "o.png"]}
    code, _, err = run(capsys, *args[command])
    assert_one_line_error(code, err, f"DECONVLAB_NUM_THREADS must be a positive integer", repr(value))
    assert os.listdir(tmp_path) == []


def test_an_interrupted_train_says_whether_there_is_a_checkpoint_to_resume(files, tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "train", interrupted)
    code, _, err = run(capsys, "train", "--out", tmp_path / "run", "--steps", 2, "--quiet")
    assert code == 130 and err.count("\n") == 1 and "Traceback" not in err
    assert "stopped before its first checkpoint, so there is nothing to resume" in err
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoint.npz").write_bytes(b"")
    code, _, err = run(capsys, "train", "--out", tmp_path / "run", "--steps", 2, "--quiet", "--overwrite")
    assert code == 130 and f"continue from the last checkpoint with --resume --out {tmp_path / 'run'}" in err


def test_evaluate_whole_photos_as_strict_json(files, capsys):
    code, out, err = run(capsys, "evaluate", "--data", files / "photos", "--model", files / "tiny.npz",
                         "--masks", "small-rectangles,blobs", "--shifts", "1", "--json")
    assert code == 0, err
    report = json.loads(out, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
    assert report["run"]["protocol"] == "whole" and report["run"]["masks"] == ["small-rectangles", "blobs"]
    assert set(report["results"]["kinds"]) == {"small-rectangles", "blobs"}
    assert "network" in report["results"]["kinds"]["blobs"]


def test_evaluate_and_inpaint_with_orientations(files, tmp_path, capsys, monkeypatch):
    code, out, err = run(capsys, "evaluate", "--data", files / "photos", "--model", files / "tiny.npz",
                         "--masks", "blobs", "--shifts", "0", "--orientations", "2", "--json")
    assert code == 0, err
    assert json.loads(out)["run"]["orientations"] == 2
    seen = []
    real = inpainting.inpaint
    monkeypatch.setattr(inpainting, "inpaint", lambda *a, **kw: seen.append(kw["orientations"]) or real(*a, **kw))
    args = ["inpaint", files / "photo.png", "--mask", files / "mask.png", "--model", files / "tiny.npz", "--quiet"]
    assert run(capsys, *args, "-o", tmp_path / "one.png")[0] == 0
    assert run(capsys, *args, "-o", tmp_path / "four.png", "--orientations", "4")[0] == 0
    assert seen == [1, 4] and (tmp_path / "four.png").is_file()


def test_evaluate_and_inpaint_with_adapt(files, tmp_path, capsys, monkeypatch):
    seen = []
    real = inpainting.inpaint
    monkeypatch.setattr(inpainting, "inpaint", lambda *a, **kw: seen.append(kw["adapt"]) or real(*a, **kw))
    code, out, err = run(capsys, "evaluate", "--data", files / "photos", "--model", files / "tiny.npz",
                         "--masks", "blobs", "--shifts", "0", "--adapt", "2", "--json")
    assert code == 0, err
    assert json.loads(out)["run"]["adapt"] == 2 and set(seen) == {2}
    seen.clear()
    # The self-check may keep a tiny network's unadapted weights; here it is told each check is better than the last.
    falling = itertools.count()
    monkeypatch.setattr(adaptation, "_holdout_loss", lambda *a: -next(falling))
    args = ["inpaint", files / "photo.png", "--mask", files / "mask.png", "--model", files / "tiny.npz", "--quiet"]
    assert run(capsys, *args, "-o", tmp_path / "plain.png")[0] == 0
    assert run(capsys, *args, "-o", tmp_path / "adapted.png", "--adapt", "3")[0] == 0
    assert seen == [0, 3]
    plain, adapted = (np.asarray(Image.open(tmp_path / n)) for n in ("plain.png", "adapted.png"))
    hole = np.asarray(Image.open(files / "mask.png")) > 127
    assert np.array_equal(plain[~hole], adapted[~hole]) and not np.array_equal(plain, adapted)


def test_evaluate_with_passes_fills_and_measures_the_shift_with_them(files, capsys, monkeypatch):
    seen = []
    real = inpainting.inpaint
    monkeypatch.setattr(inpainting, "inpaint", lambda *a, **kw: seen.append(kw.get("passes", 1)) or real(*a, **kw))
    code, out, err = run(capsys, "evaluate", "--data", files / "photos", "--model", files / "tiny.npz",
                         "--masks", "blobs", "--shifts", "1", "--passes", "4", "--json")
    assert code == 0, err
    assert json.loads(out)["run"]["passes"] == 4
    assert seen and set(seen) == {4}  # the fills, the shifted fills and the smooth images alike


def test_inpaint_shows_a_progress_bar_on_a_terminal_unless_quiet(files, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(inpainting, "PROGRESS_DELAY", 0)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    args = ["inpaint", files / "photo.png", "--mask", files / "mask.png", "--model", files / "tiny.npz"]
    code, _, err = run(capsys, *args, "-o", tmp_path / "a.png")
    assert code == 0 and "inpainting" in err
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, _, err = run(capsys, *args, "-o", tmp_path / "b.png", "--quiet")
    assert code == 0 and err == ""


def test_inpaint_a_folder_of_photos_with_their_masks(files, tmp_path, capsys):
    photos, mask_dir, out = tmp_path / "photos", tmp_path / "masks", tmp_path / "out"
    photos.mkdir()
    mask_dir.mkdir()
    image = data.load_image(files / "photo.png")
    for name in ("a", "b", "c"):
        data.save_image(photos / f"{name}.png", image)
    data.save_image(photos / "a_mask.png", np.zeros(image.shape[:2]))  # a mask beside the photos: not a photo
    shutil.copy(files / "mask.png", mask_dir / "a.png")
    shutil.copy(files / "mask.png", mask_dir / "b_mask.png")  # c has no mask
    code, out_text, err = run(capsys, "inpaint", photos, "--mask-dir", mask_dir, "-o", out, "--model",
                              files / "tiny.npz", "--quiet")
    assert code == 1
    assert "done 2, skipped 0" in out_text and "failed 1" in out_text
    assert "c.png: no mask for it" in err and err.count("\n") == 1
    assert sorted(p for p in os.listdir(out) if not p.startswith(".")) == ["a.png", "b.png"]
    code, out_text, _ = run(capsys, "inpaint", photos, "--mask-dir", mask_dir, "-o", out, "--model",
                            files / "tiny.npz", "--quiet")
    assert "done 0, skipped 2" in out_text
    code, out_text, _ = run(capsys, "inpaint", photos, "--mask-dir", mask_dir, "-o", out, "--model",
                            files / "tiny.npz", "--quiet", "--overwrite")
    assert "done 2, skipped 0" in out_text


def test_evaluate_a_folder_does_not_count_mask_files_as_photos(files, tmp_path, capsys):
    folder = tmp_path / "photos"
    shutil.copytree(files / "photos", folder)
    data.save_image(folder / "x_mask.png", np.zeros((8, 8)))  # too small to be a photo: it must be skipped
    code, out, err = run(capsys, "evaluate", "--data", folder, "--model", files / "tiny.npz", "--masks", "blobs",
                         "--shifts", "0")
    assert code == 0, err


def test_a_short_training_run_still_logs_a_curve(files, tmp_path, capsys):
    code, _, err = run(capsys, "train", "--out", tmp_path / "run", "--data", files / "photos", "--width", 4,
                       "--batch-size", 1, "--patch-size", 16, "--steps", 16, "--quiet")
    assert code == 0, err
    lines = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert len(lines) == 1 + 8  # header and eight points, not one


def test_inpaint_samples_writes_k_different_fills_of_a_vae(files, tmp_path, capsys):
    cfg = train.TrainConfig(model="vae", width=4)
    net = train.build_model(cfg)
    draw = np.random.default_rng(1)
    for layer in (net.out, net.inject, net.prior_head):  # an untrained VAE returns its start: give it a say
        layer.weight.data[...] = (draw.standard_normal(layer.weight.shape) * 0.3).astype(np.float32)
    checkpoints.save_weights(tmp_path / "vae.npz", net, cfg)
    out = tmp_path / "filled.png"
    code, printed, err = run(capsys, "inpaint", files / "photo.png", "--mask", files / "mask.png", "-o", out,
                             "--model", tmp_path / "vae.npz", "--samples", 3, "--seed", 4)
    assert code == 0, err
    paths = [tmp_path / f"filled_{k}.png" for k in (1, 2, 3)]
    assert all(p.exists() for p in paths) and not out.exists() and all(str(p) in printed for p in paths)
    first, second = (np.asarray(Image.open(p), dtype=np.int16) for p in paths[:2])
    assert np.abs(first - second).max() > 0
    code, _, err = run(capsys, "inpaint", files / "photo.png", "--mask", files / "mask.png", "-o", out,
                       "--samples", 2, "--model", files / "tiny.npz")
    assert_one_line_error(code, err, "--samples needs a network that samples")
    code, _, err = run(capsys, "inpaint", files / "photo.png", "--mask", files / "mask.png", "-o", out, "--seed", 3)
    assert_one_line_error(code, err, "--seed is the seed of --samples")
    code, printed, err = run(capsys, "inpaint", files / "photo.png", "--mask", files / "mask.png", "-o", out,
                             "--model", "vae", "--samples", 2)  # the bundled VAE, by name
    assert code == 0, err
    assert "filled_2.png" in printed


def test_inpaint_takes_the_bundled_networks_by_name_and_default_is_the_holenet(files, tmp_path, capsys):
    photo = data.load_image(files / "photo.png")
    hole = np.asarray(Image.open(files / "mask.png")) > 127
    outputs = {}
    for name in ("default", "holenet", "inpaintnet", None):
        out = tmp_path / f"{name}.png"
        code, _, err = run(capsys, "inpaint", files / "photo.png", "--mask", files / "mask.png", "-o", out,
                           *(() if name is None else ("--model", name)))
        assert code == 0, err
        outputs[name] = np.asarray(Image.open(out), dtype=np.int16)
    expected = np.round(deconvlab.inpaint(photo, hole, model=deconvlab.load_pretrained("holenet")) * 255)
    assert np.abs(outputs[None] - expected).max() <= 1
    assert np.array_equal(outputs[None], outputs["default"]) and np.array_equal(outputs[None], outputs["holenet"])
    assert np.abs(outputs["inpaintnet"] - outputs[None]).max() > 0  # another network
    code, _, err = run(capsys, "inpaint", files / "photo.png", "--mask", files / "mask.png", "-o", tmp_path / "x.png",
                       "--model", "largest")
    assert_one_line_error(code, err, "model 'largest' does not exist")
