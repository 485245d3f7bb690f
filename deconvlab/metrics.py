"""Inpainting quality: PSNR on the hole (pooled over a set: the headline), full-image PSNR, L1, SSIM.

Imports NumPy only. Images are floats in [0, data_range]. Accepted shapes:
  - one image: HxW, or HxWxC (channel last, as `deconvlab.data.load_image` returns);
  - a batch: NCHW (as the networks produce); its masks (N, 1, H, W), (N, H, W) or one HxW for all;
  - a set: a list/tuple of single images, possibly of different sizes, with a list of HxW masks.
A mask is HxW bool or {0, 1}, 1/True = hole; it applies to every channel. Over a hole of n pixels and
C channels the squared errors of all n*C values are averaged. A hole with no pixels is a ValueError
(a PSNR over nothing has no value). Everything is computed in float64.
"""
import math

import numpy as np

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
