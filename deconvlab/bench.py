"""Benchmarks of the kernels against PyTorch, measured side by side in one process; imports kernels, parallel,
models, optim, autograd and functional (torch optional).

``deconvlab bench kernels`` and ``benchmarks/kernels.py`` print, for each layer of a fixed reference set, the
median forward+backward time of deconvlab's kernels and of ``torch.nn.functional`` on the same arrays, their
ratio, the arithmetic rate each reaches, the algorithm deconvlab chose, and the total; beside them the BLAS
kernel set NumPy runs (threadpoolctl's "architecture") and the rate of one large BLAS matrix product measured
in the same run, the ceiling of im2col. The two libraries are timed in alternating blocks, so a busy machine
slows both alike. PyTorch is imported only here, only if installed, and never by the rest of the library.

``in_native_blas`` runs a benchmark command again in a child process without ``OPENBLAS_CORETYPE`` and
``OPENBLAS_L2_SIZE``, the variables that make OpenBLAS use another CPU's kernels than its own (PyTorch's
oneDNN does not read them), so numbers from machines that set them and machines that do not compare.
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


def layer_flops(kind, c_in, c_out, size, k, s, p, batch):
    """Floating-point operations of one forward+backward step of a reference layer: three products (forward,
    input gradient, weight gradient) of 2·N·C_in·C_out·k²·(pixels of the smaller side) each."""
    out = kernels.conv_output_size(size, k, s, p, 1) if kind == "conv" else size
    return 3 * 2 * batch * c_in * c_out * k * k * out * out


def _geometry(kind, x, w, s, p):
    """The conv view of a reference layer (``kernels.plan``), for naming the algorithm it runs."""
    pair, one = (s, s), (1, 1)
    if kind == "conv":
        out = tuple(kernels.conv_output_size(n, k, s, p, 1) for n, k in zip(x.shape[2:], w.shape[2:]))
        return kernels.plan.conv_geometry(x, w, pair, (p, p), one, out)
    out = tuple(kernels.conv_transpose_output_size(n, k, s, p, 0, 1) for n, k in zip(x.shape[2:], w.shape[2:]))
    return kernels.plan.conv_transpose_geometry(x, w, pair, (p, p), one, out)


def matmul_rate(dtype=np.float32, size=2048, repeats=5):
    """GFLOP/s of the best of ``repeats`` size×size matrix products in NumPy's BLAS, with its threads as they are:
    the ceiling of any algorithm made of BLAS products."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((size, size)).astype(dtype) for _ in range(2))
    a @ b
    best = min(_seconds(lambda: a @ b) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def _seconds(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def blas_line():
    """One line naming NumPy's BLAS, its version and the kernel set (architecture) it runs, as threadpoolctl sees
    them, and the environment variables that chose it."""
    from . import parallel

    libs = parallel.blas_info()
    names = ", ".join(f"{lib.get('internal_api')} {lib.get('version')} ({lib.get('architecture')} kernels)"
                      for lib in libs) or "unknown (threadpoolctl sees no BLAS)"
    forced = [f"{v}={os.environ[v]}" for v in BLAS_VARIABLES if v in os.environ]
    return f"NumPy BLAS: {names}" + (f"; set by {' '.join(forced)}" if forced else "")


BLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def in_native_blas(argv, out=print):
    """Run ``deconvlab bench`` with ``argv`` in a child process whose environment lacks BLAS_VARIABLES, printing
    what it prints; returns its exit status."""
    env = {k: v for k, v in os.environ.items() if k not in BLAS_VARIABLES}
    done = subprocess.run([sys.executable, "-m", "deconvlab", "bench"] + list(argv), env=env,
                          capture_output=True, text=True)
    if done.stdout:
        out(done.stdout.rstrip("\n"))
    if done.returncode:
        sys.stderr.write(done.stderr)
    return done.returncode


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


def _timed_blocks(jobs, times, repeats, blocks=3, pause=0.2, warm=1):
    """Time each job ``repeats`` times in all, in ``blocks`` runs of consecutive calls, the jobs taking turns
    block by block (first in alternate order). A pause before each block lets the other library's worker threads
    fall asleep: timed back to back, threads still spinning from one library's call steal cores from the next.
    Each block starts with ``warm`` untimed calls: the first call after the pause wakes the sleeping threads and
    refills the caches, and took 1.2-9 ms longer than the next for both libraries on a reference layer
    (docs/performance.md), which is not what a loop of training steps sees."""
    per_block = [repeats // blocks + (1 if b < repeats % blocks else 0) for b in range(blocks)]
    for b, count in enumerate(per_block):
        order = range(len(jobs)) if b % 2 == 0 else reversed(range(len(jobs)))
        for i in order:
            time.sleep(pause)
            for _ in range(warm):
                jobs[i]()
            for _ in range(count):
                start = time.perf_counter()
                jobs[i]()
                times[i].append(time.perf_counter() - start)


def time_layers(batch=32, dtype=np.float32, repeats=7, layers=REFERENCE_LAYERS, seed=0):
    """Median fwd+bwd seconds per layer for deconvlab and (if installed) PyTorch, timed in alternating blocks.

    Returns a list of dicts with keys name, shape, algorithm, flops, ours, torch (None without PyTorch),
    ours_min, torch_min.
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
        _timed_blocks(jobs, times, repeats)
        medians = [float(np.median(t)) for t in times]
        rows.append(
            dict(
                name=name,
                shape=f"{kind:5s} {c_in:3d}->{c_out:<3d} {size}x{size} k{k} s{s} p{p}",
                algorithm=kernels.plan.choose(_geometry(kind, x, w, s, p)),
                flops=layer_flops(kind, c_in, c_out, size, k, s, p, batch),
                ours=medians[0],
                torch=medians[1] if torch is not None else None,
                ours_min=float(np.min(times[0])),
                torch_min=float(np.min(times[1])) if torch is not None else None,
            )
        )
    return rows


_FIRST_CALL = """
import gc, json, sys, time
t0 = time.perf_counter()
import numpy as np
from deconvlab import kernels
dtype = np.dtype(sys.argv[1])
x = np.ones((1, 2, 6, 6), dtype)
for k, s in ((4, 2), (3, 1)):  # Winograd's tiles: F(2x2, 2x2) and F(4x4, 2x2), then F(2x2, 3x3)
    w, wt = np.ones((3, 2, k, k), dtype), np.ones((2, 3, k, k), dtype)
    for algorithm in sys.argv[2].split(","):
        if algorithm == "winograd4" and k == 3:  # F(4x4, 2x2) is for 2x2 sub-kernels only
            continue
        with kernels.plan.forced(algorithm):
            y = kernels.conv2d_forward(x, w, None, s, 1)
            kernels.conv2d_backward(y, x, w, s, 1)
            z = kernels.conv_transpose2d_forward(x, wt, None, s, 1)
            kernels.conv_transpose2d_backward(z, x, wt, s, 1)
seconds = time.perf_counter() - t0
from numba.core.registry import CPUDispatcher
functions = []
for obj in gc.get_objects():
    if isinstance(obj, CPUDispatcher) and obj.py_func.__module__.startswith("deconvlab."):
        for result in obj.overloads.values():
            timers = (getattr(result, "metadata", None) or {}).get("timers", {})
            if timers:
                functions.append([obj.py_func.__module__[len("deconvlab."):] + "." + obj.py_func.__name__,
                                  timers.get("compiler_lock", 0.0), timers.get("llvm_lock", 0.0)])
print(json.dumps(dict(seconds=seconds, functions=functions)))
"""


def _first_call_runs(dtype, algorithms):
    """The two fresh-process runs of ``time_first_call``: their parsed reports (seconds, compiled functions)."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        runs = []
        for _ in range(2):
            out = subprocess.run(
                [sys.executable, "-c", _FIRST_CALL, dtype, ",".join(algorithms)], env=env, capture_output=True,
                text=True, check=True,
            )
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return runs


def time_first_call(dtype="float32", algorithms=kernels.plan.ALGORITHMS):
    """Seconds from a fresh interpreter to the first result of all four kernels by each of ``algorithms`` (every
    algorithm by default), on a k4 s2 and a k3 s1 layer (Winograd's three tile forms): (cold, warm).

    cold: with an empty Numba cache (everything compiles); warm: a second process reusing that cache.
    """
    cold, warm = _first_call_runs(dtype, algorithms)
    return cold["seconds"], warm["seconds"]


def compile_report(dtype="float32"):
    """Where the cold start goes: a dict with ``cold_s`` / ``warm_s`` (``time_first_call``, every algorithm),
    ``default_cold_s`` / ``default_warm_s`` (the same for the algorithms the default rule chooses,
    ``kernels.plan.DEFAULT_ALGORITHMS``), and ``functions``: (name, seconds, LLVM seconds) of every signature
    compiled in the cold run of every algorithm, slowest first. A function's seconds are Numba's compiler-lock
    time for it, which includes compiling the functions it calls the first time it needs them; LLVM seconds
    are the part spent in LLVM (optimisation and machine code)."""
    cold, warm = _first_call_runs(dtype, kernels.plan.ALGORITHMS)
    default_cold, default_warm = _first_call_runs(dtype, kernels.plan.DEFAULT_ALGORITHMS)
    functions = sorted((tuple(f) for f in cold["functions"]), key=lambda f: -f[1])
    return dict(time_unit="seconds", dtype=dtype, cold_s=cold["seconds"], warm_s=warm["seconds"],
                default_cold_s=default_cold["seconds"], default_warm_s=default_warm["seconds"],
                functions=functions)


def run_compile_benchmark(dtype="float32", as_json=False, out=print):
    """Print ``compile_report``: the compiled functions and their seconds, then the totals (or, with ``as_json``,
    the report as JSON). Returns the report."""
    report = compile_report(dtype)
    if as_json:
        out(json.dumps(report, indent=2))
        return report
    out(f"{'compiled function (' + dtype + ')':44s} {'seconds':>8s} {'LLVM':>6s}")
    for name, seconds, llvm in report["functions"]:
        out(f"{name:44s} {seconds:8.2f} {llvm:6.2f}")
    out(f"{len(report['functions'])} signatures, {sum(f[1] for f in report['functions']):.2f} s in the compiler "
        f"({sum(f[2] for f in report['functions']):.2f} s of it in LLVM)")
    out(f"first result in a fresh process, every algorithm ({', '.join(kernels.plan.ALGORITHMS)}): "
        f"{report['cold_s']:.2f} s with an empty compile cache, {report['warm_s']:.2f} s with the cache present")
    out(f"the same for the algorithms the default rule chooses ({', '.join(kernels.plan.DEFAULT_ALGORITHMS)}): "
        f"{report['default_cold_s']:.2f} s and {report['default_warm_s']:.2f} s")
    return report


def threads_line():
    """One line saying how many threads each side used: deconvlab's batch parts and PyTorch's intra-op threads."""
    from . import parallel

    parts = parallel.get_num_threads()
    line = f"threads: deconvlab {parts}" + (" (the batch split in parts, BLAS single-threaded in each)" if parts > 1 else "")
    torch = _import_torch()
    return line + (f", torch {torch.get_num_threads()}" if torch is not None else "")


def format_table(rows):
    """The benchmark table as text: ms per layer, PyTorch's ms and the ratio, the GFLOP/s of each, the
    algorithm deconvlab ran, then the totals."""
    lines = [f"{'layer':34s} {'deconvlab ms':>12s} {'torch ms':>9s} {'ratio':>6s} {'GFLOP/s':>8s} {'torch':>6s}"
             "  algorithm"]
    for r in rows:
        theirs = " " * 16 if r["torch"] is None else f"{r['torch'] * 1e3:9.2f} {r['ours'] / r['torch']:6.2f}"
        rates = f"{r['flops'] / r['ours'] / 1e9:8.0f} "
        rates += "" if r["torch"] is None else f"{r['flops'] / r['torch'] / 1e9:6.0f}"
        lines.append(f"{r['name']}) {r['shape']:31s} {r['ours'] * 1e3:12.2f} {theirs} {rates}  {r['algorithm']}")
    ours = sum(r["ours"] for r in rows)
    flops = sum(r["flops"] for r in rows)
    total = f"{'total':34s} {ours * 1e3:12.2f}"
    if all(r["torch"] is not None for r in rows):
        theirs = sum(r["torch"] for r in rows)
        total += f" {theirs * 1e3:9.2f} {ours / theirs:6.2f} {flops / ours / 1e9:8.0f} {flops / theirs / 1e9:6.0f}"
    else:
        total += f" {flops / ours / 1e9:25.0f}   (PyTorch not installed: no ratio)"
    lines.append(total)
    return "\n".join(lines)


def run_kernels_benchmark(batch=32, repeats=7, dtype="float32", compile_times=True, as_json=False, out=print):
    """Print the kernel benchmark (and, with compile_times, cold and warm first-call times): a table in
    milliseconds, or with ``as_json`` a JSON object whose times are in seconds (its ``time_unit``). Returns it."""
    rows = time_layers(batch=batch, dtype=np.dtype(dtype), repeats=repeats)
    result = dict(time_unit="seconds", threads=threads_line(), blas=blas_line(),
                  matmul_gflops=matmul_rate(np.dtype(dtype)), layers=rows)
    if compile_times:
        result["cold_first_call_s"], result["warm_first_call_s"] = time_first_call(dtype)
    if as_json:
        out(json.dumps(result, indent=2))
        return result
    out(f"forward+backward, batch {batch}, {dtype}, median of {repeats} warm runs, timed in alternating blocks")
    out(threads_line())
    out(f"{result['blas']}; a 2048x2048 matrix product runs at {result['matmul_gflops']:.0f} GFLOP/s")
    out(format_table(rows))
    if compile_times:
        out(
            f"first result in a fresh process: {result['cold_first_call_s']:.2f} s with an empty compile cache, "
            f"{result['warm_first_call_s']:.2f} s with the cache present"
        )
    return result


def _torch_inpaintnet(torch, model):
    """PyTorch's twin of an InpaintNet: the same layers and forward, the same initial parameters."""
    nn = torch.nn

    class TorchInpaintNet(nn.Module):
        def __init__(self):
            super().__init__()
            for name, layer in model.named_children():
                if name == "act":
                    continue
                kind = nn.Conv2d if type(layer).__name__ == "Conv2d" else nn.ConvTranspose2d
                extra = {"output_padding": layer.output_padding} if kind is nn.ConvTranspose2d else {}
                setattr(self, name, kind(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                                         layer.padding, dilation=layer.dilation, **extra))
            self.act = nn.LeakyReLU(0.2)

        def forward(self, x, m):
            known = 1 - m
            mean = (x * known).sum((2, 3), keepdim=True) / known.sum((2, 3), keepdim=True).clamp(min=1)
            base = known * x + m * mean
            a = self.act
            e1 = a(self.enc1(torch.cat([base, m], 1)))
            e2 = a(self.enc2(e1))
            e3 = a(self.enc3(e2))
            h = a(self.mid(a(self.enc4(e3))))
            d3 = a(self.dec3(h))
            d2 = a(self.dec2(torch.cat([d3, e3], 1)))
            d1 = a(self.dec1(torch.cat([d2, e2], 1)))
            return base + m * self.out(torch.cat([d1, e1], 1))

    twin = TorchInpaintNet()
    twin.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in model.state_dict().items()})
    return twin


class _Stopwatch:
    """Accumulates the wall time spent inside wrapped functions, per bucket."""

    def __init__(self):
        self.spent = {}
        self._undo = []

    def wrap(self, owner, name, bucket):
        original = getattr(owner, name)
        raw = owner.__dict__.get(name)  # a staticmethod object must be put back as itself
        nested = isinstance(raw, staticmethod)

        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.spent[bucket] = self.spent.get(bucket, 0.0) + time.perf_counter() - start

        setattr(owner, name, staticmethod(wrapper) if nested else wrapper)
        self._undo.append((owner, name, raw if nested else original))

    def restore(self):
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)
        self._undo = []


