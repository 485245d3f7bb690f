"""Filling holes in whole photos with a network: ``inpaint()`` and ``load_pretrained()``; imports nn, models,
checkpoints, baselines, parallel and errors.

A photo of any size is handled by three mechanisms, each exact or documented:

- Size. The network is fully convolutional but needs sides divisible by 8: the image is padded by reflection
  to the next multiple of 8 and the result cropped back.
- Memory. Images larger than ``tile`` pixels on a side are processed in overlapping tiles; each tile carries a
  margin of ``TILE_MARGIN`` = 64 pixels (the network's receptive field reaches at most 39), and only its centre
  is kept, so tiling changes nothing but memory use (results agree to float32 rounding, ~1e-7). Tiles of the
  same size go through the network together, one per thread the kernels use, so every core has a tile.
- Large holes. The network sees about ``REACH`` pixels around each missing pixel. A network with the harmonic
  start (``InpaintNet(start="harmonic")``, the pretrained one) starts from the harmonic fill of the whole
  image, which spans a hole of any size; the network refines it where it sees known pixels, and deep inside
  a very large hole the result is the smooth harmonic fill. For a network with the mean-colour start, where
  the hole is deeper than REACH (some missing pixel is more than REACH pixels from every known one), the
  image is first inpainted at half resolution (recursively, until the hole fits), and that coarse fill,
  upsampled, replaces the mean colour as the starting value inside the hole: coarse to fine.
"""
import numbers
import os
from importlib import resources

import numpy as np

from . import baselines, checkpoints, nn, parallel
from .errors import InputError, Setting
from .models import STARTS, known_mean, predict

REACH = 12
HARMONIC_TOL = 1e-5
"""Residual tolerance of the harmonic start in ``inpaint`` (RMS, intensity units): the fill lands within
about a grey level of the exact solution, and a photo with a hole hundreds of pixels wide takes seconds,
not minutes. Training and ``deconvlab evaluate`` solve to the default 1e-8."""
TILE_MARGIN = 64  # tile sizes and margins are multiples of 8, so every tile sits on the network's grid
MIN_TILE = 4 * TILE_MARGIN  # the kept centre of a tile is then at least half its side
DEFAULT_TILE = 512
PRETRAINED = ("default",)


def load_pretrained(name="default"):
    """The network shipped with deconvlab, trained by deconvlab itself (see docs: "Pretrained weights").

    ``name`` is one of ``PRETRAINED``. Returns an ``InpaintNet`` in eval mode. An installation without the
    weights file raises FileNotFoundError naming the file it looked for.
    """
    if name not in PRETRAINED:
        raise ValueError(f"load_pretrained: unknown model {name!r}; available: {', '.join(PRETRAINED)}")
    ref = resources.files(__package__).joinpath("assets").joinpath("weights").joinpath(f"{name}.npz")
    with resources.as_file(ref) as path:
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"load_pretrained: the weights of model {name!r} are not installed (expected {os.fspath(path)!r}); "
                "train a model with 'deconvlab train' and pass it as --model / model="
            )
        return checkpoints.load_model(os.fspath(path))


_cached_default = []


def _default_model():
    if not _cached_default:
        _cached_default.append(load_pretrained())
    return _cached_default[0]


def check_image_and_mask(image, mask):
    """Validate ``inpaint``'s inputs.

    Returns (image as HxWxC in its own dtype, C = 1 or 3; the same as float32 HxWx3; mask as bool HxW).
    The image must be float32 or float64 (TypeError otherwise: no silent cast), HxW, HxWx1 or HxWx3, finite,
    with values in [0, 1]; the mask must have the image's height and width and be bool or hold only 0 and 1
    (a non-binary mask is a ValueError: thresholding is the caller's decision, see ``masks.mask_from_image``).
    """
    image = np.asarray(image)
    mask = np.asarray(mask)
    if image.dtype not in (np.float32, np.float64):
        raise TypeError(f"inpaint: image must be a float32 or float64 array in [0, 1], got dtype {image.dtype}")
    if image.ndim == 2:
        image = image[:, :, None]
    elif not (image.ndim == 3 and image.shape[2] in (1, 3)):
        raise InputError("inpaint", "image must be HxW, HxWx1 or HxWx3, got shape {shape}", shape=image.shape)
    if min(image.shape[:2]) < 1:
        raise InputError("inpaint", "image has an empty side, shape {shape}", shape=image.shape)
    if not np.isfinite(image).all():
        raise InputError("inpaint", "image contains {count} NaN or infinite values",
                         count=int(np.sum(~np.isfinite(image))))
    lo, hi = float(image.min()), float(image.max())
    if lo < 0 or hi > 1:
        raise InputError("inpaint", "image values must lie in [0, 1], got min {lo:.6g}, max {hi:.6g}", lo=lo, hi=hi)
    if mask.shape != image.shape[:2]:
        raise InputError("inpaint", "mask has shape {got}, expected {expected} (the image's height and width)",
                         got=mask.shape, expected=image.shape[:2])
    if mask.dtype != bool:
        if mask.dtype.kind not in "iuf":
            raise TypeError(
                f"inpaint: mask must be a bool or numeric array (1 = pixel to fill), got dtype {mask.dtype}"
            )
        binary = (mask == 0) | (mask == 1)
        if not binary.all():
            bad = mask[~binary].flat[0].item()
            raise InputError("inpaint", "mask must be bool or hold only 0 and 1 (1 = pixel to fill), found the value "
                             "{bad!r}; threshold it first, e.g. mask > 0.5", bad=bad)
        mask = mask.astype(bool)
    rgb = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image
    return image, np.ascontiguousarray(rgb, dtype=np.float32), mask


