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
m₂ = (d₂ − d₁)g₁, y₀ = m₀ + m₁, y₁ = m₁ + m₂.

F(4, 2): 5 products for 4 outputs of a 2-tap filter (8 directly), interpolating at 0, 1, −1, 2 and ∞. Row i of
Bᵀ holds the coefficients of Π(z − p_j) over the other finite points p_j (the last row: over all four), G's row
i evaluates the filter at p_i divided by that product's value there (rows 1 and 2 of both negated, so that G
is positive), and Aᵀ's column i is (1, p_i, p_i², p_i³) ((0, 0, 0, 1) for ∞):

    Bᵀ = [2 −1 −2  1  0]     G = [1/2   0 ]     Aᵀ = [1  1  1  1  0]
         [0  2  1 −1  0]         [1/2  1/2]          [0  1 −1  2  0]
         [0 −2  3 −1  0]         [1/6 −1/6]          [0  1  1  4  0]
         [0 −1  0  1  0]         [1/6  1/3]          [0  1 −1  8  1]
         [0  2 −1 −2  1]         [ 0    1 ]

Its transforms double (exactly, in floating point) and its weight transform rounds the sixths: its float32
error is a few times F(2, 2)'s, about 10⁻⁶. F(4, 3) (36 products per 4×4 tile instead of 144) is in
``TRANSFORMS`` for comparison; its constants 1/4, 1/6, 1/24 lose more float32 bits, and the kernels do not use
it. The kernels run F(2×2, 3×3), F(2×2, 2×2) and F(4×4, 2×2) (``COMPILED``).

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
products as stacked BLAS matrix products; the weight transform is one matrix product by G ⊗ G. Both agree to
~1e-12 in float64.
"""
from collections import namedtuple
from functools import lru_cache

import numpy as np

from ._jit import njit

# (Bᵀ, G, Aᵀ) of F(m, r), keyed by (m, r).
TRANSFORMS = {
    (2, 2): (
        [[1, -1, 0], [0, 1, 0], [0, -1, 1]],
        [[1, 0], [1, 1], [0, 1]],
        [[1, 1, 0], [0, 1, 1]],
    ),
    (4, 2): (
        [[2, -1, -2, 1, 0], [0, 2, 1, -1, 0], [0, -2, 3, -1, 0], [0, -1, 0, 1, 0], [0, 2, -1, -2, 1]],
        [[1 / 2, 0], [1 / 2, 1 / 2], [1 / 6, -1 / 6], [1 / 6, 1 / 3], [0, 1]],
        [[1, 1, 1, 1, 0], [0, 1, -1, 2, 0], [0, 1, 1, 4, 0], [0, 1, -1, 8, 1]],
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
    taps (r, r, C, O): the (α², C, O) stack of right-hand factors of the products V · U.

    All kernel pairs at once, as one matrix product: U = (G ⊗ G) · taps, with taps read as an r² × (C·O)
    matrix (the Kronecker product's row (γ, δ) and column (u, v) hold G[γ, u]·G[δ, v])."""
    r = taps.shape[0]
    kron = _kron(m, r, taps.dtype)
    return np.matmul(kron, taps.reshape(r * r, -1)).reshape((kron.shape[0],) + taps.shape[2:])


def weight_transform_adjoint(gu, m, r):
    """gtaps[u, v, c, o] = Σ_γ,δ G[γ, u] G[δ, v] gU[(γ, δ), c, o]: the adjoint of ``weight_transform``,
    gtaps = (G ⊗ G)ᵀ · gU."""
    kron = _kron(m, r, gu.dtype)
    return np.matmul(kron.T, gu.reshape(kron.shape[0], -1)).reshape((r, r) + gu.shape[1:])


def _kron(m, r, dtype):
    """G ⊗ G of F(m, r), (α², r²) in ``dtype`` (a ValueError for an unknown F(m, r)); read-only, built once per
    (m, r, dtype): a training step asks for it once per Winograd layer and gradient."""
    return _kron_of(m, r, np.dtype(dtype).str)


@lru_cache(maxsize=None)
def _kron_of(m, r, dtype):
    g = transforms(m, r, dtype)[1]
    kron = np.kron(g, g)
    kron.flags.writeable = False
    return kron


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


# Each transform is written out for the tile sizes used, α = 3 (F(2×2, 2×2)), α = 4 (F(2×2, 3×3)) and α = 5
# (F(4×4, 2×2), further below), with the 1-D transforms as the small functions below (those of α = 3 and 4
# inlined into each transform by Numba, not compiled on their own; see the note before the α = 5 transforms):
# one pass over the channels per tile, every entry of the tile held in a register, its ±1 coefficients as
# additions and subtractions. (A loop over the entries of Bᵀ and Aᵀ
# was 3-4 times slower: every partial sum went through memory.) ``TRANSFORMS`` holds the same matrices; the
# test of the readable twin checks that both say the same.


@njit(inline="always")
def _bt3(d0, d1, d2):
    """Bᵀ d of F(2, 2): (d0 − d1, d1, d2 − d1)."""
    return d0 - d1, d1, d2 - d1


@njit(inline="always")
def _b3(v0, v1, v2):
    """B v, the adjoint of ``_bt3``: (v0, −v0 + v1 − v2, v2)."""
    return v0, v1 - v0 - v2, v2


