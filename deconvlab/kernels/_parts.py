"""Running a kernel's batch in parts, one part per core, each part with a single-threaded BLAS.

Imports NumPy, the standard library and threadpoolctl. Why not let BLAS thread each matrix product? The products
here are small (a few MFLOP each, one per chunk of samples), and between them come memory-bound copies that run
on one core. A multi-threaded BLAS wakes its threads for every product and leaves them spinning through the
copies; measured on 2 cores, layers called back to back then ran up to three times slower than with a pause
between them. Splitting the batch instead, each part does its own copies and products on its own core, start to
end, sharing nothing but the inputs, and the parts finish together.

The number of parts is ``DECONVLAB_NUM_THREADS`` if set, else the number of threads the BLAS would use right now
(so ``OMP_NUM_THREADS=1``, ``OPENBLAS_NUM_THREADS=1`` or threadpoolctl's ``threadpool_limits(1)`` make the kernels
single-threaded too). With one part, or a batch of one sample, the caller's thread runs the job and BLAS keeps
its threads. Results do not depend on timing: each part is a fixed range of samples, and callers combine the
parts in order. Without threadpoolctl (or a BLAS it recognises) the kernels run in one part.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

ENV = "DECONVLAB_NUM_THREADS"

_lock = threading.Lock()
_state = {"controller": None, "pool": None, "pool_pid": None, "active": 0, "limiter": None}


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


def num_parts():
    """How many parts a batch is split into now: ``DECONVLAB_NUM_THREADS`` if set, else the BLAS's thread count.

    Raises ValueError naming the variable if it is set to anything but a positive integer.
    """
    controller = _controller()
    if controller is None:
        return 1
    env = os.environ.get(ENV, "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"{ENV} must be a positive integer (the number of threads), got {env!r}")
        return int(env)
    return max(1, max(lib.num_threads for lib in controller.lib_controllers))


def _enter_single_blas():
    """Limit BLAS to one thread while any split job runs (concurrent callers share one limit)."""
    with _lock:
        if _state["active"] == 0:
            _state["limiter"] = _controller().limit(limits=1)
        _state["active"] += 1


def _leave_single_blas():
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
        if pool is None or _state["pool_pid"] != os.getpid() or pool._max_workers < parts:
            try:
                cpus = sorted(os.sched_getaffinity(0))
            except AttributeError:  # not Linux
                cpus = []
            init, args = (_pin, (cpus, [])) if len(cpus) >= parts else (None, ())
            if pool is not None and _state["pool_pid"] == os.getpid():
                pool.shutdown(wait=False)
            pool = ThreadPoolExecutor(parts, thread_name_prefix="deconvlab", initializer=init, initargs=args)
            _state["pool"], _state["pool_pid"] = pool, os.getpid()
        return pool


def run_in_parts(n, job):
    """[job(n0, n1) for each part [n0, n1) of range(n)], the parts run side by side; results in part order.

    ``job`` must touch only its own samples' slices of any shared output, and must not call ``run_in_parts``.
    The parts run on deconvlab's worker threads under the caller's ``np.errstate`` while the caller waits; the
    first error raised by a part is raised here once all parts have stopped. One part (or one sample): a
    plain call ``job(0, n)`` on the caller's thread.
    """
    parts = min(num_parts(), n)
    if parts <= 1:
        return [job(0, n)]
    pool = _pool(parts)
    errors = np.geterr()  # NumPy's error handling is per thread: the parts obey the caller's np.errstate

    def part(n0, n1):
        with np.errstate(**errors):
            return job(n0, n1)

    futures = []
    _enter_single_blas()
    try:
        futures = [pool.submit(part, n0, n1) for n0, n1 in bounds(n, parts)]
        return [f.result() for f in futures]
    finally:
        for f in futures:  # after an error, let the other parts stop before BLAS gets its threads back
            f.exception()
        _leave_single_blas()
