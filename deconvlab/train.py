"""Training inpainting networks: batches of masked patches, the loop, periodic evaluation, resuming; imports
data, masks, metrics, baselines, models, optim, functional, evaluation, checkpoints, errors and _files. Nothing in the library
imports it but the command line.

One step: sample patches x (N, 3, P, P) and masks m (N, 1, P, P), predict y = model(x, m), and minimise the
article's MSE on the hole,

    L = Σ m·(x − y)² / Σ m    (+ l1_weight · Σ m·|x − y| / Σ m  + tv_weight · TV(y) around the hole
                               + adversarial_weight · L_adv(y)),

with SGD or Adam. TV is ``F.total_variation`` over the hole and its 1-pixel border; L_adv is the adversarial
loss of ``adversarial`` (a PatchGAN critic, trained in the same step to tell photos from fills). Checkpoints (``checkpoints``) hold the parameters, the optimiser and scheduler state, the
random generators and the history, so ``resume`` continues exactly where an interrupted run stopped.
With ``ema`` > 0 a moving average of the weights (``optim.WeightAverage``) is kept beside them, saved in the
checkpoint and as ``average.npz``, and scored at every evaluation (``average_center_hole_psnr``).
"""
import csv
import dataclasses
import glob
import hashlib
import io
import os
import time
import warnings

import numpy as np

from . import adversarial, baselines, data, masks, metrics, models, optim, parallel
from . import functional as F
from .autograd import Tensor
from ._files import FolderInUse, atomic_write, folder_lock
from .checkpoints import load_checkpoint, load_checkpoint_part, load_model, save_checkpoint, save_weights
from .errors import InputError, Setting
from .evaluation import eval_masks, eval_set
from .models import predict


