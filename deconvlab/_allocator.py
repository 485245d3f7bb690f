"""glibc's malloc told to keep large freed blocks for reuse; imports only the standard library.

A training step allocates and frees the same large arrays (activations, gradients, column matrices) again and
again. By default glibc serves each large allocation with a fresh ``mmap`` and returns it to the system when
freed, so every step touches new pages and pays a page fault for each 4 KB of them: 1 300 to 8 300 faults and
5-20 ms of system time per InpaintNet step on the development machine, a tenth of the step. ``tune()`` raises
the two thresholds that decide this (``mallopt``): allocations up to MMAP_THRESHOLD come from the heap, and up
to TRIM_THRESHOLD of freed memory at its top is kept for the next allocation instead of being returned. The
process then holds on to up to that much memory it no longer uses (it is reused, not lost).

``import deconvlab`` calls ``tune()`` once, unless the environment variable ``DECONVLAB_MALLOC=0`` is set. It
does nothing where there is no glibc (macOS, Windows, musl), and never raises.
"""
import ctypes
import os
import sys

ENV = "DECONVLAB_MALLOC"
MMAP_THRESHOLD = 64 << 20
TRIM_THRESHOLD = 256 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's parameter numbers (malloc.h)


def tune():
    """Set glibc's M_MMAP_THRESHOLD and M_TRIM_THRESHOLD (see the module docstring); True if both were set."""
    if os.environ.get(ENV, "1").strip() == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
