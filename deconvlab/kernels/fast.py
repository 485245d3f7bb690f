"""Fast kernels: the three loops of ``readable`` computed by the algorithm ``plan`` chooses for the layer —
im2col (long contiguous copies plus BLAS matrix products), Winograd's minimal filtering (``winograd``) or
direct loops (``direct``), the latter two on a channels-last polyphase split.

Imports NumPy, ``deconvlab.parallel`` (the batch split), _args, _jit, plan, winograd and direct. Each public
function checks its arguments, reads the layer's geometry once (``plan.conv_geometry`` /
``conv_transpose_geometry``) and hands it to ``correlate``, ``scatter`` or ``backward``, which dispatch on
``plan.layout(geometry)`` (the algorithm, and whether a dilated layer runs on its subgrids). Output pixel (i, j) and tap (u, v) read input pixel (i·s − p + u·d, j·s − p + v·d).

im2col. Two re-indexings make every tap a contiguous window, so the im2col copy runs at memory speed:

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

Where each sample's output plane is large (``SAMPLE_MAJOR_PIXELS``) the columns are sample-major instead: each
sample has its own matrix cols[n] on the compact grid, and the products read and write the layer's arrays in
place, Y[n] = [W | b] · [cols[n]; 1], gWᵀ += cols[n] · G[n]ᵀ, x[n] = merge(col2im(Wᵀ · G[n])), with no copy of
the many-channel side of a few-channel layer into the (C_out, N·L) order and back.

Threads: the batch is split into one part per core (``deconvlab.parallel``), and each part runs all its copies and its
single-threaded matrix products on its own core. Within a part the samples go in chunks small enough for the
column matrix to stay in the core's cache. The copy loops are Numba; the products are NumPy's BLAS. Every sum
is taken in a fixed order (the weight gradient adds the parts' sums in part order), so results are bit-for-bit
repeatable for a given number of parts. Each public function has the signature of its twin in ``readable``
and agrees with it to ~1e-12 (float64), whichever algorithm runs.

Winograd and direct. At dilation 1 the polyphase split makes any layer a stride-1 correlation with r = ⌈k/s⌉
taps a side over C' = phases × C_in channels (the section "the polyphase split for Winograd and the direct
loops" below); ``winograd`` and ``direct`` compute that correlation and its adjoints, part by part.
"""
import functools
import math
from collections import namedtuple

import numpy as np

from .. import parallel
from . import _args, direct, plan, winograd
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
def _split_channels_last(x, rows, cols, s_h, s_w, phases):
    """phases[n, ih, jw, (ai·n_b + bi)·C + c] = x[n, c, ih·s_h + a − p_h, jw·s_w + b − p_w], 0 outside x: the
    polyphase split of ``phase_split`` with the phases and channels innermost (rows, cols as in ``_split``).
    One output pixel's channels at a time: the writes are contiguous, the reads (one per channel plane) come
    from a few cache lines that the next pixels read again. (Writing each channel plane along a row instead
    was 1.1–3.7 times slower, most on small, deep layers; docs/performance.md.)"""
    c_in = x.shape[1]
    h_ph, w_ph = phases.shape[1], phases.shape[2]
    n_b = cols.shape[0]
    for n in range(x.shape[0]):
        for ai in range(rows.shape[0]):
            i0, i1, r0 = rows[ai, 1], rows[ai, 2], rows[ai, 3]
            for i in range(h_ph):
                line = phases[n, i]
                r = r0 + (i - i0) * s_h
                for bi in range(n_b):
                    j0, j1, q0 = cols[bi, 1], cols[bi, 2], cols[bi, 3]
                    base = (ai * n_b + bi) * c_in
                    for j in range(w_ph):
                        dst = line[j]
                        if i0 <= i < i1 and j0 <= j < j1:
                            q = q0 + (j - j0) * s_w
                            for c in range(c_in):
                                dst[base + c] = x[n, c, r, q]
                        else:
                            for c in range(c_in):
                                dst[base + c] = 0


@njit()
def _merge_channels_last(phases, rows, cols, s_h, s_w, x):
    """The inverse of ``_split_channels_last`` on the pixels it stores: x[n, c, ih·s_h + a − p_h, jw·s_w + b − p_w]
    = phases[n, ih, jw, (ai·n_b + bi)·C + c]."""
    n_batch, c_in = x.shape[0], x.shape[1]
    h_ph, w_ph, width = phases.shape[1], phases.shape[2], phases.shape[3]
    n_b = cols.shape[0]
    flat = phases.reshape(-1)
    wd, step = np.uint64(width), np.uint64(s_w)
    for n in range(n_batch):
        for ai in range(rows.shape[0]):
            i0, i1, r0 = rows[ai, 1], rows[ai, 2], rows[ai, 3]
            for i in range(i0, i1):
                row0 = np.uint64((n * h_ph + i) * w_ph * width)
                r = r0 + (i - i0) * s_h
                for bi in range(n_b):
                    j0, j1, q0 = np.uint64(cols[bi, 1]), np.uint64(cols[bi, 2]), np.uint64(cols[bi, 3])
                    base = row0 + np.uint64((ai * n_b + bi) * c_in)
                    for c in range(c_in):
                        dst = x[n, c, r]
                        s0 = base + np.uint64(c)
                        for j in range(j1 - j0):
                            dst[q0 + j * step] = flat[s0 + (j0 + j) * wd]


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


# Where im2col and col2im find each tap (u, v) — phase_h[u], shift_h[u], phase_w[v], shift_w[v], from ``_taps`` —
# and the column grid: h_out rows of w_cols columns, from output row row0 on (a band of a large image).
# rows_per_sample: 0 for row-major columns (one matrix for a chunk of samples), else sample-major (``im2col``).
Unroll = namedtuple("Unroll", "phase_h shift_h phase_w shift_w h_out w_cols row0 rows_per_sample")


def _unroll(kernel_hw, s, d, h_out, w_cols):
    """The Unroll record of a layer, and the residues (res_h, res_w) of the phases its taps read."""
    (res_h, phase_h, shift_h), (res_w, phase_w, shift_w) = (_taps(kernel_hw[i], s[i], d[i]) for i in range(2))
    return Unroll(phase_h, shift_h, phase_w, shift_w, h_out, w_cols, 0, 0), res_h, res_w


