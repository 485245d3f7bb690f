# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 10 · Future directions: beyond the mean squared error
#
# The article closes with a list of directions: better performance on low-quality images and missing regions,
# new loss functions and optimizers, and combining deconvolution networks with other techniques — it names
# generative adversarial networks (GANs) and variational autoencoders. Its challenges: too little data, the cost
# of large models, and networks that understand an image's structure too little, so that the filled region
# looks wrong.
#
# Two of those directions can be tried with what deconvlab has today:
#
# 1. an **adversarial loss**: a second network, the discriminator, learns to tell real patches from filled ones,
#    and the inpainting network is trained to fool it as well as to be close in MSE;
# 2. **contextual attention**: fill the hole by copying patches from the known part of the image, chosen by
#    similarity — which turns out to be one convolution and one transposed convolution, with the background
#    patches as kernels.
#
# deconvlab has both as library pieces now — `deconvlab.adversarial` (a PatchGAN critic and the GAN losses, used by
# `deconvlab train --adversarial-weight`), `F.contextual_attention` (used by `--model holenet-attention`), and the
# gated and partial convolutions `nn.GatedConv2d` and `nn.PartialConv2d`. This notebook builds them by hand
# instead, small enough to see every step: the adversarial loss on a small model made of plain layers
# (`nn.Conv2d`, `nn.ConvTranspose2d`, `nn.LeakyReLU`), and the attention mechanism with the kernels directly, on
# a toy texture. Notebook 09 takes the article's other generative direction, the variational autoencoder.
#
# **Learning goals.** After this notebook you can
#
# 1. say why a network trained on the MSE alone fills holes with blur, and measure the blur;
# 2. write a PatchGAN-style discriminator and the two alternating training steps of an adversarial loss;
# 3. compare two fills on more than one number (hole MSE, fine detail), and say what each number rewards;
# 4. write contextual attention as a convolution (matching), a softmax, and a transposed convolution (pasting).
#
# **Prerequisites.** Notebooks 02, 03 and 05; binary cross-entropy (notebook 04).
#
# **Expected time.** 60 minutes; the full run takes about half a minute on two cores, `SMOKE=1` a few seconds.

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np

import deconvlab.functional as F
from deconvlab import Tensor, baselines, data, kernels, nn, no_grad, optim
from deconvlab.teaching import controls, expect, reveal

SMOKE = os.environ.get("SMOKE", "0") not in ("", "0")
PATCH = 16


def to_hwc(a):
    return np.clip(np.asarray(a).transpose(1, 2, 0), 0, 1)


# %% [markdown]
# ## 1. The task and the two networks
#
# Patches of 16×16 pixels from the training photos, each with an 8×8 square hole somewhere inside; held-out
# patches from the three test photos. The **generator** is a small encoder-decoder like notebook 05's (a strided
# convolution down, a dilated one, a transposed convolution back up); its output is pasted into the hole,
# $f = (1 - m)\,x + m\,G([(1 - m)\,x, m])$.
#
# The **discriminator** is a PatchGAN: a few strided convolutions whose output is not one number but a 4×4 map of
# logits, each judging whether its 10×10-pixel part of the patch looks real. It never sees the mask, only images.

# %%
def generator(seed):
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Conv2d(4, 32, 3, padding=1, rng=rng), nn.LeakyReLU(0.2),
        nn.Conv2d(32, 32, 4, stride=2, padding=1, rng=rng), nn.LeakyReLU(0.2),
        nn.Conv2d(32, 32, 3, padding=2, dilation=2, rng=rng), nn.LeakyReLU(0.2),
        nn.ConvTranspose2d(32, 32, 4, stride=2, padding=1, rng=rng), nn.LeakyReLU(0.2),
        nn.Conv2d(32, 3, 3, padding=1, rng=rng),
    )


def discriminator(seed):
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Conv2d(3, 16, 4, stride=2, padding=1, rng=rng), nn.LeakyReLU(0.2),
        nn.Conv2d(16, 32, 4, stride=2, padding=1, rng=rng), nn.LeakyReLU(0.2),
        nn.Conv2d(32, 1, 3, padding=1, rng=rng),
    )


def square_holes(n, rng):
    holes = np.zeros((n, 1, PATCH, PATCH), dtype=np.float32)
    for k in range(n):
        top, left = rng.integers(2, 7, size=2)
        holes[k, 0, top:top + 8, left:left + 8] = 1.0
    return holes


