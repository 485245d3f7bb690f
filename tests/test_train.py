"""Training runs and their checkpoints: files written, exact resume, crash safety, damaged files, divergence."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from deconvlab import checkpoints, optim, train


PLOT_HISTORY = train.plot_history


@pytest.fixture(autouse=True)
def no_plots(monkeypatch):
    """Drawing history.png costs about a second; only the test of the written files draws it."""
    monkeypatch.setattr(train, "plot_history", lambda history, path, reference=None: None)


def tiny_config(**overrides):
    """A run that takes a fraction of a second: width 4, 2 patches of 16x16 per step, 2 evaluation crops."""
    settings = dict(width=4, steps=4, batch_size=2, patch_size=16, eval_every=2, eval_crops=2,
                    checkpoint_every=2, dtype="float64", seed=3)
    settings.update(overrides)
    return train.TrainConfig(**settings)


def photos(seed=0, n=2, size=40):
    """Smooth random colour images, so the network has something learnable and tests need no files."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    return [np.clip(0.5 + 0.4 * np.sin(6 * yy * rng.uniform(0.5, 2) + xx * rng.uniform(0, 4))[:, :, None]
                    * rng.uniform(-1, 1, 3), 0, 1).astype(np.float32) for _ in range(n)]


def run(config, out, resume=False):
    return train.train(config, str(out), resume=resume, images=photos(), eval_images=photos(1), progress=False,
                       log=lambda *_: None)


