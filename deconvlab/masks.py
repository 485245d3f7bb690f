"""Hole masks for inpainting: HxW bool arrays, True = missing pixel to fill.

Imports NumPy, Pillow and `deconvlab.data` (to read mask files). Every random mask takes ``seed``: an
int (same int, same mask), a ``numpy.random.Generator`` (drawn from, so successive calls differ), or
None (fresh entropy, not reproducible).
"""
import numpy as np
from PIL import Image, ImageDraw

from .data import DEFAULT_MAX_PIXELS, load_image

MASK_KINDS = ("center", "rectangles", "strokes", "bernoulli")
"""The kinds of the crop protocol (``deconvlab evaluate --crops``): sizes relative to the image side."""

WHOLE_KINDS = ("thin-strokes", "small-rectangles", "square-48", "square-64", "square-96", "blobs")
"""The kinds of the whole-photo protocol (``deconvlab evaluate --whole``), in pixels whatever the image size:
brush strokes 2–6 px wide, rectangles of 8–24 px, squares of 48, 64 and 96 px, and object-sized blobs (irregular,
20–30% of the shorter side across). Training can use them too (``deconvlab train --mask-kinds``)."""

ALL_KINDS = MASK_KINDS + WHOLE_KINDS


def _rng(seed):
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _check_size(h, w, caller):
    if int(h) != h or int(w) != w or h < 1 or w < 1:
        raise ValueError(f"{caller}: mask size must be positive integers, got h={h!r}, w={w!r}")
    return int(h), int(w)


def center_square(h, w, size=None):
    """A ``size`` x ``size`` hole centred in an h x w image (default size = min(h, w) // 2).

    The square covers rows top .. top + size - 1 with top = (h - size) // 2, and columns likewise.
    """
    h, w = _check_size(h, w, "center_square")
    size = min(h, w) // 2 if size is None else int(size)
    if not 1 <= size <= min(h, w):
        raise ValueError(f"center_square: size must be in 1..{min(h, w)} for a {h}x{w} mask, got {size}")
    mask = np.zeros((h, w), dtype=bool)
    top, left = (h - size) // 2, (w - size) // 2
    mask[top:top + size, left:left + size] = True
    return mask