@dataclasses.dataclass
class TrainConfig:
    """Settings of a training run (``deconvlab train`` exposes each as an option).

    Bad values are an ``InputError`` (a ValueError) listing every bad setting with its value.
    """

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
    tv_weight: float = 0.0
    adversarial_weight: float = 0.0  # > 0: a PatchGAN critic (adversarial.PatchCritic) is trained beside the model
    critic_width: int = 32
    smooth_share: float = 0.0  # this share of the patches is replaced by smooth versions (``smoothed``)
    contrast: float = 0.0  # HoleNet's contrast gate τ (models.HoleNet; 0 = none)
    kl_weight: float = 0.02  # the VAE's β: loss = hole MSE + β·KL(q ‖ p) per hole value (``vae_kl_term``)
    kl_warmup: int = 0  # the VAE's β grows linearly from 0 over this many steps
    free_bits: float = 0.0  # the VAE's KL is not penalised below this many nats per latent channel and position
    init_from: str = ""  # a checkpoint or weights file of the same model whose parameters start the run
    ema: float = 0.0  # > 0: a moving average of the weights with this decay is kept (optim.WeightAverage)
    clip_grad_norm: float = 1.0
    mask_kinds: tuple = ("center", "rectangles", "strokes", "bernoulli")
    mask_weights: tuple = (0.4, 0.2, 0.3, 0.1)
    eval_every: int = 250
    eval_crops: int = 200
    checkpoint_every: int = 250
    seed: int = 0
    dtype: str = "float32"

    def __post_init__(self):
        self.mask_kinds = tuple(self.mask_kinds)
        self.mask_weights = tuple(float(w) for w in self.mask_weights)
        problems = [problem for problem in self._problems() if problem is not None]
        if problems:
            raise InputError.several("TrainConfig", problems)

    def _problems(self):
        """An InputError for each bad setting (None for each good one)."""

        def bad(name, rule):
            return InputError("", "{name} must be " + rule + ", got {got!r}", name=Setting(name),
                              got=getattr(self, name))

        for name in ("width", "steps", "batch_size", "eval_every", "eval_crops", "checkpoint_every", "critic_width"):
            value, most = getattr(self, name), LIMITS.get(name)
            if not (_is_int(value) and value >= 1):
                yield bad(name, "a positive integer")
            elif most is not None and value > most:
                yield bad(name, f"at most {most}")
        if not (_is_int(self.patch_size) and self.patch_size >= 8 and self.patch_size % 8 == 0):
            yield bad("patch_size", "a multiple of 8")
        elif self.patch_size > LIMITS["patch_size"]:
            yield bad("patch_size", f"at most {LIMITS['patch_size']}")
        yield None if _is_int(self.seed) and self.seed >= 0 else bad("seed", "a non-negative integer")
        yield None if _is_int(self.kl_warmup) and self.kl_warmup >= 0 else bad("kl_warmup", "a non-negative integer")
        yield None if 0 <= self.momentum < 1 else bad("momentum", "in [0, 1)")
        for name in ("weight_decay", "l1_weight", "tv_weight", "adversarial_weight", "kl_weight", "free_bits"):
            yield None if 0 <= getattr(self, name) < float("inf") else bad(name, "a finite number >= 0")
        yield None if self.optimizer in ("adam", "sgd") else bad("optimizer", "'adam' or 'sgd'")
        yield None if self.schedule in ("cosine", "constant") else bad("schedule", "'cosine' or 'constant'")
        ok = 0 <= self.clip_grad_norm < float("inf")
        yield None if ok else bad("clip_grad_norm", "a finite number >= 0 (0 = no clipping)")
        yield None if 0 < self.lr < float("inf") else bad("lr", "a finite positive number")
        yield None if self.start in models.STARTS else bad("start", f"one of {sorted(models.STARTS)}")
        yield None if self.model in models.MODELS else bad("model", f"one of {sorted(models.MODELS)}")
        unknown = [k for k in self.mask_kinds if k not in masks.ALL_KINDS]
        if unknown or not self.mask_kinds:
            yield bad("mask_kinds", f"among {masks.ALL_KINDS}")
        elif (len(self.mask_weights) != len(self.mask_kinds) or min(self.mask_weights) < 0
              or not 0 < sum(self.mask_weights) < float("inf")):
            yield InputError("", "mask_weights {got!r} must be one non-negative weight per mask kind, not all zero",
                             got=self.mask_weights)
        yield None if self.dtype in ("float32", "float64") else bad("dtype", "'float32' or 'float64'")
        yield None if 0 <= self.smooth_share <= 1 else bad("smooth_share", "in [0, 1]")
        yield None if 0 <= self.ema < 1 else bad("ema", "in [0, 1) (0 = no average)")
        if not 0 <= self.contrast < float("inf"):
            yield bad("contrast", "a finite number >= 0")
        elif self.contrast and not (self.model.startswith("holenet") or self.model == "vae"):
            yield bad("contrast", "0 for a model other than the HoleNets and the VAE")
        yield None if isinstance(self.init_from, str) else bad("init_from", "the path of a checkpoint or weights file")


LIMITS = {"width": 512, "critic_width": 512, "batch_size": 4096, "patch_size": 1024, "eval_crops": 100_000}
"""The largest values TrainConfig accepts: beyond them a run would not fit in memory (a width of 512 is already
290 M parameters)."""


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


RESUMABLE_CHANGES = ("steps", "eval_every", "checkpoint_every")
"""Settings a resumed run may change; any other difference from the checkpoint's settings is refused."""


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def build_model(config):
    """A fresh model for ``config``, its parameters drawn from ``config.seed`` (``models.build``)."""
    return models.build(config.model, width=config.width, start=config.start, dtype=config.dtype, seed=config.seed,
                        contrast=config.contrast)


def augment(batch, rng):
    """Random transposition (with the flips already applied, all 8 symmetries of the square) and a random
    permutation of the colour channels, per sample, so six photos yield many more distinct patches."""
    out = np.empty_like(batch)
    for k in range(batch.shape[0]):
        patch = batch[k][rng.permutation(batch.shape[1])]
        out[k] = patch.transpose(0, 2, 1) if rng.random() < 0.5 else patch
    return out


SMOOTH_BLOCK = 8


