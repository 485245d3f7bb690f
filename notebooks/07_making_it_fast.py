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
# # 07 · Making it fast
#
# The same convolution, five ways, from the slowest to the fastest:
#
# 1. **pure Python loops** — `reference.conv2d`, the formula read literally (notebook 01);
# 2. **NumPy im2col** — copy every kernel-sized window of the input into a row of a big matrix, then do one
#    matrix product (written below in a dozen lines);
# 3. **Numba direct loops** — `kernels.readable.conv2d_forward`: the same loops as (1), compiled to machine code;
# 4. **deconvlab's fast kernel** — `kernels.conv2d_forward`: im2col done right (contiguous copies in compiled
#    loops, a batch processed in cache-sized chunks) feeding the BLAS matrix product;
# 5. **PyTorch**, if it is installed, as the yardstick.
#
# Timings depend on the machine and on what else it is doing: read the *ratios*, and rerun the notebook to see how
# much they move. The layer table at the end is measured several times and says when the rounds disagree.
#
# **Learning goals.** After this notebook you can
#
# 1. write im2col in NumPy and explain why one matrix product beats many small loops;
# 2. say what compiling (Numba) buys and what changing the algorithm (a matrix product) buys, from GFLOP/s;
# 3. time code honestly: warm-up calls, the best of several runs, and repeated rounds that expose a busy machine.
#
# **Prerequisites.** Notebooks 01 and 02; what a matrix product costs ($2mnk$ operations).
#
# **Expected time.** 30 minutes; the full run takes a minute or two (mostly timing), `SMOKE=1` about ten seconds.
# Exercise: `im2col` (and its adjoint `col2im`).

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from deconvlab import bench, kernels, reference
from deconvlab.teaching import controls, expect, reveal

SMOKE = os.environ.get("SMOKE", "0") not in ("", "0")
rng = np.random.default_rng(0)

try:
    import torch
except ImportError:
    torch = None
from threadpoolctl import threadpool_limits  # a dependency of deconvlab: it sets the BLAS's thread count
print("PyTorch", torch.__version__ if torch is not None else "not installed: its column is left out")
print("CPU cores:", os.cpu_count())


