"""The reference formulas: hand-computed examples, independent NumPy computations, and the multi-channel
layers shown as compositions of the single-channel seed formulas."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deconvlab import reference as R

EXAMPLES = min(settings.default.max_examples, 15)


@st.composite
def plane_and_kernel(draw, max_side=5, max_kernel=4):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    P, Q = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    K, L = draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel))
    return rng.standard_normal((P, Q)), rng.standard_normal((K, L))


def flip(h):
    return np.ascontiguousarray(h[::-1, ::-1])


def zero_insert(x, s_h, s_w):
    """Put s−1 zeros between neighbouring pixels: P×Q -> ((P−1)s_h+1)×((Q−1)s_w+1)."""
    z = np.zeros(((x.shape[-2] - 1) * s_h + 1, (x.shape[-1] - 1) * s_w + 1))
    z[::s_h, ::s_w] = x
    return z


def dilate(h, d_h, d_w):
    """Spread a kernel's taps d apart (d−1 zeros between taps)."""
    return zero_insert(h, d_h, d_w)


# --- seed_conv2d / seed_correlate2d ------------------------------------------------------------------


def test_seed_conv2d_hand_example():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    h = np.array([[1.0, 0.0], [0.0, -1.0]])
    # x placed at (0, 0) minus x placed at (1, 1)
    expected = np.array([[1.0, 2.0, 0.0], [3.0, 3.0, -2.0], [0.0, -3.0, -4.0]])
    np.testing.assert_array_equal(R.seed_conv2d(x, h), expected)


def test_seed_correlate2d_hand_example():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    h = np.array([[1.0, 0.0], [0.0, -1.0]])
    # minus x placed at (0, 0) plus x placed at (1, 1); the centre is the valid part Σ h·x = 1 − 4
    expected = np.array([[-1.0, -2.0, 0.0], [-3.0, -3.0, 2.0], [0.0, 3.0, 4.0]])
    np.testing.assert_array_equal(R.seed_correlate2d(x, h), expected)


def test_seed_conv2d_output_shape_is_full():
    assert R.seed_conv2d(np.ones((3, 5)), np.ones((2, 4))).shape == (4, 8)
    assert R.seed_correlate2d(np.ones((3, 5)), np.ones((2, 4))).shape == (4, 8)


@settings(max_examples=EXAMPLES)
@given(plane_and_kernel())
def test_seed_conv2d_is_sum_of_row_convolutions(xh):
    """y[i] = Σ_p np.convolve(x[p], h[i − p]): the 2-D full convolution from NumPy's 1-D one."""
    x, h = xh
    (P, Q), (K, L) = x.shape, h.shape
    expected = np.zeros((P + K - 1, Q + L - 1))
    for p in range(P):
        for u in range(K):
            expected[p + u] += np.convolve(x[p], h[u], mode="full")
    np.testing.assert_allclose(R.seed_conv2d(x, h), expected, rtol=1e-12, atol=1e-12)


@settings(max_examples=EXAMPLES)
@given(plane_and_kernel())
def test_seed_conv2d_matches_fft_product(xh):
    x, h = xh
    shape = (x.shape[0] + h.shape[0] - 1, x.shape[1] + h.shape[1] - 1)
    expected = np.fft.irfft2(np.fft.rfft2(x, shape) * np.fft.rfft2(h, shape), shape)
    np.testing.assert_allclose(R.seed_conv2d(x, h), expected, rtol=1e-9, atol=1e-9)


@settings(max_examples=EXAMPLES)
@given(plane_and_kernel())
def test_seed_correlate2d_is_sum_of_row_correlations(xh):
    """np.correlate(a, v, 'full') is the 1-D full cross-correlation; row i of y pairs x[p] with h[p − i + K − 1]."""
    x, h = xh
    (P, Q), (K, L) = x.shape, h.shape
    expected = np.zeros((P + K - 1, Q + L - 1))
    for p in range(P):
        for u in range(K):
            expected[p - u + K - 1] += np.correlate(x[p], h[u], mode="full")
    np.testing.assert_allclose(R.seed_correlate2d(x, h), expected, rtol=1e-12, atol=1e-12)


