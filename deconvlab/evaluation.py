"""The network against classical fills, every method on the same holes; imports inpainting, models, data, masks,
metrics and baselines (OpenCV, when installed, for two more classical fills).

Two protocols, both on held-out photos that training never sees:

- ``evaluate`` (``deconvlab evaluate --crops``): fixed crops (P x P, default 32) of the photos, one fixed set of
  masks per kind of ``masks.MASK_KINDS``, scored as the pooled hole PSNR beside the per-image mean hole PSNR,
  full-image PSNR, hole L1 and SSIM.
- ``evaluate_whole`` (``deconvlab evaluate --whole``): seeded masks of the six kinds of ``masks.WHOLE_KINDS``
  (strokes of 2–6 px, rectangles of 8–24 px, squares of 48, 64 and 96 px, object-sized blobs) on each whole
  photo, filled by ``deconvlab.inpaint`` and the classical fills; per kind the pooled hole PSNR, SSIM in boxes
  around the holes, and a texture statistic (``metrics.patch_swd``), the worst photo of the network against
  the harmonic fill, the time per photo, and how much the network's fill moves when the photo is shifted.

The headline of both is the pooled hole PSNR,

    PSNR = 10·log10(1 / MSE),  MSE = Σ_images Σ_hole (y − x)² / (number of hole values over all images).
"""
import math
import time

import numpy as np

from . import baselines, data, inpainting, masks, metrics
from .masks import MASK_KINDS, WHOLE_KINDS
from .models import predict


def eval_set(images, n_crops=200, patch_size=32, seed=1234):
    """A fixed set of crops (N, 3, P, P) from ``images`` (no flips): the same crops in every run with ``seed``."""
    return data.PatchSampler(images, patch_size=patch_size, batch_size=n_crops, seed=seed, flips=False).sample()