@njit(inline="always")
def _col_steps(un, n_samples):
    """(row step, sample step) of a column matrix in the flat buffer: row-major (rows_per_sample 0),
    cols[row, (n, i, j)]: (n_samples·L, L); sample-major, cols[(n, row), (i, j)] with rows_per_sample rows per
    sample: (L, rows_per_sample·L). L = h_out·w_cols."""
    length = un[4] * un[5]
    if un[7] == 0:
        return np.uint64(n_samples * length), np.uint64(length)
    return np.uint64(length), np.uint64(un[7] * length)


@njit()
def im2col(phases, n0, n1, un, cols):
    """cols[(c·kh + u)·kw + v, (n − n0)·L + i·w_cols + j] = P[phase_h[u], phase_w[v], n, c, row0 + i + shift_h[u], j + shift_w[v]]
    for samples n0 <= n < n1, i < h_out, j < w_cols, L = h_out·w_cols (the fields of the Unroll record ``un``). On the
    extended grid (w_cols = W_ext) that is one contiguous run of L per (row, sample); on the compact one
    (w_cols = W_out), h_out runs of W_out. Sample-major (``un.rows_per_sample`` R > 0) the same numbers go to
    cols[(n − n0)·R + (c·kh + u)·kw + v, i·w_cols + j]: each sample's own matrix, rows beyond the taps untouched."""
    phase_h, shift_h, phase_w, shift_w, h_out, w_cols, row0 = un[:7]
    c_in, w_ph = phases.shape[3], phases.shape[5]
    plane = phases.shape[4] * w_ph
    flat = phases.reshape(phases.shape[0], phases.shape[1], -1)
    dst = cols.reshape(-1)
    kh, kw = phase_h.size, phase_w.size
    runs, run = (1, h_out * w_ph) if w_cols == w_ph else (h_out, w_cols)
    run, stride = np.uint64(run), np.uint64(w_ph)
    row_step, sample_step = _col_steps(un, n1 - n0)
    for row in range(c_in * kh * kw):
        c = row // (kh * kw)
        u = (row // kw) % kh
        v = row % kw
        src = flat[phase_h[u], phase_w[v]]
        for n in range(n0, n1):
            s0 = np.uint64((n * c_in + c) * plane + (row0 + shift_h[u]) * w_ph + shift_w[v])
            d0 = np.uint64(row) * row_step + np.uint64(n - n0) * sample_step
            for r in range(runs):
                for t in range(run):
                    dst[d0 + t] = src[s0 + t]
                s0 += stride
                d0 += run


@njit()
def col2im(cols, n0, n1, un, phases):
    """The adjoint of im2col: P[phase_h[u], phase_w[v], n, c, row0 + i + shift_h[u], j + shift_w[v]] +=
    cols[(c·kh + u)·kw + v, (n − n0)·L + i·w_cols + j] for samples n0 <= n < n1 (P accumulates).

    Rows are read in order, each from start to end, like im2col writes them. Each pixel receives its taps in
    the order (u, v), the same in any loop order over rows and samples, so the sums are fixed to the bit.
    Sample-major columns (``un.rows_per_sample`` > 0) are read where ``im2col`` writes them."""
    phase_h, shift_h, phase_w, shift_w, h_out, w_cols, row0 = un[:7]
    c_in, w_ph = phases.shape[3], phases.shape[5]
    plane = phases.shape[4] * w_ph
    flat = phases.reshape(phases.shape[0], phases.shape[1], -1)
    src = cols.reshape(-1)
    kh, kw = phase_h.size, phase_w.size
    runs, run = (1, h_out * w_ph) if w_cols == w_ph else (h_out, w_cols)
    run, stride = np.uint64(run), np.uint64(w_ph)
    row_step, sample_step = _col_steps(un, n1 - n0)
    for row in range(c_in * kh * kw):
        c = row // (kh * kw)
        u = (row // kw) % kh
        v = row % kw
        dst = flat[phase_h[u], phase_w[v]]
        for n in range(n0, n1):
            s0 = np.uint64(row) * row_step + np.uint64(n - n0) * sample_step
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
# matrix products. So the batch is processed in chunks of samples whose columns fit in this many bytes: a
# core's L2 cache, as the machine reports it (``parallel.l2_cache_bytes``; measured best on a machine with 1 MB
# and on one with 2 MB, see docs/performance.md). A single image too large for one chunk (a photo tile) goes in
# bands of output rows, at least BAND_ROWS at a time, so that memory stays bounded by the activations rather than
# by the column matrix (C·kH·kW times the image).
CHUNK_BYTES = parallel.l2_cache_bytes()
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


def _band(un, i0, i1):
    """The Unroll record of output rows [i0, i1) of a layer."""
    return un._replace(h_out=i1 - i0, row0=i0)


# Sample-major columns. Row-major columns (C·kH·kW, n·L) serve a chunk of n samples with one matrix product,
# but its other factor and its result are laid out (C_out, n·L), channels before samples, so the output gradient
# is copied into that order (``_extend``) and the product copied out of it (``_crop_to``): two passes over the
# many-channel side of the layer. Where each sample's output plane is large, each sample gets its own matrix
# (C·kH·kW, L) on the compact grid instead, and the products read and write the layer's (N, C, H·W) arrays
# where they are: Y[n] = W · cols[n], gWᵀ += cols[n] · G[n]ᵀ, cols'[n] = Wᵀ · G[n]. Used where L = H_out·W_out
# is at least this (measured in docs/performance.md); a single large image goes in bands of rows either way.
SAMPLE_MAJOR_PIXELS = 256


class _Columns(namedtuple("_Columns", "un res_h res_w h_ph w_ext rows")):
    """How ``geo``'s windows are unrolled: the Unroll record, the phases' residues, the phase grid (h_ph, w_ext)
    and the tap rows C·kH·kW."""

    @property
    def sample_major(self):
        """Whether each sample has its own column matrix (``SAMPLE_MAJOR_PIXELS``)."""
        return self.un.rows_per_sample > 0

    @property
    def matrix_rows(self):
        """The rows of one column matrix per sample: the taps' rows, and the extra ones of sample-major columns."""
        return self.un.rows_per_sample or self.rows


def _columns(geo, extra_rows=0):
    """The ``_Columns`` of geometry ``geo``; sample-major columns leave ``extra_rows`` more rows per sample for the
    caller (the bias's row of ones)."""
    kernel_hw, s, d, out_hw = geo.kernel_hw, geo.stride, geo.dilation, geo.out_hw
    h_ph, w_ext = _grid(kernel_hw, s, d, out_hw)
    rows = geo.c_in * kernel_hw[0] * kernel_hw[1]
    sample_major = out_hw[0] * out_hw[1] >= SAMPLE_MAJOR_PIXELS
    un, res_h, res_w = _unroll(kernel_hw, s, d, out_hw[0], out_hw[1] if sample_major else _col_width(out_hw[1], w_ext))
    if sample_major:
        un = un._replace(rows_per_sample=rows + extra_rows)
    return _Columns(un, res_h, res_w, h_ph, w_ext, rows)


def _column_chunks(n_batch, geo, columns):
    """``_chunks`` for these columns (counting the extra rows of sample-major ones)."""
    return _chunks(n_batch, geo.out_hw[0], columns.matrix_rows, columns.un.w_cols, geo.itemsize)


def _column_buffer(chunks, columns, dtype):
    """One flat buffer large enough for the column matrix of any of ``chunks``."""
    return np.empty(columns.matrix_rows * max(((n1 - n0) * (i1 - i0) for n0, n1, i0, i1 in chunks), default=0) * columns.un.w_cols,
                    dtype=dtype)


def _column_view(buffer, columns, n0, n1, i0, i1):
    """The chunk's column matrix in ``buffer``: (rows, (n1 − n0)·L) row-major, (n1 − n0, R, L) sample-major,
    L = (i1 − i0)·w_cols."""
    length = (i1 - i0) * columns.un.w_cols
    if columns.sample_major:
        return buffer[: (n1 - n0) * columns.matrix_rows * length].reshape(n1 - n0, -1, length)
    return buffer[: columns.rows * (n1 - n0) * length].reshape(columns.rows, -1)


def _plane_band(a, n0, n1, i0, i1):
    """a[n0:n1, :, i0:i1] of a C-contiguous (N, C, H, W) array as an (n1 − n0, C, (i1 − i0)·W) view: a sample-major
    product's factor or destination, read or written in place."""
    n, c, h, w = a.shape
    return a.reshape(n, c, h * w)[n0:n1, :, i0 * w:i1 * w]


def _unrolled(x, geo, columns):
    """Yield (n0, n1, i0, i1, cols) chunk by chunk (``_chunks``): the unrolled windows of samples n0..n1 and output
    rows i0..i1 of x (the layer's input, of geometry ``geo``, unrolled as ``columns`` says):
    (C·kH·kW, (n1 − n0)·(i1 − i0)·W_cols) row-major, or sample-major (n1 − n0, matrix_rows, (i1 − i0)·W_out) with
    the extra rows set to 1. One buffer serves every chunk: use each before asking for the next."""
    un = columns.un
    phases = np.empty((columns.res_h.size, columns.res_w.size) + x.shape[:2] + (columns.h_ph, columns.w_ext),
                      dtype=x.dtype)
    phase_split(x, columns.res_h, columns.res_w, geo.stride, geo.padding, phases)
    chunks = _column_chunks(x.shape[0], geo, columns)
    buffer = _column_buffer(chunks, columns, x.dtype)
    for n0, n1, i0, i1 in chunks:
        cols = _column_view(buffer, columns, n0, n1, i0, i1)
        im2col(phases, n0, n1, _band(un, i0, i1), cols.reshape(-1, cols.shape[-1]))
        if columns.matrix_rows > columns.rows:
            cols[:, columns.rows:] = 1
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


def _add_bias(y, b):
    if b is not None:
        y += b.reshape(1, -1, 1, 1)


def _in_parts(n_batch, job):
    """``parallel.run_in_parts`` with the parts' results (weight-gradient sums) added in part order."""
    partial = parallel.run_in_parts(n_batch, job)
    total = partial[0]
    for more in partial[1:]:
        total += more
    return total


# --- im2col: unrolled windows times the weight matrix ------------------------------------------------------


def _im2col_correlate(x, w, geo, b):
    """Y = W · cols(x) (+ b) chunk by chunk: x (N, C_in) + in_hw, w (C_out, C_in, kH, kW) -> (N, C_out) + out_hw;
    or at stride 1 with C_out < C_in the flipped scatter of ``_flip_geometry`` (a layer to few channels, like a
    network's last one: its column matrix is then C_out·kH·kW rows, not C_in·kH·kW)."""
    flipped = _flip_geometry(geo)
    if flipped is not None:
        return _im2col_scatter(x, _flipped_kernel(w), flipped, b)
    y = np.empty((geo.batch, geo.c_out) + geo.out_hw, dtype=x.dtype)
    w2 = w.reshape(w.shape[0], -1)
    # Sample-major, the bias is one more column of W against a row of ones: Y[n] = [W | b] · [cols[n]; 1].
    columns = _columns(geo, extra_rows=int(b is not None))
    if columns.sample_major:
        if b is not None:
            w2 = np.concatenate([w2, b.reshape(-1, 1)], axis=1)

        def part(n0, n1):
            for c0, c1, i0, i1, cols in _unrolled(x[n0:n1], geo, columns):
                np.matmul(w2, cols, out=_plane_band(y, n0 + c0, n0 + c1, i0, i1))
    else:
        def part(n0, n1):
            for c0, c1, i0, i1, cols in _unrolled(x[n0:n1], geo, columns):
                _crop_to(w2 @ cols, y[n0 + c0:n0 + c1], i0, i1)
                _add_bias(y[n0 + c0:n0 + c1, :, i0:i1], b)  # chunk by chunk, while the chunk is in cache

    parallel.run_in_parts(geo.batch, part)
    return y


def _flip_geometry(geo):
    """Design identity 5 at stride 1: the scatter of g is a correlation of g with the kernel flipped and its
    channel axes swapped (``_flipped_kernel``), padded by d(k − 1) − p, and so, read backwards, a correlation is
    the scatter of the same flipped kernel. The flipped form's column matrix has C_out·kH·kW rows instead of
    C_in·kH·kW, so it is the cheaper route when C_out < C_in, for the scatter and the correlation alike; returns
    the flipped geometry then (also a C_out < C_in one: it never flips back), else None. Only for
    0 <= p <= d(k − 1), where the flipped padding is not negative."""
    k, d, p = geo.kernel_hw, geo.dilation, geo.padding
    if geo.stride != (1, 1) or geo.c_out >= geo.c_in or any(p[i] > d[i] * (k[i] - 1) for i in range(2)):
        return None
    return geo._replace(c_in=geo.c_out, c_out=geo.c_in, in_hw=geo.out_hw, out_hw=geo.in_hw,
                        padding=(d[0] * (k[0] - 1) - p[0], d[1] * (k[1] - 1) - p[1]))


def _flipped_kernel(w):
    """w[o, c, u, v] -> w[c, o, kH − 1 − u, kW − 1 − v] (contiguous): the kernel of ``_flip_geometry``'s form."""
    return np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))


