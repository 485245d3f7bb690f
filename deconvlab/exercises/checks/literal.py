"""Checks of the exercises conv2d_literal and conv_transpose2d_scatter: the article's formulas on one channel;
imports NumPy, Hypothesis, ``reference``, ``kernels`` and ``base``."""
import numpy as np
from hypothesis import strategies as st

from ... import kernels, reference
from .base import check, rel_error

sides = st.integers(1, 6)
kernel_sides = st.integers(1, 4)
strides = st.integers(1, 3)


# conv2d_literal ------------------------------------------------------------------------------------

def _conv(case, x, h):
    shape = (x.shape[0] + h.shape[0] - 1, x.shape[1] + h.shape[1] - 1)
    return case.array(case.call("conv2d_literal", x, h), f"conv2d_literal({case._text(x)}, {case._text(h)})", shape)


@check("conv2d_literal", P=sides, Q=sides, K=kernel_sides, L=kernel_sides)
def full_output_shape(case, P, Q, K, L):
    """x (P, Q) and h (K, L) give a float64 y of shape (P+K−1, Q+L−1)."""
    _conv(case, case.normal("x", (P, Q)), case.normal("h", (K, L)))


@check("conv2d_literal", P=sides, Q=sides, K=kernel_sides, L=kernel_sides)
def matches_seed_conv2d(case, P, Q, K, L):
    """y(i,j) = Σ_p Σ_q x(p,q)·h(i−p, j−q), as deconvlab.reference.seed_conv2d computes it."""
    x, h = case.normal("x", (P, Q)), case.normal("h", (K, L))
    y = _conv(case, x, h)
    case.close(y, reference.seed_conv2d(case.f64(x), case.f64(h)), "conv2d_literal(x, h) against the article's formula")


@check("conv2d_literal", P=sides, Q=sides, K=kernel_sides, L=kernel_sides, data=st.data())
def delta_kernel_shifts_input(case, P, Q, K, L, data):
    """A kernel with a single 1 at (a, b) copies x into y shifted by (a, b): y[a:a+P, b:b+Q] == x, 0 elsewhere."""
    a, b = data.draw(st.integers(0, K - 1), label="a"), data.draw(st.integers(0, L - 1), label="b")
    x = case.normal("x", (P, Q))
    delta = np.zeros((K, L))
    delta[a, b] = 1.0
    h = case.given("h", delta)
    expected = np.zeros((P + K - 1, Q + L - 1))
    expected[a:a + P, b:b + Q] = case.f64(x)
    case.close(_conv(case, x, h), expected, f"conv2d_literal(x, h) with a delta at ({a}, {b}) in a {K}x{L} kernel")


@check("conv2d_literal", P=sides, Q=sides, K=kernel_sides, L=kernel_sides)
def is_commutative(case, P, Q, K, L):
    """A true convolution commutes: conv(x, h) == conv(h, x) (a cross-correlation does not)."""
    x, h = case.normal("x", (P, Q)), case.normal("h", (K, L))
    case.close(_conv(case, x, h), _conv(case, h, x), "conv2d_literal(x, h) against conv2d_literal(h, x)")


@check("conv2d_literal", P=sides, Q=sides, K=kernel_sides, L=kernel_sides)
def is_linear_in_x(case, P, Q, K, L):
    """conv(α·x₁ + β·x₂, h) == α·conv(x₁, h) + β·conv(x₂, h)."""
    x1, x2, h = case.normal("x1", (P, Q)), case.normal("x2", (P, Q)), case.normal("h", (K, L))
    alpha, beta = 0.5, -2.0
    combined = case.given("x3", alpha * case.f64(x1) + beta * case.f64(x2), "0.5 * x1 - 2.0 * x2")
    case.close(_conv(case, combined, h), alpha * _conv(case, x1, h) + beta * _conv(case, x2, h),
               "conv(0.5·x₁ − 2·x₂, h) against 0.5·conv(x₁, h) − 2·conv(x₂, h)")


# conv_transpose2d_scatter --------------------------------------------------------------------------

