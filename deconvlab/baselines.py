"""Classical inpainting baselines a network must beat: mean fill, harmonic fill, biharmonic fill.

Imports NumPy; scikit-image (the optional ``data`` extra) only inside `biharmonic_fill`. Each fill
takes an image HxW or HxWxC (float32/float64 in [0, 1]) and a mask HxW (bool or {0, 1}, True = fill)
and returns a new image of the same shape and dtype whose known pixels are exactly the input's;
`fill_batch` applies one to every image of an NCHW batch, and `harmonic_fill_batch` solves a whole
batch of harmonic fills at once.
"""
import math
import warnings

import numpy as np

from .kernels.laplace import group_laplacian


def _check(image, mask, caller):
    image = np.asarray(image)
    if image.dtype not in (np.float32, np.float64):
        raise TypeError(f"{caller}: expected a float32/float64 image, got dtype {image.dtype}")
    if image.ndim not in (2, 3):
        raise ValueError(f"{caller}: expected an HxW or HxWxC image, got shape {image.shape}")
    mask = np.asarray(mask)
    if mask.dtype != np.bool_:
        if not np.isin(mask, (0, 1)).all():
            raise ValueError(f"{caller}: the mask must be bool or hold only 0 and 1")
        mask = mask.astype(bool)
    if mask.shape != image.shape[:2]:
        raise ValueError(f"{caller}: mask shape {mask.shape} does not match image size {image.shape[:2]}")
    if mask.all():
        raise ValueError(f"{caller}: every pixel is in the hole; there are no known pixels to fill from")
    return image, mask


def mean_fill(image, mask):
    """Fill every hole pixel with the mean of the known pixels, channel by channel:
    out[p, c] = (1 / |K|) sum_{q in K} image[q, c] for p in the hole, K = the known pixels."""
    image, mask = _check(image, mask, "mean_fill")
    out = image.copy()
    out[mask] = image[~mask].mean(axis=0, dtype=np.float64).astype(image.dtype)
    return out


def _neighbour_sum(u):
    """s[i, j] = sum of u over the 4-neighbours of (i, j) that lie inside the image."""
    s = np.zeros_like(u)
    s[1:] += u[:-1]
    s[:-1] += u[1:]
    s[:, 1:] += u[:, :-1]
    s[:, :-1] += u[:, 1:]
    return s


def downsample2x(values, known=None):
    """Half resolution by 2x2 averaging: out[i, j] = mean of values[2i:2i+2, 2j:2j+2] (an odd last row or column
    is averaged with a copy of itself). values (H, W) or (H, W, C) float. With ``known`` (H, W bool), only the
    known pixels of each 2x2 block are averaged (their mean; 0 where a block has none)."""
    a = np.asarray(values)
    h, w = a.shape[:2]
    pad = ((0, h % 2), (0, w % 2)) + ((0, 0),) * (a.ndim - 2)
    a = np.pad(a, pad, mode="edge")
    if known is None:
        return (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]) / 4
    k = np.pad(np.asarray(known, dtype=a.dtype), pad[:2], mode="edge").reshape(a.shape[:2] + (1,) * (a.ndim - 2))
    total = a * k
    total = total[0::2, 0::2] + total[1::2, 0::2] + total[0::2, 1::2] + total[1::2, 1::2]
    count = k[0::2, 0::2] + k[1::2, 0::2] + k[0::2, 1::2] + k[1::2, 1::2]
    return np.where(count > 0, total / np.maximum(count, 1), 0)


def coarse_to_fine(solve, values, hole):
    """A fill of ``hole`` solved at half resolution: values (H, W, C) and hole (H, W) bool are halved
    (``downsample2x`` over the known pixels; a coarse pixel is in the hole when its four pixels all are),
    ``solve(small_values, small_hole)`` fills the coarse hole (and may itself go coarser), and its result,
    each coarse pixel repeated 2x2 and cropped to H x W, is returned. None when the coarse hole is empty or
    is every coarse pixel (nothing to solve, or nothing known to solve from)."""
    h, w = hole.shape
    small_hole = downsample2x(hole.astype(np.float64)) == 1.0
    if not small_hole.any() or small_hole.all():
        return None
    coarse = solve(downsample2x(values, known=~hole), small_hole)
    return np.repeat(np.repeat(coarse, 2, axis=0), 2, axis=1)[:h, :w]


COARSE_START_DEPTH = 16
"""A hole at least this deep (it holds a square of 2·16 + 1 hole pixels) starts from the fill solved at half
resolution: conjugate gradients need about as many iterations as the hole is wide, and a smooth start removes
most of the error at once. Thinner holes (strokes, small rectangles) converge quickly from the mean."""