@settings(max_examples=EXAMPLES)
@given(plane_and_kernel())
def test_true_convolution_is_correlation_with_flipped_kernel(xh):
    x, h = xh
    np.testing.assert_allclose(R.seed_conv2d(x, h), R.seed_correlate2d(x, flip(h)), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(R.seed_correlate2d(x, h), R.seed_conv2d(x, flip(h)), rtol=1e-13, atol=1e-13)


def test_convolution_and_correlation_differ_for_asymmetric_kernel():
    x = np.arange(9.0).reshape(3, 3)
    h = np.array([[1.0, 2.0], [0.0, 0.0]])
    assert not np.allclose(R.seed_conv2d(x, h), R.seed_correlate2d(x, h))


@settings(max_examples=EXAMPLES)
@given(plane_and_kernel())
def test_valid_part_of_correlation_is_the_sliding_dot_product(xh):
    x, h = xh
    (P, Q), (K, L) = x.shape, h.shape
    if K > P or L > Q:
        x, h = h, x
        (P, Q), (K, L) = x.shape, h.shape
    if K > P or L > Q:
        return
    sliding = np.array([[np.sum(h * x[i : i + K, j : j + L]) for j in range(Q - L + 1)] for i in range(P - K + 1)])
    np.testing.assert_allclose(R.seed_correlate2d(x, h)[K - 1 : P, L - 1 : Q], sliding, rtol=1e-12, atol=1e-12)


# --- seed_deconv2d -----------------------------------------------------------------------------------


def test_seed_deconv2d_hand_example_k3_s2():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    expected = np.array(
        [
            [1.0, 1.0, 3.0, 2.0, 2.0],
            [1.0, 1.0, 3.0, 2.0, 2.0],
            [4.0, 4.0, 10.0, 6.0, 6.0],
            [3.0, 3.0, 7.0, 4.0, 4.0],
            [3.0, 3.0, 7.0, 4.0, 4.0],
        ]
    )
    np.testing.assert_array_equal(R.seed_deconv2d(x, np.ones((3, 3)), stride=2), expected)


def test_seed_deconv2d_with_kernel_equal_to_stride_is_kronecker():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    k = np.array([[1.0, -1.0, 0.5]])
    np.testing.assert_array_equal(R.seed_deconv2d(x, k, stride=(1, 3)), np.kron(x, k))


@settings(max_examples=EXAMPLES)
@given(plane_and_kernel())
def test_seed_deconv2d_with_stride_1_is_seed_conv2d(xh):
    """At s = 1 the article's two formulas are the same formula."""
    x, k = xh
    np.testing.assert_allclose(R.seed_deconv2d(x, k), R.seed_conv2d(x, k), rtol=1e-13, atol=1e-13)


@settings(max_examples=EXAMPLES)
@given(plane_and_kernel(), st.integers(1, 3), st.integers(1, 3))
def test_seed_deconv2d_is_zero_insertion_then_full_convolution(xh, s_h, s_w):
    x, k = xh
    expected = R.seed_conv2d(zero_insert(x, s_h, s_w), k)
    got = R.seed_deconv2d(x, k, stride=(s_h, s_w))
    assert got.shape == ((x.shape[0] - 1) * s_h + k.shape[0], (x.shape[1] - 1) * s_w + k.shape[1])
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-13)


@settings(max_examples=EXAMPLES)
@given(plane_and_kernel(), st.integers(1, 3), st.integers(1, 3))
def test_seed_deconv2d_is_sum_of_stamped_kernels(xh, s_h, s_w):
    x, k = xh
    (P, Q), (K, L) = x.shape, k.shape
    expected = np.zeros(((P - 1) * s_h + K, (Q - 1) * s_w + L))
    for p in range(P):
        for q in range(Q):
            expected[s_h * p : s_h * p + K, s_w * q : s_w * q + L] += x[p, q] * k
    np.testing.assert_allclose(R.seed_deconv2d(x, k, (s_h, s_w)), expected, rtol=1e-13, atol=1e-13)


# --- seed_mse ----------------------------------------------------------------------------------------


