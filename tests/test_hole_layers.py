"""The layers for real holes: gated and partial convolutions, the resize-convolution kernel and HoleNet —
literal loops, float64 gradient checks (max relative error printed), PyTorch parity, determinism."""
import numpy as np
import pytest

from deconvlab import functional as F
from deconvlab import inpainting, models, nn, no_grad
from deconvlab.autograd import Tensor
from deconvlab.gradcheck import gradcheck, gradcheck_direction


def _gated(x, w, b, slope=0.2):
    """O = φ(W_f ∗ I + b_f) ⊙ σ(W_g ∗ I + b_g) written out with NumPy, W = [W_f; W_g]."""
    both = F.conv2d(Tensor(x), Tensor(w), Tensor(b), 1, 1, 1).data
    c = w.shape[0] // 2
    a, g = both[:, :c], both[:, c:]
    return np.where(a > 0, a, slope * a) / (1 + np.exp(-g))


def test_gated_conv_is_the_feature_times_the_sigmoid_gate():
    layer = nn.GatedConv2d(3, 4, 3, padding=1, dtype=np.float64, rng=0)
    x = np.random.default_rng(1).standard_normal((2, 3, 7, 6))
    y = layer(Tensor(x)).data
    assert y.shape == (2, 4, 7, 6)
    np.testing.assert_allclose(y, _gated(x, layer.conv.weight.data, layer.conv.bias.data), rtol=1e-12, atol=1e-12)


def test_gated_conv_gradients_in_float64():
    layer = nn.GatedConv2d(2, 3, 3, stride=2, padding=1, dtype=np.float64, rng=2)
    x = Tensor(np.random.default_rng(3).standard_normal((2, 2, 6, 5)), requires_grad=True)
    result = gradcheck_direction(layer, [x], n_directions=6, seed=4)
    print(result)
    assert result.passed


