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
# # 08 · Fast convolution algorithms
#
# Notebook 07 made one algorithm fast: unroll the windows (im2col) and hand the arithmetic to a matrix product.
# This one compares it with two others that deconvlab's kernels also implement, and measures each:
#
# 1. **naive loops** — the formula, one multiply-add at a time (`kernels.readable`);
# 2. **im2col + GEMM** — the windows copied into a matrix, one BLAS product (`kernels.fast`, notebook 07);
# 3. **Winograd's minimal filtering** — fewer multiplications, paid for with additions (`kernels.winograd`):
#    first the 1-D F(2, 3) by hand, then the 2-D F(2×2, 3×3), then strided layers through the polyphase split;
# 4. **direct blocked loops** — no unrolled copy at all, the loops ordered so that every multiply-add is a
#    vector instruction (`kernels.direct`).
#
# For each: how many multiplications, how long it takes here, and how many bits of a float32 result it keeps.
# `kernels.plan` decides which one a layer runs; `plan.forced(...)` overrides that choice, which is how this
# notebook (and the tests) run every algorithm on the same layer.
#
# **Learning goals.** After this notebook you can
#
# 1. derive Winograd's F(2, 3) by hand and count the multiplications it saves;
# 2. explain how the polyphase split turns a strided layer into stride-1 work that Winograd accepts;
# 3. read a table of time, GFLOP/s and float32 error per algorithm and say why the fastest is not always the one
#    with the fewest multiplications.
#
# **Prerequisites.** Notebooks 02 and 07 (im2col, timing honestly); a matrix product's cost ($2mnk$ operations).
#
# **Expected time.** 40 minutes; the full run takes a minute or two, `SMOKE=1` well under a minute.

# %%
import os
import re
import timeit
from collections import Counter

import matplotlib.pyplot as plt
import numba
import numpy as np

from deconvlab import reference
from deconvlab.teaching import controls, expect, reveal
from deconvlab.kernels import direct, fast, plan, readable, winograd

SMOKE = os.environ.get("SMOKE", "0") not in ("", "0")
rng = np.random.default_rng(0)


def rel_error(got, expected):
    return float(np.abs(np.asarray(got, np.float64) - expected).max() / np.abs(expected).max())


def best_time(fn, repeats):
    """Shortest of `repeats` timed calls after one warm-up call (which also compiles, the first time)."""
    fn()
    return min(timeit.repeat(fn, number=1, repeat=repeats))


# %% [markdown]
# ## 1. Counting multiplications
#
# A 3×3 correlation with C input and O output channels computes every output pixel with 9·C multiply-adds per
# output channel. The naive loops do exactly those; im2col does exactly those too, only inside a matrix product
# that runs them at the speed of the hardware. Winograd's algorithm does *fewer*.

# %% [markdown]
# ## 2. Winograd in one dimension: F(2, 3) by hand
#
# Two outputs of a 3-tap correlation, $y_0 = d_0 g_0 + d_1 g_1 + d_2 g_2$ and $y_1 = d_1 g_0 + d_2 g_1 + d_3 g_2$,
# take 6 multiplications directly. Winograd's F(2, 3) needs 4:
#
# $$ m_1 = (d_0 - d_2)\,g_0, \quad m_2 = (d_1 + d_2)\,\tfrac{g_0 + g_1 + g_2}{2}, \quad
#    m_3 = (d_2 - d_1)\,\tfrac{g_0 - g_1 + g_2}{2}, \quad m_4 = (d_1 - d_3)\,g_2, $$
# $$ y_0 = m_1 + m_2 + m_3, \qquad y_1 = m_2 - m_3 - m_4 . $$
#
# The filter terms ($g_0$, $(g_0 \pm g_1 + g_2)/2$, $g_2$) depend only on the weights, so a layer computes them
# once and reuses them for every tile: per tile only the four products remain. Check it:

# %%
d = rng.standard_normal(4)
g = rng.standard_normal(3)
m1 = (d[0] - d[2]) * g[0]
m2 = (d[1] + d[2]) * (g[0] + g[1] + g[2]) / 2
m3 = (d[2] - d[1]) * (g[0] - g[1] + g[2]) / 2
m4 = (d[1] - d[3]) * g[2]
by_hand = np.array([m1 + m2 + m3, m2 - m3 - m4])
directly = np.array([d[0] * g[0] + d[1] * g[1] + d[2] * g[2], d[1] * g[0] + d[2] * g[1] + d[3] * g[2]])
expect("|F(2,3) by hand − direct sum|", np.abs(by_hand - directly).max(), "< 1e-12")

