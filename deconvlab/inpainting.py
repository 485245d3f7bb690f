"""Filling holes in whole photos with a network: ``inpaint()`` and ``load_pretrained()``; imports nn, models,
checkpoints, baselines, masks, parallel, adaptation and errors.

A photo of any size is handled so that the cost follows the hole, not the photo, and every step is exact or
documented:

- Start. A network with the harmonic start (the pretrained ones: ``HoleNet`` by default, ``InpaintNet``)
  refines the harmonic fill, which ``baselines.harmonic_fill`` computes on the hole pixels only, hole group by
  hole group.
  For a mean-colour start, where the hole is deeper than REACH the image is first inpainted at half resolution
  (recursively), and that coarse fill, upsampled, replaces the mean colour: coarse to fine (this costs the
  photo).
- Regions. The network needs sides divisible by 8, so the photo is (virtually) padded by reflection to the next
  multiple of 8. Holes more than two margins apart are separate regions (``hole_regions``), each run on its
  window: the hole's bounding box on the 8-pixel grid grown by the network's margin (``margin_of``: 40 pixels
  for InpaintNet, whose output reads 39 pixels around it; TILE_MARGIN = 64 for a network that does not say), so
  the result at the hole is what one pass over the whole photo would give (to float32 rounding). Pixels far
  from every hole are never computed.
- Tiles and memory. A window larger than ``tile`` pixels a side goes in overlapping tiles of that size (each its
  kept centre plus the margin of context); tiles whose centre holds no hole pixel are skipped. Tiles of one size
  go through the network together, one per thread the kernels use, but never more than there are CPUs or than
  MEMORY_BUDGET allows (``tiles_in_flight``): memory is set by the tile size and the budget, not by the number
  of threads. Whole-image buffers are float32.
- Large holes. InpaintNet sees about ``REACH`` pixels around each missing pixel; with the harmonic start its
  correction is kept there and fades out deeper inside (``correction_weight``), where the result is the smooth
  harmonic fill. HoleNet (the default) reads farther (``receptive_radius`` 71) and gates its correction itself
  (``fades = False``).
"""
import numbers
import os
from importlib import resources

import numpy as np

from . import adaptation, baselines, checkpoints, nn, parallel
from .data import check_unit_range
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
PROGRESS_DELAY = 2.0
"""Seconds of work after which ``inpaint(..., progress=True)`` shows its bar (short work stays silent)."""
PRETRAINED = ("holenet", "inpaintnet", "vae")
"""The networks shipped in ``assets/weights``: "holenet" (the default, what ``inpaint`` uses: a HoleNet with
gated convolutions and the contrast gate, trained on holes from scratches to 64 px squares and blobs; it never
paints on smooth areas), "inpaintnet" (the smaller InpaintNet trained on 32×32 patches with holes up to 16 px:
as good on scratches, level with the harmonic fill on larger holes) and "vae" (an InpaintVAE, for several fills
per hole: ``inpaint(..., model=load_pretrained("vae"), samples=K)``). docs: "The pretrained networks"."""
DEFAULT_PRETRAINED = "holenet"
"""The bundled network ``load_pretrained()`` returns and ``inpaint`` uses when no model is given; the name
"default" stands for it."""


def load_pretrained(name="default"):
    """A network shipped with deconvlab, trained by deconvlab itself (docs: "The pretrained networks").

    ``name`` is one of ``PRETRAINED``, or "default" for ``DEFAULT_PRETRAINED``. Returns the network in eval mode
    (a ``HoleNet`` for "holenet", an ``InpaintNet`` for "inpaintnet", an ``InpaintVAE`` for "vae"). An unknown
    name is a ValueError listing the names; an installation without the weights file raises FileNotFoundError
    naming the file it looked for.
    """
    name = DEFAULT_PRETRAINED if name == "default" else name
    if name not in PRETRAINED:
        raise ValueError(f"load_pretrained: unknown model {name!r}; available: default, {', '.join(PRETRAINED)}")
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