def test_gated_conv_matches_pytorch():
    torch = pytest.importorskip("torch")
    layer = nn.GatedConv2d(3, 5, 3, stride=1, padding=2, dilation=2, dtype=np.float64, rng=5)
    x = np.random.default_rng(6).standard_normal((2, 3, 9, 8))
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(layer.conv.weight.data, requires_grad=True)
    bt = torch.tensor(layer.conv.bias.data, requires_grad=True)
    both = torch.nn.functional.conv2d(xt, wt, bt, padding=2, dilation=2)
    ref = torch.nn.functional.leaky_relu(both[:, :5], 0.2) * torch.sigmoid(both[:, 5:])
    ref.sum().backward()
    xi = Tensor(x, requires_grad=True)
    out = layer(xi)
    out.sum().backward()
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(xi.grad, xt.grad.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(layer.conv.weight.grad, wt.grad.numpy(), rtol=0, atol=1e-10)


def _partial_loops(x, valid, w, b, s, p):
    """Liu et al.'s partial convolution, one output element at a time (the literal formula)."""
    n_batch, c_in, h, wd = x.shape
    c_out, _, kh, kw = w.shape
    ho, wo = (h + 2 * p - kh) // s + 1, (wd + 2 * p - kw) // s + 1
    y, m_new = np.zeros((n_batch, c_out, ho, wo)), np.zeros((n_batch, 1, ho, wo))
    for n in range(n_batch):
        for i in range(ho):
            for j in range(wo):
                total = np.zeros(c_out)
                count = 0.0
                for u in range(kh):
                    for v in range(kw):
                        r, c = i * s - p + u, j * s - p + v
                        if 0 <= r < h and 0 <= c < wd and valid[n, 0, r, c]:
                            count += 1
                            total += w[:, :, u, v] @ x[n, :, r, c]
                if count > 0:
                    y[n, :, i, j] = total * (kh * kw) / count + b
                    m_new[n, 0, i, j] = 1
    return y, m_new


@pytest.mark.parametrize("stride, padding", [(1, 1), (2, 1), (1, 0)])
def test_partial_conv_equals_its_formula_element_by_element(stride, padding):
    rng = np.random.default_rng(stride * 10 + padding)
    layer = nn.PartialConv2d(3, 4, 3, stride=stride, padding=padding, dtype=np.float64, rng=7)
    x = rng.standard_normal((2, 3, 8, 7))
    valid = (rng.random((2, 1, 8, 7)) > 0.6).astype(np.float64)
    valid[0, 0, 2:7, 1:6] = 0  # a hole wider than the kernel: some windows see nothing
    y, m_new = layer(Tensor(x), valid)
    ref_y, ref_m = _partial_loops(x, valid, layer.weight.data, layer.bias.data, stride, padding)
    np.testing.assert_allclose(y.data, ref_y, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(m_new, ref_m)
    assert (ref_m == 0).any() and (ref_m == 1).any()


def test_partial_conv_gradients_in_float64_and_the_hole_shrinks_layer_by_layer():
    rng = np.random.default_rng(8)
    layer = nn.PartialConv2d(2, 3, 3, padding=1, dtype=np.float64, rng=9)
    valid = (rng.random((1, 1, 6, 6)) > 0.5).astype(np.float64)
    x = rng.standard_normal((1, 2, 6, 6))
    result = gradcheck(lambda a: F.sum(layer(a, valid)[0] ** 2), x)  # every element of the input
    print(result)
    assert result.passed
    result = gradcheck_direction(_Loss(layer, Tensor(x), valid), [], n_directions=6, seed=15)  # and the weights
    print(result)
    assert result.passed
    hole = np.ones((1, 1, 12, 12))
    hole[0, 0, 3:9, 3:9] = 0
    stack = nn.PartialConv2d(1, 1, 3, padding=1, dtype=np.float64, rng=0)
    sizes = []
    m = hole
    for _ in range(4):
        _, m = stack(Tensor(np.zeros((1, 1, 12, 12))), m)
        sizes.append(int((m == 0).sum()))
    assert sizes == [16, 4, 0, 0]  # a 6×6 hole loses one pixel a side per 3×3 layer


def test_partial_conv_refuses_a_mask_of_the_wrong_shape():
    layer = nn.PartialConv2d(2, 2, 3, padding=1, rng=0)
    with pytest.raises(ValueError, match=r"PartialConv2d: expected valid \(N, 1, H, W\)"):
        layer(Tensor(np.zeros((1, 2, 5, 5), np.float32)), np.ones((1, 2, 5, 5)))


def test_the_resize_conv_kernel_makes_the_transposed_conv_upsample_then_convolve():
    """Design identity 13: nearest 2× upsampling then a 3×3 convolution (padding 1) is a k4 s2 p1 transposed
    convolution whose kernel is the flipped 3×3 kernel convolved with a 2×2 box."""
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 3, 5, 6))
    v = rng.standard_normal((4, 3, 3, 3))
    ref = F.conv2d(F.upsample_nearest2d(Tensor(x), 2), Tensor(v), None, 1, 1, 1).data
    y = F.conv_transpose2d(Tensor(x), Tensor(models.resize_conv_kernel(v)), None, 2, 1).data
    np.testing.assert_allclose(y, ref, rtol=0, atol=1e-12)
    w = models.resize_conv_kernel(v)
    assert w.shape == (3, 4, 4, 4)
    assert w[0, 0, 0, 0] == v[0, 0, 2, 2] and w[0, 0, 1, 1] == v[0, 0, 2, 2] + v[0, 0, 1, 2] + v[0, 0, 2, 1] + v[0, 0, 1, 1]


def test_holenet_starts_at_its_fill_counts_its_parameters_and_is_deterministic():
    net = models.HoleNet(4, rng=0)
    rng = np.random.default_rng(11)
    x = rng.random((2, 3, 32, 40)).astype(np.float32)
    m = np.zeros((2, 1, 32, 40), np.float32)
    m[:, :, 8:24, 10:30] = 1
    with no_grad():
        y = net(x, m).data
    np.testing.assert_array_equal(y, models.harmonic_start(x, m) * m + x * (1 - m))
    assert sum(p.data.size for p in net.parameters()) == models.parameter_count("holenet", 4)
    gated = models.build("holenet-gated", width=4, seed=0)
    assert gated.gated and isinstance(gated.enc2, nn.GatedConv2d) and isinstance(gated.dec2, nn.ConvTranspose2d)
    assert sum(p.data.size for p in gated.parameters()) == models.parameter_count("holenet-gated", 4)
    again = models.HoleNet(4, rng=0)
    assert all(np.array_equal(a.data, b.data) for a, b in zip(net.parameters(), again.parameters()))
    assert models.build("holenet", width=4, seed=0).dilations == (2, 4)
    with pytest.raises(ValueError, match="HoleNet: height and width must be multiples of 8"):
        net(x[:, :, :30], m[:, :, :30])
    assert not inpainting.margin_of(net) < net.receptive_radius