def parameters(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def assert_same_parameters(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype
        assert np.array_equal(a[key], b[key]), f"{key} differs by {np.abs(a[key] - b[key]).max():.3g}"


def test_a_short_run_writes_checkpoint_history_csv_and_plot(tmp_path, monkeypatch):
    monkeypatch.setattr(train, "plot_history", PLOT_HISTORY)
    model, history = run(tiny_config(), tmp_path)
    assert sorted(os.listdir(tmp_path)) == [".lock", "checkpoint.npz", "history.csv", "history.png"]  # .lock: the run's
    assert [h["step"] for h in history] == [2, 4]
    lines = (tmp_path / "history.csv").read_text().splitlines()
    assert lines[0].split(",") == ["step", "seconds", "loss", "grad_norm", "center_hole_psnr"]
    assert len(lines) == 3
    assert (tmp_path / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    meta, state, opt_state = checkpoints.load_checkpoint(tmp_path / "checkpoint.npz")
    assert meta["step"] == 4 and meta["history"] == history
    assert_same_parameters(state, parameters(model))
    assert_same_parameters(parameters(checkpoints.load_model(tmp_path / "checkpoint.npz")), parameters(model))


def test_same_seed_gives_identical_parameters(tmp_path):
    a, _ = run(tiny_config(), tmp_path / "a")
    b, _ = run(tiny_config(), tmp_path / "b")
    c, _ = run(tiny_config(seed=4), tmp_path / "c")
    assert_same_parameters(parameters(a), parameters(b))
    assert not np.array_equal(parameters(a)["enc1.weight"], parameters(c)["enc1.weight"])


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("extra", [{}, dict(model="holenet", tv_weight=0.1, adversarial_weight=0.01, critic_width=2),
                                   dict(model="vae", kl_weight=0.5, kl_warmup=3, free_bits=0.01),
                                   dict(model="holenet-gated", ema=0.9)],
                         ids=["inpaintnet-mse", "holenet-tv-adversarial", "vae", "holenet-gated-weight-average"])
def test_resume_after_interruption_is_bit_identical_to_an_uninterrupted_run(tmp_path, monkeypatch, extra):
    config = tiny_config(steps=6, eval_every=4, checkpoint_every=3, **extra)  # the break falls between two evaluations
    whole, whole_history = run(config, tmp_path / "whole")

    save = train.save_checkpoint

    def save_then_crash(*args, **kwargs):
        save(*args, **kwargs)
        raise Interrupt("the machine went down right after the step-3 checkpoint")

    monkeypatch.setattr(train, "save_checkpoint", save_then_crash)
    with pytest.raises(Interrupt):
        run(config, tmp_path / "split")
    monkeypatch.setattr(train, "save_checkpoint", save)
    assert checkpoints.load_checkpoint(tmp_path / "split" / "checkpoint.npz")[0]["step"] == 3
    assert not (tmp_path / "split" / "history.csv").exists()  # the crash came before the history was written
    resumed, resumed_history = run(config, tmp_path / "split", resume=True)

    assert_same_parameters(parameters(resumed), parameters(whole))
    critics = [checkpoints.load_checkpoint_part(tmp_path / name / "checkpoint.npz", "critic") for name in ("whole", "split")]
    if extra.get("adversarial_weight"):  # the critic and its optimiser resumed too
        assert_same_parameters(critics[0][0], critics[1][0])
        assert critics[0][1]["state"].keys() == critics[1][1]["state"].keys()
    else:
        assert critics == [None, None]
    averages = [checkpoints.load_checkpoint_part(tmp_path / name / "checkpoint.npz", "average") for name in ("whole", "split")]
    if extra.get("ema"):  # the weight average resumed too
        assert_same_parameters(averages[0][0], averages[1][0])
        assert_same_parameters(parameters(checkpoints.load_model(tmp_path / "split" / "average.npz")), averages[1][0])
        assert all(h["average_center_hole_psnr"] > 0 for h in resumed_history)
    else:
        assert averages == [None, None]
    strip = lambda history: [{k: v for k, v in h.items() if k != "seconds"} for h in history]
    assert strip(resumed_history) == strip(whole_history)  # the step-4 loss averages steps 1-4 in both runs


def test_resume_with_changed_settings_is_refused_naming_them(tmp_path):
    run(tiny_config(), tmp_path)
    with pytest.raises(ValueError, match=r"width: 4 -> 8"):
        run(tiny_config(width=8), tmp_path, resume=True)
    _, history = run(tiny_config(steps=6), tmp_path, resume=True)  # a longer run may continue
    assert [h["step"] for h in history] == [2, 4, 6]


# ----------------------------------------------------------------------------------------- damaged checkpoints

@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("good")
    run(tiny_config(steps=2), out)
    return out / "checkpoint.npz"


def _damaged(kind, good, folder):
    path = folder / f"{kind}.npz"
    data = good.read_bytes()
    if kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "random-bytes":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "unrelated-npz":
        np.savez(path, weights=np.ones(3), labels=np.arange(4))
    elif kind == "json-less-meta":
        np.savez(path, meta=np.frombuffer(b"\xff\xfe not json", dtype=np.uint8))
    elif kind == "foreign-format":
        np.savez(path, meta=np.frombuffer(json.dumps({"format": "someone-else-1"}).encode(), dtype=np.uint8))
    elif kind == "wrong-shapes":
        with np.load(good) as z:
            arrays = {k: z[k] for k in z.files}
        arrays["model/enc1.weight"] = np.zeros((1, 1, 1, 1))
        np.savez(path, **arrays)
    return path


DAMAGE = ["truncated", "random-bytes", "empty", "unrelated-npz", "json-less-meta", "foreign-format", "wrong-shapes"]


@pytest.mark.parametrize("kind", DAMAGE)
def test_a_damaged_or_foreign_checkpoint_is_a_value_error_naming_the_path(kind, good_checkpoint, tmp_path):
    path = _damaged(kind, good_checkpoint, tmp_path)
    loaders = [checkpoints.load_model] if kind == "wrong-shapes" else [checkpoints.load_checkpoint, checkpoints.load_model]
    for load in loaders:
        with pytest.raises(ValueError) as info:
            load(path)
        message = str(info.value)
        assert str(path) in message and "\n" not in message, message


def test_a_missing_checkpoint_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        checkpoints.load_checkpoint(tmp_path / "nothing.npz")


def test_weights_round_trip_and_are_not_a_checkpoint(tmp_path, good_checkpoint):
    weights = tmp_path / "weights.npz"
    checkpoints.export_weights(good_checkpoint, weights)
    umask = os.umask(0o022)
    os.umask(umask)
    assert os.stat(weights).st_mode & 0o777 == 0o666 & ~umask  # readable by all, as shipped weights must be
    assert os.listdir(tmp_path) == ["weights.npz"]
    assert_same_parameters(parameters(checkpoints.load_model(weights)), parameters(checkpoints.load_model(good_checkpoint)))
    with pytest.raises(ValueError, match="deconvlab-weights-1"):
        checkpoints.load_checkpoint(weights)


def test_half_precision_weights_are_half_the_size_and_load_as_the_rounded_parameters(tmp_path, good_checkpoint):
    full, half = tmp_path / "full.npz", tmp_path / "half.npz"
    checkpoints.export_weights(good_checkpoint, full)
    checkpoints.export_weights(good_checkpoint, half, storage_dtype="float16")
    assert os.path.getsize(half) < 0.6 * os.path.getsize(full)
    original, loaded = parameters(checkpoints.load_model(full)), parameters(checkpoints.load_model(half))
    for key, value in original.items():
        assert loaded[key].dtype == value.dtype
        assert np.array_equal(loaded[key], value.astype(np.float16).astype(value.dtype))


def test_weights_outside_float16_range_are_refused(tmp_path):
    model = train.build_model(train.TrainConfig(width=2))
    model.out.bias.data[0] = 1e6
    with pytest.raises(ValueError, match="'model/out.bias' does not fit in float16"):
        checkpoints.save_weights(tmp_path / "w.npz", model, train.TrainConfig(width=2), storage_dtype="float16")
    assert os.listdir(tmp_path) == []


KILLED_RUN = textwrap.dedent(
    """
    import sys
    import numpy as np
    from deconvlab import train

    rng = np.random.default_rng(0)
    images = [rng.random((40, 40, 3)).astype(np.float32) for _ in range(2)]
    config = train.TrainConfig(width=24, steps=100000, batch_size=1, patch_size=16, eval_every=100000,
                               eval_crops=1, checkpoint_every=1, dtype="float64")
    print("ready", flush=True)
    train.train(config, sys.argv[1], resume=True, images=images, eval_images=images, progress=False)
    """
)


@pytest.mark.slow
def test_sigkill_while_writing_checkpoints_leaves_a_loadable_checkpoint(tmp_path):
    """Checkpoints of ~16 MB written after every step; each run (resuming the previous one) is killed at a random
    moment after it has replaced the checkpoint at least once. Whatever checkpoint.npz exists afterwards
    loads, and its step never goes backwards."""
    script = tmp_path / "killed_run.py"
    script.write_text(KILLED_RUN)
    out = tmp_path / "run"
    rng = np.random.default_rng(7)
    steps = [0]
    def identity(path):
        return (path.stat().st_ino, path.stat().st_mtime_ns) if path.exists() else None

    for attempt in range(4):
        previous = identity(out / "checkpoint.npz")
        proc = subprocess.Popen([sys.executable, str(script), str(out)], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        try:
            assert proc.stdout.readline().strip() == "ready"
            deadline = time.monotonic() + 60
            while identity(out / "checkpoint.npz") == previous and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.3))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        leftovers = [name for name in os.listdir(out) if name.endswith(".tmp")]
        assert len(leftovers) <= 1, leftovers  # the next resumed run removes what a killed one left
        meta, state, _ = checkpoints.load_checkpoint(out / "checkpoint.npz")
        assert meta["step"] >= steps[-1]
        steps.append(meta["step"])
        print(f"kill {attempt}: checkpoint at step {meta['step']}, half-written temporary files: {len(leftovers)}")
        assert all(np.isfinite(v).all() for v in state.values())
        checkpoints.load_model(out / "checkpoint.npz")
    assert steps[-1] > 0


# ----------------------------------------------------------------------------------------- divergence and clipping

def test_an_absurd_learning_rate_stops_with_training_diverged_and_keeps_the_last_good_checkpoint(tmp_path):
    config = tiny_config(steps=50, optimizer="sgd", momentum=0.0, lr=1e30, clip_grad_norm=0.0,
                         checkpoint_every=1, eval_every=50)
    with pytest.raises(train.TrainingDiverged, match=r"(NaN or infinite|became (nan|inf)) at step \d+") as info:
        run(config, tmp_path)
    assert "checkpoint" in str(info.value) and "--lr" in str(info.value)
    ckpt = tmp_path / "checkpoint.npz"
    if ckpt.exists():  # whatever was saved before the blow-up holds finite numbers only
        assert all(np.isfinite(v).all() for v in checkpoints.load_checkpoint(ckpt)[1].values())


def test_a_nan_loss_stops_training_and_the_checkpoint_before_it_stays_usable(tmp_path, monkeypatch):
    calls = []
    masked_loss = train.masked_loss

    def nan_at_step_3(*args, **kwargs):
        calls.append(1)
        loss = masked_loss(*args, **kwargs)
        return loss * float("nan") if len(calls) == 3 else loss

    monkeypatch.setattr(train, "masked_loss", nan_at_step_3)
    with pytest.raises(train.TrainingDiverged, match=r"loss became nan at step 3; the last checkpoint \(.*\) is kept"):
        run(tiny_config(steps=4, checkpoint_every=2), tmp_path)
    meta, state, _ = checkpoints.load_checkpoint(tmp_path / "checkpoint.npz")
    assert meta["step"] == 2 and all(np.isfinite(v).all() for v in state.values())


def test_a_non_finite_gradient_norm_stops_training(tmp_path, monkeypatch):
    monkeypatch.setattr(optim, "clip_grad_norm", lambda params, max_norm: float("nan"))
    with pytest.raises(train.TrainingDiverged, match="gradient norm became nan at step 1"):
        run(tiny_config(), tmp_path)


def test_gradient_clipping_bounds_the_first_sgd_step(tmp_path):
    """One plain SGD step moves the parameters by lr·g·min(1, c/‖g‖): exactly lr·c when ‖g‖ > c."""
    lr, clip = 0.1, 1e-3
    deltas = {}
    for c in (clip, 0.0):
        config = tiny_config(steps=1, optimizer="sgd", momentum=0.0, lr=lr, schedule="constant", clip_grad_norm=c,
                             start="mean")  # every layer has a gradient at the first step
        start = parameters(train.build_model(config))
        model, history = run(config, tmp_path / str(c))
        end = parameters(model)
        deltas[c] = np.sqrt(sum(np.sum((end[k] - start[k]) ** 2) for k in start))
        grad_norm = history[-1]["grad_norm"]
    assert grad_norm > clip
    print(f"step length with clipping {deltas[clip]:.6g} (expected lr*c = {lr * clip:.6g}), without {deltas[0.0]:.4g}")
    assert deltas[clip] == pytest.approx(lr * clip, rel=1e-9)
    assert deltas[0.0] == pytest.approx(lr * grad_norm, rel=1e-3)  # grad_norm is logged rounded to 4 decimals


def test_the_default_start_is_harmonic_and_files_without_one_hold_mean_start_networks(tmp_path):
    assert train.TrainConfig().start == "harmonic"
    config = tiny_config(start="mean")
    model = train.build_model(config)
    checkpoints.save_weights(tmp_path / "w.npz", model, config)
    with np.load(tmp_path / "w.npz") as z:
        arrays = dict(z)
    meta = json.loads(arrays["meta"].tobytes().decode())
    del meta["config"]["start"]  # as written before the setting existed
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(tmp_path / "old.npz", **arrays)
    assert checkpoints.load_model(tmp_path / "old.npz").start == "mean"


@pytest.mark.parametrize("field, value", [
    ("width", 0), ("steps", 2.5), ("patch_size", 12), ("lr", float("nan")), ("lr", float("inf")),
    ("momentum", 1.0), ("l1_weight", -1.0), ("clip_grad_norm", float("nan")), ("seed", -1), ("optimizer", "rmsprop"),
    ("mask_kinds", ("holes",)), ("dtype", "float16"),
    ("start", "zero"),
])
def test_bad_settings_are_a_value_error_naming_the_setting_and_value(field, value):
    with pytest.raises(ValueError, match=rf"{field}.*{value!r}".replace("(", r"\(").replace(")", r"\)")):
        tiny_config(**{field: value})


def test_the_history_is_written_at_every_checkpoint(tmp_path, monkeypatch):
    config = tiny_config(steps=4, eval_every=1, checkpoint_every=2)
    written = []
    write = train.write_history
    monkeypatch.setattr(train, "write_history", lambda history, out: (written.append(len(history)), write(history, out)))
    run(config, tmp_path)
    assert written == [2, 4]
    assert (tmp_path / "history.csv").read_text().count("\n") == 5


def test_resuming_a_run_that_is_already_at_its_last_step_is_refused_before_any_work(tmp_path):
    run(tiny_config(), tmp_path)
    with pytest.raises(ValueError, match=r"already at step 4 of 4; pass a larger steps to continue it"):
        run(tiny_config(), tmp_path, resume=True)
    with pytest.raises(ValueError, match=r"already at step 4 of 2"):
        run(tiny_config(steps=2), tmp_path, resume=True)


def test_resumed_config_puts_the_given_settings_over_the_checkpoints(tmp_path):
    run(tiny_config(), tmp_path)
    config = train.resumed_config(str(tmp_path), steps=8)
    assert config == tiny_config(steps=8)


def test_resume_checks_that_the_images_are_the_same_and_warns_about_another_thread_count(tmp_path, monkeypatch):
    from deconvlab import parallel

    run(tiny_config(), tmp_path)
    other = photos(seed=5)
    with pytest.raises(ValueError, match="was trained on other images than these"):
        train.train(tiny_config(steps=6), str(tmp_path), resume=True, images=other, eval_images=photos(1),
                    progress=False, log=lambda *_: None)
    train.train(tiny_config(steps=6), str(tmp_path), resume=True, images=other, eval_images=photos(1),
                progress=False, log=lambda *_: None, allow_other_data=True)
    monkeypatch.setattr(parallel._state, "requested", parallel.get_num_threads() + 1)
    with pytest.warns(RuntimeWarning, match="written with .* threads, this run uses"):
        train.train(tiny_config(steps=8), str(tmp_path), resume=True, images=other, eval_images=photos(1),
                    progress=False, log=lambda *_: None)


def test_a_run_can_start_from_the_parameters_of_an_earlier_one_of_the_same_network(tmp_path):
    first, _ = run(tiny_config(model="holenet"), tmp_path / "small")
    config = tiny_config(model="holenet", patch_size=24, steps=1, init_from=str(tmp_path / "small" / "checkpoint.npz"))
    started = train._Run(config, str(tmp_path / "large"), photos(), photos(1))
    started.start_from(config.init_from)
    assert_same_parameters(parameters(started.model), parameters(first))
    second, _ = run(config, tmp_path / "large")
    assert not np.array_equal(parameters(second)["enc1.weight"], parameters(first)["enc1.weight"])  # it trained on
    with pytest.raises(ValueError, match=r"cannot start from .* other shapes than the holenet of width 6"):
        run(tiny_config(model="holenet", width=6, init_from=config.init_from), tmp_path / "wider")
    with pytest.raises(ValueError, match=r"cannot start from .*missing\.npz"):
        run(tiny_config(init_from=str(tmp_path / "missing.npz")), tmp_path / "nothing")
    # a HoleNet's parameters start a holenet-fourier: its Fourier unit keeps its fresh (zero) values
    grown = train._Run(tiny_config(model="holenet-fourier", init_from=config.init_from), str(tmp_path / "grown"),
                       photos(), photos(1))
    fresh = parameters(grown.model)
    grown.start_from(config.init_from)
    assert_same_parameters({k: v for k, v in parameters(grown.model).items() if not k.startswith("fourier.")},
                           parameters(first))
    assert not fresh["fourier.conv.weight"].any() and not parameters(grown.model)["fourier.conv.weight"].any()
    vae = train._Run(tiny_config(model="vae", init_from=config.init_from), str(tmp_path / "vae"), photos(), photos(1))
    vae.start_from(config.init_from)  # the VAE is a HoleNet grown: it starts from one
    assert_same_parameters({k: v for k, v in parameters(vae.model).items() if k in parameters(first)}, parameters(first))
    with pytest.raises(ValueError, match=r"cannot start from .* other shapes than the inpaintnet"):
        run(tiny_config(model="inpaintnet", init_from=config.init_from), tmp_path / "other")


def test_the_contrast_gate_is_a_holenet_setting_that_the_checkpoint_keeps(tmp_path):
    model, _ = run(tiny_config(model="holenet", contrast=0.02), tmp_path / "gated")
    assert model.contrast == 0.02
    assert checkpoints.load_model(str(tmp_path / "gated" / "checkpoint.npz")).contrast == 0.02
    with pytest.raises(ValueError, match="contrast must be 0 for a model other than the HoleNets and the VAE, got 0.02"):
        tiny_config(model="inpaintnet", contrast=0.02)
    with pytest.raises(ValueError, match="contrast must be a finite number >= 0, got -1"):
        tiny_config(model="holenet", contrast=-1)


def test_smoothed_patches_are_block_means_interpolated_and_a_share_of_the_batch_gets_them(tmp_path, monkeypatch):
    rng = np.random.default_rng(4)
    batch = rng.random((3, 3, 16, 24))
    smooth = train.smoothed(batch)
    assert smooth.shape == batch.shape and smooth.dtype == batch.dtype
    np.testing.assert_allclose(smooth.mean(axis=(2, 3)), batch.mean(axis=(2, 3)), atol=0.03)
    assert np.abs(np.diff(smooth, axis=3)).max() < np.abs(np.diff(batch, axis=3)).max() / 4  # no texture left
    np.testing.assert_allclose(train.smoothed(np.full((1, 1, 8, 8), 0.3)), 0.3)  # flat stays flat
    targets = []
    loss = train.masked_loss
    monkeypatch.setattr(train, "masked_loss", lambda pred, x, *rest: (targets.append(x), loss(pred, x, *rest))[1])
    noisy = [np.random.default_rng(k).random((40, 40, 3)).astype(np.float32) for k in range(2)]
    for share in (0.0, 1.0):
        train.train(tiny_config(smooth_share=share, steps=2, patch_size=16), str(tmp_path / f"share{share}"),
                    images=noisy, eval_images=photos(1), progress=False, log=lambda *_: None)
    rough, smooth_seen = (max(float(np.abs(np.diff(t, axis=3)).max()) for t in ts) for ts in (targets[:2], targets[2:]))
    assert smooth_seen < rough / 2
    with pytest.raises(ValueError, match=r"smooth_share must be in \[0, 1\], got 1.5"):
        tiny_config(smooth_share=1.5)


def test_the_vae_trains_through_its_posterior_with_a_warm_up(tmp_path):
    config = tiny_config(model="vae", steps=4, kl_weight=0.5, kl_warmup=3, free_bits=0.01)
    whole, _ = run(config, tmp_path / "whole")
    assert parameters(whole)["post_head.weight"].any()  # the posterior learned (it started at zero)
    assert train.vae_beta(config, 0) == pytest.approx(0.5 / 3) and train.vae_beta(config, 7) == 0.5


def test_the_vae_kl_term_is_the_divergence_per_hole_value_with_free_bits():
    kl = np.zeros((2, 3, 2, 2))
    kl[:, 0] = 0.3  # nats per position of channel 0
    kl[:, 1] = 0.01
    hole = np.zeros((2, 1, 16, 16))
    hole[0, :, :8] = 1  # 128 and 64 hole pixels: 96 on average, 288 values
    hole[1, :, :4] = 1
    assert float(train.vae_kl_term(kl, hole).data) == pytest.approx((0.3 + 0.01) * 4 / 288)
    assert float(train.vae_kl_term(kl, hole, free_bits=0.05).data) == pytest.approx((0.3 + 0.05 + 0.05) * 4 / 288)


def test_a_run_with_a_weight_average_writes_it_and_scores_it_beside_the_weights(tmp_path):
    config = tiny_config(model="holenet-gated", ema=0.5)
    model, history = run(config, tmp_path)
    assert sorted(os.listdir(tmp_path)) == [".lock", "average.npz", "checkpoint.npz", "history.csv"]
    assert (tmp_path / "history.csv").read_text().splitlines()[0].split(",")[-1] == "average_center_hole_psnr"
    average = checkpoints.load_model(tmp_path / "average.npz")
    assert type(average) is type(model)
    differs = [not np.array_equal(a, b) for a, b in zip(parameters(average).values(), parameters(model).values())]
    assert any(differs)  # the average trails the weights
    assert checkpoints.load_checkpoint(tmp_path / "checkpoint.npz")[0]["config"]["ema"] == 0.5
