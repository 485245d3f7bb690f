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
# # 01 · Convolution by hand
#
# The article this project grew from writes convolution as one double sum:
#
# $$
# y(i,j) = \sum_{p=0}^{P-1} \sum_{q=0}^{Q-1} x(p,q) \cdot h(i-p, j-q)
# $$
#
# where $x$ is a $P \times Q$ image and $h$ a small kernel.
#
# **Learning goals.** After this notebook you can
#
# 1. evaluate that formula literally, one term at a time, and say what it produces;
# 2. tell a *true* convolution (the kernel is flipped) from the *cross-correlation* of deep-learning layers
#    (no flip), and turn one into the other by rotating the kernel 180°;
# 3. compute a layer's output size, $H_\text{out} = \lfloor (H + 2p - d(k-1) - 1)/s \rfloor + 1$, and draw
#    which pixels each output reads for a given stride $s$, padding $p$ and dilation $d$;
# 4. check a fast kernel against the slow literal loops.
#
# **Prerequisites.** Python and NumPy arrays (indexing, slicing, shapes); sums written with $\sum$.
#
# **Expected time.** 45 minutes; the cells run in a few seconds. Then write the exercise `conv2d_literal`
# (`deconvlab exercises make hw/`).
#
# Every check prints a number next to the value you should expect and a verdict (✓ or ✗). If a number is far
# from its expectation, something is wrong — in the library or in your understanding, and both are worth
# finding. Cells marked **Predict** ask you to write a guess before you run the next cell, which checks it.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from deconvlab import kernels, reference
from deconvlab.teaching import controls, expect, reveal

SMOKE = os.environ.get("SMOKE", "0") not in ("", "0")
rng = np.random.default_rng(0)
np.set_printoptions(precision=3, suppress=True, linewidth=110)


# %% [markdown]
# ## 1. The article's formula, term by term
#
# `reference.seed_conv2d(x, h)` is the formula written as four nested Python loops: for every output position
# $(i, j)$ it walks over every input pixel $(p, q)$ and adds $x(p,q)\,h(i-p, j-q)$ whenever $(i-p, j-q)$ is
# inside the kernel. Nothing is vectorised; it is slow on purpose, so that you can read it.
#
# Which output positions can be non-zero? $h(i-p, j-q)$ needs $0 \le i-p \le K-1$, and $p$ runs over
# $0 \ldots P-1$, so $i$ runs over $0 \ldots P+K-2$: the output is $(P+K-1) \times (Q+L-1)$, bigger than the
# input. This is the **full** convolution.
#
# **Predict.** The image below is $4 \times 4$ and the kernel $3 \times 3$. What shape is the full output?
# Write it as a tuple, then run the cell after.

# %%
my_prediction = None  # e.g. (5, 5)

# %%
x = np.array([[1, 2, 0, 1],
              [0, 1, 3, 1],
              [2, 0, 1, 0],
              [1, 1, 0, 2]], dtype=float)
h = np.array([[1, 0, -1],
              [2, 0, -2],
              [0, 1, 0]], dtype=float)

y = reference.seed_conv2d(x, h)
reveal(my_prediction, y.shape, "P + K − 1 = 4 + 3 − 1 = 6 rows, and the same for the columns.")
expect("number of output rows", y.shape[0], "== 6", "P + K − 1")
print(y)

# %% [markdown]
# Let us check one entry by hand. For $(i, j) = (2, 2)$ the terms with $0 \le 2-p \le 2$ and $0 \le 2-q \le 2$
# are $p, q \in \{0, 1, 2\}$, and the kernel index runs *backwards* while the image index runs forwards:
# $x(0,0)\,h(2,2) + x(0,1)\,h(2,1) + \ldots + x(2,2)\,h(0,0)$.

