"""The kernel identities 1-9 of docs/design.md, property-tested on the fast kernels, their readable twins and the reference.

Each identity is checked against a computation that does not share code with the implementation under test:
NumPy slicing, einsum, np.kron, explicit index counting, or the reference loops.
"""
from collections import namedtuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deconvlab import kernels
from deconvlab import reference as R
from deconvlab.kernels import fast, readable

Impl = namedtuple("Impl", "name conv2d conv_transpose2d conv2d_backward conv_transpose2d_backward")
FAST = Impl("fast", fast.conv2d_forward, fast.conv_transpose2d_forward, fast.conv2d_backward,
            fast.conv_transpose2d_backward)
READABLE = Impl("readable", readable.conv2d_forward, readable.conv_transpose2d_forward,
                readable.conv2d_backward, readable.conv_transpose2d_backward)
REFERENCE = Impl("reference", R.conv2d, R.conv_transpose2d, None, None)

ALL = pytest.mark.parametrize("impl", [FAST, READABLE, REFERENCE], ids=lambda i: i.name)
KERNELS = pytest.mark.parametrize("impl", [FAST, READABLE], ids=lambda i: i.name)
DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])

EXAMPLES = min(settings.default.max_examples, 15)
FEW = min(settings.default.max_examples, 8)

# A conv case carries the output_padding that makes the transposed conv restore x's shape; a transposed
# case carries the output_padding it was drawn with.
Case = namedtuple("Case", "x w b stride padding dilation output_padding")


@st.composite
def conv_cases(draw, dtype=np.float64, max_channels=3, max_extra=5, max_k=4, max_d=3, max_batch=2):
    """x (N, C_in, H, W), w (C_out, C_in, kH, kW), b, and stride/padding/dilation pairs with output >= 1x1."""
    k = tuple(draw(st.integers(1, max_k)) for _ in range(2))
    s = tuple(draw(st.integers(1, 3)) for _ in range(2))
    d = tuple(draw(st.integers(1, max_d)) for _ in range(2))
    p = tuple(draw(st.integers(0, 2)) for _ in range(2))
    hw = tuple(max(1, d[a] * (k[a] - 1) + 1 - 2 * p[a]) + draw(st.integers(0, max_extra)) for a in range(2))
    n = draw(st.integers(1, max_batch))
    c_in, c_out = draw(st.integers(1, max_channels)), draw(st.integers(1, max_channels))
    restore = tuple((hw[a] + 2 * p[a] - d[a] * (k[a] - 1) - 1) % s[a] for a in range(2))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, c_in) + hw).astype(dtype)
    w = rng.standard_normal((c_out, c_in) + k).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype)
    return Case(x, w, b, s, p, d, restore)


@st.composite
def conv_transpose_cases(draw, dtype=np.float64, max_channels=3, max_hw=5, max_batch=2):
    """x (N, C_in, H, W), w (C_in, C_out, kH, kW), b, stride/padding/output_padding/dilation with output >= 1x1."""
    k = tuple(draw(st.integers(1, 4)) for _ in range(2))
    s = tuple(draw(st.integers(1, 3)) for _ in range(2))
    d = tuple(draw(st.integers(1, 3)) for _ in range(2))
    extra = tuple(draw(st.integers(0, max(s[a], d[a]) - 1)) for a in range(2))
    hw = tuple(draw(st.integers(1, max_hw)) for _ in range(2))
    p = tuple(
        draw(st.integers(0, min(2, ((hw[a] - 1) * s[a] + d[a] * (k[a] - 1) + extra[a]) // 2))) for a in range(2)
    )
    n = draw(st.integers(1, max_batch))
    c_in, c_out = draw(st.integers(1, max_channels)), draw(st.integers(1, max_channels))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, c_in) + hw).astype(dtype)
    w = rng.standard_normal((c_in, c_out) + k).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype)
    return Case(x, w, b, s, p, d, extra)


def rel_error(got, expected):
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert got.shape == expected.shape, f"shape {got.shape} != expected {expected.shape}"
    scale = max(np.abs(expected).max(initial=0.0), np.abs(got).max(initial=0.0), np.finfo(np.float64).tiny)
    return np.abs(got - expected).max(initial=0.0) / scale


def assert_rel(got, expected, dtype, rel64=1e-10, rel32=1e-4):
    rel = rel64 if np.dtype(dtype) == np.float64 else rel32
    err = rel_error(got, expected)
    assert err <= rel, f"relative error {err:.3e}, should be <= {rel:.0e}"


