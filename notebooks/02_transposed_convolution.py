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
# # 02 · Transposed convolution ("deconvolution")
#
# The article's second formula is its "deconvolution":
#
# $$ y(i,j) = \sum_{p=0}^{P-1} \sum_{q=0}^{Q-1} x(p,q) \cdot k(i-p, j-q). $$
#
# Look closely: apart from the name of the kernel it is the same sum as formula 1. At stride 1, what deep
# learning calls *deconvolution* is an ordinary full convolution; it does **not** undo a convolution. What
# makes it useful in a decoder is the stride, which the article leaves out:
#
# $$ y(i,j) = \sum_{p} \sum_{q} x(p,q) \cdot k(i - s\,p,\; j - s\,q). $$
#
# Its proper name is **transposed convolution**.
#
# **Learning goals.** After this notebook you can explain and check four faces of the one operation:
#
# 1. the *scatter* view: every input pixel stamps a scaled copy of the kernel into the output;
# 2. the *matrix* view: a convolution is a matrix $C$, and transposed convolution is $C^\top$;
# 3. the *zero-insertion* view: spread the input out with zeros, then run an ordinary convolution with the
#    kernel flipped;
# 4. the *adjoint* identity $\langle C x, g\rangle = \langle x, C^\top g\rangle$, which is why transposed
#    convolution is also the gradient of convolution (notebook 03);
#
# and you can say why `output_padding` has to exist and which value a decoder needs.
#
# **Prerequisites.** Notebook 01 (convolution, output sizes); matrix-vector products and transposes.
#
# **Expected time.** 60 minutes; the cells run in a few seconds. Exercises: `conv_transpose2d_scatter`, then
# `im2col` (the matrix view, computed).

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from deconvlab import kernels, reference
from deconvlab.teaching import controls, expect, reveal

SMOKE = os.environ.get("SMOKE", "0") not in ("", "0")
rng = np.random.default_rng(0)
np.set_printoptions(precision=3, suppress=True, linewidth=110)


def show_grid(ax, a, title, cmap="RdBu_r", numbers=True):
    """A small array as an image, with its values written in the cells."""
    m = np.abs(a).max() or 1.0
    ax.imshow(a, cmap=cmap, vmin=-m if cmap == "RdBu_r" else 0, vmax=m)
    if numbers:
        for (r, c), v in np.ndenumerate(a):
            ax.text(c, r, f"{v + 0.0:g}", ha="center", va="center", fontsize=7)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


# %% [markdown]
# ## 1. The scatter view
#
# Read the strided formula from the input's side. Input pixel $x(p,q)$ contributes to every $(i,j)$ with
# $(i - sp, j - sq)$ inside the kernel, i.e. to the $K \times L$ block whose corner is $(sp, sq)$, and it
# contributes $x(p,q)$ times the kernel there. So: **each input pixel stamps a scaled copy of the kernel,
# stamps $s$ pixels apart, and overlapping stamps add up.** The output is $((P-1)s + K) \times ((Q-1)s + L)$:
# bigger than the input, which is why decoders use it to upsample.
#
# `reference.seed_deconv2d(x, k, stride)` evaluates the formula literally. Below, a $2\times2$ input and a
# $3\times3$ kernel with stride 2: four stamps, drawn one by one, then their sum.
#
# **Predict.** What shape is the output? (A tuple.)

# %%
my_prediction = None  # e.g. (4, 4)

# %%
x = np.array([[1.0, 2.0],
              [-1.0, 3.0]])
k = np.array([[1.0, 2.0, 1.0],
              [0.0, 1.0, 0.0],
              [1.0, -1.0, 1.0]])
s = 2
y = reference.seed_deconv2d(x, k, stride=s)
reveal(my_prediction, y.shape, "(P − 1)·s + K = (2 − 1)·2 + 3 = 5 rows, and the same for the columns.")

fig, axes = plt.subplots(1, 6, figsize=(15, 2.8))
stamps = np.zeros_like(y)
for ax, (p, q) in zip(axes, [(0, 0), (0, 1), (1, 0), (1, 1)]):
    stamp = np.zeros_like(y)
    stamp[s * p:s * p + 3, s * q:s * q + 3] = x[p, q] * k
    stamps += stamp
    show_grid(ax, stamp, f"x({p},{q}) = {x[p, q]:g} stamps k at ({s * p},{s * q})")
show_grid(axes[4], stamps, "sum of the four stamps")
show_grid(axes[5], y, "seed_deconv2d(x, k, stride=2)")
fig.tight_layout()
plt.show()
expect("max |sum of stamps − seed_deconv2d|", np.abs(stamps - y).max(), "== 0")