# %%
by_hand = sum(x[p, q] * h[2 - p, 2 - q] for p in range(3) for q in range(3))
print(f"y(2,2) by hand = {by_hand}, seed_conv2d gives {y[2, 2]}")
expect("|difference|", abs(by_hand - y[2, 2]), "== 0")

# %% [markdown]
# A second, independent way to compute the same thing is the **shift-and-add** view: every input pixel
# $x(p,q)$ drops a copy of $h$, scaled by $x(p,q)$, with its top-left corner at $(p, q)$. Adding all copies
# gives $y$. (Notebook 02 will meet this view again: it is exactly the transposed convolution with stride 1.)

# %%
def shift_and_add(x, h):
    P, Q = x.shape
    K, L = h.shape
    out = np.zeros((P + K - 1, Q + L - 1))
    for p in range(P):
        for q in range(Q):
            out[p:p + K, q:q + L] += x[p, q] * h
    return out


expect("max |seed_conv2d − shift_and_add|", np.abs(y - shift_and_add(x, h)).max(), "== 0",
       "small integers, so every sum is exact")

# %% [markdown]
# ## 2. True convolution versus cross-correlation
#
# In the formula the kernel is read at $h(i-p, j-q)$: as the image index $p$ goes up, the kernel index goes
# *down*. Sliding the kernel over the image, you meet it turned by 180°. That is the textbook convolution
# (it makes convolution commutative and associative, and is what the Fourier convolution theorem is about).
#
# The conv layers of deep-learning frameworks — and `deconvlab.kernels.conv2d_forward`, and PyTorch's
# `conv2d` — do **not** flip. They compute a cross-correlation
#
# $$ y(i,j) = \sum_u \sum_v h(u,v)\, x(i+u, j+v). $$
#
# For a learned kernel this makes no difference at all (the network simply learns the flipped kernel), but
# when you compare numbers with a textbook you must know which one you have. `reference.seed_correlate2d`
# is the full cross-correlation; flipping the kernel turns one into the other:

# %%
h_flipped = h[::-1, ::-1]
corr = reference.seed_correlate2d(x, h)
expect("max |correlate(x, h) − convolve(x, flip(h))|", np.abs(corr - reference.seed_conv2d(x, h_flipped)).max(), "== 0")
expect("max |convolve(x, h) − correlate(x, h)|     ", np.abs(reference.seed_conv2d(x, h) - corr).max(), "> 0.5",
       "clearly not 0: h is not symmetric")

# %% [markdown]
# A deep-learning conv layer without padding keeps only the positions where the kernel lies entirely inside
# the image: the **valid** part, rows $K-1 \ldots P-1$ of the full correlation. The fast kernel takes NCHW
# arrays (batch, channels, height, width), so we add two axes of length 1.

# %%
valid = kernels.conv2d_forward(x[None, None], h[None, None])[0, 0]
print("valid correlation (fast kernel):\n", valid)
K, L = h.shape
expect("max |fast valid − seed_correlate2d[K−1:P, L−1:Q]|", np.abs(valid - corr[K - 1:4, L - 1:4]).max(), "< 1e-12")

# %% [markdown]
# And with padding $k-1$ on every side the layer returns the *full* correlation; give it the flipped kernel
# and you get the article's convolution back:

# %%
full_from_layer = kernels.conv2d_forward(x[None, None], np.ascontiguousarray(h_flipped)[None, None], padding=2)[0, 0]
expect("max |conv2d_forward(x, flip(h), padding=2) − seed_conv2d(x, h)|",
       np.abs(full_from_layer - reference.seed_conv2d(x, h)).max(), "< 1e-12")

# %%
fig, axes = plt.subplots(1, 5, figsize=(14, 3))
panels = [(x, "image x"), (h, "kernel h"), (h_flipped, "h turned 180°"),
          (reference.seed_conv2d(x, h), "convolution x * h"), (corr, "cross-correlation x ⋆ h")]