def conv(impl, c, bias=True):
    return impl.conv2d(c.x, c.w, c.b if bias else None, stride=c.stride, padding=c.padding, dilation=c.dilation)


def conv_t(impl, c, bias=True):
    return impl.conv_transpose2d(c.x, c.w, c.b if bias else None, stride=c.stride, padding=c.padding,
                                 output_padding=c.output_padding, dilation=c.dilation)


def random_like(a, seed=0):
    return np.random.default_rng(seed).standard_normal(a.shape).astype(a.dtype)


def pad_hw(a, lo, hi):
    """Zero-pad (or, for negative amounts, crop) the last two axes: lo/hi are (rows, cols) pairs."""
    a = np.pad(a, [(0, 0)] * (a.ndim - 2) + [(max(lo[i], 0), max(hi[i], 0)) for i in range(2)])
    rows = slice(max(-lo[0], 0), a.shape[-2] - max(-hi[0], 0))
    cols = slice(max(-lo[1], 0), a.shape[-1] - max(-hi[1], 0))
    return np.ascontiguousarray(a[..., rows, cols])


def zero_insert(x, s):
    """s−1 zeros between neighbouring pixels of the last two axes."""
    z = np.zeros(x.shape[:-2] + ((x.shape[-2] - 1) * s[0] + 1, (x.shape[-1] - 1) * s[1] + 1), dtype=x.dtype)
    z[..., :: s[0], :: s[1]] = x
    return z


def conv_size(size, k, s, p, d):
    """Output length counted directly: windows i >= 0 whose last tap i·s + d(k−1) lies in the padded input."""
    return sum(1 for i in range(size + 2 * p + 1) if i * s + d * (k - 1) <= size + 2 * p - 1)


def taps_hit(n_in, n_out, k, s, p, d):
    """How many (input pixel, tap) pairs meet at each output index (i·s − p + u·d = r) in one dimension."""
    counts = np.zeros(n_out, dtype=np.int64)
    for i in range(n_in):
        for u in range(k):
            r = i * s - p + u * d
            if 0 <= r < n_out:
                counts[r] += 1
    return counts


# --- 1. fast == readable == reference -----------------------------------------------------------------


@KERNELS
@DTYPES
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_forward_matches_reference(impl, dtype, data):
    c = data.draw(conv_cases(dtype))
    y = conv(impl, c)
    assert y.dtype == dtype
    assert_rel(y, R.conv2d(c.x, c.w, c.b, c.stride, c.padding, c.dilation), dtype)
    t = data.draw(conv_transpose_cases(dtype))
    y = conv_t(impl, t)
    assert y.dtype == dtype
    assert_rel(y, R.conv_transpose2d(t.x, t.w, t.b, t.stride, t.padding, t.output_padding, t.dilation), dtype)


@KERNELS
@DTYPES
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_conv2d_gradients_match_reference_built_gradients(impl, dtype, data):
    """gx = reference transposed conv of gy; gw = reference conv of x by gy with stride and dilation swapped."""
    c = data.draw(conv_cases(dtype))
    gy = random_like(conv(impl, c), seed=1)
    gx, gw, gb = impl.conv2d_backward(gy, c.x, c.w, c.stride, c.padding, c.dilation)
    assert gx.dtype == gw.dtype == gb.dtype == dtype
    assert_rel(gx, R.conv_transpose2d(gy, c.w, None, c.stride, c.padding, c.output_padding, c.dilation), dtype)
    gw_ref = R.conv2d(c.x.transpose(1, 0, 2, 3), gy.transpose(1, 0, 2, 3),
                      stride=c.dilation, padding=c.padding, dilation=c.stride).transpose(1, 0, 2, 3)
    assert_rel(gw, gw_ref[:, :, : c.w.shape[2], : c.w.shape[3]], dtype)
    assert_rel(gb, gy.astype(np.float64).sum(axis=(0, 2, 3)), dtype)


