"""The compiled loop of the harmonic fill (``deconvlab.baselines``): the Laplacian of the hole pixels of one
group, from their neighbour lists; imports NumPy and _jit. Its readable twin is the NumPy expression in its
docstring (the tests compare the two).
"""
from ._jit import njit


@njit()
def group_laplacian(u, degree, neighbours, out):
    """out[p] = deg(p)·u[p] − Σ_k u[neighbours[k, p]] over the 4 neighbour slots k of each hole pixel p, a slot
    holding n (= len(u)) when that neighbour is not a hole pixel (it counts as 0: known values are on the right
    side of the system). u and out (n, C) float64."""
    n, channels = u.shape
    for p in range(n):
        for c in range(channels):
            total = degree[p] * u[p, c]
            for k in range(4):
                q = neighbours[k, p]
                if q < n:
                    total -= u[q, c]
            out[p, c] = total
