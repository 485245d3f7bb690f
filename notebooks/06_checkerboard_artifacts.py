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
# # 06 · Checkerboard artifacts
#
# Images produced by decoders built from strided transposed convolutions often carry a faint grid — a
# checkerboard of slightly brighter and darker pixels with a period of two. This notebook finds where it comes
# from, measures it, and tries the standard cure.
#
# **Learning goals.** After this notebook you can
#
# 1. count the kernel stamps that land on each output pixel (**overlap counts**) and say when they are uniform;
# 2. explain why even overlap is not enough with learned weights (**phase sums**);
# 3. explain why **resize-convolution** (upsample first, then convolve) cannot make a checkerboard from a flat input;
# 4. measure the artifact: the share of an output's energy at the highest frequency the pixel grid can hold (the
#    **Nyquist** frequency, period 2), with the FFT.
#
# **Prerequisites.** Notebook 02 (the scatter view); the discrete Fourier transform, as "frequencies of an image".
#
# **Expected time.** 40 minutes; the cells run in a few seconds.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from deconvlab import Tensor, kernels, nn, no_grad
from deconvlab import data
from deconvlab.teaching import controls, expect, reveal

SMOKE = os.environ.get("SMOKE", "0") not in ("", "0")
np.set_printoptions(linewidth=110)


def interior_values(a, margin):
    """The distinct values of a 2-D array away from its borders."""
    return sorted({float(v) for v in np.round(a[margin:-margin, margin:-margin], 9).ravel()})


# %% [markdown]
# ## 1. Overlap counts
#
# Recall the scatter view of notebook 02: every input pixel stamps a copy of the kernel, $s$ pixels apart. Feed a
# transposed convolution an input of ones and a kernel of ones, and each output pixel receives 1 from every stamp
# that covers it: the output **counts the overlapping stamps**.
#
# In one dimension with $k = 3, s = 2$, stamps start at 0, 2, 4, …, each 3 wide. Position 1 is covered once
# (by the stamp at 0), position 2 twice (stamps at 0 and 2), position 3 once, position 4 twice, and so on: away
# from the border, odd positions once and even positions twice. In two dimensions the counts
# multiply: 1, 2 or 4. With $k = 4, s = 2$ every position is covered exactly twice per axis, 4 in total. In
# general the count is uniform exactly when $s$ divides $k$.
#
# **Predict.** With $k = 5, s = 2$, which overlap counts appear away from the border (a sorted list)?

# %%
my_prediction = None  # e.g. [1, 2]

# %%
ones_in = np.ones((1, 1, 8, 8))
counts = {
    "k=3, s=2": kernels.conv_transpose2d_forward(ones_in, np.ones((1, 1, 3, 3)), stride=2)[0, 0],
    "k=4, s=2": kernels.conv_transpose2d_forward(ones_in, np.ones((1, 1, 4, 4)), stride=2)[0, 0],
}
for name, c in counts.items():
    print(f"{name}: output {c.shape}, overlap counts away from the border: {interior_values(c, 3)}")
expect("k=3, s=2: distinct interior counts", len(interior_values(counts["k=3, s=2"], 3)), "== 3", "1, 2 and 4: a checkerboard")
expect("k=4, s=2: distinct interior counts", len(interior_values(counts["k=4, s=2"], 3)), "== 1", "4 everywhere: uniform")
five = kernels.conv_transpose2d_forward(ones_in, np.ones((1, 1, 5, 5)), stride=2)[0, 0]
reveal(my_prediction, [int(v) for v in interior_values(five, 5)],
       "Per axis a position is covered by 2 or 3 stamps, so the products are 4, 6 and 9.")

fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
for ax, (name, c) in zip(axes, counts.items()):
    im = ax.imshow(c, cmap="magma", vmin=0, vmax=4)
    for (r, col), v in np.ndenumerate(c):
        ax.text(col, r, f"{v:g}", ha="center", va="center", fontsize=6, color="w" if v < 3 else "k")
    ax.set_title(f"transposed conv of ones with ones, {name}", fontsize=10)
    ax.axis("off")
fig.tight_layout()
plt.show()

