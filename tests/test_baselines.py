"""Tests for deconvlab.baselines: mean fill by its formula, harmonic fill against a dense solve."""
import subprocess
import sys
import time

import numpy as np
import pytest

from deconvlab import baselines
from deconvlab.kernels import laplace


def _ramp(h=32, w=32):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    return np.stack([0.01 * yy + 0.02 * xx, 0.5 + 0.005 * xx - 0.003 * yy, 0.9 - 0.012 * yy], axis=-1)


def _centre_hole(h=32, w=32, size=16):
    mask = np.zeros((h, w), bool)
    top, left = (h - size) // 2, (w - size) // 2
    mask[top:top + size, left:left + size] = True
    return mask


def _irregular_mask(h, w, seed):
    mask = np.random.default_rng(seed).random((h, w)) < 0.45
    mask[0, 0] = False
    return mask


def test_mean_fill_puts_the_per_channel_mean_of_known_pixels_in_the_hole():
    rng = np.random.default_rng(0)
    image = rng.random((9, 7, 3)).astype(np.float32)
    mask = _irregular_mask(9, 7, seed=1)
    out = baselines.mean_fill(image, mask)
    for c in range(3):
        known = [image[i, j, c] for i in range(9) for j in range(7) if not mask[i, j]]
        np.testing.assert_allclose(out[mask, c], sum(np.float64(v) for v in known) / len(known), rtol=1e-6)
    np.testing.assert_array_equal(out[~mask], image[~mask])
    assert out.dtype == np.float32


def test_harmonic_fill_recovers_a_linear_ramp():
    ramp = _ramp()
    mask = _centre_hole()
    out = baselines.harmonic_fill(ramp, mask)
    assert np.abs(out - ramp).max() < 1e-6


def _dense_harmonic(image, mask):
    """Independent solve: for each hole pixel, u_p = mean of its in-image 4-neighbours; np.linalg.solve."""
    h, w = mask.shape
    holes = list(zip(*np.nonzero(mask)))
    index = {p: k for k, p in enumerate(holes)}
    a = np.zeros((len(holes), len(holes)))
    b = np.zeros(len(holes))
    for k, (i, j) in enumerate(holes):
        neighbours = [(i + di, j + dj) for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1))
                      if 0 <= i + di < h and 0 <= j + dj < w]
        a[k, k] = 1.0
        for q in neighbours:
            if q in index:
                a[k, index[q]] -= 1.0 / len(neighbours)
            else:
                b[k] += image[q] / len(neighbours)
    out = image.copy()
    out[mask] = np.linalg.solve(a, b)
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_harmonic_fill_equals_a_dense_direct_solve_including_border_holes(seed):
    rng = np.random.default_rng(seed)
    image = rng.random((12, 10))
    mask = _irregular_mask(12, 10, seed)
    assert mask[0].any() or mask[:, 0].any()
    np.testing.assert_allclose(baselines.harmonic_fill(image, mask), _dense_harmonic(image, mask), atol=1e-7)


def test_harmonic_fill_obeys_the_maximum_principle_and_keeps_known_pixels():
    rng = np.random.default_rng(3)
    image = rng.random((32, 32, 3)).astype(np.float32)
    mask = _centre_hole()
    out = baselines.harmonic_fill(image, mask)
    assert out.dtype == np.float32 and out.shape == image.shape
    np.testing.assert_array_equal(out[~mask], image[~mask])
    for c in range(3):
        assert image[~mask, c].min() - 1e-6 <= out[mask, c].min()
        assert out[mask, c].max() <= image[~mask, c].max() + 1e-6


def test_harmonic_fill_is_fast_on_a_16x16_hole_and_warns_when_stopped_early():
    rng = np.random.default_rng(4)
    image = rng.random((32, 32, 3))
    start = time.perf_counter()
    for _ in range(20):
        baselines.harmonic_fill(image, _centre_hole())
    assert (time.perf_counter() - start) / 20 < 0.05
    with pytest.warns(RuntimeWarning, match="residual"):
        baselines.harmonic_fill(image, _centre_hole(), max_iter=2)


def test_biharmonic_fill_recovers_a_ramp_and_keeps_known_pixels():
    pytest.importorskip("skimage")
    ramp = _ramp().astype(np.float32)
    mask = _centre_hole()
    out = baselines.biharmonic_fill(ramp, mask)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[~mask], ramp[~mask])
    assert np.abs(out - ramp).max() < 1e-5
    gray = baselines.biharmonic_fill(ramp[:, :, 0], mask)
    assert gray.shape == (32, 32) and np.abs(gray - ramp[:, :, 0]).max() < 1e-5


def test_biharmonic_fill_without_scikit_image_names_the_data_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage.restoration", None)
    with pytest.raises(ImportError, match=r"deconvlab\[data\]"):
        baselines.biharmonic_fill(_ramp(), _centre_hole())