for ax, (a, title) in zip(axes, panels):
    im = ax.imshow(a, cmap="RdBu_r", vmin=-np.abs(a).max(), vmax=np.abs(a).max())
    for (r, c), v in np.ndenumerate(a):
        ax.text(c, r, f"{v:g}", ha="center", va="center", fontsize=7)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 3. Output sizes: stride, padding, dilation
#
# A conv layer has three more knobs:
#
# * **padding** $p$: surround the image with $p$ rows and columns of zeros on every side;
# * **stride** $s$: move the kernel $s$ pixels at a time, so only every $s$-th position is computed;
# * **dilation** $d$: spread the kernel taps $d$ pixels apart, so a $k$-tap kernel spans $d(k-1)+1$ pixels.
#
# Output pixel $i$ with tap $u$ reads input row $i\,s - p + u\,d$. The last tap of the last output must still
# land inside the padded image, $i\,s + d(k-1) \le H + 2p - 1$, and counting the $i \ge 0$ that satisfy this gives
#
# $$ H_\text{out} = \left\lfloor \frac{H + 2p - d(k-1) - 1}{s} \right\rfloor + 1 . $$
#
# **Predict.** A 7-pixel-wide input, a 3-tap kernel, stride 2, no padding, no dilation: how many outputs? And
# with an 8-pixel input? Write both (a tuple), then run the table.

# %%
my_prediction = None  # (outputs for H = 7, outputs for H = 8)

# %% [markdown]
# The table checks the formula against both implementations for a few settings.

# %%
def conv_out(H, k, s=1, p=0, d=1):
    return (H + 2 * p - d * (k - 1) - 1) // s + 1


settings = [  # (H, k, s, p, d)
    (32, 3, 1, 0, 1), (32, 3, 1, 1, 1), (32, 4, 2, 1, 1), (32, 3, 2, 1, 1), (31, 3, 2, 1, 1),
    (7, 3, 2, 0, 1), (8, 3, 2, 0, 1), (9, 3, 1, 0, 2), (9, 3, 1, 2, 2), (10, 5, 3, 2, 1),
]
print(f"{'H':>3} {'k':>2} {'s':>2} {'p':>2} {'d':>2} | {'formula':>7} {'fast':>5} {'reference':>9}")
agree = 0
for H, k, s, p, d in settings:
    xs = rng.standard_normal((1, 1, H, H))
    ws = rng.standard_normal((1, 1, k, k))
    fast_h = kernels.conv2d_forward(xs, ws, stride=s, padding=p, dilation=d).shape[2]
    ref_h = reference.conv2d(xs, ws, stride=s, padding=p, dilation=d).shape[2]
    formula = conv_out(H, k, s, p, d)
    agree += formula == fast_h == ref_h
    print(f"{H:3d} {k:2d} {s:2d} {p:2d} {d:2d} | {formula:7d} {fast_h:5d} {ref_h:9d}")
expect("rows where formula, fast kernel and reference agree", agree, f"== {len(settings)}")
reveal(my_prediction, (conv_out(7, 3, 2), conv_out(8, 3, 2)),
       "floor((7 − 2 − 1)/2) + 1 = 3 and floor((8 − 2 − 1)/2) + 1 = 3: the floor drops the eighth pixel.")

# %% [markdown]
# Notice rows 6 and 7: $H = 7$ and $H = 8$ both give 3 outputs with $k = 3, s = 2$. The floor throws away the
# last input row when it cannot complete a window. Different input sizes giving one output size will come back
# in notebook 02, where it is the reason transposed convolution needs an `output_padding` argument.
#
# ### Which input pixels does an output pixel read?
#
# We draw a $7 \times 7$ input (with its zero padding shaded) and mark the taps of two neighbouring output
# pixels, $(0,0)$ in blue and $(0,1)$ in orange (both in green where they overlap).

# %%
def taps(i, j, k, s, p, d):
    """The (row, column) in padded coordinates of every input pixel output (i, j) reads."""
    return {(i * s + u * d, j * s + v * d) for u in range(k) for v in range(k)}