@njit(inline="always")
def _bt4(d0, d1, d2, d3):
    """Bᵀ d of F(2, 3): (d0 − d2, d1 + d2, d2 − d1, d1 − d3)."""
    return d0 - d2, d1 + d2, d2 - d1, d1 - d3


@njit(inline="always")
def _b4(v0, v1, v2, v3):
    """B v, the adjoint of ``_bt4``: (v0, v1 − v2 + v3, −v0 + v1 + v2, −v3)."""
    return v0, v1 - v2 + v3, v1 + v2 - v0, -v3


@njit(inline="always")
def _at3(m0, m1, m2):
    """Aᵀ m of F(2, 2): (m0 + m1, m1 + m2)."""
    return m0 + m1, m1 + m2


@njit(inline="always")
def _a3(y0, y1):
    """A y, the adjoint of ``_at3``: (y0, y0 + y1, y1)."""
    return y0, y0 + y1, y1


@njit(inline="always")
def _at4(m0, m1, m2, m3):
    """Aᵀ m of F(2, 3): (m0 + m1 + m2, m1 − m2 − m3)."""
    return m0 + m1 + m2, m1 - m2 - m3


@njit(inline="always")
def _a4(y0, y1):
    """A y, the adjoint of ``_at4``: (y0, y0 + y1, y0 − y1, −y1)."""
    return y0, y0 + y1, y0 - y1, -y1


# The coefficients 2, 3, 4 and 8 of F(4, 2) are written as sums (2x = x + x): an integer constant times a float32
# would make the result float64 in Numba. For powers of two the sum is the exact product. These four are compiled
# as functions of their own (about 40 ms each) rather than inlined by Numba: the α = 5 transforms call them 24
# to 30 times each, and inlining every call made each transform 0.1-0.4 s slower to compile (LLVM inlines them
# anyway).


@njit()
def _bt5(d0, d1, d2, d3, d4):
    """Bᵀ d of F(4, 2): (2d0 − d1 − 2d2 + d3, 2d1 + d2 − d3, 3d2 − 2d1 − d3, d3 − d1,
    2d1 − d2 − 2d3 + d4)."""
    e, f, h = d0 - d2, d1 - d3, d2 - d1
    return e + e - d1 + d3, d1 + d1 + d2 - d3, h + h + d2 - d3, d3 - d1, f + f - d2 + d4


@njit()
def _b5(v0, v1, v2, v3, v4):
    """B v, the adjoint of ``_bt5``: (2v0, 2(v1 − v2 + v4) − v0 − v3, v1 + 3v2 − 2v0 − v4,
    v0 − v1 − v2 + v3 − 2v4, v4)."""
    e, h = v1 - v2 + v4, v2 - v0
    return v0 + v0, e + e - v0 - v3, h + h + v1 + v2 - v4, v0 - v1 - v2 + v3 - v4 - v4, v4


@njit()
def _at5(m0, m1, m2, m3, m4):
    """Aᵀ m of F(4, 2): (m0 + m1 + m2 + m3, m1 − m2 + 2m3, m1 + m2 + 4m3, m1 − m2 + 8m3 + m4)."""
    d, t2 = m1 - m2, m3 + m3
    t4 = t2 + t2
    return m0 + m1 + m2 + m3, d + t2, m1 + m2 + t4, d + (t4 + t4) + m4


@njit()
def _a5(y0, y1, y2, y3):
    """A y, the adjoint of ``_at5``: (y0, y0 + y1 + y2 + y3, y0 − y1 + y2 − y3, y0 + 2y1 + 4y2 + 8y3, y3)."""
    h = y3 + y3 + y2
    h = h + h + y1
    return y0, y0 + y1 + y2 + y3, y0 - y1 + y2 - y3, y0 + h + h, y3


def input_transform(P, n0, n1, tl, V):
    """V[(a, b), t, c] = (Bᵀ P[n, tile t, c] B)[a, b] for the tiles t of samples n0 <= n < n1."""
    _compiled(tl)[0](P, n0, n1, tl.tiles_h, tl.tiles_w, V)


def input_transform_adjoint(Vg, n0, n1, tl, gP):
    """gP[n, tile t, c] += B Vg[:, t, c] Bᵀ: the adjoint of ``input_transform`` (gP accumulates; overlapping
    tiles add, in tile order)."""
    _compiled(tl)[1](Vg, n0, n1, tl.tiles_h, tl.tiles_w, gP, *_work(tl, gP.shape[3], gP.dtype))


def output_transform(M, n0, n1, tl, y):
    """y[n, o, tile t] = Aᵀ M[:, t, o] A for the samples n0 <= n < n1, cropped to y's H_out × W_out. A row of
    tiles is assembled channels-last, then written out channel by channel."""
    band = np.empty((tl.m, tl.m * tl.tiles_w, y.shape[1]), dtype=M.dtype)
    _compiled(tl)[2](M, n0, n1, tl.tiles_h, tl.tiles_w, band, y)


def output_transform_adjoint(gy, n0, n1, tl, Mg):
    """Mg[:, t, o] = A gy[n, o, tile t] Aᵀ, gy read as 0 past its H_out × W_out: the adjoint of
    ``output_transform``. A row of tiles of gy is first gathered channels-last."""
    band = np.zeros((tl.m, tl.m * tl.tiles_w, gy.shape[1]), dtype=Mg.dtype)  # columns past W_out stay 0
    _compiled(tl)[3](gy, n0, n1, tl.tiles_h, tl.tiles_w, band, Mg)


