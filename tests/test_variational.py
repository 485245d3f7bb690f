"""The variational pieces: the reparameterisation trick and the Gaussian KL divergence."""
import numpy as np
import pytest

from deconvlab import functional as F
from deconvlab.autograd import Tensor
from deconvlab.gradcheck import gradcheck


def test_reparameterize_is_mu_plus_sigma_times_the_seeded_noise():
    rng = np.random.default_rng(40)
    mu, logvar = rng.standard_normal((2, 4, 3, 3)), rng.standard_normal((2, 4, 3, 3))
    eps = np.random.default_rng(7).standard_normal(mu.shape)
    z = F.reparameterize(mu, logvar, rng=7).data
    np.testing.assert_allclose(z, mu + np.exp(0.5 * logvar) * eps, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(F.reparameterize(mu, logvar, rng=7).data, z)  # a fixed seed, the same sample
    assert not np.array_equal(F.reparameterize(mu, logvar, rng=8).data, z)
    np.testing.assert_array_equal(F.reparameterize(mu, logvar, noise=eps).data, z)
    with pytest.raises(ValueError, match=r"noise has shape \(3,\), mu \(2, 4, 3, 3\)"):
        F.reparameterize(mu, logvar, noise=np.zeros(3))


def test_reparameterize_gradients_in_float64_with_the_noise_held_fixed():
    rng = np.random.default_rng(41)
    mu, logvar, w = rng.standard_normal((3, 5)), rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    eps = rng.standard_normal((3, 5))
    result = gradcheck(lambda m, v: F.sum(F.reparameterize(m, v, noise=eps) * Tensor(w)), mu, logvar)
    print(result)
    assert result.passed
    m, v = Tensor(mu, requires_grad=True), Tensor(logvar, requires_grad=True)
    F.sum(F.reparameterize(m, v, noise=eps)).backward()
    np.testing.assert_allclose(m.grad, np.ones_like(mu))
    np.testing.assert_allclose(v.grad, 0.5 * np.exp(0.5 * logvar) * eps, rtol=1e-14)


def _kl_loops(mu, logvar, prior_mu, prior_logvar):
    total = 0.0
    for a, b, c, d in zip(mu.ravel(), logvar.ravel(), prior_mu.ravel(), prior_logvar.ravel()):
        total += 0.5 * (d - b + (np.exp(b) + (a - c) ** 2) / np.exp(d) - 1)
    return total


def test_the_gaussian_kl_equals_its_closed_form_and_its_gradients_check():
    rng = np.random.default_rng(42)
    mu, logvar, p_mu, p_logvar = (rng.standard_normal((2, 3, 4)) for _ in range(4))
    zero = np.zeros_like(mu)
    assert F.gaussian_kl(mu, logvar).data == pytest.approx(_kl_loops(mu, logvar, zero, zero), rel=1e-13)
    assert F.gaussian_kl(mu, logvar).data == pytest.approx(0.5 * np.sum(mu ** 2 + np.exp(logvar) - logvar - 1), rel=1e-13)
    assert F.gaussian_kl(mu, logvar, p_mu, p_logvar).data == pytest.approx(_kl_loops(mu, logvar, p_mu, p_logvar), rel=1e-13)
    assert F.gaussian_kl(mu, logvar, reduction="mean").data == pytest.approx(F.gaussian_kl(mu, logvar).data / mu.size)
    assert F.gaussian_kl(zero, zero).data == 0.0  # a distribution does not diverge from itself
    result = gradcheck(lambda a, b, c, d: F.gaussian_kl(a, b, c, d), mu, logvar, p_mu, p_logvar)
    print(result)
    assert result.passed
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.gaussian_kl(mu, logvar, reduction="batch")


def test_the_gaussian_kl_equals_a_monte_carlo_estimate_within_its_standard_error():
    """KL(q‖p) = E_q[log q(z) − log p(z)]: the sample mean over 200 000 draws of z ~ q (through reparameterize)
    lands within four standard errors of the closed form, for the N(0, I) prior and a general one."""
    rng = np.random.default_rng(43)
    mu, logvar = rng.standard_normal(3) * 0.7, rng.standard_normal(3) * 0.5
    p_mu, p_logvar = rng.standard_normal(3) * 0.5, rng.standard_normal(3) * 0.3
    log_normal = lambda z, m, v: -0.5 * (np.log(2 * np.pi) + v + (z - m) ** 2 / np.exp(v))
    n = 200_000
    z = F.reparameterize(np.broadcast_to(mu, (n, 3)), np.broadcast_to(logvar, (n, 3)), rng=44).data
    for prior in ((np.zeros(3), np.zeros(3)), (p_mu, p_logvar)):
        samples = np.sum(log_normal(z, mu, logvar) - log_normal(z, *prior), axis=1)
        estimate, error = samples.mean(), samples.std(ddof=1) / np.sqrt(n)
        exact = float(F.gaussian_kl(mu, logvar, *prior).data)
        print(f"closed form {exact:.5f}, Monte Carlo {estimate:.5f} ± {error:.5f}")
        assert abs(estimate - exact) < 4 * error


# ----------------------------------------------------------------------------------------- the inpainting VAE
import deconvlab  # noqa: E402
from deconvlab import inpainting, models, nn, no_grad  # noqa: E402
from deconvlab.gradcheck import gradcheck_direction  # noqa: E402


def _vae(width=4, seed=0, dtype=np.float32):
    """An InpaintVAE whose zero-started heads are drawn at random, so its samples differ."""
    net = models.InpaintVAE(width, dtype=dtype, rng=seed)
    draw = np.random.default_rng(seed)
    for layer in (net.out, net.inject, net.prior_head, net.post_head):
        layer.weight.data[...] = (draw.standard_normal(layer.weight.shape) * 0.1).astype(dtype)
    return net


def test_the_untrained_vae_returns_its_start_and_has_no_divergence():
    net = models.InpaintVAE(4, rng=0)
    rng = np.random.default_rng(50)
    x = rng.random((2, 3, 32, 40)).astype(np.float32)
    m = np.zeros((2, 1, 32, 40), np.float32)
    m[..., 8:24, 10:30] = 1
    with no_grad():
        y, kl = net.elbo_terms(x, m, np.random.default_rng(1))
        np.testing.assert_array_equal(net(x, m, noise=rng.standard_normal((2, 8, 4, 5))).data,
                                      models.harmonic_start(x, m) * m + x * (1 - m))
    assert kl.shape == (2, 8, 4, 5) and not kl.data.any()
    assert sum(p.data.size for p in net.parameters()) == models.parameter_count("vae", 4)
    with pytest.raises(ValueError, match=r"noise must have shape \(2, 8, 4, 5\)"):
        net(x, m, noise=np.zeros((2, 8, 4, 4)))


def test_the_vae_elbo_gradients_in_float64_with_the_noise_seeded():
    net = _vae(2, seed=3, dtype=np.float64)
    rng = np.random.default_rng(51)
    x = rng.random((1, 3, 16, 16))
    m = np.zeros((1, 1, 16, 16))
    m[..., 4:12, 5:11] = 1

    class Elbo(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self):  # the same noise every call: a fixed seed
            y, kl = self.net.elbo_terms(x, m, np.random.default_rng(9))
            return F.mse_loss(y, x, mask=np.broadcast_to(m, x.shape)) + F.sum(kl) * 0.1

    result = gradcheck_direction(Elbo(), [], n_directions=4, seed=17)
    print(result)
    assert result.passed


def test_samples_are_seeded_differ_from_each_other_and_do_not_depend_on_the_tiles():
    net = _vae(4, seed=5)
    rng = np.random.default_rng(52)
    image = rng.random((120, 136, 3))
    hole = np.zeros((120, 136), bool)
    hole[40:90, 30:100] = True
    out = deconvlab.inpaint(image, hole, model=net, samples=3, seed=7)
    assert out.shape == (3, 120, 136, 3)
    np.testing.assert_array_equal(deconvlab.inpaint(image, hole, model=net, samples=3, seed=7), out)
    assert np.abs(out[0] - out[1])[hole].mean() > 1e-3  # different latent noise, different fills
    for k in range(3):
        np.testing.assert_array_equal(out[k][~hole], image[~hole])
    tiled = deconvlab.inpaint(image, hole, model=net, samples=3, seed=7, tile=inpainting.MIN_TILE)
    assert np.abs(tiled - out).max() <= 1e-5  # the noise belongs to the photo's blocks, not to a tile
    assert deconvlab.inpaint(image, np.zeros_like(hole), model=net, samples=2).shape == (2, 120, 136, 3)


def test_samples_need_a_network_that_samples_and_a_positive_count():
    image, hole = np.random.default_rng(53).random((40, 48, 3)), np.zeros((40, 48), bool)
    hole[10:20, 10:30] = True
    with pytest.raises(ValueError, match="samples needs a network that samples .*HoleNet"):
        deconvlab.inpaint(image, hole, model=models.HoleNet(4), samples=2)
    with pytest.raises(ValueError, match="samples must be a positive integer, got 0"):
        deconvlab.inpaint(image, hole, model=_vae(), samples=0)
    with pytest.raises(ValueError, match="samples and passes cannot be combined"):
        deconvlab.inpaint(image, hole, model=_vae(), samples=2, passes=4)


def test_the_bundled_vae_is_an_inpaint_vae_whose_samples_differ():
    vae = inpainting.load_pretrained("vae")
    assert isinstance(vae, models.InpaintVAE) and vae.latent == models.InpaintVAE.default_latent
    assert sum(p.data.size for p in vae.parameters()) == models.parameter_count("vae", vae.width)
    image = np.random.default_rng(54).random((64, 80, 3))
    hole = np.zeros((64, 80), bool)
    hole[20:44, 24:56] = True
    fills = deconvlab.inpaint(image, hole, model=vae, samples=2, seed=0)
    assert np.abs(fills[0] - fills[1])[hole].mean() > 1e-3