def _native(a):
    """``a`` in the machine's byte order (a big-endian array from a file or another program converted)."""
    return a.astype(a.dtype.newbyteorder("=")) if a.dtype.byteorder not in ("=", "|") else a


def check_image_and_mask(image, mask):
    """Validate ``inpaint``'s inputs.

    Returns (image as HxWxC in its own dtype, C = 1 or 3; the same as float32 HxWx3; mask as bool HxW).
    The image must be float32 or float64 in either byte order (TypeError otherwise: no silent cast), HxW, HxWx1
    or HxWx3, finite, with values in [0, 1] (``data.check_unit_range``, the rule of ``save_image`` too); the mask must have the image's height and width and be bool or hold only 0 and 1
    (a non-binary mask is a ValueError: thresholding is the caller's decision, see ``masks.mask_from_image``).
    """
    image = _native(np.asarray(image))
    mask = _native(np.asarray(mask))
    if image.dtype not in (np.float32, np.float64):
        raise TypeError(f"inpaint: image must be a float32 or float64 array in [0, 1], got dtype {image.dtype}")
    if image.ndim == 2:
        image = image[:, :, None]
    elif not (image.ndim == 3 and image.shape[2] in (1, 3)):
        raise InputError("inpaint", "image must be HxW, HxWx1 or HxWx3, got shape {shape}", shape=image.shape)
    if min(image.shape[:2]) < 1:
        raise InputError("inpaint", "image has an empty side, shape {shape}", shape=image.shape)
    check_unit_range(image, "inpaint")
    image = np.clip(image, 0.0, 1.0)  # within check_unit_range's slack
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


def _padding(h, w):
    """How an h x w image is padded to the network's grid: (height, width, numpy pad mode)."""
    pad_h, pad_w = (-h) % 8, (-w) % 8
    return h + pad_h, w + pad_w, "reflect" if min(h, w) > max(pad_h, pad_w) else "edge"


def _window(a, r0, r1, c0, c1, mode):
    """Rows r0..r1 and columns c0..c1 of ``a`` padded at the bottom and right by numpy's ``mode`` ("reflect" or
    "edge"), without padding the whole array."""
    h, w = a.shape[:2]
    if r1 <= h and c1 <= w:
        return a[r0:r1, c0:c1]
    index = (lambda i, n: np.where(i < n, i, 2 * (n - 1) - i)) if mode == "reflect" else (
        lambda i, n: np.minimum(i, n - 1))
    return a[index(np.arange(r0, r1), h)][:, index(np.arange(c0, c1), w)]


