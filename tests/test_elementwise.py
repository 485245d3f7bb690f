"""The activations' compiled loops (deconvlab.kernels.elementwise) against their NumPy expressions, bit for bit."""
import numpy as np
import pytest

from deconvlab import functional as F
from deconvlab.autograd import Tensor
from deconvlab.kernels import elementwise


def _inputs(n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n).astype(dtype)
    x[:6] = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e-30]
    g = rng.standard_normal(n).astype(dtype)
    return x, g


@pytest.mark.parametrize("n", [1, 1000, 100_003])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("slope", [0.0, 0.2, 1.0, -0.5, 2.0])
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_leaky_relu_loops_are_the_numpy_expressions(n, dtype, slope):
    x, g = _inputs(max(n, 6), dtype)
    x, g = x[:n].copy(), g[:n].copy()
    y = elementwise.leaky_relu(x, slope)
    gx = elementwise.leaky_relu_grad(x, g, slope)
    assert y.dtype == gx.dtype == dtype
    np.testing.assert_array_equal(y, np.where(x > 0, x, x * dtype(slope)))
    expected = np.where(x > 0, g, g * dtype(slope))
    expected[np.isnan(x)] = np.nan
    np.testing.assert_array_equal(gx, expected)  # NaN where x is NaN, bits elsewhere
    assert np.array_equal(np.signbit(y), np.signbit(np.where(x > 0, x, x * dtype(slope))))


def test_accepts_only_contiguous_float_arrays_of_one_shape():
    a = np.zeros((4, 6), np.float32)
    assert elementwise.accepts(a) and elementwise.accepts(a, a.copy())
    assert not elementwise.accepts(a[:, ::2])
    assert not elementwise.accepts(a.astype(np.int64))
    assert not elementwise.accepts(a, a.astype(np.float64))
    assert not elementwise.accepts(a, np.zeros((6, 4), np.float32))


def test_leaky_relu_takes_the_literal_form_for_views():
    """A non-contiguous input and gradient (a slice of a concatenation) give the same numbers as a copy."""
    x, g = _inputs(2 * 3 * 8 * 8, np.float64, seed=5)
    x, g = x.reshape(2, 3, 8, 8), g.reshape(2, 3, 8, 8)
    view = Tensor(x[:, :, :, ::2], requires_grad=True)
    copy = Tensor(np.ascontiguousarray(x[:, :, :, ::2]), requires_grad=True)
    for t in (view, copy):
        F.leaky_relu(t, 0.1).backward(np.ascontiguousarray(g[:, :, :, ::2]))
    np.testing.assert_array_equal(view.grad, copy.grad)


def test_a_strided_gradient_takes_the_compiled_pass_with_the_same_numbers(monkeypatch):
    """The gradient of a skip connection arrives as a slice of ``concatenate``'s gradient: it is copied and
    given to the compiled loop, and the numbers are the literal expression's."""
    x, _ = _inputs(2 * 3 * 16 * 8, np.float32, seed=7)
    x = Tensor(x.reshape(2, 3, 16, 8), requires_grad=True)
    joined = np.random.default_rng(8).standard_normal((2, 5, 16, 8)).astype(np.float32)
    strided = joined[:, 2:]  # the second input's part of a concatenation's gradient
    assert not strided.flags.c_contiguous and strided.shape == x.shape
    calls = []
    compiled = elementwise.leaky_relu_grad
    monkeypatch.setattr(elementwise, "leaky_relu_grad", lambda *a: calls.append(a) or compiled(*a))
    F.leaky_relu(x, 0.2).backward(strided)
    assert len(calls) == 1
    expected = np.where(x.data > 0, strided, strided * np.float32(0.2))
    expected[np.isnan(x.data)] = np.nan
    np.testing.assert_array_equal(x.grad, expected)
