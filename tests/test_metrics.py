"""Tests for deconvlab.metrics: PSNR / L1 by hand-computed values, pooling, shapes, SSIM vs its formula."""
import math

import numpy as np
import pytest

from deconvlab import metrics


def _pair(shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random(shape), rng.random(shape)


def test_psnr_of_a_uniform_error_of_one_tenth_is_twenty_db():
    a = np.zeros((4, 5, 3))
    assert metrics.psnr(a + 0.1, a) == pytest.approx(20.0, abs=1e-9)
    assert metrics.psnr(a + 0.1, a, data_range=2.0) == pytest.approx(20.0 + 20 * math.log10(2), abs=1e-9)
    assert metrics.mse(a + 0.1, a) == pytest.approx(0.01)


def test_identical_images_have_infinite_psnr():
    a, _ = _pair((6, 6))
    assert metrics.psnr(a, a) == math.inf
    assert metrics.hole_psnr(a, a, np.ones((6, 6), bool)) == math.inf


def test_hole_psnr_looks_only_inside_the_hole():
    target = np.zeros((4, 4, 3))
    pred = target.copy()
    mask = np.zeros((4, 4), bool)
    mask[1:3, 1:3] = True
    pred[~mask] = 0.7  # errors outside the hole do not count
    assert metrics.hole_psnr(pred, target, mask) == math.inf
    pred[1, 1, 0] = 0.4  # one value wrong among 4 pixels x 3 channels in the hole
    expected = 10 * math.log10(1.0 / (0.4 ** 2 / 12))
    assert metrics.hole_psnr(pred, target, mask) == pytest.approx(expected)
    assert metrics.hole_psnr(pred, target, mask.astype(np.float32)) == pytest.approx(expected)


def test_pooled_hole_psnr_pools_squared_errors_while_mean_psnr_averages_db():
    t1, t2 = np.zeros((4, 4)), np.zeros((6, 6))
    p1, p2 = t1 + 0.1, t2 + 0.2
    m1 = np.zeros((4, 4), bool)
    m1[0, :2] = True  # 2 pixels, squared error 0.01 each
    m2 = np.zeros((6, 6), bool)
    m2[:2, :4] = True  # 8 pixels, squared error 0.04 each
    pooled_mse = (2 * 0.01 + 8 * 0.04) / 10
    assert metrics.pooled_hole_psnr([p1, p2], [t1, t2], [m1, m2]) == pytest.approx(-10 * math.log10(pooled_mse))
    mean = (-10 * math.log10(0.01) - 10 * math.log10(0.04)) / 2
    assert metrics.mean_psnr([p1, p2], [t1, t2], [m1, m2]) == pytest.approx(mean)
    assert metrics.l1([p1, p2], [t1, t2], [m1, m2]) == pytest.approx((2 * 0.1 + 8 * 0.2) / 10)


def test_nchw_batch_equals_the_list_of_hwc_images():
    preds, targets = _pair((3, 3, 8, 8), seed=1)
    masks = np.random.default_rng(2).random((3, 1, 8, 8)) < 0.4
    as_list = [p.transpose(1, 2, 0) for p in preds], [t.transpose(1, 2, 0) for t in targets]
    hw_masks = [m[0] for m in masks]
    for name in ["pooled_hole_psnr", "mean_psnr", "l1"]:
        fn = getattr(metrics, name)
        assert fn(preds, targets, masks) == pytest.approx(fn(*as_list, hw_masks))
    assert metrics.pooled_hole_psnr(preds, targets, masks[:, 0]) == pytest.approx(
        metrics.pooled_hole_psnr(preds, targets, masks))
    sq = ((preds - targets) ** 2).transpose(0, 2, 3, 1)[masks[:, 0]]
    assert metrics.pooled_hole_psnr(preds, targets, masks) == pytest.approx(-10 * math.log10(sq.mean()))


def test_full_psnr_is_psnr_over_every_pixel():
    preds, targets = _pair((2, 3, 5, 5), seed=3)
    assert metrics.full_psnr(preds, targets) == pytest.approx(-10 * math.log10(((preds - targets) ** 2).mean()))
    assert metrics.full_psnr(preds, targets) == pytest.approx(metrics.psnr(preds, targets))


def test_an_empty_hole_is_a_value_error():
    a, b = _pair((5, 5))
    with pytest.raises(ValueError, match="empty"):
        metrics.hole_psnr(a, b, np.zeros((5, 5), bool))
    with pytest.raises(ValueError, match="image 1"):
        metrics.pooled_hole_psnr([a, a], [b, b], [np.ones((5, 5)), np.zeros((5, 5))])


def test_bad_inputs_are_reported():
    a, b = _pair((5, 5))
    with pytest.raises(TypeError, match="uint8"):
        metrics.psnr(a.astype(np.uint8), b.astype(np.uint8))
    with pytest.raises(ValueError, match="shape"):
        metrics.psnr(a, b[:4])
    with pytest.raises(ValueError, match="only 0 and 1"):
        metrics.hole_psnr(a, b, np.full((5, 5), 0.5))
    with pytest.raises(ValueError, match="mask shape"):
        metrics.hole_psnr(a, b, np.ones((4, 5), bool))
    with pytest.raises(ValueError, match="required"):
        metrics.hole_psnr(a, b, None)


# --------------------------------------------------------------------------- SSIM

def _ssim_one_window(x, y, data_range=1.0):
    """SSIM of two 11x11 images: one window position, Gaussian weights built as a 2-D table."""
    i = np.arange(11) - 5
    w = np.exp(-(i[:, None] ** 2 + i[None, :] ** 2) / (2 * 1.5 ** 2))
    w /= w.sum()
    mx, my = (w * x).sum(), (w * y).sum()
    vx, vy = (w * (x - mx) ** 2).sum(), (w * (y - my) ** 2).sum()
    cxy = (w * (x - mx) * (y - my)).sum()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    return ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))


