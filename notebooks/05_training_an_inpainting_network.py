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
# is built for that.
#
# **Learning goals.** After this notebook you can
#
# 1. describe the four kinds of holes deconvlab trains and evaluates on, and write the hole-restricted MSE;
# 2. write a training loop (batches, masks, loss, backward, Adam, a learning-rate schedule, clipping) and read
#    its loss curve;
# 3. judge a network against classical fills on photos it has never seen, and say when it loses and why;
# 4. recognise the checkerboard and lattice artifacts of strided transposed convolutions in a network's output.
#
# **Prerequisites.** Notebooks 01–04.
#
# **Expected time.** 60 minutes; the full run takes about half a minute on two cores (400 training steps, then the
# evaluation), a few seconds with `SMOKE=1`. Exercise: `training_loop`.
#
# The real model shipped with deconvlab is trained the same way, only wider and longer (`deconvlab train`);
# here we keep everything small enough to train in seconds on a laptop CPU.

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np

import deconvlab
import deconvlab.functional as F
from deconvlab import baselines, data, evaluation, masks, metrics, models, optim, reference, train
from deconvlab.teaching import controls, expect, reveal

SMOKE = os.environ.get("SMOKE", "0") not in ("", "0")
rng = np.random.default_rng(0)


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
expect("|F.mse_loss(mask) − reference.seed_mse(mask)|", abs(fast - literal), "< 1e-15")
whole = F.mse_loss(pred, target).item()
expect("MSE over the whole image / MSE over the hole, minus the hole's share of the pixels",
       whole / fast - hole.mean(), "≈ 0 ± 1e-12", f"the ratio is that share, {hole.mean():.3g}")

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
expect("output shape equals input shape", net(x_demo, m_demo).shape == x_demo.shape, "True")

# %% [markdown]
# ## 4. Training
#
# One step: draw a batch of random 32×32 patches from the six training photos (and their half-size copies),
# flipped, transposed and with their colour channels shuffled at random (`train.augment`), draw a random mask
# per patch, predict, compute the hole MSE, backpropagate, and let Adam update the weights. The learning
# rate follows a cosine from `lr` down to 2% of it, and the gradient norm is clipped at 1 to survive the odd
# bad batch. Every so often we measure PSNR on a fixed set of crops from the three **held-out** photos, with the
# centre-square mask.
#
# **Predict.** After 400 steps, will this small network beat the *harmonic* fill on those centre squares? (True or
# False; the answer comes in section 6.)

# %%
my_prediction = None  # True or False

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
expect("loss, last 10% of steps / first 10%", np.mean(losses[-tenth:]) / np.mean(losses[:tenth]), "< 1", "it learned",
       fmt=".3g")

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
# Look closely at the untrained row: the fill inside the square is a fine checkerboard. That is notebook 06's
# artifact, live: a freshly initialised decoder of stride-2 transposed convolutions gives its output pixels
# different phase sums of random weights, so even a smooth input comes out checkered. Measured as in notebook 06
# (the share of the fill's energy at the Nyquist frequency, inside the hole), it is well above the truth's and the
# harmonic fill's; training shrinks it:

# %%
def nyquist_share(batch):
    """Mean over the batch of the Nyquist energy share of the 16×16 hole (gray), its mean removed."""
    y = batch[:, :, 8:24, 8:24].mean(axis=1)
    y = y - y.mean(axis=(-2, -1), keepdims=True)
    energy = np.abs(np.fft.fft2(y)) ** 2
    n = y.shape[-1] // 2
    nyquist = energy[:, n, :].sum(-1) + energy[:, :, n].sum(-1) - energy[:, n, n]
    return float(np.mean(nyquist / np.maximum(energy.sum(axis=(-2, -1)), 1e-20)))


harmonic_crops = baselines.fill_batch("harmonic", val_x, val_m[:, 0] > 0.5)
shares = {name: nyquist_share(b) for name, b in [("untrained", before), (f"after {steps} steps", after),
                                                  ("harmonic fill", harmonic_crops), ("truth", val_x)]}
for name, share in shares.items():
    print(f"Nyquist energy share in the hole, {name:16s} {share:.3f}")
expect("untrained network / truth", shares["untrained"] / shares["truth"], "> 3", "a checkerboard", fmt=".2f")

# %% [markdown]
# **Try it.** Pick a held-out crop and a kind of hole; the panels show the input, the trained network's fill, the
# harmonic fill and the truth, with each fill's PSNR on the hole.

# %%
def draw_crop(crop=3, kind="center"):
    hole = evaluation.eval_masks(kind, val_x.shape[0], patch)[crop:crop + 1]
    truth = val_x[crop:crop + 1]
    fills = {"network": models.predict(net, truth, hole),
             "harmonic": baselines.fill_batch("harmonic", truth, hole[:, 0] > 0.5)}
    fig, axes = plt.subplots(1, 4, figsize=(10, 2.9))
    panels = [(show_holes(truth[0], hole[0]), "input")]
    panels += [(f[0], f"{name}: {metrics.pooled_hole_psnr(f, truth, hole[:, 0] > 0.5):.1f} dB") for name, f in fills.items()]
    for ax, (im, title) in zip(axes, panels + [(truth[0], "truth")]):
        ax.imshow(to_hwc(im))
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    plt.show()


controls(draw_crop, [dict(crop=3, kind="center"), dict(crop=9, kind="strokes")], crop=(0, val_x.shape[0] - 1),
         kind=list(masks.MASK_KINDS))

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
    if SMOKE:
        print(f"{kind:11s} model − mean fill = {lead:+.2f} dB (SMOKE=1: too few steps to judge)")
    else:
        expect(f"{kind:11s} model − mean fill (dB)", lead, "> 0", "after a full run", fmt="+.2f")