def smoothed(batch):
    """Smooth versions of patches (N, C, P, P), P a multiple of SMOOTH_BLOCK: the means of SMOOTH_BLOCK-pixel
    blocks, bilinearly interpolated back to full size. Shading without texture, where the best fill is the
    harmonic one: a network that sees such patches in training learns to leave smooth areas alone."""
    n, c, h, w = batch.shape
    b = SMOOTH_BLOCK
    means = batch.reshape(n, c, h // b, b, w // b, b).mean(axis=(3, 5))
    return F.upsample_bilinear2d(Tensor(means), b).data.astype(batch.dtype)


def training_images(folder=None, patch_size=None):
    """The training photos (the bundled TRAIN_PHOTOS, or every image of ``folder``), each also at half size
    (``baselines.downsample2x``) when it is at least 64 pixels on its shorter side and, with ``patch_size``,
    when the half still holds a patch. A photo smaller than ``patch_size`` is an InputError naming it."""
    if folder is None:
        named = data.bundled_photos("train")
    else:
        found = data.ImageFolder(folder)
        named = {os.fspath(path): found[i] for i, path in enumerate(found.paths)}
    minimum = 1 if patch_size is None else patch_size
    small = [f"{name} ({im.shape[1]}x{im.shape[0]})" for name, im in named.items() if min(im.shape[:2]) < minimum]
    if small:
        raise InputError("train", "photos smaller than the {p}x{p} patch ({setting}): {small}", p=patch_size,
                         setting=Setting("patch_size", patch_size), small=", ".join(small))
    images = list(named.values())
    halves = [baselines.downsample2x(im).astype(np.float32) for im in images
              if min(im.shape[:2]) >= max(64, 2 * minimum)]
    return images + halves


def masked_loss(pred, target, hole, l1_weight=0.0, tv_weight=0.0):
    """The reconstruction loss: MSE over the hole (the article's L restricted to missing pixels), plus optional
    L1 over the hole and total variation of the fill over the hole and its border (``F.total_variation``)."""
    mask = np.broadcast_to(hole, target.shape)
    loss = F.mse_loss(pred, target, mask=mask)
    if l1_weight:
        loss = loss + l1_weight * F.l1_loss(pred, target, mask=mask)
    if tv_weight:
        loss = loss + tv_weight * F.total_variation(pred, mask=hole)
    return loss


def vae_kl_term(kl, hole, free_bits=0.0, channels=3):
    """The VAE's KL(q ‖ p) per hole value, the unit of the hole MSE beside it (so that the loss is the ELBO of a
    Gaussian likelihood times 2σ²/n, and β = 2σ²), with free bits (Kingma et al. 2016). For the elementwise KL
    (N, L, h, w) of a latent map and the hole masks (N, 1, H, W):

        term = Σ_c max(λ, mean_{n,i,j} KL[n, c, i, j]) · h·w / (C · mean_n Σ_ij hole[n, 0, i, j]),

    so a latent channel whose divergence is below λ = ``free_bits`` nats per position costs nothing and gets no
    push towards the prior: the remedy for posterior collapse (the decoder learning to ignore z)."""
    per_channel = F.mean(F.mean(F.mean(kl, axis=3), axis=2), axis=0)
    if free_bits:
        per_channel = F.clip(per_channel, min=free_bits)
    values = channels * float(np.asarray(hole).sum()) / len(hole)
    return F.sum(per_channel) * (kl.shape[2] * kl.shape[3] / max(values, 1.0))


def vae_beta(config, step):
    """β at ``step`` (counting from 0): ``kl_weight``·min(1, (step + 1)/``kl_warmup``) (no warm-up: kl_weight)."""
    if not config.kl_warmup:
        return config.kl_weight
    return config.kl_weight * min(1.0, (step + 1) / config.kl_warmup)


def _sample_masks(config, rng, n, size):
    kinds = rng.choice(len(config.mask_kinds), size=n, p=np.array(config.mask_weights) / sum(config.mask_weights))
    out = np.empty((n, 1, size, size), dtype=np.float32)
    for k, kind in enumerate(kinds):
        out[k, 0] = masks.make_mask(config.mask_kinds[kind], size, size, seed=int(rng.integers(2**31)))
    return out


# ----------------------------------------------------------------------------------------- resuming

def config_from_meta(meta):
    """The TrainConfig stored in a checkpoint's or weights file's meta dict (JSON lists back to tuples).
    Files written before ``start`` existed hold mean-start networks."""
    stored = {"start": "mean", **meta["config"]}
    return TrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in stored.items()})


