"""Winograd's minimal filtering: a stride-1 r×r correlation in m×m output tiles with (m + r − 1)² products per
tile and channel pair instead of m²·r²; imports NumPy and _jit.

The 1-D algorithm F(m, r) computes m outputs of an r-tap correlation, y_i = Σ_u g_u · d_{i+u}, from α = m + r − 1
inputs with α multiplications (Lavin & Gray 2016, after Winograd and Toom–Cook):

    y = Aᵀ [ (G g) ⊙ (Bᵀ d) ]            A: α×m, G: α×r, B: α×α

F(2, 3): 4 products for 2 outputs of a 3-tap filter (6 directly). Its transforms only add and halve:

    Bᵀ = [1  0 −1  0]     G = [ 1    0    0 ]     Aᵀ = [1  1  1  0]
         [0  1  1  0]         [ 1/2  1/2  1/2]          [0  1 −1 −1]
         [0 −1  1  0]         [ 1/2 −1/2  1/2]
         [0  1  0 −1]         [ 0    0    1 ]

F(2, 2): 3 products for 2 outputs of a 2-tap filter (4 directly): m₀ = (d₀ − d₁)g₀, m₁ = d₁(g₀ + g₁),
m₂ = (d₂ − d₁)g₁, y₀ = m₀ + m₁, y₁ = m₁ + m₂. F(4, 3) (36 products per 4×4 tile instead of 144) is in
``TRANSFORMS`` for comparison; its constants 1/4, 1/6, 1/24 lose float32 bits, so the kernels do not use it.

Nested in 2-D, one m×m tile of output channel o is, for a (C, H, W) input d and a (O, C, r, r) kernel g,

    Y[o] = Aᵀ [ Σ_c U[o, c] ⊙ V[c] ] A,     U[o, c] = G g[o, c] Gᵀ,   V[c] = Bᵀ d[c, tile] B       (forward)

so the channel sum is, for each of the α² positions ξ of the tile, one matrix product over all tiles t at once:
M[ξ] = U[ξ] · V[ξ], (O × C)·(C × T). The gradients are the adjoints of the same three linear steps:

    Mg = A gY Aᵀ (per tile)                       the output transform, transposed
    gd[c, tile] += B (Σ_o U[o, c] ⊙ Mg[o]) Bᵀ      input gradient: overlapping tiles are added    (data_grad)
    gg[o, c] = Gᵀ (Σ_t Mg[o, t] ⊙ V[c, t]) G       weight gradient                                (weight_grad)

Here the input of every function is already padded: d has at least m·⌈H_out/m⌉ + r − 1 rows (zeros past the
data), and tiles sticking out past H_out × W_out are computed and dropped (forward) or fed zeros (gradients).
``fast`` turns any d = 1 convolution whose kernel covers whole strides into this form with its polyphase split.

The ``readable_*`` functions are the specification: one tile at a time, the formulas above as small matrix
products. The others are the fast path: the transforms as compiled loops over whole rows of tiles and the
products as stacked BLAS matrix products. Both agree to ~1e-12 in float64.
"""
from collections import namedtuple

import numpy as np

from ._jit import njit

