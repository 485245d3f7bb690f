"""Fast kernels: the three loops of ``readable`` recast as long contiguous copies (Numba) plus matrix products (BLAS).

Imports NumPy, ``deconvlab.parallel`` (the batch split), _args and _jit. Output pixel (i, j) and tap (u, v) read input pixel (i·s − p + u·d, j·s − p + v·d).
Two re-indexings make every tap a contiguous window, so the im2col copy runs at memory speed:

1. Polyphase split. Pad the input by p and cut it into phases (residues mod s),
       P[a, b, n, c, ih, jw] = x[n, c, ih·s_h + a − p_h, jw·s_w + b − p_w]     (0 outside x),
   so tap u, which reads padded row i·s + u·d = s·(i + ⌊u·d/s⌋) + (u·d mod s), reads phase a = u·d mod s at
   row i + ⌊u·d/s⌋: stride 1 inside one phase. Only the phases some tap reads are stored.
2. Extended rows. Each phase row is W_ext = W_out + ⌊(kW−1)·d_w/s_w⌋ long, and the output is computed on the
   (H_out, W_ext) grid, whose last W_ext − W_out columns are scratch (cropped away; zero in gradients).
   Then for one (c, u, v) and one sample the whole H_out × W_ext window is one contiguous run of P.
   Where the scratch would be more than a tenth of the work (small images), the grid stays compact
   (H_out, W_out) and the copies run one output row at a time instead.

With cols[(c, u, v), (n, i, j)] the unrolled windows, W the weight as (C_out, C_in·kH·kW) and G an output-sized
array laid out as (C_out, N·H_out·W_cols) with zero scratch columns, one matrix product does each job:

    correlate   (conv2d forward, conv_transpose2d input gradient):  Y  = W · cols
    scatter     (conv_transpose2d forward, conv2d input gradient):  x  = merge(col2im(Wᵀ · G))
    weight_grad (both weight gradients):                            gW = G · colsᵀ

Threads: the batch is split into one part per core (``deconvlab.parallel``), and each part runs all its copies and its
single-threaded matrix products on its own core. Within a part the samples go in chunks small enough for the
column matrix to stay in the core's cache. The copy loops are Numba; the products are NumPy's BLAS. Every sum
is taken in a fixed order (the weight gradient adds the parts' sums in part order), so results are bit-for-bit
repeatable for a given number of parts. Each public function has the signature of its twin in ``readable``
and agrees with it to ~1e-12 (float64).
"""
import numpy as np

from .. import parallel
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


def _ranges(res, s, p, n_ph, size):
    """``_phase_ranges`` as an int64 array (one row (a, i0, i1, r0) per stored phase), for the compiled loops."""
    return np.array(_phase_ranges(res, s, p, n_ph, size), dtype=np.int64).reshape(-1, 4)


def phase_split(x, res_h, res_w, s, p, phases):
    """phases[ai, bi, n, c, ih, jw] = x[n, c, ih·s_h + res_h[ai] − p_h, jw·s_w + res_w[bi] − p_w], 0 outside x."""
    h_ph, w_ph = phases.shape[4:]
    rows = _ranges(res_h, s[0], p[0], h_ph, x.shape[2])
    cols = _ranges(res_w, s[1], p[1], w_ph, x.shape[3])
    _split(x, rows, cols, s[0], s[1], phases)


def phase_merge(phases, res_h, res_w, s, p, x):
    """The inverse of ``phase_split`` on the pixels it stores: x[n, c, ih·s_h + res_h[ai] − p_h, jw·s_w + res_w[bi] − p_w]
    = phases[ai, bi, n, c, ih, jw]. Pass x zeroed: pixels no tap reads keep gradient 0."""
    h_ph, w_ph = phases.shape[4:]
    rows = _ranges(res_h, s[0], p[0], h_ph, x.shape[2])
    cols = _ranges(res_w, s[1], p[1], w_ph, x.shape[3])
    _merge(phases, rows, cols, s[0], s[1], x)


# The copy loops below index with unsigned integers: Numba then knows no index is negative, drops its
# negative-index wraparound, and emits vector loads and stores (about twice as fast on short runs).


