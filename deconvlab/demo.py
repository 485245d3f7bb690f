"""``deconvlab demo``: holes punched in a bundled held-out photo, filled by the pretrained network and by a
classical fill, scored and drawn side by side; imports data, masks, inpainting, baselines, metrics, _files.
"""
import time

import numpy as np

from . import baselines, data, inpainting, masks, metrics
from ._files import atomic_write


def demo_mask(h, w, seed=7):
    """The demo's holes: a centred square of a sixth of the shorter side plus a few brush strokes."""
    square = masks.center_square(h, w, max(8, min(h, w) // 6))
    return square | masks.brush_strokes(h, w, seed=seed, count=3)


def run_demo(output, photo="chelsea", out=print, model=None):
    """Fill holes in ``photo`` with ``model`` (default: the pretrained network) and write ``output``:
    input | mask | network | harmonic fill | original. Prints the hole PSNR of each method (dB). Returns a dict
    of those PSNRs."""
    start = time.perf_counter()
    image = data.load_photo(photo)
    hole = demo_mask(*image.shape[:2])
    model = inpainting.load_pretrained() if model is None else model
    filled = inpainting.inpaint(image, hole, model=model)
    classical = baselines.harmonic_fill(image, hole)
    scores = {
        "network": metrics.hole_psnr(filled, image, hole),
        "harmonic fill": metrics.hole_psnr(classical, image, hole),
        "mean fill": metrics.hole_psnr(baselines.mean_fill(image, hole), image, hole),
    }
    shown = np.where(hole[:, :, None], 1.0, image)
    panels = [("input", shown), ("mask (white = fill)", hole), ("deconvlab network", filled),
              ("harmonic fill", classical), ("original", image)]
    _draw(output, panels, f"{photo}: {int(hole.sum())} missing pixels")
    for name, value in scores.items():
        out(f"{name:14s} hole PSNR {value:6.2f} dB")
    out(f"wrote {output} in {time.perf_counter() - start:.1f} s")
    return scores


def _draw(path, panels, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.0))
    for ax, (name, picture) in zip(axes, panels):
        ax.imshow(np.clip(picture, 0, 1), cmap="gray" if picture.ndim == 2 else None, vmin=0, vmax=1)
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    ext = path.rsplit(".", 1)[-1].lower()
    atomic_write(path, lambda f: fig.savefig(f, format="jpeg" if ext in ("jpg", "jpeg") else "png", dpi=90))
    plt.close(fig)