def fill(g, x, m):
    """The generator's fill pasted into the hole: (1 − m)·x + m·G([(1 − m)·x, m])."""
    return g(np.concatenate([(1 - m) * x, m], axis=1)) * Tensor(m) + Tensor((1 - m) * x)


test_photos = list(data.bundled_photos("test").values())
val_x = data.PatchSampler(test_photos, patch_size=PATCH, batch_size=64 if SMOKE else 256, seed=5).sample()
val_m = square_holes(val_x.shape[0], np.random.default_rng(9))
with no_grad():
    logits = discriminator(1)(val_x[:2])
print("generator output", fill(generator(0), val_x[:2], val_m[:2]).shape, " discriminator output", logits.shape)
expect("discriminator logits per 16×16 patch", logits.shape[2] * logits.shape[3], "== 16", "a 4×4 map")

# %% [markdown]
# ## 2. Training: MSE alone, and MSE plus an adversarial term
#
# Both generators start from the same weights and see the same batches. The second one also minimises
#
# $$ L_G = L_\text{MSE} + \lambda \cdot \mathrm{BCE}\big(D(f), 1\big), $$
#
# "make the discriminator call the fill real", while the discriminator, in its own step right after, minimises
# $\mathrm{BCE}(D(x), 1) + \mathrm{BCE}(D(f), 0)$ on the real patch and the fill. `f.detach()` cuts the graph
# there, so the discriminator's step does not change the generator. Both use Adam with $\beta_1 = 0.5$, as GANs
# usually do (the default 0.9 remembers the gradients too long while the opponent moves), and
# `binary_cross_entropy_with_logits`, which is exact where the sigmoid saturates.
#
# **Predict.** After training, which generator has the *lower* hole MSE on the held-out patches: "mse" (trained on
# the MSE alone) or "adversarial"?

# %%
my_prediction = None  # "mse" or "adversarial"

# %%
steps = 40 if SMOKE else 400
weight = 0.2  # λ


def train_generator(adversarial):
    g, d = generator(1), discriminator(1)
    g_opt = optim.Adam(g.parameters(), lr=1e-3, betas=(0.5, 0.999))
    d_opt = optim.Adam(d.parameters(), lr=2e-3, betas=(0.5, 0.999))
    patches = data.PatchSampler(list(data.bundled_photos("train").values()), patch_size=PATCH, batch_size=16, seed=0)
    rng = np.random.default_rng(3)
    for step in range(steps):
        x, m = patches.sample(), square_holes(16, rng)
        f = fill(g, x, m)
        loss = F.mse_loss(f, x, mask=np.broadcast_to(m, x.shape))
        if adversarial:
            fooled = d(f)
            loss = loss + weight * F.binary_cross_entropy_with_logits(fooled, np.ones(fooled.shape, np.float32))
        g_opt.zero_grad()
        loss.backward()
        g_opt.step()
        if adversarial:
            real, fake = d(x), d(f.detach())
            d_loss = (F.binary_cross_entropy_with_logits(real, np.ones(real.shape, np.float32))
                      + F.binary_cross_entropy_with_logits(fake, np.zeros(fake.shape, np.float32)))
            d_opt.zero_grad()
            d_loss.backward()
            d_opt.step()
    return g


start = time.perf_counter()
generators = {"mse": train_generator(False), "adversarial": train_generator(True)}
print(f"two generators, {steps} steps each, in {time.perf_counter() - start:.1f} s")
with no_grad():
    fills = {name: fill(g, val_x, val_m).data for name, g in generators.items()}

# %% [markdown]
# ## 3. What the numbers say
#
# The hole MSE rewards being right *on average*. Where the truth could be several things (which way does the
# grain of the wood run inside the hole?), the MSE is smallest for the mean of the possibilities — a blur. So we
# measure a second number: the fine detail inside the hole, as the mean squared Laplacian
# $(4x_{ij} - x_{i-1,j} - x_{i+1,j} - x_{i,j-1} - x_{i,j+1})^2$ of the gray image, beside the truth's.

# %%
def hole_mse(y):
    return float((((y - val_x) ** 2) * val_m).sum() / (3 * val_m.sum()))


def detail(y):
    """Mean squared Laplacian of the gray image over the hole's pixels (borders of the patch left out)."""
    gray = y.mean(axis=1)
    lap = 4 * gray[:, 1:-1, 1:-1] - gray[:, :-2, 1:-1] - gray[:, 2:, 1:-1] - gray[:, 1:-1, :-2] - gray[:, 1:-1, 2:]
    inside = val_m[:, 0, 1:-1, 1:-1]
    return float((lap ** 2 * inside).sum() / inside.sum())


