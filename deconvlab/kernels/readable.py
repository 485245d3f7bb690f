"""Readable twins of the fast kernels: the direct loops, one output element at a time; imports NumPy and _jit.

Three loops carry all of conv2d and conv_transpose2d, forward and backward, because each operation is
the other's adjoint (docs/design.md, "Kernels"). With stride s, padding p, dilation d, every pair
(output pixel (i, j), kernel tap (u, v)) of a convolution touches the input pixel

    (i·s_h − p_h + u·d_h,  j·s_w − p_w + v·d_w)                                            (*)

and the three loops are the three ways to read that one relation:

- ``correlate``  (conv2d forward, conv_transpose2d input gradient)
      y[n, o, i, j] = Σ_c Σ_u Σ_v  w[o, c, u, v] · x[n, c, (*)]
- ``scatter``    (conv_transpose2d forward, conv2d input gradient)
      x[n, c, (*)] += w[o, c, u, v] · g[n, o, i, j]       for every n, o, i, j, c, u, v
- ``weight_grad`` (both weight gradients)
      gw[o, c, u, v] = Σ_n Σ_i Σ_j  g[n, o, i, j] · x[n, c, (*)]

Taps that land in the padding read zero and write nothing. These loops are compiled with Numba (or run as
plain Python under ``NUMBA_DISABLE_JIT=1``); the public functions below have the same contract as
``deconvlab.kernels`` and agree with the fast kernels to ~1e-12 in float64.
"""
import numpy as np

from . import _args
from ._jit import njit


@njit()
def correlate(x, w, sh, sw, ph, pw, dh, dw, y):
    """y[n, o, i, j] = Σ_c Σ_u Σ_v w[o, c, u, v] · x[n, c, i·sh − ph + u·dh, j·sw − pw + v·dw] (y is overwritten)."""
    n_batch, c_in, h, wd = x.shape
    c_out, _, kh, kw = w.shape
    _, _, h_out, w_out = y.shape
    for n in range(n_batch):
        for o in range(c_out):
            for i in range(h_out):
                for j in range(w_out):
                    acc = 0.0
                    for c in range(c_in):
                        for u in range(kh):
                            r = i * sh - ph + u * dh
                            if r < 0 or r >= h:
                                continue
                            for v in range(kw):
                                q = j * sw - pw + v * dw
                                if 0 <= q < wd:
                                    acc += w[o, c, u, v] * x[n, c, r, q]
                    y[n, o, i, j] = acc


@njit()
def scatter(g, w, sh, sw, ph, pw, dh, dw, x):
    """x[n, c, i·sh − ph + u·dh, j·sw − pw + v·dw] += w[o, c, u, v] · g[n, o, i, j] (x accumulates; pass zeros)."""
    n_batch, c_in, h, wd = x.shape
    c_out, _, kh, kw = w.shape
    _, _, h_out, w_out = g.shape
    for n in range(n_batch):
        for o in range(c_out):
            for i in range(h_out):
                for j in range(w_out):
                    gij = g[n, o, i, j]
                    for c in range(c_in):
                        for u in range(kh):
                            r = i * sh - ph + u * dh
                            if r < 0 or r >= h:
                                continue
                            for v in range(kw):
                                q = j * sw - pw + v * dw
                                if 0 <= q < wd:
                                    x[n, c, r, q] += w[o, c, u, v] * gij


@njit()
def weight_grad(g, x, sh, sw, ph, pw, dh, dw, gw):
    """gw[o, c, u, v] = Σ_n Σ_i Σ_j g[n, o, i, j] · x[n, c, i·sh − ph + u·dh, j·sw − pw + v·dw] (gw is overwritten)."""
    n_batch, c_in, h, wd = x.shape
    c_out, _, kh, kw = gw.shape
    _, _, h_out, w_out = g.shape
    for o in range(c_out):
        for c in range(c_in):
            for u in range(kh):
                for v in range(kw):
                    acc = 0.0
                    for n in range(n_batch):
                        for i in range(h_out):
                            r = i * sh - ph + u * dh
                            if r < 0 or r >= h:
                                continue
                            for j in range(w_out):
                                q = j * sw - pw + v * dw
                                if 0 <= q < wd:
                                    acc += g[n, o, i, j] * x[n, c, r, q]
                    gw[o, c, u, v] = acc