def test_seed_mse_hand_example():
    y_true = np.array([[1.0, 2.0], [3.0, 4.0]])
    y_pred = np.array([[1.0, 0.0], [3.0, 1.0]])
    assert R.seed_mse(y_true, y_pred) == (0 + 4 + 0 + 9) / 4
    assert R.seed_mse(y_true, y_pred, mask=np.array([[0, 1], [0, 0]])) == 4.0
    assert R.seed_mse(y_true, y_pred, mask=np.array([[True, False], [False, True]])) == (0 + 9) / 2


@settings(max_examples=EXAMPLES)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6), st.integers(1, 6))
def test_seed_mse_is_mean_of_squared_differences(seed, M, N):
    rng = np.random.default_rng(seed)
    y_true, y_pred = rng.random((M, N)), rng.random((M, N))
    mask = rng.random((M, N)) < 0.5
    mask[rng.integers(M), rng.integers(N)] = True
    total = sum((y_true[i, j] - y_pred[i, j]) ** 2 for i in range(M) for j in range(N))
    assert R.seed_mse(y_true, y_pred) == pytest.approx(total / (M * N), rel=1e-13)
    hole = sum((y_true[i, j] - y_pred[i, j]) ** 2 for i in range(M) for j in range(N) if mask[i, j])
    assert R.seed_mse(y_true, y_pred, mask) == pytest.approx(hole / mask.sum(), rel=1e-13)
    assert R.seed_mse(y_true, y_pred, mask.astype(np.uint8)) == R.seed_mse(y_true, y_pred, mask)


def test_seed_mse_ignores_known_pixels_under_a_mask():
    y_true = np.zeros((3, 3))
    y_pred = np.full((3, 3), 100.0)
    mask = np.zeros((3, 3), dtype=bool)
    mask[1, 1] = True
    y_pred[1, 1] = 0.5
    assert R.seed_mse(y_true, y_pred, mask) == 0.25


def test_seed_mse_empty_mask_is_an_error():
    with pytest.raises(ValueError, match="empty hole"):
        R.seed_mse(np.zeros((2, 2)), np.ones((2, 2)), mask=np.zeros((2, 2), dtype=bool))


def test_seed_mse_rejects_mismatched_shapes_and_non_binary_mask():
    with pytest.raises(ValueError, match=r"y_pred has shape \(2, 3\)"):
        R.seed_mse(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"mask has shape \(3,\)"):
        R.seed_mse(np.zeros((2, 2)), np.zeros((2, 2)), mask=np.ones(3))
    with pytest.raises(ValueError, match="0.5"):
        R.seed_mse(np.zeros((2, 2)), np.zeros((2, 2)), mask=np.full((2, 2), 0.5))


# --- the layers as compositions of the seed formulas --------------------------------------------------


@st.composite
def conv_case(draw, transposed=False):
    """Small random NCHW arguments for which the output is at least 1x1."""
    seed = draw(st.integers(0, 2**32 - 1))
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    p = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    if transposed:
        extra = tuple(draw(st.integers(0, max(s[a], d[a]) - 1)) for a in range(2))
        hw = tuple(draw(st.integers(1, 4)) for _ in range(2))
        out = [(hw[a] - 1) * s[a] - 2 * p[a] + d[a] * (k[a] - 1) + extra[a] + 1 for a in range(2)]
        if min(out) < 1:
            p = (0, 0)
    else:
        extra = (0, 0)
        hw = tuple(max(1, d[a] * (k[a] - 1) + 1 - 2 * p[a]) + draw(st.integers(0, 4)) for a in range(2))
    n, c_in, c_out = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c_in) + hw)
    w = rng.standard_normal(((c_in, c_out) if transposed else (c_out, c_in)) + k)
    b = rng.standard_normal(c_out)
    return x, w, b, s, p, d, extra


@settings(max_examples=EXAMPLES)
@given(conv_case())
def test_conv2d_is_channel_sum_of_valid_seed_correlations(case):
    """Padding = zeros around x, dilation = zeros between taps, stride = every s-th valid output."""
    x, w, b, s, p, d, _ = case
    y = R.conv2d(x, w, b, stride=s, padding=p, dilation=d)
    for n in range(x.shape[0]):
        for o in range(w.shape[0]):
            expected = b[o]
            for c in range(x.shape[1]):
                xp = np.pad(x[n, c], ((p[0], p[0]), (p[1], p[1])))
                h = dilate(w[o, c], *d)
                full = R.seed_correlate2d(xp, h)
                valid = full[h.shape[0] - 1 : xp.shape[0], h.shape[1] - 1 : xp.shape[1]]
                expected = expected + valid[:: s[0], :: s[1]]
            np.testing.assert_allclose(y[n, o], expected, rtol=1e-12, atol=1e-12)