def _saved_config(path, meta):
    try:
        return config_from_meta(meta)
    except (AttributeError, TypeError, ValueError) as exc:
        raise InputError("train", "holds settings deconvlab cannot read: {detail}", subject=path,
                         detail=exc) from None


def check_resumable(path, meta, config):
    """InputError naming the settings in which ``config`` differs from the checkpoint's (``meta``), other than
    those of RESUMABLE_CHANGES (a longer ``steps`` also stretches the cosine schedule to the new total)."""
    saved = dataclasses.asdict(_saved_config(path, meta))
    wanted = dataclasses.asdict(config)
    changed = [f"{k}: {saved[k]!r} -> {wanted[k]!r}" for k in saved
               if k not in RESUMABLE_CHANGES and saved[k] != wanted[k]]
    if changed:
        raise InputError("train", "cannot resume from {path!r} with different settings ({changes}); only {a}, {b}, "
                         "{c} may change", path=path, changes="; ".join(changed),
                         a=Setting("steps"), b=Setting("eval_every"), c=Setting("checkpoint_every"))


def resumed_config(out_dir, **given):
    """The settings of the run in ``out_dir`` (its checkpoint.npz), with the ``given`` ones put over them: what
    ``deconvlab train --resume`` trains with when options are left out. Missing or damaged checkpoint:
    FileNotFoundError or ValueError naming it."""
    path = os.path.join(out_dir, "checkpoint.npz")
    meta = load_checkpoint(path)[0]
    saved = dataclasses.asdict(_saved_config(path, meta))
    return TrainConfig(**{**saved, **given})


# ----------------------------------------------------------------------------------------- the loop

def _make_optimizer(config, model):
    params = list(model.parameters())
    if config.optimizer == "adam":
        opt = optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    else:
        opt = optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    sched = optim.CosineAnnealingLR(opt, T_max=config.steps, eta_min=config.lr * 0.02) if config.schedule == "cosine" else None
    return opt, sched


def _remove_stale_temporaries(out_dir):
    """Delete the temporary files a killed run left in ``out_dir`` (what ``atomic_write`` had not renamed yet)."""
    for name in ("checkpoint.npz", "history.csv", "history.png"):
        for stale in glob.glob(os.path.join(glob.escape(out_dir), f".{name}.*.tmp")):
            os.unlink(stale)


def data_digest(images):
    """A digest of training images (SHA-256 of their shapes and pixels, in order): a resumed run checks that it
    trains on the same data."""
    digest = hashlib.sha256()
    for image in images:
        array = np.ascontiguousarray(image, dtype=np.float32)
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


