"""Training inpainting networks: batches of masked patches, the loop, evaluation, atomic checkpoints; imports everything below.

One step: sample patches x (N, 3, P, P) and masks m (N, 1, P, P), predict y = model(x, m), and minimise the
article's MSE on the hole,

    L = Σ m·(x − y)² / Σ m    (+ l1_weight · Σ m·|x − y| / Σ m),

with SGD or Adam. Checkpoints hold the parameters, the optimiser and scheduler state, the random generators and
the history, so ``resume`` continues exactly where an interrupted run stopped.
"""
import csv
import dataclasses
import json
import glob
import os
import time

import numpy as np

from . import data, masks, metrics, models, optim
from . import functional as F
from ._files import atomic_write
from .autograd import no_grad

CHECKPOINT_FORMAT = "deconvlab-checkpoint-1"
WEIGHTS_FORMAT = "deconvlab-weights-1"


@dataclasses.dataclass
class TrainConfig:
    """Settings of a training run (``deconvlab train`` exposes each as an option)."""

    model: str = "inpaintnet"
    width: int = 32
    start: str = "harmonic"  # InpaintNet's starting fill (models.STARTS); SeedNetFixed has none
    steps: int = 10000
    batch_size: int = 32
    patch_size: int = 32
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "cosine"
    l1_weight: float = 0.0
    clip_grad_norm: float = 1.0
    mask_kinds: tuple = ("center", "rectangles", "strokes", "bernoulli")
    mask_weights: tuple = (0.4, 0.2, 0.3, 0.1)
    eval_every: int = 250
    eval_crops: int = 200
    checkpoint_every: int = 250
    seed: int = 0
    dtype: str = "float32"

    def __post_init__(self):
        problems = []
        for name in ("width", "steps", "batch_size", "eval_every", "eval_crops", "checkpoint_every"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                problems.append(f"{name} must be a positive integer, got {value!r}")
        if not _is_int(self.patch_size) or self.patch_size < 8 or self.patch_size % 8:
            problems.append(f"patch_size must be a multiple of 8, got {self.patch_size!r}")
        if not _is_int(self.seed) or self.seed < 0:
            problems.append(f"seed must be a non-negative integer, got {self.seed!r}")
        if not 0 <= self.momentum < 1:
            problems.append(f"momentum must be in [0, 1), got {self.momentum!r}")
        for name in ("weight_decay", "l1_weight"):
            if not 0 <= getattr(self, name) < float("inf"):
                problems.append(f"{name} must be a finite number >= 0, got {getattr(self, name)!r}")
        if self.optimizer not in ("adam", "sgd"):
            problems.append(f"optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")
        if self.schedule not in ("cosine", "constant"):
            problems.append(f"schedule must be 'cosine' or 'constant', got {self.schedule!r}")
        if not 0 <= self.clip_grad_norm < float("inf"):
            problems.append(
                f"clip_grad_norm must be a finite number >= 0 (0 = no clipping), got {self.clip_grad_norm!r}"
            )
        if not 0 < self.lr < float("inf"):
            problems.append(f"lr must be a finite positive number, got {self.lr!r}")
        if self.start not in models.STARTS:
            problems.append(f"start must be one of {sorted(models.STARTS)}, got {self.start!r}")
        if self.model not in models.MODELS:
            problems.append(f"model must be one of {sorted(models.MODELS)}, got {self.model!r}")
        self.mask_kinds = tuple(self.mask_kinds)
        self.mask_weights = tuple(float(w) for w in self.mask_weights)
        unknown = [k for k in self.mask_kinds if k not in masks.MASK_KINDS]
        if unknown or not self.mask_kinds:
            problems.append(f"mask_kinds must be among {masks.MASK_KINDS}, got {self.mask_kinds!r}")
        elif (len(self.mask_weights) != len(self.mask_kinds) or min(self.mask_weights) < 0
              or not 0 < sum(self.mask_weights) < float("inf")):
            problems.append(
                f"mask_weights {self.mask_weights!r} must be one non-negative weight per mask kind, not all zero"
            )
        if self.dtype not in ("float32", "float64"):
            problems.append(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        if problems:
            raise ValueError("TrainConfig: " + "; ".join(problems))


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


RESUMABLE_CHANGES = ("steps", "eval_every", "checkpoint_every")
"""Settings a resumed run may change; any other difference from the checkpoint's settings is refused."""


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def build_model(config):
    """A fresh model for ``config``, its parameters drawn from ``config.seed``."""
    rng = np.random.default_rng(config.seed)
    dtype = np.dtype(config.dtype)
    if config.model == "inpaintnet":
        return models.InpaintNet(config.width, dtype=dtype, rng=rng, start=config.start)
    return models.SeedNetFixed(hidden=config.width, dtype=dtype, rng=rng)


def augment(batch, rng):
    """Random transposition (with the flips already applied, all 8 symmetries of the square) and a random
    permutation of the colour channels, per sample, so six photos yield many more distinct patches."""
    out = np.empty_like(batch)
    for k in range(batch.shape[0]):
        patch = batch[k][rng.permutation(batch.shape[1])]
        out[k] = patch.transpose(0, 2, 1) if rng.random() < 0.5 else patch
    return out


def training_images(folder=None):
    """The training photos (the bundled TRAIN_PHOTOS, or every image of ``folder``), each also at half size."""
    if folder is None:
        images = list(data.bundled_photos("train").values())
    else:
        images = list(data.ImageFolder(folder))
        if not images:
            raise ValueError(f"no PNG or JPEG images found in {folder!r}")
    halves = [_half(im) for im in images if min(im.shape[:2]) >= 64]
    return images + halves


def _half(image):
    """2x2 box-filter downsampling (drops an odd last row/column)."""
    h, w = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
    im = image[:h, :w]
    return ((im[0::2, 0::2] + im[1::2, 0::2] + im[0::2, 1::2] + im[1::2, 1::2]) / 4).astype(np.float32)


def eval_set(images, n_crops=200, patch_size=32, seed=1234):
    """A fixed set of crops (N, 3, P, P) from ``images`` (no flips): the same crops in every run with ``seed``."""
    return data.PatchSampler(images, patch_size=patch_size, batch_size=n_crops, seed=seed, flips=False).sample()


def eval_masks(kind, n, size, seed=4321):
    """Fixed masks (N, 1, P, P) float32 of one kind; ``center`` is the centred square of half the patch side."""
    if kind == "center":
        m = masks.center_square(size, size, size // 2)
        return np.repeat(m[None, None], n, axis=0).astype(np.float32)
    return masks.mask_batch(n, size, size, kind=kind, seed=seed).astype(np.float32)


def predict(model, images, hole_masks, fills=None, batch_size=50):
    """Run ``model`` without recording gradients over (N, C, H, W) images and (N, 1, H, W) masks in batches;
    ``fills`` (like images) are the starting values inside the holes (default: the known pixels' mean).
    Returns a float32 ndarray."""
    dtype = model_dtype(model)
    outs = []
    with no_grad():
        for start in range(0, images.shape[0], batch_size):
            part = slice(start, start + batch_size)
            fill = None if fills is None else fills[part].astype(dtype)
            outs.append(model(images[part].astype(dtype), hole_masks[part].astype(dtype), fill).data)
    return np.concatenate(outs).astype(np.float32)


def model_dtype(model):
    """The dtype of a model's parameters."""
    return next(iter(model.parameters())).dtype


def masked_loss(pred, target, hole, l1_weight=0.0):
    """The training loss: MSE over the hole (the article's L restricted to missing pixels), plus optional L1."""
    mask = np.broadcast_to(hole, target.shape)
    loss = F.mse_loss(pred, target, mask=mask)
    if l1_weight:
        loss = loss + l1_weight * F.l1_loss(pred, target, mask=mask)
    return loss


def _sample_masks(config, rng, n, size):
    kinds = rng.choice(len(config.mask_kinds), size=n, p=np.array(config.mask_weights) / sum(config.mask_weights))
    out = np.empty((n, 1, size, size), dtype=np.float32)
    for k, kind in enumerate(kinds):
        out[k, 0] = masks.make_mask(config.mask_kinds[kind], size, size, seed=int(rng.integers(2**31)))
    return out


# ----------------------------------------------------------------------------------------- checkpoints

def _atomic_write(path, write):
    """``_files.atomic_write``, creating the folder if needed (the temporary file is ``.NAME.*.tmp``)."""
    atomic_write(path, write, make_folder=True)


def _remove_stale_temporaries(out_dir):
    """Delete the temporary files a killed run left in ``out_dir`` (what ``_atomic_write`` had not renamed yet)."""
    for name in ("checkpoint.npz", "history.csv", "history.png"):
        for stale in glob.glob(os.path.join(glob.escape(out_dir), f".{name}.*.tmp")):
            os.unlink(stale)


def save_checkpoint(path, model, optimizer, scheduler, step, rngs, history, config, pending=None):
    """Save everything needed to resume (atomically): parameters, optimiser/scheduler state, generators, history,
    and ``pending``: the per-step values gathered since the last history entry (so a resumed run logs the same)."""
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    opt_state = optimizer.state_dict()
    scalars = {}
    for idx, entries in opt_state["state"].items():
        for name, value in entries.items():
            if isinstance(value, np.ndarray):
                arrays[f"optim/{idx}/{name}"] = value
            else:
                scalars[f"{idx}/{name}"] = value.item() if hasattr(value, "item") else value
    meta = dict(
        format=CHECKPOINT_FORMAT,
        step=int(step),
        config=dataclasses.asdict(config),
        param_groups=opt_state["param_groups"],
        optim_scalars=scalars,
        scheduler=scheduler.state_dict() if scheduler is not None else None,
        rngs={name: g.bit_generator.state for name, g in rngs.items()},
        history=history,
        pending=pending or {},
    )
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    _atomic_write(path, lambda f: np.savez(f, **arrays))


def _read_npz(path, formats):
    """The arrays and the meta dict of a file written by this module; ValueError naming the path otherwise."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path!r} does not exist")
    expected = " or ".join(repr(f) for f in formats)
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise ValueError(
            f"{path!r} is not an .npz archive (it starts with {magic!r}), so not a deconvlab file ({expected})"
        )
    try:
        with np.load(path, allow_pickle=False) as z:
            files = {k: z[k] for k in z.files}
    except Exception as exc:
        raise ValueError(
            f"{path!r} is not a readable deconvlab checkpoint or weights file, it may be truncated "
            f"({type(exc).__name__}: {exc})"
        ) from None
    if "meta" not in files:
        raise ValueError(
            f"{path!r} is an .npz archive without the 'meta' entry of a deconvlab file (format {expected})"
        )
    try:
        meta = json.loads(files.pop("meta").tobytes().decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(
            f"{path!r} has a 'meta' entry that is not deconvlab's JSON ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(meta, dict) or meta.get("format") not in formats:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise ValueError(f"{path!r} has format {found!r}, expected {expected}")
    missing = [k for k in ("step", "config", "history") if k not in meta]
    if missing:
        raise ValueError(f"{path!r} lacks the entries {missing} of format {meta['format']!r}")
    return files, meta


def load_checkpoint(path):
    """Read a checkpoint written by ``save_checkpoint``: (meta dict, model arrays, optimiser state dict).

    A missing file is FileNotFoundError; a truncated or foreign one is a ValueError naming the path.
    """
    files, meta = _read_npz(path, (CHECKPOINT_FORMAT,))
    model_state = {k[len("model/"):]: v for k, v in files.items() if k.startswith("model/")}
    missing = [k for k in ("optim_scalars", "param_groups", "rngs", "scheduler") if k not in meta]
    if missing or not isinstance(meta["rngs"], dict) or set(meta["rngs"]) != {"sampler", "train"}:
        raise ValueError(f"{path!r} is a damaged deconvlab checkpoint (meta lacks {missing or ['rngs']})")
    state = {}
    try:
        for key, value in files.items():
            if key.startswith("optim/"):
                _, idx, name = key.split("/", 2)
                state.setdefault(int(idx), {})[name] = value
        for key, value in meta["optim_scalars"].items():
            idx, name = key.split("/", 1)
            state.setdefault(int(idx), {})[name] = value
    except (AttributeError, TypeError, ValueError) as exc:
        raise ValueError(f"{path!r} is a damaged deconvlab checkpoint ({type(exc).__name__}: {exc})") from None
    return meta, model_state, {"state": state, "param_groups": meta["param_groups"]}


def save_weights(path, model, config, history=(), step=0, storage_dtype=None):
    """Save a model for inference only (parameters, config, training history), atomically: the shipped format.

    ``storage_dtype="float16"`` stores the parameters rounded to half precision (half the file; ``load_model``
    converts them back to the model's dtype); a parameter outside float16's range is a ValueError.
    """
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    if storage_dtype is not None:
        if np.dtype(storage_dtype) not in (np.float16, np.float32, np.float64):
            raise ValueError(f"save_weights: storage_dtype must be float16, float32 or float64, got {storage_dtype!r}")
        for key, value in arrays.items():
            with np.errstate(over="ignore"):
                arrays[key] = value.astype(storage_dtype)
            if not np.isfinite(arrays[key]).all():
                raise ValueError(f"save_weights: {key!r} does not fit in {storage_dtype} (largest |value| "
                                 f"{np.abs(value).max():.3g})")
    meta = dict(format=WEIGHTS_FORMAT, step=int(step), config=dataclasses.asdict(config), history=list(history))
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    _atomic_write(path, lambda f: np.savez(f, **arrays))


def export_weights(checkpoint_path, weights_path, storage_dtype=None):
    """Turn a training checkpoint into a weights file (drops the optimiser state; see ``save_weights``)."""
    model = load_model(checkpoint_path)
    meta = _read_npz(checkpoint_path, (CHECKPOINT_FORMAT,))[1]
    save_weights(weights_path, model, config_from_meta(meta), meta["history"], meta["step"], storage_dtype)


def config_from_meta(meta):
    """The TrainConfig stored in a checkpoint's or weights file's meta dict (JSON lists back to tuples).
    Files written before ``start`` existed hold mean-start networks."""
    stored = {"start": "mean", **meta["config"]}
    return TrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in stored.items()})


def load_model(path):
    """The model stored in a checkpoint or weights file, in eval mode (for inference)."""
    files, meta = _read_npz(path, (CHECKPOINT_FORMAT, WEIGHTS_FORMAT))
    try:
        model = build_model(config_from_meta(meta))
    except (AttributeError, TypeError, ValueError) as exc:
        raise ValueError(f"{path!r} describes no model deconvlab can build: {exc}") from None
    try:
        dtype = model_dtype(model)  # weights may be stored in float16 (save_weights)
        model.load_state_dict({k[len("model/"):]: v.astype(dtype) if v.dtype == np.float16 else v
                               for k, v in files.items() if k.startswith("model/")})
    except (RuntimeError, ValueError) as exc:
        detail = "; ".join(line.strip() for line in str(exc).splitlines())
        raise ValueError(f"{path!r} holds parameters that do not fit its own model: {detail}") from None
    model.eval()
    return model


# ----------------------------------------------------------------------------------------- the loop

def _make_optimizer(config, model):
    params = list(model.parameters())
    if config.optimizer == "adam":
        opt = optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    else:
        opt = optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    sched = optim.CosineAnnealingLR(opt, T_max=config.steps, eta_min=config.lr * 0.02) if config.schedule == "cosine" else None
    return opt, sched


def check_resumable(path, meta, config):
    """ValueError naming the settings in which ``config`` differs from the checkpoint's (``meta``), other than
    those of RESUMABLE_CHANGES (a longer ``steps`` also stretches the cosine schedule to the new total)."""
    try:
        saved = dataclasses.asdict(config_from_meta(meta))
    except (AttributeError, TypeError, ValueError) as exc:
        raise ValueError(f"{path!r} holds settings deconvlab cannot read: {exc}") from None
    wanted = dataclasses.asdict(config)
    changed = [
        f"{k}: {saved[k]!r} -> {wanted[k]!r}" for k in saved if k not in RESUMABLE_CHANGES and saved[k] != wanted[k]
    ]
    if changed:
        raise ValueError(
            f"cannot resume from {path!r} with different settings ({'; '.join(changed)}); "
            f"only {', '.join(RESUMABLE_CHANGES)} may change"
        )


def train(config, out_dir, resume=False, images=None, eval_images=None, progress=True, log=print):
    """Train a model as ``config`` says, writing ``out_dir``/checkpoint.npz, history.csv and history.png.

    ``images``: training images (default: the bundled training photos and their half-size copies);
    ``eval_images``: images for the periodic evaluation (default: the bundled held-out photos; only measured,
    never used to choose or stop, so training never sees them). Returns (model, history).
    With ``resume``, continues from ``out_dir``/checkpoint.npz (if there is one) with the same settings, except
    those of RESUMABLE_CHANGES; the parameters are then bit-identical to an uninterrupted run's, and temporary
    files left by a killed run are removed. Every file is written atomically: a run killed at any moment
    leaves the previous checkpoint intact. A NaN or infinite loss, gradient norm or parameter stops the run
    with TrainingDiverged (the last checkpoint, saved before, holds finite values).
    """
    from tqdm.auto import tqdm

    os.makedirs(out_dir, exist_ok=True)
    ckpt_path = os.path.join(out_dir, "checkpoint.npz")
    images = training_images() if images is None else images
    eval_images = list(data.bundled_photos("test").values()) if eval_images is None else eval_images
    val_x = eval_set(eval_images, config.eval_crops, config.patch_size)
    val_m = eval_masks("center", val_x.shape[0], config.patch_size)

    model = build_model(config)
    opt, sched = _make_optimizer(config, model)
    sampler = data.PatchSampler(images, patch_size=config.patch_size, batch_size=config.batch_size, seed=config.seed)
    rng = np.random.default_rng(config.seed + 1)
    history, step, elapsed = [], 0, 0.0
    running, norms = [], []
    if resume:
        _remove_stale_temporaries(out_dir)
    if resume and os.path.exists(ckpt_path):
        meta, model_state, opt_state = load_checkpoint(ckpt_path)
        check_resumable(ckpt_path, meta, config)
        try:
            model.load_state_dict(model_state)
            opt.load_state_dict(opt_state)
            if sched is not None and meta["scheduler"] is not None:
                sched.load_state_dict(meta["scheduler"])
                sched.T_max = config.steps
            sampler.rng.bit_generator.state = meta["rngs"]["sampler"]
            rng.bit_generator.state = meta["rngs"]["train"]
        except (KeyError, RuntimeError, TypeError, ValueError) as exc:
            detail = "; ".join(line.strip() for line in str(exc).splitlines())
            raise ValueError(f"cannot resume from {ckpt_path!r}: {type(exc).__name__}: {detail}") from None
        history, step = meta["history"], meta["step"]
        running = list(meta.get("pending", {}).get("losses", []))
        norms = list(meta.get("pending", {}).get("grad_norms", []))
        elapsed = history[-1]["seconds"] if history else 0.0
        log(f"resumed from {ckpt_path} at step {step}")
    dtype = np.dtype(config.dtype)

    def checkpoint():
        save_checkpoint(ckpt_path, model, opt, sched, step, {"sampler": sampler.rng, "train": rng}, history, config,
                        pending={"losses": running, "grad_norms": norms})

    bar = tqdm(total=config.steps, initial=step, disable=not progress, desc="training", unit="step")
    start = time.perf_counter() - elapsed
    quiet = lambda: np.errstate(over="ignore", invalid="ignore", divide="ignore")  # overflow ends as TrainingDiverged
    try:
        while step < config.steps:
            x = augment(sampler.sample(), rng).astype(dtype)
            m = _sample_masks(config, rng, x.shape[0], config.patch_size).astype(dtype)
            model.train()
            with quiet():
                loss = masked_loss(model(x, m), x, m, config.l1_weight)
            value = float(loss.item())
            if not np.isfinite(value):
                raise TrainingDiverged(
                    f"loss became {value} at step {step + 1}; the last checkpoint ({ckpt_path}) is kept. "
                    "Try a lower --lr."
                )
            opt.zero_grad()
            with quiet():
                loss.backward()
                norm = optim.clip_grad_norm(model.parameters(), config.clip_grad_norm or float("inf"))
            if not np.isfinite(norm):
                raise TrainingDiverged(
                    f"the gradient norm became {norm} at step {step + 1}; the last checkpoint ({ckpt_path}) is kept. "
                    "Try a lower --lr."
                )
            norms.append(norm)
            with quiet():
                opt.step()
            if not all(np.isfinite(p.data).all() for p in model.parameters()):
                raise TrainingDiverged(
                    f"a parameter became NaN or infinite at step {step + 1}; the last checkpoint ({ckpt_path}) is "
                    "kept. Try a lower --lr."
                )
            if sched is not None:
                sched.step()
            step += 1
            running.append(value)
            bar.update(1)
            if step % config.eval_every == 0 or step == config.steps:
                model.eval()
                psnr = metrics.pooled_hole_psnr(predict(model, val_x, val_m), val_x, val_m[:, 0] > 0.5)
                history.append(
                    dict(step=step, seconds=round(time.perf_counter() - start, 3), loss=float(np.mean(running)),
                         grad_norm=round(float(np.max(norms)), 4), center_hole_psnr=round(float(psnr), 4))
                )
                running, norms = [], []
                bar.set_postfix(loss=f"{history[-1]['loss']:.4f}", hole_psnr=f"{psnr:.2f} dB")
            if step % config.checkpoint_every == 0 or step == config.steps:
                checkpoint()
                write_history(history, out_dir)  # an interrupted run keeps its curve up to the checkpoint
    finally:
        bar.close()
    model.eval()
    return model, history


def write_history(history, out_dir):
    """history.csv (step, seconds, loss, centre-hole PSNR) and history.png (both curves), written atomically."""
    if not history:
        return
    fields = list(history[0])

    def write_csv(f):
        import io

        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=fields)
        writer.writeheader()
        writer.writerows(history)
        f.write(text.getvalue().encode())

    _atomic_write(os.path.join(out_dir, "history.csv"), write_csv)
    plot_history(history, os.path.join(out_dir, "history.png"))


def plot_history(history, path, reference=None):
    """Plot training loss and held-out centre-hole PSNR against wall-clock minutes; ``reference`` maps
    baseline names to PSNRs drawn as horizontal lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [h["seconds"] / 60 for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    style = dict(marker="o", markersize=3)  # a short run's single point still shows
    ax1.semilogy(minutes, [h["loss"] for h in history], **style)
    ax1.set_xlabel("minutes")
    ax1.set_ylabel("training loss (hole MSE)")
    ax2.plot(minutes, [h["center_hole_psnr"] for h in history], label="model", **style)
    for name, value in (reference or {}).items():
        ax2.axhline(value, linestyle="--", color="gray")
        ax2.annotate(name, (0, value), fontsize=8, va="bottom")
    ax2.set_xlabel("minutes")
    ax2.set_ylabel("held-out centre-hole PSNR (dB)")
    fig.tight_layout()
    _atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))
    plt.close(fig)
