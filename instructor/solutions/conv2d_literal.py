"""Exercise conv2d_literal: the article's convolution, written literally as loops.

The article defines the convolution of an input x (P×Q) with a kernel h (K×L) as

    y(i,j) = Σ_{p=0}^{P−1} Σ_{q=0}^{Q−1} x(p,q) · h(i−p, j−q)

with h zero outside 0 <= row < K, 0 <= column < L. Compute the "full" output: every (i, j) at which some
term can be non-zero, so y is (P+K−1)×(Q+L−1). The kernel is read at (i − p, j − q), so it is flipped
relative to the input: this is a true convolution, not the cross-correlation that deep-learning "conv"
layers compute.

Only NumPy is needed. Try: ``conv2d_literal(np.eye(2), np.ones((2, 2)))`` is [[1, 1, 0], [1, 2, 1], [0, 1, 1]].
"""
import numpy as np


def conv2d_literal(x, h):
    """Full 2-D convolution of one channel, y(i,j) = Σ_p Σ_q x(p,q)·h(i−p, j−q).

    x: 2-D array of shape (P, Q); h: 2-D array of shape (K, L).
    Returns a float64 array of shape (P+K−1, Q+L−1).
    """
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    (P, Q), (K, L) = x.shape, h.shape
    y = np.zeros((P + K - 1, Q + L - 1))
    for i in range(P + K - 1):
        for j in range(Q + L - 1):
            # only the p with 0 <= i − p < K (and q alike) have a non-zero term
            for p in range(max(0, i - K + 1), min(P, i + 1)):
                for q in range(max(0, j - L + 1), min(Q, j + 1)):
                    y[i, j] += x[p, q] * h[i - p, j - q]
    return y
    ### END SOLUTION