class _Run:
    """The state of one training run: model, optimiser, scheduler, batch source, generators and logs."""

    def __init__(self, config, out_dir, images, eval_images):
        self.config, self.out_dir = config, out_dir
        self.facts = {"data_digest": data_digest(images), "threads": parallel.get_num_threads()}
        self.checkpoint_path = os.path.join(out_dir, "checkpoint.npz")
        self.average_path = os.path.join(out_dir, "average.npz")  # the averaged weights (config.ema > 0)
        self.val_x = eval_set(eval_images, config.eval_crops, config.patch_size)
        self.val_m = eval_masks("center", self.val_x.shape[0], config.patch_size)
        self.model = build_model(config)
        self.opt, self.sched = _make_optimizer(config, self.model)
        self.critic = self.critic_opt = None
        if config.adversarial_weight:
            self.critic = adversarial.PatchCritic(config.critic_width, dtype=np.dtype(config.dtype),
                                                  rng=np.random.default_rng(config.seed + 2))
            self.critic_opt = optim.Adam(list(self.critic.parameters()), lr=config.lr, betas=(0.5, 0.999))
        self.sampler = data.PatchSampler(images, patch_size=config.patch_size, batch_size=config.batch_size,
                                         seed=config.seed)
        self.rng = np.random.default_rng(config.seed + 1)
        self.average = None
        if config.ema:
            self.average = optim.WeightAverage(self.model, build_model(config), config.ema)
        self.history, self.step, self.elapsed = [], 0, 0.0
        self.losses, self.norms = [], []  # the per-step values since the last history entry

    def restore(self, meta, model_state, opt_state):
        """Continue from a checkpoint (already checked to have this run's settings)."""
        try:
            self.model.load_state_dict(model_state)
            self.opt.load_state_dict(opt_state)
            if self.sched is not None and meta["scheduler"] is not None:
                self.sched.load_state_dict(meta["scheduler"])
                self.sched.T_max = self.config.steps
            if self.average is not None:
                self.average.average.load_state_dict(load_checkpoint_part(self.checkpoint_path, "average")[0])
            if self.critic is not None:
                critic_state, critic_opt_state = load_checkpoint_part(self.checkpoint_path, "critic")
                self.critic.load_state_dict(critic_state)
                self.critic_opt.load_state_dict(critic_opt_state)
            self.sampler.rng.bit_generator.state = meta["rngs"]["sampler"]
            self.rng.bit_generator.state = meta["rngs"]["train"]
        except (KeyError, RuntimeError, TypeError, ValueError) as exc:
            detail = "; ".join(line.strip() for line in str(exc).splitlines())
            raise InputError("train", "cannot resume from {path!r}: {kind}: {detail}", path=self.checkpoint_path,
                             kind=type(exc).__name__, detail=detail) from None
        self.history, self.step = meta["history"], meta["step"]
        self.losses = list(meta.get("pending", {}).get("losses", []))
        self.norms = list(meta.get("pending", {}).get("grad_norms", []))
        self.elapsed = self.history[-1]["seconds"] if self.history else 0.0

    def start_from(self, path):
        """Start from the parameters of the network in ``path`` (a checkpoint or weights file of the same kind of
        network and width): a curriculum's next stage, e.g. large patches after small ones. The optimiser starts
        afresh. The file may lack layers this model adds (a HoleNet without the Fourier unit of
        "holenet-fourier", or without the latent layers of the VAE, which is a HoleNet grown): those keep their
        fresh values. InputError when the file cannot be read or holds
        another network, or parameters of other shapes."""
        try:
            source = load_model(path)
        except (OSError, ValueError) as exc:
            raise InputError("train", "cannot start from {path!r}: {detail}", path=path, detail=exc) from None
        state, wanted = source.state_dict(), self.model.state_dict()
        if not isinstance(self.model, type(source)) or any(k not in wanted or wanted[k].shape != v.shape
                                                       for k, v in state.items()):
            raise InputError("train", "cannot start from {path!r}: it holds a {got} of other shapes than the "
                             "{model} of width {width} this run trains", path=path, got=type(source).__name__,
                             model=self.config.model, width=self.config.width)
        self.model.load_state_dict({k: v.astype(wanted[k].dtype) for k, v in state.items()}, strict=False)
        if self.average is not None:
            self.average.average.load_state_dict(self.model.state_dict())

    def _stop_unless_finite(self, value, what):
        if not np.all(np.isfinite(value)):
            shown = f" became {value}" if np.ndim(value) == 0 else " became NaN or infinite"
            raise TrainingDiverged(f"{what}{shown} at step {self.step + 1}; the last checkpoint "
                                   f"({self.checkpoint_path}) is kept. Try a lower --lr.")

    def train_step(self):
        """One optimisation step on a fresh batch; stops the run with TrainingDiverged on a NaN or inf."""
        config = self.config
        x = augment(self.sampler.sample(), self.rng).astype(config.dtype)
        if config.smooth_share:  # (draws from the generator only when asked: other runs keep their streams)
            pick = self.rng.random(x.shape[0]) < config.smooth_share
            if pick.any():
                x[pick] = smoothed(x[pick])
        m = _sample_masks(config, self.rng, x.shape[0], config.patch_size).astype(config.dtype)
        self.model.train()
        with _overflow_ends_as_divergence():
            if isinstance(self.model, models.InpaintVAE):
                pred, kl = self.model.elbo_terms(x, m, self.rng)
                loss = masked_loss(pred, x, m, config.l1_weight, config.tv_weight)
                loss = loss + vae_beta(config, self.step) * vae_kl_term(kl, m, config.free_bits, x.shape[1])
            else:
                pred = self.model(x, m)
                loss = masked_loss(pred, x, m, config.l1_weight, config.tv_weight)
            if self.critic is not None:
                self._critic_step(x, m, pred.data)
                loss = loss + config.adversarial_weight * adversarial.generator_loss(self.critic(pred, m))
        value = float(loss.item())
        self._stop_unless_finite(value, "loss")
        self.opt.zero_grad()
        with _overflow_ends_as_divergence():
            loss.backward()
            norm = optim.clip_grad_norm(self.model.parameters(), config.clip_grad_norm or float("inf"))
        self._stop_unless_finite(norm, "the gradient norm")
        self.norms.append(norm)
        with _overflow_ends_as_divergence():
            self.opt.step()
        for p in self.model.parameters():
            self._stop_unless_finite(p.data, "a parameter")
        if self.sched is not None:
            self.sched.step()
        self.step += 1
        if self.average is not None:
            self.average.update(self.step)
        self.losses.append(value)

    def _critic_step(self, x, m, fill):
        """One step of the critic: real patches against the network's fills (held constant)."""
        self.critic.train()
        loss = adversarial.critic_loss(self.critic(x, m), self.critic(Tensor(fill), m))
        self._stop_unless_finite(float(loss.item()), "the critic's loss")
        self.critic_opt.zero_grad()
        loss.backward()
        optim.clip_grad_norm(self.critic.parameters(), self.config.clip_grad_norm or float("inf"))
        self.critic_opt.step()

    def evaluate(self, clock_start):
        """Log the mean loss since the last entry and the held-out centre-hole PSNR; returns that PSNR."""
        def score(model):
            model.eval()
            return metrics.pooled_hole_psnr(predict(model, self.val_x, self.val_m), self.val_x, self.val_m[:, 0] > 0.5)

        psnr = score(self.model)
        self.history.append(dict(step=self.step, seconds=round(time.perf_counter() - clock_start, 3),
                                 loss=float(np.mean(self.losses)), grad_norm=round(float(np.max(self.norms)), 4),
                                 center_hole_psnr=round(float(psnr), 4)))
        if self.average is not None:
            self.history[-1]["average_center_hole_psnr"] = round(float(score(self.average.average)), 4)
        self.losses, self.norms = [], []
        return psnr

    def save(self):
        """The checkpoint, then the history (so an interrupted run keeps its curve up to the checkpoint)."""
        parts = {} if self.critic is None else {"critic": (self.critic, self.critic_opt)}
        if self.average is not None:
            parts["average"] = (self.average.average, None)
        save_checkpoint(self.checkpoint_path, self.model, self.opt, self.sched, self.step,
                        {"sampler": self.sampler.rng, "train": self.rng}, self.history, self.config,
                        pending={"losses": self.losses, "grad_norms": self.norms}, run=self.facts, parts=parts)
        if self.average is not None:
            save_weights(self.average_path, self.average.average, self.config, self.history, self.step)
        write_history(self.history, self.out_dir)