# %% [markdown]
# In matrix form this is $y = A^\top[(G g) \odot (B^\top d)]$ — input transform $B^\top$, filter transform $G$,
# output transform $A^\top$ (Lavin & Gray 2016). `winograd.TRANSFORMS` holds them for F(2, 2), F(2, 3) and
# F(4, 3). Every one satisfies the same identity.
#
# **Predict.** F(m, r) computes m outputs of an r-tap correlation. How many multiplications does F(4, 3) need
# (the direct sum needs 12)?

# %%
my_prediction = None  # a count

# %%
for (m, r) in sorted(winograd.TRANSFORMS):
    bt, G, at = winograd.transforms(m, r)
    d, g = rng.standard_normal(m + r - 1), rng.standard_normal(r)
    direct_sum = [sum(g[u] * d[i + u] for u in range(r)) for i in range(m)]
    err = np.abs(at @ ((G @ g) * (bt @ d)) - direct_sum).max()
    constants = sorted({float(v) for v in np.abs(np.r_[bt.ravel(), G.ravel(), at.ravel()])} - {0.0})
    print(f"F({m}, {r}): {m + r - 1} multiplications for {m} outputs ({m * r} directly); |error| = {err:.1e}; "
          f"constants |c| in the transforms: {', '.join(f'{c:.4g}' for c in constants)}")
reveal(my_prediction, 4 + 3 - 1, "One product per point of the transformed tile: m + r − 1 = 6, half the direct 12.")

# %% [markdown]
# ## 3. Winograd in two dimensions: F(2×2, 3×3)
#
# Nesting the 1-D algorithm in rows and columns gives a 2×2 output tile from a 4×4 input tile:
# $Y = A^\top\,[\,U \odot V\,]\,A$ with $U = G g G^\top$ and $V = B^\top d B$: **16 multiplications instead of 36**.
# With many channels the elementwise product is summed over input channels, so for each of the 16 positions
# $\xi$ of the tile the channel sum over all tiles is one matrix product, $M_\xi = V_\xi\, U_\xi$, (tiles × C)·(C × O).
# `winograd.readable_forward` writes that, one tile at a time; it agrees with the reference:

# %%
x = rng.standard_normal((1, 3, 10, 12))
w = rng.standard_normal((4, 3, 3, 3))
out_hw = (8, 10)
hp, wp = winograd.padded_size(out_hw, 2, 3)
padded = np.zeros((1, 3, hp, wp))
padded[:, :, :10, :12] = x
expect("|readable Winograd − reference conv2d| / max", rel_error(winograd.readable_forward(padded, w, out_hw, 2),
                                                                  reference.conv2d(x, w)), "< 1e-12")

# %% [markdown]
# **Strided layers.** A k4 s2 convolution is not a 3×3 stride-1 one, but its polyphase split (notebook 07, and
# `kernels/fast.py`) turns it into one: each of the four phases of the input (even/odd rows × even/odd columns)
# meets a dense 2×2 sub-kernel $w[:, :, a{::}2, b{::}2]$, so the layer is a 2×2 stride-1 correlation over
# 4·C channels — and F(2×2, 2×2) computes it with **9 products per tile instead of 16**. The gradients are the
# adjoints of the same three linear steps (docs/math.md): the input gradient runs the transforms backwards
# ($B\,[\,\cdot\,]\,B^\top$, overlapping tiles added), the weight gradient is $G^\top[\sum_t (A\,gY\,A^\top)
# \odot V]\,G$.

# %%
x = rng.standard_normal((2, 4, 12, 12))
w = rng.standard_normal((6, 4, 4, 4))
with plan.forced("winograd"):
    y = fast.conv2d_forward(x, w, None, 2, 1)
    gy = rng.standard_normal(y.shape)
    gx, gw, _ = fast.conv2d_backward(gy, x, w, 2, 1)
expect("k4 s2 by F(2x2, 2x2): forward vs reference", rel_error(y, reference.conv2d(x, w, None, 2, 1)), "< 1e-12")
expect("  its input gradient vs the reference transposed conv",
       rel_error(gx, reference.conv_transpose2d(gy, w, None, 2, 1)), "< 1e-12")
expect("  its weight gradient vs the readable loops", rel_error(gw, readable.conv2d_backward(gy, x, w, 2, 1)[1]),
       "< 1e-12")

