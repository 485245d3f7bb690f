"""Fast kernels: the three loops of ``readable`` recast as long contiguous copies (Numba) plus matrix products (BLAS).

Imports NumPy, _args and _jit. Output pixel (i, j) and tap (u, v) read input pixel (i·s − p + u·d, j·s − p + v·d).
Two re-indexings make every tap a contiguous window, so the im2col copy runs at memory speed:

1. Polyphase split. Pad the input by p and cut it into phases (residues mod s),
       P[a, b, n, c, ih, jw] = x[n, c, ih·s_h + a − p_h, jw·s_w + b − p_w]     (0 outside x),
   so tap u, which reads padded row i·s + u·d = s·(i + ⌊u·d/s⌋) + (u·d mod s), reads phase a = u·d mod s at
   row i + ⌊u·d/s⌋: stride 1 inside one phase. Only the phases some tap reads are stored.
2. Extended rows. Each phase row is W_ext = W_out + ⌊(kW−1)·d_w/s_w⌋ long, and the output is computed on the
   (H_out, W_ext) grid, whose last W_ext − W_out columns are scratch (cropped away; zero in gradients).
   Then for one (c, u, v) and one sample the whole H_out × W_ext window is one contiguous run of P.

With cols[(c, u, v), (n, i, j)] the unrolled windows, W the weight as (C_out, C_in·kH·kW) and G an output-sized
array laid out as (C_out, N·H_out·W_ext) with zero scratch columns, one matrix product over the batch does each job:

    correlate   (conv2d forward, conv_transpose2d input gradient):  Y  = W · cols
    scatter     (conv_transpose2d forward, conv2d input gradient):  x  = merge(col2im(Wᵀ · G))
    weight_grad (both weight gradients):                            gW = G · colsᵀ

The batch is unrolled in chunks of samples small enough for the column matrix to stay in cache. The matrix
products use NumPy's BLAS, which runs on all cores; the Numba loops are serial on purpose: they run at memory
speed, and a second pool of threads spinning beside BLAS's was measured to slow both. Every sum is taken in a
fixed order, so results are bit-for-bit repeatable. Each public function has the signature of its twin in
``readable`` and agrees with it to ~1e-12 (float64).
"""
import numpy as np
from . import _args
from ._jit import njit