# %% [markdown]
# Notice the middle row and column: there two (or four) stamps overlap and add, elsewhere only one stamp
# arrives. This uneven overlap is the root of the *checkerboard artifacts* of notebook 06.
#
# The deep-learning layer, `kernels.conv_transpose2d_forward` (PyTorch's `conv_transpose2d`), is the same
# scatter on NCHW arrays, with multiple channels, `padding` (which *crops* the output: $p$ rows and columns are
# removed from each side), `output_padding` and `dilation`. With padding 0 and one channel it is the seed's
# formula exactly:

# %%
layer = kernels.conv_transpose2d_forward(x[None, None], k[None, None], stride=s)[0, 0]
expect("max |conv_transpose2d_forward − seed_deconv2d|", np.abs(layer - y).max(), "< 1e-12")

cases = [  # (N, C_in, C_out, H, W, kH, kW, stride, padding, output_padding, dilation)
    (2, 3, 2, 4, 5, 3, 3, 2, 1, 1, 1),
    (1, 2, 3, 5, 4, 4, 4, 2, 1, 0, 1),
    (1, 2, 2, 3, 3, 3, 2, (3, 2), (1, 0), (2, 1), 1),
    (2, 1, 2, 4, 4, 3, 3, 1, 2, 1, 2),
]
if SMOKE:
    cases = cases[:2]
worst = 0.0
for n, ci, co, H, W, kh, kw, st, pd, op, dl in cases:
    xs, ws = rng.standard_normal((n, ci, H, W)), rng.standard_normal((ci, co, kh, kw))
    ref = reference.conv_transpose2d(xs, ws, None, st, pd, op, dl)
    fast = kernels.conv_transpose2d_forward(xs, ws, None, st, pd, op, dl)
    worst = max(worst, np.abs(fast - ref).max() / np.abs(ref).max())
    print(f"x {xs.shape} w {ws.shape} s={st} p={pd} op={op} d={dl} -> y {fast.shape}")
expect("max |fast − reference| / max|reference| over these layers", worst, "< 1e-12")

# %% [markdown]
# ## 2. The matrix view: transposed convolution is $C^\top$
#
# A convolution is linear in its input, so for a fixed kernel it is a matrix: flatten the input image into a
# vector $\mathbf{x}$ and the output into $\mathbf{y}$, then $\mathbf{y} = C\mathbf{x}$. We never need to
# know $C$'s formula: its $m$-th column is $C\mathbf{e}_m$, the output for an input that is 1 at pixel $m$ and 0
# elsewhere. So we build $C$ by running the convolution on every basis image.
#
# Then we build the matrix $T$ of the transposed convolution the same way, by running it on every basis image
# of the *output* space, and compare it with $C^\top$.

# %%
def matrix_of(op, in_shape):
    """The matrix of a linear map of images: column m is op(e_m), e_m the m-th basis image of in_shape."""
    columns = []
    for m in range(int(np.prod(in_shape))):
        e = np.zeros(in_shape)
        e.flat[m] = 1.0
        columns.append(op(e[None, None])[0, 0].ravel())
    return np.stack(columns, axis=1)


examples = [  # (H, kernel, stride, padding, output_padding)
    (4, 3, 1, 0, 0),
    (5, 3, 2, 1, 0),
]
fig, axes = plt.subplots(len(examples), 2, figsize=(11, 6.5), gridspec_kw=dict(width_ratios=[1.6, 1]))
for row, (H, kk, st, pd, op) in enumerate(examples):
    w = rng.integers(1, 5, size=(1, 1, kk, kk)).astype(float)
    conv = lambda a: kernels.conv2d_forward(a, w, stride=st, padding=pd)  # noqa: E731
    h_out = conv(np.zeros((1, 1, H, H))).shape[2]
    convT = lambda g: kernels.conv_transpose2d_forward(g, w, stride=st, padding=pd, output_padding=op)  # noqa: E731
    C = matrix_of(conv, (H, H))
    T = matrix_of(convT, (h_out, h_out))
    print(f"{H}x{H} input, k={kk} s={st} p={pd}: C is {C.shape[0]}x{C.shape[1]}, "
          f"the transposed conv's matrix T is {T.shape[0]}x{T.shape[1]}")
    expect("    max |T − Cᵀ|", np.abs(T - C.T).max(), "== 0")
    show_grid(axes[row, 0], C, f"C ({C.shape[0]}×{C.shape[1]}): conv k{kk} s{st} p{pd} on {H}×{H}",
              cmap="viridis", numbers=False)
    show_grid(axes[row, 1], T, f"T ({T.shape[0]}×{T.shape[1]}): transposed conv = Cᵀ", cmap="viridis", numbers=False)