def _check_tile(tile):
    """``tile`` as an int rounded down to a multiple of 8; ValueError below MIN_TILE."""
    if isinstance(tile, (bool, np.bool_)) or not isinstance(tile, numbers.Integral) or tile < MIN_TILE:
        raise InputError("inpaint", "{tile} must be an integer >= {minimum} (pixels per side, margins included), "
                         "got {got!r}", tile=Setting("tile"), minimum=MIN_TILE, got=tile)
    return int(tile) // 8 * 8


def hole_depth(mask, limit=None):
    """How many pixels the deepest missing pixel lies from the nearest known one (chessboard distance):
    the number of 3x3 erosions that empty the hole. 0 for an empty mask, max(H, W) for a full one.
    With ``limit``, counting stops at ``limit`` + 1 (enough to compare the depth with ``limit``)."""
    m = np.asarray(mask, dtype=bool).copy()
    depth = 0
    while m.any():
        if m.all():
            return max(m.shape)
        if limit is not None and depth > limit:
            return depth
        m = _erode(m, outside=False)
        depth += 1
    return depth


def _erode(m, outside):
    """3x3 erosion of a bool array; pixels beyond the border count as ``outside``."""
    padded = np.pad(m, 1, constant_values=outside)
    eroded = np.ones_like(m)
    for di in range(3):
        for dj in range(3):
            eroded &= padded[di:di + m.shape[0], dj:dj + m.shape[1]]
    return eroded


def correction_weight(mask, reach=REACH):
    """How much of the network's correction to the harmonic start is kept at each pixel: 1 where the nearest
    known pixel is at most ``reach`` pixels away (chessboard distance; the image border is not a known pixel),
    falling linearly to 0 at 2·reach and beyond, where the network sees nothing but hole and its output is a
    guess. Returns an HxW float32 array (1 at known pixels)."""
    m = np.asarray(mask, dtype=bool).copy()
    distance = np.zeros(m.shape, np.int32)
    for _ in range(2 * reach):
        if not m.any():
            break
        distance += m
        m = _erode(m, outside=True)
    distance[m] = 2 * reach
    return np.clip((2 * reach - distance) / reach, 0.0, 1.0).astype(np.float32)


def _run(model, image, mask, fill, tile):
    """The network on one HxWx3 image (sides multiple of 8), tiled when large; returns HxWx3 float32.

    Each tile is its kept centre (``tile − 2·TILE_MARGIN`` on a side) plus up to TILE_MARGIN pixels of context
    on every side; the network's receptive field reaches less than TILE_MARGIN pixels, so every kept output
    pixel sees exactly the inputs it would see in one untiled pass."""
    h, w = mask.shape
    x = image.transpose(2, 0, 1)[None]
    m = mask[None, None].astype(np.float32)
    f = fill.transpose(2, 0, 1)[None]
    if max(h, w) <= tile:
        return predict(model, x, m, f)[0].transpose(1, 2, 0)
    out = np.empty_like(image)
    step = tile - 2 * TILE_MARGIN
    pieces = []  # (window, kept rows and columns of the tile, where they go)
    for top in range(0, h, step):
        for left in range(0, w, step):
            r0, c0 = max(0, top - TILE_MARGIN), max(0, left - TILE_MARGIN)
            r1, c1 = min(h, top + step + TILE_MARGIN), min(w, left + step + TILE_MARGIN)
            keep = (slice(top - r0, min(top + step, h) - r0), slice(left - c0, min(left + step, w) - c0))
            pieces.append(((slice(r0, r1), slice(c0, c1)), keep, (slice(top, top + step), slice(left, left + step))))
    # Tiles of the same size go through the network together, as many at a time as the kernels split a batch
    # into parts: each core then works on its own tile (a batch of one would run its copies on one core).
    group = max(1, parallel.get_num_threads())
    by_size = {}
    for piece in pieces:
        window = piece[0]
        by_size.setdefault((window[0].stop - window[0].start, window[1].stop - window[1].start), []).append(piece)
    for same in by_size.values():
        for k in range(0, len(same), group):
            batch = same[k:k + group]
            windows = [p[0] for p in batch]
            filled = predict(model, np.concatenate([x[:, :, rows, cols] for rows, cols in windows]),
                             np.concatenate([m[:, :, rows, cols] for rows, cols in windows]),
                             np.concatenate([f[:, :, rows, cols] for rows, cols in windows]))
            for piece, result in zip(batch, filled):
                (rows, cols), target = piece[1], piece[2]
                out[target] = result[:, rows, cols].transpose(1, 2, 0)
    return out