def margin_of(model):
    """The context a network needs around each pixel it fills, in pixels, a multiple of 8: the smallest multiple
    of 8 above its ``receptive_radius`` (how far one output pixel reads, e.g. 39 for InpaintNet), or TILE_MARGIN
    for a network that does not say."""
    radius = getattr(model, "receptive_radius", None)
    return TILE_MARGIN if radius is None else (int(radius) // 8 + 1) * 8


def hole_regions(mask, margin=TILE_MARGIN):
    """The independent pieces of work of ``inpaint``: a list of (window, members) for the hole of an HxW mask.

    On the network's 8-pixel grid, the blocks holding hole pixels are grown by ``margin`` pixels (a multiple of
    8); each connected group of grown blocks is one region: its ``window`` (r0, r1, c0, c1), multiples of 8 on the
    grid of the padded image, is the bounding box of its hole blocks grown by ``margin``, and ``members`` are the
    (rows, cols) of its hole pixels. When the network's receptive field reaches less than ``margin`` pixels, the
    network run on the window alone computes exactly what a pass over the whole photo computes at the members.
    Holes far apart are separate regions; pixels farther than ``margin`` from every hole are in none."""
    from .masks import components

    h, w = mask.shape
    h8, w8, _ = _padding(h, w)
    grow = margin // 8
    blocks = np.pad(mask, ((0, h8 - h), (0, w8 - w))).reshape(h8 // 8, 8, w8 // 8, 8).any(axis=(1, 3))
    counts = np.pad(np.cumsum(np.cumsum(np.pad(blocks, grow), axis=0, dtype=np.int32), axis=1), ((1, 0), (1, 0)))
    k = 2 * grow + 1
    grown = (counts[k:, k:] - counts[:-k, k:] - counts[k:, :-k] + counts[:-k, :-k]) > 0
    labels = components(grown)[0]
    rows, cols = np.nonzero(mask)
    label = labels[rows // 8, cols // 8]
    order = np.argsort(label, kind="stable")
    regions = []
    for part in np.split(order, np.flatnonzero(np.diff(label[order])) + 1):
        r, c = rows[part], cols[part]
        window = (max(0, (r.min() // 8 - grow) * 8), min(h8, (r.max() // 8 + 1 + grow) * 8),
                  max(0, (c.min() // 8 - grow) * 8), min(w8, (c.max() // 8 + 1 + grow) * 8))
        regions.append((window, (r, c)))
    return regions


def _spans(lo, hi, tile, margin):
    """One axis of a window [lo, hi) cut into tiles of one length: (start, stop, kept start, kept stop) tuples.

    With n the fewest tiles of at most ``tile`` pixels that cover the window when each keeps ``margin`` pixels
    of context on its inner sides, every tile is T = ⌈(L + 2·margin·(n − 1))/n⌉ pixels long (rounded up to a
    multiple of 8), its kept part T − 2·margin (the window's edges need no context); the last tile ends at
    ``hi``. Equal tiles go through the network in full batches."""
    length = hi - lo
    if length <= tile:
        return [(lo, hi, lo, hi)]
    n = -(-(length - tile) // (tile - 2 * margin)) + 1
    size = min(tile, -(-(length + 2 * margin * (n - 1)) // (8 * n)) * 8)
    stride = size - 2 * margin
    spans = []
    for k in range(n):
        start = min(lo + k * stride, hi - size)
        kept = (lo if k == 0 else lo + k * stride + margin, hi if k == n - 1 else lo + (k + 1) * stride + margin)
        spans.append((start, start + size) + kept)
    return spans


def _tiles(window, members, tile, margin):
    """The tiles of a region's window: (tile window, kept window) pairs in absolute pixel coordinates, all of the
    same size (``_spans`` on each axis); only tiles whose kept part holds one of the ``members`` (the region's
    hole pixels) are listed — the others would only compute known pixels, which are pasted back unchanged."""
    r0, r1, c0, c1 = window
    rows, cols = members
    tiles = []
    for top, bottom, k0, k1 in _spans(r0, r1, tile, margin):
        in_rows = (rows >= k0) & (rows < k1)
        for left, right, j0, j1 in _spans(c0, c1, tile, margin):
            if np.any(in_rows & (cols >= j0) & (cols < j1)):
                tiles.append(((top, bottom, left, right), (k0, k1, j0, j1)))
    return tiles


MEMORY_BUDGET = 768 * 2**20
"""Bytes the network's tiles in flight may take in ``inpaint``, whatever the number of threads."""

BYTES_PER_TILE_PIXEL = 20
"""Peak memory of the network per tile pixel and per channel of its first layer (InpaintNet's ``width``):
measured about 590 bytes a pixel at width 32 (docs/performance.md). Tiles in flight = min(threads, budget /
(bytes per pixel × tile pixels)), at least one."""


def tiles_in_flight(model, tile_pixels):
    """How many tiles of ``tile_pixels`` pixels ``inpaint`` sends through ``model`` at once: one per thread of
    the kernels (each core then has a tile of its own), but no more than there are CPUs to run them (more
    would only hold more memory) and no more than MEMORY_BUDGET allows; at least one."""
    per_tile = BYTES_PER_TILE_PIXEL * getattr(model, "width", 32) * tile_pixels
    return max(1, min(parallel.get_num_threads(), parallel.cpu_count(), MEMORY_BUDGET // max(1, per_tile)))


def _network(model, image, mask, fill, regions, tile, margin, bar, noise=None):
    """The network's output at the hole pixels of each region of an HxWx3 float32 image: a list of (n, 3)
    float32 arrays, one per region of ``regions`` (``hole_regions``), in the order of the region's members.
    Tile by tile (``_tiles``), tiles of one size (from any region) in batches of ``tiles_in_flight``. ``bar``
    (a tqdm bar or None) advances by one per tile. ``noise`` (a sampling network's latent noise, one vector per
    8×8 block of the padded photo: (H/8, W/8, L)) is cut into tiles with them."""
    h, w = mask.shape
    _, _, mode = _padding(h, w)
    values = [np.array(fill[rows, cols], dtype=np.float32) for _, (rows, cols) in regions]
    jobs = [(tile_window, kept, k) for k, (window, members) in enumerate(regions)
            for tile_window, kept in _tiles(window, members, tile, margin)]
    if bar is not None:
        bar.total = (bar.total or 0) + len(jobs)
        bar.refresh()
    by_size = {}
    for job in jobs:
        r0, r1, c0, c1 = job[0]
        by_size.setdefault((r1 - r0, c1 - c0), []).append(job)
    for (th, tw), same in by_size.items():
        group = tiles_in_flight(model, th * tw)
        for k in range(0, len(same), group):
            batch = same[k:k + group]
            inputs = [[_window(a, *job[0], mode) for job in batch] for a in (image, mask, fill)]
            x = np.stack(inputs[0]).transpose(0, 3, 1, 2)
            m = np.stack(inputs[1])[:, None].astype(np.float32)
            f = np.stack(inputs[2]).transpose(0, 3, 1, 2)
            z = None if noise is None else np.stack(
                [noise[r0 // 8:r1 // 8, c0 // 8:c1 // 8] for (r0, r1, c0, c1), _, _ in batch]).transpose(0, 3, 1, 2)
            for (tile_window, kept, region), result in zip(batch, predict(model, x, m, f, side_by_side=True, noise=z)):
                rows, cols = regions[region][1]
                keep = np.flatnonzero((rows >= kept[0]) & (rows < kept[1]) & (cols >= kept[2]) & (cols < kept[3]))
                values[region][keep] = result[:, rows[keep] - tile_window[0], cols[keep] - tile_window[2]].T
            if bar is not None:
                bar.update(len(batch))
    return values


def _fill_rgb(model, image, mask, tile, bar=None, noise=None):
    """Inpaint an HxWx3 float32 image (any size, some pixels known, some missing) as the module docstring
    says; returns (rows, cols, values): the hole pixels and their filled (n, 3) float32 values in [0, 1].
    ``noise``: a sampling network's latent noise (``_network``)."""
    h, w = mask.shape
    start = STARTS[getattr(model, "start", "mean")]
    if start is known_mean:
        fill = known_mean(image.transpose(2, 0, 1)[None], mask[None, None].astype(np.float32))[0].transpose(1, 2, 0)
        fill = np.broadcast_to(fill, image.shape)
    else:
        fill = baselines.harmonic_fill(image, mask, tol=HARMONIC_TOL)
    if start is known_mean and min(h, w) >= 16 and hole_depth(mask, limit=REACH) > REACH:
        def solve(small_image, small_mask):
            rows, cols, values = _fill_rgb(model, small_image, small_mask, tile)
            filled = np.array(small_image, dtype=np.float32)
            filled[rows, cols] = values
            return filled

        coarse = baselines.coarse_to_fine(solve, image, mask)
        fill = fill if coarse is None else coarse.astype(np.float32)
    margin = max(margin_of(model), (2 * REACH) // 8 * 8 + 8)  # the correction weight below reads 2·REACH around
    regions = hole_regions(mask, margin)
    values = _network(model, image, mask, fill, regions, tile, margin, bar, noise)
    for ((r0, r1, c0, c1), (rows, cols)), v in zip(regions, values):
        if start is not known_mean and getattr(model, "fades", True):  # keep the correction only where the
            # network can see known pixels (HoleNet gates its correction itself)
            weight = correction_weight(mask[r0:r1, c0:c1])[rows - r0, cols - c0, None]
            start_values = fill[rows, cols]
            v[...] = start_values + weight * (v - start_values)
        np.clip(v, 0.0, 1.0, out=v)
    return (np.concatenate([r for _, (r, _) in regions]), np.concatenate([c for _, (_, c) in regions]),
            np.concatenate(values))


def _is_gray(image):
    """Whether the channels of an HxWx3 image are equal at every pixel (a gray photo stored as colour)."""
    return bool(np.array_equal(image[:, :, 0], image[:, :, 1]) and np.array_equal(image[:, :, 0], image[:, :, 2]))


PASSES = (1, 4, 16, 64)
"""The values ``inpaint(..., passes=)`` accepts: q² passes on a q×q grid of offsets, q = 1, 2, 4, 8."""


def _check_choice(value, allowed, name):
    """``value`` as an int if it is one of the integers ``allowed``; else an InputError naming the setting."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value not in allowed:
        raise InputError("inpaint", "{setting} must be one of {allowed}, got {got!r}", setting=Setting(name),
                         allowed=", ".join(map(str, allowed)), got=value)
    return int(value)


def _check_passes(passes):
    return int(round(np.sqrt(_check_choice(passes, PASSES, "passes"))))


class _Average:
    """The running sum of several fills of the hole pixels of ``hole`` (in float64), each added by its pixels'
    (rows, cols) or by their indices; ``result()`` is (rows, cols, mean values as float32)."""

    def __init__(self, hole):
        self.rows, self.cols = np.nonzero(hole)
        self.index = np.full(hole.shape, -1, dtype=np.int64)
        self.index[self.rows, self.cols] = np.arange(self.rows.size)
        self.total = np.zeros((self.rows.size, 3), dtype=np.float64)
        self.count = 0

    def add(self, where, values):
        self.total[where] += values
        self.count += 1

    def result(self):
        return self.rows, self.cols, (self.total / self.count).astype(np.float32)


def _fill_passes(model, rgb, hole, tile, q, bar):
    """``_fill_rgb`` averaged over q² passes, the photo moved by (a, b)·8/q pixels down and right for
    0 <= a, b < q (padded by mirroring the top rows and left columns, mask included; the padding is cropped
    again): the fill no longer depends on where the photo sits on the network's 8-pixel grid, exactly so for
    q = 8. Returns (rows, cols, values) like ``_fill_rgb``."""
    average = _Average(hole)
    step = 8 // q
    for a in range(q):
        for b in range(q):
            dy, dx = a * step, b * step
            moved = np.pad(rgb, ((dy, 0), (dx, 0), (0, 0)), mode="symmetric")
            moved_hole = np.pad(hole, ((dy, 0), (dx, 0)), mode="symmetric")
            r, c, v = _fill_rgb(model, moved, moved_hole, tile, bar)
            keep = (r >= dy) & (c >= dx)
            average.add(average.index[r[keep] - dy, c[keep] - dx], v[keep])
    return average.result()


ORIENTATIONS = (1, 2, 4, 8)
"""The values ``inpaint(..., orientations=)`` accepts: how many of the square's eight symmetries
(``_ORIENTATION_STEPS``) the photo is seen in."""

# The square's symmetries as (transpose, flip rows, flip columns), applied in that order; the first k are the
# ensemble of ``orientations=k``: the photo as it is and mirrored left to right (2), also upside down and turned
# by 180° (4), and the same four transposed (8).
_ORIENTATION_STEPS = ((False, False, False), (False, False, True), (False, True, False), (False, True, True),
                      (True, False, False), (True, False, True), (True, True, False), (True, True, True))


def _check_orientations(orientations):
    return _check_choice(orientations, ORIENTATIONS, "orientations")


def _orient(a, step):
    """``a`` (H, W, ...) seen in the symmetry ``step`` = (transpose, flip rows, flip columns), as a C-contiguous
    copy."""
    transpose, flip_rows, flip_cols = step
    a = a.swapaxes(0, 1) if transpose else a
    a = a[::-1] if flip_rows else a
    return np.ascontiguousarray(a[:, ::-1] if flip_cols else a)


def _fill_oriented(model, rgb, hole, tile, q, k, bar):
    """The fill (``_fill_rgb``, or ``_fill_passes`` for q > 1) averaged over the photo seen in the first ``k``
    of ``_ORIENTATION_STEPS``: each view is filled, its values taken back to their pixels in the photo and
    averaged (a self-ensemble). With k = 8 the fill commutes with every mirroring and quarter turn of the photo
    (to float rounding). Returns (rows, cols, values) like ``_fill_rgb``."""
    average = _Average(hole)
    for step in _ORIENTATION_STEPS[:k]:
        view_hole = _orient(hole, step)
        where = _orient(average.index, step)  # where[r, c]: the hole index of the photo's pixel seen at (r, c)
        args = (model, _orient(rgb, step), view_hole, tile)
        r, c, v = _fill_rgb(*args, bar) if q == 1 else _fill_passes(*args, q, bar)
        average.add(where[r, c], v)
    return average.result()


def inpaint(image, mask, model=None, tile=DEFAULT_TILE, progress=False, passes=1, samples=None, seed=None,
            orientations=1, adapt=0):
    """Fill the masked pixels of ``image`` with a trained network; known pixels are returned unchanged, bit for bit.

    image: HxW (gray), HxWx1 or HxWx3 float32/float64 array in [0, 1]; mask: HxW bool or {0, 1}, True/1 = pixel
    to fill. model: an inpainting network, or the path of a checkpoint or weights file (read with
    ``checkpoints.load_model``); default ``load_pretrained()``. tile: the largest side processed at
    once, margins included (an integer >= MIN_TILE, rounded down to a multiple of 8). progress: show a tqdm
    bar on stderr (it appears only if the work takes more than two seconds). passes: 1, or 4, 16 or 64 fills of
    the photo moved by fractions of the network's 8-pixel grid, averaged (``_fill_passes``): the fill then
    depends less on where the photo sits on that grid (not at all with 64), for that many times the work.
    orientations: 1, or 2, 4 or 8 fills of the photo seen mirrored and turned (``ORIENTATIONS``,
    ``_fill_oriented``), averaged: a self-ensemble that is a little more accurate (docs: "Pretrained weights"),
    for that many times the work; it combines with ``passes`` (passes × orientations fills).
    adapt: 0, or a number of training steps: a copy of the network is first fine-tuned on the photo's own known
    pixels, with synthetic holes shaped like the mask's (``adaptation.adapt``, its patches drawn from ``seed``,
    None counting as 0: the same call gives the same fill; a self-check keeps the weights, the unadapted ones
    included, that fill synthetic holes held out of the adaptation best), and that copy fills the holes;
    ``model`` itself is not changed. It costs the steps (about 0.2–1.3 s each on two cores, by the size of the largest hole) and is
    more accurate on most photos, not all (docs: "Pretrained weights"). It combines with ``passes`` and
    ``orientations``, not with ``samples``.
    samples: with a network that samples (``models.InpaintVAE``, ``--model vae``), K > 0 fills drawn from its
    prior, each with its own latent noise (one standard normal vector per 8×8 block of the photo, from
    ``seed``: the same seed gives the same fills), returned stacked as a (K, ...) array; with samples=None
    such a network gives its most likely fill (z = the prior's mean).
    Returns a new array of the image's shape and dtype with values in [0, 1]; a gray image is filled as three equal channels whose mean is
    returned, and so is the mean for a colour image whose three channels are equal at every pixel (a gray
    photo stays gray). Any size works, and the cost follows the hole (see the module docstring).

    An empty mask returns a copy of the image (nothing to fill). A mask covering every pixel is a ValueError:
    with nothing known there is nothing to fill from. Other bad input raises TypeError (dtype) or ValueError
    (shape, values) naming what was wrong.
    """
    original, rgb, hole = check_image_and_mask(image, mask)
    tile = _check_tile(tile)
    q = _check_passes(passes)
    k = _check_orientations(orientations)
    steps = adaptation.check_steps(adapt, "inpaint", "adapt")
    if isinstance(model, (str, os.PathLike)):
        model = checkpoints.load_model(model)
    if model is not None and not isinstance(model, nn.Module):
        raise TypeError(
            f"inpaint: model must be a deconvlab network (an nn.Module) or the path of a checkpoint or weights "
            f"file, got {type(model).__name__}"
        )
    if not hole.any():
        copy = np.array(image, copy=True)
        return copy if samples is None else np.stack([copy] * samples)
    if hole.all():
        raise InputError("inpaint", "the mask covers all {count} pixels of the image; there is nothing known to "
                         "fill from", count=hole.size)
    model = _default_model() if model is None else model
    if samples is not None:
        if isinstance(samples, (bool, np.bool_)) or not isinstance(samples, numbers.Integral) or samples < 1:
            raise InputError("inpaint", "{samples} must be a positive integer, got {got!r}",
                             samples=Setting("samples"), got=samples)
        if not hasattr(model, "latent"):
            raise InputError("inpaint", "{samples} needs a network that samples (a VAE: the bundled one is "
                             "load_pretrained('vae'), on the command line --model vae); this network ({kind}) gives "
                             "one fill", samples=Setting("samples"), kind=type(model).__name__)
        for name, used in (("passes", q != 1), ("orientations", k != 1), ("adapt", steps > 0)):
            if used:
                raise InputError("inpaint", "{samples} and {other} cannot be combined; give one",
                                 samples=Setting("samples"), other=Setting(name))
    from tqdm.auto import tqdm

    if steps:
        with tqdm(total=steps, desc="adapting", unit="step", delay=PROGRESS_DELAY, disable=not progress,
                  leave=False) as bar:
            model = adaptation.adapt(model, rgb, hole, steps, seed=0 if seed is None else seed,
                                     bar=bar if progress else None)
    with tqdm(total=0, desc="inpainting", unit="tile", delay=PROGRESS_DELAY, disable=not progress, leave=False) as bar:
        bar = bar if progress else None
        if samples is not None:
            height, width, _ = _padding(*hole.shape)
            rng = np.random.default_rng(seed)
            draws = [_fill_rgb(model, rgb, hole, tile, bar, rng.standard_normal(
                (height // 8, width // 8, model.latent)).astype(np.float32)) for _ in range(samples)]
            return np.stack([_paste(original, image, *draw) for draw in draws])
        if k > 1:
            rows, cols, values = _fill_oriented(model, rgb, hole, tile, q, k, bar)
        elif q > 1:
            rows, cols, values = _fill_passes(model, rgb, hole, tile, q, bar)
        else:
            rows, cols, values = _fill_rgb(model, rgb, hole, tile, bar)
    return _paste(original, image, rows, cols, values)


def _paste(original, image, rows, cols, values):
    """The (H, W, C) ``original`` with (n, 3) ``values`` at the hole pixels (averaged to gray for a gray photo),
    in the shape and dtype of the caller's ``image``."""
    if original.shape[2] == 1:
        values = values.mean(axis=1, keepdims=True)
    elif _is_gray(original):  # a gray photo stored as three equal channels stays gray
        values = np.repeat(values.mean(axis=1, keepdims=True), 3, axis=1)
    out = np.array(original, copy=True)
    out[rows, cols] = values.astype(original.dtype)
    return out.reshape(np.shape(image))
