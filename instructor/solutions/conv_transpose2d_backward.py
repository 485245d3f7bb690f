"""Exercise conv_transpose2d_backward: the gradients of a multi-channel transposed-convolution layer.

A transposed convolution ("deconvolution") layer with stride s, padding pad and output_padding op takes
x of shape (N, C_in, H, W) and w of shape (C_in, C_out, K, L) (PyTorch's layout) and scatters: every input
pixel stamps the kernel, scaled by its value, onto the output,

    y[n, o, i·s − pad + u, j·s − pad + v] += x[n, c, i, j] · w[c, o, u, v]      (then y[n, o] += b[o])

for every (c, i, j, u, v), keeping only the output positions inside
H_out = (H − 1)·s − 2·pad + K + op rows and W_out = (W − 1)·s − 2·pad + L + op columns.
``conv_transpose2d_forward`` below does it. Given gy = ∂L/∂y for some scalar loss L, the chain rule gives

    ∂L/∂x[n,c,i,j] = Σ_o Σ_u Σ_v  w[c,o,u,v] · gy[n, o, i·s − pad + u, j·s − pad + v]
    ∂L/∂w[c,o,u,v] = Σ_n Σ_i Σ_j  x[n,c,i,j] · gy[n, o, i·s − pad + u, j·s − pad + v]
    ∂L/∂b[o]       = Σ_n Σ_i Σ_j  gy[n,o,i,j]

with gy read as 0 outside its H_out × W_out support. The input gradient gathers gy through the kernel
with a stride: it is an ordinary (strided) convolution of gy. Transposed convolution and convolution are
each other's gradients.

Hint: put gy into a zero array the size of the uncropped output, ((H − 1)·s + K + op, (W − 1)·s + L + op),
at offset (pad, pad); then for a fixed tap (u, v) the positions the inputs wrote to form the strided window
``full[:, :, u : u + s·(H − 1) + 1 : s, v : v + s·(W − 1) + 1 : s]``, of x's height and width.
"""
import numpy as np


def conv_transpose2d_forward(x, w, b=None, stride=1, padding=0, output_padding=0):
    """The transposed-conv layer above (given, not an exercise): returns y of shape (N, C_out, H_out, W_out)."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    s, pad, op = int(stride), int(padding), int(output_padding)
    n_batch, _, height, width = x.shape
    _, c_out, kh, kw = w.shape
    h_out = (height - 1) * s - 2 * pad + kh + op
    w_out = (width - 1) * s - 2 * pad + kw + op
    full = np.zeros((n_batch, c_out, (height - 1) * s + kh + op, (width - 1) * s + kw + op))
    for u in range(kh):
        for v in range(kw):
            window = (slice(None), slice(None), slice(u, u + s * (height - 1) + 1, s), slice(v, v + s * (width - 1) + 1, s))
            full[window] += np.einsum("ncij,co->noij", x, w[:, :, u, v])
    y = full[:, :, pad : pad + h_out, pad : pad + w_out].copy()
    if b is not None:
        y += np.asarray(b, dtype=np.float64).reshape(1, -1, 1, 1)
    return y


def conv_transpose2d_backward(gy, x, w, stride=1, padding=0, output_padding=0):
    """Gradients of ``conv_transpose2d_forward`` with respect to its input, weight and bias.

    gy: ∂L/∂y, shape (N, C_out, H_out, W_out); x and w as given to the forward pass.
    Returns (gx, gw, gb): float64 arrays of the shapes of x, w and (C_out,).
    """
    ### BEGIN SOLUTION
    gy = np.asarray(gy, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    s, pad, op = int(stride), int(padding), int(output_padding)
    n_batch, _, height, width = x.shape
    _, c_out, kh, kw = w.shape
    h_out, w_out = gy.shape[2:]
    full = np.zeros((n_batch, c_out, (height - 1) * s + kh + op, (width - 1) * s + kw + op))
    full[:, :, pad : pad + h_out, pad : pad + w_out] = gy
    gx = np.zeros(x.shape)
    gw = np.zeros(w.shape)
    for u in range(kh):
        for v in range(kw):
            window = full[:, :, u : u + s * (height - 1) + 1 : s, v : v + s * (width - 1) + 1 : s]
            gx += np.einsum("noij,co->ncij", window, w[:, :, u, v])
            gw[:, :, u, v] = np.einsum("ncij,noij->co", x, window)
    gb = gy.sum(axis=(0, 2, 3))
    return gx, gw, gb
    ### END SOLUTION