# %% [markdown]
# ## 4. Direct blocked loops
#
# `kernels.direct` does no unrolling: for each output row it keeps a row of accumulators (W_out × C_out, in the
# first-level cache) and adds, for every tap and input channel, a weight row times an input pixel. The output
# channels are innermost and contiguous, so that loop should compile to vector instructions — on this CPU
# 512-bit (`zmm`) or 256-bit (`ymm`) registers. Numba shows the machine code it generated; we count the
# floating-point vector instructions in it. Plain code multiplies and adds separately (`vmulps` + `vaddps`);
# `fastmath={'contract'}` allows fusing them into one `vfmadd…ps`, rounding once instead of twice — a (tiny)
# change of the result, which is why deconvlab compiles without fastmath.

# %%
P = rng.standard_normal((1, 6, 6, 8)).astype(np.float32)
taps = rng.standard_normal((3, 3, 8, 16)).astype(np.float32)
y_plain = np.empty((1, 16, 4, 4), np.float32)
variants = {"none": {}, "contract": {"fastmath": {"contract"}}, "reassoc+contract": {"fastmath": {"reassoc", "contract"}}}
compiled = {}
for name, options in variants.items():
    compiled[name] = numba.njit(**options)(direct.correlate.py_func)  # a fresh compile: cached code has no assembly
    compiled[name](P, taps, 0, 1, y_plain)
    asm = next(iter(compiled[name].inspect_asm().values()))
    ops = Counter(f"{op} {reg}mm" for op, reg in re.findall(r"\b(v(?:fmadd\w*|mul|add)ps)\s+[^\n]*?%([xyz])mm", asm))
    print(f"fastmath {name:17s}: " + ", ".join(f"{k} x{v}" for k, v in sorted(ops.items())))

# %% [markdown]
# ## 5. Measured: time, rate and float32 error of each algorithm
#
# The same layers by every algorithm that accepts them, forward + both gradients, batch 8 (2 with `SMOKE=1`),
# float32, on all cores; the float32 error is against the float64 readable loops. GFLOP/s count the direct
# method's multiply-adds (2 per tap), so an algorithm with fewer multiplications can beat the machine's matrix
# product rate. The last column is the multiplications each algorithm performs, relative to the direct count.

# %%
batch, repeats = (2, 2) if SMOKE else (8, 5)
layers = [("conv 32->32 32x32 k3 s1 p1", 32, 32, 32, 3, 1, 1),
          ("conv 64->64 16x16 k4 s2 p1", 64, 64, 16, 4, 2, 1),
          ("conv 128->128 8x8 k3 s1 p1", 128, 128, 8, 3, 1, 1)]
if SMOKE:
    layers = layers[1:2]