def test_baseline_modules_do_not_import_scikit_image():
    code = ("import sys, deconvlab.data, deconvlab.masks, deconvlab.metrics, deconvlab.baselines; "
            "print('skimage' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("name", ["mean", "harmonic", "biharmonic"])
def test_every_baseline_keeps_known_pixels_and_handles_trivial_masks(name):
    if name == "biharmonic":
        pytest.importorskip("skimage")
    fill = baselines.BASELINES[name]
    image = np.random.default_rng(5).random((16, 16, 3))
    mask = _irregular_mask(16, 16, seed=6)
    out = fill(image, mask)
    np.testing.assert_array_equal(out[~mask], image[~mask])
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(fill(image, np.zeros((16, 16), bool)), image)
    with pytest.raises(ValueError, match="no known pixels"):
        fill(image, np.ones((16, 16), bool))
    with pytest.raises(ValueError, match="mask shape"):
        fill(image, np.ones((8, 16), bool))


def test_fill_batch_applies_the_baseline_image_by_image():
    rng = np.random.default_rng(7)
    images = rng.random((3, 3, 16, 16)).astype(np.float32)
    masks = (rng.random((3, 1, 16, 16)) < 0.3).astype(np.float32)
    out = baselines.fill_batch("harmonic", images, masks)
    for i in range(3):
        expected = baselines.harmonic_fill(images[i].transpose(1, 2, 0), masks[i, 0].astype(bool))
        np.testing.assert_array_equal(out[i], expected.transpose(2, 0, 1))


def test_a_large_hole_starts_from_the_half_resolution_fill_and_converges_to_the_same_result(monkeypatch):
    rng = np.random.default_rng(8)
    yy, xx = np.mgrid[:150, :170]
    image = (0.5 + 0.3 * np.sin(yy / 9.0)[:, :, None] * np.cos(xx / 13.0)[:, :, None]
             + 0.05 * rng.random((150, 170, 3)))
    mask = (yy - 75) ** 2 + (xx - 85) ** 2 < 60 ** 2
    coarse_start = baselines.harmonic_fill(image, mask)
    monkeypatch.setattr(baselines, "COARSE_START_DEPTH", 10**9)
    mean_start = baselines.harmonic_fill(image, mask)
    assert np.abs(coarse_start - mean_start).max() < 1e-5


def _batch_case(seed=9):
    rng = np.random.default_rng(seed)
    images = rng.random((5, 3, 12, 20))
    holes = rng.random((5, 12, 20)) < 0.3
    holes[1] = False
    holes[1, 3:9, 4:15] = True  # one big hole
    holes[2, 0] = True  # a hole along the border
    return images, holes


def test_harmonic_fill_batch_agrees_with_the_per_image_fill_and_keeps_known_pixels():
    images, holes = _batch_case()
    out = baselines.harmonic_fill_batch(images, holes)
    for i in range(len(images)):
        expected = baselines.harmonic_fill(images[i].transpose(1, 2, 0), holes[i]).transpose(2, 0, 1)
        np.testing.assert_allclose(out[i], expected, atol=1e-7)
        np.testing.assert_array_equal(out[i][:, ~holes[i]], images[i][:, ~holes[i]])
    for c in range(3):
        np.testing.assert_allclose(out[0, c], _dense_harmonic(images[0, c], holes[0]), atol=1e-7)


def test_harmonic_fill_batch_solves_each_image_on_its_own():
    images, holes = _batch_case()
    whole = baselines.harmonic_fill_batch(images, holes)
    parts = np.concatenate([baselines.harmonic_fill_batch(images[:2], holes[:2]),
                            baselines.harmonic_fill_batch(images[2:], holes[2:])])
    np.testing.assert_array_equal(whole, parts)
    no_hole = holes.copy()
    no_hole[3] = False
    np.testing.assert_array_equal(baselines.harmonic_fill_batch(images, no_hole)[3], images[3])


def test_harmonic_fill_batch_keeps_the_dtype_and_rejects_bad_input():
    images, holes = _batch_case()
    assert baselines.harmonic_fill_batch(images.astype(np.float32), holes).dtype == np.float32
    with pytest.raises(ValueError, match=r"expected images \(N, C, H, W\) and holes \(N, H, W\)"):
        baselines.harmonic_fill_batch(images, holes[:, None])
    full = holes.copy()
    full[4] = True
    with pytest.raises(ValueError, match="all hole"):
        baselines.harmonic_fill_batch(images, full)
    with pytest.warns(RuntimeWarning, match="stopped after 2 iterations"):
        baselines.harmonic_fill_batch(images, holes, max_iter=2)


def test_downsample2x_is_the_mean_of_each_2x2_block_with_an_odd_edge_repeated():
    a = np.arange(15, dtype=np.float64).reshape(3, 5)
    expected = np.array([[(0 + 1 + 5 + 6) / 4, (2 + 3 + 7 + 8) / 4, (4 + 4 + 9 + 9) / 4],
                         [(10 + 11 + 10 + 11) / 4, (12 + 13 + 12 + 13) / 4, (14 + 14 + 14 + 14) / 4]])
    np.testing.assert_array_equal(baselines.downsample2x(a), expected)
    rgb = np.stack([a, 2 * a], axis=2)
    np.testing.assert_array_equal(baselines.downsample2x(rgb), np.stack([expected, 2 * expected], axis=2))


def test_downsample2x_over_the_known_pixels_averages_only_those():
    a = np.array([[1.0, 3.0], [5.0, 100.0]])
    known = np.array([[True, True], [True, False]])
    np.testing.assert_array_equal(baselines.downsample2x(a, known=known), [[3.0]])
    np.testing.assert_array_equal(baselines.downsample2x(a, known=np.zeros((2, 2), bool)), [[0.0]])


def test_coarse_to_fine_solves_at_half_size_and_repeats_each_coarse_pixel_2x2():
    values = np.random.default_rng(0).random((6, 5, 1))
    hole = np.zeros((6, 5), dtype=bool)
    hole[0:4, 0:4] = True  # four full coarse pixels; the edge blocks stay known
    seen = []

    def solve(small_values, small_hole):
        seen.append(small_hole.copy())
        return np.where(small_hole[:, :, None], 7.0, small_values)

    out = baselines.coarse_to_fine(solve, values, hole)
    np.testing.assert_array_equal(seen[0], [[True, True, False], [True, True, False], [False, False, False]])
    assert out.shape == (6, 5, 1) and np.all(out[0:4, 0:4] == 7.0)
    assert baselines.coarse_to_fine(solve, values, np.zeros((6, 5), bool)) is None


def test_far_apart_holes_are_independent_systems_solved_on_their_own_pixels():
    rng = np.random.default_rng(3)
    image = rng.random((300, 400, 3))
    a = np.zeros((300, 400), dtype=bool)
    a[20:40, 30:60] = True
    b = np.zeros_like(a)
    b[250:270, 300:380] = True
    together = baselines.harmonic_fill(image, a | b)
    np.testing.assert_array_equal(together[a], baselines.harmonic_fill(image, a)[a])
    np.testing.assert_array_equal(together[b], baselines.harmonic_fill(image, b)[b])
    assert len(baselines._clusters(a | b)) == 2


def test_a_deep_hole_starts_coarse_and_a_thin_one_does_not(monkeypatch):
    calls = []
    coarse_to_fine = baselines.coarse_to_fine
    monkeypatch.setattr(baselines, "coarse_to_fine", lambda *a: (calls.append(1), coarse_to_fine(*a))[1])
    image = np.random.default_rng(4).random((200, 200))
    thin = np.zeros((200, 200), dtype=bool)
    thin[50:56, 10:190] = True
    baselines.harmonic_fill(image, thin)
    assert calls == []
    deep = np.zeros((200, 200), dtype=bool)
    deep[50:120, 40:150] = True
    baselines.harmonic_fill(image, deep)
    assert calls


def test_the_compiled_group_laplacian_is_deg_u_minus_the_hole_neighbours():
    rng = np.random.default_rng(3)
    n = 40
    u = rng.standard_normal((n, 3))
    degree = rng.integers(2, 5, n).astype(np.float64)
    neighbours = rng.integers(0, n + 1, (4, n))  # slot n: a known neighbour, counted as 0
    out = np.empty_like(u)
    laplace.group_laplacian(u, degree, neighbours, out)
    padded = np.concatenate([u, np.zeros((1, 3))])
    expected = degree[:, None] * u - sum(padded[nb] for nb in neighbours)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-12)


def test_the_deep_hole_check_equals_the_box_sum_test_on_random_holes():
    rng = np.random.default_rng(21)

    def box_sums(hole, depth):
        k = 2 * depth + 1
        if min(hole.shape) < k:
            return False
        return any(hole[i:i + k, j:j + k].all() for i in range(hole.shape[0] - k + 1) for j in range(hole.shape[1] - k + 1))

    for trial in range(60):
        h, w = rng.integers(5, 40, 2)
        hole = np.zeros((h, w), bool)
        for _ in range(rng.integers(0, 4)):
            r, c, a, b = rng.integers(0, h), rng.integers(0, w), rng.integers(1, 20), rng.integers(1, 20)
            hole[r:r + a, c:c + b] = True
        depth = int(rng.integers(1, 8))
        assert baselines._deep(hole, depth) == box_sums(hole, depth), (trial, depth)