fig.tight_layout()
plt.show()

# %% [markdown]
# Each row of $C$ is one output pixel: it holds the kernel's weights at the input pixels that output reads
# (the bands of the top picture are the kernel rows, shifted by one pixel per output column and by a whole
# image row per output row). With stride 2 the rows jump two pixels at a time and padding cuts taps off at
# the borders. $T$ is $C$ mirrored across its diagonal. That is the whole story of the name: the *transposed*
# convolution multiplies by the transpose of the convolution matrix. It maps the small space back to the big one,
# with the same connectivity — but it is not the inverse, $C^\top C \ne I$:

# %%
H, kk, st, pd, op = examples[1]
w = rng.standard_normal((1, 1, kk, kk))
C = matrix_of(lambda a: kernels.conv2d_forward(a, w, stride=st, padding=pd), (H, H))
expect("max |CᵀC − I|", np.abs(C.T @ C - np.eye(C.shape[1])).max(), "> 0.1", "far from 0: transposing is not inverting")
expect(f"rank of C (of {C.shape[1]} input pixels)", int(np.linalg.matrix_rank(C)), f"< {C.shape[1]}",
       "a strided conv throws information away")

# %% [markdown]
# ## 3. Zero insertion + a flipped kernel
#
# The third face is the one to use if you only have a convolution routine. For stride $s$, padding $p$ and a
# $k$-tap kernel:
#
# 1. insert $s-1$ zeros between neighbouring input pixels (a $P$-row input becomes $(P-1)s+1$ rows);
# 2. pad with $k-1-p$ zeros on every side, plus `output_padding` extra rows/columns at the bottom/right;
# 3. run an ordinary (cross-correlation) convolution with stride 1 and the kernel turned by 180°, its input and
#    output channel axes swapped.
#
# Why the flip? In the scatter, input pixel $p$ sends kernel tap $u$ to output $sp + u - p_\text{pad}$; read from
# the output's side, output $i$ collects tap $u = i - sp + p_\text{pad}$, which runs *backwards* as $p$ runs
# forwards — exactly the convolution-versus-correlation flip of notebook 01.

# %%
def zero_insert(a, s):
    n, c, h, w_ = a.shape
    out = np.zeros((n, c, (h - 1) * s + 1, (w_ - 1) * s + 1))
    out[:, :, ::s, ::s] = a
    return out


def conv_transpose_by_zero_insertion(a, w, s, p, op):
    """conv_transpose2d(a, w) with dilation 1 and p <= k − 1, built from conv2d alone."""
    kh, kw = w.shape[2:]
    spread = zero_insert(a, s)
    padded = np.pad(spread, ((0, 0), (0, 0), (kh - 1 - p, kh - 1 - p + op), (kw - 1 - p, kw - 1 - p + op)))
    flipped = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))  # (C_out, C_in, kH, kW)
    return kernels.conv2d_forward(padded, flipped), spread, padded


a = rng.standard_normal((2, 3, 4, 4))
w = rng.standard_normal((3, 5, 3, 3))  # transposed-conv layout (C_in, C_out, kH, kW)
for s_, p_, op_ in [(2, 1, 1), (2, 0, 0), (3, 1, 2), (1, 1, 0)]:
    built, spread, padded = conv_transpose_by_zero_insertion(a, w, s_, p_, op_)
    direct = kernels.conv_transpose2d_forward(a, w, stride=s_, padding=p_, output_padding=op_)
    expect(f"s={s_} p={p_} op={op_}: output {direct.shape[2:]}, max |zero insertion − conv_transpose2d|",
           np.abs(built - direct).max(), "< 1e-12")

# %% [markdown]
# The picture follows one channel through the three steps: a one-channel input and a one-channel kernel, so
# that every panel shows the whole computation (with several channels, each output channel sums the
# contributions of every input channel).