share = {"im2col": 1.0, "direct": 1.0}
print(f"{'layer':28s} {'algorithm':>9s} {'ms':>8s} {'GFLOP/s':>8s} {'f32 error':>10s} {'multiplications':>16s}")
for name, c_in, c_out, size, k, s, p in layers:
    x64 = rng.standard_normal((batch, c_in, size, size))
    w64 = rng.standard_normal((c_out, c_in, k, k)) / np.sqrt(c_in * k * k)
    y64 = readable.conv2d_forward(x64, w64, None, s, p)
    gy64 = rng.standard_normal(y64.shape)
    gx64, gw64, _ = readable.conv2d_backward(gy64, x64, w64, s, p)
    x32, w32, gy32 = (a.astype(np.float32) for a in (x64, w64, gy64))
    flops = 3 * 2 * y64.size * c_in * k * k
    r = -(-k // s)
    share["winograd"] = (2 + r - 1) ** 2 / (4 * r * r) * (r * r * s * s) / (k * k)
    share["winograd4"] = (4 + r - 1) ** 2 / (16 * r * r) * (r * r * s * s) / (k * k)
    geo = plan.conv_geometry(x32, w32, (s, s), (p, p), (1, 1), y64.shape[2:])
    for algorithm in plan.ALGORITHMS:
        if plan.why_not(algorithm, geo) is not None:  # F(4×4, 2×2) is for 2×2 sub-kernels (k4 s2) only
            continue
        with plan.forced(algorithm):
            def step():
                return fast.conv2d_forward(x32, w32, None, s, p), fast.conv2d_backward(gy32, x32, w32, s, p)
            seconds = best_time(step, repeats)
            (y, (gx, gw, _)) = step()
        err = max(rel_error(y, y64), rel_error(gx, gx64), rel_error(gw, gw64))
        print(f"{name:28s} {algorithm:>9s} {seconds * 1e3:8.2f} {flops / seconds / 1e9:8.1f} {err:10.1e} "
              f"{share[algorithm]:16.2f}")
print(f"default choice of kernels.plan: " + ", ".join(
    f"{n}: {plan.choose(plan.conv_geometry(np.empty((32, ci, sz, sz)), np.empty((co, ci, k, k)), (s, s), (p, p), (1, 1), ((sz + 2 * p - k) // s + 1,) * 2))}"
    for n, ci, co, sz, k, s, p in layers))

# %% [markdown]
# **Try it.** Where does Winograd stop paying? Pick the channel count and the image side of a 3×3 stride-1 layer
# and compare the three algorithms (forward only, batch 2). Small channel counts leave the transforms a large
# share of the work.

# %%
def draw_algorithms(channels=32, side=16):
    xs = rng.standard_normal((2, channels, side, side)).astype(np.float32)
    ws = (rng.standard_normal((channels, channels, 3, 3)) / np.sqrt(9 * channels)).astype(np.float32)
    times = {}
    geo = plan.conv_geometry(xs, ws, (1, 1), (1, 1), (1, 1), (side, side))
    for algorithm in plan.ALGORITHMS:
        if plan.why_not(algorithm, geo) is None:  # all but F(4×4, 2×2), which needs 2×2 sub-kernels
            with plan.forced(algorithm):
                times[algorithm] = best_time(lambda: fast.conv2d_forward(xs, ws, None, 1, 1), 2) * 1e3
    fig, ax = plt.subplots(figsize=(5, 2.5))
    ax.bar(list(times), list(times.values()), color=["#4a6fa5", "#d98c3a", "#6aa56a"][:len(times)])
    ax.set_ylabel("ms (best of 2)")
    ax.set_title(f"3×3 conv {channels}->{channels} on {side}×{side}, batch 2", fontsize=9)
    plt.show()


controls(draw_algorithms, [dict(channels=8, side=16), dict(channels=64, side=16)],
         channels=(4, 128, 4), side=(8, 64, 8))

# %% [markdown]
# ## 6. Bits: why F(2×2, ·) and not F(4×4, 3×3) or F(6×6, 3×3)
#
# Larger tiles save more multiplications — F(4×4, 3×3) needs 36 per tile instead of 144, four times fewer —
# but their transforms multiply by 4, 5, 1/6 and 1/24, and float32 keeps only 24 bits through them. The
# readable twin runs any of the transforms; here is the float32 error of each on the same random layer (C = 64
# input channels), against the float64 reference.

# %%
c_in = 16 if SMOKE else 64
x64 = rng.standard_normal((1, c_in, 12, 12))
w64 = rng.standard_normal((2, c_in, 3, 3)) / np.sqrt(9 * c_in)
y64 = reference.conv2d(x64, w64) if SMOKE else readable.conv2d_forward(x64, w64)
for m in (2, 4):
    hp, wp = winograd.padded_size((10, 10), m, 3)
    padded = np.zeros((1, c_in, hp, wp), np.float32)
    padded[:, :, :12, :12] = x64
    y32 = winograd.readable_forward(padded, w64.astype(np.float32), (10, 10), m)
    direct_err = rel_error(readable.conv2d_forward(x64.astype(np.float32), w64.astype(np.float32)), y64)
    print(f"F({m}x{m}, 3x3): float32 relative error {rel_error(y32, y64):.1e} (direct loops {direct_err:.1e})")
    if m == 2:
        expect("  F(2x2, 3x3) float32 error / the direct loops' error", rel_error(y32, y64) / direct_err, "< 10",
               "its transforms only add and halve", fmt=".1f")

# %% [markdown]
# ## Summary
#
# * Winograd trades multiplications for additions: F(2×2, 3×3) does 16 products where the direct method does
#   36, F(2×2, 2×2) — the form of a k4 s2 layer after the polyphase split — 9 where it does 16. Its transforms
#   only add and halve, so its float32 error is that of the direct sum.
# * For the k4 s2 layers with many tiles the kernels use F(4×4, 2×2) (`"winograd4"`): 25 products per 4×4 tile
#   where four F(2×2, 2×2) tiles take 36. Its transforms double (exactly) and its weight transform has sixths;
#   its float32 error stays near 10⁻⁶, inside the 10⁻⁴ bound.
# * Fewer multiplications are not automatically less time: the transforms read and write every tile, and they
#   pay only when the channel counts make the products large. `kernels.plan` chooses Winograd where the
#   transforms' share of the work, 1/C′ + 1/C_out, is small, and im2col elsewhere (docs/performance.md).
# * The direct loops vectorise (the `zmm`/`ymm` instructions above) but reload their accumulators from cache
#   for every multiply-add; BLAS keeps them in registers. They are correct on every shape and the slowest of
#   the three here: the reason libraries generate such loops with a JIT assembler rather than write them in a
#   high-level language.