def _grid(kernel_hw, s, d, out_hw):
    """Phase-grid size (H_ph, W_ext) for output size out_hw: W_ext = W_out + ⌊(kW−1)d/s⌋, H_ph one row more than
    needed, so the last window of the last row may run past W_ext without leaving the plane."""
    extra = [((kernel_hw[i] - 1) * d[i]) // s[i] for i in range(2)]
    return out_hw[0] + extra[0] + 1, out_hw[1] + extra[1]


def _taps(k, s, d):
    """For one axis: the phases that taps read (residues u·d mod s, sorted), and for each tap u its phase's index
    and its shift ⌊u·d/s⌋. Only phases some tap reads are stored: at most min(s, k) of them."""
    residues = sorted({(u * d) % s for u in range(k)})
    phase = np.array([residues.index((u * d) % s) for u in range(k)], dtype=np.int64)
    shift = np.array([(u * d) // s for u in range(k)], dtype=np.int64)
    return np.array(residues, dtype=np.int64), phase, shift


def _phase_ranges(res, s, p, n_ph, size):
    """For each stored phase a of one axis: (a, i0, i1, r0) — phase rows i in [i0, i1) hold input rows
    r = i·s + a − p inside [0, size), the first of them being r0."""
    out = []
    for a in res:
        i0 = min(n_ph, max(0, -((a - p) // s)))
        i1 = max(i0, min(n_ph, (size - 1 - a + p) // s + 1))
        out.append((int(a), i0, i1, i0 * s + int(a) - p))
    return out


def phase_split(x, res_h, res_w, s, p, phases):
    """phases[ai, bi, n, c, ih, jw] = x[n, c, ih·s_h + res_h[ai] − p_h, jw·s_w + res_w[bi] − p_w], 0 outside x.

    A few strided NumPy copies (one per stored phase) and zero borders: pure data movement.
    """
    h_ph, w_ph = phases.shape[4:]
    for ai, (_, i0, i1, r0) in enumerate(_phase_ranges(res_h, s[0], p[0], h_ph, x.shape[2])):
        for bi, (_, j0, j1, q0) in enumerate(_phase_ranges(res_w, s[1], p[1], w_ph, x.shape[3])):
            dst = phases[ai, bi]
            dst[:, :, :i0] = 0
            dst[:, :, i1:] = 0
            dst[:, :, i0:i1, :j0] = 0
            dst[:, :, i0:i1, j1:] = 0
            dst[:, :, i0:i1, j0:j1] = x[:, :, r0 : r0 + (i1 - i0 - 1) * s[0] + 1 : s[0], q0 : q0 + (j1 - j0 - 1) * s[1] + 1 : s[1]]


def phase_merge(phases, res_h, res_w, s, p, x):
    """The inverse of ``phase_split`` on the pixels it stores: x[n, c, ih·s_h + res_h[ai] − p_h, jw·s_w + res_w[bi] − p_w]
    = phases[ai, bi, n, c, ih, jw]. Pass x zeroed: pixels no tap reads keep gradient 0."""
    h_ph, w_ph = phases.shape[4:]
    for ai, (_, i0, i1, r0) in enumerate(_phase_ranges(res_h, s[0], p[0], h_ph, x.shape[2])):
        for bi, (_, j0, j1, q0) in enumerate(_phase_ranges(res_w, s[1], p[1], w_ph, x.shape[3])):
            if i1 > i0 and j1 > j0:
                x[:, :, r0 : r0 + (i1 - i0 - 1) * s[0] + 1 : s[0], q0 : q0 + (j1 - j0 - 1) * s[1] + 1 : s[1]] = (
                    phases[ai, bi, :, :, i0:i1, j0:j1]
                )


# The copy loops below index with unsigned integers: Numba then knows no index is negative, drops its
# negative-index wraparound, and emits vector loads and stores (about twice as fast on short runs).


@njit()
def im2col(phases, n0, n1, phase_h, shift_h, phase_w, shift_w, h_out, cols):
    """cols[(c·kh + u)·kw + v, (n − n0)·L + t] = P[phase_h[u], phase_w[v], n, c].flat[off(u, v) + t] for samples
    n0 <= n < n1 and t < L = h_out·W_ext, with off(u, v) = shift_h[u]·W_ext + shift_w[v]: one contiguous run per
    (row, sample)."""
    c_in, w_ph = phases.shape[3], phases.shape[5]
    plane = phases.shape[4] * w_ph
    flat = phases.reshape(phases.shape[0], phases.shape[1], -1)
    kh, kw = phase_h.size, phase_w.size
    length = np.uint64(h_out * w_ph)
    for row in range(c_in * kh * kw):
        c = row // (kh * kw)
        u = (row // kw) % kh
        v = row % kw
        src = flat[phase_h[u], phase_w[v]]
        dst = cols[row]
        for n in range(n0, n1):
            s0 = np.uint64((n * c_in + c) * plane + shift_h[u] * w_ph + shift_w[v])
            d0 = np.uint64(n - n0) * length
            for t in range(length):
                dst[d0 + t] = src[s0 + t]


@njit()
def col2im(cols, n0, n1, phase_h, shift_h, phase_w, shift_w, h_out, phases):
    """The adjoint of im2col: P[phase_h[u], phase_w[v], n, c].flat[off(u, v) + t] += cols[(c·kh + u)·kw + v, (n − n0)·L + t]
    for samples n0 <= n < n1 (P accumulates)."""
    c_in, w_ph = phases.shape[3], phases.shape[5]
    plane = phases.shape[4] * w_ph
    flat = phases.reshape(phases.shape[0], phases.shape[1], -1)
    kh, kw = phase_h.size, phase_w.size
    length = np.uint64(h_out * w_ph)
    for n in range(n0, n1):
        for c in range(c_in):
            for u in range(kh):
                for v in range(kw):
                    src = cols[(c * kh + u) * kw + v]
                    dst = flat[phase_h[u], phase_w[v]]
                    s0 = np.uint64(n - n0) * length
                    d0 = np.uint64((n * c_in + c) * plane + shift_h[u] * w_ph + shift_w[v])
                    for t in range(length):
                        dst[d0 + t] += src[s0 + t]


# The column matrix of a whole batch can be far larger than the CPU caches (80 MB for a 3x3 convolution with
# 64 input channels over 32 images of 32x32), and streaming it through memory three times costs more than the
# matrix products. So the batch is processed in chunks of samples whose columns fit in this many bytes.
CHUNK_BYTES = 4 << 20


def _chunks(n_batch, rows, length, itemsize):
    """Sample ranges [n0, n1) whose column matrix (rows × (n1 − n0)·length) stays within CHUNK_BYTES."""
    per_chunk = max(1, CHUNK_BYTES // max(1, rows * length * itemsize))
    return [(n0, min(n_batch, n0 + per_chunk)) for n0 in range(0, n_batch, per_chunk)]


def _unrolled(x, kernel_hw, s, p, d, out_hw):
    """Yield (n0, n1, cols) chunk by chunk: the unrolled windows of samples n0..n1 of x on the extended grid,
    (C·kH·kW, (n1 − n0)·H_out·W_ext). One buffer serves every chunk: use each before asking for the next."""
    n_batch, c_in = x.shape[:2]
    (res_h, phase_h, shift_h), (res_w, phase_w, shift_w) = (_taps(kernel_hw[i], s[i], d[i]) for i in range(2))
    h_ph, w_ext = _grid(kernel_hw, s, d, out_hw)
    phases = np.empty((res_h.size, res_w.size, n_batch, c_in, h_ph, w_ext), dtype=x.dtype)
    phase_split(x, res_h, res_w, s, p, phases)
    rows, length = c_in * kernel_hw[0] * kernel_hw[1], out_hw[0] * w_ext
    chunks = _chunks(n_batch, rows, length, x.itemsize)
    buffer = np.empty(rows * (chunks[0][1] - chunks[0][0]) * length if chunks else 0, dtype=x.dtype)
    for n0, n1 in chunks:
        cols = buffer[: rows * (n1 - n0) * length].reshape(rows, -1)
        im2col(phases, n0, n1, phase_h, shift_h, phase_w, shift_w, out_hw[0], cols)
        yield n0, n1, cols


def _extend(g, w_ext):
    """(N, C, H_out, W_out) -> (C, N·H_out·W_ext), zero in the scratch columns W_out <= j < W_ext."""
    n_batch, c, h_out, w_out = g.shape
    g_ext = np.zeros((c, n_batch, h_out, w_ext), dtype=g.dtype)
    g_ext[:, :, :, :w_out] = g.transpose(1, 0, 2, 3)
    return g_ext.reshape(c, -1)


def _crop(y_ext, n_batch, out_hw):
    """(C, N·H_out·W_ext) -> (N, C, H_out, W_out) view, dropping the scratch columns; the inverse of ``_extend``."""
    c = y_ext.shape[0]
    return y_ext.reshape(c, n_batch, out_hw[0], -1)[:, :, :, : out_hw[1]].transpose(1, 0, 2, 3)


def correlate(x, w, s, p, d, out_hw):
    """y = W · cols(x): conv2d forward without bias; x (N, C, H, W), w (O, C, kH, kW) -> (N, O) + out_hw."""
    w2 = w.reshape(w.shape[0], -1)
    y = np.empty((x.shape[0], w.shape[0]) + tuple(out_hw), dtype=x.dtype)
    for n0, n1, cols in _unrolled(x, w.shape[2:], s, p, d, out_hw):
        y[n0:n1] = _crop(w2 @ cols, n1 - n0, out_hw)
    return y


def scatter(g, w, s, p, d, in_hw):
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
    (res_h, phase_h, shift_h), (res_w, phase_w, shift_w) = (_taps(w.shape[2 + i], s[i], d[i]) for i in range(2))
    w2t = w.reshape(c_out, -1).T
    phases = np.zeros((res_h.size, res_w.size, n_batch, c_in, h_ph, w_ext), dtype=g.dtype)
    for n0, n1 in _chunks(n_batch, c_in * kh * kw, h_out * w_ext, g.itemsize):
        cols = w2t @ _extend(g[n0:n1], w_ext)
        col2im(cols, n0, n1, phase_h, shift_h, phase_w, shift_w, h_out, phases)
    x = np.zeros((n_batch, c_in) + tuple(in_hw), dtype=g.dtype)
    phase_merge(phases, res_h, res_w, s, p, x)
    return x


def weight_grad(g, x, kernel_hw, s, p, d, gx_weight=None):
    """gW = G · colsᵀ, both weight gradients: g (N, O, H_out, W_out), x (N, C, H, W) -> (O, C, kH, kW).

    With ``gx_weight`` (a weight of shape (O', C, kH, kW)) also returns correlate(x, gx_weight), computed from
    the same columns: conv_transpose2d's backward needs both from one unrolling of its output gradient.
    """
    out_hw = g.shape[2:]
    w_ext = _grid(kernel_hw, s, d, out_hw)[1]
    gw_t = np.zeros((x.shape[1] * kernel_hw[0] * kernel_hw[1], g.shape[1]), dtype=x.dtype)  # gWᵀ: BLAS is faster this way round
    y = None
    if gx_weight is not None:
        w2 = gx_weight.reshape(gx_weight.shape[0], -1)
        y = np.empty((x.shape[0], gx_weight.shape[0]) + tuple(out_hw), dtype=x.dtype)
    for n0, n1, cols in _unrolled(x, kernel_hw, s, p, d, out_hw):
        gw_t += cols @ _extend(g[n0:n1], w_ext).T
        if y is not None:
            y[n0:n1] = _crop(w2 @ cols, n1 - n0, out_hw)
    gw = np.ascontiguousarray(gw_t.T).reshape((g.shape[1], x.shape[1]) + tuple(kernel_hw))
    return gw if y is None else (gw, y)


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
    gw, gx = weight_grad(x, gy, w.shape[2:], s, p, d, gx_weight=w)
    return gx, gw, (gy.sum(axis=(0, 2, 3)) if need_bias else None)