def _work(tl, channels, dtype):
    """The extra argument of F(4×4, 2×2)'s input adjoint, a scratch tile of α² channel vectors; none for the
    others."""
    alpha = tl.bt.shape[0]
    return (np.empty((alpha * alpha, channels), dtype=dtype),) if alpha == 5 else ()


def _compiled(tl):
    """The compiled (input, input adjoint, output, output adjoint) transforms of the tiling's F(m, r), known by
    its α (a ValueError for one that has none)."""
    alpha = tl.bt.shape[0]
    if alpha not in COMPILED or COMPILED[alpha][0] != tl.m:
        raise ValueError(f"winograd: compiled transforms exist for F(m, r) = {sorted(v[:2] for v in COMPILED.values())}"
                         f" only, not for m = {tl.m}, α = {alpha}")
    return COMPILED[alpha][2]


# In the loops below every array indexed inside the innermost (channel) loop is a one-dimensional C-contiguous
# view: Numba then knows its stride is one element and vectorises the loop (a two-dimensional view of a slice,
# such as V[:, t], has run-time strides and stays scalar).


@njit()
def _input_transform3(P, n0, n1, th, tw, V):
    for n in range(n0, n1):
        for ti in range(th):
            r0, r1, r2 = P[n, 2 * ti], P[n, 2 * ti + 1], P[n, 2 * ti + 2]
            for tj in range(tw):
                t, q = ((n - n0) * th + ti) * tw + tj, 2 * tj
                p00, p01, p02, p10, p11, p12 = r0[q], r0[q + 1], r0[q + 2], r1[q], r1[q + 1], r1[q + 2]
                p20, p21, p22 = r2[q], r2[q + 1], r2[q + 2]
                v0, v1, v2, v3, v4, v5 = V[0, t], V[1, t], V[2, t], V[3, t], V[4, t], V[5, t]
                v6, v7, v8 = V[6, t], V[7, t], V[8, t]
                for c in range(P.shape[3]):
                    e0, e1, e2 = _bt3(p00[c], p10[c], p20[c])  # Bᵀ d, column by column
                    f0, f1, f2 = _bt3(p01[c], p11[c], p21[c])
                    h0, h1, h2 = _bt3(p02[c], p12[c], p22[c])
                    v0[c], v1[c], v2[c] = _bt3(e0, f0, h0)  # (Bᵀ d) B, row by row
                    v3[c], v4[c], v5[c] = _bt3(e1, f1, h1)
                    v6[c], v7[c], v8[c] = _bt3(e2, f2, h2)


@njit()
def _input_transform4(P, n0, n1, th, tw, V):
    for n in range(n0, n1):
        for ti in range(th):
            r0, r1, r2, r3 = P[n, 2 * ti], P[n, 2 * ti + 1], P[n, 2 * ti + 2], P[n, 2 * ti + 3]
            for tj in range(tw):
                t, q = ((n - n0) * th + ti) * tw + tj, 2 * tj
                p00, p01, p02, p03 = r0[q], r0[q + 1], r0[q + 2], r0[q + 3]
                p10, p11, p12, p13 = r1[q], r1[q + 1], r1[q + 2], r1[q + 3]
                p20, p21, p22, p23 = r2[q], r2[q + 1], r2[q + 2], r2[q + 3]
                p30, p31, p32, p33 = r3[q], r3[q + 1], r3[q + 2], r3[q + 3]
                # One loop per row a of Bᵀ d B (four vectors written, the eight it reads), as in _input_adjoint3.
                v0, v1, v2, v3 = V[0, t], V[1, t], V[2, t], V[3, t]
                for c in range(P.shape[3]):  # row 0 of Bᵀ d: d0 − d2
                    v0[c], v1[c], v2[c], v3[c] = _bt4(p00[c] - p20[c], p01[c] - p21[c], p02[c] - p22[c],
                                                      p03[c] - p23[c])
                v0, v1, v2, v3 = V[4, t], V[5, t], V[6, t], V[7, t]
                for c in range(P.shape[3]):  # row 1: d1 + d2
                    v0[c], v1[c], v2[c], v3[c] = _bt4(p10[c] + p20[c], p11[c] + p21[c], p12[c] + p22[c],
                                                      p13[c] + p23[c])
                v0, v1, v2, v3 = V[8, t], V[9, t], V[10, t], V[11, t]
                for c in range(P.shape[3]):  # row 2: d2 − d1
                    v0[c], v1[c], v2[c], v3[c] = _bt4(p20[c] - p10[c], p21[c] - p11[c], p22[c] - p12[c],
                                                      p23[c] - p13[c])
                v0, v1, v2, v3 = V[12, t], V[13, t], V[14, t], V[15, t]
                for c in range(P.shape[3]):  # row 3: d1 − d3
                    v0[c], v1[c], v2[c], v3[c] = _bt4(p10[c] - p30[c], p11[c] - p31[c], p12[c] - p32[c],
                                                      p13[c] - p33[c])