def _all_functions(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_functions(sub)


def time_train_step(width=32, batch=32, size=32, repeats=10, seed=0):
    """Median seconds of one training step (forward, hole MSE, backward, gradient clipping, Adam) of InpaintNet
    in deconvlab and, if installed, of the same network in PyTorch, timed in alternating blocks on the same batch.

    Also splits deconvlab's step: time inside the convolution kernels, inside all other operations' forward and
    backward arithmetic, inside the optimiser and clipping, and the rest — the autograd's bookkeeping (graph
    recording, topological sort, gradient routing). Returns a dict of medians in seconds.
    """
    from . import autograd, models, optim
    from . import functional as F
    from . import kernels as K

    rng = np.random.default_rng(seed)
    x = rng.random((batch, 3, size, size)).astype(np.float32)
    m = np.zeros((batch, 1, size, size), np.float32)
    m[:, :, size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 1
    model = models.InpaintNet(width, rng=rng)
    opt = optim.Adam(list(model.parameters()), lr=1e-4)
    hole = np.broadcast_to(m, x.shape)

    def step():
        loss = F.mse_loss(model(x, m), x, mask=hole)
        opt.zero_grad()
        loss.backward()
        optim.clip_grad_norm(model.parameters(), 1.0)
        opt.step()

    watch = _Stopwatch()
    shares = []

    def ours():
        watch.spent = {}
        step()
        shares.append(dict(watch.spent))

    jobs = [ours]
    torch = _import_torch()
    if torch is not None:
        twin = _torch_inpaintnet(torch, model)
        topt = torch.optim.Adam(twin.parameters(), lr=1e-4)
        xt, mt, ht = torch.from_numpy(x), torch.from_numpy(m), torch.from_numpy(hole.copy())

        def theirs():
            out = twin(xt, mt)
            loss = ((out - xt) ** 2 * ht).sum() / ht.sum()
            topt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(twin.parameters(), 1.0)
            topt.step()

        jobs.append(theirs)
    for job in jobs:
        job()
    times = [[] for _ in jobs]
    for name in ("conv2d_forward", "conv2d_backward", "conv_transpose2d_forward", "conv_transpose2d_backward"):
        watch.wrap(K, name, "kernels")
    for fn in _all_functions(autograd.Function):
        for name in ("forward", "backward"):
            if name in fn.__dict__:
                watch.wrap(fn, name, "operations")
    watch.wrap(opt, "step", "optimizer")
    watch.wrap(optim, "clip_grad_norm", "optimizer")
    try:
        _timed_blocks(jobs, times, repeats)
    finally:
        watch.restore()
    ours_s = float(np.median(times[0]))
    kernels = float(np.median([s.get("kernels", 0.0) for s in shares]))
    operations = float(np.median([s.get("operations", 0.0) for s in shares]))
    optimizer = float(np.median([s.get("optimizer", 0.0) for s in shares]))
    return dict(
        ours=ours_s,
        torch=float(np.median(times[1])) if torch is not None else None,
        kernels=kernels,
        other_operations=max(0.0, operations - kernels),
        optimizer=optimizer,
        bookkeeping=max(0.0, ours_s - operations - optimizer),
        width=width, batch=batch, size=size, parameters=int(sum(p.data.size for p in model.parameters())),
    )


def run_train_step_benchmark(width=32, batch=32, repeats=10, as_json=False, out=print):
    """Print the training-step benchmark: deconvlab vs PyTorch, and where deconvlab's time goes."""
    r = time_train_step(width=width, batch=batch, repeats=repeats)
    if as_json:
        out(json.dumps(dict(time_unit="seconds", threads=threads_line(), blas=blas_line(), **r), indent=2))
        return r
    out(f"InpaintNet width {width} ({r['parameters']} parameters), batch {batch} of {r['size']}x{r['size']}, "
        f"median of {repeats} steps (forward, hole MSE, backward, clipping, Adam), timed in alternating blocks")
    out(threads_line())
    out(blas_line())
    line = f"deconvlab {r['ours'] * 1e3:8.1f} ms"
    if r["torch"] is not None:
        line += f"   torch {r['torch'] * 1e3:8.1f} ms   ratio {r['ours'] / r['torch']:.2f}"
    out(line)
    parts = [("convolution kernels", r["kernels"]), ("other operations", r["other_operations"]),
             ("optimizer and clipping", r["optimizer"]), ("autograd bookkeeping", r["bookkeeping"])]
    out("deconvlab's step: " + ", ".join(f"{name} {t * 1e3:.1f} ms ({t / r['ours']:.0%})" for name, t in parts))
    return r