# %%
print("interior overlap counts of a transposed convolution (ones in, ones kernel)")
for s in (2, 3):
    for k in range(s, s + 4):
        c = kernels.conv_transpose2d_forward(np.ones((1, 1, 10, 10)), np.ones((1, 1, k, k)), stride=s)[0, 0]
        values = interior_values(c, k + 1)
        verdict = "uniform" if len(values) == 1 else "checkerboard"
        print(f"  s={s} k={k}: {str(values):22s} {verdict:12s} (k divisible by s: {k % s == 0})")

# %% [markdown]
# ## 2. Even overlap is not enough: phase sums
#
# Counting assumes all weights equal. A learned kernel has different weights, so let us look at what a flat input
# really produces. Take input $x = 1$ everywhere and follow output pixel $i$ (one axis, one channel): it receives
# $w_u$ from every stamp whose tap $u$ lands on it, $u = i - sp + \text{pad}$. All such $u$ have the same remainder
# modulo $s$, so
#
# $$ y_i = \sum_{u \equiv i + \text{pad} \ (\mathrm{mod}\ s)} w_u , $$
#
# a **phase sum**: at $s = 2$, even output pixels get one sum of taps, odd ones another. With $k = 4$ these are
# $w_0 + w_2$ and $w_1 + w_3$ — two taps each, which is why the count is even, but two *different* sums unless the
# weights happen to make them equal. With $k = 3$ they are $w_0 + w_2$ and $w_1$ alone. Either way a flat input
# comes out striped; in 2-D, with four phase sums, checkered. Section 4 measures this on randomly initialised
# layers; here are the two phase sums of one random 4-tap kernel.

# %%
def phase_sums_1d(w, s):
    return [w[r::s].sum() for r in range(s)]


w1 = np.random.default_rng(0).uniform(-1, 1, 4)
sums = phase_sums_1d(w1, 2)
print("k=4 kernel", np.round(w1, 3), "-> phase sums", np.round(sums, 3))
expect("|difference of the two phase sums|", abs(sums[0] - sums[1]), "> 0", "two different numbers")

# %% [markdown]
# **Try it.** Choose the kernel size and the stride: the left panel is the overlap count of ones (equal weights),
# the right one what a flat input gives with one random kernel (the phase sums). Which settings make the left panel
# uniform? Is the right one ever uniform?

# %%
def draw_phases(kernel=3, stride=2, seed=0):
    ones = np.ones((1, 1, 8, 8))
    count = kernels.conv_transpose2d_forward(ones, np.ones((1, 1, kernel, kernel)), stride=stride)[0, 0]
    weight = np.random.default_rng(seed).uniform(-1, 1, (1, 1, kernel, kernel))
    flat = kernels.conv_transpose2d_forward(ones, weight, stride=stride)[0, 0]
    margin = kernel + 1
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
    for ax, (a, title) in zip(axes, [(count, f"overlap counts, k={kernel} s={stride}: {interior_values(count, margin)}"),
                                     (flat, "flat input, random kernel: the phase sums")]):
        ax.imshow(a[margin:-margin, margin:-margin], cmap="magma")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    plt.show()


controls(draw_phases, [dict(kernel=3, stride=2, seed=0), dict(kernel=4, stride=2, seed=0)], kernel=(2, 7),
         stride=(1, 3), seed=(0, 9))

# %% [markdown]
# ## 3. Resize-convolution
#
# The cure proposed by Odena, Dumoulin and Olah ("Deconvolution and Checkerboard Artifacts", 2016) separates the
# two jobs a strided transposed convolution does at once: first **upsample** with a fixed interpolation (nearest
# neighbour or bilinear), then **convolve** with stride 1. A flat input stays flat after interpolation, and a
# stride-1 convolution of a flat image is flat (away from the zero-padded border), whatever the weights: there
# are no phases. The count map says the same — every interior pixel gets the same number of contributions:

# %%
up = np.ones((1, 1, 16, 16))  # nearest-neighbour upsampling of an 8×8 image of ones: still ones
count_resize = kernels.conv2d_forward(up, np.ones((1, 1, 3, 3)), padding=1)[0, 0]
expect("upsample ×2 then 3×3 conv: distinct interior contribution counts", len(interior_values(count_resize, 1)), "== 1",
       f"{interior_values(count_resize, 1)}: nine everywhere")

