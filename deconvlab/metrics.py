"""Inpainting quality: PSNR on the hole (pooled over a set: the headline), full-image PSNR, L1, SSIM (whole or in
boxes around the holes), and a texture statistic (patch SWD on a Laplacian pyramid).

Imports NumPy and ``masks`` (connected components). Images are floats in [0, data_range]. Accepted shapes:
  - one image: HxW, or HxWxC (channel last, as `deconvlab.data.load_image` returns);
  - a batch: NCHW (as the networks produce); its masks (N, 1, H, W), (N, H, W) or one HxW for all;
  - a set: a list/tuple of single images, possibly of different sizes, with a list of HxW masks.
A mask is HxW bool or {0, 1}, 1/True = hole; it applies to every channel. Over a hole of n pixels and
C channels the squared errors of all n*C values are averaged. A hole with no pixels is a ValueError
(a PSNR over nothing has no value). Everything is computed in float64.
"""
import math

import numpy as np

from .masks import components

_SSIM_SIGMA = 1.5
_SSIM_RADIUS = 5  # 11x11 window: int(3.5 * sigma + 0.5), as scipy.ndimage truncates a Gaussian
_SSIM_K1, _SSIM_K2 = 0.01, 0.03


def _float_array(x, name):
    a = np.asarray(x)
    if not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"{name}: expected float images in [0, data_range], got dtype {a.dtype}")
    return a.astype(np.float64, copy=False)


def _binary_mask(m, caller):
    m = np.asarray(m)
    if m.dtype == np.bool_:
        return m
    if not np.isin(m, (0, 1)).all():
        raise ValueError(f"{caller}: a mask must be bool or hold only 0 and 1, found other values")
    return m.astype(bool)


def _items(preds, targets, masks, caller):
    """Yield (pred, target, mask) per image as (C, H, W) float64, (C, H, W) float64, (H, W) bool."""
    if isinstance(preds, np.ndarray) or isinstance(targets, np.ndarray):
        preds = _float_array(preds, caller)
        targets = _float_array(targets, caller)
        if preds.shape != targets.shape:
            raise ValueError(f"{caller}: prediction shape {preds.shape} != target shape {targets.shape}")
        if preds.ndim == 4:
            n, _, h, w = preds.shape
            if masks is None:
                mask_list = [None] * n
            else:
                m = _binary_mask(masks, caller)
                if m.shape == (h, w):
                    mask_list = [m] * n
                elif m.shape in ((n, 1, h, w), (n, h, w)):
                    mask_list = list(m.reshape(n, h, w))
                else:
                    raise ValueError(
                        f"{caller}: masks of shape {m.shape} do not fit NCHW images of shape {preds.shape}; "
                        f"expected ({n}, 1, {h}, {w}), ({n}, {h}, {w}) or ({h}, {w})"
                    )
            for i in range(n):
                yield preds[i], targets[i], _full_or(mask_list[i], (h, w), caller)
            return
        preds, targets, masks = [preds], [targets], None if masks is None else [masks]
    if len(preds) != len(targets) or (masks is not None and len(masks) != len(preds)):
        raise ValueError(
            f"{caller}: got {len(preds)} predictions, {len(targets)} targets"
            + ("" if masks is None else f", {len(masks)} masks")
        )
    for i in range(len(preds)):
        p, t = _float_array(preds[i], caller), _float_array(targets[i], caller)
        if p.shape != t.shape:
            raise ValueError(f"{caller}: image {i}: prediction shape {p.shape} != target shape {t.shape}")
        if p.ndim == 2:
            p, t = p[None], t[None]
        elif p.ndim == 3:
            p, t = p.transpose(2, 0, 1), t.transpose(2, 0, 1)
        else:
            raise ValueError(f"{caller}: image {i} has shape {p.shape}; expected HxW or HxWxC")
        hw = p.shape[1:]
        yield p, t, _full_or(None if masks is None else masks[i], hw, caller)


