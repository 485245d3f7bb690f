"""Exercise conv_transpose2d_scatter: transposed convolution ("deconvolution") as a scatter, with a stride.

The article's deconvolution, generalised to a stride s, reads

    y(i,j) = Σ_{p=0}^{P−1} Σ_{q=0}^{Q−1} x(p,q) · k(i − s·p, j − s·q)

with k (K×L) zero outside its support. Read it as a scatter: every input pixel x(p,q) stamps a copy of
the kernel, scaled by x(p,q), onto the output with the stamp's top-left corner at (s·p, s·q). Where
stamps overlap, their values add. The output covers every stamp: ((P−1)·s + K) × ((Q−1)·s + L).

With s = 1 this is exactly the convolution of the conv2d_literal exercise. With s = 2 and a 3×3 kernel
the stamps overlap unevenly, which is where the "checkerboard" of transposed-convolution decoders comes
from: try ``conv_transpose2d_scatter(np.ones((3, 3)), np.ones((3, 3)), stride=2)``.
"""
import numpy as np


def conv_transpose2d_scatter(x, k, stride=1):
    """Transposed convolution of one channel: y(i,j) = Σ_p Σ_q x(p,q)·k(i − s·p, j − s·q).

    x: 2-D array (P, Q); k: 2-D array (K, L); stride: an int s >= 1.
    Returns a float64 array of shape ((P−1)·s + K, (Q−1)·s + L).
    """
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    s = int(stride)
    (P, Q), (K, L) = x.shape, k.shape
    y = np.zeros(((P - 1) * s + K, (Q - 1) * s + L))
    for p in range(P):
        for q in range(Q):
            y[s * p : s * p + K, s * q : s * q + L] += x[p, q] * k
    return y
    ### END SOLUTION
