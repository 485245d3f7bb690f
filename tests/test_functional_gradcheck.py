"""Every op of deconvlab.functional: gradients against central differences in float64, values against the
formulas in the docstrings, and the error messages."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import deconvlab.functional as F
from deconvlab.autograd import Tensor
from deconvlab.gradcheck import gradcheck

# A correct gradient gives ~1e-8..1e-10 (a wrong one ~1e-2 or more). The worst element of an op is the one with
# the smallest derivative, where the central difference's rounding (~1e-16·|y|/ε per output touched) is
# relatively largest. Where one partial derivative gathers many outputs (a convolution's weight: every output
# pixel; a reduced loss: every element of the scalar's sum), their rounding adds up and the bound is 1e-6.
REL_TOL = 1e-7
REL_TOL_MANY_TERMS = 1e-6
# Over random arguments some partial derivative may be nearly zero by cancellation, where a relative error
# means nothing; property tests bound |analytic − numeric| ≤ atol + rtol·|numeric| instead.
PROPERTY_ATOL, PROPERTY_RTOL = 1e-8, 1e-6


def rand(seed, *shape):
    return np.random.default_rng(seed).standard_normal(shape)


def away_from_kinks(seed, *shape, kinks=(0.0,)):
    """Uniform values in (−1.5, 1.5) kept at least 0.05 from every kink, so ±ε never crosses one."""
    x = np.random.default_rng(seed).uniform(-1.5, 1.5, shape)
    for k in kinks:
        near = np.abs(x - k) < 0.05
        x[near] = k + 0.1 * np.sign(x[near] - k + 1e-12)
    return x


def probabilities(seed, *shape):
    return np.random.default_rng(seed).uniform(0.05, 0.95, shape)


HOLE = np.random.default_rng(7).uniform(size=(2, 1, 4, 4)) > 0.5

CASES = {
    "add": (F.add, lambda: [rand(1, 3, 4), rand(2, 4)]),
    "sub": (F.sub, lambda: [rand(1, 3, 4), rand(2, 3, 1)]),
    "mul": (F.mul, lambda: [rand(1, 3, 4), rand(2, 4)]),
    "div": (F.div, lambda: [rand(1, 3, 4), probabilities(2, 3, 4) + 0.5]),
    "neg": (F.neg, lambda: [rand(1, 3, 4)]),
    "pow (tensor exponent)": (F.pow, lambda: [probabilities(1, 3, 4) + 0.5, rand(2, 4)]),
    "pow (number exponent)": (lambda a: F.pow(a, 3.5), lambda: [probabilities(1, 3, 4) + 0.5]),
    "matmul": (F.matmul, lambda: [rand(1, 2, 3, 4), rand(2, 4, 5)]),
    "sum": (lambda a: F.sum(a, axis=(0, 2), keepdims=True), lambda: [rand(1, 2, 3, 4)]),
    "mean": (lambda a: F.mean(a, axis=1), lambda: [rand(1, 2, 3, 4)]),
    "reshape": (lambda a: F.reshape(a, (4, -1)), lambda: [rand(1, 2, 3, 4)]),
    "transpose": (lambda a: F.transpose(a, 0, 2), lambda: [rand(1, 2, 3, 4)]),
    "permute": (lambda a: F.permute(a, (2, 0, 1)), lambda: [rand(1, 2, 3, 4)]),
    "getitem": (lambda a: a[np.array([1, 0, 1]), 1:3], lambda: [rand(1, 2, 3, 4)]),
    "concatenate": (lambda a, b: F.concatenate([a, b, a], axis=1), lambda: [rand(1, 2, 3), rand(2, 2, 2)]),
    "pad": (lambda a: F.pad(a, (1, 2, 0, 1)), lambda: [rand(1, 2, 3, 4)]),
    "exp": (F.exp, lambda: [rand(1, 3, 4)]),
    "log": (F.log, lambda: [probabilities(1, 3, 4)]),
    "abs": (F.abs, lambda: [away_from_kinks(1, 3, 4)]),
    "clip": (lambda a: F.clip(a, -0.5, 0.5), lambda: [away_from_kinks(1, 4, 5, kinks=(-0.5, 0.5))]),
    "relu": (F.relu, lambda: [away_from_kinks(1, 3, 4)]),
    "leaky_relu": (lambda a: F.leaky_relu(a, 0.2), lambda: [away_from_kinks(1, 3, 4)]),
    "sigmoid": (F.sigmoid, lambda: [3 * rand(1, 3, 4)]),
    "tanh": (F.tanh, lambda: [rand(1, 3, 4)]),
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, dilation=2),
               lambda: [rand(1, 2, 3, 7, 6), rand(2, 4, 3, 3, 2), rand(3, 4)]),
    "conv_transpose2d": (lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1, dilation=2),
                         lambda: [rand(1, 2, 3, 4, 5), rand(2, 3, 2, 3, 3), rand(3, 2)]),
    "upsample_nearest2d": (lambda x: F.upsample_nearest2d(x, (2, 3)), lambda: [rand(1, 2, 2, 3, 4)]),
    "upsample_bilinear2d": (lambda x: F.upsample_bilinear2d(x, 3), lambda: [rand(1, 2, 2, 3, 4)]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 3, stride=2, padding=1), lambda: [rand(1, 2, 2, 5, 6)]),
    "mse_loss": (F.mse_loss, lambda: [rand(1, 2, 3, 4, 4), rand(2, 2, 3, 4, 4)]),
    "mse_loss (mask)": (lambda x, t: F.mse_loss(x, t, mask=HOLE), lambda: [rand(1, 2, 3, 4, 4), rand(2, 2, 3, 4, 4)]),
    "mse_loss (sum)": (lambda x, t: F.mse_loss(x, t, reduction="sum"), lambda: [rand(1, 3, 4), rand(2, 3, 4)]),
    "mse_loss (none, mask)": (lambda x, t: F.mse_loss(x, t, mask=HOLE, reduction="none"),
                              lambda: [rand(1, 2, 3, 4, 4), rand(2, 2, 3, 4, 4)]),
    "l1_loss": (F.l1_loss, lambda: [away_from_kinks(1, 2, 3, 4), np.zeros((2, 3, 4))]),
    "l1_loss (mask)": (lambda x, t: F.l1_loss(x, t, mask=HOLE),
                       lambda: [away_from_kinks(1, 2, 3, 4, 4), np.zeros((2, 3, 4, 4))]),
    "binary_cross_entropy": (F.binary_cross_entropy, lambda: [probabilities(1, 3, 4), probabilities(2, 3, 4)]),
    "binary_cross_entropy (mask)": (lambda p, t: F.binary_cross_entropy(p, t, mask=HOLE),
                                    lambda: [probabilities(1, 2, 3, 4, 4), probabilities(2, 2, 3, 4, 4)]),
    "binary_cross_entropy_with_logits": (F.binary_cross_entropy_with_logits,
                                         lambda: [4 * rand(1, 3, 4), probabilities(2, 3, 4)]),
    "binary_cross_entropy (none)": (lambda p, t: F.binary_cross_entropy(p, t, reduction="none"),
                                    lambda: [probabilities(1, 3, 4), probabilities(2, 3, 4)]),
    "binary_cross_entropy_with_logits (none)": (
        lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction="none"),
        lambda: [4 * rand(1, 3, 4), probabilities(2, 3, 4)]),
}
MANY_TERMS = {"conv2d", "conv_transpose2d", "mse_loss", "mse_loss (mask)", "mse_loss (sum)", "l1_loss",
              "l1_loss (mask)", "binary_cross_entropy", "binary_cross_entropy (mask)", "binary_cross_entropy_with_logits"}


@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck(name):
    fn, inputs = CASES[name]
    result = gradcheck(fn, *inputs())
    print(f"{name:40s} {result.max_rel_error:.1e}  ({result.n_checked} partials)")
    assert result.max_rel_error < (REL_TOL_MANY_TERMS if name in MANY_TERMS else REL_TOL), result


@st.composite
def conv_arguments(draw, transposed):
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    p = tuple(draw(st.integers(0, (d[i] * (k[i] - 1)) // 2 + 1)) for i in range(2))
    n, c_in, c_out = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    if transposed:
        op = tuple(draw(st.integers(0, max(s[i], d[i]) - 1)) for i in range(2))
        hw = tuple(draw(st.integers(max(1, (2 * p[i] - d[i] * (k[i] - 1) - op[i]) // s[i] + 2), 4)) for i in range(2))
        shapes = (n, c_in) + hw, (c_in, c_out) + k
        return shapes, dict(stride=s, padding=p, output_padding=op, dilation=d)
    hw = tuple(draw(st.integers(max(1, d[i] * (k[i] - 1) + 1 - 2 * p[i]), 7)) for i in range(2))
    return ((n, c_in) + hw, (c_out, c_in) + k), dict(stride=s, padding=p, dilation=d)


@given(args=conv_arguments(transposed=False), bias=st.booleans())
def test_conv2d_gradcheck_over_arguments(args, bias):
    (x_shape, w_shape), kw = args
    inputs = [rand(1, *x_shape), rand(2, *w_shape)] + ([rand(3, w_shape[0])] if bias else [None])
    gradcheck(lambda x, w, b: F.conv2d(x, w, b, **kw), *inputs, atol=PROPERTY_ATOL, rtol=PROPERTY_RTOL)


@given(args=conv_arguments(transposed=True), bias=st.booleans())
def test_conv_transpose2d_gradcheck_over_arguments(args, bias):
    (x_shape, w_shape), kw = args
    inputs = [rand(1, *x_shape), rand(2, *w_shape)] + ([rand(3, w_shape[1])] if bias else [None])
    gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, **kw), *inputs, atol=PROPERTY_ATOL, rtol=PROPERTY_RTOL)


def test_conv2d_input_gradient_is_conv_transpose2d_of_the_output_gradient():
    x = Tensor(rand(1, 2, 3, 7, 7), requires_grad=True)
    w = Tensor(rand(2, 4, 3, 3, 3))
    g = rand(3, 2, 4, 4, 4)
    F.conv2d(x, w, stride=2, padding=1).backward(g)
    expected = F.conv_transpose2d(Tensor(g), w, stride=2, padding=1).data
    np.testing.assert_allclose(x.grad, expected, rtol=0, atol=1e-12)


# values -----------------------------------------------------------------------------------------------
def test_mse_loss_is_the_seed_formula():
    y_true, y_pred = rand(1, 5, 6), rand(2, 5, 6)
    seed = sum((y_true[i, j] - y_pred[i, j]) ** 2 for i in range(5) for j in range(6)) / (5 * 6)
    assert F.mse_loss(y_pred, y_true).item() == pytest.approx(seed, rel=1e-14)


@pytest.mark.parametrize("loss,elementwise", [(F.mse_loss, lambda d: d * d), (F.l1_loss, np.abs)])
def test_masked_loss_is_the_mean_over_the_hole(loss, elementwise):
    pred, target = rand(1, 2, 3, 4, 4), rand(2, 2, 3, 4, 4)
    hole = np.broadcast_to(HOLE, pred.shape)
    assert loss(pred, target, mask=HOLE).item() == pytest.approx(elementwise(pred - target)[hole].mean(), rel=1e-13)
    total = loss(pred, target, mask=HOLE, reduction="sum").item()
    assert total == pytest.approx(elementwise(pred - target)[hole].sum())
    np.testing.assert_array_equal(loss(pred, target, mask=HOLE, reduction="none").data[~hole], 0)
    assert loss(pred, target, mask=np.ones((4, 4))).item() == pytest.approx(loss(pred, target).item(), rel=1e-14)


def test_binary_cross_entropy_clamps_its_logarithms_at_minus_100():
    p, t = np.array([0.0, 1.0, 0.5]), np.array([1.0, 0.0, 1.0])
    np.testing.assert_allclose(F.binary_cross_entropy(p, t, reduction="none").data, [100, 100, np.log(2)])


def test_sigmoid_and_bce_with_logits_are_finite_for_huge_logits():
    x = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        s = F.sigmoid(x).data
        loss = F.binary_cross_entropy_with_logits(x, np.ones(5), reduction="none").data
    assert s[0] == 0 and s[-1] == 1 and s[2] == 0.5
    np.testing.assert_allclose(loss, [1000, 30, np.log(2), np.log1p(np.exp(-30)), 0], rtol=1e-12)
    p = F.sigmoid(rand(1, 6)).data
    t = np.random.default_rng(2).uniform(size=6)
    np.testing.assert_allclose(F.binary_cross_entropy_with_logits(np.log(p / (1 - p)), t).data,
                               F.binary_cross_entropy(p, t).data, rtol=1e-12)


def test_nearest_upsampling_is_a_kronecker_product():
    x = rand(1, 2, 3, 4, 5)
    np.testing.assert_array_equal(F.upsample_nearest2d(x, (2, 3)).data, np.kron(x, np.ones((1, 1, 2, 3))))
    np.testing.assert_array_equal(F.interpolate(x, scale_factor=2).data, np.kron(x, np.ones((1, 1, 2, 2))))


def test_bilinear_upsampling_keeps_constants_and_interpolates_pixel_centres():
    np.testing.assert_allclose(F.upsample_bilinear2d(np.full((1, 1, 3, 3), 0.7), 4).data, 0.7)
    row = np.array([[[[0.0, 4.0]]]])
    # output pixel centres at (i + ½)/2 − ½ = −¼ (clamped to 0), ¼, ¾, 5/4 (clamped to the last pixel)
    np.testing.assert_allclose(F.upsample_bilinear2d(row, (1, 2)).data[0, 0, 0], [0, 1, 3, 4])


def test_avg_pool2d_is_the_mean_of_each_window():
    x = rand(1, 2, 3, 6, 6)
    expected = x.reshape(2, 3, 3, 2, 3, 2).mean(axis=(3, 5))
    np.testing.assert_allclose(F.avg_pool2d(x, 2).data, expected, rtol=1e-14)


def test_pad_follows_the_last_dimension_first_convention():
    y = F.pad(np.ones((1, 2, 3)), (1, 2, 3, 0)).data
    assert y.shape == (1, 5, 6)
    assert y[0, 3:, 1:4].sum() == 6 and y.sum() == 6


# errors ---------------------------------------------------------------------------------------------
def test_groups_other_than_one_are_rejected():
    x, w = np.ones((1, 2, 4, 4)), np.ones((2, 1, 3, 3))
    with pytest.raises(ValueError, match="groups=2 is not supported"):
        F.conv_transpose2d(x, w, groups=2)
    with pytest.raises(ValueError, match="groups=2 is not supported"):
        F.conv2d(x, w, groups=2)


def test_conv2d_channel_mismatch_names_the_shapes():
    with pytest.raises(ValueError, match=r"input has 4 channels, weight expects 3.*\(1, 4, 5, 5\).*\(2, 3, 3, 3\)"):
        F.conv2d(np.ones((1, 4, 5, 5)), np.ones((2, 3, 3, 3)))


def test_loss_argument_errors():
    a = np.ones((2, 3))
    with pytest.raises(ValueError, match=r"target has shape \(3,\), the prediction has shape \(2, 3\)"):
        F.mse_loss(a, np.ones(3))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.l1_loss(a, a, reduction="avg")
    with pytest.raises(ValueError, match="mask selects no element"):
        F.mse_loss(a, a, mask=np.zeros((2, 3), dtype=bool))
    with pytest.raises(ValueError, match=r"mask of shape \(4,\) does not broadcast"):
        F.mse_loss(a, a, mask=np.ones(4))
    with pytest.raises(ValueError, match="probabilities in"):
        F.binary_cross_entropy(a * 2, a)


def test_upsampling_argument_errors():
    x = np.ones((1, 1, 2, 2))
    with pytest.raises(ValueError, match="positive integer"):
        F.upsample_nearest2d(x, 1.5)
    with pytest.raises(ValueError, match="4-D"):
        F.upsample_bilinear2d(np.ones((2, 2)), 2)
    with pytest.raises(ValueError, match="align_corners=True is not supported"):
        F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
    with pytest.raises(ValueError, match="mode 'bicubic'"):
        F.interpolate(x, scale_factor=2, mode="bicubic")


@pytest.mark.parametrize("slope", [0.0, 0.01, 0.2, 1.0, -0.5, 2.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_leaky_relu_is_the_literal_formula_bit_for_bit(slope, dtype):
    """y = x if x > 0 else a·x and ∂y/∂x = 1 or a, exactly, whichever way the implementation computes them."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 4, 5)).astype(dtype)
    x[0, 0, :3] = [0.0, -0.0, 1e-30]
    g = rng.standard_normal(x.shape).astype(dtype)
    t = Tensor(x, requires_grad=True)
    y = F.leaky_relu(t, slope)
    y.backward(g)
    assert y.data.dtype == dtype and t.grad.dtype == dtype
    assert np.array_equal(y.data, np.where(x > 0, x, x * slope))
    assert np.array_equal(t.grad, np.where(x > 0, g, g * slope))