# %%
a1, w1 = a[:1, :1], w[:1, :1]
built, spread, padded = conv_transpose_by_zero_insertion(a1, w1, 2, 1, 1)
direct = kernels.conv_transpose2d_forward(a1, w1, stride=2, padding=1, output_padding=1)
expect("one channel: max |zero insertion − conv_transpose2d|", np.abs(built - direct).max(), "< 1e-12")
fig, axes = plt.subplots(1, 5, figsize=(16, 3.2))
show_grid(axes[0], a1[0, 0], "input (4×4), one channel", numbers=False)
show_grid(axes[1], spread[0, 0], "zeros inserted (7×7)", numbers=False)
show_grid(axes[2], padded[0, 0], "padded by k−1−p = 1, +1 bottom/right", numbers=False)
show_grid(axes[3], w1[0, 0, ::-1, ::-1], "kernel turned 180°", numbers=True)
show_grid(axes[4], built[0, 0], "conv with the flipped kernel (8×8)", numbers=False)
fig.tight_layout()
plt.show()

# %% [markdown]
# Zero insertion is a wasteful way to compute (three quarters of the multiplications at stride 2 are by
# inserted zeros), but it makes one fact visible: at stride 2, output pixels at even and odd positions see
# *different* kernel taps. Keep that in mind for notebook 06.
#
# ## 4. `output_padding`: several sizes go in, one comes out
#
# In notebook 01 we saw that a strided convolution maps *several* input sizes to one output size, because of the
# floor. With $k=3, s=2, p=1$: 5 and 6 both give 3, 7 and 8 both give 4. So when a transposed convolution goes
# back up from 3 rows, should it produce 5 or 6? The formula
#
# $$ H_\text{out} = (H-1)s - 2p + d(k-1) + \text{output\_padding} + 1 $$
#
# gives the smallest, and `output_padding` adds the rows the floor removed. It must satisfy
# $0 \le \text{output\_padding} < \max(s, d)$: below the stride, because a stride-$s$ convolution maps at most
# $s$ input sizes to one output size (with dilation $d > s$ the larger bound $d$ applies, as in PyTorch). A
# decoder that must return exactly to its encoder's sizes chooses
# $\text{output\_padding} = (H + 2p - d(k-1) - 1) \bmod s$.
#
# **Predict.** An 8-pixel input went through a conv with $k=3, s=2, p=1$ (to 4 pixels). Which `output_padding`
# brings the transposed convolution back to 8?

# %%
my_prediction = None  # 0 or 1

# %%
k_, s_, p_, d_ = 3, 2, 1, 1
print(f"conv k={k_} s={s_} p={p_}, then transposed conv with the same arguments")
print(f"{'H':>3} | {'conv out':>8} | {'convT, op=0':>11} {'convT, op=1':>11} | {'op needed':>9} {'restored':>8}")
restored_all = True
for H in range(5, 11):
    xs = rng.standard_normal((1, 1, H, H))
    ws = rng.standard_normal((1, 1, k_, k_))
    y_ = kernels.conv2d_forward(xs, ws, stride=s_, padding=p_)
    sizes = [kernels.conv_transpose2d_forward(y_, ws, stride=s_, padding=p_, output_padding=o).shape[2] for o in (0, 1)]
    need = (H + 2 * p_ - d_ * (k_ - 1) - 1) % s_
    back = kernels.conv_transpose2d_forward(y_, ws, stride=s_, padding=p_, output_padding=need).shape[2]
    restored_all &= back == H
    print(f"{H:3d} | {y_.shape[2]:8d} | {sizes[0]:11d} {sizes[1]:11d} | {need:9d} {str(back == H):>8}")
expect("every size restored", restored_all, "True")
reveal(my_prediction, (8 + 2 * 1 - 1 * (3 - 1) - 1) % 2, "(H + 2p − d(k − 1) − 1) mod s = (8 + 2 − 2 − 1) mod 2 = 1.")

# %% [markdown]
# **Try it.** The sliders set a transposed convolution of a $4 \times 4$ input. The left panel is the
# zero-insertion picture (input pixels dark, inserted zeros white, padding grey), the right one the overlap
# counts (ones in, a ones kernel: how many stamps land on each output pixel), with the output size in the title.
# Which kernel sizes give the same count everywhere at stride 2? What does `output_padding` add?