scores = {name: (hole_mse(y), detail(y)) for name, y in fills.items()}
truth_detail = detail(val_x)
print(f"{'generator':12s} {'hole MSE':>9s} {'detail':>8s} {'detail / truth':>15s}")
for name, (mse, fine) in scores.items():
    print(f"{name:12s} {mse:9.5f} {fine:8.5f} {fine / truth_detail:15.2f}")
print(f"{'truth':12s} {'':9s} {truth_detail:8.5f} {1:15.2f}")
if SMOKE:
    print(f"SMOKE=1: {steps} steps are too few to judge; run without SMOKE for the comparison")
else:
    expect("MSE alone: detail in the hole / the truth's", scores["mse"][1] / truth_detail, "< 0.8", "a blur", fmt=".2f")
    expect("adversarial detail / MSE-alone detail", scores["adversarial"][1] / scores["mse"][1], "> 1.1",
           "the discriminator asks for texture", fmt=".2f")
reveal(my_prediction, min(scores, key=lambda n: scores[n][0]),
       "Either can win on MSE by a little: the adversarial term trades a little average error for detail, and a "
       "short training on few photos is noisy. The detail column is where they differ clearly.")

# %%
show = [0, 3, 7, 12, 20, 31]
fig, axes = plt.subplots(4, len(show), figsize=(11, 7.6))
for col, i in enumerate(show):
    masked = val_x[i] * (1 - val_m[i]) + val_m[i] * np.array([1.0, 0.0, 1.0])[:, None, None]
    for row, (im, title) in enumerate([(masked, "input"), (fills["mse"][i], "MSE alone"),
                                       (fills["adversarial"][i], "MSE + adversarial"), (val_x[i], "truth")]):
        axes[row, col].imshow(to_hwc(im), interpolation="nearest")
        axes[row, col].axis("off")
        if col == 0:
            axes[row, col].set_title(title, fontsize=10, loc="left")
fig.tight_layout()
plt.show()

# %% [markdown]
# **Try it.** Step through the held-out patches: the two fills side by side, with each one's error on the hole.

# %%
def draw_patch(patch=0):
    fig, axes = plt.subplots(1, 3, figsize=(8, 2.9))
    for ax, (name, im) in zip(axes, [("MSE alone", fills["mse"][patch]), ("MSE + adversarial",
                                                                          fills["adversarial"][patch]),
                                     ("truth", val_x[patch])]):
        err = float((((im - val_x[patch]) ** 2) * val_m[patch]).sum() / (3 * val_m[patch].sum()))
        ax.imshow(to_hwc(im), interpolation="nearest")
        ax.set_title(name if name == "truth" else f"{name}\nhole MSE {err:.4f}", fontsize=9)
        ax.axis("off")
    plt.show()


controls(draw_patch, [dict(patch=3), dict(patch=12)], patch=(0, val_x.shape[0] - 1))

# %% [markdown]
# What this small experiment shows, and what it does not: an adversarial term moves the fill's fine detail toward
# the truth's without a large change in MSE. It does not show that the fills look *right* — with a few hundred
# steps on six photos the discriminator mostly learns "real patches have texture". Real systems train for days, on
# many images, with the adversarial weight tuned, often with a perceptual loss beside it.
#
# ## 4. Contextual attention: copying from the background with a conv and a transposed conv
#
# A convolution has a limited receptive field; a hole larger than it is filled from nothing. Contextual attention
# (Yu et al., 2018) lets every hole position look at *all* known patches of the image and copy the best ones. With
# the background's $k \times k$ patches $b_1, \ldots, b_P$ as kernels, three steps do it:
#
# 1. **match**: the cosine similarity of every position's patch of a rough fill $r$ with every $b_p$ is a
#    convolution of $r$ with the normalised patches $b_p / \lVert b_p \rVert$ as $P$ output channels;
# 2. **choose**: a softmax over the $P$ channels at each position, sharpened by a temperature $\tau$, gives
#    attention weights $a_p(i, j)$;
# 3. **paste**: a *transposed* convolution of the weights with the patches $b_p$ as its kernel stamps each
#    position's weighted mix of patches back into the image — notebook 02's scatter — and dividing by the overlap
#    count ($k^2$ inside) averages the overlapping stamps.
#
# The rough fill here is the truth plus strong noise, standing in for a first-stage network's guess that has the
# structure roughly right. The texture is a wavy stripe pattern that no smooth fill can invent.