def test_holenet_gradients_in_float64():
    net = models.HoleNet(2, dtype=np.float64, rng=12)
    rng = np.random.default_rng(13)
    net.out.weight.data[...] = rng.standard_normal(net.out.weight.shape) * 0.1  # a correction to check
    x = rng.random((1, 3, 16, 16))
    m = np.zeros((1, 1, 16, 16))
    m[:, :, 4:12, 5:11] = 1
    result = gradcheck_direction(_Loss(net, x, m), [], n_directions=4, seed=14)
    print(result)
    assert result.passed


class _Loss(nn.Module):
    """Σ y² of a layer's or network's first output on fixed inputs, as a module of its parameters (for
    gradcheck_direction)."""

    def __init__(self, net, x, m):
        super().__init__()
        self.net, self.x, self.m = net, x, m

    def forward(self):
        y = self.net(self.x, self.m)
        return F.sum((y[0] if isinstance(y, tuple) else y) ** 2)


def _tv_loops(x, m=None):
    """Total variation, one difference at a time: the mean of |neighbour differences|, each weighted by the
    larger mask value of its two pixels."""
    num = den = 0.0
    n_batch, c, h, w = x.shape
    for n in range(n_batch):
        for k in range(c):
            for i in range(h):
                for j in range(w):
                    for di, dj in ((1, 0), (0, 1)):
                        if i + di < h and j + dj < w:
                            weight = 1.0 if m is None else max(m[n, 0, i, j], m[n, 0, i + di, j + dj])
                            num += weight * abs(x[n, k, i + di, j + dj] - x[n, k, i, j])
                            den += weight
    return num / den if den else 0.0


def test_total_variation_equals_its_formula_and_its_gradient_checks():
    rng = np.random.default_rng(16)
    x = rng.standard_normal((2, 3, 5, 6))
    m = np.zeros((2, 1, 5, 6))
    m[0, 0, 1:3, 2:5] = 1
    assert F.total_variation(Tensor(x)).item() == pytest.approx(_tv_loops(x), rel=1e-12)
    assert F.total_variation(Tensor(x), mask=m).item() == pytest.approx(_tv_loops(x, m), rel=1e-12)
    assert F.total_variation(Tensor(x), mask=np.zeros_like(m)).item() == 0.0
    assert F.total_variation(Tensor(np.full((1, 1, 4, 4), 0.3))).item() == 0.0
    result = gradcheck(lambda a: F.total_variation(a, mask=m), x)
    print(result)
    assert result.passed


def test_the_critic_losses_are_the_logistic_losses_of_the_gan_game():
    from deconvlab import adversarial

    rng = np.random.default_rng(17)
    real, fake = rng.standard_normal((2, 1, 3, 3)), rng.standard_normal((2, 1, 3, 3))
    softplus = lambda z: np.log1p(np.exp(z))  # ℓ(z, 1) = softplus(−z), ℓ(z, 0) = softplus(z)
    expected = softplus(-real).mean() + softplus(fake).mean()
    assert adversarial.critic_loss(Tensor(real), Tensor(fake)).item() == pytest.approx(expected, rel=1e-12)
    assert adversarial.generator_loss(Tensor(fake)).item() == pytest.approx(softplus(-fake).mean(), rel=1e-12)
    critic = adversarial.PatchCritic(4, dtype=np.float64, rng=0)
    logits = critic(rng.random((2, 3, 32, 24)), np.zeros((2, 1, 32, 24)))
    assert logits.shape == (2, 1, 4, 3)
    x = Tensor(rng.random((1, 3, 16, 16)), requires_grad=True)
    result = gradcheck_direction(_Loss(critic, x, np.zeros((1, 1, 16, 16))), [], n_directions=4, seed=18)
    print(result)
    assert result.passed


def test_the_critic_learns_to_tell_photos_from_flat_fills():
    """A few steps of the critic's loss on smooth photos against the same photos with a flat grey hole: the loss
    falls, so its gradient points the right way (the training option relies on it)."""
    from deconvlab import adversarial, optim

    rng = np.random.default_rng(19)
    yy, xx = np.mgrid[0:32, 0:32] / 32
    real = np.stack([np.stack([0.5 + 0.4 * np.sin(9 * yy + 7 * xx + k + c) for c in range(3)]) for k in range(4)])
    m = np.zeros((4, 1, 32, 32))
    m[:, :, 8:24, 8:24] = 1
    fake = real * (1 - m) + 0.5 * m
    critic = adversarial.PatchCritic(4, dtype=np.float64, rng=1)
    opt = optim.Adam(list(critic.parameters()), lr=1e-2, betas=(0.5, 0.999))
    losses = []
    for _ in range(30):
        loss = adversarial.critic_loss(critic(real, m), critic(fake, m))
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.5 * losses[0]