@njit()
def _input_adjoint3(Vg, n0, n1, th, tw, gP):
    for n in range(n0, n1):
        for ti in range(th):
            r0, r1, r2 = gP[n, 2 * ti], gP[n, 2 * ti + 1], gP[n, 2 * ti + 2]
            for tj in range(tw):
                t, q = ((n - n0) * th + ti) * tw + tj, 2 * tj
                v0, v1, v2, v3, v4, v5 = Vg[0, t], Vg[1, t], Vg[2, t], Vg[3, t], Vg[4, t], Vg[5, t]
                v6, v7, v8 = Vg[6, t], Vg[7, t], Vg[8, t]
                # One loop per column of the tile, so that each loop writes three vectors (few enough for the
                # compiler to check they do not overlap what it reads, and vectorise). Column δ of Vg Bᵀ is
                # (v0, v3, v6) for δ = 0, (v2, v5, v8) for δ = 2 and v1 − v0 − v2, ... for δ = 1 (``_b3``).
                p0, p1, p2 = r0[q], r1[q], r2[q]
                for c in range(gP.shape[3]):
                    x0, x1, x2 = _b3(v0[c], v3[c], v6[c])
                    p0[c] += x0
                    p1[c] += x1
                    p2[c] += x2
                p0, p1, p2 = r0[q + 1], r1[q + 1], r2[q + 1]
                for c in range(gP.shape[3]):
                    x0, x1, x2 = _b3(_b3(v0[c], v1[c], v2[c])[1], _b3(v3[c], v4[c], v5[c])[1],
                                     _b3(v6[c], v7[c], v8[c])[1])
                    p0[c] += x0
                    p1[c] += x1
                    p2[c] += x2
                p0, p1, p2 = r0[q + 2], r1[q + 2], r2[q + 2]
                for c in range(gP.shape[3]):
                    x0, x1, x2 = _b3(v2[c], v5[c], v8[c])
                    p0[c] += x0
                    p1[c] += x1
                    p2[c] += x2


@njit()
def _input_adjoint4(Vg, n0, n1, th, tw, gP):
    for n in range(n0, n1):
        for ti in range(th):
            r0, r1, r2, r3 = gP[n, 2 * ti], gP[n, 2 * ti + 1], gP[n, 2 * ti + 2], gP[n, 2 * ti + 3]
            for tj in range(tw):
                t, q = ((n - n0) * th + ti) * tw + tj, 2 * tj
                v0, v1, v2, v3, v4, v5, v6, v7 = Vg[0, t], Vg[1, t], Vg[2, t], Vg[3, t], Vg[4, t], Vg[5, t], \
                    Vg[6, t], Vg[7, t]
                v8, v9, v10, v11 = Vg[8, t], Vg[9, t], Vg[10, t], Vg[11, t]
                v12, v13, v14, v15 = Vg[12, t], Vg[13, t], Vg[14, t], Vg[15, t]
                # One loop per tile column (four vectors written), as in _input_adjoint3; column δ of Vg Bᵀ
                # reads the Vg entries of ``_b4``'s output δ in each row: (v0, v4, v8, v12) for δ = 0, and so on.
                p0, p1, p2, p3 = r0[q], r1[q], r2[q], r3[q]
                for c in range(gP.shape[3]):
                    x0, x1, x2, x3 = _b4(v0[c], v4[c], v8[c], v12[c])
                    p0[c] += x0
                    p1[c] += x1
                    p2[c] += x2
                    p3[c] += x3
                p0, p1, p2, p3 = r0[q + 1], r1[q + 1], r2[q + 1], r3[q + 1]
                for c in range(gP.shape[3]):
                    x0, x1, x2, x3 = _b4(v1[c] - v2[c] + v3[c], v5[c] - v6[c] + v7[c], v9[c] - v10[c] + v11[c],
                                         v13[c] - v14[c] + v15[c])
                    p0[c] += x0
                    p1[c] += x1
                    p2[c] += x2
                    p3[c] += x3
                p0, p1, p2, p3 = r0[q + 2], r1[q + 2], r2[q + 2], r3[q + 2]
                for c in range(gP.shape[3]):
                    x0, x1, x2, x3 = _b4(v1[c] + v2[c] - v0[c], v5[c] + v6[c] - v4[c], v9[c] + v10[c] - v8[c],
                                         v13[c] + v14[c] - v12[c])
                    p0[c] += x0
                    p1[c] += x1
                    p2[c] += x2
                    p3[c] += x3
                p0, p1, p2, p3 = r0[q + 3], r1[q + 3], r2[q + 3], r3[q + 3]
                for c in range(gP.shape[3]):
                    x0, x1, x2, x3 = _b4(-v3[c], -v7[c], -v11[c], -v15[c])
                    p0[c] += x0
                    p1[c] += x1
                    p2[c] += x2
                    p3[c] += x3


@njit()
def _write_band(band, n, i0, y):
    """y[n, o, i0 + a, j] = band[a, j, o] for the rows a of the band that lie in y."""
    for a in range(min(band.shape[0], y.shape[2] - i0)):
        for o in range(y.shape[1]):
            line = y[n, o, i0 + a]
            for j in range(y.shape[3]):
                line[j] = band[a, j, o]


@njit()
def _read_band(gy, n, i0, band):
    """band[a, j, o] = gy[n, o, i0 + a, j] for the rows of gy the band covers, 0 for rows past gy's last."""
    for a in range(band.shape[0]):
        if i0 + a < gy.shape[2]:
            for o in range(gy.shape[1]):
                line = gy[n, o, i0 + a]
                for j in range(gy.shape[3]):
                    band[a, j, o] = line[j]
        else:
            for j in range(gy.shape[3]):
                for o in range(gy.shape[1]):
                    band[a, j, o] = 0


