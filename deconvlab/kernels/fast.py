"""Fast kernels: the three loops of ``readable`` recast as im2col / col2im (Numba) plus a matrix product (BLAS).

Imports NumPy, _args and _jit. The relation (*) of ``readable`` — output pixel (i, j) and tap (u, v) read input
pixel (i·s − p + u·d, j·s − p + v·d) — is unrolled once into a "column" matrix per sample:

    cols[n, (c, u, v), (i, j)] = x[n, c, i·s_h − p_h + u·d_h, j·s_w − p_w + v·d_w]     (0 in the padding)

so that, with W the weight reshaped to (C_out, C_in·kH·kW) and G = gy reshaped to (N, C_out, H_out·W_out):

    correlate   (conv2d forward, conv_transpose2d input gradient):  y[n]   = W · cols[n]
    scatter     (conv_transpose2d forward, conv2d input gradient):  x      = col2im(Wᵀ · G[n])
    weight_grad (both weight gradients):                            gW     = Σ_n G[n] · cols[n]ᵀ

im2col and col2im are Numba loops run in parallel over (sample, channel) planes: each thread owns the plane it
writes, so there are no write races and the result does not depend on the thread count. The products run in
NumPy's BLAS. Each function has the signature of its twin in ``readable`` and agrees with it to ~1e-12 (float64).
"""
import numpy as np
from numba import prange

from . import _args
from ._jit import njit


@njit()
def _first_valid(pad, tap, step, size):
    """Smallest j >= 0 with j·step − pad + tap >= 0."""
    lo = pad - tap
    if lo <= 0:
        return 0
    return (lo + step - 1) // step


@njit()
def _end_valid(pad, tap, step, size, n_out):
    """One past the largest j < n_out with j·step − pad + tap < size."""
    hi = size - 1 + pad - tap
    if hi < 0:
        return 0
    return min(n_out, hi // step + 1)


@njit(parallel=True)
def im2col(x, kh, kw, sh, sw, ph, pw, dh, dw, h_out, w_out, cols):
    """cols[n, (c·kh + u)·kw + v, i·w_out + j] = x[n, c, i·sh − ph + u·dh, j·sw − pw + v·dw], 0 outside x."""
    n_batch, c_in, h, wd = x.shape
    for nc in prange(n_batch * c_in):
        n = nc // c_in
        c = nc % c_in
        for u in range(kh):
            for v in range(kw):
                row = (c * kh + u) * kw + v
                j0 = _first_valid(pw, v * dw, sw, wd)
                j1 = max(j0, _end_valid(pw, v * dw, sw, wd, w_out))
                for i in range(h_out):
                    r = i * sh - ph + u * dh
                    base = i * w_out
                    if r < 0 or r >= h:
                        for j in range(w_out):
                            cols[n, row, base + j] = 0.0
                        continue
                    for j in range(j0):
                        cols[n, row, base + j] = 0.0
                    q0 = j0 * sw - pw + v * dw
                    for j in range(j1 - j0):
                        cols[n, row, base + j0 + j] = x[n, c, r, q0 + j * sw]
                    for j in range(j1, w_out):
                        cols[n, row, base + j] = 0.0


@njit(parallel=True)
def col2im(cols, kh, kw, sh, sw, ph, pw, dh, dw, h_out, w_out, x):
    """x[n, c, i·sh − ph + u·dh, j·sw − pw + v·dw] += cols[n, (c·kh + u)·kw + v, i·w_out + j] (x accumulates)."""
    n_batch, c_in, h, wd = x.shape
    for nc in prange(n_batch * c_in):
        n = nc // c_in
        c = nc % c_in
        for u in range(kh):
            for v in range(kw):
                row = (c * kh + u) * kw + v
                j0 = _first_valid(pw, v * dw, sw, wd)
                j1 = max(j0, _end_valid(pw, v * dw, sw, wd, w_out))
                for i in range(h_out):
                    r = i * sh - ph + u * dh
                    if r < 0 or r >= h:
                        continue
                    base = i * w_out
                    q0 = j0 * sw - pw + v * dw
                    for j in range(j1 - j0):
                        x[n, c, r, q0 + j * sw] += cols[n, row, base + j0 + j]


def _cols(x, kernel_hw, s, p, d, out_hw):
    n_batch, c_in = x.shape[:2]
    cols = np.empty((n_batch, c_in * kernel_hw[0] * kernel_hw[1], out_hw[0] * out_hw[1]), dtype=x.dtype)
    im2col(x, kernel_hw[0], kernel_hw[1], s[0], s[1], p[0], p[1], d[0], d[1], out_hw[0], out_hw[1], cols)
    return cols


def correlate(x, w, s, p, d, out_hw):
    """y[n] = W · cols(x)[n]: conv2d forward without bias; x (N, C, H, W), w (O, C, kH, kW) -> (N, O, H_out, W_out)."""
    cols = _cols(x, w.shape[2:], s, p, d, out_hw)
    y = np.matmul(w.reshape(w.shape[0], -1), cols)
    return y.reshape(x.shape[0], w.shape[0], out_hw[0], out_hw[1])


def scatter(g, w, s, p, d, in_hw):
    """x = col2im(Wᵀ · G[n]): conv2d input gradient; g (N, O, H_out, W_out), w (O, C, kH, kW) -> (N, C) + in_hw."""
    n_batch, c_out, h_out, w_out = g.shape
    w2 = w.reshape(c_out, -1)
    cols = np.matmul(w2.T, g.reshape(n_batch, c_out, h_out * w_out))
    x = np.zeros((n_batch, w.shape[1]) + tuple(in_hw), dtype=g.dtype)
    col2im(cols, w.shape[2], w.shape[3], s[0], s[1], p[0], p[1], d[0], d[1], h_out, w_out, x)
    return x


def weight_grad(g, x, kernel_hw, s, p, d):
    """gW = Σ_n G[n] · cols(x)[n]ᵀ; g (N, O, H_out, W_out), x (N, C, H, W) -> (O, C, kH, kW)."""
    n_batch, c_out, h_out, w_out = g.shape
    cols = _cols(x, kernel_hw, s, p, d, (h_out, w_out))
    g3 = g.reshape(n_batch, c_out, h_out * w_out)
    gw = np.zeros((c_out, cols.shape[1]), dtype=g.dtype)
    for n in range(n_batch):
        gw += g3[n] @ cols[n].T
    return gw.reshape((c_out, x.shape[1]) + tuple(kernel_hw))


def _add_bias(y, b):
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1):
    """Cross-correlation y[n,o,i,j] = b[o] + Σ_c Σ_u Σ_v w[o,c,u,v] · x[n, c, i·s−p+u·d, j·s−p+v·d].

    x (N, C_in, H, W), w (C_out, C_in, kH, kW), b (C_out,) or None -> y (N, C_out, H_out, W_out),
    H_out = floor((H + 2p − d(kH − 1) − 1)/s) + 1. Inputs are never modified.
    """
    s, p, d, out_hw = _args.conv2d_args(x, w, b, stride, padding, dilation)
    return _add_bias(correlate(x, w, s, p, d, out_hw), b)


