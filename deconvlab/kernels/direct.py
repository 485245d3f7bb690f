"""Direct convolution without an unrolled copy: a stride-1 r_h×r_w correlation of a channels-last input, with the
output channels innermost so that every multiply-add is a vector operation; imports NumPy and _jit.

    y[n, o, i, j] = Σ_u Σ_v Σ_c w[u, v, c, o] · P[n, i + u, j + v, c]            (correlate)
    gP[n, i + u, j + v, c] += Σ_o w[u, v, c, o] · g[n, i, j, o]                    (scatter, its adjoint in P)
    gw[u, v, c, o] = Σ_n Σ_i Σ_j P[n, i + u, j + v, c] · g[n, i, j, o]            (weight_grad, its adjoint in w)

P (N, ≥ H_out + r_h − 1, ≥ W_out + r_w − 1, C) is the padded input with its channels last (``fast`` builds it with
its polyphase split, so a strided layer of dilation 1 is one such correlation over C = phases × C_in
channels); w is (r_h, r_w, C, O), g (N, H_out, W_out, O) channels-last. The layouts follow Georganas et al. (2018)
and Zhang, Franchetti & Low (2018): the innermost loop runs over a contiguous block of channels, the loop
around it over ``BLOCK`` output pixels that share each weight row, so each row of w is loaded once per block and
the accumulators (a block of output rows of channels) stay in the first-level cache. No matrix is unrolled.

The readable twin of these loops is ``readable.correlate`` / ``scatter`` / ``weight_grad``: the same sums, one
output element at a time, on the original layout.
"""
import numpy as np

from ._jit import njit

BLOCK = 4  # output pixels per register block


@njit()
def correlate(P, w, n0, n1, y):
    """y[n, o, i, j] = Σ_u,v,c w[u, v, c, o] · P[n, i + u, j + v, c] for samples n0 <= n < n1 (y overwritten)."""
    r_h, r_w, c_in, c_out = w.shape
    h_out, w_out = y.shape[2], y.shape[3]
    acc = np.empty((w_out, c_out), dtype=y.dtype)
    for n in range(n0, n1):
        for i in range(h_out):
            for j in range(w_out):
                for o in range(c_out):
                    acc[j, o] = 0
            for u in range(r_h):
                for v in range(r_w):
                    row = P[n, i + u]
                    for j0 in range(0, w_out - BLOCK + 1, BLOCK):
                        a0, a1, a2, a3 = acc[j0], acc[j0 + 1], acc[j0 + 2], acc[j0 + 3]
                        p0, p1, p2, p3 = row[j0 + v], row[j0 + v + 1], row[j0 + v + 2], row[j0 + v + 3]
                        for c in range(c_in):
                            wr = w[u, v, c]
                            x0, x1, x2, x3 = p0[c], p1[c], p2[c], p3[c]
                            for o in range(c_out):
                                a0[o] += x0 * wr[o]
                                a1[o] += x1 * wr[o]
                                a2[o] += x2 * wr[o]
                                a3[o] += x3 * wr[o]
                    for j in range(w_out - w_out % BLOCK, w_out):
                        a, p = acc[j], row[j + v]
                        for c in range(c_in):
                            wr = w[u, v, c]
                            x = p[c]
                            for o in range(c_out):
                                a[o] += x * wr[o]
            for o in range(c_out):
                line = y[n, o, i]
                for j in range(w_out):
                    line[j] = acc[j, o]


@njit()
def scatter(g, w, n0, n1, gP):
    """gP[n, i + u, j + v, c] += Σ_o w[u, v, c, o] · g[n, i, j, o] for samples n0 <= n < n1, with w read as
    (r_h, r_w, O, C) — the transposed weight, so that the innermost loop runs over c (gP accumulates)."""
    r_h, r_w, c_out, c_in = w.shape
    h_out, w_out = g.shape[1], g.shape[2]
    for n in range(n0, n1):
        for i in range(h_out):
            grow = g[n, i]
            for u in range(r_h):
                dst = gP[n, i + u]
                for v in range(r_w):
                    for j0 in range(0, w_out - BLOCK + 1, BLOCK):
                        d0, d1, d2, d3 = dst[j0 + v], dst[j0 + v + 1], dst[j0 + v + 2], dst[j0 + v + 3]
                        g0, g1, g2, g3 = grow[j0], grow[j0 + 1], grow[j0 + 2], grow[j0 + 3]
                        for o in range(c_out):
                            wr = w[u, v, o]
                            x0, x1, x2, x3 = g0[o], g1[o], g2[o], g3[o]
                            for c in range(c_in):
                                d0[c] += x0 * wr[c]
                                d1[c] += x1 * wr[c]
                                d2[c] += x2 * wr[c]
                                d3[c] += x3 * wr[c]
                    for j in range(w_out - w_out % BLOCK, w_out):
                        d, gv = dst[j + v], grow[j]
                        for o in range(c_out):
                            wr = w[u, v, o]
                            x = gv[o]
                            for c in range(c_in):
                                d[c] += x * wr[c]


@njit()
def weight_grad(P, g, n0, n1, gw):
    """gw[u, v, c, o] += Σ_n,i,j P[n, i + u, j + v, c] · g[n, i, j, o] over samples n0 <= n < n1 (gw accumulates)."""
    r_h, r_w, c_in, c_out = gw.shape
    h_out, w_out = g.shape[1], g.shape[2]
    for n in range(n0, n1):
        for i in range(h_out):
            grow = g[n, i]
            for u in range(r_h):
                row = P[n, i + u]
                for v in range(r_w):
                    for c in range(c_in):
                        acc = gw[u, v, c]
                        for j0 in range(0, w_out - BLOCK + 1, BLOCK):
                            g0, g1, g2, g3 = grow[j0], grow[j0 + 1], grow[j0 + 2], grow[j0 + 3]
                            x0, x1 = row[j0 + v, c], row[j0 + v + 1, c]
                            x2, x3 = row[j0 + v + 2, c], row[j0 + v + 3, c]
                            for o in range(c_out):
                                acc[o] += x0 * g0[o] + x1 * g1[o] + x2 * g2[o] + x3 * g3[o]
                        for j in range(w_out - w_out % BLOCK, w_out):
                            x, gv = row[j + v, c], grow[j]
                            for o in range(c_out):
                                acc[o] += x * gv[o]


@njit()
def channels_last(g, out):
    """out[n, i, j, o] = g[n, o, i, j], read in g's own order."""
    n_batch, c, h, wd = g.shape
    for n in range(n_batch):
        for o in range(c):
            for i in range(h):
                for j in range(wd):
                    out[n, i, j, o] = g[n, o, i, j]