def _im2col_scatter(g, w, geo, b):
    """x = merge(col2im(Wᵀ · G)) (+ b), or at stride 1 with C_out < C_in the flipped correlation of
    ``_flip_geometry``: g (N, C_out) + out_hw -> (N, C_in) + in_hw."""
    flipped = _flip_geometry(geo)
    if flipped is not None:
        return _im2col_correlate(g, _flipped_kernel(w), flipped, b)
    x = np.zeros((geo.batch, geo.c_in) + geo.in_hw, dtype=g.dtype)
    columns = _columns(geo)
    un, res_h, res_w = columns.un, columns.res_h, columns.res_w
    w2t = w.reshape(geo.c_out, -1).T

    def part(n0, n1):
        phases = np.zeros((res_h.size, res_w.size, n1 - n0, geo.c_in, columns.h_ph, columns.w_ext), dtype=g.dtype)
        chunks = _column_chunks(n1 - n0, geo, columns)
        buffer = _column_buffer(chunks, columns, g.dtype) if columns.sample_major else None
        for c0, c1, i0, i1 in chunks:
            if columns.sample_major:  # cols'[n] = Wᵀ · G[n], G read in place
                cols = np.matmul(w2t, _plane_band(g, n0 + c0, n0 + c1, i0, i1),
                                 out=_column_view(buffer, columns, c0, c1, i0, i1))
                col2im(cols.reshape(-1, cols.shape[-1]), c0, c1, _band(un, i0, i1), phases)
            else:
                col2im(w2t @ _extended_band(g[n0 + c0:n0 + c1], i0, i1, un.w_cols), c0, c1, _band(un, i0, i1),
                       phases)
        phase_merge(phases, res_h, res_w, geo.stride, geo.padding, x[n0:n1])
        _add_bias(x[n0:n1], b)

    parallel.run_in_parts(geo.batch, part)
    return x


