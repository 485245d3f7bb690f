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
# # 03 · Backpropagation
#
# The article's recipe says "train the model with stochastic gradient descent", which needs the gradient of
# the loss with respect to every weight. This notebook shows where those gradients come from.
#
# **Learning goals.** After this notebook you can
#
# 1. run the chain rule by hand on a small computational graph and read it off a drawing of the graph;
# 2. write one operation with its own derivative (a `Function` with `forward` and `backward`) and catch a wrong
#    derivative by **gradient checking** with finite differences;
# 3. read the relative error a gradient check prints and tell a right gradient from a wrong one;
# 4. derive that the input gradient of a convolution *is* a transposed convolution — the reason deconvlab
#    writes each loop once and uses it twice — and see it in the gradient maps.
#
# **Prerequisites.** Notebooks 01 and 02; derivatives and the chain rule of calculus.
#
# **Expected time.** 60 minutes; the cells run in a few seconds. Exercises: `conv2d_backward`,
# `conv_transpose2d_backward` and `autograd_function`.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import deconvlab.functional as F
from deconvlab import Tensor, kernels, nn
from deconvlab.autograd import Function
from deconvlab.gradcheck import gradcheck, gradcheck_direction
from deconvlab.teaching import controls, expect, reveal

SMOKE = os.environ.get("SMOKE", "0") not in ("", "0")
rng = np.random.default_rng(0)
np.set_printoptions(precision=4, suppress=True, linewidth=110)


# %% [markdown]
# ## 1. The chain rule on a tiny graph
#
# One neuron with a squared-error loss and weight decay:
#
# $$ z = \sum_k w_k x_k + b, \qquad a = \max(z, 0), \qquad L = (a - t)^2 + \tfrac{\lambda}{2}\sum_k w_k^2 . $$
#
# Backpropagation walks the graph from $L$ back to the leaves, multiplying local derivatives:
#
# * $\partial L/\partial a = 2(a - t)$
# * $\partial L/\partial z = \partial L/\partial a \cdot [z > 0]$ (ReLU passes the gradient or blocks it)
# * $\partial L/\partial b = \partial L/\partial z$, and $\partial L/\partial x_k = \partial L/\partial z \cdot w_k$
# * $w$ is used **twice** (in $z$ and in the weight decay), so its gradient is the **sum** over both paths:
#   $\partial L/\partial w_k = \partial L/\partial z \cdot x_k + \lambda w_k$.
#
# **Predict.** With the numbers below ($x = (1, -2, 3)$, $w = (0.5, -1, 0.25)$, $b = 0.1$, $t = 2$), is the
# neuron active ($z > 0$)? And what is $\partial L/\partial b$? Compute $z$ and $a$ on paper first.

# %%
my_prediction = None  # ∂L/∂b, a number

# %%
x_val = np.array([1.0, -2.0, 3.0])
w_val = np.array([0.5, -1.0, 0.25])
b_val, t_val, lam = 0.1, 2.0, 0.1

# by hand, one line per node of the graph
z = w_val @ x_val + b_val
a = max(z, 0.0)
L = (a - t_val) ** 2 + lam / 2 * np.sum(w_val**2)
dL_da = 2 * (a - t_val)
dL_dz = dL_da * (1.0 if z > 0 else 0.0)
grad_by_hand = {"w": dL_dz * x_val + lam * w_val, "b": np.array(dL_dz), "x": dL_dz * w_val}
print(f"z = {z:.4f}, a = {a:.4f}, L = {L:.6f}")

# the same graph with deconvlab tensors
x = Tensor(x_val, requires_grad=True, dtype=np.float64)
w = Tensor(w_val, requires_grad=True, dtype=np.float64)
b = Tensor(b_val, requires_grad=True, dtype=np.float64)
loss = (F.relu((w * x).sum() + b) - t_val) ** 2 + lam / 2 * (w * w).sum()
loss.backward()
print(f"Tensor graph: L = {loss.item():.6f}")
for name, tensor in [("w", w), ("b", b), ("x", x)]:
    print(f"  dL/d{name}: by hand {grad_by_hand[name]}, backward() {tensor.grad}")
worst = max(np.abs(grad_by_hand[n] - t.grad).max() for n, t in [("w", w), ("b", b), ("x", x)])
expect("max |by hand − backward()|", worst, "< 1e-14", "the same arithmetic, rounded alike or nearly")
reveal(my_prediction, round(float(b.grad), 6), f"z = {z:.4f} > 0, so ∂L/∂b = ∂L/∂z = 2(a − t) = {dL_dz:.4f}.",
       rtol=1e-4)