# %% [markdown]
# ## 4. Measuring the checkerboard
#
# To measure the artifact we need a number that is zero for a smooth output and large for a period-2 pattern.
# The 2-D discrete Fourier transform of an $N \times N$ image (with $N$ even) has a row and a column of
# coefficients at frequency $N/2$ — the Nyquist frequency, one cycle every two pixels. A checkerboard
# $(-1)^{i+j}$ or stripes $(-1)^i$, $(-1)^j$ live *only* there. Our measure is
#
# $$ \text{checkerboard strength}
#    = \frac{\sum_{f_y = N/2 \ \text{or}\ f_x = N/2} |Y(f_y, f_x)|^2}{\sum_{f_y, f_x} |Y(f_y, f_x)|^2}, $$
#
# the fraction of the output's energy at the Nyquist frequency: 0 for a flat or smooth image, 1 for a pure
# checkerboard. We cut away a 4-pixel border first, where zero padding makes every layer uneven.
#
# Four ways to double the size of an 8-channel 16×16 feature map, each randomly initialised:
#
# * transposed conv k3 s2 (padding 1, output_padding 1 to land on exactly 32);
# * transposed conv k4 s2 (padding 1);
# * nearest-neighbour upsampling ×2, then a 3×3 convolution (padding 1);
# * bilinear upsampling ×2, then a 3×3 convolution (padding 1).

# %%
def make_layers(seed, c=8):
    rng = np.random.default_rng(seed)
    kw = dict(bias=False, dtype=np.float64, rng=rng)
    return {
        "transposed k3 s2": nn.ConvTranspose2d(c, c, 3, stride=2, padding=1, output_padding=1, **kw),
        "transposed k4 s2": nn.ConvTranspose2d(c, c, 4, stride=2, padding=1, **kw),
        "nearest ×2 + conv3": nn.Sequential(nn.Upsample(2, "nearest"), nn.Conv2d(c, c, 3, padding=1, **kw)),
        "bilinear ×2 + conv3": nn.Sequential(nn.Upsample(2, "bilinear"), nn.Conv2d(c, c, 3, padding=1, **kw)),
    }


