"""Filling holes in whole photos with a trained network: ``inpaint()`` and ``load_pretrained()``; imports train, models.

A photo of any size is handled by three mechanisms, each exact or documented:

- Size. The network is fully convolutional but needs sides divisible by 8: the image is padded by reflection
  to the next multiple of 8 and the result cropped back.
- Memory. Images larger than ``tile`` pixels on a side are processed in overlapping tiles; each tile carries a
  margin of ``TILE_MARGIN`` pixels (more than the network's receptive field reaches), and only its centre is
  kept, so tiling changes nothing but memory use.
- Large holes. The network sees about ``REACH`` pixels around each missing pixel. Where the hole is deeper than
  that (some missing pixel is more than REACH pixels from every known one), the image is first inpainted at
  half resolution (recursively, until the hole fits), and that coarse fill, upsampled, replaces the mean
  colour as the starting value inside the hole: coarse to fine.
"""
import os
from importlib import resources

import numpy as np

from . import train
from .models import known_mean

REACH = 12
TILE_MARGIN = 64  # tile sizes and margins are multiples of 8, so every tile sits on the network's grid
DEFAULT_TILE = 512
PRETRAINED = ("default",)


def load_pretrained(name="default"):
    """The network shipped with deconvlab, trained by deconvlab itself (see docs: "Pretrained weights").

    ``name`` is one of ``PRETRAINED``. Returns an ``InpaintNet`` in eval mode.
    """
    if name not in PRETRAINED:
        raise ValueError(f"load_pretrained: unknown model {name!r}; available: {', '.join(PRETRAINED)}")
    ref = resources.files(__package__).joinpath("assets").joinpath("weights").joinpath(f"{name}.npz")
    with resources.as_file(ref) as path:
        return train.load_model(os.fspath(path))


_cached_default = []


def _default_model():
    if not _cached_default:
        _cached_default.append(load_pretrained())
    return _cached_default[0]


def check_image_and_mask(image, mask):
    """Validate ``inpaint``'s inputs; returns (image as float32 HxWxC, mask as bool HxW, was_gray)."""
    image = np.asarray(image)
    mask = np.asarray(mask)
    if image.dtype.kind != "f":
        raise TypeError(f"inpaint: image must be a float array in [0, 1], got dtype {image.dtype}")
    if image.ndim == 2:
        gray = True
        image = image[:, :, None]
    elif image.ndim == 3 and image.shape[2] in (1, 3):
        gray = image.shape[2] == 1
    else:
        raise ValueError(f"inpaint: image must be HxW or HxWx3 (or HxWx1), got shape {image.shape}")
    if min(image.shape[:2]) < 1:
        raise ValueError(f"inpaint: image has an empty side, shape {image.shape}")
    if not np.isfinite(image).all():
        raise ValueError("inpaint: image contains NaN or infinite values")
    lo, hi = float(image.min()), float(image.max())
    if lo < 0 or hi > 1:
        raise ValueError(f"inpaint: image values must lie in [0, 1], got min {lo:.4g}, max {hi:.4g}")
    if mask.shape != image.shape[:2]:
        raise ValueError(f"inpaint: mask has shape {mask.shape}, expected {image.shape[:2]} (the image's height and width)")
    if mask.dtype != bool:
        if mask.dtype.kind not in "biuf" or not np.isin(mask, (0, 1)).all():
            raise ValueError("inpaint: mask must be boolean or contain only 0 and 1 (1 = pixel to fill)")
        mask = mask.astype(bool)
    image = image.astype(np.float32)
    if gray:
        image = np.repeat(image, 3, axis=2)
    return image, mask, gray


def hole_depth(mask):
    """How many pixels the deepest missing pixel lies from the nearest known one (chessboard distance):
    the number of 3x3 erosions that empty the hole. 0 for an empty mask."""
    m = mask.copy()
    depth = 0
    while m.any():
        if m.all():
            return max(m.shape)
        padded = np.pad(m, 1, constant_values=False)
        eroded = np.ones_like(m)
        for di in range(3):
            for dj in range(3):
                eroded &= padded[di:di + m.shape[0], dj:dj + m.shape[1]]
        m = eroded
        depth += 1
    return depth