def _overflow_ends_as_divergence():
    """NumPy's overflow warnings silenced: an overflow ends as a NaN or inf that stops the run."""
    return np.errstate(over="ignore", invalid="ignore", divide="ignore")


def _check_resume(run, resume, allow_other_data):
    """Load the checkpoint into ``run`` when resuming from one; InputError if its settings differ, if it was
    trained on other images (unless ``allow_other_data``) or if it is already at (or past) the run's last step.
    Warns (RuntimeWarning) when the thread count differs from the checkpoint's (the batch split changes the order of
    sums, so the parameters may then differ in the last bits from an uninterrupted run's)."""
    if not resume:
        return
    _remove_stale_temporaries(run.out_dir)
    if not os.path.exists(run.checkpoint_path):
        return
    meta, model_state, opt_state = load_checkpoint(run.checkpoint_path)
    check_resumable(run.checkpoint_path, meta, run.config)
    if meta["step"] >= run.config.steps:
        raise InputError("train", "the run in {out!r} is already at step {step} of {steps}; pass a larger {name} "
                         "to continue it", out=run.out_dir, step=meta["step"], steps=run.config.steps,
                         name=Setting("steps"))
    saved = meta.get("run") if isinstance(meta.get("run"), dict) else {}
    if not allow_other_data and saved.get("data_digest") not in (None, run.facts["data_digest"]):
        raise InputError("train", "the run in {out!r} was trained on other images than these; resume it on the "
                         "same data, or pass {flag} to go on with these", out=run.out_dir,
                         flag=Setting("allow_other_data"))
    if saved.get("threads") not in (None, run.facts["threads"]):
        warnings.warn(f"the checkpoint was written with {saved['threads']} threads, this run uses "
                      f"{run.facts['threads']}; the batch is split differently, so the parameters may differ in the "
                      "last bits from an uninterrupted run's", RuntimeWarning, stacklevel=3)
    run.restore(meta, model_state, opt_state)


