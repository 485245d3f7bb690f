"""Exercise conv2d_backward: the gradients of a multi-channel conv layer.

A deep-learning conv layer (a cross-correlation) with stride s and zero padding pad computes, for
x of shape (N, C_in, H, W) and w of shape (C_out, C_in, K, L),

    y[n,o,i,j] = b[o] + Σ_c Σ_u Σ_v  w[o,c,u,v] · x[n, c, i·s − pad + u, j·s − pad + v]

with x read as 0 outside its H×W support. ``conv2d_forward`` below does it. Given gy = ∂L/∂y for some
scalar loss L, the chain rule gives the three gradients of L:

    ∂L/∂x[n,c,p,q] = Σ w[o,c,u,v] · gy[n,o,i,j]   over all (o, i, j, u, v) with i·s − pad + u = p, j·s − pad + v = q
    ∂L/∂w[o,c,u,v] = Σ_n Σ_i Σ_j  gy[n,o,i,j] · x[n, c, i·s − pad + u, j·s − pad + v]
    ∂L/∂b[o]       = Σ_n Σ_i Σ_j  gy[n,o,i,j]

The input gradient scatters gy back through the kernel: it is a transposed convolution. Input pixels that
no output reads (the stride skips them) get a gradient of exactly 0.

Hint: for a fixed kernel tap (u, v), the pixels it reads form a strided window of the zero-padded input,
``xp[:, :, u : u + s·(H_out − 1) + 1 : s, v : v + s·(W_out − 1) + 1 : s]``, the same shape as y.
"""
import numpy as np


def conv2d_forward(x, w, b=None, stride=1, padding=0):
    """The conv layer above (given, not an exercise): returns y of shape (N, C_out, H_out, W_out),
    H_out = (H + 2·pad − K) // s + 1 and W_out alike."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    s, pad = int(stride), int(padding)
    n_batch, _, height, width = x.shape
    c_out, _, kh, kw = w.shape
    h_out = (height + 2 * pad - kh) // s + 1
    w_out = (width + 2 * pad - kw) // s + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    y = np.zeros((n_batch, c_out, h_out, w_out))
    for u in range(kh):
        for v in range(kw):
            window = xp[:, :, u : u + s * (h_out - 1) + 1 : s, v : v + s * (w_out - 1) + 1 : s]
            y += np.einsum("ncij,oc->noij", window, w[:, :, u, v])
    if b is not None:
        y += np.asarray(b, dtype=np.float64).reshape(1, -1, 1, 1)
    return y


def conv2d_backward(gy, x, w, stride=1, padding=0):
    """Gradients of ``conv2d_forward`` with respect to its input, weight and bias.

    gy: ∂L/∂y, shape (N, C_out, H_out, W_out); x and w as given to the forward pass.
    Returns (gx, gw, gb): float64 arrays of the shapes of x, w and (C_out,).
    """
    ### BEGIN SOLUTION
    gy = np.asarray(gy, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    s, pad = int(stride), int(padding)
    _, _, height, width = x.shape
    _, _, kh, kw = w.shape
    h_out, w_out = gy.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    gxp = np.zeros_like(xp)
    gw = np.zeros_like(w)
    for u in range(kh):
        for v in range(kw):
            rows = slice(u, u + s * (h_out - 1) + 1, s)
            cols = slice(v, v + s * (w_out - 1) + 1, s)
            gw[:, :, u, v] = np.einsum("noij,ncij->oc", gy, xp[:, :, rows, cols])
            gxp[:, :, rows, cols] += np.einsum("noij,oc->ncij", gy, w[:, :, u, v])
    gx = gxp[:, :, pad : pad + height, pad : pad + width]
    gb = gy.sum(axis=(0, 2, 3))
    return gx, gw, gb
    ### END SOLUTION