def test_ssim_on_an_11x11_image_is_the_formula_at_its_one_window():
    x, y = _pair((11, 11), seed=4)
    assert metrics.ssim(x, y) == pytest.approx(_ssim_one_window(x, y), abs=1e-12)
    assert metrics.ssim(x, y, data_range=2.0) == pytest.approx(_ssim_one_window(x, y, 2.0), abs=1e-12)
    colour_x, colour_y = _pair((11, 11, 3), seed=5)
    expected = np.mean([_ssim_one_window(colour_x[..., c], colour_y[..., c]) for c in range(3)])
    assert metrics.ssim(colour_x, colour_y) == pytest.approx(expected, abs=1e-12)


def test_ssim_of_an_image_with_itself_is_one_and_of_its_negative_is_below_zero():
    x, _ = _pair((20, 24, 3), seed=6)
    assert metrics.ssim(x, x) == pytest.approx(1.0)
    assert metrics.ssim(x, 1.0 - x) < 0
    with pytest.raises(ValueError, match="11x11"):
        metrics.ssim(x[:10], x[:10])


@pytest.mark.parametrize("shape", [(40, 33), (32, 32, 3), (64, 48, 3)])
def test_ssim_matches_scikit_image(shape):
    skm = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    smooth = 0.5 + 0.4 * np.sin(yy / 5.0) * np.cos(xx / 7.0)
    target = smooth if len(shape) == 2 else np.stack([smooth, smooth ** 2, 1 - smooth], axis=-1)
    pred = np.clip(target + 0.1 * rng.standard_normal(shape), 0, 1)
    expected = skm.structural_similarity(
        pred, target, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0,
        channel_axis=-1 if len(shape) == 3 else None,
    )
    assert metrics.ssim(pred, target) == pytest.approx(expected, abs=1e-4)
    assert abs(metrics.ssim(pred, target) - expected) < 1e-10  # same formula, float64 both sides


def test_ssim_of_a_batch_is_the_mean_of_per_image_ssims():
    preds, targets = _pair((3, 3, 16, 16), seed=8)
    per_image = [metrics.ssim(p.transpose(1, 2, 0), t.transpose(1, 2, 0)) for p, t in zip(preds, targets)]
    assert metrics.ssim(preds, targets) == pytest.approx(np.mean(per_image))


def test_inpainting_scores_reports_every_metric():
    preds, targets = _pair((2, 3, 16, 16), seed=9)
    masks = np.zeros((2, 1, 16, 16))
    masks[:, :, 4:12, 4:12] = 1
    scores = metrics.inpainting_scores(preds, targets, masks)
    assert set(scores) == {"hole_psnr", "mean_hole_psnr", "full_psnr", "hole_l1", "ssim"}
    assert scores["hole_psnr"] == metrics.pooled_hole_psnr(preds, targets, masks)


# ------------------------------------------------------------------------------ around the holes, and texture

def _texture(size=96, seed=0):
    rng = np.random.default_rng(seed)
    planes = [metrics._blur(metrics._blur(rng.random((size, size)))) for _ in range(3)]
    tex = np.stack(planes, axis=2)
    return (tex - tex.min()) / (tex.max() - tex.min())


def test_the_blur_is_the_binomial_filter_and_the_pyramid_removes_constants():
    delta = np.zeros((9, 9))
    delta[4, 4] = 1
    taps = np.array([1, 4, 6, 4, 1]) / 16
    np.testing.assert_allclose(metrics._blur(delta)[2:7, 2:7], np.outer(taps, taps))
    for band in metrics.laplacian_pyramid(np.full((20, 24, 3), 0.3), levels=2):
        np.testing.assert_allclose(band, 0, atol=1e-12)
    bands = metrics.laplacian_pyramid(np.random.default_rng(0).random((21, 30)), levels=2)
    assert [b.shape for b in bands] == [(21, 30, 1), (11, 15, 1)]