@njit()
def _output_transform3(M, n0, n1, th, tw, band, y):
    for n in range(n0, n1):
        for ti in range(th):
            for tj in range(tw):
                t, q = ((n - n0) * th + ti) * tw + tj, 2 * tj
                m0, m1, m2, m3, m4, m5 = M[0, t], M[1, t], M[2, t], M[3, t], M[4, t], M[5, t]
                m6, m7, m8 = M[6, t], M[7, t], M[8, t]
                y00, y01, y10, y11 = band[0, q], band[0, q + 1], band[1, q], band[1, q + 1]
                for o in range(M.shape[2]):
                    e0, e1 = _at3(m0[o], m3[o], m6[o])  # Aᵀ M, column by column
                    f0, f1 = _at3(m1[o], m4[o], m7[o])
                    h0, h1 = _at3(m2[o], m5[o], m8[o])
                    y00[o], y01[o] = _at3(e0, f0, h0)
                    y10[o], y11[o] = _at3(e1, f1, h1)
            _write_band(band, n, 2 * ti, y)


@njit()
def _output_transform4(M, n0, n1, th, tw, band, y):
    for n in range(n0, n1):
        for ti in range(th):
            for tj in range(tw):
                t, q = ((n - n0) * th + ti) * tw + tj, 2 * tj
                m0, m1, m2, m3, m4, m5, m6, m7 = M[0, t], M[1, t], M[2, t], M[3, t], M[4, t], M[5, t], M[6, t], M[7, t]
                m8, m9, m10, m11 = M[8, t], M[9, t], M[10, t], M[11, t]
                m12, m13, m14, m15 = M[12, t], M[13, t], M[14, t], M[15, t]
                y00, y01, y10, y11 = band[0, q], band[0, q + 1], band[1, q], band[1, q + 1]
                for o in range(M.shape[2]):
                    e0, e1 = _at4(m0[o], m4[o], m8[o], m12[o])
                    f0, f1 = _at4(m1[o], m5[o], m9[o], m13[o])
                    g0, g1 = _at4(m2[o], m6[o], m10[o], m14[o])
                    h0, h1 = _at4(m3[o], m7[o], m11[o], m15[o])
                    y00[o], y01[o] = _at4(e0, f0, g0, h0)
                    y10[o], y11[o] = _at4(e1, f1, g1, h1)
            _write_band(band, n, 2 * ti, y)


@njit()
def _output_adjoint3(gy, n0, n1, th, tw, band, Mg):
    for n in range(n0, n1):
        for ti in range(th):
            _read_band(gy, n, 2 * ti, band)
            for tj in range(tw):
                t, q = ((n - n0) * th + ti) * tw + tj, 2 * tj
                m0, m1, m2, m3, m4, m5 = Mg[0, t], Mg[1, t], Mg[2, t], Mg[3, t], Mg[4, t], Mg[5, t]
                m6, m7, m8 = Mg[6, t], Mg[7, t], Mg[8, t]
                y00, y01, y10, y11 = band[0, q], band[0, q + 1], band[1, q], band[1, q + 1]
                for o in range(Mg.shape[2]):
                    e0, e1, e2 = _a3(y00[o], y01[o])  # gY A, row by row
                    f0, f1, f2 = _a3(y10[o], y11[o])
                    m0[o], m3[o], m6[o] = _a3(e0, f0)  # A (gY A), column by column
                    m1[o], m4[o], m7[o] = _a3(e1, f1)
                    m2[o], m5[o], m8[o] = _a3(e2, f2)


@njit()
def _output_adjoint4(gy, n0, n1, th, tw, band, Mg):
    for n in range(n0, n1):
        for ti in range(th):
            _read_band(gy, n, 2 * ti, band)
            for tj in range(tw):
                t, q = ((n - n0) * th + ti) * tw + tj, 2 * tj
                y00, y01, y10, y11 = band[0, q], band[0, q + 1], band[1, q], band[1, q + 1]
                for k in range(4):  # column k of A gY Aᵀ: four vectors written per loop
                    m0, m1, m2, m3 = Mg[k, t], Mg[4 + k, t], Mg[8 + k, t], Mg[12 + k, t]
                    for o in range(Mg.shape[2]):
                        m0[o], m1[o], m2[o], m3[o] = _a4(_a4(y00[o], y01[o])[k], _a4(y10[o], y11[o])[k])


# F(4×4, 2×2) (α = 5): 25 products per 4×4 tile where F(2×2, 2×2) needs 36 for the same 16 outputs. Written out
# like the α = 3 and 4 transforms: one loop per row (or column) of the tile, the 1-D transform along the other
# axis taken from the helpers at a constant index (LLVM keeps only the terms that entry needs). The input
# adjoint goes through a scratch tile ``work`` in two passes (Vg Bᵀ, then B down its columns) so that each of
# its loops touches ten vectors: in one pass (thirty a loop) it did not vectorise and ran three times slower.
# Each of the four compiles in about 1-1.6 s; two-pass versions of all four with the five rows as a run-time
# loop compiled in 0.5 s each but ran twice as slow (docs/performance.md).