@KERNELS
@DTYPES
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_conv_transpose2d_gradients_match_reference_built_gradients(impl, dtype, data):
    """gx = reference conv of gy (cropped to x); gw = reference conv of gy by x with stride and dilation swapped."""
    t = data.draw(conv_transpose_cases(dtype))
    gy = random_like(conv_t(impl, t), seed=2)
    gx, gw, gb = impl.conv_transpose2d_backward(gy, t.x, t.w, t.stride, t.padding, t.output_padding, t.dilation)
    assert gx.dtype == gw.dtype == gb.dtype == dtype
    h, w = t.x.shape[2:]
    assert_rel(gx, R.conv2d(gy, t.w, None, t.stride, t.padding, t.dilation)[:, :, :h, :w], dtype)
    gw_ref = R.conv2d(gy.transpose(1, 0, 2, 3), t.x.transpose(1, 0, 2, 3),
                      stride=t.dilation, padding=t.padding, dilation=t.stride).transpose(1, 0, 2, 3)
    assert_rel(gw, gw_ref[:, :, : t.w.shape[2], : t.w.shape[3]], dtype)
    assert_rel(gb, gy.astype(np.float64).sum(axis=(0, 2, 3)), dtype)


@settings(max_examples=EXAMPLES)
@given(conv_cases(), conv_transpose_cases())
def test_fast_and_readable_agree_to_1e_12(c, t):
    for fwd in ("conv2d_forward", "conv_transpose2d_forward"):
        case, run = (c, conv) if fwd == "conv2d_forward" else (t, conv_t)
        assert rel_error(run(FAST, case), run(READABLE, case)) <= 1e-12
    gy = random_like(conv(FAST, c))
    for a, b in zip(fast.conv2d_backward(gy, c.x, c.w, c.stride, c.padding, c.dilation),
                    readable.conv2d_backward(gy, c.x, c.w, c.stride, c.padding, c.dilation)):
        assert rel_error(a, b) <= 1e-12
    gy = random_like(conv_t(FAST, t))
    args = (t.stride, t.padding, t.output_padding, t.dilation)
    for a, b in zip(fast.conv_transpose2d_backward(gy, t.x, t.w, *args),
                    readable.conv_transpose2d_backward(gy, t.x, t.w, *args)):
        assert rel_error(a, b) <= 1e-12


@settings(max_examples=FEW)
@given(conv_cases(max_batch=4), conv_transpose_cases(max_batch=4), st.sampled_from([fast.BAND_ROWS, 1, 2]),
       st.sampled_from([1, 10**9]))
def test_fast_and_readable_agree_when_the_batch_is_split_into_chunks(c, t, band_rows, sample_major_pixels):
    """fast unrolls the batch in chunks of CHUNK_BYTES; at 1 byte every sample is a chunk of its own, cut into
    bands of BAND_ROWS output rows (1 and 2 here, so that a sample spans several bands); with im2col's columns
    sample-major (SAMPLE_MAJOR_PIXELS 1) or row-major (a billion)."""
    saved = fast.CHUNK_BYTES, fast.BAND_ROWS, fast.SAMPLE_MAJOR_PIXELS
    fast.CHUNK_BYTES, fast.BAND_ROWS, fast.SAMPLE_MAJOR_PIXELS = 1, band_rows, sample_major_pixels
    try:
        gy = random_like(conv(READABLE, c))
        for a, b in zip((conv(FAST, c),) + fast.conv2d_backward(gy, c.x, c.w, c.stride, c.padding, c.dilation),
                        (conv(READABLE, c),) + readable.conv2d_backward(gy, c.x, c.w, c.stride, c.padding,
                                                                        c.dilation)):
            assert rel_error(a, b) <= 1e-12
        gy = random_like(conv_t(READABLE, t))
        args = (t.stride, t.padding, t.output_padding, t.dilation)
        for a, b in zip((conv_t(FAST, t),) + fast.conv_transpose2d_backward(gy, t.x, t.w, *args),
                        (conv_t(READABLE, t),) + readable.conv_transpose2d_backward(gy, t.x, t.w, *args)):
            assert rel_error(a, b) <= 1e-12
    finally:
        fast.CHUNK_BYTES, fast.BAND_ROWS, fast.SAMPLE_MAJOR_PIXELS = saved


def test_public_kernels_are_the_fast_ones():
    assert kernels.conv2d_forward is fast.conv2d_forward
    assert kernels.conv2d_backward is fast.conv2d_backward
    assert kernels.conv_transpose2d_forward is fast.conv_transpose2d_forward
    assert kernels.conv_transpose2d_backward is fast.conv_transpose2d_backward


# --- 2. output sizes ----------------------------------------------------------------------------------


