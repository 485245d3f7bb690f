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
# the loss with respect to every weight. This notebook shows where those gradients come from:
#
# 1. the chain rule on a tiny graph, worked by hand and compared with deconvlab's `Tensor.backward()`;
# 2. how one operation declares its own derivative (a `Function` with `forward` and `backward`), and how
#    **gradient checking** with finite differences catches a wrong one;
# 3. gradient checks of `conv2d` and `conv_transpose2d`, with the maximum relative error printed;
# 4. the derivation that the input gradient of a convolution *is* a transposed convolution — the reason
#    deconvlab writes each loop once and uses it twice.

# %%
import os

import numpy as np

import deconvlab.functional as F
from deconvlab import Tensor, kernels, nn
from deconvlab.autograd import Function
from deconvlab.gradcheck import gradcheck, gradcheck_direction

SMOKE = os.environ.get("SMOKE", "0") not in ("", "0")
rng = np.random.default_rng(0)
np.set_printoptions(precision=4, suppress=True, linewidth=110)


def report(what, value, expect):
    """Print one check: the measured number and what a correct implementation gives."""
    print(f"{what} = {value:.2e}   (expect {expect})")


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
report("max |by hand − backward()|", worst, "< 1e-14: the same arithmetic, rounded alike or nearly")

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
report("softplus, correct backward: max relative error", good.max_rel_error, "< 1e-7")
report("softplus, wrong backward:   max relative error", bad.max_rel_error, "> 1e-2: the check catches the bug")

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
    report(f"  x {xs.shape} k={k} s={s} p={p} d={d}: max rel. error over {result.n_checked} derivatives",
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
    report(f"  x {xs.shape} k={k} s={s} p={p} op={op} d={d}: max rel. error over {result.n_checked} derivatives",
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
report(f"whole network ({n_params} parameters), {len(directional.rel_errors)} random directions: max rel. error",
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
    report("  max |x.grad − conv_transpose2d(g, w)|", np.abs(x.grad - gx).max(), "< 1e-12")

    # weight gradient: batch becomes the channel axis, g becomes the kernel, stride and dilation swap
    x_as_batch = np.ascontiguousarray(xs.transpose(1, 0, 2, 3))  # (C_in, N, H, W)
    g_as_kernel = np.ascontiguousarray(g.transpose(1, 0, 2, 3))  # (C_out, N, H_out, W_out)
    gw = kernels.conv2d_forward(x_as_batch, g_as_kernel, stride=d, padding=p, dilation=s)  # (C_in, C_out, ≥k, ≥k)
    gw = gw[:, :, :k, :k].transpose(1, 0, 2, 3)
    report("  max |w.grad − conv2d(x, g; stride d, dilation s)|", np.abs(w.grad - gw).max(), "< 1e-12")

    # and the transposed convolution's input gradient is a convolution
    xt = Tensor(g, requires_grad=True)
    yt = F.conv_transpose2d(xt, Tensor(ws), stride=s, padding=p, output_padding=op, dilation=d)
    gt = rng.standard_normal(yt.shape)
    yt.backward(gt)
    report("  max |convT input grad − conv2d(g', w)|",
           np.abs(xt.grad - kernels.conv2d_forward(gt, ws, stride=s, padding=p, dilation=d)).max(), "< 1e-12")

# %% [markdown]
# One consequence worth seeing: an input pixel that no output reads (skipped by the stride, or fallen into a
# dilation gap) gets a gradient of exactly zero — not a small number, zero. Here a 1×1 kernel with stride 2 reads
# only the even rows and columns:

# %%
x = Tensor(rng.standard_normal((1, 1, 6, 6)), requires_grad=True)
F.conv2d(x, Tensor(np.ones((1, 1, 1, 1))), stride=2).sum().backward()
print(x.grad[0, 0])
odd = np.abs(x.grad[0, 0, 1::2, :]).max() + np.abs(x.grad[0, 0, :, 1::2]).max()
report("max |gradient| on the odd rows and columns", odd, "exactly 0")

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