@njit()
def _input_transform5(P, n0, n1, th, tw, V):
    for n in range(n0, n1):
        for ti in range(th):
            r0, r1, r2, r3, r4 = P[n, 4 * ti], P[n, 4 * ti + 1], P[n, 4 * ti + 2], P[n, 4 * ti + 3], P[n, 4 * ti + 4]
            for tj in range(tw):
                t, q = ((n - n0) * th + ti) * tw + tj, 4 * tj
                # s(5j + i) = row i, column j of the tile
                s0, s1, s2, s3, s4 = r0[q], r1[q], r2[q], r3[q], r4[q]
                s5, s6, s7, s8, s9 = r0[q + 1], r1[q + 1], r2[q + 1], r3[q + 1], r4[q + 1]
                s10, s11, s12, s13, s14 = r0[q + 2], r1[q + 2], r2[q + 2], r3[q + 2], r4[q + 2]
                s15, s16, s17, s18, s19 = r0[q + 3], r1[q + 3], r2[q + 3], r3[q + 3], r4[q + 3]
                s20, s21, s22, s23, s24 = r0[q + 4], r1[q + 4], r2[q + 4], r3[q + 4], r4[q + 4]
                # row a of Bᵀ d B (a = 0, ..., 4): Bᵀ down each column, entry a, then Bᵀ along the row
                v0, v1, v2, v3, v4 = V[0, t], V[1, t], V[2, t], V[3, t], V[4, t]
                for c in range(P.shape[3]):
                    v0[c], v1[c], v2[c], v3[c], v4[c] = _bt5(
                        _bt5(s0[c], s1[c], s2[c], s3[c], s4[c])[0], _bt5(s5[c], s6[c], s7[c], s8[c], s9[c])[0],
                        _bt5(s10[c], s11[c], s12[c], s13[c], s14[c])[0],
                        _bt5(s15[c], s16[c], s17[c], s18[c], s19[c])[0],
                        _bt5(s20[c], s21[c], s22[c], s23[c], s24[c])[0])
                # row 1
                v0, v1, v2, v3, v4 = V[5, t], V[6, t], V[7, t], V[8, t], V[9, t]
                for c in range(P.shape[3]):
                    v0[c], v1[c], v2[c], v3[c], v4[c] = _bt5(
                        _bt5(s0[c], s1[c], s2[c], s3[c], s4[c])[1], _bt5(s5[c], s6[c], s7[c], s8[c], s9[c])[1],
                        _bt5(s10[c], s11[c], s12[c], s13[c], s14[c])[1],
                        _bt5(s15[c], s16[c], s17[c], s18[c], s19[c])[1],
                        _bt5(s20[c], s21[c], s22[c], s23[c], s24[c])[1])
                # row 2
                v0, v1, v2, v3, v4 = V[10, t], V[11, t], V[12, t], V[13, t], V[14, t]
                for c in range(P.shape[3]):
                    v0[c], v1[c], v2[c], v3[c], v4[c] = _bt5(
                        _bt5(s0[c], s1[c], s2[c], s3[c], s4[c])[2], _bt5(s5[c], s6[c], s7[c], s8[c], s9[c])[2],
                        _bt5(s10[c], s11[c], s12[c], s13[c], s14[c])[2],
                        _bt5(s15[c], s16[c], s17[c], s18[c], s19[c])[2],
                        _bt5(s20[c], s21[c], s22[c], s23[c], s24[c])[2])
                # row 3
                v0, v1, v2, v3, v4 = V[15, t], V[16, t], V[17, t], V[18, t], V[19, t]
                for c in range(P.shape[3]):
                    v0[c], v1[c], v2[c], v3[c], v4[c] = _bt5(
                        _bt5(s0[c], s1[c], s2[c], s3[c], s4[c])[3], _bt5(s5[c], s6[c], s7[c], s8[c], s9[c])[3],
                        _bt5(s10[c], s11[c], s12[c], s13[c], s14[c])[3],
                        _bt5(s15[c], s16[c], s17[c], s18[c], s19[c])[3],
                        _bt5(s20[c], s21[c], s22[c], s23[c], s24[c])[3])
                # row 4
                v0, v1, v2, v3, v4 = V[20, t], V[21, t], V[22, t], V[23, t], V[24, t]
                for c in range(P.shape[3]):
                    v0[c], v1[c], v2[c], v3[c], v4[c] = _bt5(
                        _bt5(s0[c], s1[c], s2[c], s3[c], s4[c])[4], _bt5(s5[c], s6[c], s7[c], s8[c], s9[c])[4],
                        _bt5(s10[c], s11[c], s12[c], s13[c], s14[c])[4],
                        _bt5(s15[c], s16[c], s17[c], s18[c], s19[c])[4],
                        _bt5(s20[c], s21[c], s22[c], s23[c], s24[c])[4])


@njit(inline="always")
def _b5_into(v0, v1, v2, v3, v4, z0, z1, z2, z3, z4):
    """(z0, ..., z4)[c] = B (v0, ..., v4)[c] for every channel c (``_b5``, one vector at a time)."""
    for c in range(z0.size):
        z0[c], z1[c], z2[c], z3[c], z4[c] = _b5(v0[c], v1[c], v2[c], v3[c], v4[c])