centre_gap = results["center"]["model"]["hole_psnr"] - results["center"]["harmonic"]["hole_psnr"]
reveal(my_prediction, bool(centre_gap > 0), f"On the centre squares the network is {centre_gap:+.2f} dB from the "
       "harmonic fill after this short training.")

# %% [markdown]
# Read the table by mask kind. Our small network, trained for well under a minute, beats the mean fill it starts
# from on every kind, but not yet the harmonic fill: the membrane is a strong baseline, and excellent where every
# missing pixel has known neighbours (Bernoulli). The pretrained InpaintNet below (`load_pretrained("inpaintnet")`,
# the same architecture as ours; the default network of `deconvlab.inpaint` is a larger one built for larger
# holes, docs/pretrained.md) took 40 minutes, is wider, and
# starts from the harmonic fill instead of the mean colour: it only has to learn the *correction* to the
# membrane — edges continued into the hole, texture — and beats it on every kind.
#
# If the pretrained weights that ship with deconvlab are installed, we can put them in the same table:

# %%
try:
    pretrained = deconvlab.load_pretrained("inpaintnet")
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
# networks and `deconvlab train` use it.

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
    fills["pretrained network"] = deconvlab.inpaint(image, stroke_mask, model=deconvlab.load_pretrained("inpaintnet"))
except FileNotFoundError as error:
    print("no pretrained weights installed:", error)
psnrs = {name: metrics.hole_psnr(im, image, stroke_mask) for name, im in fills.items()}
for name, value in psnrs.items():
    print(f"{name:22s} hole PSNR {value:6.2f} dB")
if not SMOKE:
    expect("this notebook's model − mean fill on the whole photo (dB)", psnrs["this notebook's model"] - psnrs["mean fill"],
           "< 0", "a start unlike the training's", fmt="+.2f")
panels = [(show_holes(image.transpose(2, 0, 1), stroke_mask).transpose(1, 2, 0), "input")]
panels += [(im, name) for name, im in fills.items()] + [(image, "truth")]
fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.6))
for ax, (im, title) in zip(axes, panels):
    ax.imshow(np.clip(im, 0, 1))
    ax.set_title(title, fontsize=10)
    ax.axis("off")
fig.tight_layout()
plt.show()

# %% [markdown]
# Look at the pretrained InpaintNet's fill up close (run the cell and zoom in): inside the wider strokes there is a
# faint lattice with a period of 8 pixels. It has the same cause as the untrained checkerboard above, one level
# up. InpaintNet goes down three times by a factor of 2, so its deepest features sit on a grid 8 pixels apart
# (the jump of its encoder: the `receptive_field` exercise computes it), and its decoder comes back up through
# three stride-2 transposed convolutions. An output pixel's position modulo 8 decides which taps of the three
# decoders reach it; training makes those phase sums nearly equal, not equal. The measurement: the energy of the
# network's correction to the harmonic fill at the 8-pixel lattice's frequencies, against what it would be if
# that energy were spread evenly over all frequencies.

# %%
if "pretrained network" in fills:
    correction = (fills["pretrained network"] - fills["harmonic fill"]).mean(axis=2)
    correction = np.where(stroke_mask, correction - correction[stroke_mask].mean(), 0.0)
    energy = np.abs(np.fft.fft2(correction)) ** 2
    rows, cols = np.meshgrid(np.arange(correction.shape[0]), np.arange(correction.shape[1]), indexing="ij")
    lattice = ((rows * 8) % correction.shape[0] == 0) & ((cols * 8) % correction.shape[1] == 0)
    lattice &= (rows + cols) > 0
    ratio = (energy[lattice].sum() / energy.sum()) / (lattice.sum() / lattice.size)
    if SMOKE:
        print(f"energy at the period-8 frequencies: {ratio:.2f} times an even spread (SMOKE=1: a smaller photo)")
    else:
        expect("energy at the period-8 frequencies, against an even spread", ratio, "> 1.5", "a faint lattice", fmt=".2f")
    coverage = np.cumsum(np.cumsum(np.pad(stroke_mask, ((1, 0), (1, 0))), axis=0), axis=1)
    side = 48
    counts = coverage[side:, side:] - coverage[:-side, side:] - coverage[side:, :-side] + coverage[:-side, :-side]
    top, left = np.unravel_index(int(np.argmax(counts)), counts.shape)  # the 48×48 window with the most hole
    limit = np.abs(correction).max() or 1.0
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
    axes[0].imshow(np.clip(fills["pretrained network"][top:top + side, left:left + side], 0, 1), interpolation="nearest")
    axes[0].set_title("pretrained fill, 48×48 detail (grid: every 8 pixels)", fontsize=9)
    axes[1].imshow(correction[top:top + side, left:left + side], cmap="RdBu_r", vmin=-limit, vmax=limit,
                   interpolation="nearest")
    axes[1].set_title("its correction to the harmonic fill (0 outside the hole)", fontsize=9)
    for ax in axes:
        ax.set_xticks(np.arange(-0.5, side, 8))
        ax.set_yticks(np.arange(-0.5, side, 8))
        ax.tick_params(labelbottom=False, labelleft=False)
        ax.grid(color="w", linewidth=0.5)
    fig.tight_layout()
    plt.show()

# %% [markdown]
# Two cures exist, both measured in notebook 06: transposed convolutions whose phase sums are equal by
# construction, and upsample-then-convolve layers, which have no phases at all. The network `deconvlab.inpaint`
# uses by default, a HoleNet (gated convolutions, a receptive field that spans larger holes, a correction gated so
# that smooth areas keep the harmonic fill; docs/pretrained.md), is held to a measurement of the same kind:
# the period-8 share of its error on whole photos is the harmonic fill's.