# %%
side, k, hole_side = (32, 5, 10) if SMOKE else (40, 7, 14)
rows, cols = np.mgrid[0:side, 0:side]
texture = 0.5 + 0.4 * np.sin(2 * np.pi * (cols + 2 * np.sin(2 * np.pi * rows / 13)) / 6)
hole = np.zeros((side, side), dtype=bool)
top = (side - hole_side) // 2
hole[top:top + hole_side, top:top + hole_side] = True
rough = np.where(hole, texture + 0.35 * np.random.default_rng(0).standard_normal(texture.shape), texture)


def attention_fill(rough, hole, temperature):
    """Fill ``hole`` in a 2-D image by contextual attention: match (conv), softmax, paste (transposed conv)."""
    known_patch = kernels.conv2d_forward((~hole).astype(float)[None, None], np.ones((1, 1, k, k)))[0, 0] == k * k
    rows_, cols_ = np.nonzero(known_patch)
    patches = np.stack([rough[r:r + k, c:c + k] for r, c in zip(rows_, cols_)])[:, None]  # (P, 1, k, k)
    unit = patches / np.linalg.norm(patches, axis=(2, 3), keepdims=True)
    image = rough[None, None]
    scores = kernels.conv2d_forward(image, unit, padding=k // 2)[0]  # (P, H, W): cosine similarity up to a norm
    norms = np.sqrt(kernels.conv2d_forward(image ** 2, np.ones((1, 1, k, k)), padding=k // 2)[0, 0]) + 1e-8
    logits = temperature * scores / norms
    weights = np.exp(logits - logits.max(axis=0))
    weights /= weights.sum(axis=0)
    pasted = kernels.conv_transpose2d_forward(weights[None], patches, padding=k // 2)[0, 0]
    overlap = kernels.conv_transpose2d_forward(np.ones((1, 1, side, side)), np.ones((1, 1, k, k)), padding=k // 2)[0, 0]
    return np.where(hole, pasted / overlap, rough), len(patches)


attended, n_patches = attention_fill(rough, hole, temperature=100.0)
harmonic = baselines.harmonic_fill(np.where(hole, 0.0, texture), hole)
errors = {name: float(np.mean((im[hole] - texture[hole]) ** 2))
          for name, im in [("rough fill", rough), ("harmonic fill", harmonic), ("contextual attention", attended)]}
print(f"{n_patches} background patches of {k}×{k} as kernels")
for name, err in errors.items():
    print(f"hole MSE, {name:22s} {err:.4f}")
expect("contextual attention's hole MSE / the rough fill's", errors["contextual attention"] / errors["rough fill"], "< 0.5",
       "copying clean patches removes most of the noise", fmt=".2f")
expect("contextual attention's hole MSE / the harmonic fill's", errors["contextual attention"] / errors["harmonic fill"],
       "< 1", "the stripes continue into the hole", fmt=".2f")

# %% [markdown]
# **Try it.** The temperature $\tau$ decides between copying and blending: large $\tau$ puts all the weight on the
# best-matching patch, small $\tau$ averages many (at $\tau \to 0$ every position gets the mean patch: a blur).

# %%
def draw_attention(temperature=100.0):
    filled, _ = attention_fill(rough, hole, temperature)
    err = float(np.mean((filled[hole] - texture[hole]) ** 2))
    fig, axes = plt.subplots(1, 4, figsize=(12, 3.2))
    for ax, (im, title) in zip(axes, [(np.where(hole, np.nan, texture), "known pixels"), (rough, "rough fill (noisy)"),
                                      (filled, f"attention, τ = {temperature:g}\nhole MSE {err:.4f}"),
                                      (texture, "truth")]):
        ax.imshow(im, cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    plt.show()


controls(draw_attention, [dict(temperature=100.0), dict(temperature=5.0)], temperature=(0.5, 300.0, 0.5))

# %% [markdown]
# ## Summary
#
# * A network trained on the MSE alone fills uncertain holes with their average: measurably less fine detail than
#   the truth. An adversarial term — a PatchGAN discriminator trained to tell real patches from fills, and the
#   generator trained to fool it — restores detail at a similar MSE; judging a fill takes more than one number.
# * Contextual attention is a convolution (matching every position against every background patch), a softmax,
#   and a transposed convolution (pasting the chosen patches back): the two operations this project is about,
#   used with the image's own patches as kernels.
# * The library's versions: `F.contextual_attention` (the same three steps on a network's features, with gradients
#   through both the matching and the pasting), `deconvlab.adversarial` and `deconvlab train --adversarial-weight`,
#   `nn.GatedConv2d` and `nn.PartialConv2d`; docs/pretrained.md measures what each did for large holes.