def best_time(fn, repeats):
    """Shortest wall-clock seconds of fn() over `repeats` calls, after one untimed warm-up call.

    The minimum, not the mean: anything else running on the machine can only add time, never remove it."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


# %% [markdown]
# ## im2col in NumPy
#
# A cross-correlation multiplies every $C_\text{in} \times k \times k$ window of the input by every filter and sums.
# Lay each window out as one row of a matrix ("image to columns") and the filters as the columns of another, and the
# whole layer is one matrix product:
#
# $$ \underbrace{Y}_{(N H_\text{out} W_\text{out}) \times C_\text{out}}
#    = \underbrace{\text{cols}(x)}_{(N H_\text{out} W_\text{out}) \times (C_\text{in} k^2)} \;
#      \underbrace{W^\top}_{(C_\text{in} k^2) \times C_\text{out}} . $$
#
# `sliding_window_view` gives every window without copying; the `reshape` then copies them into the matrix — $k^2$
# times the input's size, the price of im2col.
#
# **Predict.** For one 3-channel 9×9 image, a 3×3 kernel, stride 1 and padding 1, how many numbers does the im2col
# matrix hold?

# %%
my_prediction = None  # a count

# %%
def conv2d_im2col(x, w, stride=1, padding=0):
    n, c, h, wd = x.shape
    c_out, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]  # (n, c, ho, wo, kh, kw)
    ho, wo = windows.shape[2:4]
    cols = windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * kh * kw)
    y = cols @ w.reshape(c_out, -1).T
    return np.ascontiguousarray(y.reshape(n, ho, wo, c_out).transpose(0, 3, 1, 2))


x = rng.standard_normal((2, 3, 9, 9))
w = rng.standard_normal((4, 3, 3, 3))
for s, p in [(1, 0), (1, 1), (2, 1)]:
    expect(f"stride {s}, padding {p}: max |im2col − reference|",
           np.abs(conv2d_im2col(x, w, s, p) - reference.conv2d(x, w, None, s, p)).max(), "< 1e-12")
windows = sliding_window_view(np.pad(x[:1], ((0, 0), (0, 0), (1, 1), (1, 1))), (3, 3), axis=(2, 3))
reveal(my_prediction, int(windows.size), "H_out·W_out rows of C·k² numbers: 81 · 27 = 2187, nine times the image.")

# %% [markdown]
# ## The timings
#
# All five on the same float32 arrays ("3×3 convolution, padding 1", the workhorse layer). The pure-Python loops
# get only the tiny shape — on the larger ones they would take minutes — and we *extrapolate* their time from the
# number of multiply-adds (MACs), which they execute one at a time at a constant rate. Each entry is the best
# of a few calls after one warm-up call (the warm-up also loads Numba's compiled code from its disk cache, or
# compiles it on the very first run).
#
# The fast kernel uses all cores: it splits the batch into one part per core, and each core runs its part's
# copies and matrix products from start to end, with BLAS single-threaded inside (`deconvlab/parallel.py`
# says why). With threadpoolctl's `threadpool_limits(1)` it runs in one part on one core, and we time that too
# (and PyTorch with `torch.set_num_threads(1)`), which shows what the extra cores buy — and, on a machine busy
# with other work, what they can cost: a thread that has to wait for a core held by another program can make the
# multi-threaded run *slower* than the single-threaded one.

# %%
shapes = [  # (N, C_in, C_out, H) with a 3x3 kernel, padding 1
    ("tiny", 1, 3, 8, 16),
    ("small", 8, 16, 32, 32),
]
if not SMOKE:
    shapes.append(("medium", 32, 32, 64, 32))
repeats = 2 if SMOKE else 5

rows = []
python_rate = None  # seconds per MAC of the pure-Python loops
for name, n, ci, co, h in shapes:
    x = rng.standard_normal((n, ci, h, h)).astype(np.float32)
    w = (rng.standard_normal((co, ci, 3, 3)) / np.sqrt(9 * ci)).astype(np.float32)
    macs = n * co * h * h * ci * 9
    row = dict(name=name, shape=f"{n}x{ci}x{h}x{h} -> {co} ch", macs=macs)
    if python_rate is None:
        row["python"] = best_time(lambda: reference.conv2d(x, w, None, 1, 1), 1)
        python_rate = row["python"] / macs
    else:
        row["python"] = python_rate * macs
        row["python_estimated"] = True
    row["im2col"] = best_time(lambda: conv2d_im2col(x, w, 1, 1), repeats)
    row["numba loops"] = best_time(lambda: kernels.readable.conv2d_forward(x, w, None, 1, 1), max(1, repeats // 2))
    row["fast"] = best_time(lambda: kernels.conv2d_forward(x, w, None, 1, 1), repeats)
    with threadpool_limits(limits=1, user_api="blas"):
        row["fast, 1 thread"] = best_time(lambda: kernels.conv2d_forward(x, w, None, 1, 1), repeats)
    if torch is not None:
        xt, wt = torch.from_numpy(x), torch.from_numpy(w)
        threads = torch.get_num_threads()
        with torch.no_grad():
            row["torch"] = best_time(lambda: torch.nn.functional.conv2d(xt, wt, None, 1, 1), repeats)
            torch.set_num_threads(1)
            row["torch, 1 thread"] = best_time(lambda: torch.nn.functional.conv2d(xt, wt, None, 1, 1), repeats)
            torch.set_num_threads(threads)
    # every implementation must compute the same thing
    fast = kernels.conv2d_forward(x, w, None, 1, 1)
    scale = np.abs(fast).max()
    row["disagreement"] = max(np.abs(conv2d_im2col(x, w, 1, 1) - fast).max(),
                              np.abs(kernels.readable.conv2d_forward(x, w, None, 1, 1) - fast).max()) / scale
    rows.append(row)

methods = ["python", "im2col", "numba loops", "fast"]
methods += ["fast, 1 thread"]
methods += (["torch", "torch, 1 thread"] if torch is not None else [])
print(f"{'shape':30s} {'MACs':>9s} " + " ".join(f"{m:>14s}" for m in methods) + "   (milliseconds)")
for r in rows:
    cells = []
    for m in methods:
        mark = "~" if m == "python" and r.get("python_estimated") else " "
        cells.append(f"{mark}{r[m] * 1e3:13.3f}")
    print(f"{r['name'] + ' ' + r['shape']:30s} {r['macs']:9.2e} " + " ".join(cells))
print("~ = extrapolated from the tiny shape at the measured time per MAC")
print()
print(f"{'shape':30s} {'':9s} " + " ".join(f"{m:>14s}" for m in methods) + "   (time / fast kernel's best time)")
for r in rows:
    best_fast = min(r["fast"], r.get("fast, 1 thread", r["fast"]))
    print(f"{r['name'] + ' ' + r['shape']:30s} {'':9s} " + " ".join(f"{r[m] / best_fast:14.2f}" for m in methods))
print()
print(f"{'shape':30s} {'':9s} " + " ".join(f"{m:>14s}" for m in methods) + "   (GFLOP/s = 2·MACs / time)")
for r in rows:
    rates = " ".join(f"{2 * r['macs'] / r[m] / 1e9:14.3f}" for m in methods)
    print(f"{r['name'] + ' ' + r['shape']:30s} {'':9s} " + rates)
expect("largest disagreement between im2col, Numba loops and the fast kernel (relative, float32)",
       max(r["disagreement"] for r in rows), "< 1e-5", "about 1e-7, float32 rounding")
small = next(r for r in rows if r["name"] == "small")
expect("small shape: Numba loops' time / Python's (extrapolated)", small["numba loops"] / small["python"], "< 0.1",
       "compiling buys orders of magnitude", fmt=".2g")

# %% [markdown]
# What the columns say:
#
# * **Python → Numba loops**: the same algorithm, compiled. Every multiply-add in Python allocates objects,
#   looks up names and checks types; compiled, it is a few machine instructions. Expect a factor of a couple of
#   hundred (compare the GFLOP/s of the two columns).
# * **Numba loops → fast kernel**: same language, different *algorithm*. The direct loop walks the input with
#   scattered reads and does one multiply-add at a time; the fast kernel rearranges the data once so that the
#   arithmetic becomes a matrix product, which BLAS runs with vector instructions and cache blocking. On the
#   larger shapes this is another factor of tens, even on one core.
# * **im2col in NumPy** gets part of that benefit from the same BLAS product; the fast kernel replaces the
#   generic strided copy with contiguous compiled copies and, for big batches, keeps the window matrix small
#   enough to stay in the CPU's cache.
# * **PyTorch** uses hand-tuned convolution kernels (oneDNN on x86); a from-scratch kernel within a small factor of
#   it is doing well.
# * A time in the tens of milliseconds for the *tiny* shape (where the work takes microseconds) is not computation:
#   it is a thread waiting for a core that another program holds — the scheduler's time slice. Compare the
#   "fast" and "fast, 1 thread" columns: on an idle machine the first is faster, on a busy one it may not be.
#
# ## Forward and backward, layer by layer
#
# Training runs every layer forwards *and* backwards (input and weight gradients). `deconvlab bench` times both on
# the layer shapes of a small inpainting network at batch 32, and compares with PyTorch in the same process,
# alternating the two so that a busy machine slows both alike. Here is the same measurement at a smaller batch,
# in several rounds: a single round on a busy machine can be off by a large factor (another program's burst lands
# in one side's timing), so the notebook prints every round's ratio and the median, and flags the result when the
# rounds disagree.

# %%
layers = bench.REFERENCE_LAYERS[:2] if SMOKE else bench.REFERENCE_LAYERS
rounds = 2 if SMOKE else 3
tables = [bench.time_layers(batch=4 if SMOKE else 16, repeats=2 if SMOKE else 5, layers=layers) for _ in range(rounds)]
print(bench.format_table(tables[-1]))
if torch is not None:
    ratios = [sum(r["ours"] for r in t) / sum(r["torch"] for r in t) for t in tables]
    print("deconvlab / PyTorch, forward + backward, all layers, round by round: "
          + ", ".join(f"{r:.2f}" for r in ratios) + f"; median {np.median(ratios):.2f}  (lower is faster)")
    if max(ratios) / min(ratios) > 1.25:
        print(f"WARNING: the rounds disagree by a factor {max(ratios) / min(ratios):.2f}: the machine is busy, and "
              "these timings are not reliable. Rerun when it is quiet (`deconvlab bench` repeats more).")
    else:
        print(f"the rounds agree within {100 * (max(ratios) / min(ratios) - 1):.0f}%")

# %% [markdown]
# **Try it.** How does the im2col matrix grow with the input? The sliders set channels, image side and kernel
# size (stride 1, padding k // 2, batch 8); the plot compares the input, the window matrix and the output, and
# times NumPy im2col against the fast kernel on that shape.

# %%
def draw_im2col(channels=16, side=32, kernel=3):
    xs = rng.standard_normal((8, channels, side, side)).astype(np.float32)
    ws = rng.standard_normal((16, channels, kernel, kernel)).astype(np.float32)
    pad = kernel // 2
    sizes = {"input": xs.size, "im2col matrix": xs.size * kernel * kernel, "output": 8 * 16 * side * side}
    t_np = best_time(lambda: conv2d_im2col(xs, ws, 1, pad), 2)
    t_fast = best_time(lambda: kernels.conv2d_forward(xs, ws, None, 1, pad), 2)
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(list(sizes), [v / 1e6 for v in sizes.values()], color=["#4a6fa5", "#d98c3a", "#6aa56a"])
    ax.set_ylabel("millions of numbers")
    ax.set_title(f"C={channels}, {side}×{side}, k={kernel}: im2col in NumPy {t_np * 1e3:.1f} ms, "
                 f"fast kernel {t_fast * 1e3:.1f} ms", fontsize=9)
    plt.show()


controls(draw_im2col, [dict(channels=16, side=32, kernel=3), dict(channels=16, side=32, kernel=5)],
         channels=(1, 64), side=(8, 64, 8), kernel=(1, 7, 2))

# %% [markdown]
# ## Summary
#
# * Compiling the literal loops buys about two orders of magnitude; recasting them as a matrix product buys
#   one or two more.
# * deconvlab's fast kernel and its readable twin compute the same numbers (checked above and in notebook 01);
#   the readable one is the specification, the fast one what training runs.
# * Run `deconvlab bench` for the full table at batch 32, with the first-call compile times.