@njit()
def _split(x, rows, cols, s_h, s_w, phases):
    """The loops of ``phase_split``: rows[ai] = (a, i0, i1, r0) says phase rows [i0, i1) read input rows
    r0, r0 + s_h, ...; cols[bi] likewise for columns. Every other element of ``phases`` is set to 0.
    One (sample, channel) plane at a time, all its phases together, so the plane is read from cache."""
    n_batch, c_in = x.shape[0], x.shape[1]
    h_ph, w_ph = phases.shape[4], phases.shape[5]
    step = np.uint64(s_w)
    for n in range(n_batch):
        for c in range(c_in):
            src = x[n, c]
            for ai in range(rows.shape[0]):
                i0, i1, r0 = rows[ai, 1], rows[ai, 2], rows[ai, 3]
                for bi in range(cols.shape[0]):
                    j0, j1, q0 = np.uint64(cols[bi, 1]), np.uint64(cols[bi, 2]), np.uint64(cols[bi, 3])
                    dst = phases[ai, bi, n, c]
                    for i in range(h_ph):
                        out = dst[i]
                        if i < i0 or i >= i1:
                            for j in range(w_ph):
                                out[j] = 0
                            continue
                        line = src[r0 + (i - i0) * s_h]
                        for j in range(j0):
                            out[j] = 0
                        for j in range(j1 - j0):
                            out[j0 + j] = line[q0 + j * step]
                        for j in range(j1, w_ph):
                            out[j] = 0


@njit()
def _merge(phases, rows, cols, s_h, s_w, x):
    """The loops of ``phase_merge``: the stored pixels of each phase written back to their places in x,
    one (sample, channel) plane at a time, so the plane is written in cache."""
    n_batch, c_in = x.shape[0], x.shape[1]
    step = np.uint64(s_w)
    for n in range(n_batch):
        for c in range(c_in):
            dst = x[n, c]
            for ai in range(rows.shape[0]):
                i0, i1, r0 = rows[ai, 1], rows[ai, 2], rows[ai, 3]
                for bi in range(cols.shape[0]):
                    j0, j1, q0 = np.uint64(cols[bi, 1]), np.uint64(cols[bi, 2]), np.uint64(cols[bi, 3])
                    src = phases[ai, bi, n, c]
                    for i in range(i0, i1):
                        line = dst[r0 + (i - i0) * s_h]
                        ph = src[i]
                        for j in range(j1 - j0):
                            line[q0 + j * step] = ph[j0 + j]


@njit()
def _extend_into(g, g_ext):
    """g_ext[c, n, i, j] = g[n, c, i, j] for j < W_out, 0 for W_out <= j < W_ext (the scratch columns)."""
    n_batch, c_out, h_out, w_out = g.shape
    w_ext = g_ext.shape[3]
    for c in range(c_out):
        for n in range(n_batch):
            for i in range(h_out):
                src = g[n, c, i]
                dst = g_ext[c, n, i]
                for j in range(w_out):
                    dst[j] = src[j]
                for j in range(w_out, w_ext):
                    dst[j] = 0


@njit()
def _crop_into(y_ext, y):
    """y[n, c, i, j] = y_ext[c, n, i, j] for j < W_out: the extended grid's scratch columns dropped."""
    n_batch, c_out, h_out, w_out = y.shape
    for n in range(n_batch):
        for c in range(c_out):
            for i in range(h_out):
                src = y_ext[c, n, i]
                dst = y[n, c, i]
                for j in range(w_out):
                    dst[j] = src[j]


