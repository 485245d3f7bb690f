"""Fast kernels: the three loops of ``readable`` recast as long contiguous copies (Numba) plus matrix products (BLAS).

Imports NumPy, _args and _jit. Output pixel (i, j) and tap (u, v) read input pixel (i·s − p + u·d, j·s − p + v·d).
Two re-indexings make every tap a contiguous window, so the im2col copy runs at memory speed:

1. Polyphase split. Pad the input by p and cut it into s_h·s_w phases,
       P[a, b, n, c, ih, jw] = x[n, c, ih·s_h + a − p_h, jw·s_w + b − p_w]     (0 outside x),
   so tap u, which reads padded row i·s + u·d = s·(i + ⌊u·d/s⌋) + (u·d mod s), reads phase a = u·d mod s at
   row i + ⌊u·d/s⌋: stride 1 inside one phase.
2. Extended rows. Each phase row is W_ext = W_out + ⌊(kW−1)·d_w/s_w⌋ long, and the output is computed on the
   (H_out, W_ext) grid, whose last W_ext − W_out columns are scratch (cropped away; zero in gradients).
   Then for one (c, u, v) and one sample the whole H_out × W_ext window is one contiguous run of P.

With cols[(c, u, v), (n, i, j)] the unrolled windows, W the weight as (C_out, C_in·kH·kW) and G an output-sized
array laid out as (C_out, N·H_out·W_ext) with zero scratch columns, one matrix product over the batch does each job:

    correlate   (conv2d forward, conv_transpose2d input gradient):  Y  = W · cols
    scatter     (conv_transpose2d forward, conv2d input gradient):  x  = merge(col2im(Wᵀ · G))
    weight_grad (both weight gradients):                            gW = G · colsᵀ

The Numba loops are parallel over what each thread writes alone (rows of cols, (n, c) planes of P or x), so
there are no write races and results do not depend on the thread count. Each public function has the
signature of its twin in ``readable`` and agrees with it to ~1e-12 (float64).
"""
import numpy as np
from numba import prange

from . import _args
from ._jit import njit