# (Bᵀ, G, Aᵀ) of F(m, r), keyed by (m, r).
TRANSFORMS = {
    (2, 2): (
        [[1, -1, 0], [0, 1, 0], [0, -1, 1]],
        [[1, 0], [1, 1], [0, 1]],
        [[1, 1, 0], [0, 1, 1]],
    ),
    (2, 3): (
        [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
        [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]],
        [[1, 1, 1, 0], [0, 1, -1, -1]],
    ),
    (4, 3): (
        [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
         [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
        [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
         [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]],
        [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
    ),
}

# What the compiled loops need to know of the tiling: m, the tile counts, and Bᵀ, Aᵀ in the data's dtype.
Tiling = namedtuple("Tiling", "m tiles_h tiles_w bt at")


@njit()
def _zero(out):
    """out[:] = 0, as a loop (the compiled code has no array expressions)."""
    for c in range(out.shape[0]):
        out[c] = 0


@njit()
def _add_scaled(out, coef, src):
    """out += coef · src, over one vector of channels."""
    for c in range(out.shape[0]):
        out[c] += coef * src[c]


def transforms(m, r, dtype=np.float64):
    """(Bᵀ, G, Aᵀ) of F(m, r) as arrays of ``dtype``: Bᵀ α×α, G α×r, Aᵀ m×α with α = m + r − 1."""
    if (m, r) not in TRANSFORMS:
        raise ValueError(f"winograd: no transforms for F({m}, {r}); known: {sorted(TRANSFORMS)}")
    return tuple(np.array(t, dtype=dtype) for t in TRANSFORMS[(m, r)])


def tile_counts(out_hw, m):
    """Tiles per axis, ⌈H_out/m⌉ × ⌈W_out/m⌉."""
    return -(-out_hw[0] // m), -(-out_hw[1] // m)


def padded_size(out_hw, m, r):
    """The input rows and columns the tiles read: m·⌈H_out/m⌉ + r − 1 each way."""
    th, tw = tile_counts(out_hw, m)
    return m * th + r - 1, m * tw + r - 1


def tiling(out_hw, m, r, dtype):
    """The Tiling record of an output of size out_hw."""
    bt, _, at = transforms(m, r, dtype)
    return Tiling(m, *tile_counts(out_hw, m), bt, at)


def weight_transform(taps, m):
    """U[(γ, δ), c, o] = Σ_u,v G[γ, u] G[δ, v] taps[u, v, c, o], i.e. G g[o, c] Gᵀ for every kernel pair, for
    taps (r, r, C, O): the (α², C, O) stack of right-hand factors of the products V · U."""
    _, G, _ = transforms(m, taps.shape[0], taps.dtype)
    u = np.empty((G.shape[0] ** 2,) + taps.shape[2:], dtype=taps.dtype)
    _weight_transform(taps, G, u)
    return u


def weight_transform_adjoint(gu, m, r):
    """gtaps[u, v, c, o] = Σ_γ,δ G[γ, u] G[δ, v] gU[(γ, δ), c, o]: the adjoint of ``weight_transform``."""
    _, G, _ = transforms(m, r, gu.dtype)
    gtaps = np.empty((r, r) + gu.shape[1:], dtype=gu.dtype)
    _weight_transform_adjoint(gu, G, gtaps)
    return gtaps


@njit()
def _weight_transform(taps, G, u):
    """The loops of ``weight_transform``: each position (γ, δ) of each input channel a sum of whole rows."""
    r, c_in, c_out = taps.shape[0], taps.shape[2], taps.shape[3]
    alpha = G.shape[0]
    for xi in range(alpha * alpha):
        gm, dl = xi // alpha, xi % alpha
        for c in range(c_in):
            dst = u[xi, c]
            _zero(dst)
            for t in range(r):
                for v in range(r):
                    coef = G[gm, t] * G[dl, v]
                    _add_scaled(dst, coef, taps[t, v, c])


@njit()
def _weight_transform_adjoint(gu, G, gtaps):
    """The loops of ``weight_transform_adjoint``, whole rows of output channels at a time."""
    alpha, r = G.shape
    c_in, c_out = gu.shape[1], gu.shape[2]
    for t in range(r):
        for v in range(r):
            for c in range(c_in):
                dst = gtaps[t, v, c]
                _zero(dst)
                for xi in range(alpha * alpha):
                    coef = G[xi // alpha, t] * G[xi % alpha, v]
                    _add_scaled(dst, coef, gu[xi, c])


# --- the specification: one tile at a time -------------------------------------------------------------


def readable_forward(d, g, out_hw, m):
    """y[n, o, i, j] = Σ_c Σ_u Σ_v g[o, c, u, v] · d[n, c, i + u, j + v] for i, j < out_hw, tile by tile:
    Y = Aᵀ [Σ_c (G g Gᵀ) ⊙ (Bᵀ d B)] A. d (N, C, ≥ padded_size) is read only where the tiles reach."""
    bt, G, at = transforms(m, g.shape[2], d.dtype)
    th, tw = tile_counts(out_hw, m)
    alpha = bt.shape[0]
    y = np.zeros((d.shape[0], g.shape[0], m * th, m * tw), dtype=d.dtype)
    u = [[G @ g[o, c] @ G.T for c in range(g.shape[1])] for o in range(g.shape[0])]
    for n in range(d.shape[0]):
        for ti in range(th):
            for tj in range(tw):
                v = [bt @ d[n, c, m * ti: m * ti + alpha, m * tj: m * tj + alpha] @ bt.T for c in range(d.shape[1])]
                for o in range(g.shape[0]):
                    product = sum(u[o][c] * v[c] for c in range(d.shape[1]))
                    y[n, o, m * ti: m * ti + m, m * tj: m * tj + m] = at @ product @ at.T
    return y[:, :, : out_hw[0], : out_hw[1]]


def readable_data_grad(gy, g, in_hw, m):
    """gd[n, c, i + u, j + v] += g[o, c, u, v] · gy[n, o, i, j], the adjoint of ``readable_forward`` in d, tile by
    tile: gd[tile] += B [Σ_o (G g Gᵀ) ⊙ (A gY Aᵀ)] Bᵀ. Returns gd of size in_hw (≥ padded_size)."""
    bt, G, at = transforms(m, g.shape[2], gy.dtype)
    th, tw = tile_counts(gy.shape[2:], m)
    alpha = bt.shape[0]
    grid = np.zeros(gy.shape[:2] + (m * th, m * tw), dtype=gy.dtype)
    grid[:, :, : gy.shape[2], : gy.shape[3]] = gy
    gd = np.zeros((gy.shape[0], g.shape[1]) + tuple(in_hw), dtype=gy.dtype)
    u = [[G @ g[o, c] @ G.T for c in range(g.shape[1])] for o in range(g.shape[0])]
    for n in range(gy.shape[0]):
        for ti in range(th):
            for tj in range(tw):
                mg = [at.T @ grid[n, o, m * ti: m * ti + m, m * tj: m * tj + m] @ at for o in range(g.shape[0])]
                for c in range(g.shape[1]):
                    product = sum(u[o][c] * mg[o] for o in range(g.shape[0]))
                    gd[n, c, m * ti: m * ti + alpha, m * tj: m * tj + alpha] += bt.T @ product @ bt
    return gd


def readable_weight_grad(gy, d, r, m):
    """gg[o, c, u, v] = Σ_n Σ_i Σ_j gy[n, o, i, j] · d[n, c, i + u, j + v], tile by tile:
    gg = Gᵀ [Σ_tiles (A gY Aᵀ) ⊙ (Bᵀ d B)] G."""
    bt, G, at = transforms(m, r, d.dtype)
    th, tw = tile_counts(gy.shape[2:], m)
    alpha = bt.shape[0]
    grid = np.zeros(gy.shape[:2] + (m * th, m * tw), dtype=gy.dtype)
    grid[:, :, : gy.shape[2], : gy.shape[3]] = gy
    total = np.zeros((gy.shape[1], d.shape[1], alpha, alpha), dtype=d.dtype)
    for n in range(gy.shape[0]):
        for ti in range(th):
            for tj in range(tw):
                for o in range(gy.shape[1]):
                    mg = at.T @ grid[n, o, m * ti: m * ti + m, m * tj: m * tj + m] @ at
                    for c in range(d.shape[1]):
                        total[o, c] += mg * (bt @ d[n, c, m * ti: m * ti + alpha, m * tj: m * tj + alpha] @ bt.T)
    return np.einsum("gu,ocgh,hv->ocuv", G, total, G)


# --- the fast path: transforms vectorised over channels, products in BLAS ----------------------------------
#
# Layouts: the padded input is channels-last, P (N, Hp, Wp, C), so that every transform is a sum of whole
# contiguous channel vectors; V and Mg are (α², T, channels) with T = (samples of the chunk) × tiles_h ×
# tiles_w, tile t = (n − n0, ti, tj) in that order; the output y and its gradient gy are (N, O, H_out, W_out).


@njit()
def input_transform(P, n0, n1, tl, V):
    """V[(a, b), t, c] = (Bᵀ P[n, tile t, c] B)[a, b] for the tiles t of samples n0 <= n < n1."""
    channels = P.shape[3]
    m, th, tw, bt = tl.m, tl.tiles_h, tl.tiles_w, tl.bt
    alpha = bt.shape[0]
    rows = np.empty((alpha, alpha, channels), dtype=V.dtype)  # rows[a, δ] = Σ_γ Bᵀ[a, γ] d[γ, δ]
    for n in range(n0, n1):
        for ti in range(th):
            for tj in range(tw):
                t = ((n - n0) * th + ti) * tw + tj
                for a in range(alpha):
                    for dl in range(alpha):
                        out = rows[a, dl]
                        _zero(out)
                        for gm in range(alpha):
                            coef = bt[a, gm]
                            if coef != 0:
                                _add_scaled(out, coef, P[n, m * ti + gm, m * tj + dl])
                for a in range(alpha):
                    for b in range(alpha):
                        dst = V[a * alpha + b, t]
                        _zero(dst)
                        for dl in range(alpha):
                            coef = bt[b, dl]
                            if coef != 0:
                                _add_scaled(dst, coef, rows[a, dl])


@njit()
def input_transform_adjoint(Vg, n0, n1, tl, gP):
    """gP[n, tile t, c] += B Vg[:, t, c] Bᵀ: the adjoint of ``input_transform`` (gP accumulates; overlapping
    tiles add, in tile order)."""
    channels = gP.shape[3]
    m, th, tw, bt = tl.m, tl.tiles_h, tl.tiles_w, tl.bt
    alpha = bt.shape[0]
    rows = np.empty((alpha, alpha, channels), dtype=Vg.dtype)  # rows[a, δ] = Σ_b Vg[(a, b)] Bᵀ[b, δ]
    for n in range(n0, n1):
        for ti in range(th):
            for tj in range(tw):
                t = ((n - n0) * th + ti) * tw + tj
                for a in range(alpha):
                    for dl in range(alpha):
                        out = rows[a, dl]
                        _zero(out)
                        for b in range(alpha):
                            coef = bt[b, dl]
                            if coef != 0:
                                _add_scaled(out, coef, Vg[a * alpha + b, t])
                for gm in range(alpha):
                    for dl in range(alpha):
                        dst = gP[n, m * ti + gm, m * tj + dl]
                        for a in range(alpha):
                            coef = bt[a, gm]
                            if coef != 0:
                                _add_scaled(dst, coef, rows[a, dl])


@njit()
def output_transform(M, n0, n1, tl, y):
    """y[n, o, tile t] = Aᵀ M[:, t, o] A for the samples n0 <= n < n1, cropped to y's H_out × W_out. A row of
    tiles is assembled channels-last, then written out channel by channel."""
    c_out, h_out, w_out = y.shape[1], y.shape[2], y.shape[3]
    m, th, tw, at = tl.m, tl.tiles_h, tl.tiles_w, tl.at
    alpha = at.shape[1]
    rows = np.empty((alpha, m, c_out), dtype=M.dtype)  # rows[γ, b] = Σ_δ M[(γ, δ)] Aᵀ[b, δ]
    band = np.empty((m, m * tw, c_out), dtype=M.dtype)  # the m output rows of one row of tiles
    for n in range(n0, n1):
        for ti in range(th):
            for tj in range(tw):
                t = ((n - n0) * th + ti) * tw + tj
                for gm in range(alpha):
                    for b in range(m):
                        out = rows[gm, b]
                        _zero(out)
                        for dl in range(alpha):
                            coef = at[b, dl]
                            if coef != 0:
                                _add_scaled(out, coef, M[gm * alpha + dl, t])
                for a in range(m):
                    for b in range(m):
                        pixel = band[a, m * tj + b]
                        _zero(pixel)
                        for gm in range(alpha):
                            coef = at[a, gm]
                            if coef != 0:
                                _add_scaled(pixel, coef, rows[gm, b])
            for a in range(min(m, h_out - m * ti)):
                for o in range(c_out):
                    line = y[n, o, m * ti + a]
                    for j in range(w_out):
                        line[j] = band[a, j, o]


@njit()
def output_transform_adjoint(gy, n0, n1, tl, Mg):
    """Mg[:, t, o] = A gy[n, o, tile t] Aᵀ, gy read as 0 past its H_out × W_out: the adjoint of
    ``output_transform``. A row of tiles of gy is first gathered channels-last."""
    c_out, h_out, w_out = gy.shape[1], gy.shape[2], gy.shape[3]
    m, th, tw, at = tl.m, tl.tiles_h, tl.tiles_w, tl.at
    alpha = at.shape[1]
    band = np.zeros((m, m * tw, c_out), dtype=Mg.dtype)  # columns past W_out stay 0
    rows = np.empty((m, alpha, c_out), dtype=Mg.dtype)  # rows[a, δ] = Σ_b gy[a, b] Aᵀ[b, δ]
    for n in range(n0, n1):
        for ti in range(th):
            for a in range(m):
                if m * ti + a < h_out:
                    for o in range(c_out):
                        line = gy[n, o, m * ti + a]
                        for j in range(w_out):
                            band[a, j, o] = line[j]
                else:
                    for j in range(w_out):
                        for o in range(c_out):
                            band[a, j, o] = 0
            for tj in range(tw):
                t = ((n - n0) * th + ti) * tw + tj
                for a in range(m):
                    for dl in range(alpha):
                        out = rows[a, dl]
                        _zero(out)
                        for b in range(m):
                            coef = at[b, dl]
                            if coef != 0:
                                _add_scaled(out, coef, band[a, m * tj + b])
                for gm in range(alpha):
                    for dl in range(alpha):
                        dst = Mg[gm * alpha + dl, t]
                        _zero(dst)
                        for a in range(m):
                            coef = at[a, gm]
                            if coef != 0:
                                _add_scaled(dst, coef, rows[a, dl])