def random_rectangles(h, w, seed=None, count=4, min_size=None, max_size=None):
    """The union of ``count`` axis-aligned rectangles placed uniformly at random (they may overlap).

    Each rectangle's height and width are drawn independently and uniformly from
    min_size .. max_size (defaults: max(1, min(h, w) // 8) and max(min_size, min(h, w) // 2)),
    then its top-left corner uniformly among the positions where it fits inside the image.
    """
    h, w = _check_size(h, w, "random_rectangles")
    min_size = max(1, min(h, w) // 8) if min_size is None else int(min_size)
    max_size = max(min_size, min(h, w) // 2) if max_size is None else int(max_size)
    if not 1 <= min_size <= max_size <= min(h, w):
        raise ValueError(
            f"random_rectangles: need 1 <= min_size <= max_size <= {min(h, w)} for a {h}x{w} mask, "
            f"got min_size={min_size}, max_size={max_size}"
        )
    if count < 0:
        raise ValueError(f"random_rectangles: count must be >= 0, got {count}")
    rng = _rng(seed)
    mask = np.zeros((h, w), dtype=bool)
    for _ in range(int(count)):
        rh, rw = rng.integers(min_size, max_size + 1, size=2)
        top = rng.integers(h - rh + 1)
        left = rng.integers(w - rw + 1)
        mask[top:top + rh, left:left + rw] = True
    return mask


def brush_strokes(h, w, seed=None, count=3, max_vertices=6, max_length=None, min_width=None,
                  max_width=None):
    """Free-form strokes, like a user scribbling over what should be removed.

    Each of the ``count`` strokes is a random walk: a start point uniform in the image, a heading
    uniform in [0, 2 pi), then 1 .. ``max_vertices`` steps, each turning the heading by a normal
    angle (standard deviation pi/4) and moving a length uniform in [max_length/4, max_length]
    (clamped to the image). The polyline is drawn with a round brush whose width is uniform in
    min_width .. max_width pixels. Defaults, with s = min(h, w): max_length = s/4,
    max_width = max(1, round(s/8)), min_width = max(1, max_width // 2).
    """
    h, w = _check_size(h, w, "brush_strokes")
    side = min(h, w)
    max_length = max(1.0, side / 4) if max_length is None else float(max_length)
    max_width = max(1, round(side / 8)) if max_width is None else int(max_width)
    min_width = max(1, max_width // 2) if min_width is None else int(min_width)
    if not 1 <= min_width <= max_width:
        raise ValueError(
            f"brush_strokes: need 1 <= min_width <= max_width, got min_width={min_width}, max_width={max_width}"
        )
    if max_vertices < 1 or count < 0 or max_length <= 0:
        raise ValueError(
            f"brush_strokes: need max_vertices >= 1, count >= 0, max_length > 0, got "
            f"{max_vertices}, {count}, {max_length}"
        )
    rng = _rng(seed)
    canvas = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(count)):
        width = int(rng.integers(min_width, max_width + 1))
        x, y = rng.uniform(0, w - 1), rng.uniform(0, h - 1)
        heading = rng.uniform(0, 2 * np.pi)
        points = [(x, y)]
        for _ in range(int(rng.integers(1, max_vertices + 1))):
            heading += rng.normal(0.0, np.pi / 4)
            step = rng.uniform(max_length / 4, max_length)
            x = float(np.clip(x + step * np.cos(heading), 0, w - 1))
            y = float(np.clip(y + step * np.sin(heading), 0, h - 1))
            points.append((x, y))
        draw.line(points, fill=255, width=width, joint="curve")
        radius = width / 2
        for px, py in points:
            draw.ellipse([px - radius, py - radius, px + radius, py + radius], fill=255)
    return np.asarray(canvas) > 0


def bernoulli(h, w, p=0.25, seed=None):
    """Each pixel is a hole independently with probability ``p`` (scattered missing pixels)."""
    h, w = _check_size(h, w, "bernoulli")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"bernoulli: p must be in [0, 1], got {p}")
    return _rng(seed).random((h, w)) < p


def components(mask, connectivity=8):
    """The connected components of a bool HxW mask: ``(labels, boxes)``.

    ``labels`` is an HxW int32 array, 0 outside the mask and 1..n on its n components; two True pixels are in
    one component when a chain of True pixels joins them, each touching the next by a side (``connectivity``
    4) or by a side or a corner (8). ``boxes`` is an (n, 4) int array of [top, left, bottom, right) bounding
    boxes, row k for label k + 1. Components are numbered in the order of their first pixel (row-major).

    It works on the mask's horizontal runs, so its cost follows the number of runs, not the image size:
    runs of adjacent rows that touch are joined with a union-find (label propagation with pointer jumping).
    """
    if connectivity not in (4, 8):
        raise ValueError(f"components: connectivity must be 4 or 8, got {connectivity!r}")
    m = np.asarray(mask, dtype=bool)
    if m.ndim != 2:
        raise ValueError(f"components: expected an HxW mask, got shape {m.shape}")
    h, w = m.shape
    edges = np.diff(np.pad(m, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    run_row, run_start = np.nonzero(edges == 1)
    run_end = np.nonzero(edges == -1)[1]  # exclusive; runs come row by row, left to right
    n_runs = run_row.size
    if n_runs == 0:
        return np.zeros((h, w), np.int32), np.zeros((0, 4), np.int64)
    first = np.searchsorted(run_row, np.arange(h + 1))  # runs of row r: first[r] .. first[r + 1]
    slack = 1 if connectivity == 8 else 0
    pairs = []
    for r in np.unique(run_row[:-1]):
        a0, a1, b0, b1 = first[r], first[r + 1], first[r + 1], first[min(r + 2, h)]
        if b0 == b1:
            continue
        # run i (row r) touches run j (row r + 1) when start_j < end_i + slack and start_i < end_j + slack
        lo = np.searchsorted(run_end[b0:b1] + slack, run_start[a0:a1], side="right")
        hi = np.searchsorted(run_start[b0:b1], run_end[a0:a1] + slack, side="left")
        count = np.maximum(hi - lo, 0)
        if count.any():
            i = np.repeat(np.arange(a0, a1), count)
            j = b0 + np.concatenate([np.arange(l, l + c) for l, c in zip(lo, count) if c])
            pairs.append((i, j))
    label = np.arange(n_runs)
    if pairs:
        i = np.concatenate([p[0] for p in pairs])
        j = np.concatenate([p[1] for p in pairs])
        while True:
            low = np.minimum(label[i], label[j])
            hooked = label.copy()
            np.minimum.at(hooked, label[i], low)
            np.minimum.at(hooked, label[j], low)
            while True:  # pointer jumping: every run points straight at its root
                jumped = hooked[hooked]
                if np.array_equal(jumped, hooked):
                    break
                hooked = jumped
            if np.array_equal(hooked, label):
                break
            label = hooked
    roots, dense = np.unique(label, return_inverse=True)  # roots are the smallest run index: row-major order
    labels = np.zeros((h, w), np.int32)
    labels[m] = (dense + 1)[np.repeat(np.arange(n_runs), run_end - run_start)]
    n = roots.size
    boxes = np.empty((n, 4), np.int64)
    boxes[:, 0], boxes[:, 1] = h, w
    boxes[:, 2:] = 0
    np.minimum.at(boxes[:, 0], dense, run_row)
    np.minimum.at(boxes[:, 1], dense, run_start)
    np.maximum.at(boxes[:, 2], dense, run_row + 1)
    np.maximum.at(boxes[:, 3], dense, run_end)
    return labels, boxes


def mask_from_image(source, threshold=0.5, max_pixels=DEFAULT_MAX_PIXELS):
    """A mask read from an image file or array: bright = hole.

    A path is read with `load_image` (any mode) in gray, transparent areas counting as black (not a
    hole), so a mask painted in white on a transparent layer works. An array may be bool (returned
    as is), float HxW / HxWx1 / HxWx3 in [0, 1] (colour reduced to BT.601 luma) or uint8 (divided by
    255). The mask is ``gray > threshold``, a bool HxW array. An unreadable file is ValueError naming
    the path (FileNotFoundError when missing).
    """
    if isinstance(source, np.ndarray):
        array = source
        if array.ndim == 3 and array.shape[2] == 1:
            array = array[:, :, 0]
        if array.ndim == 3 and array.shape[2] == 3:
            if array.dtype == np.bool_:
                raise ValueError("mask_from_image: a bool mask must be HxW, got HxWx3")
            array = array.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        if array.ndim != 2:
            raise ValueError(f"mask_from_image: expected an HxW, HxWx1 or HxWx3 array, got shape {source.shape}")
        if array.dtype == np.bool_:
            return array.copy()
        if source.dtype == np.uint8:
            gray = array / 255.0
        elif np.issubdtype(source.dtype, np.floating):
            gray = array
        else:
            raise TypeError(f"mask_from_image: expected a bool, uint8 or float array, got dtype {source.dtype}")
    else:
        gray = load_image(source, as_gray=True, max_pixels=max_pixels, background=0.0)
    return np.asarray(gray > threshold)


def _per_area(h, w, area, most):
    """How many holes of one kind an h x w image gets: one per ``area`` pixels, at least 1, at most ``most``."""
    return int(min(most, max(1, round(h * w / area))))


def thin_strokes(h, w, seed=None):
    """Thin brush strokes 2–6 px wide (`brush_strokes` with lengths up to a quarter of the shorter side), one
    per 20000 pixels of image (1 to 12): scratches and wires."""
    return brush_strokes(h, w, seed=seed, count=_per_area(h, w, 20000, 12), min_width=2, max_width=6,
                         max_length=max(8.0, min(h, w) / 4))


def small_rectangles(h, w, seed=None):
    """Rectangles of 8–24 px a side (`random_rectangles`), one per 16000 pixels of image (1 to 16)."""
    side = min(h, w)
    return random_rectangles(h, w, seed=seed, count=_per_area(h, w, 16000, 16), min_size=min(8, side),
                             max_size=min(24, side))


def squares(h, w, size, seed=None):
    """Squares of ``size`` pixels a side placed uniformly at random where they fit and where they do not overlap
    one drawn before, one per 8·size² pixels of image (1 to 3; fewer when no free place is found in 100
    draws). The side is at most three quarters of the image's shorter side, so some pixels stay known."""
    h, w = _check_size(h, w, "squares")
    size = max(1, min(int(size), (3 * min(h, w)) // 4))
    rng = _rng(seed)
    mask = np.zeros((h, w), dtype=bool)
    wanted, placed = _per_area(h, w, 8 * size * size, 3), 0
    for _ in range(100):
        if placed == wanted:
            break
        top, left = int(rng.integers(h - size + 1)), int(rng.integers(w - size + 1))
        if placed and mask[top:top + size, left:left + size].any():
            continue
        mask[top:top + size, left:left + size] = True
        placed += 1
    return mask


def blob(h, w, seed=None, diameter=None):
    """One object-sized irregular hole: a star-shaped region r(θ) = R·(1 + Σ_{k=2..5} a_k cos(kθ + φ_k)),
    a_k uniform in ±0.3/k, φ_k uniform, clipped to at least 0.4 R, drawn as a 64-gon. Its mean diameter 2R is
    ``diameter`` (default uniform in 20–30% of the shorter side) and its centre lies uniformly where a circle
    of radius R fits in the image."""
    h, w = _check_size(h, w, "blob")
    rng = _rng(seed)
    side = min(h, w)
    radius = (rng.uniform(0.2, 0.3) * side if diameter is None else float(diameter)) / 2
    radius = min(radius, side / 2)
    cy, cx = rng.uniform(radius, h - radius), rng.uniform(radius, w - radius)
    theta = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    r = np.ones_like(theta)
    for k in range(2, 6):
        r += rng.uniform(-0.3, 0.3) / k * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    r = radius * np.maximum(r, 0.4)
    canvas = Image.new("L", (w, h), 0)
    ImageDraw.Draw(canvas).polygon(list(zip(cx + r * np.cos(theta), cy + r * np.sin(theta))), fill=255)
    return np.asarray(canvas) > 0


_MAKERS = {
    "center": lambda h, w, seed, **kw: center_square(h, w, **kw),
    "rectangles": random_rectangles,
    "strokes": brush_strokes,
    "bernoulli": lambda h, w, seed, **kw: bernoulli(h, w, seed=seed, **kw),
    "thin-strokes": thin_strokes,
    "small-rectangles": small_rectangles,
    "square-48": lambda h, w, seed, **kw: squares(h, w, 48, seed=seed, **kw),
    "square-64": lambda h, w, seed, **kw: squares(h, w, 64, seed=seed, **kw),
    "square-96": lambda h, w, seed, **kw: squares(h, w, 96, seed=seed, **kw),
    "blobs": blob,
}


def make_mask(kind, h, w, seed=None, **params):
    """One h x w bool mask of the given ``kind`` (one of `ALL_KINDS`); ``params`` go to its maker.

    "center" -> `center_square` (ignores seed), "rectangles" -> `random_rectangles`, "strokes" ->
    `brush_strokes`, "bernoulli" -> `bernoulli`; "thin-strokes" -> `thin_strokes`, "small-rectangles" ->
    `small_rectangles`, "square-48/64/96" -> `squares`, "blobs" -> `blob`.
    """
    if kind not in _MAKERS:
        raise ValueError(f"make_mask: unknown kind {kind!r}; expected one of {', '.join(ALL_KINDS)}")
    return _MAKERS[kind](h, w, seed=seed, **params)


def mask_batch(n, h, w, kind="center", seed=None, **params):
    """A batch of masks as (n, 1, h, w) float32 (1.0 = hole), the layout the networks take.

    ``kind`` is one kind, or a sequence of kinds from which each mask picks one uniformly (then
    ``params`` must be empty: each kind uses its defaults). All randomness comes from one generator
    built from ``seed``, so the masks of a batch differ from each other and the batch is reproducible.
    """
    rng = _rng(seed)
    kinds = (kind,) if isinstance(kind, str) else tuple(kind)
    if len(kinds) > 1 and params:
        raise ValueError("mask_batch: params apply to a single kind; pass one kind to set them")
    out = np.empty((int(n), 1, int(h), int(w)), dtype=np.float32)
    for i in range(int(n)):
        chosen = kinds[0] if len(kinds) == 1 else kinds[rng.integers(len(kinds))]
        out[i, 0] = make_mask(chosen, h, w, seed=rng, **params)
    return out