def draw(ax, H, k, s, p, d):
    size = H + 2 * p
    canvas = np.ones((size, size, 3))
    canvas[:p, :] = canvas[size - p:, :] = canvas[:, :p] = canvas[:, size - p:] = 0.85
    first, second = taps(0, 0, k, s, p, d), taps(0, 1, k, s, p, d)
    for (r, c) in first | second:
        if (r, c) in first and (r, c) in second:
            canvas[r, c] = (0.3, 0.7, 0.3)
        elif (r, c) in first:
            canvas[r, c] = (0.3, 0.5, 0.9)
        else:
            canvas[r, c] = (1.0, 0.6, 0.2)
    ax.imshow(canvas)
    ax.set_xticks(np.arange(-0.5, size), minor=True)
    ax.set_yticks(np.arange(-0.5, size), minor=True)
    ax.grid(which="minor", color="k", linewidth=0.5)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    ax.set_title(f"k={k} s={s} p={p} d={d}\nout {conv_out(H, k, s, p, d)}×{conv_out(H, k, s, p, d)}", fontsize=9)


configs = [(3, 1, 0, 1), (3, 2, 0, 1), (3, 1, 1, 1), (3, 1, 0, 2), (3, 2, 1, 2)]
fig, axes = plt.subplots(1, len(configs), figsize=(15, 3.4))
for ax, (k, s, p, d) in zip(axes, configs):
    draw(ax, 7, k, s, p, d)
fig.suptitle("taps of output (0,0) blue, (0,1) orange, both green; grey = zero padding", fontsize=10)
fig.tight_layout(rect=(0, 0, 1, 0.92))
plt.show()

# %% [markdown]
# **Try it.** Move the sliders: the drawing and the output size follow the formula. Find a setting where the two
# windows do not overlap at all (what must the stride be?), and one where padding alone keeps the size at 9.
# (Without a notebook front end, as in these pages, three settings are drawn instead.)

# %%
def draw_layer(kernel=3, stride=1, padding=0, dilation=1):
    if conv_out(9, kernel, stride, padding, dilation) < 2:
        print(f"k={kernel} s={stride} p={padding} d={dilation}: fewer than two outputs on 9 pixels; shrink the window")
        return
    fig, ax = plt.subplots(figsize=(4, 4))
    draw(ax, 9, kernel, stride, padding, dilation)
    plt.show()


controls(draw_layer, [dict(kernel=3, stride=2, padding=1, dilation=1), dict(kernel=2, stride=3, padding=0, dilation=1),
                      dict(kernel=3, stride=1, padding=2, dilation=2)],
         kernel=(1, 5), stride=(1, 4), padding=(0, 3), dilation=(1, 3))

# %% [markdown]
# * stride 2 moves the window two pixels: neighbouring outputs share one column instead of two;
# * padding lets the window start outside the image (the grey cells read zeros), so the output keeps the size;
# * dilation 2 leaves holes inside the window: a 3-tap kernel spans 5 pixels with only 9 weights.
#
# The drawing is made from the index formula. The library can tell us the same thing another way: the
# **gradient** of output $(i,j)$ with respect to the input is non-zero exactly at the pixels it reads (with an
# all-ones kernel every read pixel gets a positive weight). `conv2d_backward` computes that gradient; notebook 03
# explains why it is a transposed convolution.

# %%
mismatches = 0
for k, s, p, d in configs:
    H = 7
    n = conv_out(H, k, s, p, d)
    for i, j in [(0, 0), (0, 1), (n - 1, n - 1)]:
        gy = np.zeros((1, 1, n, n))
        gy[0, 0, i, j] = 1.0
        gx = kernels.conv2d_backward(gy, np.zeros((1, 1, H, H)), np.ones((1, 1, k, k)), s, p, d)[0][0, 0]
        from_gradient = {(r + p, c + p) for r, c in zip(*np.nonzero(gx))}
        inside = {(r, c) for r, c in taps(i, j, k, s, p, d) if p <= r < H + p and p <= c < H + p}
        mismatches += from_gradient != inside