FEW_CHANNELS = 4


def _im2col_weight_grad_part(g, x, geo, gx_weight, scatter_weight, y):
    """The weight gradient's share of the samples of g and x: returns gWᵀ (BLAS is faster this way round). With
    ``gx_weight`` also writes y = correlate(x, gx_weight) from the same columns (conv_transpose2d's input
    gradient); with ``scatter_weight`` adds into y (zeroed) the scatter of g (conv2d's input gradient)."""
    columns = _columns(geo)
    un, res_h, res_w = columns.un, columns.res_h, columns.res_w
    gw_t = np.zeros((columns.rows, geo.c_out), dtype=x.dtype)
    if gx_weight is not None:
        w2 = gx_weight.reshape(gx_weight.shape[0], -1)
    if scatter_weight is not None:
        w2t = scatter_weight.reshape(scatter_weight.shape[0], -1).T
        gx_phases = np.zeros((res_h.size, res_w.size) + x.shape[:2] + (columns.h_ph, columns.w_ext), dtype=x.dtype)
    for n0, n1, i0, i1, cols in _unrolled(x, geo, columns):
        if columns.sample_major:  # every product reads g and writes y in place, sample by sample
            g3 = _plane_band(g, n0, n1, i0, i1)
            gw_t += np.matmul(cols, g3.transpose(0, 2, 1)).sum(axis=0)
            if gx_weight is not None:
                np.matmul(w2, cols, out=_plane_band(y, n0, n1, i0, i1))
            if scatter_weight is not None:
                col2im(np.matmul(w2t, g3).reshape(-1, cols.shape[-1]), n0, n1, _band(un, i0, i1), gx_phases)
            continue
        g_cols = _extended_band(g[n0:n1], i0, i1, un.w_cols)
        # With a few output channels (a network's last layer) BLAS multiplies by a transposed view of g's
        # columns at half the speed of a contiguous copy (docs/performance.md); the copy is small then.
        gw_t += cols @ (np.ascontiguousarray(g_cols.T) if geo.c_out <= FEW_CHANNELS else g_cols.T)
        if gx_weight is not None:
            _crop_to(w2 @ cols, y[n0:n1], i0, i1)
        if scatter_weight is not None:
            col2im(w2t @ g_cols, n0, n1, _band(un, i0, i1), gx_phases)
    if scatter_weight is not None:
        phase_merge(gx_phases, res_h, res_w, geo.stride, geo.padding, y)
    return gw_t


def _im2col_weight_grad(g, x, geo, gx_weight=None, scatter_weight=None, y=None):
    """gW = G · colsᵀ over the batch, in parts (their sums added in part order); y as in the part function."""
    def part(n0, n1):
        y_part = None if y is None else y[n0:n1]
        return _im2col_weight_grad_part(g[n0:n1], x[n0:n1], geo, gx_weight, scatter_weight, y_part)

    gw_t = _in_parts(geo.batch, part)
    return np.ascontiguousarray(gw_t.T).reshape((geo.c_out, geo.c_in) + geo.kernel_hw)


def _im2col_backward(g, x, w, geo, grad_input):
    """(gx, gw) of the layer of geometry ``geo`` for its output gradient g and input x: gw the weight gradient
    and gx, for grad_input "scatter", the scatter of g (conv2d's input gradient), for "correlate", the
    correlation of x with w (conv_transpose2d's), for None nothing (gx None)."""
    if grad_input == "correlate":
        y = np.empty((geo.batch, w.shape[0]) + geo.out_hw, dtype=x.dtype)
        return y, _im2col_weight_grad(g, x, geo, gx_weight=w, y=y)
    flipped = _flip_geometry(geo)
    if flipped is not None and grad_input is None:
        return None, _flipped_kernel(_im2col_weight_grad(x, g, flipped))
    if grad_input is None:
        return None, _im2col_weight_grad(g, x, geo)
    if flipped is not None:
        # Both gradients from the columns of g (C_out·kH·kW rows) instead of those of x (C_in·kH·kW): the scatter
        # of g is the flipped correlation (``_flip_geometry``, padding P' = d(k − 1) − P), and the weight gradient
        # of that correlation, x taking the place of its output gradient, is gW flipped back:
        # gWf[c, o, t'] = Σ_q x[c, q]·g[o, q + d·t' − P'] = Σ_i g[o, i]·x[c, i + d·t − P] = gW[o, c, t], t = k − 1 − t'.
        y = np.empty(x.shape, dtype=x.dtype)
        gw_flipped = _im2col_weight_grad(x, g, flipped, gx_weight=_flipped_kernel(w), y=y)
        return y, _flipped_kernel(gw_flipped)
    y = np.zeros(x.shape, dtype=x.dtype)
    return y, _im2col_weight_grad(g, x, geo, scatter_weight=w, y=y)