def conv2d_backward(gy, x, w, stride=1, padding=0, dilation=1, need_bias=True):
    """Gradients of conv2d for upstream gradient gy: returns (gx, gw, gb).

    gx = conv_transpose2d(gy, w) (the scatter), gw[o,c,u,v] = Σ_n,i,j gy[n,o,i,j] · x[n,c,i·s−p+u·d, j·s−p+v·d],
    gb[o] = Σ_n,i,j gy[n,o,i,j] (None unless need_bias).
    """
    s, p, d, out_hw = _args.conv2d_args(x, w, None, stride, padding, dilation, op="conv2d_backward")
    _args.check_grad_output(gy, (x.shape[0], w.shape[0]) + out_hw, x.dtype, "conv2d_backward")
    gx = scatter(gy, w, s, p, d, x.shape[2:])
    gw = weight_grad(gy, x, w.shape[2:], s, p, d)
    return gx, gw, (gy.sum(axis=(0, 2, 3)) if need_bias else None)


def conv_transpose2d_forward(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1):
    """Transposed convolution: y[n, o, i·s−p+u·d, j·s−p+v·d] += w[c,o,u,v] · x[n,c,i,j], plus b[o].

    x (N, C_in, H, W), w (C_in, C_out, kH, kW) -> y (N, C_out, H_out, W_out),
    H_out = (H − 1)s − 2p + d(kH − 1) + output_padding + 1. It is conv2d's input gradient, with w read as a
    conv2d weight mapping C_out -> C_in.
    """
    s, p, _, d, out_hw = _args.conv_transpose2d_args(x, w, b, stride, padding, output_padding, dilation)
    return _add_bias(scatter(x, w, s, p, d, out_hw), b)


def conv_transpose2d_backward(gy, x, w, stride=1, padding=0, output_padding=0, dilation=1, need_bias=True):
    """Gradients of conv_transpose2d: gx = conv2d(gy, w) (the correlate), gw = weight_grad(x, gy), gb = Σ gy."""
    s, p, _, d, out_hw = _args.conv_transpose2d_args(
        x, w, None, stride, padding, output_padding, dilation, op="conv_transpose2d_backward"
    )
    _args.check_grad_output(gy, (x.shape[0], w.shape[1]) + out_hw, x.dtype, "conv_transpose2d_backward")
    gx = correlate(gy, w, s, p, d, x.shape[2:])
    gw = weight_grad(x, gy, w.shape[2:], s, p, d)
    return gx, gw, (gy.sum(axis=(0, 2, 3)) if need_bias else None)
