"""Benchmarks of the kernels against PyTorch, measured side by side in one process; imports kernels (torch optional).

``deconvlab bench kernels`` and ``benchmarks/kernels.py`` print, for each layer of a fixed reference set, the
median forward+backward time of deconvlab's kernels and of ``torch.nn.functional`` on the same arrays, their
ratio, and the total. The two are timed in alternation, so a busy machine slows both alike. PyTorch is
imported only here, only if installed, and never by the rest of the library.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from . import kernels

# (name, kind, C_in, C_out, H, kernel, stride, padding) at batch 32, NCHW.
REFERENCE_LAYERS = (
    ("a", "conv", 3, 32, 32, 3, 1, 1),
    ("b", "conv", 32, 64, 32, 4, 2, 1),
    ("c", "conv", 64, 128, 16, 4, 2, 1),
    ("d", "convT", 128, 64, 8, 4, 2, 1),
    ("e", "convT", 64, 32, 16, 4, 2, 1),
    ("f", "conv", 32, 3, 32, 3, 1, 1),
)


def _layer_arrays(kind, c_in, c_out, size, k, batch, dtype, rng):
    x = rng.standard_normal((batch, c_in, size, size)).astype(dtype)
    shape = (c_out, c_in, k, k) if kind == "conv" else (c_in, c_out, k, k)
    w = (rng.standard_normal(shape) / np.sqrt(c_in * k * k)).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype)
    return x, w, b


def _ours(kind, x, w, b, s, p):
    """One forward+backward step with deconvlab's kernels (upstream gradient = the output itself)."""
    if kind == "conv":
        y = kernels.conv2d_forward(x, w, b, s, p)
        kernels.conv2d_backward(y, x, w, s, p)
    else:
        y = kernels.conv_transpose2d_forward(x, w, b, s, p)
        kernels.conv_transpose2d_backward(y, x, w, s, p)


def _theirs(torch, kind, x, w, b, s, p):
    """The same step in PyTorch: forward, then backward into input, weight and bias."""
    op = torch.nn.functional.conv2d if kind == "conv" else torch.nn.functional.conv_transpose2d
    y = op(x, w, b, s, p)
    y.backward(y.detach())
    x.grad = w.grad = b.grad = None


def _import_torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def time_layers(batch=32, dtype=np.float32, repeats=7, layers=REFERENCE_LAYERS, seed=0):
    """Median fwd+bwd seconds per layer for deconvlab and (if installed) PyTorch, timed in alternation.

    Returns a list of dicts with keys name, shape, ours, torch (None without PyTorch).
    """
    torch = _import_torch()
    rng = np.random.default_rng(seed)
    rows = []
    for name, kind, c_in, c_out, size, k, s, p in layers:
        x, w, b = _layer_arrays(kind, c_in, c_out, size, k, batch, dtype, rng)
        jobs = [lambda: _ours(kind, x, w, b, s, p)]
        if torch is not None:
            xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
            jobs.append(lambda: _theirs(torch, kind, xt, wt, bt, s, p))
        times = [[] for _ in jobs]
        for job in jobs:  # warm-up: compile, allocate
            job()
        for _ in range(repeats):
            for job, record in zip(jobs, times):
                start = time.perf_counter()
                job()
                record.append(time.perf_counter() - start)
        medians = [float(np.median(t)) for t in times]
        rows.append(
            dict(
                name=name,
                shape=f"{kind:5s} {c_in:3d}->{c_out:<3d} {size}x{size} k{k} s{s} p{p}",
                ours=medians[0],
                torch=medians[1] if torch is not None else None,
            )
        )
    return rows


_FIRST_CALL = """
import time, sys
t0 = time.perf_counter()
import numpy as np
from deconvlab import kernels
dtype = np.dtype(sys.argv[1])
x = np.ones((1, 2, 6, 6), dtype); w = np.ones((3, 2, 3, 3), dtype); wt = np.ones((2, 3, 3, 3), dtype)
y = kernels.conv2d_forward(x, w, None, 2, 1)
kernels.conv2d_backward(y, x, w, 2, 1)
z = kernels.conv_transpose2d_forward(x, wt, None, 2, 1)
kernels.conv_transpose2d_backward(z, x, wt, 2, 1)
print(time.perf_counter() - t0)
"""


def time_first_call(dtype="float32"):
    """Seconds from a fresh interpreter to the first result of all four kernels: (cold, warm).

    cold: with an empty Numba cache (everything compiles); warm: a second process reusing that cache.
    """
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        runs = []
        for _ in range(2):
            out = subprocess.run(
                [sys.executable, "-c", _FIRST_CALL, dtype], env=env, capture_output=True, text=True, check=True
            )
            runs.append(float(out.stdout.strip().splitlines()[-1]))
    return runs[0], runs[1]


def format_table(rows):
    """The benchmark table as text: ms per layer, PyTorch's ms and the ratio, then the totals."""
    lines = [f"{'layer':34s} {'deconvlab ms':>12s} {'torch ms':>9s} {'ratio':>6s}"]
    for r in rows:
        theirs = "" if r["torch"] is None else f"{r['torch'] * 1e3:9.2f} {r['ours'] / r['torch']:6.2f}"
        lines.append(f"{r['name']}) {r['shape']:31s} {r['ours'] * 1e3:12.2f} {theirs}")
    ours = sum(r["ours"] for r in rows)
    total = f"{'total':34s} {ours * 1e3:12.2f}"
    if all(r["torch"] is not None for r in rows):
        theirs = sum(r["torch"] for r in rows)
        total += f" {theirs * 1e3:9.2f} {ours / theirs:6.2f}"
    else:
        total += "   (PyTorch not installed: no ratio)"
    lines.append(total)
    return "\n".join(lines)


def run_kernels_benchmark(batch=32, repeats=7, dtype="float32", compile_times=True, as_json=False, out=print):
    """Print the kernel benchmark (and, with compile_times, cold and warm first-call times). Returns the rows."""
    rows = time_layers(batch=batch, dtype=np.dtype(dtype), repeats=repeats)
    result = dict(layers=rows)
    if compile_times:
        result["cold_first_call_s"], result["warm_first_call_s"] = time_first_call(dtype)
    if as_json:
        out(json.dumps(result, indent=2))
        return result
    out(f"forward+backward, batch {batch}, {dtype}, median of {repeats} warm runs, timed in alternation")
    out(format_table(rows))
    if compile_times:
        out(
            f"first result in a fresh process: {result['cold_first_call_s']:.2f} s with an empty compile cache, "
            f"{result['warm_first_call_s']:.2f} s with the cache present"
        )
    return result
