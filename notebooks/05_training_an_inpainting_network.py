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
# # 05 · Training an inpainting network
#
# Notebook 04 ended with a diagnosis: a network that fills large holes must see far. `deconvlab.models.InpaintNet`
# is built for that. In this notebook we
#
# 1. look at the four kinds of holes deconvlab trains and evaluates on;
# 2. write down the loss — the article's mean squared error, restricted to the hole;
# 3. train a small `InpaintNet` for a few minutes with our own training loop, and plot its loss;
# 4. compare it, on photos it has never seen, with the classical mean and harmonic fills.
#
# The real model shipped with deconvlab is trained the same way, only wider and longer
# (`deconvlab train`); here we keep everything small enough to run on a laptop CPU in a few minutes.

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np

import deconvlab
import deconvlab.functional as F
from deconvlab import baselines, data, evaluation, masks, metrics, models, optim, reference, train

SMOKE = os.environ.get("SMOKE", "0") not in ("", "0")
rng = np.random.default_rng(0)


def report(what, value, expect):
    """Print one check: the measured number and what a correct implementation gives."""
    print(f"{what} = {value:.3g}   (expect {expect})")


def to_hwc(a):
    """NCHW sample (C, H, W) -> H x W x C for imshow, clipped to [0, 1]."""
    return np.clip(np.asarray(a).transpose(1, 2, 0), 0, 1)


def show_holes(image, hole):
    """The image with its hole painted magenta, the colour we use for 'missing'."""
    return image * (1 - hole) + hole * np.array([1.0, 0.0, 1.0])[:, None, None]


# %% [markdown]
# ## 1. Four kinds of holes
#
# A mask is an array of the image's height and width, **1 (True) where a pixel is missing** and 0 where it is
# known. deconvlab draws four kinds, each reproducible from a seed:
#
# * `center` — one square of half the image side in the middle: the classic test, the deepest hole;
# * `rectangles` — a few random boxes, possibly overlapping;
# * `strokes` — free-form brush strokes, as a user scribbling over an object to remove;
# * `bernoulli` — every pixel missing independently with probability 1/4: scattered dead pixels.

# %%
photo = data.load_photo("astronaut")[40:168, 120:248]
fig, axes = plt.subplots(2, 4, figsize=(11, 5.6))
for col, kind in enumerate(masks.MASK_KINDS):
    m = masks.make_mask(kind, 128, 128, seed=3)
    axes[0, col].imshow(m, cmap="gray_r")
    axes[0, col].set_title(f"{kind}: {m.mean():.0%} missing", fontsize=10)
    axes[1, col].imshow(to_hwc(show_holes(photo.transpose(2, 0, 1), m)))
for ax in axes.ravel():
    ax.axis("off")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 2. The loss: mean squared error on the hole
#
# The article's loss is $L = \frac{1}{MN}\sum_{i,j}(y_\text{true}(i,j) - y_\text{pred}(i,j))^2$. `InpaintNet` pastes
# the known pixels back into its output, so their error is exactly zero; averaging over the whole image would
# only divide the hole's error by the image size, making the loss depend on how big the hole happens to be.
# So we average over the missing pixels only:
#
# $$ L = \frac{\sum_{i,j} m(i,j)\,\big(y_\text{true}(i,j) - y_\text{pred}(i,j)\big)^2}{\sum_{i,j} m(i,j)}. $$
#
# `F.mse_loss(pred, target, mask=m)` computes it (and differentiates it); `reference.seed_mse` is the same
# formula as a literal loop. The mask has one channel and applies to all three colour channels.

# %%
target = rng.random((2, 3, 16, 16))
pred = target + 0.1 * rng.standard_normal(target.shape)
hole = masks.mask_batch(2, 16, 16, kind="rectangles", seed=1)
pred = np.where(hole > 0, pred, target)  # known pixels pasted back: zero error there
hole3 = np.broadcast_to(hole, target.shape)
fast = F.mse_loss(pred, target, mask=hole3).item()
literal = reference.seed_mse(target, pred, hole3)
report("|F.mse_loss(mask) − reference.seed_mse(mask)|", abs(fast - literal), "< 1e-15")
whole = F.mse_loss(pred, target).item()
report("MSE over the whole image / MSE over the hole", whole / fast,
       f"the hole's share of the pixels, {hole.mean():.3g}")

# %% [markdown]
# ## 3. The network
#
# `InpaintNet` (read `deconvlab/models.py`) is an encoder–decoder:
#
# * input: the image with its holes filled by the mean colour of the known pixels, plus the mask as a 4th channel;
# * encoder: a 3×3 convolution, then three 4×4 convolutions with stride 2 — 32 → 16 → 8 → 4 pixels;
# * middle: a dilated 3×3 convolution (dilation 2) at 4×4, so the deepest features see the whole patch;
# * decoder: three 4×4 **transposed convolutions with stride 2** back up — 4 → 8 → 16 → 32 — each fed the
#   decoder's features concatenated with the encoder's features of the same size (*skip connections*);
# * output: a 3×3 convolution predicts a correction added to the mean-filled input, and the known pixels are
#   pasted back, $y = (1-m)\,x + m\,(x_0 + r)$.
#
# The transposed convolutions are k4 s2 p1, whose stamps overlap evenly (notebook 06 shows why that matters).

