"""The thread budget and the batch split: how deconvlab uses the cores; imports NumPy, the standard library and
(optionally) threadpoolctl, nothing else from deconvlab.

The convolution kernels and the batched harmonic fill split a batch into contiguous parts, one per thread,
and run every part start to end on its own core: its copies and its matrix products, with BLAS held to one
thread inside. (The products are small and the copies between them are memory-bound: letting BLAS thread
each product would leave the copies on one core while BLAS's threads wait. docs/performance.md has the
measurements.)

How many threads (``get_num_threads()``):

- ``set_num_threads(k)``, else the environment variable ``DECONVLAB_NUM_THREADS=k`` (read once, when first
  needed; ``set_num_threads(None)`` goes back to it and reads it again): a budget of k threads. A batch is
  split into k parts, each with a single-threaded BLAS; with one part (k = 1, or a batch of one sample)
  BLAS is held to k threads instead (at most the CPUs the process may use: more only spin).
- Neither set: as many parts as the BLAS would use threads right now, so ``OMP_NUM_THREADS=1``,
  ``OPENBLAS_NUM_THREADS=1`` or threadpoolctl's ``threadpool_limits(1)`` make deconvlab single-threaded too;
  a batch of one sample runs on the caller's thread with BLAS's own threads.
- Without threadpoolctl (or a BLAS it recognises) every batch runs in one part.

Results do not depend on timing: each part is a fixed range of samples, and callers combine the parts in
order. They may depend on the number of parts in the last bits (a sum split in two parts is added in
another order), so results are bit-for-bit repeatable for a given thread count.

Process-wide effects (everything this module does beyond the caller's own thread):

1. BLAS limit. While a split call runs, the BLAS of the whole process is limited (threadpoolctl) to one
   thread, or to the budget for a one-part call with a budget set: NumPy products in other Python threads
   are single-threaded meanwhile (their results do not change). The previous limits come back when the last
   concurrent call ends, also after an error.
2. Worker threads. deconvlab keeps its own pool of worker threads (named ``deconvlab_*``), as many as the
   largest split so far; a forked child makes a new pool (threads do not survive a fork).
3. CPU pinning. On Linux each worker is bound to a different one of the CPUs the process may use
   (``os.sched_setaffinity`` on the worker thread only), so two workers never share a CPU after the
   scheduler woke one up on the other's. Without permission, or on other systems, workers run unpinned.
4. First call on the caller's thread. The first split call of a process runs as one part on the caller's
   thread: it is where Numba sets itself up, loading (if installed) SciPy's BLAS, which sizes its own thread
   pool by the CPUs of the thread that loads it — a pinned worker would leave it one CPU for good.
5. NumPy's error state (``np.errstate``) is per thread: the parts run under the caller's.
"""
import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

ENV = "DECONVLAB_NUM_THREADS"

_UNREAD = object()


class _State:
    """All of this module's state, in one place (one instance, ``_state``)."""

    def __init__(self):
        self.requested = None  # set_num_threads(k): k, or None to follow the environment
        self.environment = _UNREAD  # DECONVLAB_NUM_THREADS as read: an int, None (unset), or _UNREAD
        self.controller = None  # threadpoolctl's view of the BLAS libraries; False when there is none
        self.pool = None  # the worker threads ...
        self.pool_pid = None  # ... of this process id ...
        self.pool_size = 0  # ... and how many
        self.active = 0  # split calls running now (they share one BLAS limit)
        self.limiter = None  # threadpoolctl's handle on that limit, to restore it
        self.warmed_pid = None  # the process whose first split call has run (effect 4)


_state = _State()
_lock = threading.Lock()
_in_part = threading.local()  # .active is True on a worker thread while it runs a part


MAX_THREADS = 1024
"""The largest thread budget accepted."""