@ALL
@settings(max_examples=EXAMPLES)
@given(c=conv_cases(max_channels=1), t=conv_transpose_cases(max_channels=1))
def test_output_sizes_follow_the_formulas(impl, c, t):
    k = c.w.shape[2:]
    expected = tuple(conv_size(c.x.shape[2 + a], k[a], c.stride[a], c.padding[a], c.dilation[a]) for a in range(2))
    assert conv(impl, c).shape == (c.x.shape[0], c.w.shape[0]) + expected
    assert expected == tuple(
        kernels.conv_output_size(c.x.shape[2 + a], k[a], c.stride[a], c.padding[a], c.dilation[a]) for a in range(2)
    )
    k = t.w.shape[2:]
    expected = tuple(
        (t.x.shape[2 + a] - 1) * t.stride[a] - 2 * t.padding[a] + t.dilation[a] * (k[a] - 1)
        + t.output_padding[a] + 1
        for a in range(2)
    )
    assert conv_t(impl, t).shape == (t.x.shape[0], t.w.shape[1]) + expected
    assert expected == tuple(
        kernels.conv_transpose_output_size(t.x.shape[2 + a], k[a], t.stride[a], t.padding[a],
                                           t.output_padding[a], t.dilation[a])
        for a in range(2)
    )


@ALL
@settings(max_examples=EXAMPLES)
@given(c=conv_cases(max_channels=2))
def test_conv_then_transposed_conv_restores_the_shape(impl, c):
    """output_padding = (H + 2p − d(k−1) − 1) mod s picks this H among the s sizes conv maps to the same H_out."""
    y = np.ascontiguousarray(conv(impl, c), dtype=c.x.dtype)
    back = impl.conv_transpose2d(y, c.w, None, c.stride, c.padding, c.output_padding, c.dilation)
    assert back.shape == c.x.shape


@settings(max_examples=EXAMPLES)
@given(st.integers(1, 12), st.integers(1, 4), st.integers(1, 4), st.integers(0, 3), st.integers(1, 3))
def test_transposed_output_size_inverts_conv_output_size(size, k, s, p, d):
    """For every output_padding < s, conv maps the transposed conv's output size back to the input size."""
    for extra in range(s):
        out = kernels.conv_transpose_output_size(size, k, s, p, extra, d)
        if out >= 1:
            assert kernels.conv_output_size(out, k, s, p, d) == size


# --- 3. adjoint -----------------------------------------------------------------------------------------


@ALL
@DTYPES
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_transposed_conv_is_adjoint_of_conv(impl, dtype, data):
    """<conv(x), g> = <x, conv_transpose(g)> with the same weight, from either side."""
    c = data.draw(conv_cases(dtype))
    y = conv(impl, c, bias=False)
    g = random_like(y, seed=3)
    z = impl.conv_transpose2d(g, c.w, None, c.stride, c.padding, c.output_padding, c.dilation)
    lhs, rhs = np.vdot(y.astype(np.float64), g), np.vdot(c.x, z.astype(np.float64))
    scale = np.linalg.norm(y.astype(np.float64)) * np.linalg.norm(g.astype(np.float64))
    rel = 1e-12 if dtype == np.float64 else 1e-5
    assert abs(lhs - rhs) <= rel * scale, f"<Cx, g> = {lhs}, <x, Cᵀg> = {rhs}"

    t = data.draw(conv_transpose_cases(dtype))
    y = conv_t(impl, t, bias=False)
    g = random_like(y, seed=4)
    h, w = t.x.shape[2:]
    z = impl.conv2d(g, t.w, None, t.stride, t.padding, t.dilation)[:, :, :h, :w]
    lhs, rhs = np.vdot(y.astype(np.float64), g), np.vdot(t.x, z.astype(np.float64))
    scale = np.linalg.norm(y.astype(np.float64)) * np.linalg.norm(g.astype(np.float64))
    assert abs(lhs - rhs) <= rel * scale, f"<Tx, g> = {lhs}, <x, Tᵀg> = {rhs}"


@KERNELS
@DTYPES
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_each_input_gradient_is_the_other_forward(impl, dtype, data):
    c = data.draw(conv_cases(dtype))
    gy = random_like(conv(impl, c), seed=5)
    gx, _, _ = impl.conv2d_backward(gy, c.x, c.w, c.stride, c.padding, c.dilation, need_bias=False)
    assert_rel(gx, impl.conv_transpose2d(gy, c.w, None, c.stride, c.padding, c.output_padding, c.dilation),
               dtype, rel64=1e-13, rel32=1e-6)
    t = data.draw(conv_transpose_cases(dtype))
    gy = random_like(conv_t(impl, t), seed=6)
    gx, _, gb = impl.conv_transpose2d_backward(gy, t.x, t.w, t.stride, t.padding, t.output_padding, t.dilation,
                                               need_bias=False)
    assert gb is None
    h, w = t.x.shape[2:]
    assert_rel(gx, impl.conv2d(gy, t.w, None, t.stride, t.padding, t.dilation)[:, :, :h, :w],
               dtype, rel64=1e-13, rel32=1e-6)


