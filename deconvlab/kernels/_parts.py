"""Running a kernel's batch in parts, one part per core, each part with a single-threaded BLAS.

Imports NumPy, the standard library and threadpoolctl. Why not let BLAS thread each matrix product? The products
here are small (a few MFLOP each, one per chunk of samples), and between them come memory-bound copies that run
on one core while BLAS's threads wait. Splitting the batch instead, each part does its own copies and products
on its own core, start to end, sharing nothing but the inputs, and the parts finish together. Measured on 2
cores, the six reference layers called back to back took 66 ms in one part with a 2-thread BLAS and 53 ms in
two parts.

How many threads:

- ``DECONVLAB_NUM_THREADS=k`` (a positive integer) is the kernels' thread budget: k parts, each with a
  single-threaded BLAS; with one part (k = 1, or a batch of one sample) BLAS is held to k threads.
- Unset, the number of parts is the number of threads the BLAS would use right now, so ``OMP_NUM_THREADS=1``,
  ``OPENBLAS_NUM_THREADS=1`` or threadpoolctl's ``threadpool_limits(1)`` make the kernels single-threaded too;
  a batch of one sample runs on the caller's thread with BLAS's own threads.
- While a split call runs, the BLAS limit holds for the whole process: NumPy products in other Python threads
  are single-threaded meanwhile (their results do not change).

Results do not depend on timing: each part is a fixed range of samples, and callers combine the parts in order.
Without threadpoolctl (or a BLAS it recognises) the kernels run in one part. The very first split call of a
process runs on the caller's thread: it is where Numba sets itself up, loading (if installed) SciPy's BLAS,
which sizes its thread pool by the CPUs of the thread that loads it, and deconvlab's workers are pinned to one
CPU each.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

ENV = "DECONVLAB_NUM_THREADS"

_lock = threading.Lock()
_state = {"controller": None, "pool": None, "pool_pid": None, "pool_size": 0, "active": 0, "limiter": None}


def _controller():
    """threadpoolctl's view of the BLAS libraries loaded in this process (None if it cannot see any)."""
    if _state["controller"] is None:
        try:
            from threadpoolctl import ThreadpoolController

            controller = ThreadpoolController().select(user_api="blas")
            _state["controller"] = controller if controller.lib_controllers else False
        except Exception:  # threadpoolctl missing or unable to inspect this platform
            _state["controller"] = False
    return _state["controller"] or None


def thread_budget():
    """``DECONVLAB_NUM_THREADS`` as an int, or None when unset or blank.

    Raises ValueError naming the variable if it is set to anything but a positive integer.
    """
    env = os.environ.get(ENV, "").strip()
    if not env:
        return None
    if not env.isdigit() or int(env) < 1:
        raise ValueError(f"{ENV} must be a positive integer (the number of threads), got {env!r}")
    return int(env)


def num_parts():
    """How many parts a batch is split into now: ``DECONVLAB_NUM_THREADS`` if set, else the BLAS's thread count
    (1 without threadpoolctl)."""
    budget = thread_budget()
    controller = _controller()
    if controller is None:
        return 1
    if budget is not None:
        return budget
    return max(1, max(lib.num_threads for lib in controller.lib_controllers))


def _enter_blas_limit(threads):
    """Limit BLAS to ``threads`` while any split job runs (concurrent callers share the first caller's limit)."""
    with _lock:
        if _state["active"] == 0:
            _state["limiter"] = _controller().limit(limits=threads)
        _state["active"] += 1


def _leave_blas_limit():
    with _lock:
        _state["active"] -= 1
        if _state["active"] == 0:
            _state["limiter"].restore_original_limits()
            _state["limiter"] = None


def bounds(n, parts):
    """Split range(n) into ``parts`` contiguous [start, stop) ranges whose sizes differ by at most one."""
    return [(n * k // parts, n * (k + 1) // parts) for k in range(parts)]


def _pin(cpus, taken):
    """Thread initializer: bind this worker to one of the allowed CPUs, a different one for each worker.

    Left to itself, the scheduler may wake a worker that slept a while on the CPU of the thread that woke it,
    and both then run at half speed until it moves one (measured: layers up to 60% slower after a pause of
    0.2 s). Workers pinned apart never share a CPU. Only deconvlab's own threads are pinned."""
    with _lock:
        k = len(taken)
        taken.append(k)
    try:
        os.sched_setaffinity(0, {cpus[k % len(cpus)]})
    except (AttributeError, OSError):  # not Linux, or not permitted: run unpinned
        pass


def _pool(parts):
    """deconvlab's worker threads (at least ``parts``), made anew after a fork (threads do not survive one)."""
    with _lock:
        pool = _state["pool"]
        if pool is None or _state["pool_pid"] != os.getpid() or _state["pool_size"] < parts:
            try:
                cpus = sorted(os.sched_getaffinity(0))
            except AttributeError:  # not Linux
                cpus = []
            init, args = (_pin, (cpus, [])) if len(cpus) >= parts else (None, ())
            if pool is not None and _state["pool_pid"] == os.getpid():
                pool.shutdown(wait=False)
            pool = ThreadPoolExecutor(parts, thread_name_prefix="deconvlab", initializer=init, initargs=args)
            _state["pool"], _state["pool_pid"], _state["pool_size"] = pool, os.getpid(), parts
        return pool


def run_in_parts(n, job):
    """[job(n0, n1) for each part [n0, n1) of range(n)], the parts run side by side; results in part order.

    ``job`` must touch only its own samples' slices of any shared output, and must not call ``run_in_parts``.
    The parts run on deconvlab's worker threads under the caller's ``np.errstate`` while the caller waits; the
    first error raised by a part is raised here once all parts have stopped. One part (or one sample, or the
    first split call of the process): a plain call ``job(0, n)`` on the caller's thread, with BLAS held to the
    thread budget if ``DECONVLAB_NUM_THREADS`` sets one.
    """
    budget = thread_budget()
    parts = min(num_parts(), n)
    if parts > 1 and _state.get("warm_pid") != os.getpid():  # the first split call sets Numba up, unpinned
        _state["warm_pid"] = os.getpid()
        parts = 1
    if parts <= 1:
        if budget is None or _controller() is None:
            return [job(0, n)]
        _enter_blas_limit(budget)
        try:
            return [job(0, n)]
        finally:
            _leave_blas_limit()
    pool = _pool(parts)
    errors = np.geterr()  # NumPy's error handling is per thread: the parts obey the caller's np.errstate

    def part(n0, n1):
        with np.errstate(**errors):
            return job(n0, n1)

    futures = []
    _enter_blas_limit(1)
    try:
        futures = [pool.submit(part, n0, n1) for n0, n1 in bounds(n, parts)]
        return [f.result() for f in futures]
    finally:
        for f in futures:  # after an error, let the other parts stop before BLAS gets its threads back
            f.exception()
        _leave_blas_limit()