# --- the polyphase split for Winograd and the direct loops: channels last, weights as phase taps --------------
#
# At dilation 1, tap u of a stride-s kernel reads phase u mod s at shift ⌊u/s⌋, so phase (a, b) of the split sees
# the dense sub-kernel w[:, :, a::s, b::s] (r = ⌈k/s⌉ taps a side, zero-padded where k is not a multiple of s).
# The layer is then one stride-1 r×r correlation of the split, its phases read as extra input channels:
# C' = C_in · phases channels, stored last so that every step is a sum of contiguous channel vectors.


def _phase_rows_cols(geo, res, padded, in_hw):
    return (_ranges(res[0], geo.stride[0], geo.padding[0], padded[0], in_hw[0]),
            _ranges(res[1], geo.stride[1], geo.padding[1], padded[1], in_hw[1]))


def _phases_last(x, geo, res, padded):
    """The polyphase split of x, channels last: (N, Hp, Wp, phases · C)."""
    phases = np.empty((x.shape[0],) + padded + (res[0].size * res[1].size * x.shape[1],), dtype=x.dtype)
    rows, cols = _phase_rows_cols(geo, res, padded, x.shape[2:])
    _split_channels_last(x, rows, cols, geo.stride[0], geo.stride[1], phases)
    return phases


def _merge_last(gp, geo, res, x):
    """x <- the pixels of the channels-last split gp that lie in x (the others keep their value, 0)."""
    rows, cols = _phase_rows_cols(geo, res, gp.shape[1:3], x.shape[2:])
    _merge_channels_last(gp, rows, cols, geo.stride[0], geo.stride[1], x)


def _channels_last(g):
    out = np.empty((g.shape[0],) + g.shape[2:] + (g.shape[1],), dtype=g.dtype)
    direct.channels_last(g, out)
    return out


