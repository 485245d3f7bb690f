"""The inpainting networks: the article's network and why it cannot inpaint, its corrected twin, InpaintNet."""
import numpy as np
import pytest

from deconvlab import no_grad
from deconvlab.baselines import harmonic_fill
from deconvlab.models import InpaintNet, SeedNet, SeedNetFixed, harmonic_start, known_mean


def test_seednet_reproduces_the_article_shapes_and_why_it_cannot_inpaint():
    """The article's Keras network on CIFAR-10's 32x32 images:

        Conv2D(64, (3, 3), padding='valid')  ->  32 - 3 + 1 = 30: features (N, 64, 30, 30)
        Conv2DTranspose(3, (3, 3), strides=2, padding='same')  ->  'same' means 30 * 2 = 60: output (N, 3, 60, 60)

    The output is 60x60 while the image it should restore is 32x32, so no per-pixel loss against the image
    can even be formed; and the article instead fits it with binary cross-entropy to the CIFAR-10 class labels
    (one number per image, not an image), which is not an inpainting objective at all. SeedNetFixed keeps
    the two layers but pads the convolution ('same', 32 -> 32) and uses stride 1, so output size = input size.
    """
    net = SeedNet(rng=0)
    x = np.random.default_rng(0).random((2, 3, 32, 32)).astype(np.float32)
    with no_grad():
        features = net.features(x)
        y = net(x)
    assert features.shape == (2, 64, 30, 30)
    assert y.shape == (2, 3, 60, 60)
    assert y.shape[2:] != x.shape[2:]
    assert np.all((y.data > 0) & (y.data < 1))  # sigmoid output, as the article's
    assert net.conv.weight.shape == (64, 3, 3, 3)
    assert net.deconv.weight.shape == (64, 3, 3, 3)  # ConvTranspose2d: (C_in, C_out, kH, kW)


@pytest.mark.parametrize("size", [(32, 32), (17, 23)])
def test_seednet_fixed_returns_the_input_size_and_keeps_known_pixels(size):
    net = SeedNetFixed(hidden=8, rng=1)
    rng = np.random.default_rng(1)
    x = rng.random((2, 3) + size).astype(np.float32)
    m = (rng.random((2, 1) + size) < 0.3).astype(np.float32)
    with no_grad():
        y = net(x, m).data
    assert y.shape == x.shape
    known = np.broadcast_to(m == 0, x.shape)
    assert np.array_equal(y[known], x[known])


def test_inpaintnet_parameter_shapes_follow_the_documented_widths():
    w = 4
    net = InpaintNet(w, rng=0)
    shapes = {k: v.shape for k, v in net.state_dict().items()}
    assert shapes == {
        "enc1.weight": (w, 4, 3, 3), "enc1.bias": (w,),
        "enc2.weight": (2 * w, w, 4, 4), "enc2.bias": (2 * w,),
        "enc3.weight": (4 * w, 2 * w, 4, 4), "enc3.bias": (4 * w,),
        "enc4.weight": (4 * w, 4 * w, 4, 4), "enc4.bias": (4 * w,),
        "mid.weight": (4 * w, 4 * w, 3, 3), "mid.bias": (4 * w,),
        "dec3.weight": (4 * w, 4 * w, 4, 4), "dec3.bias": (4 * w,),  # transposed: (C_in, C_out, kH, kW)
        "dec2.weight": (8 * w, 2 * w, 4, 4), "dec2.bias": (2 * w,),
        "dec1.weight": (4 * w, w, 4, 4), "dec1.bias": (w,),
        "out.weight": (3, 2 * w, 3, 3), "out.bias": (3,),
    }


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inpaintnet_keeps_known_pixels_exactly_and_keeps_the_size(dtype):
    net = InpaintNet(4, dtype=dtype, rng=2)
    rng = np.random.default_rng(2)
    x = rng.random((3, 3, 24, 40)).astype(dtype)
    m = (rng.random((3, 1, 24, 40)) < 0.4).astype(dtype)
    with no_grad():
        y = net(x, m).data
    assert y.shape == x.shape and y.dtype == dtype
    known = np.broadcast_to(m == 0, x.shape)
    assert np.array_equal(y[known], x[known])
    assert not np.allclose(y[~known], x[~known])  # the hole was filled with something new


def test_inpaintnet_refuses_sizes_off_its_grid_naming_them():
    net = InpaintNet(2, rng=0)
    with pytest.raises(ValueError, match="multiples of 8, got 20x16"):
        net(np.zeros((1, 3, 20, 16), np.float32), np.zeros((1, 1, 20, 16), np.float32))
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        net(np.zeros((1, 3, 16, 16), np.float32), np.zeros((1, 3, 16, 16), np.float32))


def test_known_mean_of_a_fully_missing_image_is_one_half():
    image = np.random.default_rng(0).random((2, 3, 8, 8))
    mask = np.zeros((2, 1, 8, 8))
    mask[1] = 1
    mean = known_mean(image, mask)
    assert np.allclose(mean[0, :, 0, 0], image[0].mean(axis=(1, 2)))
    assert np.array_equal(mean[1], np.full((3, 1, 1), 0.5))


def test_an_untrained_harmonic_start_network_returns_exactly_the_harmonic_fill():
    rng = np.random.default_rng(3)
    x = rng.random((2, 3, 16, 24))
    m = np.zeros((2, 1, 16, 24))
    m[0, 0, 4:12, 6:14] = 1
    m[1, 0, ::3, ::2] = 1
    net = InpaintNet(4, dtype=np.float64, rng=3, start="harmonic")
    with no_grad():
        y = net(x, m).data
    assert np.array_equal(y, harmonic_start(x, m))
    for n in range(2):  # the batch solve agrees with the per-image fill to the solver's accuracy
        expected = harmonic_fill(x[n].transpose(1, 2, 0), m[n, 0] > 0.5).transpose(2, 0, 1)
        np.testing.assert_allclose(y[n], expected, atol=1e-6)


def test_harmonic_start_of_an_image_without_known_pixels_is_one_half():
    x = np.random.default_rng(4).random((1, 3, 8, 8))
    assert np.array_equal(harmonic_start(x, np.ones((1, 1, 8, 8))), np.full((1, 3, 8, 8), 0.5))


def test_an_unknown_start_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="start must be one of \\['harmonic', 'mean'\\], got 'zero'"):
        InpaintNet(2, start="zero")


def test_predict_side_by_side_gives_the_numbers_of_one_batched_pass():
    from deconvlab import parallel
    from deconvlab.models import predict

    rng = np.random.default_rng(5)
    net = InpaintNet(width=4, rng=1)
    x = rng.random((3, 3, 24, 32)).astype(np.float32)
    m = (rng.random((3, 1, 24, 32)) < 0.3).astype(np.float32)
    parallel.set_num_threads(2)
    try:
        together = predict(net, x, m)
        side = predict(net, x, m, side_by_side=True)
    finally:
        parallel.set_num_threads(None)
    np.testing.assert_allclose(side, together, rtol=0, atol=1e-6)
    assert side.dtype == np.float32 and side.shape == x.shape