# %% [markdown]
# The same graph, drawn: each node shows its value on the forward pass (black) and $\partial L/\partial$ node on
# the backward pass (red). Arrows point forwards; the gradients flow against them, and where two arrows leave a
# node ($w$) the two gradients that come back add up.

# %%
def draw_graph(ax, nodes, edges):
    """Boxes at (x, y) with two lines of text, and arrows between them."""
    for name, (px, py, value, grad) in nodes.items():
        ax.text(px, py, f"{name}\n{value}", ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="round", facecolor="#eef3fb", edgecolor="#4a6fa5"))
        ax.text(px, py - 0.42, grad, ha="center", va="top", fontsize=8, color="#b22222")
    for a, b_ in edges:
        (x0, y0, *_), (x1, y1, *_) = nodes[a], nodes[b_]
        ax.annotate("", xy=(x1 - 0.45, y1), xytext=(x0 + 0.45, y0),
                    arrowprops=dict(arrowstyle="->", color="#555555", shrinkA=6, shrinkB=6))
    ax.set_xlim(-0.8, 6.8)
    ax.set_ylim(-1.4, 2.6)
    ax.axis("off")


fmt = lambda v: np.array2string(np.asarray(v), precision=2, separator=", ")  # noqa: E731
nodes = {
    "x": (0, 2, fmt(x_val), f"∂L/∂x = {fmt(x.grad)}"),
    "w": (0, 0.6, fmt(w_val), f"∂L/∂w = {fmt(w.grad)}"),
    "b": (0, -0.8, fmt(b_val), f"∂L/∂b = {fmt(b.grad)}"),
    "z = w·x + b": (2.2, 1.2, f"{z:.3f}", f"∂L/∂z = {dL_dz:.3f}"),
    "a = relu(z)": (4.0, 1.2, f"{a:.3f}", f"∂L/∂a = {dL_da:.3f}"),
    "λ/2 Σ w²": (2.2, -0.6, f"{lam / 2 * np.sum(w_val**2):.3f}", "∂L/∂(decay) = 1"),
    "L": (6.0, 0.4, f"{L:.4f}", "∂L/∂L = 1"),
}
fig, ax = plt.subplots(figsize=(12, 4))
draw_graph(ax, nodes, [("x", "z = w·x + b"), ("w", "z = w·x + b"), ("b", "z = w·x + b"), ("w", "λ/2 Σ w²"),
                       ("z = w·x + b", "a = relu(z)"), ("a = relu(z)", "L"), ("λ/2 Σ w²", "L")])
ax.set_title("forward values (black) and gradients ∂L/∂node (red)", fontsize=10)
plt.show()

# %% [markdown]
# `backward()` does exactly what we did: it sorts the recorded operations so that every node comes after
# its inputs, starts from $\partial L/\partial L = 1$ and, going backwards, asks each operation for its local
# rule, adding contributions when a tensor is used more than once.
#
# ## 2. One operation, its derivative, and a gradient check
#
# Every operation in deconvlab is a `Function`: `forward(ctx, ...)` computes the output from plain arrays and
# leaves in `ctx` what the backward pass will need; `backward(ctx, g)` receives $g = \partial L/\partial y$ and
# returns $\partial L/\partial \text{input} = g \cdot \partial y/\partial \text{input}$. Here is softplus,
# $y = \ln(1 + e^x)$, whose derivative is the sigmoid $1/(1+e^{-x})$, and a copy with a typical mistake.