@njit()
def _phase_taps(w, s_h, s_w, taps, transposed):
    """taps[u, v, (a, b, c), o] = w[o, c, a + s_h·u, b + s_w·v], or with ``transposed`` taps[u, v, o, (a, b, c)]:
    the layer's weight as the (r_h, r_w) taps of the stride-1 correlation over the phases a < min(s_h, kH),
    b < min(s_w, kW). Pass taps zeroed: taps past the kernel stay 0. (Each loop order was timed; these were the
    fastest of those tried for each layout.)"""
    c_out, c_in, kh, kw = w.shape
    ph_w = min(s_w, kw)
    if transposed:
        for o in range(c_out):
            for i in range(kh):
                for j in range(kw):
                    dst = taps[i // s_h, j // s_w, o]
                    base = ((i % s_h) * ph_w + j % s_w) * c_in
                    for c in range(c_in):
                        dst[base + c] = w[o, c, i, j]
    else:
        for i in range(kh):
            for j in range(kw):
                dst = taps[i // s_h, j // s_w]
                base = ((i % s_h) * ph_w + j % s_w) * c_in
                for o in range(c_out):
                    for c in range(c_in):
                        dst[base + c, o] = w[o, c, i, j]


@njit()
def _fold_phase_taps(gtaps, s_h, s_w, gw):
    """The adjoint of ``_phase_taps`` (untransposed): gw[o, c, a + s_h·u, b + s_w·v] = gtaps[u, v, (a, b, c), o]."""
    c_out, c_in, kh, kw = gw.shape
    ph_w = min(s_w, kw)
    for i in range(kh):
        for j in range(kw):
            u, v, base = i // s_h, j // s_w, ((i % s_h) * ph_w + j % s_w) * c_in
            src = gtaps[u, v]
            for o in range(c_out):
                for c in range(c_in):
                    gw[o, c, i, j] = src[base + c, o]


def _phase_taps_of(w, geo, transposed=False):
    """``_phase_taps`` of the layer's weight: (r_h, r_w, C', C_out), or with ``transposed`` (r_h, r_w, C_out, C')."""
    ph = plan.phases(geo)
    channels = ph[0] * ph[1] * geo.c_in
    shape = plan.sub_kernel_size(geo) + ((geo.c_out, channels) if transposed else (channels, geo.c_out))
    taps = np.zeros(shape, dtype=w.dtype)
    _phase_taps(w, geo.stride[0], geo.stride[1], taps, transposed)
    return taps


def _fold_phase_taps_of(gtaps, geo):
    """The weight gradient (C_out, C_in, kH, kW) from the gradient of the phase taps."""
    gw = np.empty((geo.c_out, geo.c_in) + geo.kernel_hw, dtype=gtaps.dtype)
    _fold_phase_taps(gtaps, geo.stride[0], geo.stride[1], gw)
    return gw


# --- Winograd F(mxm, rxr) on the polyphase split ------------------------------------------------------------
#
# ``winograd`` computes the stride-1 correlation of the split and its two adjoints in m x m output tiles:
# m = 2 for "winograd" (F(2x2, 3x3) and F(2x2, 2x2), whose transforms only add and halve), m = 4 for
# "winograd4" (F(4x4, 2x2), whose transforms also double and whose weight transform has sixths;
# docs/performance.md).


def _winograd_setup(geo, m):
    """(r, phase residues per axis, Tiling, padded phase-grid size) of a geometry Winograd accepts, in m×m
    output tiles."""
    r = plan.sub_kernel_size(geo)[0]
    ph = plan.phases(geo)
    res = tuple(np.arange(ph[i], dtype=np.int64) for i in range(2))
    return r, res, winograd.tiling(geo.out_hw, m, r, np.dtype(f"f{geo.itemsize}")), \
        winograd.padded_size(geo.out_hw, m, r)


# The samples of a part go through the transforms and products in chunks whose transformed tiles (V and M, or
# Mg and Vg) take at most this many bytes: again a core's L2 cache (with 1 MB of it, 256 KB and 16 MB were
# slower; with 2 MB, 1 MB was 10% slower: docs/performance.md). A knob of its own, read once with CHUNK_BYTES.
WINOGRAD_CHUNK_BYTES = CHUNK_BYTES


# ... but never fewer tiles per chunk than this: the products of a short stack (T × C')·(C' × C_out) run at
# two thirds of BLAS's speed below about a hundred rows (docs/performance.md).
WINOGRAD_MIN_TILES = 96


def _tile_chunks(n_batch, geo, tl, channels):
    """Sample ranges whose transformed tiles ((α², tiles, channels) per sample) fit in WINOGRAD_CHUNK_BYTES, or
    that hold WINOGRAD_MIN_TILES tiles where that takes more samples."""
    alpha, tiles = tl.bt.shape[0], tl.tiles_h * tl.tiles_w
    per_chunk = max(1, WINOGRAD_CHUNK_BYTES // (alpha * alpha * channels * tiles * geo.itemsize),
                    -(-WINOGRAD_MIN_TILES // tiles))
    return [(n0, min(n_batch, n0 + per_chunk)) for n0 in range(0, n_batch, per_chunk)]


def _scratch(shape, dtype):
    """A reusable buffer of ``shape``'s size: the returned function, called with smaller dimensions, gives an
    uninitialised C-contiguous array of them over the same memory, so chunk after chunk touches the same,
    cached pages."""
    flat = np.empty(math.prod(shape), dtype=dtype)
    return lambda *dims: flat[: math.prod(dims)].reshape(dims)


def _winograd_weights(w, geo, m, transposed=False):
    """U (α², C', C_out) of the layer's weight, or with ``transposed`` its transpose (α², C_out, C'), each
    C-contiguous: BLAS multiplies by a transposed view of U at two thirds of the speed when the stack of
    tiles is short (docs/performance.md), so the transposed layout is computed directly."""
    with parallel.serial_blas():
        return winograd.weight_transform(_phase_taps_of(w, geo, transposed), m)


def _winograd_chunks(x, geo, res, tl, padded, channels, with_gradient=False):
    """Yield (c0, c1, p[, gp]) for the sample chunks of x (``_tile_chunks``): p the channels-last split of
    x[c0:c1], and with ``with_gradient`` gp a zeroed array of its shape (for the adjoint input transform to add
    into). Made chunk by chunk in two reused buffers, so that a part's split never leaves the cache: one split
    of a whole part streams through memory, and with both cores doing so the copies wait on it."""
    chunks = _tile_chunks(x.shape[0], geo, tl, channels)
    most = max((c1 - c0 for c0, c1 in chunks), default=0)
    c_split = res[0].size * res[1].size * x.shape[1]
    rows, cols = _phase_rows_cols(geo, res, padded, x.shape[2:])
    split = _scratch((most,) + padded + (c_split,), x.dtype)
    grad = _scratch((most,) + padded + (c_split,), x.dtype) if with_gradient else None
    for c0, c1 in chunks:
        p = split(c1 - c0, *padded, c_split)
        _split_channels_last(x[c0:c1], rows, cols, geo.stride[0], geo.stride[1], p)
        if with_gradient:
            gp = grad(c1 - c0, *padded, c_split)
            gp[...] = 0
            yield c0, c1, p, gp
        else:
            yield c0, c1, p


def _winograd_correlate(x, w, geo, b, m):
    """``_im2col_correlate``'s contract: per chunk, V = input transform of the split, M = V · U, y = output
    transform of M."""
    _, res, tl, padded = _winograd_setup(geo, m)
    u = _winograd_weights(w, geo, m)
    y = np.empty((geo.batch, geo.c_out) + geo.out_hw, dtype=x.dtype)
    tiles = tl.tiles_h * tl.tiles_w

    def part(n0, n1):
        most = max((c1 - c0 for c0, c1 in _tile_chunks(n1 - n0, geo, tl, u.shape[1] + u.shape[2])), default=0)
        v_buf, m_buf = (_scratch((u.shape[0], most * tiles, u.shape[i]), x.dtype) for i in (1, 2))
        for c0, c1, p in _winograd_chunks(x[n0:n1], geo, res, tl, padded, u.shape[1] + u.shape[2]):
            v = v_buf(u.shape[0], (c1 - c0) * tiles, u.shape[1])
            winograd.input_transform(p, 0, c1 - c0, tl, v)
            mm = np.matmul(v, u, out=m_buf(u.shape[0], (c1 - c0) * tiles, u.shape[2]))
            winograd.output_transform(mm, 0, c1 - c0, tl, y[n0 + c0:n0 + c1])
            _add_bias(y[n0 + c0:n0 + c1], b)

    parallel.run_in_parts(geo.batch, part)
    return y


def _winograd_scatter(g, w, geo, b, m):
    """``_im2col_scatter``'s contract: per chunk, Mg = adjoint output transform of g, Vg = Mg · Uᵀ, the adjoint
    input transform of Vg added into the chunk's split gradient, merged back."""
    _, res, tl, padded = _winograd_setup(geo, m)
    u_t = _winograd_weights(w, geo, m, transposed=True)  # (α², C_out, C')
    x = np.zeros((geo.batch, geo.c_in) + geo.in_hw, dtype=g.dtype)
    tiles = tl.tiles_h * tl.tiles_w

    def part(n0, n1):
        chunks = _tile_chunks(n1 - n0, geo, tl, u_t.shape[1] + u_t.shape[2])
        most = max((c1 - c0 for c0, c1 in chunks), default=0)
        mg_buf, vg_buf = (_scratch((u_t.shape[0], most * tiles, u_t.shape[i]), g.dtype) for i in (1, 2))
        gp_buf = _scratch((most,) + padded + (u_t.shape[2],), g.dtype)
        for c0, c1 in chunks:
            mg = mg_buf(u_t.shape[0], (c1 - c0) * tiles, u_t.shape[1])
            winograd.output_transform_adjoint(g[n0 + c0:n0 + c1], 0, c1 - c0, tl, mg)
            vg = np.matmul(mg, u_t, out=vg_buf(u_t.shape[0], (c1 - c0) * tiles, u_t.shape[2]))
            gp = gp_buf(c1 - c0, *padded, u_t.shape[2])
            gp[...] = 0
            winograd.input_transform_adjoint(vg, 0, c1 - c0, tl, gp)
            _merge_last(gp, geo, res, x[n0 + c0:n0 + c1])
        _add_bias(x[n0:n1], b)

    parallel.run_in_parts(geo.batch, part)
    return x


def _winograd_backward(g, x, w, geo, grad_input, m):
    """``_im2col_backward``'s contract: one pass over the tiles of g and x gives the weight gradient's stack
    gU = Σ_t Vᵀ · Mg and the input gradient (from Mg for the scatter, from V for the correlation, none for
    grad_input None)."""
    _, res, tl, padded = _winograd_setup(geo, m)
    scatter = grad_input == "scatter"
    u = _winograd_weights(w, geo, m, transposed=scatter)  # (α², C', C_out), or (α², C_out, C') for the scatter
    xi2, channels, c_out = (u.shape[0],) + ((u.shape[2], u.shape[1]) if scatter else u.shape[1:])
    if scatter:
        y = np.zeros((geo.batch, geo.c_in) + geo.in_hw, dtype=x.dtype)
    elif grad_input == "correlate":
        y = np.empty((geo.batch, geo.c_out) + geo.out_hw, dtype=x.dtype)
    else:
        y = None
    tiles = tl.tiles_h * tl.tiles_w

    def part(n0, n1):
        gu, gu_chunk = np.zeros((xi2, channels, c_out), dtype=x.dtype), np.empty((xi2, channels, c_out), dtype=x.dtype)
        most = max((c1 - c0 for c0, c1 in _tile_chunks(n1 - n0, geo, tl, channels + c_out)), default=0)
        v_buf, mg_buf = _scratch((xi2, most * tiles, channels), x.dtype), _scratch((xi2, most * tiles, c_out), x.dtype)
        out_buf = _scratch((xi2, most * tiles, channels if scatter else c_out), x.dtype)
        for c0, c1, p, *gp in _winograd_chunks(x[n0:n1], geo, res, tl, padded, channels + c_out, scatter):
            count = (c1 - c0) * tiles
            v = v_buf(xi2, count, channels)
            winograd.input_transform(p, 0, c1 - c0, tl, v)
            mg = mg_buf(xi2, count, c_out)
            winograd.output_transform_adjoint(g[n0 + c0:n0 + c1], 0, c1 - c0, tl, mg)
            gu += np.matmul(v.transpose(0, 2, 1), mg, out=gu_chunk)
            if scatter:
                winograd.input_transform_adjoint(np.matmul(mg, u, out=out_buf(xi2, count, channels)),
                                                 0, c1 - c0, tl, gp[0])
                _merge_last(gp[0], geo, res, y[n0 + c0:n0 + c1])
            elif y is not None:
                winograd.output_transform(np.matmul(v, u, out=out_buf(xi2, count, c_out)), 0, c1 - c0, tl,
                                          y[n0 + c0:n0 + c1])
        return gu

    gu = _in_parts(geo.batch, part)  # (α², C', C_out)
    with parallel.serial_blas():
        gtaps = winograd.weight_transform_adjoint(gu, m, plan.sub_kernel_size(geo)[0])
    return y, _fold_phase_taps_of(gtaps, geo)


# --- direct loops on the same polyphase split ---------------------------------------------------------------


def _direct_setup(w, geo, transposed=False):
    """(r, phase residues, padded phase-grid size, the weight's taps) for the direct loops."""
    r = plan.sub_kernel_size(geo)
    ph = plan.phases(geo)
    res = tuple(np.arange(ph[i], dtype=np.int64) for i in range(2))
    return r, res, (geo.out_hw[0] + r[0] - 1, geo.out_hw[1] + r[1] - 1), _phase_taps_of(w, geo, transposed)


def _direct_correlate(x, w, geo, b):
    """``_im2col_correlate``'s contract, by ``direct.correlate`` on the channels-last split."""
    _, res, padded, taps = _direct_setup(w, geo)
    y = np.empty((geo.batch, geo.c_out) + geo.out_hw, dtype=x.dtype)

    def part(n0, n1):
        direct.correlate(_phases_last(x[n0:n1], geo, res, padded), taps, 0, n1 - n0, y[n0:n1])
        _add_bias(y[n0:n1], b)

    parallel.run_in_parts(geo.batch, part)
    return y


def _direct_scatter(g, w, geo, b):
    """``_im2col_scatter``'s contract, by ``direct.scatter`` into the split's gradient, then merged back."""
    _, res, padded, taps_t = _direct_setup(w, geo, transposed=True)
    x = np.zeros((geo.batch, geo.c_in) + geo.in_hw, dtype=g.dtype)

    def part(n0, n1):
        gp = np.zeros((n1 - n0,) + padded + (taps_t.shape[3],), dtype=g.dtype)
        direct.scatter(_channels_last(g[n0:n1]), taps_t, 0, n1 - n0, gp)
        _merge_last(gp, geo, res, x[n0:n1])
        _add_bias(x[n0:n1], b)

    parallel.run_in_parts(geo.batch, part)
    return x


def _direct_backward(g, x, w, geo, grad_input):
    """``_im2col_backward``'s contract, from the direct loops."""
    r, res, padded, taps = _direct_setup(w, geo, transposed=grad_input == "scatter")
    if grad_input == "scatter":
        y = np.zeros((geo.batch, geo.c_in) + geo.in_hw, dtype=x.dtype)
    elif grad_input == "correlate":
        y = np.empty((geo.batch, geo.c_out) + geo.out_hw, dtype=x.dtype)
    else:
        y = None
    channels = plan.phases(geo)[0] * plan.phases(geo)[1] * geo.c_in

    def part(n0, n1):
        p = _phases_last(x[n0:n1], geo, res, padded)
        g_last = _channels_last(g[n0:n1])
        gtaps = np.zeros(r + (channels, geo.c_out), dtype=x.dtype)
        direct.weight_grad(p, g_last, 0, n1 - n0, gtaps)
        if grad_input == "scatter":
            gp = np.zeros(p.shape, dtype=x.dtype)
            direct.scatter(g_last, taps, 0, n1 - n0, gp)
            _merge_last(gp, geo, res, y[n0:n1])
        elif y is not None:
            direct.correlate(p, taps, 0, n1 - n0, y[n0:n1])
        return gtaps

    return y, _fold_phase_taps_of(_in_parts(geo.batch, part), geo)


# --- the dispatch: one algorithm per layer, chosen by ``plan`` ---------------------------------------------

_ALGORITHMS = {
    "im2col": (_im2col_correlate, _im2col_scatter, _im2col_backward),
    "direct": (_direct_correlate, _direct_scatter, _direct_backward),
}
_ALGORITHMS.update({  # "winograd" and "winograd4": the same functions in m×m tiles (plan.WINOGRAD_TILE)
    name: tuple(functools.partial(f, m=m) for f in (_winograd_correlate, _winograd_scatter, _winograd_backward))
    for name, m in plan.WINOGRAD_TILE.items()
})


def _to_subgrids(a, d):
    """(N, C, H, W) -> (N·d_h·d_w, C, H/d_h, W/d_w): image n·d_h·d_w + i·d_w + j is a[n, :, i::d_h, j::d_w]."""
    n, c, h, w = a.shape
    six = a.reshape(n, c, h // d[0], d[0], w // d[1], d[1]).transpose(0, 3, 5, 1, 2, 4)
    return np.ascontiguousarray(six).reshape(n * d[0] * d[1], c, h // d[0], w // d[1])


def _from_subgrids(a, d):
    """The inverse of ``_to_subgrids``."""
    nd, c, h, w = a.shape
    six = a.reshape(nd // (d[0] * d[1]), d[0], d[1], c, h, w).transpose(0, 3, 4, 1, 5, 2)
    return np.ascontiguousarray(six).reshape(nd // (d[0] * d[1]), c, h * d[0], w * d[1])


def correlate(x, w, geo, b=None):
    """y = correlate(x, w) (+ b), conv2d's forward: x the layer's input (N, C_in) + in_hw, w (C_out, C_in, kH, kW),
    b (C_out,) or None -> (N, C_out) + out_hw; by the algorithm ``plan.layout(geo)`` names, on the layer or
    on its subgrids."""
    algorithm, sub = plan.layout(geo)
    if sub is not None:
        return _from_subgrids(correlate(_to_subgrids(x, geo.dilation), w, sub, b), geo.dilation)
    return _ALGORITHMS[algorithm][0](x, w, geo, b)


def scatter(g, w, geo, b=None):
    """x = scatter(g, w) (+ b), conv2d's input gradient and conv_transpose2d's forward: g (N, C_out) + out_hw,
    w (C_out, C_in, kH, kW), b (C_in,) or None -> (N, C_in) + in_hw."""
    algorithm, sub = plan.layout(geo)
    if sub is not None:
        return _from_subgrids(scatter(_to_subgrids(g, geo.dilation), w, sub, b), geo.dilation)
    return _ALGORITHMS[algorithm][1](g, w, geo, b)


def backward(g, x, w, geo, grad_input):
    """(gx, gw) for the layer's output gradient g and input x: gw = weight_grad(g, x) (C_out, C_in, kH, kW) and gx
    the scatter of g (grad_input "scatter": conv2d's input gradient), the correlation of x with w
    (grad_input "correlate": conv_transpose2d's input gradient, x then being its output gradient), or None
    (grad_input None: the weight gradient alone)."""
    algorithm, sub = plan.layout(geo)
    if sub is not None:
        d = geo.dilation
        gx, gw = backward(_to_subgrids(g, d), _to_subgrids(x, d), w, sub, grad_input)
        return (None if gx is None else _from_subgrids(gx, d)), gw
    return _ALGORITHMS[algorithm][2](g, x, w, geo, grad_input)


def conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1):
    """Cross-correlation y[n,o,i,j] = b[o] + Σ_c Σ_u Σ_v w[o,c,u,v] · x[n, c, i·s−p+u·d, j·s−p+v·d].

    x (N, C_in, H, W), w (C_out, C_in, kH, kW), b (C_out,) or None -> y (N, C_out, H_out, W_out),
    H_out = floor((H + 2p − d(kH − 1) − 1)/s) + 1. Inputs are never modified.
    """
    s, p, d, out_hw = _args.conv2d_args(x, w, b, stride, padding, dilation)
    return correlate(x, w, plan.conv_geometry(x, w, s, p, d, out_hw), b)


def conv2d_backward(gy, x, w, stride=1, padding=0, dilation=1, need_bias=True, need_input=True):
    """Gradients of conv2d for upstream gradient gy: returns (gx, gw, gb).

    gx = conv_transpose2d(gy, w) (the scatter; None unless need_input),
    gw[o,c,u,v] = Σ_n,i,j gy[n,o,i,j] · x[n,c,i·s−p+u·d, j·s−p+v·d], gb[o] = Σ_n,i,j gy[n,o,i,j] (None unless
    need_bias).
    """
    s, p, d, out_hw = _args.conv2d_args(x, w, None, stride, padding, dilation, op="conv2d_backward")
    _args.check_grad_output(gy, (x.shape[0], w.shape[0]) + out_hw, x.dtype, "conv2d_backward")
    gx, gw = backward(gy, x, w, plan.conv_geometry(x, w, s, p, d, out_hw), "scatter" if need_input else None)
    return gx, gw, (gy.sum(axis=(0, 2, 3)) if need_bias else None)


def conv_transpose2d_forward(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1):
    """Transposed convolution: y[n, o, i·s−p+u·d, j·s−p+v·d] += w[c,o,u,v] · x[n,c,i,j], plus b[o].

    x (N, C_in, H, W), w (C_in, C_out, kH, kW) -> y (N, C_out, H_out, W_out),
    H_out = (H − 1)s − 2p + d(kH − 1) + output_padding + 1. It is conv2d's input gradient, with w read as a
    conv2d weight mapping C_out -> C_in.
    """
    s, p, _, d, out_hw = _args.conv_transpose2d_args(x, w, b, stride, padding, output_padding, dilation)
    return scatter(x, w, plan.conv_transpose_geometry(x, w, s, p, d, out_hw), b)


def conv_transpose2d_backward(gy, x, w, stride=1, padding=0, output_padding=0, dilation=1, need_bias=True,
                              need_input=True):
    """Gradients of conv_transpose2d: gx = conv2d(gy, w) (the correlate; None unless need_input),
    gw = weight_grad(x, gy), gb = Σ gy (None unless need_bias)."""
    s, p, _, d, out_hw = _args.conv_transpose2d_args(
        x, w, None, stride, padding, output_padding, dilation, op="conv_transpose2d_backward"
    )
    _args.check_grad_output(gy, (x.shape[0], w.shape[1]) + out_hw, x.dtype, "conv_transpose2d_backward")
    gx, gw = backward(x, gy, w, plan.conv_transpose_geometry(x, w, s, p, d, out_hw),
                      "correlate" if need_input else None)
    return gx, gw, (gy.sum(axis=(0, 2, 3)) if need_bias else None)
