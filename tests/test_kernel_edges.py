"""Edge cases of the kernels' contract: empty batches, zero-size weights, strides far larger than the input."""
import numpy as np
import pytest

from deconvlab.kernels import fast, readable

IMPLS = [fast, readable]


@pytest.mark.parametrize("impl", IMPLS, ids=["fast", "readable"])
def test_empty_batch_gives_empty_outputs_and_zero_weight_gradients(impl):
    x = np.zeros((0, 2, 5, 5))
    w = np.ones((3, 2, 3, 3))
    y = impl.conv2d_forward(x, w, np.ones(3), stride=2)
    assert y.shape == (0, 3, 2, 2)
    gx, gw, gb = impl.conv2d_backward(y, x, w, stride=2)
    assert gx.shape == x.shape and np.array_equal(gw, np.zeros_like(w)) and np.array_equal(gb, np.zeros(3))
    wt = np.ones((2, 3, 3, 3))
    z = impl.conv_transpose2d_forward(x, wt, stride=2, output_padding=1)
    assert z.shape == (0, 3, 12, 12)
    gx, gw, _ = impl.conv_transpose2d_backward(z, x, wt, stride=2, output_padding=1)
    assert gx.shape == x.shape and np.array_equal(gw, np.zeros_like(wt))


@pytest.mark.parametrize("impl", IMPLS, ids=["fast", "readable"])
@pytest.mark.parametrize("shape", [(3, 2, 0, 3), (0, 2, 3, 3)])
def test_zero_size_weight_is_a_value_error_naming_its_shape(impl, shape):
    x = np.zeros((1, 2, 5, 5))
    with pytest.raises(ValueError, match=r"zero-size axis .*" + str(shape).replace("(", r"\(").replace(")", r"\)")):
        impl.conv2d_forward(x, np.zeros(shape))


def test_huge_stride_stores_only_the_phases_the_taps_read():
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    w = np.full((1, 1, 2, 2), 2.0)
    y = fast.conv2d_forward(x, w, stride=10**6)
    assert y.shape == (1, 1, 1, 1) and y[0, 0, 0, 0] == 2.0 * (0 + 1 + 3 + 4)
    gx, gw, _ = fast.conv2d_backward(np.ones_like(y), x, w, stride=10**6)
    expected = np.zeros_like(x)
    expected[0, 0, :2, :2] = 2.0
    assert np.array_equal(gx, expected) and np.array_equal(gw, x[:, :, :2, :2])


@pytest.mark.parametrize("padding, dilation, flipped", [((1, 0), (1, 1), True), ((2, 1), (2, 1), True),
                                                        ((0, 0), (1, 2), True), ((3, 1), (1, 1), False)])
def test_a_correlation_to_fewer_channels_is_computed_as_the_flipped_scatter_with_the_same_numbers(
        monkeypatch, padding, dilation, flipped):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 6, 9, 11))
    w = rng.standard_normal((2, 6, 3, 2))
    b = rng.standard_normal(2)
    scatters = []
    scatter = fast._im2col_scatter
    monkeypatch.setattr(fast, "_im2col_scatter", lambda *a: (scatters.append(a[2]), scatter(*a))[1])
    y = fast.conv2d_forward(x, w, b, padding=padding, dilation=dilation)
    assert bool(scatters) == flipped  # padding 3 > d(k - 1) = 2: the flipped padding would be negative
    np.testing.assert_allclose(y, readable.conv2d_forward(x, w, b, padding=padding, dilation=dilation),
                               rtol=0, atol=1e-12)