# %%
width = 8 if SMOKE else 12
net = models.InpaintNet(width=width, rng=0)
n_params = sum(p.size for p in net.parameters())
print(f"InpaintNet(width={width}): {n_params} parameters")
x_demo = np.zeros((1, 3, 32, 32), dtype=np.float32)
m_demo = np.zeros((1, 1, 32, 32), dtype=np.float32)
for name, layer in net.named_children():
    if hasattr(layer, "weight"):
        print(f"  {name:5s} {type(layer).__name__:16s} weight {str(layer.weight.shape):18s} "
              f"k={layer.kernel_size[0]} s={layer.stride[0]} p={layer.padding[0]} d={layer.dilation[0]}")
report("output shape equals input shape", float(net(x_demo, m_demo).shape == x_demo.shape), "1 (True)")

# %% [markdown]
# ## 4. Training
#
# One step: draw a batch of random 32×32 patches from the six training photos (and their half-size copies),
# flipped, transposed and with their colour channels shuffled at random (`train.augment`), draw a random mask
# per patch, predict, compute the hole MSE, backpropagate, and let Adam update the weights. The learning
# rate follows a cosine from `lr` down to 2% of it, and the gradient norm is clipped at 1 to survive the odd
# bad batch. Every so often we measure PSNR on a fixed set of crops from the three **held-out** photos, with the
# centre-square mask.

# %%
steps = 20 if SMOKE else 400
batch, patch = 16, 32
lr = 2e-3
eval_every = 10 if SMOKE else 50

test_images = list(data.bundled_photos("test").values())
val_x = evaluation.eval_set(test_images, n_crops=32 if SMOKE else 64, patch_size=patch)
val_m = evaluation.eval_masks("center", val_x.shape[0], patch)
before = models.predict(net, val_x, val_m)  # the untrained network, for the pictures below

opt = optim.Adam(net.parameters(), lr=lr)
schedule = optim.CosineAnnealingLR(opt, T_max=steps, eta_min=0.02 * lr)
patches = data.PatchSampler(train.training_images(), patch_size=patch, batch_size=batch, seed=0)
step_rng = np.random.default_rng(1)
losses, checkpoints = [], []
start = time.perf_counter()
for step in range(1, steps + 1):
    x = train.augment(patches.sample(), step_rng)
    m = masks.mask_batch(batch, patch, patch, kind=masks.MASK_KINDS, seed=step_rng)
    net.train()
    loss = train.masked_loss(net(x, m), x, m)
    opt.zero_grad()
    loss.backward()
    optim.clip_grad_norm(net.parameters(), 1.0)
    opt.step()
    schedule.step()
    losses.append(loss.item())
    if step % eval_every == 0 or step == steps:
        net.eval()
        psnr = metrics.pooled_hole_psnr(models.predict(net, val_x, val_m), val_x, val_m[:, 0] > 0.5)
        checkpoints.append((step, psnr))
        print(f"step {step:4d}  loss (mean of last {eval_every}) {np.mean(losses[-eval_every:]):.5f}  "
              f"held-out centre-hole PSNR {psnr:5.2f} dB   {time.perf_counter() - start:5.1f} s")