@njit(inline="always")
def _b5_add(z0, z1, z2, z3, z4, p0, p1, p2, p3, p4):
    """(p0, ..., p4)[c] += B (z0, ..., z4)[c] for every channel c."""
    for c in range(p0.size):
        x0, x1, x2, x3, x4 = _b5(z0[c], z1[c], z2[c], z3[c], z4[c])
        p0[c] += x0
        p1[c] += x1
        p2[c] += x2
        p3[c] += x3
        p4[c] += x4


@njit()
def _input_adjoint5(Vg, n0, n1, th, tw, gP, work):
    for n in range(n0, n1):
        for ti in range(th):
            r0, r1, r2, r3, r4 = gP[n, 4 * ti], gP[n, 4 * ti + 1], gP[n, 4 * ti + 2], gP[n, 4 * ti + 3], \
                gP[n, 4 * ti + 4]
            for tj in range(tw):
                t, q = ((n - n0) * th + ti) * tw + tj, 4 * tj
                # Vg Bᵀ into work row by row (B along each row of Vg), then B down each column of work into gP
                # (written out: with the rows as a run-time loop, or the helpers not inlined, it ran 2-3 times slower)
                _b5_into(Vg[0, t], Vg[1, t], Vg[2, t], Vg[3, t], Vg[4, t], work[0], work[1], work[2], work[3], work[4])
                _b5_into(Vg[5, t], Vg[6, t], Vg[7, t], Vg[8, t], Vg[9, t], work[5], work[6], work[7], work[8], work[9])
                _b5_into(Vg[10, t], Vg[11, t], Vg[12, t], Vg[13, t], Vg[14, t],
                         work[10], work[11], work[12], work[13], work[14])
                _b5_into(Vg[15, t], Vg[16, t], Vg[17, t], Vg[18, t], Vg[19, t],
                         work[15], work[16], work[17], work[18], work[19])
                _b5_into(Vg[20, t], Vg[21, t], Vg[22, t], Vg[23, t], Vg[24, t],
                         work[20], work[21], work[22], work[23], work[24])
                _b5_add(work[0], work[5], work[10], work[15], work[20], r0[q], r1[q], r2[q], r3[q], r4[q])
                _b5_add(work[1], work[6], work[11], work[16], work[21],
                        r0[q + 1], r1[q + 1], r2[q + 1], r3[q + 1], r4[q + 1])
                _b5_add(work[2], work[7], work[12], work[17], work[22],
                        r0[q + 2], r1[q + 2], r2[q + 2], r3[q + 2], r4[q + 2])
                _b5_add(work[3], work[8], work[13], work[18], work[23],
                        r0[q + 3], r1[q + 3], r2[q + 3], r3[q + 3], r4[q + 3])
                _b5_add(work[4], work[9], work[14], work[19], work[24],
                        r0[q + 4], r1[q + 4], r2[q + 4], r3[q + 4], r4[q + 4])


@njit()
def _output_transform5(M, n0, n1, th, tw, band, y):
    for n in range(n0, n1):
        for ti in range(th):
            for tj in range(tw):
                t, q = ((n - n0) * th + ti) * tw + tj, 4 * tj
                m0, m1, m2, m3, m4 = M[0, t], M[1, t], M[2, t], M[3, t], M[4, t]
                m5, m6, m7, m8, m9 = M[5, t], M[6, t], M[7, t], M[8, t], M[9, t]
                m10, m11, m12, m13, m14 = M[10, t], M[11, t], M[12, t], M[13, t], M[14, t]
                m15, m16, m17, m18, m19 = M[15, t], M[16, t], M[17, t], M[18, t], M[19, t]
                m20, m21, m22, m23, m24 = M[20, t], M[21, t], M[22, t], M[23, t], M[24, t]
                # row i of Aᵀ M A (i = 0, ..., 3): Aᵀ down each column, entry i, then Aᵀ along the row
                y0, y1, y2, y3 = band[0, q], band[0, q + 1], band[0, q + 2], band[0, q + 3]
                for o in range(M.shape[2]):
                    y0[o], y1[o], y2[o], y3[o] = _at5(
                        _at5(m0[o], m5[o], m10[o], m15[o], m20[o])[0], _at5(m1[o], m6[o], m11[o], m16[o], m21[o])[0],
                        _at5(m2[o], m7[o], m12[o], m17[o], m22[o])[0], _at5(m3[o], m8[o], m13[o], m18[o], m23[o])[0],
                        _at5(m4[o], m9[o], m14[o], m19[o], m24[o])[0])
                # row 1
                y0, y1, y2, y3 = band[1, q], band[1, q + 1], band[1, q + 2], band[1, q + 3]
                for o in range(M.shape[2]):
                    y0[o], y1[o], y2[o], y3[o] = _at5(
                        _at5(m0[o], m5[o], m10[o], m15[o], m20[o])[1], _at5(m1[o], m6[o], m11[o], m16[o], m21[o])[1],
                        _at5(m2[o], m7[o], m12[o], m17[o], m22[o])[1], _at5(m3[o], m8[o], m13[o], m18[o], m23[o])[1],
                        _at5(m4[o], m9[o], m14[o], m19[o], m24[o])[1])
                # row 2
                y0, y1, y2, y3 = band[2, q], band[2, q + 1], band[2, q + 2], band[2, q + 3]
                for o in range(M.shape[2]):
                    y0[o], y1[o], y2[o], y3[o] = _at5(
                        _at5(m0[o], m5[o], m10[o], m15[o], m20[o])[2], _at5(m1[o], m6[o], m11[o], m16[o], m21[o])[2],
                        _at5(m2[o], m7[o], m12[o], m17[o], m22[o])[2], _at5(m3[o], m8[o], m13[o], m18[o], m23[o])[2],
                        _at5(m4[o], m9[o], m14[o], m19[o], m24[o])[2])
                # row 3
                y0, y1, y2, y3 = band[3, q], band[3, q + 1], band[3, q + 2], band[3, q + 3]
                for o in range(M.shape[2]):
                    y0[o], y1[o], y2[o], y3[o] = _at5(
                        _at5(m0[o], m5[o], m10[o], m15[o], m20[o])[3], _at5(m1[o], m6[o], m11[o], m16[o], m21[o])[3],
                        _at5(m2[o], m7[o], m12[o], m17[o], m22[o])[3], _at5(m3[o], m8[o], m13[o], m18[o], m23[o])[3],
                        _at5(m4[o], m9[o], m14[o], m19[o], m24[o])[3])
            _write_band(band, n, 4 * ti, y)


