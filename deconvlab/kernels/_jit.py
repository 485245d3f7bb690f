"""The one place deconvlab asks Numba to compile: ``njit`` with a disk cache where one can be written.

Imports only Numba and the standard library. Caching follows Numba's own rules (``NUMBA_CACHE_DIR`` if
set, else ``__pycache__`` beside the source, else a per-user directory). When none of those is writable
(a read-only install), the kernels compile in memory on each run instead, with one warning.
``NUMBA_DISABLE_JIT=1`` makes ``njit`` return the plain Python function, so the same code runs uncompiled.
"""
import warnings

import numba

_warned = False


def njit(parallel=False, inline="never"):
    """Decorator: compile with ``numba.njit(cache=..., parallel=..., inline=...)``, never failing at import time.

    ``inline="always"`` is for the small helpers of the compiled loops (a few arithmetic lines): Numba then
    copies their statements into each caller instead of compiling them as functions of their own, which saves
    a compilation each (about 50 ms) and costs nothing at run time (LLVM inlined them anyway).

    No ``fastmath``: results must match the readable loops to the last bits a float64 sum allows.
    """

    def decorate(fn):
        global _warned
        try:
            return numba.njit(cache=True, parallel=parallel, nogil=True, inline=inline)(fn)
        except RuntimeError as exc:  # Numba: "cannot cache function ...: no locator available"
            if not _warned:
                _warned = True
                warnings.warn(
                    f"deconvlab: Numba cannot write a compile cache ({exc}); kernels will be compiled "
                    "in memory on every run. Set NUMBA_CACHE_DIR to a writable directory to avoid this.",
                    RuntimeWarning,
                    stacklevel=2,
                )
            return numba.njit(cache=False, parallel=parallel, nogil=True, inline=inline)(fn)

    return decorate