net.eval()
seconds = time.perf_counter() - start
print(f"{steps} steps in {seconds:.1f} s ({1000 * seconds / steps:.0f} ms per step)")
tenth = max(1, steps // 10)
report("loss, last 10% of steps / first 10%", np.mean(losses[-tenth:]) / np.mean(losses[:tenth]), "< 1: it learned")

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
ax1.semilogy(losses, alpha=0.35, label="each step")
window = max(1, steps // 20)
ax1.semilogy(np.arange(window - 1, steps), np.convolve(losses, np.ones(window) / window, mode="valid"),
             label=f"moving mean of {window}")
ax1.set_xlabel("step")
ax1.set_ylabel("hole MSE (training batches)")
ax1.legend()
ax2.plot(*zip(*checkpoints), marker="o")
ax2.set_xlabel("step")
ax2.set_ylabel("held-out centre-hole PSNR (dB)")
fig.tight_layout()
plt.show()

# %% [markdown]
# The training loss is noisy because every batch has different patches and holes (a batch of small Bernoulli
# holes is easy, a batch of centre squares hard); the moving mean shows the trend.
#
# ## 5. Before and after, on photos the network has never seen

# %%
after = models.predict(net, val_x, val_m)
show = [0, 5, 9, 14, 20, 27]
fig, axes = plt.subplots(4, len(show), figsize=(12, 8.4))
for col, i in enumerate(show):
    for row, (im, title) in enumerate([(show_holes(val_x[i], val_m[i]), "input"), (before[i], "untrained"),
                                      (after[i], f"after {steps} steps"), (val_x[i], "truth")]):
        axes[row, col].imshow(to_hwc(im))
        axes[row, col].axis("off")
        if col == 0:
            axes[row, col].set_title(title, fontsize=10, loc="left")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 6. Against the classical fills
#
# A network is only worth its training if it beats simple methods. `deconvlab.evaluation.evaluate` fills the
# same held-out crops and the same masks with the model and with each baseline, and scores them; the headline
# is the pooled hole PSNR (dB, higher is better). The mean fill paints the known pixels' average colour; the
# harmonic fill solves Laplace's equation in the hole (every missing pixel the average of its four neighbours),
# a smooth membrane that is hard to beat on small holes.

# %%
n_crops = 24 if SMOKE else 100
start = time.perf_counter()
results = evaluation.evaluate(net, test_images, kinds=masks.MASK_KINDS, n_crops=n_crops, patch_size=patch,
                              methods=["mean", "harmonic"])
print(evaluation.format_results(results))
print(f"({n_crops} crops per mask kind, {time.perf_counter() - start:.1f} s)")
for kind in masks.MASK_KINDS:
    lead = results[kind]["model"]["hole_psnr"] - results[kind]["mean"]["hole_psnr"]
    print(f"{kind:11s} model − mean fill = {lead:+.2f} dB   (expect > 0 after a full run)")

# %% [markdown]
# Read the table by mask kind. Our small network, trained for a few seconds, beats the mean fill it starts from
# on every kind, but not yet the harmonic fill: the membrane is a strong baseline, and excellent where every
# missing pixel has known neighbours (Bernoulli). The pretrained network below took 40 minutes, is wider, and
# starts from the harmonic fill instead of the mean colour: it only has to learn the *correction* to the
# membrane — edges continued into the hole, texture — and beats it on every kind.
#
# If the pretrained weights that ship with deconvlab are installed, we can put them in the same table:

# %%
try:
    pretrained = deconvlab.load_pretrained()
except FileNotFoundError as error:
    print("no pretrained weights installed:", error)
else:
    shipped = evaluation.evaluate(pretrained, test_images, kinds=masks.MASK_KINDS, n_crops=n_crops,
                                  patch_size=patch, methods=[])
    for kind in masks.MASK_KINDS:
        print(f"{kind:11s} pretrained {shipped[kind]['model']['hole_psnr']:6.2f} dB   "
              f"this notebook's model {results[kind]['model']['hole_psnr']:6.2f} dB")

# %% [markdown]
# ## 7. A whole photo
#
# The network is fully convolutional: trained on 32×32 patches, it runs on any image whose sides are multiples
# of 8, and `deconvlab.inpaint` pads other sizes, tiles large images and fills very deep holes coarse-to-fine.
# Here is our small model on a held-out photo with brush strokes — and a lesson. It was trained to correct a
# start equal to the mean colour *of a 32×32 patch*. On a whole photo the mean colour of the known pixels is
# that of the whole photo, which can be far from the colours around a hole: an input unlike anything seen in
# training, and the network's correction goes wrong (expect a hole PSNR below the mean fill's). A start that is
# local wherever the hole is — the harmonic fill — does not have this problem, which is why the pretrained
# network and `deconvlab train` use it.

# %%
size = 128 if SMOKE else 240
image = data.load_photo("chelsea")[:size, 64:64 + size]
stroke_mask = masks.make_mask("strokes", *image.shape[:2], seed=7, count=6)
start = time.perf_counter()
filled = deconvlab.inpaint(image, stroke_mask, model=net)
print(f"inpainted a {size}×{size} photo in {time.perf_counter() - start:.2f} s")
fills = {"this notebook's model": filled,
         "mean fill": baselines.mean_fill(image, stroke_mask),
         "harmonic fill": baselines.harmonic_fill(image, stroke_mask)}
try:
    fills["pretrained network"] = deconvlab.inpaint(image, stroke_mask)
except FileNotFoundError as error:
    print("no pretrained weights installed:", error)
for name, im in fills.items():
    print(f"{name:22s} hole PSNR {metrics.hole_psnr(im, image, stroke_mask):6.2f} dB")
panels = [(show_holes(image.transpose(2, 0, 1), stroke_mask).transpose(1, 2, 0), "input")]
panels += [(im, name) for name, im in fills.items()] + [(image, "truth")]
fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.6))
for ax, (im, title) in zip(axes, panels):
    ax.imshow(np.clip(im, 0, 1))
    ax.set_title(title, fontsize=10)
    ax.axis("off")
fig.tight_layout()
plt.show()
