"""Exercise im2col: the window matrix of a convolution, and its adjoint col2im.

A conv layer multiplies every C×K×L window of its (zero-padded) input by every filter. Copy each window
into one column of a matrix and the whole layer becomes one matrix product. For x of shape (N, C, H, W),
a K×L kernel, stride s and zero padding pad (xp is x padded by pad on every side):

    cols[(c·K + u)·L + v, (n·H_out + i)·W_out + j] = xp[n, c, i·s + u, j·s + v]

with H_out = (H + 2·pad − K) // s + 1 and W_out alike: rows are (channel, tap) pairs in that order, columns
are (sample, output pixel) pairs. Then, for a weight w of shape (C_out, C, K, L),

    conv2d(x, w) = (w.reshape(C_out, C·K·L) @ cols), reshaped to (C_out, N, H_out, W_out), axes 0 and 1 swapped.

``col2im`` goes back: it is the adjoint (the transpose) of im2col as a linear map, so that
⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩ for every x and c. Every entry of ``cols`` is added back to the input pixel
it was copied from (pixels that several windows share collect several entries; entries copied from the
padding are dropped). col2im(w_matrix.T @ gy_matrix) is the input gradient of the conv layer: a transposed
convolution.
"""
import numpy as np


def im2col(x, kernel_size, stride=1, padding=0):
    """The window matrix above: x (N, C, H, W), kernel_size (K, L) -> float64 array (C·K·L, N·H_out·W_out)."""
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=np.float64)
    kh, kw = (int(k) for k in kernel_size)
    s, pad = int(stride), int(padding)
    n_batch, channels, height, width = x.shape
    h_out = (height + 2 * pad - kh) // s + 1
    w_out = (width + 2 * pad - kw) // s + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((channels, kh, kw, n_batch, h_out, w_out))
    for u in range(kh):
        for v in range(kw):
            window = xp[:, :, u : u + s * (h_out - 1) + 1 : s, v : v + s * (w_out - 1) + 1 : s]
            cols[:, u, v] = window.transpose(1, 0, 2, 3)
    return cols.reshape(channels * kh * kw, n_batch * h_out * w_out)
    ### END SOLUTION


def col2im(cols, x_shape, kernel_size, stride=1, padding=0):
    """The adjoint of ``im2col``: cols (C·K·L, N·H_out·W_out) -> float64 array of shape x_shape (N, C, H, W)."""
    ### BEGIN SOLUTION
    n_batch, channels, height, width = (int(d) for d in x_shape)
    kh, kw = (int(k) for k in kernel_size)
    s, pad = int(stride), int(padding)
    h_out = (height + 2 * pad - kh) // s + 1
    w_out = (width + 2 * pad - kw) // s + 1
    blocks = np.asarray(cols, dtype=np.float64).reshape(channels, kh, kw, n_batch, h_out, w_out)
    xp = np.zeros((n_batch, channels, height + 2 * pad, width + 2 * pad))
    for u in range(kh):
        for v in range(kw):
            xp[:, :, u : u + s * (h_out - 1) + 1 : s, v : v + s * (w_out - 1) + 1 : s] += blocks[:, u, v].transpose(1, 0, 2, 3)
    return xp[:, :, pad : pad + height, pad : pad + width].copy()
    ### END SOLUTION