@njit()
def im2col(phases, n0, n1, row0, phase_h, shift_h, phase_w, shift_w, h_out, w_cols, cols):
    """cols[(c·kh + u)·kw + v, (n − n0)·L + i·w_cols + j] = P[phase_h[u], phase_w[v], n, c, row0 + i + shift_h[u], j + shift_w[v]]
    for samples n0 <= n < n1, output rows row0 <= row0 + i < row0 + h_out, j < w_cols, L = h_out·w_cols. On the
    extended grid (w_cols = W_ext) that is one contiguous run of L per (row, sample); on the compact one
    (w_cols = W_out), h_out runs of W_out."""
    c_in, w_ph = phases.shape[3], phases.shape[5]
    plane = phases.shape[4] * w_ph
    flat = phases.reshape(phases.shape[0], phases.shape[1], -1)
    kh, kw = phase_h.size, phase_w.size
    runs, run = (1, h_out * w_ph) if w_cols == w_ph else (h_out, w_cols)
    length, run, stride = np.uint64(h_out * w_cols), np.uint64(run), np.uint64(w_ph)
    for row in range(c_in * kh * kw):
        c = row // (kh * kw)
        u = (row // kw) % kh
        v = row % kw
        src = flat[phase_h[u], phase_w[v]]
        dst = cols[row]
        for n in range(n0, n1):
            s0 = np.uint64((n * c_in + c) * plane + (row0 + shift_h[u]) * w_ph + shift_w[v])
            d0 = np.uint64(n - n0) * length
            for r in range(runs):
                for t in range(run):
                    dst[d0 + t] = src[s0 + t]
                s0 += stride
                d0 += run


@njit()
def col2im(cols, n0, n1, row0, phase_h, shift_h, phase_w, shift_w, h_out, w_cols, phases):
    """The adjoint of im2col: P[phase_h[u], phase_w[v], n, c, row0 + i + shift_h[u], j + shift_w[v]] +=
    cols[(c·kh + u)·kw + v, (n − n0)·L + i·w_cols + j] for samples n0 <= n < n1 (P accumulates).

    Rows are read in order, each from start to end, like im2col writes them. Each pixel receives its taps in
    the order (u, v), the same in any loop order over rows and samples, so the sums are fixed to the bit."""
    c_in, w_ph = phases.shape[3], phases.shape[5]
    plane = phases.shape[4] * w_ph
    flat = phases.reshape(phases.shape[0], phases.shape[1], -1)
    kh, kw = phase_h.size, phase_w.size
    runs, run = (1, h_out * w_ph) if w_cols == w_ph else (h_out, w_cols)
    length, run, stride = np.uint64(h_out * w_cols), np.uint64(run), np.uint64(w_ph)
    for row in range(c_in * kh * kw):
        c = row // (kh * kw)
        u = (row // kw) % kh
        v = row % kw
        src = cols[row]
        dst = flat[phase_h[u], phase_w[v]]
        for n in range(n0, n1):
            s0 = np.uint64(n - n0) * length
            d0 = np.uint64((n * c_in + c) * plane + (row0 + shift_h[u]) * w_ph + shift_w[v])
            for r in range(runs):
                for t in range(run):
                    dst[d0 + t] += src[s0 + t]
                s0 += run
                d0 += stride


# The extended grid makes each im2col run long, at the price of W_ext − W_out scratch columns in every matrix
# product. On small images (W_out = 4 with a dilated 3x3 kernel: W_ext = 8) that price is most of the work, so
# the columns are compact (W_out wide, one short run per output row) when the scratch would exceed this fraction
# of the work (the threshold's measurement is in docs/performance.md).
EXTENDED_WASTE_MAX = 0.1


def _col_width(w_out, w_ext):
    """The width of the column grid: W_ext (extended rows) unless its scratch exceeds EXTENDED_WASTE_MAX."""
    return w_ext if w_ext - w_out <= EXTENDED_WASTE_MAX * w_out else w_out


# The column matrix of a whole batch can be far larger than the CPU caches (80 MB for a 3x3 convolution with
# 64 input channels over 32 images of 32x32), and streaming it through memory three times costs more than the
# matrix products. So the batch is processed in chunks of samples whose columns fit in this many bytes (a
# core's L2 cache; the size was chosen by measurement, see docs/performance.md). A single image too large for
# one chunk (a photo tile) goes in bands of output rows, at least BAND_ROWS at a time, so that memory stays
# bounded by the activations rather than by the column matrix (C·kH·kW times the image).
CHUNK_BYTES = 1 << 20
BAND_ROWS = 8


def _chunks(n_batch, h_out, rows, w_cols, itemsize):
    """Pieces (n0, n1, i0, i1) of the output, samples [n0, n1) and output rows [i0, i1), whose column matrix
    (rows × (n1 − n0)·(i1 − i0)·w_cols) stays within CHUNK_BYTES: whole samples when one fits, else one sample
    at a time in bands of output rows (at least BAND_ROWS)."""
    per_sample = rows * h_out * w_cols * itemsize
    if per_sample <= CHUNK_BYTES:
        per_chunk = max(1, CHUNK_BYTES // max(1, per_sample))
        return [(n0, min(n_batch, n0 + per_chunk), 0, h_out) for n0 in range(0, n_batch, per_chunk)]
    band = max(BAND_ROWS, CHUNK_BYTES // max(1, rows * w_cols * itemsize))
    return [(n, n + 1, i0, min(h_out, i0 + band)) for n in range(n_batch) for i0 in range(0, h_out, band)]


def _unrolled(x, kernel_hw, s, p, d, out_hw):
    """Yield (n0, n1, i0, i1, cols) chunk by chunk (``_chunks``): the unrolled windows of samples n0..n1 and
    output rows i0..i1 of x on the column grid, (C·kH·kW, (n1 − n0)·(i1 − i0)·w_cols). One buffer serves every
    chunk: use each before asking for the next."""
    n_batch, c_in = x.shape[:2]
    (res_h, phase_h, shift_h), (res_w, phase_w, shift_w) = (_taps(kernel_hw[i], s[i], d[i]) for i in range(2))
    h_ph, w_ext = _grid(kernel_hw, s, d, out_hw)
    phases = np.empty((res_h.size, res_w.size, n_batch, c_in, h_ph, w_ext), dtype=x.dtype)
    phase_split(x, res_h, res_w, s, p, phases)
    w_cols = _col_width(out_hw[1], w_ext)
    rows = c_in * kernel_hw[0] * kernel_hw[1]
    chunks = _chunks(n_batch, out_hw[0], rows, w_cols, x.itemsize)
    size = max(((n1 - n0) * (i1 - i0) for n0, n1, i0, i1 in chunks), default=0)
    buffer = np.empty(rows * size * w_cols, dtype=x.dtype)
    for n0, n1, i0, i1 in chunks:
        cols = buffer[: rows * (n1 - n0) * (i1 - i0) * w_cols].reshape(rows, -1)
        im2col(phases, n0, n1, i0, phase_h, shift_h, phase_w, shift_w, i1 - i0, w_cols, cols)
        yield n0, n1, i0, i1, cols


def _extend(g, w_ext):
    """(N, C, H_out, W_out) -> (C, N·H_out·W_ext), zero in the scratch columns W_out <= j < W_ext."""
    n_batch, c, h_out, _ = g.shape
    g_ext = np.empty((c, n_batch, h_out, w_ext), dtype=g.dtype)
    _extend_into(g, g_ext)
    return g_ext.reshape(c, -1)


def _crop_to(y_ext, y, i0=0, i1=None):
    """y[:, :, i0:i1] (of y (N, C, H_out, W_out)) <- y_ext (C, N·(i1 − i0)·W_cols), dropping the scratch columns;
    the inverse of ``_extend``. A band of rows (not all of y) is copied by NumPy."""
    n_batch, c, h_out, w_out = y.shape
    i1 = h_out if i1 is None else i1
    if (i0, i1) == (0, h_out):
        _crop_into(y_ext.reshape(c, n_batch, h_out, -1), y)
    else:
        y[:, :, i0:i1] = y_ext.reshape(c, n_batch, i1 - i0, -1)[:, :, :, :w_out].transpose(1, 0, 2, 3)


def _extended_band(g, i0, i1, w_cols):
    """``_extend`` of output rows [i0, i1) of g."""
    return _extend(g if (i0, i1) == (0, g.shape[2]) else np.ascontiguousarray(g[:, :, i0:i1]), w_cols)


def correlate(x, w, s, p, d, out_hw, b=None):
    """y = W · cols(x) (+ b): conv2d forward; x (N, C, H, W), w (O, C, kH, kW), b (O,) or None -> (N, O) + out_hw."""
    y = np.empty((x.shape[0], w.shape[0]) + tuple(out_hw), dtype=x.dtype)
    parallel.run_in_parts(x.shape[0], lambda n0, n1: _correlate_into(x[n0:n1], w, s, p, d, out_hw, y[n0:n1], b))
    return y


def _correlate_into(x, w, s, p, d, out_hw, y, b=None):
    """``correlate`` of one part of the batch, on the calling thread, written into y (the bias added chunk by
    chunk, while the chunk is in cache)."""
    w2 = w.reshape(w.shape[0], -1)
    for n0, n1, i0, i1, cols in _unrolled(x, w.shape[2:], s, p, d, out_hw):
        _crop_to(w2 @ cols, y[n0:n1], i0, i1)
        if b is not None:
            y[n0:n1, :, i0:i1] += b.reshape(1, -1, 1, 1)


def scatter(g, w, s, p, d, in_hw, b=None):
    """x = merge(col2im(Wᵀ · G)) (+ b): conv2d input gradient, conv_transpose2d forward; g (N, O, H_out, W_out),
    w (O, C, kH, kW), b (C,) or None -> (N, C) + in_hw.

    With stride 1 and fewer output than input channels, the same result comes cheaper from design identity 5
    (docs/design.md): a correlation of g with the kernel flipped and its channel axes swapped, padded by d(k−1) − p.
    Its column matrix has O·kH·kW rows instead of C·kH·kW.
    """
    n_batch, c_out = g.shape[:2]
    c_in, kh, kw = w.shape[1:]
    if s == (1, 1) and c_out < c_in:
        flipped = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        p_flip = (d[0] * (kh - 1) - p[0], d[1] * (kw - 1) - p[1])
        return correlate(g, flipped, s, p_flip, d, in_hw, b)
    x = np.zeros((n_batch, c_in) + tuple(in_hw), dtype=g.dtype)
    parallel.run_in_parts(n_batch, lambda n0, n1: _scatter_into(g[n0:n1], w, s, p, d, x[n0:n1], b))
    return x


def _scatter_into(g, w, s, p, d, x, b=None):
    """``scatter`` of one part of the batch, on the calling thread, added into x (pass it zeroed)."""
    n_batch, c_out, h_out, w_out = g.shape
    c_in, kh, kw = w.shape[1:]
    h_ph, w_ext = _grid((kh, kw), s, d, (h_out, w_out))
    (res_h, phase_h, shift_h), (res_w, phase_w, shift_w) = (_taps(w.shape[2 + i], s[i], d[i]) for i in range(2))
    w2t = w.reshape(c_out, -1).T
    phases = np.zeros((res_h.size, res_w.size, n_batch, c_in, h_ph, w_ext), dtype=g.dtype)
    w_cols = _col_width(w_out, w_ext)
    for n0, n1, i0, i1 in _chunks(n_batch, h_out, c_in * kh * kw, w_cols, g.itemsize):
        cols = w2t @ _extended_band(g[n0:n1], i0, i1, w_cols)
        col2im(cols, n0, n1, i0, phase_h, shift_h, phase_w, shift_w, i1 - i0, w_cols, phases)
    phase_merge(phases, res_h, res_w, s, p, x)
    if b is not None:
        x += b.reshape(1, -1, 1, 1)


def weight_grad(g, x, kernel_hw, s, p, d, gx_weight=None, scatter_weight=None):
    """gW = G · colsᵀ, both weight gradients: g (N, O, H_out, W_out), x (N, C, H, W) -> (O, C, kH, kW).

    With ``gx_weight`` (a weight of shape (O', C, kH, kW)) also returns correlate(x, gx_weight), computed from
    the same columns: conv_transpose2d's backward needs both from one unrolling of its output gradient.
    With ``scatter_weight`` (the conv2d weight (O, C, kH, kW)) also returns scatter(g, scatter_weight, ...),
    x's gradient, from the same pass over g: conv2d's backward. The parts' sums are added in part order.
    """
    n_batch = x.shape[0]
    y = None
    if gx_weight is not None:
        y = np.empty((n_batch, gx_weight.shape[0]) + tuple(g.shape[2:]), dtype=x.dtype)
    elif scatter_weight is not None:
        y = np.zeros(x.shape, dtype=x.dtype)

    def part(n0, n1):
        y_part = None if y is None else y[n0:n1]
        return _weight_grad_part(g[n0:n1], x[n0:n1], kernel_hw, s, p, d, gx_weight, scatter_weight, y_part)

    partial = parallel.run_in_parts(n_batch, part)
    gw_t = partial[0]
    for more in partial[1:]:
        gw_t += more
    gw = np.ascontiguousarray(gw_t.T).reshape((g.shape[1], x.shape[1]) + tuple(kernel_hw))
    return gw if y is None else (gw, y)


def _weight_grad_part(g, x, kernel_hw, s, p, d, gx_weight, scatter_weight, y):
    """``weight_grad`` of one part of the batch, on the calling thread: returns its gWᵀ, writes y if given."""
    out_hw = g.shape[2:]
    h_ph, w_ext = _grid(kernel_hw, s, d, out_hw)
    w_cols = _col_width(out_hw[1], w_ext)
    gw_t = np.zeros((x.shape[1] * kernel_hw[0] * kernel_hw[1], g.shape[1]), dtype=x.dtype)  # gWᵀ: BLAS is faster this way round
    if gx_weight is not None:
        w2 = gx_weight.reshape(gx_weight.shape[0], -1)
    if scatter_weight is not None:
        w2t = scatter_weight.reshape(scatter_weight.shape[0], -1).T
        (res_h, phase_h, shift_h), (res_w, phase_w, shift_w) = (_taps(kernel_hw[i], s[i], d[i]) for i in range(2))
        gx_phases = np.zeros((res_h.size, res_w.size) + x.shape[:2] + (h_ph, w_ext), dtype=x.dtype)
    for n0, n1, i0, i1, cols in _unrolled(x, kernel_hw, s, p, d, out_hw):
        g_cols = _extended_band(g[n0:n1], i0, i1, w_cols)
        gw_t += cols @ g_cols.T
        if gx_weight is not None:
            _crop_to(w2 @ cols, y[n0:n1], i0, i1)
        if scatter_weight is not None:
            col2im(w2t @ g_cols, n0, n1, i0, phase_h, shift_h, phase_w, shift_w, i1 - i0, w_cols, gx_phases)
    if scatter_weight is not None:
        phase_merge(gx_phases, res_h, res_w, s, p, y)
    return gw_t


def conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1):
    """Cross-correlation y[n,o,i,j] = b[o] + Σ_c Σ_u Σ_v w[o,c,u,v] · x[n, c, i·s−p+u·d, j·s−p+v·d].

    x (N, C_in, H, W), w (C_out, C_in, kH, kW), b (C_out,) or None -> y (N, C_out, H_out, W_out),
    H_out = floor((H + 2p − d(kH − 1) − 1)/s) + 1. Inputs are never modified.
    """
    s, p, d, out_hw = _args.conv2d_args(x, w, b, stride, padding, dilation)
    return correlate(x, w, s, p, d, out_hw, b)


def conv2d_backward(gy, x, w, stride=1, padding=0, dilation=1, need_bias=True):
    """Gradients of conv2d for upstream gradient gy: returns (gx, gw, gb).

    gx = conv_transpose2d(gy, w) (the scatter), gw[o,c,u,v] = Σ_n,i,j gy[n,o,i,j] · x[n,c,i·s−p+u·d, j·s−p+v·d],
    gb[o] = Σ_n,i,j gy[n,o,i,j] (None unless need_bias).
    """
    s, p, d, out_hw = _args.conv2d_args(x, w, None, stride, padding, dilation, op="conv2d_backward")
    _args.check_grad_output(gy, (x.shape[0], w.shape[0]) + out_hw, x.dtype, "conv2d_backward")
    if s == (1, 1) and w.shape[0] < w.shape[1]:  # scatter's cheaper route: a correlation with the flipped kernel
        gx = scatter(gy, w, s, p, d, x.shape[2:])
        gw = weight_grad(gy, x, w.shape[2:], s, p, d)
    else:
        gw, gx = weight_grad(gy, x, w.shape[2:], s, p, d, scatter_weight=w)
    return gx, gw, (gy.sum(axis=(0, 2, 3)) if need_bias else None)


def conv_transpose2d_forward(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1):
    """Transposed convolution: y[n, o, i·s−p+u·d, j·s−p+v·d] += w[c,o,u,v] · x[n,c,i,j], plus b[o].

    x (N, C_in, H, W), w (C_in, C_out, kH, kW) -> y (N, C_out, H_out, W_out),
    H_out = (H − 1)s − 2p + d(kH − 1) + output_padding + 1. It is conv2d's input gradient, with w read as a
    conv2d weight mapping C_out -> C_in.
    """
    s, p, _, d, out_hw = _args.conv_transpose2d_args(x, w, b, stride, padding, output_padding, dilation)
    return scatter(x, w, s, p, d, out_hw, b)


def conv_transpose2d_backward(gy, x, w, stride=1, padding=0, output_padding=0, dilation=1, need_bias=True):
    """Gradients of conv_transpose2d: gx = conv2d(gy, w) (the correlate), gw = weight_grad(x, gy), gb = Σ gy."""
    s, p, _, d, out_hw = _args.conv_transpose2d_args(
        x, w, None, stride, padding, output_padding, dilation, op="conv_transpose2d_backward"
    )
    _args.check_grad_output(gy, (x.shape[0], w.shape[1]) + out_hw, x.dtype, "conv_transpose2d_backward")
    gw, gx = weight_grad(x, gy, w.shape[2:], s, p, d, gx_weight=w)
    return gx, gw, (gy.sum(axis=(0, 2, 3)) if need_bias else None)