# %%
def draw_transposed(kernel=3, stride=2, padding=0, output_padding=0, dilation=1):
    if output_padding >= max(stride, dilation):
        print(f"output_padding={output_padding} must be smaller than max(stride, dilation) = {max(stride, dilation)}")
        return
    n, span = 4, dilation * (kernel - 1)
    size = (n - 1) * stride - 2 * padding + span + output_padding + 1
    if size < 1 or span - padding < 0:
        print(f"k={kernel} s={stride} p={padding} d={dilation}: this picture needs padding ≤ d(k − 1) and an output")
        return
    edge = span - padding
    picture = np.full(((n - 1) * stride + 1 + 2 * edge + output_padding,) * 2, 0.85)
    picture[edge:edge + (n - 1) * stride + 1, edge:edge + (n - 1) * stride + 1] = 1.0
    picture[edge:edge + (n - 1) * stride + 1:stride, edge:edge + (n - 1) * stride + 1:stride] = 0.25
    counts = kernels.conv_transpose2d_forward(np.ones((1, 1, n, n)), np.ones((1, 1, kernel, kernel)), stride=stride,
                                              padding=padding, output_padding=output_padding, dilation=dilation)[0, 0]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4.2))
    left.imshow(picture, cmap="gray", vmin=0, vmax=1)
    left.set_title(f"zeros inserted, padded by d(k−1) − p = {edge}", fontsize=9)
    show_grid(right, counts, f"overlap counts: output {size}×{size}", cmap="magma")
    for ax in (left, right):
        ax.set_xticks([])
        ax.set_yticks([])
    plt.show()


controls(draw_transposed, [dict(kernel=3, stride=2, padding=1, output_padding=1, dilation=1),
                           dict(kernel=4, stride=2, padding=1, output_padding=0, dilation=1)],
         kernel=(1, 5), stride=(1, 3), padding=(0, 3), output_padding=(0, 2), dilation=(1, 2))

# %% [markdown]
# ## 5. The adjoint test
#
# "$T = C^\top$" says, without building any matrix: for every input $x$ and every output-sized $g$,
#
# $$ \langle \mathrm{conv}(x), g \rangle = \langle x, \mathrm{conv\_transpose}(g) \rangle , $$
#
# because $\langle Cx, g\rangle = (Cx)^\top g = x^\top C^\top g$. This one-line test is the strongest check
# we have: it ties the two kernels together for any channels, stride, padding and dilation, and it is exactly
# what backpropagation needs (notebook 03). The weight is the *same array* in both calls: PyTorch's layouts,
# $(C_\text{out}, C_\text{in}, k_H, k_W)$ for conv and $(C_\text{in}, C_\text{out}, k_H, k_W)$ for the transposed
# conv, are made so that this works with no reshuffling.

# %%
adjoint_cases = [  # (N, C_in, C_out, H, W, k, stride, padding, dilation)
    (2, 3, 4, 9, 9, 3, 1, 1, 1),
    (2, 3, 4, 9, 8, 3, 2, 1, 1),
    (1, 2, 5, 12, 12, 4, 2, 1, 1),
    (2, 4, 3, 11, 10, 3, (2, 3), (2, 0), (2, 1)),
    (3, 8, 8, 16, 16, 5, 3, 2, 2),
]
if SMOKE:
    adjoint_cases = adjoint_cases[:3]
for n, ci, co, H, W, kk, st, pd, dl in adjoint_cases:
    xs = rng.standard_normal((n, ci, H, W))
    ws = rng.standard_normal((co, ci, kk, kk))
    y_ = kernels.conv2d_forward(xs, ws, stride=st, padding=pd, dilation=dl)
    g = rng.standard_normal(y_.shape)
    sp = np.broadcast_to(st, 2)
    pp = np.broadcast_to(pd, 2)
    dp = np.broadcast_to(dl, 2)
    op = tuple(int((xs.shape[2 + i] + 2 * pp[i] - dp[i] * (kk - 1) - 1) % sp[i]) for i in range(2))
    xt = kernels.conv_transpose2d_forward(g, ws, stride=st, padding=pd, output_padding=op, dilation=dl)
    lhs, rhs = np.vdot(y_, g), np.vdot(xs, xt)
    expect(f"x {xs.shape} s={st} p={pd} d={dl}: <conv(x), g> = {lhs:+9.4f}, <x, convT(g)> = {rhs:+9.4f}, rel. diff",
           abs(lhs - rhs) / abs(lhs), "< 1e-12")

# %% [markdown]
# ## Summary
#
# * The article's "deconvolution" at stride 1 is just its convolution again; the stride is what upsamples.
# * Scatter view: each input pixel stamps a scaled kernel, $s$ pixels apart; overlaps add.
# * Matrix view: convolution is a matrix $C$, transposed convolution is $C^\top$ (not $C^{-1}$).
# * Zero-insertion view: spread the input with $s-1$ zeros, pad $k-1-p$, correlate with the flipped kernel.
# * `output_padding` ($0 \le$ `output_padding` $< \max(s, d)$) picks among the several sizes a strided conv maps
#   to the same output size.
# * $\langle \mathrm{conv}(x), g\rangle = \langle x, \mathrm{conv\_transpose}(g)\rangle$ to rounding error —
#   the identity notebook 03 turns into backpropagation.
