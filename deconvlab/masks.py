"""Hole masks for inpainting: HxW bool arrays, True = missing pixel to fill.

Imports NumPy, Pillow and `deconvlab.data` (to read mask files). Every random mask takes ``seed``: an
int (same int, same mask), a ``numpy.random.Generator`` (drawn from, so successive calls differ), or
None (fresh entropy, not reproducible).
"""
import numpy as np
from PIL import Image, ImageDraw

from .data import DEFAULT_MAX_PIXELS, load_image

MASK_KINDS = ("center", "rectangles", "strokes", "bernoulli")


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


_MAKERS = {
    "center": lambda h, w, seed, **kw: center_square(h, w, **kw),
    "rectangles": random_rectangles,
    "strokes": brush_strokes,
    "bernoulli": lambda h, w, seed, **kw: bernoulli(h, w, seed=seed, **kw),
}


def make_mask(kind, h, w, seed=None, **params):
    """One h x w bool mask of the given ``kind`` (one of `MASK_KINDS`); ``params`` go to its maker.

    "center" -> `center_square` (ignores seed), "rectangles" -> `random_rectangles`,
    "strokes" -> `brush_strokes`, "bernoulli" -> `bernoulli`.
    """
    if kind not in _MAKERS:
        raise ValueError(f"make_mask: unknown kind {kind!r}; expected one of {', '.join(MASK_KINDS)}")
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