def eval_masks(kind, n, size, seed=4321):
    """Fixed masks (N, 1, P, P) float32 of one kind; ``center`` is the centred square of half the patch side."""
    if kind == "center":
        m = masks.center_square(size, size, size // 2)
        return np.repeat(m[None, None], n, axis=0).astype(np.float32)
    return masks.mask_batch(n, size, size, kind=kind, seed=seed).astype(np.float32)


def available_baselines():
    """Baseline names usable here: mean and harmonic always, biharmonic when scikit-image is installed."""
    names = ["mean", "harmonic"]
    try:
        import skimage.restoration  # noqa: F401
    except ImportError:
        return names
    return names + ["biharmonic"]


def evaluate(model, images, kinds=MASK_KINDS, n_crops=200, patch_size=32, methods=None, seed=1234):
    """Score ``model`` and the baselines on the same crops and masks.

    images: a list of HxWx3 float arrays; kinds: mask kinds (``center`` = centred square of half the side);
    methods: baseline names (default ``available_baselines()``). Returns
    {kind: {method: scores}} with scores as ``metrics.inpainting_scores``; the model is listed as "model".
    """
    methods = available_baselines() if methods is None else list(methods)
    crops = eval_set(images, n_crops, patch_size, seed=seed)
    results = {}
    for kind in kinds:
        hole = eval_masks(kind, crops.shape[0], patch_size, seed=seed + 1)
        holes = hole[:, 0] > 0.5
        filled = {}
        if model is not None:
            filled["model"] = predict(model, crops, hole)
        for name in methods:
            filled[name] = baselines.fill_batch(name, crops, holes)
        results[kind] = {name: metrics.inpainting_scores(out, crops, holes) for name, out in filled.items()}
    return results


def format_results(results):
    """A text table: one block per mask kind, one row per method, headline column first."""
    lines = []
    header = f"{'mask':12s} {'method':11s} {'hole PSNR':>10s} {'mean PSNR':>10s} {'full PSNR':>10s} {'hole L1':>8s} {'SSIM':>6s}"
    lines.append(header)
    lines.append("-" * len(header))
    for kind, rows in results.items():
        for name, s in rows.items():
            lines.append(
                f"{kind:12s} {name:11s} {s['hole_psnr']:10.2f} {s['mean_hole_psnr']:10.2f} "
                f"{s['full_psnr']:10.2f} {s['hole_l1']:8.4f} {s['ssim']:6.3f}"
            )
    lines.append("PSNR in dB over the hole pixels pooled across all crops (the headline), then per-crop mean and full image.")
    return "\n".join(lines)


def to_jsonable(value):
    """``value`` (nested dicts, lists, tuples and numbers) with every number a plain float or int, and every
    infinite or NaN number None: strict JSON has no Infinity (a PSNR is infinite when a fill is exact). The
    caller says so in its output (see the command's "null" note)."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)) or value is None or isinstance(value, str):
        return value if not isinstance(value, np.bool_) else bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    number = float(value)
    return number if math.isfinite(number) else None


def margin(results, kind="center", over="biharmonic"):
    """The model's pooled hole-PSNR lead over a baseline for one mask kind, in dB."""
    rows = results[kind]
    if over not in rows:
        over = "harmonic"
    return float(rows["model"]["hole_psnr"] - rows[over]["hole_psnr"])


# ------------------------------------------------------------------------------------------- whole photos

def _opencv():
    try:
        import cv2
    except ImportError:
        return None
    return cv2


def _opencv_fill(flag_name, radius=5):
    """A classical fill by OpenCV's ``cv2.inpaint`` (``INPAINT_TELEA``: Telea's fast marching; ``INPAINT_NS``:
    Navier–Stokes), on the image rounded to 8 bits (what cv2.inpaint takes for 3 channels); known pixels are
    returned exactly."""

    def fill(image, mask):
        cv2 = _opencv()
        pixels = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
        filled = cv2.inpaint(pixels, mask.astype(np.uint8) * 255, radius, getattr(cv2, flag_name))
        return np.where(mask[:, :, None], filled.astype(image.dtype) / 255, image)

    return fill


def whole_photo_methods():
    """The classical fills ``evaluate_whole`` compares the network with, by name: harmonic and mean always,
    biharmonic when scikit-image is installed, Telea and Navier–Stokes when OpenCV is."""
    methods = {"harmonic": baselines.harmonic_fill, "mean": baselines.mean_fill}
    if "biharmonic" in available_baselines():
        methods["biharmonic"] = baselines.biharmonic_fill
    if _opencv() is not None:
        methods["telea"] = _opencv_fill("INPAINT_TELEA")
        methods["navier-stokes"] = _opencv_fill("INPAINT_NS")
    return methods


def whole_photo_mask(kind, shape, photo_index, seed=1234):
    """The mask of one kind on one photo of the whole-photo protocol: ``masks.make_mask`` seeded by (seed, the
    kind's position in WHOLE_KINDS, the photo's index), so every method and every run sees the same holes."""
    stream = np.random.default_rng([seed, WHOLE_KINDS.index(kind), photo_index])
    return masks.make_mask(kind, shape[0], shape[1], seed=stream)


def shift_change(model, image, mask, shifts=range(1, 8), margin=inpainting.TILE_MARGIN, **options):
    """How much the network's fill moves when the photo moves: for each shift k, the photo without its first k
    rows and columns is filled and compared with the fill of the whole photo, over the hole pixels of the holes
    at least ``margin`` pixels from the new top and left borders (so that only the position on the network's
    8-pixel grid changes, not what the network sees). Returns (mean, largest) absolute change, or None when no
    hole is far enough from the border. ``options`` go to ``inpaint`` (e.g. ``passes``)."""
    full = inpainting.inpaint(image, mask, model=model, **options)
    labels, boxes = masks.components(mask)
    total, count, largest = 0.0, 0, 0.0
    for k in shifts:
        far = np.flatnonzero((boxes[:, 0] >= k + margin) & (boxes[:, 1] >= k + margin)) + 1
        keep = np.isin(labels[k:, k:], far)
        if not keep.any():
            continue
        moved = inpainting.inpaint(image[k:, k:], mask[k:, k:], model=model, **options)
        change = np.abs(moved[keep] - full[k:, k:][keep])
        total, count, largest = total + float(change.sum()), count + change.size, max(largest, float(change.max()))
    return None if count == 0 else (total / count, largest)


def synthetic_smooth_images(h=192, w=256):
    """The images on which a fill should add nothing to the harmonic fill: flat grey, a horizontal ramp and a
    diagonal colour ramp (linear functions are harmonic: the harmonic fill recovers them exactly away from the
    image border). dict name -> HxWx3."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = 0.2 + 0.6 * xx / (w - 1)
    diagonal = np.stack([0.3 + 0.4 * (xx + yy) / (h + w - 2), 0.6 - 0.3 * yy / (h - 1), 0.25 + 0.5 * xx / (w - 1)], 2)
    return {"flat grey": np.full((h, w, 3), 0.5, np.float32), "ramp": np.repeat(ramp[:, :, None], 3, axis=2),
            "diagonal ramp": diagonal.astype(np.float32)}


def smooth_deviation(model, kinds=WHOLE_KINDS, seed=1234, **options):
    """The largest |network fill − harmonic fill| (in intensity units, 1 = white) over the hole pixels of
    ``synthetic_smooth_images`` with the whole-photo masks of each kind: bands, frames or grids painted on
    smooth areas show up here. Returns {kind: (largest deviation, the image where it occurred)}. ``options``
    go to ``inpaint`` (e.g. ``orientations``)."""
    out = {}
    for kind in kinds:
        worst = (0.0, None)
        for index, (name, image) in enumerate(synthetic_smooth_images().items()):
            hole = whole_photo_mask(kind, image.shape[:2], index, seed)
            deviation = float(np.abs(inpainting.inpaint(image, hole, model=model, **options)[hole]
                                     - baselines.harmonic_fill(image, hole)[hole]).max())
            worst = max(worst, (deviation, name), key=lambda t: t[0])
        out[kind] = worst
    return out


def sample_methods(model, samples, seed=1234):
    """The rows a sampling network (``models.InpaintVAE``) adds to ``evaluate_whole`` with K = ``samples``
    fills per hole (``inpaint(..., samples=K, seed=seed)``, drawn once per photo and hole and shared by the
    rows): "sample" (the first draw: what one fill looks like), "mean of K" (their average), "best of K" (the
    draw closest to the photo: an oracle that needs the truth, the quality of the best proposal). Returns
    (methods, diversity): the fill functions by name, and a function giving the mean pairwise L1 distance
    between the draws inside the hole of one (image, mask)."""
    cache = {}

    def draws(image, mask):
        key = (id(image), id(mask))
        if key not in cache:
            cache.clear()
            cache[key] = inpainting.inpaint(image, mask, model=model, samples=samples, seed=seed)
        return cache[key]

    def best(image, mask):
        fills = draws(image, mask)
        return fills[int(np.argmax([metrics.hole_psnr(f, image, mask) for f in fills]))]

    def diversity(image, mask):
        fills = draws(image, mask)[:, mask]
        pairs = [(i, j) for i in range(len(fills)) for j in range(i + 1, len(fills))]
        return float(np.mean([np.abs(fills[i] - fills[j]).mean() for i, j in pairs])) if pairs else 0.0

    methods = {"sample": lambda image, mask: draws(image, mask)[0],
               f"mean of {samples}": lambda image, mask: draws(image, mask).mean(axis=0),
               f"best of {samples}": best}
    return methods, diversity


DECODER_LAYERS = ("dec3", "dec2", "dec1")
"""The upsampling layers of InpaintNet and HoleNet, 1/8 → 1/4 → 1/2 → 1 scale."""


def decoder_nyquist(model, photos, patch=96, count=16, kind="square-48", seed=1234):
    """How much checkerboard a network's decoder makes: the median ``metrics.nyquist_share`` over the channels of
    each upsampling layer's output (``DECODER_LAYERS``), on ``count`` seeded ``patch``-pixel patches of
    ``photos`` (a list of HxWx3 images) with a hole of ``kind`` each. A resize-convolution decoder gives ~0 (its
    nearest upsampling has no Nyquist energy, and a convolution adds none); a transposed convolution that has
    drifted from that form in training, more. Returns {layer: median share}."""
    x = data.PatchSampler(list(photos), patch_size=patch, batch_size=count, seed=seed).sample()
    stream = np.random.default_rng(seed)
    m = np.stack([masks.make_mask(kind, patch, patch, seed=int(stream.integers(2**31)))[None]
                  for _ in range(count)]).astype(np.float32)
    layers = {name: getattr(model, name) for name in DECODER_LAYERS}
    outputs = {}

    def recording(name, forward):
        def run(t):
            out = forward(t)
            outputs[name] = out.data
            return out
        return run

    for name, layer in layers.items():  # an instance attribute: the class's forward is untouched
        layer.forward = recording(name, layer.forward)
    try:
        predict(model, x, m)
    finally:
        for layer in layers.values():
            del layer.forward
    return {name: float(np.nanmedian(metrics.nyquist_share(outputs[name]))) for name in DECODER_LAYERS}


def evaluate_whole(model, photos, kinds=WHOLE_KINDS, seed=1234, shifts=range(1, 8), progress=False, samples=None,
                   orientations=1, passes=1, adapt=0):
    """Every method on the same seeded holes of whole photos (the module docstring's second protocol).

    ``model``: the network (filled with ``deconvlab.inpaint``; None for the classical fills only); ``photos``: a
    dict name -> HxWx3 float image; ``kinds``: from ``masks.WHOLE_KINDS``; ``shifts``: the shifts of
    ``shift_change`` (empty for none). Returns a dict: ``kinds`` {kind: {method: {hole_psnr, box_ssim, swd,
    seconds_per_photo, grid}}}, ``per_photo`` {kind: {method: {photo: hole_psnr}}}, ``worst`` {kind: (photo, network
    − harmonic dB)}, ``shift`` {kind: (mean, largest) or None} and, with a model, ``smooth`` (``smooth_deviation``).
    ``samples`` K with a sampling network: the rows of ``sample_methods`` too, and ``diversity`` {kind: mean
    pairwise L1 between the K fills inside the holes}. ``orientations``, ``passes``, ``adapt``: the network fills
    with ``inpaint(..., orientations=, passes=, adapt=)`` (its shift change and smooth deviation too).
    """
    from tqdm.auto import tqdm

    methods = dict(whole_photo_methods())
    diversity = None
    options = dict(orientations=orientations, passes=passes, adapt=adapt)
    if model is not None:
        methods = {"network": lambda image, mask: inpainting.inpaint(image, mask, model=model, **options), **methods}
        if samples:
            extra, diversity = sample_methods(model, samples, seed)
            methods = {"network": methods.pop("network"), **extra, **methods}
    result = {"kinds": {}, "per_photo": {}, "worst": {}, "shift": {}}
    if diversity is not None:
        result["diversity"] = {}
    names = list(photos)
    with tqdm(total=len(kinds) * len(names), desc="evaluating", unit="photo", disable=not progress) as bar:
        for kind in kinds:
            sums = {m: [0.0, 0, 0.0, 0.0, 0.0, 0.0] for m in methods}  # squared error, values, ssim·n, swd·n,
            # seconds, period-8 grid share of the error
            per_photo = {m: {} for m in methods}
            shift_totals, spread = [], []
            for index, name in enumerate(names):
                image = photos[name]
                hole = whole_photo_mask(kind, image.shape[:2], index, seed)
                n = int(hole.sum())
                if diversity is not None:
                    spread.append(diversity(image, hole))
                for method, fill in methods.items():
                    start = time.perf_counter()
                    out = fill(image, hole)
                    seconds = time.perf_counter() - start
                    error = float(np.sum((out[hole].astype(np.float64) - image[hole]) ** 2))
                    entry = sums[method]
                    entry[0] += error
                    entry[1] += n * image.shape[2]
                    entry[2] += n * metrics.box_ssim(out, image, hole)
                    entry[3] += n * metrics.patch_swd(out, image, hole, seed=seed)
                    entry[4] += seconds
                    entry[5] += metrics.grid_energy_share(np.where(hole[:, :, None], out - image, 0.0))
                    per_photo[method][name] = metrics.hole_psnr(out, image, hole)
                if model is not None and len(shifts):
                    shift_totals.append(shift_change(model, image, hole, shifts, **options))
                bar.update(1)
            pixels = sum(int(whole_photo_mask(kind, photos[nm].shape[:2], i, seed).sum()) for i, nm in enumerate(names))
            result["kinds"][kind] = {
                m: dict(hole_psnr=10 * math.log10(1 / (e[0] / e[1])) if e[0] > 0 else math.inf,
                        box_ssim=e[2] / pixels, swd=e[3] / pixels, seconds_per_photo=e[4] / len(names),
                        grid=e[5] / len(names))
                for m, e in sums.items()}
            result["per_photo"][kind] = per_photo
            if diversity is not None:
                result["diversity"][kind] = float(np.mean(spread))
            if model is not None:
                losses = {nm: per_photo["network"][nm] - per_photo["harmonic"][nm] for nm in names}
                worst = min(losses, key=losses.get)
                result["worst"][kind] = (worst, losses[worst])
                measured = [s for s in shift_totals if s is not None]
                result["shift"][kind] = None if not measured else (
                    float(np.mean([s[0] for s in measured])), float(max(s[1] for s in measured)))
    if model is not None:
        result["smooth"] = smooth_deviation(model, kinds, seed, **options)
    return result


def format_whole(result):
    """A text table of ``evaluate_whole``'s result: per mask kind one row per method (pooled hole PSNR, SSIM
    around the holes, patch SWD, seconds per photo), then the network's worst photo against the harmonic fill
    and its shift dependence."""
    header = f"{'mask':17s} {'method':14s} {'hole PSNR':>9s} {'box SSIM':>8s} {'SWD':>7s} {'grid':>6s} {'s/photo':>8s}"
    lines = [header, "-" * len(header)]
    for kind, rows in result["kinds"].items():
        for method, r in rows.items():
            lines.append(f"{kind:17s} {method:14s} {r['hole_psnr']:9.2f} {r['box_ssim']:8.3f} {r['swd']:7.1f} "
                         f"{1000 * r['grid']:6.1f} {r['seconds_per_photo']:8.2f}")
        if kind in result["worst"]:
            photo, loss = result["worst"][kind]
            shift = result["shift"].get(kind)
            moved = "" if shift is None else f"; shifting the photo moves the fill by {shift[0]:.4f} on average, " \
                                             f"{shift[1]:.3f} at most"
            lines.append(f"{'':17s} worst photo for the network: {photo} ({loss:+.2f} dB against harmonic){moved}")
            if kind in result.get("diversity", {}):
                lines.append(f"{'':17s} the samples differ inside the holes by {result['diversity'][kind]:.4f} on "
                             "average (mean pairwise L1)")
            if kind in result.get("smooth", {}):
                deviation, image = result["smooth"][kind]
                lines.append(f"{'':17s} on smooth synthetic images the fill differs from the harmonic fill by up to "
                             f"{255 * deviation:.1f}/255 ({image})")
    lines.append("hole PSNR in dB pooled over every hole pixel of every photo; box SSIM around each hole; SWD: sliced "
                 "Wasserstein distance of 7x7 patches on two Laplacian levels (x1000, lower is better texture); grid: share of the "
                 "error's energy on the frequencies of a period-8 pattern (x1000, metrics.grid_energy_share).")
    return "\n".join(lines)