# --- 4. matrix view -------------------------------------------------------------------------------------


def conv_matrix_from_formula(w, in_hw, out_hw, s, p, d):
    """C[(o,i,j), (c,r,q)] = Σ w[o,c,u,v] over the taps with r = i·s − p + u·d and q = j·s − p + v·d."""
    c_out, c_in, kh, kw = w.shape
    C = np.zeros((c_out, *out_hw, c_in, *in_hw))
    for o in range(c_out):
        for c in range(c_in):
            for u in range(kh):
                for v in range(kw):
                    for i in range(out_hw[0]):
                        for j in range(out_hw[1]):
                            r, q = i * s[0] - p[0] + u * d[0], j * s[1] - p[1] + v * d[1]
                            if 0 <= r < in_hw[0] and 0 <= q < in_hw[1]:
                                C[o, i, j, c, r, q] += w[o, c, u, v]
    return C.reshape(c_out * out_hw[0] * out_hw[1], c_in * in_hw[0] * in_hw[1])


@ALL
@DTYPES
@settings(max_examples=FEW)
@given(data=st.data())
def test_transposed_conv_matrix_is_transpose_of_conv_matrix(impl, dtype, data):
    """Column k of C is conv(e_k); run every basis image as one batch. Then conv_transpose's matrix is Cᵀ."""
    c = data.draw(conv_cases(dtype, max_channels=2, max_extra=2, max_k=3, max_d=2))
    n_in = int(np.prod(c.x.shape[1:]))
    basis = np.eye(n_in, dtype=dtype).reshape((n_in,) + c.x.shape[1:])
    y = impl.conv2d(basis, c.w, None, c.stride, c.padding, c.dilation)
    C = y.reshape(n_in, -1).T
    out_hw = y.shape[2:]
    np.testing.assert_array_equal(C, conv_matrix_from_formula(c.w, c.x.shape[2:], out_hw,
                                                              c.stride, c.padding, c.dilation))
    n_out = C.shape[0]
    basis = np.eye(n_out, dtype=dtype).reshape((n_out,) + y.shape[1:])
    z = impl.conv_transpose2d(basis, c.w, None, c.stride, c.padding, c.output_padding, c.dilation)
    T = z.reshape(n_out, -1).T
    np.testing.assert_array_equal(T, C.T)
    x = c.x[:1]
    assert_rel(C @ x.reshape(-1), impl.conv2d(x, c.w, None, c.stride, c.padding, c.dilation).reshape(-1), dtype)


# --- 5. transposed conv as zero insertion + padding + flipped conv -----------------------------------------