def test_patch_swd_is_zero_for_identical_patches_and_punishes_blur_more_than_misplaced_texture():
    from deconvlab.baselines import harmonic_fill

    tex = _texture()
    hole = np.zeros(tex.shape[:2], dtype=bool)
    hole[24:72, 24:72] = True
    assert metrics.patch_swd(tex, tex, hole) == 0.0
    blurred = harmonic_fill(tex, hole)
    misplaced = np.where(hole[:, :, None], np.roll(tex, 17, axis=1), tex)
    swd_blur, swd_misplaced = metrics.patch_swd(blurred, tex, hole), metrics.patch_swd(misplaced, tex, hole)
    psnr_blur, psnr_misplaced = metrics.hole_psnr(blurred, tex, hole), metrics.hole_psnr(misplaced, tex, hole)
    print(f"SWD blur {swd_blur:.1f} misplaced {swd_misplaced:.1f}; PSNR blur {psnr_blur:.2f} misplaced {psnr_misplaced:.2f}")
    assert swd_blur > 3 * swd_misplaced and psnr_blur > psnr_misplaced  # PSNR prefers the blur; SWD does not
    assert metrics.patch_swd(blurred, tex, hole, seed=5) == pytest.approx(swd_blur, rel=0.2)


def test_box_ssim_scores_the_holes_not_the_whole_image():
    tex = _texture()
    hole = np.zeros(tex.shape[:2], dtype=bool)
    hole[40:48, 40:48] = True
    wrong = np.where(hole[:, :, None], 1 - tex, tex)
    assert metrics.box_ssim(tex, tex, hole) == pytest.approx(1.0)
    assert metrics.box_ssim(wrong, tex, hole) < metrics.ssim(wrong, tex) - 0.2
    assert metrics.hole_boxes(hole, margin=8) == [(32, 32, 56, 56)]
    corner = np.zeros((30, 30), dtype=bool)
    corner[0, 0] = True
    assert metrics.hole_boxes(corner, margin=2) == [(0, 0, 11, 11)]  # grown to SSIM's 11x11 window


def test_grid_energy_share_is_one_for_a_period_8_pattern_and_the_lattice_share_for_noise():
    rng = np.random.default_rng(5)
    tile = rng.standard_normal((8, 8))
    assert metrics.grid_energy_share(np.tile(tile, (6, 9))) == pytest.approx(1.0, abs=1e-12)
    assert metrics.grid_energy_share(np.tile(tile, (6, 9))[:, :, None].repeat(3, axis=2)) == pytest.approx(1.0)
    noise = [metrics.grid_energy_share(rng.standard_normal((64, 96))) for _ in range(20)]
    assert np.mean(noise) == pytest.approx(63 / (64 * 96 - 1), rel=0.25)
    assert metrics.grid_energy_share(np.full((16, 16), 0.4)) == 0.0
    smooth = np.add.outer(np.arange(40.0), np.arange(48.0))  # a ramp: its energy sits at low frequencies
    assert metrics.grid_energy_share(smooth) < 0.05
    with pytest.raises(ValueError, match="smaller than one period"):
        metrics.grid_energy_share(np.zeros((5, 20)))


def test_nyquist_share_is_the_energy_on_the_nyquist_row_and_column():
    from deconvlab import metrics

    rng = np.random.default_rng(60)
    y = rng.standard_normal((2, 3, 20, 24))
    crop = y[..., 4:16, 4:20]
    e = np.zeros(y.shape[:2])
    total = np.zeros(y.shape[:2])
    h, w = crop.shape[-2:]
    for a in range(2):
        for b in range(3):
            for u in range(h):
                for v in range(w):
                    coefficient = sum(crop[a, b, i, j] * np.exp(-2j * np.pi * (u * i / h + v * j / w))
                                      for i in range(h) for j in range(w))
                    total[a, b] += abs(coefficient) ** 2
                    if u == h // 2 or v == w // 2:
                        e[a, b] += abs(coefficient) ** 2
    np.testing.assert_allclose(metrics.nyquist_share(y), e / total, rtol=1e-10)
    checker = np.indices((16, 16)).sum(axis=0) % 2 * 1.0
    assert metrics.nyquist_share(checker - 0.5, margin=0) == pytest.approx(1.0)
    repeated = np.kron(rng.random((8, 8)), np.ones((2, 2)))  # nearest 2× upsampling
    assert metrics.nyquist_share(repeated, margin=0) < 1e-20
    with pytest.raises(ValueError, match="both sides must be even"):
        metrics.nyquist_share(np.ones((15, 16)), margin=0)