def _full_or(mask, hw, caller):
    if mask is None:
        return np.ones(hw, dtype=bool)
    m = _binary_mask(mask, caller)
    if m.ndim == 3 and m.shape[0] == 1:
        m = m[0]
    if m.shape != tuple(hw):
        raise ValueError(f"{caller}: mask shape {m.shape} does not match image size {tuple(hw)}")
    return m


def _sums(preds, targets, masks, caller, power):
    """Per image: (sum over the hole of |pred - target|**power over all channels, number of values)."""
    out = []
    for i, (p, t, m) in enumerate(_items(preds, targets, masks, caller)):
        count = int(m.sum()) * p.shape[0]
        if count == 0:
            raise ValueError(f"{caller}: the hole of image {i} is empty (its mask has no 1 pixels)")
        diff = np.abs(p[:, m] - t[:, m])
        out.append((float(np.sum(diff ** power)), count))
    if not out:
        raise ValueError(f"{caller}: no images given")
    return out


def _psnr_from_mse(mse_value, data_range):
    return math.inf if mse_value == 0 else 10.0 * math.log10(data_range ** 2 / mse_value)


def mse(pred, target, mask=None):
    """Mean squared error, the seed's loss: L = 1/(MN) sum_i sum_j (y_true - y_pred)^2.

    With a mask, the mean runs over the hole only (all channels of the hole pixels). For a batch or
    a set it is pooled: total squared error over total count.
    """
    sums = _sums(pred, target, mask, "mse", 2)
    return sum(s for s, _ in sums) / sum(c for _, c in sums)


def psnr(pred, target, mask=None, data_range=1.0):
    """Peak signal-to-noise ratio in dB: PSNR = 10 log10(R^2 / MSE), R = ``data_range``.

    MSE as in `mse` (over the hole when ``mask`` is given, pooled over a batch or set). Identical
    inputs give MSE = 0 and PSNR = +inf (returned as ``math.inf``).
    """
    return _psnr_from_mse(mse(pred, target, mask), data_range)


def hole_psnr(pred, target, mask, data_range=1.0):
    """PSNR over the hole only: 10 log10(R^2 / MSE_hole) for one image (or pooled over a batch/set).

    The mask is required; an empty hole is ValueError.
    """
    if mask is None:
        raise ValueError("hole_psnr: a mask is required (use full_psnr for the whole image)")
    return psnr(pred, target, mask, data_range)


def pooled_hole_psnr(preds, targets, masks, data_range=1.0):
    """The headline score: PSNR of the MSE pooled over every hole pixel of every image in the set.

    MSE_pooled = (sum_k sum_{hole_k} (pred_k - target_k)^2) / (sum_k |hole_k| * C); then
    10 log10(R^2 / MSE_pooled). Large holes weigh more than small ones, unlike `mean_psnr`, and a
    single perfect image cannot make it infinite.
    """
    if masks is None:
        raise ValueError("pooled_hole_psnr: masks are required (use full_psnr for whole images)")
    return psnr(preds, targets, masks, data_range)


def full_psnr(preds, targets, data_range=1.0):
    """PSNR over all pixels of all images (pooled MSE). When the known pixels are pasted back, this is
    the hole PSNR raised by 10 log10(image size / hole size)."""
    return psnr(preds, targets, None, data_range)


def mean_psnr(preds, targets, masks=None, data_range=1.0):
    """Mean over images of each image's PSNR (on its hole when ``masks`` is given, else whole).

    One perfect image makes it +inf; prefer `pooled_hole_psnr` as the summary.
    """
    values = [_psnr_from_mse(s / c, data_range) for s, c in _sums(preds, targets, masks, "mean_psnr", 2)]
    return float(np.mean(values))


def l1(preds, targets, masks=None):
    """Mean absolute error, pooled: sum |pred - target| over the hole (or everything) / count."""
    sums = _sums(preds, targets, masks, "l1", 1)
    return sum(s for s, _ in sums) / sum(c for _, c in sums)


def _gaussian_taps():
    x = np.arange(-_SSIM_RADIUS, _SSIM_RADIUS + 1, dtype=np.float64)
    g = np.exp(-0.5 * (x / _SSIM_SIGMA) ** 2)
    return g / g.sum()