def _parse(text, source):
    """A thread count from its text: an integer from 1 to MAX_THREADS; ValueError naming ``source`` otherwise."""
    text = text.strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_THREADS:
        raise ValueError(f"{source} must be a positive integer (the number of threads, at most {MAX_THREADS}), "
                         f"got {text!r}")
    return int(text)


def environment_budget():
    """``DECONVLAB_NUM_THREADS`` as an int, or None when unset or blank; read on the first call (and again after
    ``set_num_threads(None)``). A value that is not a positive integer is a ValueError naming the variable,
    on this call and every later one."""
    if _state.environment is _UNREAD:
        text = os.environ.get(ENV, "")
        _state.environment = _parse(text, ENV) if text.strip() else None
    return _state.environment


def set_num_threads(n):
    """Set the thread budget to ``n`` (a positive int), or with ``None`` go back to the default:
    ``DECONVLAB_NUM_THREADS`` (read again now), else BLAS's thread count."""
    if n is None:
        _state.requested = None
        _state.environment = _UNREAD
        return
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= MAX_THREADS:
        raise ValueError(f"set_num_threads: expected a positive integer (at most {MAX_THREADS}) or None, got {n!r}")
    _state.requested = int(n)


def thread_budget():
    """The budget in force: ``set_num_threads``'s value, else ``DECONVLAB_NUM_THREADS``, else None (no budget:
    follow BLAS)."""
    return _state.requested if _state.requested is not None else environment_budget()


def _controller():
    """threadpoolctl's view of the BLAS libraries loaded in this process (None if it cannot see any)."""
    if _state.controller is None:
        try:
            from threadpoolctl import ThreadpoolController

            controller = ThreadpoolController().select(user_api="blas")
            _state.controller = controller if controller.lib_controllers else False
        except Exception:  # threadpoolctl missing or unable to inspect this platform
            _state.controller = False
    return _state.controller or None


def blas_info():
    """What threadpoolctl says of the BLAS libraries in this process: a list of dicts (internal_api such as
    'openblas', version, num_threads, architecture — the kernel set in use, e.g. 'Haswell' or 'SkylakeX'),
    empty without threadpoolctl."""
    controller = _controller()
    return [] if controller is None else [lib.info() for lib in controller.lib_controllers]