def nyquist_fraction(y, margin=4):
    """Share of the energy of each 2-D plane of y (..., H, W) at the Nyquist row and column, border cut off."""
    y = y[..., margin:y.shape[-2] - margin, margin:y.shape[-1] - margin]
    n_h, n_w = y.shape[-2:]
    assert n_h % 2 == 0 and n_w % 2 == 0, "the Nyquist frequency exists for even sizes only"
    energy = np.abs(np.fft.fft2(y)) ** 2
    at_nyquist = energy[..., n_h // 2, :].sum(axis=-1) + energy[..., :, n_w // 2].sum(axis=-1) \
        - energy[..., n_h // 2, n_w // 2]
    return at_nyquist / energy.sum(axis=(-2, -1))


flat = Tensor(np.ones((1, 8, 16, 16)))
n_seeds = 5 if SMOKE else 25
strength = {name: [] for name in make_layers(0)}
examples = {}
with no_grad():
    for seed in range(n_seeds):
        for name, layer in make_layers(seed).items():
            y = layer(flat).data[0]
            strength[name].extend(nyquist_fraction(y))  # one value per output channel
            if seed == 0:
                examples[name] = y[0]

print(f"flat input, {n_seeds} random initialisations × 8 output channels")
print(f"{'layer':22s} {'Nyquist energy share':>22s}   {'median':>8s}   {'max':>8s}")
for name, values in strength.items():
    values = np.array(values)
    print(f"{name:22s} {values.mean():14.3f} ± {values.std():5.3f}   {np.median(values):8.3f}   {values.max():8.1e}")
for name in ("transposed k3 s2", "transposed k4 s2"):
    expect(f"{name}: mean Nyquist share", np.mean(strength[name]), "≈ 0.75 ± 0.15", "four independent phase sums", fmt=".3f")
for name in ("nearest ×2 + conv3", "bilinear ×2 + conv3"):
    expect(f"{name}: largest Nyquist share", np.max(strength[name]), "< 1e-20", "flat: 0 up to rounding")

# %%
fig, axes = plt.subplots(2, 4, figsize=(13, 6.4))
for col, (name, y) in enumerate(examples.items()):
    axes[0, col].imshow(y, cmap="gray")
    axes[0, col].set_title(f"{name}\nflat input → output channel 0", fontsize=9)
    inner = y[4:-4, 4:-4]
    spectrum = np.fft.fftshift(np.abs(np.fft.fft2(inner)) ** 2)
    axes[1, col].imshow(np.log10(spectrum + 1e-12), cmap="viridis", vmin=-12)
    axes[1, col].set_title(f"log10 |FFT|², centre = frequency 0\nNyquist share {nyquist_fraction(y):.3f}", fontsize=9)
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
plt.show()

# %% [markdown]
# In the spectra the centre is the mean brightness (frequency 0) and the Nyquist frequency is the outer edge
# (top row and left column after `fftshift`). The transposed convolutions put energy in the top-left corner (the
# checkerboard, Nyquist along both axes) and at the middle of the top row and of the left column (the stripes,
# Nyquist along one axis) — three points besides the centre. The resize-convolutions have a single bright point in
# the centre: a flat output.
#
# Why about 0.75 for the transposed convolutions? A period-2 pattern in 2-D is described by its four phase values,
# and the FFT splits it into four frequency pairs: (0, 0), the mean, and three at Nyquist (stripes along each axis
# and the checkerboard). If the four phase sums are unrelated random numbers — as with random weights and no
# bias — each frequency carries on average a quarter of the energy, and three quarters sit at Nyquist. A freshly
# initialised transposed convolution turns a flat input into a pattern that is, on average, 75% checkerboard.
#
# Two things to take away from the numbers:
#
# * **k4 s2 is not automatically clean.** Its overlap count is uniform, but with random weights its four phase
#   sums differ, and its Nyquist share is of the same order as k3 s2's. Uniform overlap only means the
#   network *can* make a flat output by equalising its phase sums; it must still learn to. k3 s2 cannot
#   even do that without also equalising a one-tap phase against a two-tap one.
# * **Resize-convolution is clean by construction**, for every initialisation and all through training.
#
# What about real images? The same layers applied to a photo (gray, repeated across the 8 channels) show the
# grid superimposed on the picture:

# %%
size = 32 if SMOKE else 64
gray = data.load_photo("camera", as_gray=True)[100:100 + size, 150:150 + size]
photo_in = Tensor(np.repeat(gray[None, None].astype(np.float64), 8, axis=1))
fig, axes = plt.subplots(1, 5, figsize=(15, 3.4))
axes[0].imshow(gray, cmap="gray")
axes[0].set_title(f"input {size}×{size}\nNyquist share {nyquist_fraction(gray, 2):.4f}", fontsize=9)
print(f"the photo itself                     : Nyquist energy share {nyquist_fraction(gray, 2):.4f}")
with no_grad():
    photo_shares = {}
    for ax, (name, layer) in zip(axes[1:], make_layers(0).items()):
        y = layer(photo_in).data[0]
        share = photo_shares[name] = nyquist_fraction(y).mean()
        ax.imshow(y[0], cmap="gray")
        ax.set_title(f"{name}\nNyquist share {share:.4f}", fontsize=9)
        print(f"photo through {name:22s}: Nyquist energy share {share:.4f}")
photo_share = nyquist_fraction(gray, 2)
expect("transposed k3 s2 on the photo / the photo's own share", photo_shares["transposed k3 s2"] / photo_share, "> 10",
       "far above", fmt=".1f")
expect("nearest ×2 + conv3 on the photo / the photo's own share", photo_shares["nearest ×2 + conv3"] / photo_share,
       "< 3", "close to it", fmt=".2f")
for ax in axes:
    ax.axis("off")
fig.tight_layout()
plt.show()

# %% [markdown]
# On a photo the resize-convolutions are not exactly zero (the photo itself has some fine detail, and bilinear
# interpolation is smoother than nearest), but they stay far below the transposed convolutions.
#
# ## Summary
#
# * A strided transposed convolution splits its output into $s^2$ phases, each computed from a different subset of
#   kernel taps. With equal weights the subsets' sizes show up as an overlap-count checkerboard ({1, 2, 4} for k3 s2,
#   uniform when $s$ divides $k$); with learned weights the subsets' *sums* differ too.
# * Measured as the share of output energy at the Nyquist frequency on a flat input, randomly initialised
#   transposed convolutions (k3 s2 and k4 s2) both come out near 0.75 — mostly checkerboard — while
#   upsample-then-convolve gives exactly 0.
# * deconvlab's `InpaintNet` uses k4 s2 transposed convolutions (uniform overlap) and learns to keep the grid
#   small; `nn.Upsample` followed by `nn.Conv2d` is the drop-in alternative when artifacts matter more than the
#   extra computation at full resolution.
