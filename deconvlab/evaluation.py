"""Model against classical fills, side by side on the same crops and masks; imports models, data, masks, metrics
and baselines.

The protocol of ``deconvlab evaluate``: fixed crops (P x P, default 32) of held-out images, one fixed set of
masks per kind, every method filling exactly the same holes. The headline is the pooled hole PSNR,

    PSNR = 10·log10(1 / MSE),  MSE = Σ_images Σ_hole (y − x)² / (number of hole values over all images),

reported beside the per-image mean hole PSNR, full-image PSNR, hole L1 and SSIM.
"""
import numpy as np

from . import baselines, data, masks, metrics
from .masks import MASK_KINDS
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


def to_jsonable(results):
    """The results with plain floats (inf stays a float; JSON writers print it as Infinity)."""
    return {k: {m: {n: float(v) for n, v in s.items()} for m, s in rows.items()} for k, rows in results.items()}


def margin(results, kind="center", over="biharmonic"):
    """The model's pooled hole-PSNR lead over a baseline for one mask kind, in dB."""
    rows = results[kind]
    if over not in rows:
        over = "harmonic"
    return float(rows["model"]["hole_psnr"] - rows[over]["hole_psnr"])
