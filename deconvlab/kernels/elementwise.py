"""Compiled element-by-element loops for the activations of a network's large arrays; imports NumPy and _jit.

An activation in NumPy is several passes over memory (the leaky ReLU's gradient: ``sign``, ``maximum``,
``multiply``, three reads and three writes of an array as large as a layer's output). Here it is one pass. It
runs on the caller's thread: split over two cores like the convolutions it was slower at every size of
InpaintNet's activations (2¹⁶ to 2²⁰ elements; starting the parts costs more than the pass). The readable twin
of each loop is the NumPy expression in its docstring; results are the same bit for bit (the tests compare them).
"""
import numpy as np

from ._jit import njit

# The loops run over whole 1-D arrays: with an index from range(n0, n1), which may be negative as far as the
# compiler knows, the checks for that kept the loops from being vectorised (7x slower).


@njit()
def _leaky_relu(x, slope, y):
    for i in range(x.size):
        v = x[i]
        y[i] = v if v > 0 else v * slope


@njit()
def _leaky_relu_grad(x, g, slope, out):
    for i in range(x.size):
        v = x[i]
        out[i] = (g[i] if v > 0 else g[i] * slope) if v == v else v


def accepts(*arrays):
    """True when the compiled loops take these arrays: C-contiguous float32 or float64 arrays of one dtype and
    shape (others take the NumPy expression)."""
    first = arrays[0]
    return first.dtype in (np.float32, np.float64) and all(
        a.flags.c_contiguous and a.dtype == first.dtype and a.shape == first.shape for a in arrays)


def leaky_relu(x, slope):
    """y = x where x > 0, else slope·x (slope in x's dtype), as one compiled pass: ``np.where(x > 0, x, x * slope)``.
    x C-contiguous float32 or float64 (``accepts``)."""
    y = np.empty_like(x)
    _leaky_relu(x.reshape(-1), x.dtype.type(slope), y.reshape(-1))
    return y


def leaky_relu_grad(x, g, slope):
    """∂L/∂x = g where x > 0, slope·g where x <= 0, x where x is NaN: ``np.where(x > 0, g, g * slope)`` for
    numbers. x and g C-contiguous, of one dtype and shape (``accepts``)."""
    out = np.empty_like(g)
    _leaky_relu_grad(x.reshape(-1), g.reshape(-1), x.dtype.type(slope), out.reshape(-1))
    return out