@settings(max_examples=EXAMPLES)
@given(conv_case())
def test_conv2d_is_seed_convolution_with_flipped_kernel(case):
    """The article's convolution formula, with h = flip(w), is what a conv layer computes (s = 1, no padding)."""
    x, w, b, _, _, _, _ = case
    K, L = w.shape[2:]
    if K > x.shape[2] or L > x.shape[3]:
        return
    y = R.conv2d(x, w, b)
    for n in range(x.shape[0]):
        for o in range(w.shape[0]):
            expected = b[o] + sum(
                R.seed_conv2d(x[n, c], flip(w[o, c]))[K - 1 : x.shape[2], L - 1 : x.shape[3]]
                for c in range(x.shape[1])
            )
            np.testing.assert_allclose(y[n, o], expected, rtol=1e-12, atol=1e-12)


@settings(max_examples=EXAMPLES)
@given(conv_case(transposed=True))
def test_conv_transpose2d_is_channel_sum_of_cropped_seed_deconvolutions(case):
    """Dilation = zeros between taps; padding crops pad from both ends; output_padding adds rows at the far end."""
    x, w, b, s, p, d, extra = case
    y = R.conv_transpose2d(x, w, b, stride=s, padding=p, output_padding=extra, dilation=d)
    for n in range(x.shape[0]):
        for o in range(w.shape[1]):
            expected = b[o]
            for c in range(x.shape[1]):
                full = R.seed_deconv2d(x[n, c], dilate(w[c, o], *d), stride=s)
                grown = np.pad(full, ((0, extra[0]), (0, extra[1])))
                expected = expected + grown[p[0] : grown.shape[0] - p[0], p[1] : grown.shape[1] - p[1]]
            np.testing.assert_allclose(y[n, o], expected, rtol=1e-12, atol=1e-12)


def test_single_channel_layers_reduce_to_the_seed_formulas():
    rng = np.random.default_rng(7)
    x, k = rng.standard_normal((4, 5)), rng.standard_normal((3, 2))
    np.testing.assert_allclose(
        R.conv_transpose2d(x[None, None], k[None, None], stride=2)[0, 0], R.seed_deconv2d(x, k, 2), rtol=1e-13
    )
    np.testing.assert_allclose(
        R.conv2d(x[None, None], k[None, None])[0, 0], R.seed_correlate2d(x, k)[2:4, 1:5], rtol=1e-13
    )


def test_reference_layer_hand_example_with_stride_padding_and_bias():
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    w = np.ones((1, 1, 2, 2))
    # padded x is 5x5; 2x2 windows at rows/cols 0, 2 read: [1], [2+3], [4+7], [5+6+8+9]
    expected = np.array([[[[1.0, 5.0], [11.0, 28.0]]]]) + 0.5
    np.testing.assert_array_equal(R.conv2d(x, w, np.array([0.5]), stride=2, padding=1), expected)


def test_reference_layers_validate_their_arguments():
    x = np.zeros((1, 2, 4, 4))
    with pytest.raises(ValueError, match="input has 2 channels, weight expects 3"):
        R.conv2d(x, np.zeros((1, 3, 2, 2)))
    with pytest.raises(ValueError, match="stride"):
        R.conv2d(x, np.zeros((1, 2, 2, 2)), stride=0)
    with pytest.raises(ValueError, match="output of size"):
        R.conv2d(x, np.zeros((1, 2, 5, 5)))
    with pytest.raises(ValueError, match="output_padding"):
        R.conv_transpose2d(x, np.zeros((2, 1, 2, 2)), stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"bias has shape \(2,\)"):
        R.conv_transpose2d(x, np.zeros((2, 1, 2, 2)), np.zeros(2))