def _grid(kernel_hw, s, d, out_hw):
    """Phase-grid size (H_ph, W_ext) for output size out_hw: W_ext = W_out + ⌊(kW−1)d/s⌋, H_ph one row more than
    needed, so the last window of the last row may run past W_ext without leaving the plane."""
    extra = [((kernel_hw[i] - 1) * d[i]) // s[i] for i in range(2)]
    return out_hw[0] + extra[0] + 1, out_hw[1] + extra[1]


# Inner loops below index 1-D views with the bare loop variable: Numba can then prove the index is
# non-negative, drop its negative-index wraparound, and emit vector loads and stores.


@njit()
def phase_split(x, sh, sw, ph, pw, phases):
    """phases[a, b, n, c, ih, jw] = x[n, c, ih·sh + a − ph, jw·sw + b − pw], 0 where that lies outside x."""
    n_batch, c_in, h, wd = x.shape
    h_ph, w_ph = phases.shape[4], phases.shape[5]
    for nc in prange(n_batch * c_in):
        n = nc // c_in
        c = nc % c_in
        for a in range(sh):
            for b in range(sw):
                # columns jw in [j0, j1) land inside x, at q = jw·sw + b − pw
                j0 = max(0, (pw - b + sw - 1) // sw)
                j1 = max(j0, min(w_ph, (wd - 1 + pw - b) // sw + 1))
                for ih in range(h_ph):
                    dst = phases[a, b, n, c, ih]
                    r = ih * sh + a - ph
                    if r < 0 or r >= h:
                        for jw in range(w_ph):
                            dst[jw] = 0.0
                        continue
                    src = x[n, c, r, j0 * sw + b - pw :]
                    for jw in range(j0):
                        dst[jw] = 0.0
                    inside = dst[j0:j1]
                    for t in range(j1 - j0):
                        inside[t] = src[t * sw]
                    for jw in range(j1, w_ph):
                        dst[jw] = 0.0


@njit()
def phase_merge(phases, sh, sw, ph, pw, x):
    """x[n, c, r, q] = phases[(r+ph) mod sh, (q+pw) mod sw, n, c, ⌊(r+ph)/sh⌋, ⌊(q+pw)/sw⌋], 0 off the grid
    (pixels no tap reads: their gradient is exactly 0). The inverse of ``phase_split`` on x's pixels."""
    n_batch, c_in, h, wd = x.shape
    h_ph, w_ph = phases.shape[4], phases.shape[5]
    for nc in prange(n_batch * c_in):
        n = nc // c_in
        c = nc % c_in
        for r in range(h):
            dst = x[n, c, r]
            ih = (r + ph) // sh
            if ih >= h_ph:
                for q in range(wd):
                    dst[q] = 0.0
                continue
            a = (r + ph) % sh
            for b in range(sw):
                j0 = max(0, (pw - b + sw - 1) // sw)
                j1 = max(j0, min(w_ph, (wd - 1 + pw - b) // sw + 1))
                src = phases[a, b, n, c, ih, j0:j1]
                out = dst[j0 * sw + b - pw :]
                for t in range(j1 - j0):
                    out[t * sw] = src[t]
            for q in range(max(0, w_ph * sw - pw), wd):
                dst[q] = 0.0


@njit()
def im2col(phases, kh, kw, sh, sw, dh, dw, h_out, cols):
    """cols[(c·kh + u)·kw + v, n·L + t] = P[(u·dh) mod sh, (v·dw) mod sw, n, c].flat[off(u, v) + t], t < L = h_out·W_ext,
    with off(u, v) = ⌊u·dh/sh⌋·W_ext + ⌊v·dw/sw⌋: one contiguous run per (row, sample). Parallel over rows."""
    n_batch, c_in = phases.shape[2], phases.shape[3]
    w_ph = phases.shape[5]
    planes = phases.reshape(sh, sw, n_batch, c_in, -1)
    length = h_out * w_ph
    for row in prange(c_in * kh * kw):
        c = row // (kh * kw)
        u = (row // kw) % kh
        v = row % kw
        a = (u * dh) % sh
        b = (v * dw) % sw
        off = ((u * dh) // sh) * w_ph + (v * dw) // sw
        for n in range(n_batch):
            src = planes[a, b, n, c, off : off + length]
            dst = cols[row, n * length : (n + 1) * length]
            for t in range(length):
                dst[t] = src[t]


@njit()
def col2im(cols, kh, kw, sh, sw, dh, dw, h_out, phases):
    """The adjoint of im2col: P[a, b, n, c].flat[off(u, v) + t] += cols[(c·kh + u)·kw + v, n·L + t] (P accumulates).
    Parallel over (n, c): each thread owns the phase planes of one sample and channel."""
    n_batch, c_in = phases.shape[2], phases.shape[3]
    w_ph = phases.shape[5]
    planes = phases.reshape(sh, sw, n_batch, c_in, -1)
    length = h_out * w_ph
    for nc in prange(n_batch * c_in):
        n = nc // c_in
        c = nc % c_in
        for u in range(kh):
            for v in range(kw):
                row = (c * kh + u) * kw + v
                a = (u * dh) % sh
                b = (v * dw) % sw
                off = ((u * dh) // sh) * w_ph + (v * dw) // sw
                src = cols[row, n * length : (n + 1) * length]
                dst = planes[a, b, n, c, off : off + length]
                for t in range(length):
                    dst[t] += src[t]


def _cols(x, kernel_hw, s, p, d, out_hw):
    """The unrolled windows of x on the extended grid: (C·kH·kW, N·H_out·W_ext)."""
    n_batch, c_in = x.shape[:2]
    h_ph, w_ext = _grid(kernel_hw, s, d, out_hw)
    phases = np.empty((s[0], s[1], n_batch, c_in, h_ph, w_ext), dtype=x.dtype)
    phase_split(x, s[0], s[1], p[0], p[1], phases)
    cols = np.empty((c_in * kernel_hw[0] * kernel_hw[1], n_batch * out_hw[0] * w_ext), dtype=x.dtype)
    im2col(phases, kernel_hw[0], kernel_hw[1], s[0], s[1], d[0], d[1], out_hw[0], cols)
    return cols


def _extend(g, w_ext):
    """(N, C, H_out, W_out) -> (C, N·H_out·W_ext), zero in the scratch columns W_out <= j < W_ext."""
    n_batch, c, h_out, w_out = g.shape
    g_ext = np.zeros((c, n_batch, h_out, w_ext), dtype=g.dtype)
    g_ext[:, :, :, :w_out] = g.transpose(1, 0, 2, 3)
    return g_ext.reshape(c, -1)


def _crop(y_ext, n_batch, out_hw):
    """(C, N·H_out·W_ext) -> (N, C, H_out, W_out), dropping the scratch columns; the inverse of ``_extend``."""
    c = y_ext.shape[0]
    y = y_ext.reshape(c, n_batch, out_hw[0], -1)[:, :, :, : out_hw[1]]
    return np.ascontiguousarray(y.transpose(1, 0, 2, 3))


def correlate(x, w, s, p, d, out_hw, cols=None):
    """y = W · cols(x): conv2d forward without bias; x (N, C, H, W), w (O, C, kH, kW) -> (N, O) + out_hw."""
    if cols is None:
        cols = _cols(x, w.shape[2:], s, p, d, out_hw)
    return _crop(w.reshape(w.shape[0], -1) @ cols, x.shape[0], out_hw)


def scatter(g, w, s, p, d, in_hw, g_ext=None):
    """x = merge(col2im(Wᵀ · G)): conv2d input gradient; g (N, O, H_out, W_out), w (O, C, kH, kW) -> (N, C) + in_hw.

    With stride 1 and fewer output than input channels, the same result comes cheaper from identity 5 of the
    design: a correlation of g with the kernel flipped and its channel axes swapped, padded by d(k−1) − p.
    Its column matrix has O·kH·kW rows instead of C·kH·kW.
    """
    n_batch, c_out, h_out, w_out = g.shape
    c_in, kh, kw = w.shape[1:]
    if s == (1, 1) and c_out < c_in:
        flipped = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        p_flip = (d[0] * (kh - 1) - p[0], d[1] * (kw - 1) - p[1])
        return correlate(g, flipped, s, p_flip, d, in_hw)
    h_ph, w_ext = _grid((kh, kw), s, d, (h_out, w_out))
    if g_ext is None:
        g_ext = _extend(g, w_ext)
    cols = w.reshape(c_out, -1).T @ g_ext
    phases = np.zeros((s[0], s[1], n_batch, c_in, h_ph, w_ext), dtype=g.dtype)
    col2im(cols, kh, kw, s[0], s[1], d[0], d[1], h_out, phases)
    x = np.empty((n_batch, c_in) + tuple(in_hw), dtype=g.dtype)
    phase_merge(phases, s[0], s[1], p[0], p[1], x)
    return x


def weight_grad(g_ext, cols, weight_shape):
    """gW = G · colsᵀ, both weight gradients; g_ext (O, N·L), cols (C·kH·kW, N·L) -> weight_shape (O, C, kH, kW)."""
    return (g_ext @ cols.T).reshape(weight_shape)


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
    g_ext = _extend(gy, _grid(w.shape[2:], s, d, out_hw)[1])
    gx = scatter(gy, w, s, p, d, x.shape[2:], g_ext=g_ext)
    gw = weight_grad(g_ext, _cols(x, w.shape[2:], s, p, d, out_hw), w.shape)
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
    cols = _cols(gy, w.shape[2:], s, p, d, x.shape[2:])
    gx = correlate(gy, w, s, p, d, x.shape[2:], cols=cols)
    gw = weight_grad(_extend(x, _grid(w.shape[2:], s, d, x.shape[2:])[1]), cols, w.shape)
    return gx, gw, (gy.sum(axis=(0, 2, 3)) if need_bias else None)
