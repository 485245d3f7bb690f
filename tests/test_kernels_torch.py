"""Parity with PyTorch: forward and all three gradients of conv2d and conv_transpose2d (skipped without torch)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deconvlab import reference as R
from deconvlab.kernels import fast, readable

torch = pytest.importorskip("torch")
F = torch.nn.functional

pytestmark = pytest.mark.torch

IMPLS = pytest.mark.parametrize("impl", [fast, readable], ids=["fast", "readable"])
DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
EXAMPLES = min(settings.default.max_examples, 15)

# Hand-picked corners: (x shape, kernel, stride, padding, dilation, output_padding of the transposed conv)
EXPLICIT = [
    ((1, 2, 9, 8), (3, 3), 3, 1, 2, 2),          # dilation 2 with stride 3, output_padding 2, batch 1
    ((1, 3, 7, 6), (2, 4), (3, 1), (0, 2), (2, 1), (2, 0)),  # non-square kernel, mixed pairs
    ((2, 1, 5, 5), (1, 3), 2, 0, 1, 1),          # 1-wide kernel, stride 2
    ((1, 2, 4, 7), (2, 1), (1, 2), (1, 0), (3, 1), (2, 1)),  # output_padding < dilation but >= stride
    ((1, 1, 1, 1), (1, 1), 1, 0, 1, 0),          # the smallest case
    ((1, 2, 6, 5), (2, 3), 1, (3, 1), (2, 1), (1, 0)),  # stride 1, padding beyond d(k−1), C_in < C_out
]


def rel_error(got, expected, scale=0.0):
    """Largest difference relative to the largest value (or to ``scale``, when that is larger)."""
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert got.shape == expected.shape, f"shape {got.shape} != torch's {expected.shape}"
    scale = max(np.abs(expected).max(), np.abs(got).max(), scale, np.finfo(np.float64).tiny)
    return np.abs(got - expected).max() / scale


def assert_matches_torch(ours, theirs, dtype, what, scale=0.0):
    rel = 1e-10 if dtype == np.float64 else 1e-4
    err = rel_error(ours, theirs.detach().numpy(), scale)
    assert err <= rel, f"{what}: relative error {err:.3e} against torch, should be <= {rel:.0e}"


def as_pair(v):
    return tuple(v) if isinstance(v, tuple) else (v, v)


def torch_conv(x, w, b, gy, stride, padding, dilation):
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.conv2d(xt, wt, bt, stride=stride, padding=padding, dilation=dilation)
    y.backward(torch.tensor(gy))
    return y, xt.grad, wt.grad, bt.grad


def torch_conv_transpose(x, w, b, gy, stride, padding, output_padding, dilation):
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.conv_transpose2d(xt, wt, bt, stride=stride, padding=padding, output_padding=output_padding,
                           dilation=dilation)
    y.backward(torch.tensor(gy))
    return y, xt.grad, wt.grad, bt.grad


def check_conv(impl, x, w, b, stride, padding, dilation):
    dtype = x.dtype
    y = impl.conv2d_forward(x, w, b, stride, padding, dilation)
    gy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    ty, tgx, tgw, tgb = torch_conv(x, w, b, gy, stride, padding, dilation)
    assert_matches_torch(y, ty, dtype, "conv2d forward")
    gx, gw, gb = impl.conv2d_backward(gy, x, w, stride, padding, dilation)
    assert_matches_torch(gx, tgx, dtype, "conv2d grad input")
    assert_matches_torch(gw, tgw, dtype, "conv2d grad weight")
    # the bias gradient is a plain sum of gy, whose terms may cancel: measure it against the sum of their sizes
    assert_matches_torch(gb, tgb, dtype, "conv2d grad bias", scale=np.abs(gy).sum(axis=(0, 2, 3)).max())


def check_conv_transpose(impl, x, w, b, stride, padding, output_padding, dilation):
    dtype = x.dtype
    y = impl.conv_transpose2d_forward(x, w, b, stride, padding, output_padding, dilation)
    gy = np.random.default_rng(2).standard_normal(y.shape).astype(dtype)
    ty, tgx, tgw, tgb = torch_conv_transpose(x, w, b, gy, stride, padding, output_padding, dilation)
    assert_matches_torch(y, ty, dtype, "conv_transpose2d forward")
    gx, gw, gb = impl.conv_transpose2d_backward(gy, x, w, stride, padding, output_padding, dilation)
    assert_matches_torch(gx, tgx, dtype, "conv_transpose2d grad input")
    assert_matches_torch(gw, tgw, dtype, "conv_transpose2d grad weight")
    assert_matches_torch(gb, tgb, dtype, "conv_transpose2d grad bias", scale=np.abs(gy).sum(axis=(0, 2, 3)).max())


def maybe_int(pairs, v):
    """Pass an argument as PyTorch accepts it: a pair, or an int when both entries agree and ``pairs`` is off."""
    return v if pairs or v[0] != v[1] else v[0]


@st.composite
def torch_cases(draw, dtype, transposed):
    """Random small arguments for which the output is at least 1x1; w in the layout of the chosen op."""
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    if transposed:
        extra = tuple(draw(st.integers(0, max(s[a], d[a]) - 1)) for a in range(2))
        hw = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
        p = tuple(draw(st.integers(0, min(2, ((hw[a] - 1) * s[a] + d[a] * (k[a] - 1) + extra[a]) // 2)))
                  for a in range(2))
    else:
        extra = (0, 0)
        p = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
        hw = tuple(max(1, d[a] * (k[a] - 1) + 1 - 2 * p[a]) + draw(st.integers(0, 4)) for a in range(2))
    n, c_in, c_out = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, c_in) + hw).astype(dtype)
    w = rng.standard_normal(((c_in, c_out) if transposed else (c_out, c_in)) + k).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype)
    pairs = draw(st.booleans())
    return x, w, b, maybe_int(pairs, s), maybe_int(pairs, p), maybe_int(pairs, d), maybe_int(pairs, extra)


@IMPLS
@DTYPES
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_conv2d_forward_and_gradients_match_torch(impl, dtype, data):
    x, w, b, s, p, d, _ = data.draw(torch_cases(dtype, transposed=False))
    check_conv(impl, x, w, b, s, p, d)


@IMPLS
@DTYPES
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_conv_transpose2d_forward_and_gradients_match_torch(impl, dtype, data):
    x, w, b, s, p, d, extra = data.draw(torch_cases(dtype, transposed=True))
    check_conv_transpose(impl, x, w, b, s, p, extra, d)


@IMPLS
@DTYPES
@pytest.mark.parametrize("x_shape, k, s, p, d, extra", EXPLICIT)
def test_explicit_corner_cases_match_torch(impl, dtype, x_shape, k, s, p, d, extra):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal((3, x_shape[1]) + k).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    check_conv(impl, x, w, b, s, p, d)
    wt = np.ascontiguousarray(w.transpose(1, 0, 2, 3))
    check_conv_transpose(impl, x, wt, b, s, p, extra, d)


@pytest.mark.parametrize("x_shape, k, s, p, d, extra", EXPLICIT)
def test_reference_forward_matches_torch(x_shape, k, s, p, d, extra):
    rng = np.random.default_rng(5)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((2, x_shape[1]) + k)
    b = rng.standard_normal(2)
    y = F.conv2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), as_pair(s), as_pair(p), as_pair(d))
    assert_matches_torch(R.conv2d(x, w, b, s, p, d), y, np.float64, "reference conv2d")
    wt = np.ascontiguousarray(w.transpose(1, 0, 2, 3))
    y = F.conv_transpose2d(torch.tensor(x), torch.tensor(wt), torch.tensor(b), as_pair(s), as_pair(p),
                           as_pair(extra), 1, as_pair(d))
    assert_matches_torch(R.conv_transpose2d(x, wt, b, s, p, extra, d), y, np.float64, "reference conv_transpose2d")


# Layers every algorithm accepts (dilation 1; Winograd: square 2x2 or 3x3 sub-kernels): k3 s1, k4 s2, k3 s2, k6 s2.
ALGORITHM_CASES = [((2, 3, 9, 8), (3, 3), 1, 1, 0), ((1, 4, 10, 10), (4, 4), 2, 1, 0),
                   ((2, 2, 7, 9), (3, 3), 2, 1, 1), ((1, 2, 12, 11), (6, 6), 2, 2, 1)]


@pytest.mark.parametrize("algorithm", ["im2col", "winograd", "direct"])
@DTYPES
@pytest.mark.parametrize("x_shape, k, s, p, extra", ALGORITHM_CASES)
def test_every_algorithm_matches_torch(algorithm, dtype, x_shape, k, s, p, extra):
    from deconvlab.kernels import plan

    rng = np.random.default_rng(6)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal((5, x_shape[1]) + k).astype(dtype)
    b = rng.standard_normal(5).astype(dtype)
    with plan.forced(algorithm):
        check_conv(fast, x, w, b, s, p, 1)
        wt = np.ascontiguousarray(w.transpose(1, 0, 2, 3))
        check_conv_transpose(fast, x, wt, b, s, p, extra, 1)