@ALL
@DTYPES
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_transposed_conv_is_zero_insertion_padding_and_flipped_conv(impl, dtype, data):
    """conv_transpose(x) = conv(pad(zero_insert(x, s)), flip(w)ᵀ, dilation d), stride 1, no further padding.

    pad: d(k−1) − p on each side, plus output_padding on the far side; a negative amount crops.

    flip(w)ᵀ: kernel flipped in both spatial axes, channel axes swapped (C_in, C_out) -> (C_out, C_in).
    """
    t = data.draw(conv_transpose_cases(dtype))
    k = t.w.shape[2:]
    lo = tuple(t.dilation[a] * (k[a] - 1) - t.padding[a] for a in range(2))
    hi = tuple(lo[a] + t.output_padding[a] for a in range(2))
    z = pad_hw(zero_insert(t.x, t.stride), lo, hi)
    w_conv = np.ascontiguousarray(t.w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    expected = impl.conv2d(z, w_conv, t.b, stride=1, padding=0, dilation=t.dilation)
    assert_rel(conv_t(impl, t), expected, dtype)


# --- 6. linearity and shift-equivariance ---------------------------------------------------------------


@ALL
@DTYPES
@settings(max_examples=EXAMPLES)
@given(data=st.data(), a=st.floats(-3, 3).filter(lambda v: abs(v) > 0.1), b=st.floats(-3, 3))
def test_conv_and_transposed_conv_are_linear_in_input_and_weight(impl, dtype, data, a, b):
    for case, run in ((data.draw(conv_cases(dtype)), conv), (data.draw(conv_transpose_cases(dtype)), conv_t)):
        x2, w2 = random_like(case.x, seed=7), random_like(case.w, seed=8)
        mixed_x = case._replace(x=(a * case.x + b * x2).astype(dtype))
        mixed_w = case._replace(w=(a * case.w + b * w2).astype(dtype))
        y1 = run(impl, case, bias=False).astype(np.float64)
        y2x = run(impl, case._replace(x=x2), bias=False).astype(np.float64)
        y2w = run(impl, case._replace(w=w2), bias=False).astype(np.float64)
        assert_rel(run(impl, mixed_x, bias=False), a * y1 + b * y2x, dtype, rel64=1e-12, rel32=1e-4)
        assert_rel(run(impl, mixed_w, bias=False), a * y1 + b * y2w, dtype, rel64=1e-12, rel32=1e-4)


@ALL
@DTYPES
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_shifting_input_by_stride_shifts_conv_output_by_one(impl, dtype, data):
    """Prepend s_h zero rows and s_w zero columns: the output gains one row and column in front, rest unchanged."""
    c = data.draw(conv_cases(dtype))
    shifted = c._replace(x=pad_hw(c.x, c.stride, (0, 0)))
    y, ys = conv(impl, c), conv(impl, shifted)
    assert ys.shape[2:] == (y.shape[2] + 1, y.shape[3] + 1)
    assert_rel(ys[:, :, 1:, 1:], y, dtype, rel64=1e-13, rel32=1e-6)


@ALL
@DTYPES
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_shifting_input_by_one_shifts_transposed_conv_output_by_stride(impl, dtype, data):
    """Prepend one zero row and column: the output gains s_h rows and s_w columns in front, rest unchanged."""
    t = data.draw(conv_transpose_cases(dtype))
    shifted = t._replace(x=pad_hw(t.x, (1, 1), (0, 0)))
    y, ys = conv_t(impl, t), conv_t(impl, shifted)
    s_h, s_w = t.stride
    assert ys.shape[2:] == (y.shape[2] + s_h, y.shape[3] + s_w)
    assert_rel(ys[:, :, s_h:, s_w:], y, dtype, rel64=1e-13, rel32=1e-6)


# --- 7. special kernels ---------------------------------------------------------------------------------


@ALL
@DTYPES
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_1x1_conv_is_matmul_over_channels(impl, dtype, data):
    c = data.draw(conv_cases(dtype))
    c = c._replace(w=np.ascontiguousarray(c.w[:, :, :1, :1]))
    xp = pad_hw(c.x, c.padding, c.padding).astype(np.float64)
    expected = np.einsum("oc,nchw->nohw", c.w[:, :, 0, 0].astype(np.float64), xp[:, :, :: c.stride[0], :: c.stride[1]])
    assert_rel(conv(impl, c), expected + c.b.reshape(1, -1, 1, 1), dtype)


@ALL
@DTYPES
@settings(max_examples=EXAMPLES)
@given(data=st.data(), kh=st.sampled_from([1, 3, 5]), kw=st.sampled_from([1, 3]), d=st.integers(1, 2))
def test_delta_kernel_is_identity(impl, dtype, data, kh, kw, d):
    """w[o, c] = δ_oc at the centre tap, padding d(k−1)/2, stride 1: both conv and transposed conv copy x."""
    c = data.draw(conv_cases(dtype))
    x = c.x
    ch = x.shape[1]
    w = np.zeros((ch, ch, kh, kw), dtype=dtype)
    for o in range(ch):
        w[o, o, kh // 2, kw // 2] = 1.0
    pad = (d * (kh // 2), d * (kw // 2))
    np.testing.assert_array_equal(impl.conv2d(x, w, None, 1, pad, d), x)
    np.testing.assert_array_equal(impl.conv_transpose2d(x, w, None, 1, pad, 0, d), x)


@ALL
@DTYPES
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_transposed_conv_with_kernel_equal_to_stride_is_kronecker_upsampling(impl, dtype, data):
    t = data.draw(conv_transpose_cases(dtype))
    t = t._replace(w=random_like(np.zeros(t.w.shape[:2] + t.stride, dtype=dtype), seed=9),
                   padding=(0, 0), output_padding=(0, 0), dilation=(1, 1))
    expected = np.zeros((t.x.shape[0], t.w.shape[1], t.x.shape[2] * t.stride[0], t.x.shape[3] * t.stride[1]))
    for n in range(t.x.shape[0]):
        for o in range(t.w.shape[1]):
            for c in range(t.x.shape[1]):
                expected[n, o] += np.kron(t.x[n, c].astype(np.float64), t.w[c, o].astype(np.float64))
    assert_rel(conv_t(impl, t, bias=False), expected, dtype)


# --- 8. overlap counts ----------------------------------------------------------------------------------


def ones_transposed(impl, hw, k, s, p=0, c_in=1):
    x = np.ones((1, c_in) + hw)
    w = np.ones((c_in, 1) + k)
    return impl.conv_transpose2d(x, w, None, s, p)[0, 0]


@ALL
@pytest.mark.parametrize("hw", [(2, 2), (3, 5), (4, 1)])
def test_overlap_counts_k3_s2_form_a_checkerboard(impl, hw):
    y = ones_transposed(impl, hw, (3, 3), 2)
    assert set(np.unique(y)) <= {1.0, 2.0, 4.0}
    # Even interior rows are reached by two input pixels, every other row by one; the same for columns.
    per_row = np.array([2 if r % 2 == 0 and 0 < r < 2 * hw[0] else 1 for r in range(2 * hw[0] + 1)])
    per_col = np.array([2 if q % 2 == 0 and 0 < q < 2 * hw[1] else 1 for q in range(2 * hw[1] + 1)])
    np.testing.assert_array_equal(y, np.outer(per_row, per_col))
    if min(hw) >= 2:
        assert set(np.unique(y)) == {1.0, 2.0, 4.0}


@ALL
@pytest.mark.parametrize("hw", [(2, 2), (3, 5), (6, 4)])
def test_overlap_counts_k4_s2_p1_are_uniform_inside(impl, hw):
    y = ones_transposed(impl, hw, (4, 4), 2, p=1)
    assert y.shape == (2 * hw[0], 2 * hw[1])
    np.testing.assert_array_equal(y[1:-1, 1:-1], 4.0)
    np.testing.assert_array_equal(y[0, 1:-1], 2.0)
    np.testing.assert_array_equal(y[[0, 0, -1, -1], [0, -1, 0, -1]], 1.0)


@ALL
@settings(max_examples=EXAMPLES)
@given(t=conv_transpose_cases(max_channels=3))
def test_transposed_conv_of_ones_counts_contributions(impl, t):
    y = impl.conv_transpose2d(np.ones_like(t.x), np.ones_like(t.w), None, t.stride, t.padding,
                              t.output_padding, t.dilation)
    k = t.w.shape[2:]
    rows = taps_hit(t.x.shape[2], y.shape[2], k[0], t.stride[0], t.padding[0], t.dilation[0])
    cols = taps_hit(t.x.shape[3], y.shape[3], k[1], t.stride[1], t.padding[1], t.dilation[1])
    expected = t.x.shape[1] * np.outer(rows, cols)
    for n in range(t.x.shape[0]):
        for o in range(t.w.shape[1]):
            np.testing.assert_array_equal(y[n, o], expected)


# --- 9. pixels never read get gradient exactly 0 --------------------------------------------------------


def read_mask(n_in, n_out, k, s, p, d):
    """True where input index r equals i·s − p + u·d for some output i and tap u."""
    read = np.zeros(n_in, dtype=bool)
    for i in range(n_out):
        for u in range(k):
            r = i * s - p + u * d
            if 0 <= r < n_in:
                read[r] = True
    return read


def write_mask(n_in, n_out, k, s, p, d):
    """True where transposed-conv input index i writes some output i·s − p + u·d inside the output."""
    return np.array([any(0 <= i * s - p + u * d < n_out for u in range(k)) for i in range(n_in)])


def conv_weight_grad_by_slicing(gy, x, k, s, p, d):
    """gw[o, c, u, v] = Σ_n Σ_i Σ_j gy[n, o, i, j] · x_padded[n, c, u·d + i·s, v·d + j·s]."""
    xp = pad_hw(x.astype(np.float64), p, p)
    h_out, w_out = gy.shape[2:]
    gw = np.zeros((gy.shape[1], x.shape[1]) + tuple(k))
    for u in range(k[0]):
        for v in range(k[1]):
            patch = xp[:, :, u * d[0] : u * d[0] + s[0] * (h_out - 1) + 1 : s[0],
                       v * d[1] : v * d[1] + s[1] * (w_out - 1) + 1 : s[1]]
            gw[:, :, u, v] = np.einsum("nohw,nchw->oc", gy.astype(np.float64), patch)
    return gw


@KERNELS
@DTYPES
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_pixels_conv_never_reads_get_zero_gradient(impl, dtype, data):
    c = data.draw(conv_cases(dtype))
    gy = random_like(conv(impl, c), seed=10)
    gx, gw, _ = impl.conv2d_backward(gy, c.x, c.w, c.stride, c.padding, c.dilation)
    k = c.w.shape[2:]
    rows = read_mask(c.x.shape[2], gy.shape[2], k[0], c.stride[0], c.padding[0], c.dilation[0])
    cols = read_mask(c.x.shape[3], gy.shape[3], k[1], c.stride[1], c.padding[1], c.dilation[1])
    unread = ~np.outer(rows, cols)
    assert np.all(gx[:, :, unread] == 0.0)
    assert np.all(gx[:, :, ~unread] != 0.0)
    assert_rel(gw, conv_weight_grad_by_slicing(gy, c.x, k, c.stride, c.padding, c.dilation), dtype)


@KERNELS
@pytest.mark.parametrize(
    "hw, k, s, p, d, unread_rows",
    [
        ((5, 5), (1, 1), 2, 0, 1, [1, 3]),          # k1 s2: every other row and column is skipped
        ((6, 6), (3, 3), 2, 0, 1, [5]),             # (6 − 2 − 1) mod 2 = 1: the last row is never reached
        ((7, 7), (2, 2), 3, 0, 3, [1, 2, 4, 5]),    # taps 3 apart, windows 3 apart: rows 0, 3 and 6
        ((6, 6), (2, 2), 3, 0, 3, [1, 2, 4, 5]),    # one window only: rows 0 and 3
        ((5, 5), (3, 3), 3, 1, 1, []),              # padding covers the gap: every row is read
    ],
)
def test_known_stride_and_dilation_gaps_get_zero_gradient(impl, hw, k, s, p, d, unread_rows):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((1, 2) + hw)
    w = rng.standard_normal((3, 2) + k)
    y = impl.conv2d(x, w, None, s, p, d)
    gy = rng.standard_normal(y.shape)
    gx, gw, _ = impl.conv2d_backward(gy, x, w, s, p, d)
    read_rows = [r for r in range(hw[0]) if r not in unread_rows]
    assert np.all(gx[:, :, unread_rows, :] == 0.0)
    assert np.all(gx[:, :, :, unread_rows] == 0.0)
    assert np.all(gx[:, :, read_rows][:, :, :, read_rows] != 0.0)
    assert rel_error(gw, conv_weight_grad_by_slicing(gy, x, k, (s, s), (p, p), (d, d))) <= 1e-12


@KERNELS
@DTYPES
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_transposed_conv_inputs_whose_writes_are_all_cropped_get_zero_gradient(impl, dtype, data):
    t = data.draw(conv_transpose_cases(dtype))
    gy = random_like(conv_t(impl, t), seed=12)
    gx, gw, _ = impl.conv_transpose2d_backward(gy, t.x, t.w, t.stride, t.padding, t.output_padding, t.dilation)
    k = t.w.shape[2:]
    rows = write_mask(t.x.shape[2], gy.shape[2], k[0], t.stride[0], t.padding[0], t.dilation[0])
    cols = write_mask(t.x.shape[3], gy.shape[3], k[1], t.stride[1], t.padding[1], t.dilation[1])
    unused = ~np.outer(rows, cols)
    assert np.all(gx[:, :, unused] == 0.0)
    # gw[c, o, u, v] = Σ x[n, c, i, j] · gy[n, o, i·s − p + u·d, j·s − p + v·d]: conv's, with x and gy swapped.
    gw_ref = conv_weight_grad_by_slicing(t.x, gy, k, t.stride, t.padding, t.dilation)
    assert_rel(gw, gw_ref, dtype)


def test_transposed_conv_with_wide_padding_ignores_cropped_inputs_exactly():
    """H = 3, k1 s2 p2: the output is one pixel, written only by input row/column 1."""
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    w = np.full((1, 1, 1, 1), 2.0)
    for impl in (FAST, READABLE):
        y = impl.conv_transpose2d(x, w, None, 2, 2)
        np.testing.assert_array_equal(y, [[[[8.0]]]])
        gx, gw, gb = impl.conv_transpose2d_backward(np.ones_like(y), x, w, 2, 2)
        expected = np.zeros((1, 1, 3, 3))
        expected[0, 0, 1, 1] = 2.0
        np.testing.assert_array_equal(gx, expected)
        np.testing.assert_array_equal(gw, [[[[4.0]]]])
        np.testing.assert_array_equal(gb, [1.0])