expect("pixel sets that differ between the index formula and the gradient", mismatches, "== 0")

# %% [markdown]
# ## 4. The fast kernel agrees with the literal loops
#
# `kernels.conv2d_forward` is the kernel every layer of deconvlab uses. It reorganises the sums completely
# (a polyphase split, contiguous copies, one matrix product per batch chunk; notebook 07 times it), so it
# adds the same terms in a different order. In float64 the results may therefore differ in the last bits,
# around $10^{-15}$ relative, and no more. Beside it, `kernels.readable.conv2d_forward` is the direct loop
# (one output at a time) compiled by Numba. We compare all three on random multi-channel problems with
# stride, padding, dilation and non-square kernels.

# %%
cases = [  # (N, C_in, C_out, H, W, kH, kW, stride, padding, dilation)
    (2, 3, 4, 9, 9, 3, 3, 1, 1, 1),
    (1, 2, 3, 10, 8, 3, 2, 2, 1, 1),
    (2, 3, 2, 11, 11, 3, 3, 2, 2, 2),
    (1, 4, 2, 8, 12, 4, 4, (2, 3), (1, 0), 1),
    (1, 1, 1, 7, 7, 1, 1, 3, 0, 1),
]
if SMOKE:
    cases = cases[:3]
worst_fast, worst_readable = 0.0, 0.0
for n, ci, co, H, W, kh, kw, s, p, d in cases:
    xs = rng.standard_normal((n, ci, H, W))
    ws = rng.standard_normal((co, ci, kh, kw))
    bs = rng.standard_normal(co)
    ref = reference.conv2d(xs, ws, bs, s, p, d)
    fast = kernels.conv2d_forward(xs, ws, bs, s, p, d)
    readable = kernels.readable.conv2d_forward(xs, ws, bs, s, p, d)
    worst_fast = max(worst_fast, np.abs(fast - ref).max() / np.abs(ref).max())
    worst_readable = max(worst_readable, np.abs(readable - ref).max() / np.abs(ref).max())
    print(f"x {xs.shape}, w {ws.shape}, s={s}, p={p}, d={d} -> y {fast.shape}")
expect("max |fast − reference| / max|reference|    ", worst_fast, "< 1e-12", "float64 rounding only")
expect("max |readable − reference| / max|reference|", worst_readable, "< 1e-12")

# %% [markdown]
# In float32 (the default for training) each product and sum is rounded to about 7 significant digits, so the
# same comparison gives differences around $10^{-7}$ relative — still "the same", for a network.

# %%
xs = rng.standard_normal((2, 8, 16, 16))
ws = rng.standard_normal((4, 8, 3, 3))
ref = reference.conv2d(xs, ws, None, 1, 1)
fast32 = kernels.conv2d_forward(xs.astype(np.float32), ws.astype(np.float32), None, 1, 1)
expect("max |fast(float32) − reference(float64)| / max|reference|", np.abs(fast32 - ref).max() / np.abs(ref).max(),
       "1e-9 to 1e-5", "around 1e-7, float32 rounding")

# %% [markdown]
# ## Summary
#
# * The article's formula is a full, flipped-kernel convolution; its output is $(P+K-1)\times(Q+L-1)$.
# * Deep-learning "convolution" is cross-correlation; flip the kernel to go from one to the other.
# * $H_\text{out} = \lfloor (H + 2p - d(k-1) - 1)/s \rfloor + 1$; stride skips positions, padding adds zeros,
#   dilation spreads the taps. Several input sizes can share one output size.
# * The fast kernel and the readable loops agree with the literal formula to rounding error.
#
# Next, notebook 02 runs the same machinery backwards: the transposed convolution.