def train(config, out_dir, resume=False, images=None, eval_images=None, progress=True, log=print,
          allow_other_data=False):
    """Train a model as ``config`` says, writing ``out_dir``/checkpoint.npz, history.csv and history.png.

    ``images``: training images (default: the bundled training photos and their half-size copies);
    ``eval_images``: images for the periodic evaluation (default: the bundled held-out photos; only measured,
    never used to choose or stop, so training never sees them). Returns (model, history).
    With ``resume``, continues from ``out_dir``/checkpoint.npz (if there is one) with the same settings, except
    those of RESUMABLE_CHANGES, with more ``steps`` than it has done and on the same images (their digest is in
    the checkpoint; ``allow_other_data`` lets a run go on with others), else an InputError; the parameters are
    then bit-identical to an uninterrupted run's with the same number of threads (``parallel``), and temporary
    files left by a killed run are removed.
    Every file is written atomically: a run killed at any moment leaves the previous checkpoint intact. A NaN
    or infinite loss, gradient norm or parameter stops the run with TrainingDiverged (the last checkpoint,
    saved before, holds finite values). The run holds an exclusive lock on ``out_dir`` (``_files.folder_lock``):
    a second run on the same folder is an InputError at once.
    """
    try:
        with folder_lock(out_dir):
            return _train_locked(config, out_dir, resume, images, eval_images, progress, log, allow_other_data)
    except FolderInUse:
        raise InputError("train", "the run folder {out!r} is in use by another training run; wait for it to end "
                         "or choose another {name}", out=out_dir, name=Setting("out")) from None


def _train_locked(config, out_dir, resume, images, eval_images, progress, log, allow_other_data):
    """``train`` while holding the lock of ``out_dir``."""
    from tqdm.auto import tqdm

    images = training_images(patch_size=config.patch_size) if images is None else images
    eval_images = list(data.bundled_photos("test").values()) if eval_images is None else eval_images
    run = _Run(config, out_dir, images, eval_images)
    _check_resume(run, resume, allow_other_data)
    if run.step:
        log(f"resumed from {run.checkpoint_path} at step {run.step}")
    elif config.init_from:
        run.start_from(config.init_from)
    bar = tqdm(total=config.steps, initial=run.step, disable=not progress, desc="training", unit="step")
    clock_start = time.perf_counter() - run.elapsed
    try:
        while run.step < config.steps:
            run.train_step()
            bar.update(1)
            if run.step % config.eval_every == 0 or run.step == config.steps:
                psnr = run.evaluate(clock_start)
                bar.set_postfix(loss=f"{run.history[-1]['loss']:.4f}", hole_psnr=f"{psnr:.2f} dB")
            if run.step % config.checkpoint_every == 0 or run.step == config.steps:
                run.save()
    finally:
        bar.close()
    run.model.eval()
    return run.model, run.history


def write_history(history, out_dir):
    """history.csv (step, seconds, loss, grad_norm, centre-hole PSNR) and history.png (both curves), atomically."""
    if not history:
        return
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    atomic_write(os.path.join(out_dir, "history.csv"), lambda f: f.write(text.getvalue().encode()), make_folder=True)
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
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100), make_folder=True)
    plt.close(fig)