def _run(model, image, mask, fill, tile):
    """The network on one HxWx3 image (sides multiple of 8), tiled when large; returns HxWx3 float32."""
    h, w = mask.shape
    x = image.transpose(2, 0, 1)[None]
    m = mask[None, None].astype(np.float32)
    f = fill.transpose(2, 0, 1)[None]
    if max(h, w) <= tile:
        return train.predict(model, x, m, f)[0].transpose(1, 2, 0)
    out = np.empty_like(image)
    step = tile - 2 * TILE_MARGIN
    for top in range(0, h, step):
        for left in range(0, w, step):
            r0, c0 = max(0, top - TILE_MARGIN), max(0, left - TILE_MARGIN)
            r1, c1 = min(h, top + step + TILE_MARGIN), min(w, left + step + TILE_MARGIN)
            piece = train.predict(model, x[:, :, r0:r1, c0:c1], m[:, :, r0:r1, c0:c1], f[:, :, r0:r1, c0:c1])
            rows = slice(top - r0, min(top + step, h) - r0)
            cols = slice(left - c0, min(left + step, w) - c0)
            out[top:top + step, left:left + step] = piece[0, :, rows, cols].transpose(1, 2, 0)
    return out


def _fill_rgb(model, image, mask, tile):
    """Inpaint an HxWx3 float32 image (any size) with the coarse-to-fine rule of the module docstring."""
    h, w = mask.shape
    if not mask.any():
        return image.copy()
    if mask.all():
        raise ValueError("inpaint: the mask covers the whole image; there is nothing to fill from")
    fill = np.broadcast_to(known_mean(image.transpose(2, 0, 1)[None], mask[None, None].astype(np.float32))[0].transpose(1, 2, 0), image.shape)
    if hole_depth(mask) > REACH and min(h, w) >= 16:
        small_image = _downsample(image)
        small_mask = _downsample(mask.astype(np.float32)) > 0.5
        if small_mask.any() and not small_mask.all():
            coarse = _fill_rgb(model, small_image, small_mask, tile)
            fill = _upsample(coarse, h, w)
    pad_h, pad_w = (-h) % 8, (-w) % 8
    mode = "reflect" if min(h, w) > max(pad_h, pad_w) else "edge"
    padded = lambda a: np.pad(a, ((0, pad_h), (0, pad_w)) + ((0, 0),) * (a.ndim - 2), mode=mode)
    result = _run(model, padded(image), padded(mask), padded(np.ascontiguousarray(fill)), tile)[:h, :w]
    return np.where(mask[:, :, None], np.clip(result, 0.0, 1.0), image)


def _downsample(a):
    """Half resolution by 2x2 averaging (an odd last row/column is averaged with itself)."""
    if a.shape[0] % 2:
        a = np.concatenate([a, a[-1:]], axis=0)
    if a.shape[1] % 2:
        a = np.concatenate([a, a[:, -1:]], axis=1)
    return (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]) / 4


def _upsample(a, h, w):
    """Nearest-neighbour upsampling by 2, cropped to h x w."""
    return np.repeat(np.repeat(a, 2, axis=0), 2, axis=1)[:h, :w]


def inpaint(image, mask, model=None, tile=DEFAULT_TILE):
    """Fill the masked pixels of ``image`` with a trained network; known pixels are returned unchanged.

    image: HxWx3 (or HxW gray) float array in [0, 1]; mask: HxW bool or {0, 1}, True/1 = pixel to fill.
    model: an inpainting network (default: ``load_pretrained()``). Returns an array of the image's shape,
    float32 in [0, 1]. Any size works (see the module docstring for padding, tiling and large holes).
    Bad input raises TypeError/ValueError naming what was wrong.
    """
    rgb, hole, gray = check_image_and_mask(image, mask)
    if not isinstance(tile, int) or tile < 2 * TILE_MARGIN + 8 or tile % 8:
        raise ValueError(f"inpaint: tile must be a multiple of 8 and >= {2 * TILE_MARGIN + 8}, got {tile!r}")
    model = _default_model() if model is None else model
    out = _fill_rgb(model, rgb, hole, tile)
    if gray:
        out = out.mean(axis=2)
        return out if np.asarray(image).ndim == 2 else out[:, :, None]
    return out