def _fill_rgb(model, image, mask, tile):
    """Inpaint an HxWx3 float32 image (any size, some pixels known, some missing) with the coarse-to-fine rule
    of the module docstring; returns HxWx3 float32 (known pixels not yet pasted back)."""
    h, w = mask.shape
    start = STARTS[getattr(model, "start", "mean")]
    if start is known_mean:
        fill = known_mean(image.transpose(2, 0, 1)[None], mask[None, None].astype(np.float32))[0].transpose(1, 2, 0)
        fill = np.broadcast_to(fill, image.shape)
    else:
        fill = baselines.harmonic_fill(image, mask, tol=HARMONIC_TOL)
    if start is known_mean and min(h, w) >= 16 and hole_depth(mask, limit=REACH) > REACH:
        def solve(small_image, small_mask):
            return np.where(small_mask[:, :, None], _fill_rgb(model, small_image, small_mask, tile), small_image)

        coarse = baselines.coarse_to_fine(solve, image, mask)
        fill = fill if coarse is None else coarse.astype(np.float32)
    pad_h, pad_w = (-h) % 8, (-w) % 8
    mode = "reflect" if min(h, w) > max(pad_h, pad_w) else "edge"
    padded = lambda a: np.pad(a, ((0, pad_h), (0, pad_w)) + ((0, 0),) * (a.ndim - 2), mode=mode)
    result = _run(model, padded(image), padded(mask), padded(np.ascontiguousarray(fill)), tile)[:h, :w]
    if start is not known_mean:  # keep the correction only where the network can see known pixels
        weight = correction_weight(mask)[:, :, None]
        result = fill + weight * (result - fill)
    return np.clip(result, 0.0, 1.0)


def inpaint(image, mask, model=None, tile=DEFAULT_TILE):
    """Fill the masked pixels of ``image`` with a trained network; known pixels are returned unchanged, bit for bit.

    image: HxW (gray), HxWx1 or HxWx3 float32/float64 array in [0, 1]; mask: HxW bool or {0, 1}, True/1 = pixel
    to fill. model: an inpainting network, or the path of a checkpoint or weights file (read with
    ``checkpoints.load_model``); default ``load_pretrained()``. tile: the largest side processed at
    once, margins included (an integer >= MIN_TILE, rounded down to a multiple of 8). Returns a new array of the
    image's shape and dtype with values in [0, 1]; a gray image is filled as three equal channels whose mean is
    returned. Any size works (see the module docstring for padding, tiling and large holes).

    An empty mask returns a copy of the image (nothing to fill). A mask covering every pixel is a ValueError:
    with nothing known there is nothing to fill from. Other bad input raises TypeError (dtype) or ValueError
    (shape, values) naming what was wrong.
    """
    original, rgb, hole = check_image_and_mask(image, mask)
    tile = _check_tile(tile)
    if isinstance(model, (str, os.PathLike)):
        model = checkpoints.load_model(model)
    if model is not None and not isinstance(model, nn.Module):
        raise TypeError(
            f"inpaint: model must be a deconvlab network (an nn.Module) or the path of a checkpoint or weights "
            f"file, got {type(model).__name__}"
        )
    if not hole.any():
        return np.array(image, copy=True)
    if hole.all():
        raise InputError("inpaint", "the mask covers all {count} pixels of the image; there is nothing known to "
                         "fill from", count=hole.size)
    model = _default_model() if model is None else model
    filled = _fill_rgb(model, rgb, hole, tile)
    if original.shape[2] == 1:
        filled = filled.mean(axis=2, keepdims=True)
    out = np.where(hole[:, :, None], filled.astype(original.dtype), original)
    return out.reshape(np.shape(image))