def cpu_count():
    """The number of CPUs this process may run on (its affinity mask on Linux, else ``os.cpu_count()``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


L2_DEFAULT = 1 << 20
"""The level-2 cache size assumed where the machine does not say (1 MB)."""


def l2_cache_bytes(root="/sys/devices/system/cpu/cpu0/cache"):
    """The size in bytes of the first CPU's level-2 cache (one core's, on current x86 and ARM servers), as
    Linux's sysfs reports it (``index*/level`` 2, a data or unified cache; its ``size`` such as ``2048K``),
    clamped to 256 KB … 8 MB; ``L2_DEFAULT`` where it cannot be read (other systems)."""
    try:
        for entry in sorted(os.listdir(root)):
            folder = os.path.join(root, entry)
            with open(os.path.join(folder, "level")) as f:
                level = f.read().strip()
            with open(os.path.join(folder, "type")) as f:
                kind = f.read().strip()
            if level == "2" and kind in ("Data", "Unified"):
                with open(os.path.join(folder, "size")) as f:
                    text = f.read().strip().upper()
                scale = {"K": 1 << 10, "M": 1 << 20}.get(text[-1:], 1)
                size = int(text.rstrip("KM")) * scale
                return min(max(size, 1 << 18), 1 << 23)
    except (OSError, ValueError):
        pass
    return L2_DEFAULT


def get_num_threads():
    """How many parts a batch of many samples is split into now: the budget if one is set, else the BLAS's
    thread count; 1 without threadpoolctl."""
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
        if _state.active == 0:
            _state.limiter = _controller().limit(limits=threads)
        _state.active += 1


def _leave_blas_limit():
    with _lock:
        _state.active -= 1
        if _state.active == 0:
            _state.limiter.restore_original_limits()
            _state.limiter = None


@contextlib.contextmanager
def serial_blas():
    """``with serial_blas(): ...`` — BLAS held to one thread in the block (as inside a part; nothing changes on a
    worker thread, where it already is, or without threadpoolctl). For the small products a kernel call makes on
    the caller's thread before or after its parts (Winograd's weight transforms): run on BLAS's own threads,
    such a product leaves them spinning for a while, and they take the cores from the parts that follow
    (a 64->128 k4 s2 layer's forward and backward took 12-15 ms instead of 8; docs/performance.md)."""
    if getattr(_in_part, "active", False) or _controller() is None:
        yield
        return
    _enter_blas_limit(1)
    try:
        yield
    finally:
        _leave_blas_limit()


def bounds(n, parts):
    """Split range(n) into ``parts`` contiguous [start, stop) ranges whose sizes differ by at most one."""
    return [(n * k // parts, n * (k + 1) // parts) for k in range(parts)]


def _pin(cpus, taken):
    """Thread initializer: bind this worker to one of the allowed CPUs, a different one for each worker
    (effect 3 of the module docstring)."""
    with _lock:
        k = len(taken)
        taken.append(k)
    try:
        os.sched_setaffinity(0, {cpus[k % len(cpus)]})
    except (AttributeError, OSError):  # not Linux, or not permitted: run unpinned
        pass


def _pool(parts):
    """deconvlab's worker threads (at least ``parts``), made anew after a fork."""
    with _lock:
        pool = _state.pool
        if pool is None or _state.pool_pid != os.getpid() or _state.pool_size < parts:
            try:
                cpus = sorted(os.sched_getaffinity(0))
            except AttributeError:  # not Linux
                cpus = []
            init, args = (_pin, (cpus, [])) if len(cpus) >= parts else (None, ())
            if pool is not None and _state.pool_pid == os.getpid():
                pool.shutdown(wait=False)
            pool = ThreadPoolExecutor(parts, thread_name_prefix="deconvlab", initializer=init, initargs=args)
            _state.pool, _state.pool_pid, _state.pool_size = pool, os.getpid(), parts
        return pool


def run_in_parts(n, job):
    """[job(n0, n1) for each part [n0, n1) of range(n)], the parts run side by side; results in part order.

    ``job`` must touch only its own samples' slices of any shared output. A ``run_in_parts`` call made inside a
    part (a whole network run per sample, whose kernels split their batches too) runs as one part on that
    thread: the parts do not split again, and BLAS stays at the one thread the outer call set. The parts run
    on deconvlab's worker threads under the caller's ``np.errstate`` while the caller waits; the first error
    raised by a part is raised here once all parts have stopped. One part (or one sample, or the first split
    call of the process): a plain call ``job(0, n)`` on the caller's thread, with BLAS held to the thread
    budget (at most the CPU count) if one is set.
    """
    if getattr(_in_part, "active", False):
        return [job(0, n)]
    budget = thread_budget()
    parts = min(get_num_threads(), n)
    if parts > 1 and _state.warmed_pid != os.getpid():  # effect 4: the first split call runs unsplit
        _state.warmed_pid = os.getpid()
        parts = 1
    if parts <= 1:
        if budget is None or _controller() is None:
            return [job(0, n)]
        _enter_blas_limit(min(budget, cpu_count()))  # more BLAS threads than CPUs only spin
        try:
            return [job(0, n)]
        finally:
            _leave_blas_limit()
    pool = _pool(parts)
    errors = np.geterr()

    def part(n0, n1):
        _in_part.active = True
        try:
            with np.errstate(**errors):
                return job(n0, n1)
        finally:
            _in_part.active = False

    futures = []
    _enter_blas_limit(1)
    try:
        futures = [pool.submit(part, n0, n1) for n0, n1 in bounds(n, parts)]
        return [f.result() for f in futures]
    finally:
        for f in futures:  # after an error, let the other parts stop before BLAS gets its threads back
            f.exception()
        _leave_blas_limit()
