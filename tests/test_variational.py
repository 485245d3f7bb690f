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