CLUSTER_BLOCK = 32
"""Hole pixels in blocks of this many pixels that touch (by a side or a corner) are solved together; holes
farther apart are independent systems, each solved on its own pixels."""


def _deep(hole, depth):
    """Whether the bool hole holds a (2·depth + 1)-pixel square of hole pixels (box sums of a cumulative sum).
    Such a square, wherever it lies, contains a whole block of the grid of (depth + 1)-pixel blocks, so a hole
    without a single full block (strokes, small holes) is answered by one pass over the blocks."""
    k = 2 * depth + 1
    if min(hole.shape) < k:
        return False
    b = depth + 1
    h, w = hole.shape[0] // b * b, hole.shape[1] // b * b
    if not hole[:h, :w].reshape(h // b, b, w // b, b).all(axis=(1, 3)).any():
        return False
    c = np.pad(np.cumsum(np.cumsum(hole, axis=0, dtype=np.int32), axis=1), ((1, 0), (1, 0)))
    return bool(((c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) == k * k).any())


def _clusters(mask):
    """The hole pixels of ``mask`` in independent groups: (rows, cols) of each group, row-major. Pixels of
    blocks of CLUSTER_BLOCK pixels that touch are one group; two pixels of different groups are never
    4-neighbours, so each group's Laplace system is its own."""
    from .masks import components

    h, w = mask.shape
    b = CLUSTER_BLOCK
    blocks = np.pad(mask, ((0, -h % b), (0, -w % b))).reshape(-(-h // b), b, -(-w // b), b).any(axis=(1, 3))
    labels = components(blocks)[0]
    rows, cols = np.nonzero(mask)
    group = labels[rows // b, cols // b]
    order = np.argsort(group, kind="stable")  # stable: each group's pixels stay row-major
    splits = np.flatnonzero(np.diff(group[order])) + 1
    return [(rows[part], cols[part]) for part in np.split(order, splits)]


def _conjugate_gradients(apply, b, x, tol, n, max_iter):
    """Conjugate gradients for A x = b, one system per column of the last axis, each with its own step sizes,
    stopping on its own once its root-mean-square residual over its ``n`` unknowns is at most ``tol``.
    ``apply(u)`` is A u; b and the start x have the same shape (..., K). Returns (x, rr, iterations) with rr
    the squared residual norms (length K)."""
    def dot(u, v):
        return np.einsum("ik,ik->k", u.reshape(-1, u.shape[-1]), v.reshape(-1, v.shape[-1]))

    r = b - apply(x)
    d = r.copy()
    rr = dot(r, r)
    limit = (tol ** 2) * n
    iterations = 0
    while np.any(rr > limit) and iterations < max_iter:
        ad = apply(d)
        dad = dot(d, ad)
        active = rr > limit
        alpha = np.where(active, rr / np.where(active, dad, 1.0), 0.0)
        x += alpha * d
        r -= alpha * ad
        rr_new = dot(r, r)
        beta = np.where(active, rr_new / np.where(active, rr, 1.0), 0.0)
        d = r + beta * d
        rr = rr_new
        iterations += 1
    return x, rr, iterations


def _solve_group(image, rows, cols, tol, max_iter):
    """The harmonic fill at the hole pixels (rows, cols) of one independent group: (n, C) float64 and
    (rr, n, iterations) for the convergence report. Only the hole pixels and their neighbours are touched."""
    h, w = image.shape[:2]
    values = image.reshape(h * w, -1)
    flat = rows * w + cols  # sorted: the pixels come row-major
    n = flat.size
    degree, known_count = np.zeros(n), np.zeros(n)
    neighbours, known_sum = [], np.zeros((n, values.shape[1]))
    for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        inside = (rows + dr >= 0) & (rows + dr < h) & (cols + dc >= 0) & (cols + dc < w)
        target = np.where(inside, flat + dr * w + dc, 0)
        index = np.minimum(np.searchsorted(flat, target), n - 1)
        is_hole = inside & (flat[index] == target)
        neighbours.append(np.where(is_hole, index, n))  # n: a padding slot that holds 0
        known = inside & ~is_hole
        known_sum[known] += values[target[known]]
        known_count += known
        degree += inside

    neighbours = np.stack(neighbours)

    def laplacian(u):
        out = np.empty_like(u)
        group_laplacian(u, degree, neighbours, out)
        return out

    top, left = max(rows.min() - 1, 0), max(cols.min() - 1, 0)
    bottom, right = min(rows.max() + 2, h), min(cols.max() + 2, w)
    boundary_mean = known_sum.sum(axis=0) / known_count.sum()  # every group touches known pixels
    x = _starting_guess(image[top:bottom, left:right], rows - top, cols - left, boundary_mean)
    max_iter = n + 100 if max_iter is None else int(max_iter)
    x, rr, iterations = _conjugate_gradients(laplacian, known_sum, x, tol, n, max_iter)
    return x, (rr, n, iterations)


def _starting_guess(window, rows, cols, boundary_mean):
    """Where conjugate gradients start at the hole pixels (rows, cols) of ``window`` (HxWxC, the group's
    bounding box and its 1-pixel border): ``boundary_mean``, the mean of the hole's known neighbours, or, for a
    hole at least COARSE_START_DEPTH deep, the harmonic fill of the half-resolution window (``coarse_to_fine``,
    recursively). The converged result is the same (to ``tol``); only the number of iterations changes.
    Returns (n, C) float64."""
    start = np.broadcast_to(boundary_mean, (rows.size, window.shape[2])).copy()
    hole = np.zeros(window.shape[:2], dtype=bool)
    hole[rows, cols] = True
    if not _deep(hole, COARSE_START_DEPTH):
        return start

    def solve(small_values, small_hole):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the coarse solve only has to be close
            return harmonic_fill(small_values, small_hole, tol=1e-4)

    coarse = coarse_to_fine(solve, window.astype(np.float64), hole)
    return start if coarse is None else coarse[rows, cols].astype(np.float64)


def harmonic_fill(image, mask, tol=1e-8, max_iter=None):
    """Fill the hole with the discrete harmonic function that agrees with the known pixels.

    Every hole pixel p becomes the average of its 4-neighbours inside the image (Laplace's equation
    with the known pixels as boundary values; at the image border only the neighbours that exist
    count, a reflecting boundary):  deg(p) u_p - sum_{q ~ p} u_q = 0, where u_q = image_q for known q.
    The hole pixels fall into independent groups (holes more than a block of CLUSTER_BLOCK pixels apart);
    each group's symmetric positive definite system (one per channel, the channels solved together) is solved
    by conjugate gradients on its hole pixels only, so the cost follows the hole, not the image. It starts from
    the mean of the hole's known neighbours, or, for a hole at least COARSE_START_DEPTH deep, from the fill
    solved at half resolution. Iteration stops when the root-mean-square residual over the group's hole is at
    most ``tol`` (intensity units) in every channel, or after ``max_iter`` iterations (default: the number of
    hole pixels + 100, the exact-arithmetic bound with a margin), which warns.
    Linear functions are harmonic, so a linear ramp is recovered exactly (up to ``tol``).
    """
    image, mask = _check(image, mask, "harmonic_fill")
    out = image.copy()
    planes = image if image.ndim == 3 else image[:, :, None]
    unconverged = []
    for rows, cols in _clusters(mask) if mask.any() else ():
        x, (rr, n, iterations) = _solve_group(planes, rows, cols, tol, max_iter)
        if np.any(rr > (tol ** 2) * n):
            unconverged.append((iterations, math.sqrt(float(rr.max()) / n)))
        out[rows, cols] = (x if image.ndim == 3 else x[:, 0]).astype(image.dtype)
    if unconverged:
        iterations, worst = max(unconverged, key=lambda u: u[1])
        warnings.warn(f"harmonic_fill: stopped after {iterations} iterations with RMS residual {worst:.3g} "
                      f"> tol={tol}", RuntimeWarning, stacklevel=2)
    return out


def _laplace_cg(values, hole, start, tol, max_iter):
    """Conjugate gradients on deg(p) u_p − Σ_{q ~ p} u_q = 0 inside the hole of whole images, known pixels fixed
    to ``values`` (the batch solver: no cropping, every pixel an array element).

    values (H, W, K) float64, hole (H, W, K) bool, start broadcastable to values (used inside the hole). Each of
    the K systems has its own step sizes and stops on its own (``_conjugate_gradients``), after at most
    ``max_iter`` iterations (default: the largest hole + 100). Returns (x, rr, n, iterations): x inside the
    hole (0 elsewhere), the squared residual norms and hole sizes (length K), and the number of iterations.
    """
    degree = _neighbour_sum(np.ones(hole.shape[:2]))[:, :, None]

    def laplacian(u):
        return np.where(hole, degree * u - _neighbour_sum(u), 0.0)

    b = np.where(hole, _neighbour_sum(np.where(hole, 0.0, values)), 0.0)
    n = hole.sum(axis=(0, 1))
    max_iter = int(n.max()) + 100 if max_iter is None else int(max_iter)
    x, rr, iterations = _conjugate_gradients(laplacian, b, np.where(hole, start, 0.0), tol, n, max_iter)
    return x, rr, n, iterations


def harmonic_fill_batch(images, holes, tol=1e-8, max_iter=None):
    """``harmonic_fill`` of every image of a batch, all solved together: one conjugate-gradient run over every
    channel of every image, each channel a system with its own step sizes that stops on its own.

    images (N, C, H, W) float, holes (N, H, W) bool (True = fill); every image must have known pixels. Each
    system starts from its channel's known mean, over the whole image (no cropping to the hole), so a batch
    of small patches costs a few array operations per iteration instead of a Python loop over the images;
    for large photos ``harmonic_fill`` (which crops and starts coarse) is the faster choice. The result
    agrees with ``harmonic_fill`` to the accuracy ``tol`` asks for; known pixels are returned exactly.
    Warns if some system stops at ``max_iter`` before reaching ``tol``.
    """
    images, holes = np.asarray(images), np.asarray(holes, dtype=bool)
    if images.ndim != 4 or holes.shape != (images.shape[0],) + images.shape[2:]:
        raise ValueError(f"harmonic_fill_batch: expected images (N, C, H, W) and holes (N, H, W), "
                         f"got {images.shape} and {holes.shape}")
    if holes.reshape(len(holes), -1).all(axis=1).any():
        raise ValueError("harmonic_fill_batch: an image is all hole; there are no known pixels to fill from")
    n_img, c, h, w = images.shape
    values = images.astype(np.float64).transpose(2, 3, 0, 1).reshape(h, w, n_img * c)
    hole = np.repeat(holes.transpose(1, 2, 0), c, axis=2)
    known = ~hole
    mean = np.where(known, values, 0.0).sum(axis=(0, 1)) / np.maximum(known.sum(axis=(0, 1)), 1)
    x, rr, n, iterations = _laplace_cg(values, hole, mean, tol, max_iter)
    if np.any(rr > (tol ** 2) * n):
        worst = math.sqrt(float(np.max(rr / np.maximum(n, 1))))
        warnings.warn(f"harmonic_fill_batch: stopped after {iterations} iterations with RMS residual "
                      f"{worst:.3g} > tol={tol}", RuntimeWarning, stacklevel=2)
    filled = np.where(hole, x, values).reshape(h, w, n_img, c).transpose(2, 3, 0, 1)
    return np.where(holes[:, None], filled, images).astype(images.dtype)


def biharmonic_fill(image, mask):
    """Fill the hole with the biharmonic function (Laplacian squared = 0) matching the known pixels,
    by scikit-image's ``restoration.inpaint_biharmonic`` (smoother than harmonic: it continues
    gradients across the hole, not only values; scikit-image clips the result to the range of the
    known pixels per channel). Needs scikit-image, the optional ``data`` extra; without it this is
    ImportError."""
    image, mask = _check(image, mask, "biharmonic_fill")
    try:
        from skimage.restoration import inpaint_biharmonic
    except ImportError as e:
        raise ImportError(
            "biharmonic_fill needs scikit-image, an optional dependency: pip install 'deconvlab[data]'"
        ) from e
    out = image.copy()
    if not mask.any():
        return out
    filled = inpaint_biharmonic(
        image.astype(np.float64), mask, channel_axis=-1 if image.ndim == 3 else None
    )
    out[mask] = filled[mask].astype(image.dtype)
    return out


BASELINES = {"mean": mean_fill, "harmonic": harmonic_fill, "biharmonic": biharmonic_fill}


def fill_batch(method, images, masks):
    """Apply a baseline (a name in `BASELINES` or a function) to every image of an NCHW batch.

    ``masks`` is (N, 1, H, W) or (N, H, W), 1 = hole. Returns an NCHW array like ``images``.
    """
    fill = BASELINES[method] if isinstance(method, str) else method
    images = np.asarray(images)
    masks = np.asarray(masks)
    if images.ndim != 4:
        raise ValueError(f"fill_batch: expected NCHW images, got shape {images.shape}")
    n, _, h, w = images.shape
    if masks.shape not in ((n, 1, h, w), (n, h, w)):
        raise ValueError(f"fill_batch: masks of shape {masks.shape} do not fit images of shape {images.shape}")
    masks = masks.reshape(n, h, w)
    out = np.empty_like(images)
    for i in range(n):
        out[i] = fill(images[i].transpose(1, 2, 0), masks[i]).transpose(2, 0, 1)
    return out
