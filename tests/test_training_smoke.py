"""End to end: a conv / transposed-conv autoencoder learns smooth random blobs with SGD + momentum and MSE."""
import time

import numpy as np
import pytest

import deconvlab.functional as F
from deconvlab import nn, optim
from deconvlab.autograd import no_grad


def smooth_blobs(n, size=16, seed=0):
    """n images (n, 1, size, size) in [0, 1]: each a sum of one to three Gaussian bumps."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    images = np.zeros((n, 1, size, size))
    for image in images:
        for _ in range(rng.integers(1, 4)):
            cy, cx = rng.uniform(2, size - 2, 2)
            width = rng.uniform(1.5, 4.0)
            image[0] += rng.uniform(0.3, 1.0) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * width**2))
    return np.clip(images, 0, 1).astype(np.float32)


def autoencoder(seed):
    """16x16 -> 8x8 -> 4x4 (strided convs), back to 16x16 (transposed convs, k4 s2 p1: no checkerboard)."""
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, stride=2, padding=1, rng=rng), nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1, rng=rng), nn.ReLU(),
        nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1, rng=rng), nn.ReLU(),
        nn.ConvTranspose2d(8, 1, 4, stride=2, padding=1, rng=rng),
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_autoencoder_lowers_its_loss_tenfold(seed):
    images = smooth_blobs(64, seed=seed)
    model = autoencoder(seed)
    opt = optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    with no_grad():
        initial = F.mse_loss(model(images), images).item()
    start = time.perf_counter()
    for step in range(200):
        batch = images[(step * 8) % 64:][:8]
        opt.zero_grad()
        F.mse_loss(model(batch), batch).backward()
        opt.step()
    seconds = time.perf_counter() - start
    with no_grad():
        final = F.mse_loss(model(images), images).item()
    constant = float(images.var())  # the loss of the best constant image
    print(f"MSE {initial:.4f} -> {final:.5f} ({initial / final:.0f}x lower; best constant {constant:.4f}) "
          f"in {seconds:.1f} s")
    assert final * 10 <= initial
    assert final * 3 <= constant  # it learned the blobs, not just their mean


def test_masked_loss_trains_only_on_the_hole():
    images = smooth_blobs(8, seed=3)
    hole = np.zeros((8, 1, 16, 16), dtype=bool)
    hole[:, :, 4:12, 4:12] = True
    model = autoencoder(3)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    opt = optim.SGD(model.parameters(), lr=0.1)
    opt.zero_grad()
    pred = model(images)
    F.mse_loss(pred, images, mask=hole).backward()
    assert model[0].weight.grad is not None and np.abs(model[0].weight.grad).max() > 0
    opt.step()
    assert any(not np.array_equal(before[k], v) for k, v in model.state_dict().items())
    opt.zero_grad()
    F.mse_loss(model(images), images, mask=hole, reduction="none").sum().backward()
    g = model[-1].bias.grad
    assert g is not None and g.shape == (1,)