def _bias_grad(gy):
    """gb[o] = Σ_n Σ_i Σ_j gy[n, o, i, j]."""
    return gy.sum(axis=(0, 2, 3))


def conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1):
    """Cross-correlation y[n,o,i,j] = b[o] + Σ_c Σ_u Σ_v w[o,c,u,v] · x[n, c, i·s−p+u·d, j·s−p+v·d].

    x (N, C_in, H, W), w (C_out, C_in, kH, kW), b (C_out,) or None -> y (N, C_out, H_out, W_out).
    """
    s, p, d, (h_out, w_out) = _args.conv2d_args(x, w, b, stride, padding, dilation)
    y = np.empty((x.shape[0], w.shape[0], h_out, w_out), dtype=x.dtype)
    correlate(x, w, s[0], s[1], p[0], p[1], d[0], d[1], y)
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def conv2d_backward(gy, x, w, stride=1, padding=0, dilation=1, need_bias=True, need_input=True):
    """Gradients of conv2d: (gx, gw, gb) = (scatter(gy, w), weight_grad(gy, x), Σ gy) — gx is None unless
    need_input, gb None unless need_bias."""
    s, p, d, out_hw = _args.conv2d_args(x, w, None, stride, padding, dilation, op="conv2d_backward")
    _args.check_grad_output(gy, (x.shape[0], w.shape[0]) + out_hw, x.dtype, "conv2d_backward")
    gx = None
    if need_input:
        gx = np.zeros_like(x)
        scatter(gy, w, s[0], s[1], p[0], p[1], d[0], d[1], gx)
    gw = np.empty_like(w)
    weight_grad(gy, x, s[0], s[1], p[0], p[1], d[0], d[1], gw)
    return gx, gw, (_bias_grad(gy) if need_bias else None)


def conv_transpose2d_forward(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1):
    """Transposed convolution: y[n, o, i·s−p+u·d, j·s−p+v·d] += w[c,o,u,v] · x[n,c,i,j], plus b[o].

    x (N, C_in, H, W), w (C_in, C_out, kH, kW) -> y (N, C_out, H_out, W_out) with
    H_out = (H − 1)s − 2p + d(kH − 1) + output_padding + 1. It is conv2d's input gradient with w as conv weight.
    """
    s, p, _, d, out_hw = _args.conv_transpose2d_args(x, w, b, stride, padding, output_padding, dilation)
    y = np.zeros((x.shape[0], w.shape[1]) + out_hw, dtype=x.dtype)
    scatter(x, w, s[0], s[1], p[0], p[1], d[0], d[1], y)
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def conv_transpose2d_backward(gy, x, w, stride=1, padding=0, output_padding=0, dilation=1, need_bias=True,
                              need_input=True):
    """Gradients of conv_transpose2d: gx = correlate(gy, w) (a conv2d forward; None unless need_input),
    gw = weight_grad(x, gy), gb = Σ gy (None unless need_bias)."""
    s, p, _, d, out_hw = _args.conv_transpose2d_args(
        x, w, None, stride, padding, output_padding, dilation, op="conv_transpose2d_backward"
    )
    _args.check_grad_output(gy, (x.shape[0], w.shape[1]) + out_hw, x.dtype, "conv_transpose2d_backward")
    gx = None
    if need_input:
        gx = np.empty_like(x)
        correlate(gy, w, s[0], s[1], p[0], p[1], d[0], d[1], gx)
    gw = np.empty_like(w)
    weight_grad(x, gy, s[0], s[1], p[0], p[1], d[0], d[1], gw)
    return gx, gw, (_bias_grad(gy) if need_bias else None)