# %%
class Softplus(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.x = x
        return np.logaddexp(0.0, x)

    @staticmethod
    def backward(ctx, g):
        return g / (1.0 + np.exp(-ctx.x))


class SoftplusWrong(Softplus):
    @staticmethod
    def backward(ctx, g):
        return g / (1.0 + np.exp(ctx.x))  # sign error in the exponent


# %% [markdown]
# How do we know a `backward` is right? Compare it with the definition of the derivative. For each input
# element, nudge it by $\pm\varepsilon$ and measure
#
# $$ \frac{\partial f}{\partial x_i} \approx \frac{f(x + \varepsilon e_i) - f(x - \varepsilon e_i)}{2\varepsilon}, $$
#
# whose error is $O(\varepsilon^2)$ plus rounding of order $10^{-16}|f|/\varepsilon$. With float64 and
# $\varepsilon = 10^{-6}$ both are tiny, so the relative error $|a - n|/\max(|a|, |n|)$ between the analytic
# and numeric values should be around $10^{-7}$ or below when the gradient is right (up to about $10^{-6}$ for a
# derivative that is itself tiny, where the rounding term weighs more); $10^{-2}$ or more means it is wrong.
# (In float32 the rounding term would swamp everything: gradient checks always run in float64.)
# `deconvlab.gradcheck` does this for every element and reports the worst one.

# %%
x64 = rng.standard_normal((3, 4))
good = gradcheck(lambda t: Softplus.apply(t), x64)
bad = gradcheck(lambda t: SoftplusWrong.apply(t), x64, raise_exception=False)
expect("softplus, correct backward: max relative error", good.max_rel_error, "< 1e-7")
expect("softplus, wrong backward:   max relative error", bad.max_rel_error, "> 1e-2", "the check catches the bug")

# %% [markdown]
# ## 3. Gradient checks of the convolutions
#
# The same check on the two operations this project is about, over several strides, paddings and dilations.
# Each call compares every partial derivative with respect to the input, the weight and the bias.

# %%
conv_cases = [  # (N, C_in, C_out, H, W, k, stride, padding, dilation)
    (2, 2, 3, 6, 6, 3, 1, 1, 1),
    (2, 2, 3, 7, 6, 3, 2, 1, 1),
    (1, 3, 2, 7, 7, 3, 1, 2, 2),
    (1, 2, 2, 8, 7, 4, 2, 1, 1),
    (2, 2, 2, 9, 8, 3, (2, 3), (0, 1), (2, 1)),
]
if SMOKE:
    conv_cases = conv_cases[:3]
print("conv2d")
for n, ci, co, H, W, k, s, p, d in conv_cases:
    xs, ws, bs = rng.standard_normal((n, ci, H, W)), rng.standard_normal((co, ci, k, k)), rng.standard_normal(co)
    result = gradcheck(lambda x_, w_, b_: F.conv2d(x_, w_, b_, stride=s, padding=p, dilation=d), xs, ws, bs)
    expect(f"  x {xs.shape} k={k} s={s} p={p} d={d}: max rel. error over {result.n_checked} derivatives",
           result.max_rel_error, "< 1e-6")
print("conv_transpose2d")
for n, ci, co, H, W, k, s, p, d in conv_cases:
    xs = rng.standard_normal((n, ci, H // 2, W // 2))
    ws, bs = rng.standard_normal((ci, co, k, k)), rng.standard_normal(co)
    op = tuple(int(v) - 1 for v in np.broadcast_to(s, 2))
    result = gradcheck(
        lambda x_, w_, b_: F.conv_transpose2d(x_, w_, b_, stride=s, padding=p, output_padding=op, dilation=d),
        xs, ws, bs,
    )
    expect(f"  x {xs.shape} k={k} s={s} p={p} op={op} d={d}: max rel. error over {result.n_checked} derivatives",
           result.max_rel_error, "< 1e-6")

# %% [markdown]
# Checking every partial derivative costs two forward passes per parameter — fine for a few hundred, hopeless
# for a network with thousands. For a whole network we check the derivative along a few random directions
# $v$ of all parameters at once:
#
# $$ \langle \nabla f, v\rangle \approx \frac{f(\theta + \varepsilon v) - f(\theta - \varepsilon v)}{2\varepsilon}. $$

# %%
net = nn.Sequential(
    nn.Conv2d(3, 6, 3, stride=2, padding=1, rng=1), nn.LeakyReLU(0.2),
    nn.Conv2d(6, 8, 3, padding=2, dilation=2, rng=2), nn.Tanh(),
    nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1, rng=3), nn.LeakyReLU(0.2),
    nn.ConvTranspose2d(4, 3, 3, stride=1, padding=1, rng=4), nn.Sigmoid(),
).double()
n_params = sum(p.size for p in net.parameters())
directional = gradcheck_direction(net, [Tensor(rng.standard_normal((2, 3, 8, 8)))], n_directions=2 if SMOKE else 6)
expect(f"whole network ({n_params} parameters), {len(directional.rel_errors)} random directions: max rel. error",
       directional.max_rel_error, "< 1e-6")

# %% [markdown]
# ## 4. Why the input gradient of a convolution is a transposed convolution
#
# Take one channel and one dimension to keep the indices readable. A convolution layer (cross-correlation) with
# stride $s$, padding $p$ and kernel $w$ computes
#
# $$ y_i = \sum_u w_u \, x_{is - p + u}. $$
#
# Given $g_i = \partial L/\partial y_i$ from the layer above, the chain rule sums over every output that
# used $x_q$:
#
# $$ \frac{\partial L}{\partial x_q} = \sum_i g_i \frac{\partial y_i}{\partial x_q}
#    = \sum_i \sum_u g_i \, w_u \, [\, is - p + u = q \,]. $$
#
# Read it as an algorithm: *for every output $i$ and every tap $u$, add $g_i w_u$ to position $is - p + u$*.
# That is the scatter of notebook 02 — each $g_i$ stamps a scaled copy of $w$, $s$ pixels apart, with $p$
# cropped from the border: the transposed convolution of $g$ with the **same** kernel,
# $\partial L/\partial x = \mathrm{conv\_transpose}(g, w)$. In matrix language: $y = Cx$, so
# $\partial L/\partial x = C^\top g$. With channels, output channel $o$ of the conv scatters back into every input
# channel $c$ through $w[o, c]$, which is why the transposed conv's weight layout is (C_in, C_out, kH, kW) — the
# conv's (C_out, C_in, ...) read the other way round.
#
# The same argument run the other way shows that the input gradient of a transposed convolution is a
# convolution. And the **weight** gradient is a correlation of the input with $g$:
#
# $$ \frac{\partial L}{\partial w_u} = \sum_i g_i \, x_{is - p + u}. $$
#
# Look at the index $is - p + u$ again: now $u$ is the output position (moving one pixel at a time) and $i$
# runs over "kernel taps" $s$ pixels apart. So the weight gradient is a convolution of $x$ with $g$ used as a
# kernel, with **stride and dilation swapped** (stride $d$, dilation $s$). Let us confirm all three numerically.

# %%
def conv_grad_cases():
    yield (2, 3, 4, 9, 9, 3, 2, 1, 1)
    yield (2, 2, 3, 8, 10, 4, 2, 1, 1)
    if not SMOKE:
        yield (3, 4, 2, 11, 11, 3, 3, 2, 2)


for n, ci, co, H, W, k, s, p, d in conv_grad_cases():
    xs, ws = rng.standard_normal((n, ci, H, W)), rng.standard_normal((co, ci, k, k))
    x = Tensor(xs, requires_grad=True)
    w = Tensor(ws, requires_grad=True)
    y = F.conv2d(x, w, stride=s, padding=p, dilation=d)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    print(f"x {xs.shape}, w {ws.shape}, s={s} p={p} d={d}:")

    op = tuple((xs.shape[2 + a] + 2 * p - d * (k - 1) - 1) % s for a in range(2))
    gx = kernels.conv_transpose2d_forward(g, ws, stride=s, padding=p, output_padding=op, dilation=d)
    expect("  max |x.grad − conv_transpose2d(g, w)|", np.abs(x.grad - gx).max(), "< 1e-12")

    # weight gradient: batch becomes the channel axis, g becomes the kernel, stride and dilation swap
    x_as_batch = np.ascontiguousarray(xs.transpose(1, 0, 2, 3))  # (C_in, N, H, W)
    g_as_kernel = np.ascontiguousarray(g.transpose(1, 0, 2, 3))  # (C_out, N, H_out, W_out)
    gw = kernels.conv2d_forward(x_as_batch, g_as_kernel, stride=d, padding=p, dilation=s)  # (C_in, C_out, ≥k, ≥k)
    gw = gw[:, :, :k, :k].transpose(1, 0, 2, 3)
    expect("  max |w.grad − conv2d(x, g; stride d, dilation s)|", np.abs(w.grad - gw).max(), "< 1e-12")

    # and the transposed convolution's input gradient is a convolution
    xt = Tensor(g, requires_grad=True)
    yt = F.conv_transpose2d(xt, Tensor(ws), stride=s, padding=p, output_padding=op, dilation=d)
    gt = rng.standard_normal(yt.shape)
    yt.backward(gt)
    expect("  max |convT input grad − conv2d(g', w)|",
           np.abs(xt.grad - kernels.conv2d_forward(gt, ws, stride=s, padding=p, dilation=d)).max(), "< 1e-12")

# %% [markdown]
# One consequence worth seeing: an input pixel that no output reads (skipped by the stride, or fallen into a
# dilation gap) gets a gradient of exactly zero — not a small number, zero. Here a 1×1 kernel with stride 2 reads
# only the even rows and columns.
#
# **Predict.** What is the largest gradient on the odd rows and columns?

# %%
my_prediction = None  # a number

# %%
x = Tensor(rng.standard_normal((1, 1, 6, 6)), requires_grad=True)
F.conv2d(x, Tensor(np.ones((1, 1, 1, 1))), stride=2).sum().backward()
print(x.grad[0, 0])
odd = np.abs(x.grad[0, 0, 1::2, :]).max() + np.abs(x.grad[0, 0, :, 1::2]).max()
expect("max |gradient| on the odd rows and columns", odd, "== 0", "exactly 0")
reveal(my_prediction, float(odd), "Exactly 0: no output reads those pixels, so no term of the chain rule reaches them.")

# %% [markdown]
# ## 5. Gradient maps
#
# The input gradient of a loss $L = \sum_{i,j} g_{ij}\, y_{ij}$ is the transposed convolution of $g$: every
# output pixel sends its $g_{ij}$ back through the kernel to the pixels it read. With $g$ equal to 1 at a single
# output pixel the map shows exactly what that pixel read (its **receptive field**, with the kernel's weights on
# it); with $g = 1$ everywhere it shows how many windows read each input pixel — for a 3×3 kernel with stride 2,
# the overlap pattern of notebook 02 again.

# %%
def gradient_map(g_at, kernel, stride, dilation, size=11):
    """∂L/∂x for L = Σ g·conv2d(x, ones kernel) on a size×size input, with g = 1 at ``g_at`` or everywhere."""
    n = (size - dilation * (kernel - 1) - 1) // stride + 1
    g = np.zeros((1, 1, n, n))
    if g_at == "all":
        g[...] = 1.0
    else:
        g[0, 0, min(g_at, n - 1), min(g_at, n - 1)] = 1.0
    weight = np.ones((1, 1, kernel, kernel))
    return kernels.conv2d_backward(g, np.zeros((1, 1, size, size)), weight, stride=stride, dilation=dilation)[0][0, 0]


panels = [("one output pixel, k3 s1", gradient_map(2, 3, 1, 1)), ("one output pixel, k3 s1 d2", gradient_map(2, 3, 1, 2)),
          ("every output, k3 s1", gradient_map("all", 3, 1, 1)), ("every output, k3 s2", gradient_map("all", 3, 2, 1))]
fig, axes = plt.subplots(1, 4, figsize=(14, 3.6))
for ax, (title, m) in zip(axes, panels):
    ax.imshow(m, cmap="viridis")
    for (r, c), v in np.ndenumerate(m):
        ax.text(c, r, f"{v:g}", ha="center", va="center", fontsize=6, color="w" if v < m.max() / 2 else "k")
    ax.set_title(f"∂L/∂x: {title}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
plt.show()
expect("stride 2: distinct read counts inside the image", len(np.unique(panels[3][1][2:-2, 2:-2])), "== 3",
       "1, 2 and 4: the checkerboard of notebook 06")

# %% [markdown]
# **Try it.** Which input pixels does one output pixel depend on, and with what weight? Change the kernel size,
# the stride and the dilation; the map is the gradient of output pixel (2, 2) with all-ones weights.

# %%
def draw_gradient(kernel=3, stride=1, dilation=1):
    if (11 - dilation * (kernel - 1) - 1) // stride + 1 < 3:
        print("fewer than three outputs on an 11×11 input; shrink the kernel or the dilation")
        return
    m = gradient_map(2, kernel, stride, dilation)
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(m > 0, cmap="Blues", vmin=0, vmax=1.4)
    ax.set_title(f"pixels output (2, 2) reads: k={kernel} s={stride} d={dilation}\n"
                 f"span {dilation * (kernel - 1) + 1} pixels, starting at {2 * stride}", fontsize=9)
    ax.set_xticks(range(11))
    ax.set_yticks(range(11))
    plt.show()


controls(draw_gradient, [dict(kernel=3, stride=2, dilation=1), dict(kernel=3, stride=1, dilation=3)],
         kernel=(1, 5), stride=(1, 3), dilation=(1, 3))

# %% [markdown]
# ## Summary
#
# * `backward()` is the chain rule applied node by node in reverse order; shared tensors sum their gradients.
# * Each operation states its own local derivative; central differences in float64 check it (relative error
#   around $10^{-7}$ or below right, $\gtrsim 10^{-2}$ wrong).
# * conv2d and conv_transpose2d pass their gradient checks for every stride, padding and dilation tried.
# * $\partial L/\partial x$ of a convolution is the transposed convolution of $\partial L/\partial y$ with the same
#   kernel, and vice versa; the weight gradient is a correlation of $x$ with $\partial L/\partial y$ in which stride
#   and dilation trade places. deconvlab's kernels are written exactly this way: three loops (correlate,
#   scatter, weight gradient) serve all four forward and backward passes.