def _filter_valid(image, taps):
    """Separable weighted window sum at every position where the 11x11 window fits (size H-10, W-10)."""
    k = taps.size
    h, w = image.shape
    rows = sum(taps[i] * image[i:h - k + 1 + i, :] for i in range(k))
    return sum(taps[j] * rows[:, j:w - k + 1 + j] for j in range(k))


def _ssim_plane(x, y, data_range):
    taps = _gaussian_taps()
    ux, uy = _filter_valid(x, taps), _filter_valid(y, taps)
    vx = _filter_valid(x * x, taps) - ux * ux
    vy = _filter_valid(y * y, taps) - uy * uy
    vxy = _filter_valid(x * y, taps) - ux * uy
    c1, c2 = (_SSIM_K1 * data_range) ** 2, (_SSIM_K2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return float(s.mean())


def ssim(pred, target, data_range=1.0):
    """Structural similarity (Wang, Bovik, Sheikh, Simoncelli 2004), Gaussian-window form.

    At each pixel, with Gaussian-weighted local means mu, variances sigma^2 and covariance sigma_xy
    (11x11 window, sigma = 1.5, population weights):
        SSIM = (2 mu_x mu_y + C1)(2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2)),
        C1 = (0.01 R)^2, C2 = (0.03 R)^2, R = ``data_range``.
    The score is the mean over the pixels at least 5 from the border (where the window fits),
    averaged over channels, then over the images of a batch or set. This matches scikit-image's
    ``structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
    data_range=R, channel_axis=-1)``. Images must be at least 11x11.
    """
    scores = []
    for i, (p, t, _) in enumerate(_items(pred, target, None, "ssim")):
        if min(p.shape[1:]) < 2 * _SSIM_RADIUS + 1:
            raise ValueError(f"ssim: image {i} is {p.shape[1]}x{p.shape[2]}, smaller than the 11x11 window")
        scores.append(np.mean([_ssim_plane(p[c], t[c], data_range) for c in range(p.shape[0])]))
    return float(np.mean(scores))


def inpainting_scores(preds, targets, masks, data_range=1.0):
    """All the scores of one evaluation as a dict: hole_psnr (pooled, the headline), mean_hole_psnr,
    full_psnr, hole_l1, ssim (whole images)."""
    return {
        "hole_psnr": pooled_hole_psnr(preds, targets, masks, data_range),
        "mean_hole_psnr": mean_psnr(preds, targets, masks, data_range),
        "full_psnr": full_psnr(preds, targets, data_range),
        "hole_l1": l1(preds, targets, masks),
        "ssim": ssim(preds, targets, data_range),
    }



def _grown(lo, hi, size, margin, min_side):
    """The interval [lo, hi) of an axis of length ``size`` grown by ``margin``, then to ``min_side`` (centred,
    kept inside the axis) where the axis is that long."""
    lo, hi = max(0, lo - margin), min(size, hi + margin)
    if hi - lo < min_side:
        lo = int(min(max(0, (lo + hi) // 2 - min_side // 2), max(0, size - min_side)))
        hi = min(size, lo + min_side)
    return lo, hi


def hole_boxes(mask, margin=8, min_side=2 * _SSIM_RADIUS + 1):
    """Boxes around the holes of an HxW mask, as (top, left, bottom, right) with bottom and right exclusive:
    the bounding box of each 8-connected component of the mask (``masks.components``) grown by ``margin``
    pixels on every side and then to at least ``min_side`` (SSIM's window), clipped to the image."""
    m = np.asarray(mask, dtype=bool)
    h, w = m.shape
    boxes = []
    for top, left, bottom, right in components(m)[1]:
        top, bottom = _grown(top, bottom, h, margin, min_side)
        left, right = _grown(left, right, w, margin, min_side)
        boxes.append((top, left, bottom, right))
    return boxes


def box_ssim(pred, target, mask, margin=8, data_range=1.0):
    """SSIM around the holes of one image: the mean of ``ssim`` over the ``hole_boxes`` of ``mask``, each box
    weighted by its number of hole pixels. pred and target HxW or HxWxC; a box is at least 11x11 where the image
    is. Whole-image SSIM is dominated by the known pixels (equal in every method); this looks at the holes."""
    m = _binary_mask(mask, "box_ssim")
    scores, weights = [], []
    for top, left, bottom, right in hole_boxes(m, margin):
        window = (slice(top, bottom), slice(left, right))
        scores.append(ssim(np.asarray(pred)[window], np.asarray(target)[window], data_range))
        weights.append(int(m[window].sum()))
    if not scores:
        raise ValueError("box_ssim: the mask marks no hole")
    return float(np.average(scores, weights=weights))


def _blur_taps():
    return np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def _blur(plane):
    """Separable 5-tap binomial blur [1, 4, 6, 4, 1]/16 with reflected borders."""
    taps = _blur_taps()
    padded = np.pad(plane, 2, mode="reflect") if min(plane.shape) > 2 else np.pad(plane, 2, mode="edge")
    h, w = plane.shape
    rows = sum(taps[i] * padded[i:i + h, :] for i in range(5))
    return sum(taps[j] * rows[:, j:j + w] for j in range(5))


def laplacian_pyramid(image, levels):
    """Laplacian pyramid (Burt & Adelson) of an HxW or HxWxC image: ``levels`` band-pass images
    L_k = G_k − up(G_{k+1}), where G_0 is the image, G_{k+1} = blur(G_k) taken at every other pixel, up()
    repeats each pixel 2x2 and blurs, and blur is the binomial [1, 4, 6, 4, 1]/16 filter. L_k is half the size
    of L_{k−1} (rounded up)."""
    g = np.asarray(image, dtype=np.float64)
    g = g[:, :, None] if g.ndim == 2 else g
    bands = []
    for _ in range(levels):
        small = np.stack([_blur(g[:, :, c]) for c in range(g.shape[2])], axis=2)[::2, ::2]
        up = np.repeat(np.repeat(small, 2, axis=0), 2, axis=1)[:g.shape[0], :g.shape[1]]
        up = np.stack([_blur(up[:, :, c]) for c in range(g.shape[2])], axis=2)
        bands.append(g - up)
        g = small
    return bands


def _patches(band, centres, size):
    """The size x size x C patches of ``band`` centred on ``centres`` (rows, cols), reflect-padded, flattened."""
    r = size // 2
    padded = np.pad(band, ((r, r), (r, r), (0, 0)), mode="reflect" if min(band.shape[:2]) > r else "edge")
    rows, cols = centres
    di, dj = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    return padded[rows[:, None, None] + di, cols[:, None, None] + dj].reshape(rows.size, -1)


def patch_swd(pred, target, mask, levels=2, patch=7, n_patches=2048, n_directions=256, seed=0):
    """Sliced Wasserstein distance between the patches of ``pred`` and of ``target`` inside the hole: a texture
    statistic that punishes blur (as used to evaluate GANs, Karras et al. 2018), with no learned weights.

    On each of ``levels`` Laplacian-pyramid levels (``laplacian_pyramid``) the ``patch`` x ``patch`` x C
    patches centred on hole pixels (up to ``n_patches`` of them, the same positions in both images, drawn
    with ``seed``; the hole is halved level by level, a pixel staying in the hole if any of its 2x2 pixels
    was) are normalised by the target patches' mean and standard deviation per coordinate. Then

        SWD = mean over d of  mean_i |sort(P·d)_i − sort(T·d)_i|,

    over ``n_directions`` random unit directions d (the 1-D Wasserstein-1 distance of the projections),
    averaged over levels and multiplied by 1000. 0 when the two patch sets are equal; a blurred fill, whose
    patches have too little contrast, scores higher than a sharp fill with the right texture in the wrong
    place."""
    m = _binary_mask(mask, "patch_swd")
    if not m.any():
        raise ValueError("patch_swd: the mask marks no hole")
    rng = np.random.default_rng(seed)
    pred_bands, target_bands = laplacian_pyramid(pred, levels), laplacian_pyramid(target, levels)
    level_mask, distances = m, []
    for p_band, t_band in zip(pred_bands, target_bands):
        rows, cols = np.nonzero(level_mask)
        if rows.size == 0:
            break
        pick = rng.choice(rows.size, size=min(n_patches, rows.size), replace=False)
        centres = (rows[pick], cols[pick])
        p, t = _patches(p_band, centres, patch), _patches(t_band, centres, patch)
        mean, std = t.mean(axis=0), t.std(axis=0) + 1e-8
        p, t = (p - mean) / std, (t - mean) / std
        directions = rng.standard_normal((p.shape[1], n_directions))
        directions /= np.linalg.norm(directions, axis=0, keepdims=True)
        distances.append(float(np.mean(np.abs(np.sort(p @ directions, axis=0) - np.sort(t @ directions, axis=0)))))
        padded = np.pad(level_mask, ((0, level_mask.shape[0] % 2), (0, level_mask.shape[1] % 2)))
        level_mask = padded[0::2, 0::2] | padded[1::2, 0::2] | padded[0::2, 1::2] | padded[1::2, 1::2]
    return 1000.0 * float(np.mean(distances))


def grid_energy_share(field, period=8):
    """The share of a field's energy on the frequency lattice of a ``period``-pixel pattern: with F the 2-D DFT
    of the field (HxW, or HxWxC averaged over channels; cropped to multiples of ``period``, its mean removed),

        share = Σ_{(a, b) ≠ (0, 0)} |F[a·H/p, b·W/p]|² / Σ_{(u, v) ≠ (0, 0)} |F[u, v]|²,   0 <= a, b < p.

    1 for a pattern repeating every ``period`` pixels, (p² − 1)/(H·W − 1) on average for white noise (the
    lattice is that share of the frequencies), 0 for a field without energy. A network whose strided layers
    leave their 8-pixel grid in the fill shows a share far above the white-noise level in (fill − truth)."""
    f = _float_array(field, "grid_energy_share")
    if f.ndim == 3:
        f = f.mean(axis=2)
    if f.ndim != 2:
        raise ValueError(f"grid_energy_share: expected an HxW or HxWxC field, got shape {f.shape}")
    p = int(period)
    h, w = f.shape[0] // p * p, f.shape[1] // p * p
    if h == 0 or w == 0:
        raise ValueError(f"grid_energy_share: the field {f.shape} is smaller than one period of {p} pixels")
    f = f[:h, :w] - f[:h, :w].mean()
    energy = np.abs(np.fft.fft2(f)) ** 2
    total = energy.sum() - energy[0, 0]
    if total <= 0:
        return 0.0
    lattice = energy[::h // p, ::w // p]
    return float((lattice.sum() - lattice[0, 0]) / total)


def nyquist_share(planes, margin=4):
    """The share of the energy of each 2-D plane of ``planes`` (..., H, W), ``margin`` pixels cut off each border,
    on the Nyquist row and column of its DFT F (one cycle every two pixels, where a checkerboard puts its energy):

        share = (Σ_v |F[H/2, v]|² + Σ_u |F[u, W/2]|² − |F[H/2, W/2]|²) / Σ_{u,v} |F[u, v]|²

    (H, W: the cropped sides, which must be even). 0 for a smooth plane or a nearest-upsampled one (a 2×2 repeat
    has no energy there), 1 for a pure checkerboard. Returns an array of the leading shape (NaN for an all-zero
    plane). Notebook 06 builds the same statistic by hand."""
    y = _float_array(planes, "nyquist_share")
    if y.ndim < 2:
        raise ValueError(f"nyquist_share: expected planes (..., H, W), got shape {y.shape}")
    y = y[..., margin:y.shape[-2] - margin, margin:y.shape[-1] - margin]
    h, w = y.shape[-2:]
    if h < 2 or w < 2 or h % 2 or w % 2:
        raise ValueError(f"nyquist_share: the planes cropped by {margin} are {h}x{w}; both sides must be even and >= 2")
    energy = np.abs(np.fft.fft2(y)) ** 2
    at = energy[..., h // 2, :].sum(axis=-1) + energy[..., :, w // 2].sum(axis=-1) - energy[..., h // 2, w // 2]
    total = energy.sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return at / total