@njit()
def _output_adjoint5(gy, n0, n1, th, tw, band, Mg):
    for n in range(n0, n1):
        for ti in range(th):
            _read_band(gy, n, 4 * ti, band)
            for tj in range(tw):
                t, q = ((n - n0) * th + ti) * tw + tj, 4 * tj
                y0, y1, y2, y3 = band[0, q], band[0, q + 1], band[0, q + 2], band[0, q + 3]
                y4, y5, y6, y7 = band[1, q], band[1, q + 1], band[1, q + 2], band[1, q + 3]
                y8, y9, y10, y11 = band[2, q], band[2, q + 1], band[2, q + 2], band[2, q + 3]
                y12, y13, y14, y15 = band[3, q], band[3, q + 1], band[3, q + 2], band[3, q + 3]
                # column k of A gY Aᵀ (k = 0, ..., 4): A along each row, entry k, then A down the column
                m0, m1, m2, m3, m4 = Mg[0, t], Mg[5, t], Mg[10, t], Mg[15, t], Mg[20, t]
                for o in range(Mg.shape[2]):
                    m0[o], m1[o], m2[o], m3[o], m4[o] = _a5(
                        _a5(y0[o], y1[o], y2[o], y3[o])[0], _a5(y4[o], y5[o], y6[o], y7[o])[0],
                        _a5(y8[o], y9[o], y10[o], y11[o])[0], _a5(y12[o], y13[o], y14[o], y15[o])[0])
                # column 1
                m0, m1, m2, m3, m4 = Mg[1, t], Mg[6, t], Mg[11, t], Mg[16, t], Mg[21, t]
                for o in range(Mg.shape[2]):
                    m0[o], m1[o], m2[o], m3[o], m4[o] = _a5(
                        _a5(y0[o], y1[o], y2[o], y3[o])[1], _a5(y4[o], y5[o], y6[o], y7[o])[1],
                        _a5(y8[o], y9[o], y10[o], y11[o])[1], _a5(y12[o], y13[o], y14[o], y15[o])[1])
                # column 2
                m0, m1, m2, m3, m4 = Mg[2, t], Mg[7, t], Mg[12, t], Mg[17, t], Mg[22, t]
                for o in range(Mg.shape[2]):
                    m0[o], m1[o], m2[o], m3[o], m4[o] = _a5(
                        _a5(y0[o], y1[o], y2[o], y3[o])[2], _a5(y4[o], y5[o], y6[o], y7[o])[2],
                        _a5(y8[o], y9[o], y10[o], y11[o])[2], _a5(y12[o], y13[o], y14[o], y15[o])[2])
                # column 3
                m0, m1, m2, m3, m4 = Mg[3, t], Mg[8, t], Mg[13, t], Mg[18, t], Mg[23, t]
                for o in range(Mg.shape[2]):
                    m0[o], m1[o], m2[o], m3[o], m4[o] = _a5(
                        _a5(y0[o], y1[o], y2[o], y3[o])[3], _a5(y4[o], y5[o], y6[o], y7[o])[3],
                        _a5(y8[o], y9[o], y10[o], y11[o])[3], _a5(y12[o], y13[o], y14[o], y15[o])[3])
                # column 4
                m0, m1, m2, m3, m4 = Mg[4, t], Mg[9, t], Mg[14, t], Mg[19, t], Mg[24, t]
                for o in range(Mg.shape[2]):
                    m0[o], m1[o], m2[o], m3[o], m4[o] = _a5(
                        _a5(y0[o], y1[o], y2[o], y3[o])[4], _a5(y4[o], y5[o], y6[o], y7[o])[4],
                        _a5(y8[o], y9[o], y10[o], y11[o])[4], _a5(y12[o], y13[o], y14[o], y15[o])[4])


# α → (m, r, the four compiled transforms) of each F(m, r) the fast path runs.
COMPILED = {
    3: (2, 2, (_input_transform3, _input_adjoint3, _output_transform3, _output_adjoint3)),
    4: (2, 3, (_input_transform4, _input_adjoint4, _output_transform4, _output_adjoint4)),
    5: (4, 2, (_input_transform5, _input_adjoint5, _output_transform5, _output_adjoint5)),
}
