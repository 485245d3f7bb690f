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


def _dft_loops(x):
    """The unitary 2-D DFT of x (H, W), the half spectrum l = 0 … ⌊W/2⌋, one coefficient at a time."""
    h, w = x.shape
    y = np.zeros((h, w // 2 + 1), complex)
    for k in range(h):
        for l in range(w // 2 + 1):
            for i in range(h):
                for j in range(w):
                    y[k, l] += x[i, j] * np.exp(-2j * np.pi * (k * i / h + l * j / w))
    return y / np.sqrt(h * w)


@pytest.mark.parametrize("w", [6, 7])
def test_rfft2_is_the_unitary_dft_as_real_channels_and_irfft2_inverts_it(w):
    rng = np.random.default_rng(30)
    x = rng.standard_normal((2, 3, 5, w))
    y = F.rfft2(x).data
    assert y.shape == (2, 6, 5, w // 2 + 1)
    for n in range(2):
        for c in range(3):
            ref = _dft_loops(x[n, c])
            np.testing.assert_allclose(y[n, c], ref.real, rtol=0, atol=1e-12)
            np.testing.assert_allclose(y[n, 3 + c], ref.imag, rtol=0, atol=1e-12)
    np.testing.assert_allclose(F.irfft2(y, (5, w)).data, x, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match=r"irfft2: expected \(N, 2C, 5, 4\) for size \(5, 7\)"):
        F.irfft2(y[:, :, :, :3], (5, 7)) if w == 6 else F.irfft2(y[:, :5], (5, 7))


@pytest.mark.parametrize("w", [6, 7])
def test_the_fourier_transforms_gradients_in_float64(w):
    rng = np.random.default_rng(31)
    weights = rng.standard_normal((2, 4, 5, w // 2 + 1))  # Σ weights·y: every output counts, differently
    forward = gradcheck(lambda t: F.sum(F.rfft2(t) * Tensor(weights)), rng.standard_normal((2, 2, 5, w)))
    print(forward)
    image_weights = rng.standard_normal((2, 2, 5, w))
    inverse = gradcheck(lambda t: F.sum(F.irfft2(t, (5, w)) * Tensor(image_weights)),
                        rng.standard_normal((2, 4, 5, w // 2 + 1)))
    print(inverse)
    assert forward.passed and inverse.passed


def test_the_fourier_unit_matches_pytorch_and_starts_at_zero():
    torch = pytest.importorskip("torch")
    unit = nn.FourierUnit(3, dtype=np.float64, rng=7)
    x = np.random.default_rng(8).standard_normal((2, 3, 6, 9))
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(unit.conv.weight.data, requires_grad=True)
    spectrum = torch.fft.rfft2(xt, norm="ortho")
    z = torch.nn.functional.conv2d(torch.cat([spectrum.real, spectrum.imag], 1), wt, torch.tensor(unit.conv.bias.data))
    z = torch.nn.functional.leaky_relu(z, 0.2)
    ref = torch.fft.irfft2(torch.complex(z[:, :3], z[:, 3:]), s=(6, 9), norm="ortho")
    upstream = np.random.default_rng(9).standard_normal(ref.shape)
    (ref * torch.tensor(upstream)).sum().backward()
    xi = Tensor(x, requires_grad=True)
    out = unit(xi)
    F.sum(out * Tensor(upstream)).backward()
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(xi.grad, xt.grad.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(unit.conv.weight.grad, wt.grad.numpy(), rtol=0, atol=1e-10)
    assert not nn.FourierUnit(3, zero=True, dtype=np.float64, rng=7)(x).data.any()


def test_holenet_fourier_starts_as_holenet_and_its_gradients_check():
    plain, spectral = models.build("holenet", width=2, seed=0), models.build("holenet-fourier", width=2, seed=0)
    assert sum(p.data.size for p in spectral.parameters()) == models.parameter_count("holenet-fourier", 2)
    assert spectral.global_reach and not plain.global_reach
    rng = np.random.default_rng(32)
    x = rng.random((1, 3, 16, 24)).astype(np.float32)
    m = np.zeros((1, 1, 16, 24), np.float32)
    m[..., 4:12, 6:18] = 1
    with no_grad():
        np.testing.assert_array_equal(spectral(x, m).data, plain(x, m).data)
    net = models.HoleNet(2, dtype=np.float64, rng=12, spectral=True)
    net.out.weight.data[...] = rng.standard_normal(net.out.weight.shape) * 0.1
    net.fourier.conv.weight.data[...] = rng.standard_normal(net.fourier.conv.weight.shape) * 0.1
    result = gradcheck_direction(_Loss(net, x.astype(np.float64), m.astype(np.float64)), [], n_directions=3, seed=15)
    print(result)
    assert result.passed


def _attention_loops(x, keys, scale, eps=1e-4):
    """Contextual attention one position at a time: match every 3×3 patch against the normalised key patches,
    softmax over the keys, paste the key patches where they matched and average the overlaps (÷ 9)."""
    n_batch, c, h, w = x.shape
    y = np.zeros_like(x)
    for n in range(n_batch):
        padded = np.pad(x[n], ((0, 0), (1, 1), (1, 1)))
        patch = lambda i, j: padded[:, i:i + 3, j:j + 3]  # the 3×3 patch around (i, j)
        key_list = [patch(i, j) for i in range(h) for j in range(w) if keys[n, 0, i, j]]
        if not key_list:
            continue
        attention = np.zeros((len(key_list), h, w))
        for i in range(h):
            for j in range(w):
                s = [scale * np.sum(k * patch(i, j)) / np.sqrt(np.sum(k * k) + eps * eps) for k in key_list]
                e = np.exp(np.array(s) - max(s))
                attention[:, i, j] = e / e.sum()
        for i in range(h):
            for j in range(w):
                for u in range(3):
                    for v in range(3):
                        a, b = i + 1 - u, j + 1 - v  # the position whose pasted patch covers (i, j) with tap (u, v)
                        if 0 <= a < h and 0 <= b < w:
                            for q, k in enumerate(key_list):
                                y[n, :, i, j] += attention[q, a, b] * k[:, u, v] / 9
    return y


def test_contextual_attention_equals_its_formula_and_its_gradients_check():
    rng = np.random.default_rng(33)
    x = rng.standard_normal((2, 3, 5, 6))
    keys = rng.random((2, 1, 5, 6)) < 0.4
    keys[1] = False  # a sample with nothing to copy gets zeros
    y = F.contextual_attention(x, keys, scale=3.0).data
    np.testing.assert_allclose(y, _attention_loops(x, keys, 3.0), rtol=0, atol=1e-12)
    assert not y[1].any()
    weights = rng.standard_normal(x.shape)
    result = gradcheck(lambda t: F.sum(F.contextual_attention(t, keys, scale=3.0) * Tensor(weights)), x)
    print(result)
    assert result.passed
    # a patch that occurs among the keys is copied back nearly unchanged at a high λ
    sharp = F.contextual_attention(x[:1], np.ones((1, 1, 5, 6), bool), scale=1e4).data
    assert np.abs(sharp[0, :, 2, 2] - x[0, :, 2, 2]).max() < 1e-6
    rows, cols = F._key_positions(np.ones((4, 5), bool), 7)
    assert rows.size == 7 and (rows[0], cols[0]) == (0, 0) and (rows[-1], cols[-1]) == (3, 4)
    with pytest.raises(ValueError, match=r"keys must have shape \(2, 1, 5, 6\), got \(2, 5, 6\)"):
        F.contextual_attention(x, keys[:, 0])


def test_holenet_attention_starts_as_holenet_and_its_gradients_check():
    plain, attending = models.build("holenet", width=2, seed=0), models.build("holenet-attention", width=2, seed=0)
    assert sum(p.data.size for p in attending.parameters()) == models.parameter_count("holenet-attention", 2)
    rng = np.random.default_rng(34)
    x = rng.random((1, 3, 40, 48))
    m = np.zeros((1, 1, 40, 48))
    m[..., 12:28, 16:30] = 1
    holes, keys = models._block_masks(m)
    assert holes[0, 0].sum() == 2 * 3 and keys[0, 0].sum() == 5 * 6 - 4 * 5
    with no_grad():
        np.testing.assert_array_equal(attending(x.astype(np.float32), m.astype(np.float32)).data,
                                      plain(x.astype(np.float32), m.astype(np.float32)).data)
    net = models.HoleNet(2, dtype=np.float64, rng=12, attention=True)
    net.out.weight.data[...] = rng.standard_normal(net.out.weight.shape) * 0.1
    net.attend.weight.data[...] = rng.standard_normal(net.attend.weight.shape) * 0.1
    result = gradcheck_direction(_Loss(net, x, m), [], n_directions=3, seed=16)
    print(result)
    assert result.passed


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
    resized = models.build("holenet-resize", width=4, seed=0)
    assert resized.resize and type(resized.dec2) is nn.Conv2d and resized.dec2.weight.shape[2:] == (3, 3)
    assert sum(p.data.size for p in resized.parameters()) == models.parameter_count("holenet-resize", 4)
    with no_grad():
        np.testing.assert_array_equal(resized(x, m).data, y)  # it too starts at its fill
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


def test_holenet_partial_reads_no_missing_pixel_and_its_gradients_check():
    """With partial convolutions the correction the network adds in the hole does not depend on what the hole
    holds: two different starting fills get the same correction (a plain HoleNet's differs), the untrained
    network returns its start, and the gradients check in float64."""
    net = models.build("holenet-partial", width=4, dtype="float64", seed=3)
    assert net.partial and isinstance(net.enc2, nn.PartialConv2d) and isinstance(net.mid1, nn.PartialConv2d)
    assert sum(p.data.size for p in net.parameters()) == models.parameter_count("holenet-partial", 4)
    rng = np.random.default_rng(15)
    x = rng.random((2, 3, 32, 40))
    m = np.zeros((2, 1, 32, 40))
    m[:, :, 8:24, 10:30] = 1
    with no_grad():
        np.testing.assert_array_equal(net(x, m).data, models.harmonic_start(x, m) * m + x * (1 - m))
    plain = models.build("holenet", width=4, dtype="float64", seed=3)
    for model in (net, plain):
        model.out.weight.data[...] = rng.standard_normal(model.out.weight.shape) * 0.1
    f1, f2 = rng.random(x.shape), rng.random(x.shape)
    with no_grad():
        c1, c2 = net(x, m, f1).data - f1, net(x, m, f2).data - f2
        p1, p2 = plain(x, m, f1).data - f1, plain(x, m, f2).data - f2
    hole = np.broadcast_to(m > 0, x.shape)
    np.testing.assert_allclose(c1[hole], c2[hole], rtol=0, atol=1e-12)
    assert np.abs(p1[hole] - p2[hole]).max() > 1e-3
    small = models.build("holenet-partial", width=2, dtype="float64", seed=4)
    small.out.weight.data[...] = rng.standard_normal(small.out.weight.shape) * 0.1
    m16 = np.zeros((1, 1, 16, 16))
    m16[:, :, 4:12, 5:11] = 1
    result = gradcheck_direction(_Loss(small, rng.random((1, 3, 16, 16)), m16), [], n_directions=4, seed=16)
    print(result)
    assert result.passed
    with pytest.raises(ValueError, match="gated and partial convolutions are alternatives"):
        models.HoleNet(4, gated=True, partial=True)


def _contrast_loops(x, m, r):
    """visible_contrast one pixel at a time: the RMS Laplacian over the known, inside 5-point stencils in the box."""
    n_batch, c, h, w = x.shape
    out = np.zeros((n_batch, 1, h, w))
    for n in range(n_batch):
        lap2 = np.full((h, w), np.nan)
        for i in range(1, h - 1):
            for j in range(1, w - 1):
                if all(m[n, 0, a, b] == 0 for a, b in ((i, j), (i - 1, j), (i + 1, j), (i, j - 1), (i, j + 1))):
                    lap = x[n, :, i - 1, j] + x[n, :, i + 1, j] + x[n, :, i, j - 1] + x[n, :, i, j + 1] - 4 * x[n, :, i, j]
                    lap2[i, j] = np.mean(lap ** 2)
        for i in range(h):
            for j in range(w):
                box = lap2[max(0, i - r):i + r + 1, max(0, j - r):j + r + 1]
                box = box[~np.isnan(box)]
                out[n, 0, i, j] = np.sqrt(box.mean()) if box.size else 0.0
    return out


def test_visible_contrast_equals_its_formula_and_is_zero_on_affine_images():
    rng = np.random.default_rng(21)
    x = rng.random((2, 3, 13, 17))
    m = np.zeros((2, 1, 13, 17))
    m[0, :, 3:9, 4:12] = 1
    m[1, :, :, :9] = 1
    for r in (1, 3, 40):
        np.testing.assert_allclose(models.visible_contrast(x, m, radius=r), _contrast_loops(x, m, r), rtol=1e-12, atol=1e-15)
    i, j = np.mgrid[0:40, 0:48]
    affine = np.stack([0.2 + 0.01 * i, 0.9 - 0.005 * j, 0.3 + 0.004 * i + 0.007 * j])[None].astype(np.float32)
    hole = np.zeros((1, 1, 40, 48), np.float32)
    hole[..., 10:30, 12:36] = 1
    assert models.visible_contrast(affine, hole).max() < 1e-6  # float32 rounding only
    assert models.visible_contrast(x, np.ones((2, 1, 13, 17))).max() == 0  # nothing visible: nothing known


def test_the_contrast_gate_keeps_the_harmonic_fill_on_smooth_images_and_acts_on_texture():
    rng = np.random.default_rng(22)
    net = models.HoleNet(4, dtype=np.float64, rng=0, contrast=0.05)
    net.out.weight.data[...] = rng.standard_normal(net.out.weight.shape)  # a large correction
    i, j = np.mgrid[0:64, 0:64]
    ramp = np.stack([0.2 + 0.01 * i, 0.5 + 0.0 * j, 0.8 - 0.006 * j])[None]
    m = np.zeros((1, 1, 64, 64))
    m[..., 16:48, 20:44] = 1
    start = models.harmonic_start(ramp, m)
    with no_grad():
        np.testing.assert_allclose(net(ramp, m).data, start * m + ramp * (1 - m), atol=1e-9)
        texture = rng.random((1, 3, 64, 64))
        moved = net(texture, m).data - (models.harmonic_start(texture, m) * m + texture * (1 - m))
    assert np.abs(moved).max() > 0.01  # a photo's texture lets the correction through
    assert net.receptive_radius == max(71, models.CONTRAST_RADIUS + 1)
    with pytest.raises(ValueError, match="contrast must be a finite number >= 0, got -1"):
        models.HoleNet(4, contrast=-1)


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