def _scatter(case, x, k, s):
    shape = ((x.shape[0] - 1) * s + k.shape[0], (x.shape[1] - 1) * s + k.shape[1])
    return case.array(case.call("conv_transpose2d_scatter", x, k, stride=s),
                      f"conv_transpose2d_scatter({case._text(x)}, {case._text(k)}, stride={s})", shape)


@check("conv_transpose2d_scatter", P=sides, Q=sides, K=kernel_sides, L=kernel_sides, s=strides)
def stamped_output_shape(case, P, Q, K, L, s):
    """x (P, Q), k (K, L) and stride s give a float64 y of shape ((P−1)s + K, (Q−1)s + L)."""
    _scatter(case, case.normal("x", (P, Q)), case.normal("k", (K, L)), s)


@check("conv_transpose2d_scatter", P=sides, Q=sides, K=kernel_sides, L=kernel_sides, s=strides)
def matches_seed_deconv2d(case, P, Q, K, L, s):
    """y(i,j) = Σ_p Σ_q x(p,q)·k(i − s·p, j − s·q), as deconvlab.reference.seed_deconv2d computes it."""
    x, k = case.normal("x", (P, Q)), case.normal("k", (K, L))
    case.close(_scatter(case, x, k, s), reference.seed_deconv2d(case.f64(x), case.f64(k), stride=s),
               f"conv_transpose2d_scatter(x, k, stride={s}) against the formula")


@check("conv_transpose2d_scatter", P=sides, Q=sides, K=kernel_sides, L=kernel_sides)
def stride_one_is_convolution(case, P, Q, K, L):
    """With s = 1 the scatter is the article's convolution y(i,j) = Σ_p Σ_q x(p,q)·k(i−p, j−q)."""
    x, k = case.normal("x", (P, Q)), case.normal("k", (K, L))
    case.close(_scatter(case, x, k, 1), reference.seed_conv2d(case.f64(x), case.f64(k)),
               "conv_transpose2d_scatter(x, k, stride=1) against seed_conv2d")


@check("conv_transpose2d_scatter", P=sides, Q=sides, K=kernel_sides, L=kernel_sides, s=strides)
def is_adjoint_of_strided_correlation(case, P, Q, K, L, s):
    """⟨T(x), g⟩ == ⟨x, C(g)⟩, C(g)(p,q) = Σ_u Σ_v k(u,v)·g(s·p + u, s·q + v): the strided conv layer."""
    x, k = case.normal("x", (P, Q)), case.normal("k", (K, L))
    y = _scatter(case, x, k, s)
    g = np.random.default_rng(case.seed + 1).standard_normal(y.shape)
    cg = kernels.conv2d_forward(g[None, None], case.f64(k)[None, None], stride=s)[0, 0]
    lhs, rhs = float(np.sum(y * g)), float(np.sum(case.f64(x) * cg))
    if rel_error(lhs, rhs) > 10 * case.variant.rtol:
        case.fail(f"⟨T(x), g⟩ = {lhs:.10g} but ⟨x, C(g)⟩ = {rhs:.10g} for a random g (relative error "
                  f"{rel_error(lhs, rhs):.1e}, should be ~1e-15): T is not the transpose of the strided conv")


@check("conv_transpose2d_scatter")
def overlap_counts_checkerboard(case):
    """Ones stamped with a ones kernel count each output pixel's contributions: k3 s2 gives 1, 2, 4 (a checkerboard)."""

    def counts(n, size, s):
        per_index = np.zeros((n - 1) * s + size)
        for p in range(n):
            per_index[s * p:s * p + size] += 1
        return per_index

    for P, Q, K, L, s in [(3, 3, 3, 3, 2), (4, 3, 4, 4, 2), (3, 4, 2, 3, 3), (2, 2, 1, 1, 2)]:
        x, k = case.given(f"x{P}{Q}", np.ones((P, Q))), case.given(f"k{K}{L}", np.ones((K, L)))
        case.close(_scatter(case, x, k, s), np.outer(counts(P, K, s), counts(Q, L, s)),
                   f"overlap counts of ones {P}x{Q} stamped with ones {K}x{L} at stride {s}")
