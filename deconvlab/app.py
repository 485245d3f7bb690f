"""``deconvlab app``: paint a mask in the browser and fill it; imports inpainting, baselines, checkpoints, data and
metrics, and Gradio (the ``app`` extra) when the app is built.

The page holds Gradio's image editor: upload a photo, paint the holes with the brush (its size has a slider;
eraser, undo and clear are the editor's own), or upload a mask instead (white = fill); choose the fill (the
pretrained network, a checkpoint of one's own, the harmonic or, with scikit-image, the biharmonic fill), and see
the result beside the input, with the time it took and a download button. With a checkpoint of a network that
samples (a VAE, ``deconvlab train --model vae``) and more than one fill asked for, the fills are shown side by
side. Large photos go through ``deconvlab.inpaint`` (the cost follows the hole) with Gradio's progress indicator.

Local and private: the server binds 127.0.0.1 unless told otherwise, makes no share link, and Gradio's analytics
are switched off before Gradio is imported; the page uses the system's fonts, so a browser fetches nothing from
elsewhere. A mistake (no photo, not an image, a photo over the pixel limit, an empty mask, a mask of another
size) is a readable message in the page; the server keeps serving.
"""
import os
import time

import numpy as np

METHODS = ("network", "inpaintnet", "vae", "harmonic", "biharmonic", "your checkpoint")
"""The fills the page offers: the pretrained network (the bundled HoleNet), the smaller bundled InpaintNet (for
scratches and small holes), the bundled VAE
(several fills with "fills to draw"), the classical fills, or a checkpoint of one's own."""


class AppInputError(ValueError):
    """A mistake in what was sent to the app: shown as a message in the page."""


def _unit(image):
    """An uploaded image (HxW or HxWxC uint8, or float) as HxWx3 float32 in [0, 1]; alpha composited over white."""
    a = np.asarray(image)
    a = a.astype(np.float32) / 255 if a.dtype == np.uint8 else a.astype(np.float32)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.shape[2] == 4:
        a = a[:, :, 3:] * a[:, :, :3] + (1 - a[:, :, 3:])
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return np.clip(a[:, :, :3], 0, 1)


def painted_mask(editor):
    """The holes painted in Gradio's image editor: every pixel any layer paints (alpha > 0), an HxW bool array;
    None when nothing is painted. ``editor`` is the editor's value {"background", "layers", "composite"}."""
    layers = [np.asarray(layer) for layer in (editor or {}).get("layers") or [] if layer is not None]
    if not layers:
        return None
    painted = np.zeros(layers[0].shape[:2], dtype=bool)
    for layer in layers:
        painted |= layer[:, :, 3] > 0 if layer.ndim == 3 and layer.shape[2] == 4 else np.asarray(layer) > 0
    return painted if painted.any() else None


def _checked(photo, mask, max_pixels):
    """The uploaded photo as HxWx3 float32 and the mask as HxW bool; AppInputError for a missing photo, a photo
    over ``max_pixels``, an empty or full mask or a mask of another size."""
    from . import data

    if photo is None:
        raise AppInputError("Upload a photo first.")
    image = _unit(photo)
    limit = data.DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels
    if image.shape[0] * image.shape[1] > limit:
        raise AppInputError(f"The photo has {image.shape[1]}x{image.shape[0]} pixels, more than the limit of "
                            f"{limit}; make it smaller.")
    if mask is None or not np.asarray(mask).any():
        raise AppInputError("Paint the holes on the photo (or upload a mask, white = fill) first.")
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != image.shape[:2]:
        raise AppInputError(f"The mask is {mask.shape[1]}x{mask.shape[0]} pixels, the photo "
                            f"{image.shape[1]}x{image.shape[0]}; they must be the same size.")
    if mask.all():
        raise AppInputError("The mask covers the whole photo; nothing is known to fill from.")
    return image, mask


def _your_model(checkpoint):
    from . import checkpoints

    if checkpoint is None:
        raise AppInputError("Choose a checkpoint or weights file (.npz) for \"your checkpoint\".")
    try:
        return checkpoints.load_model(checkpoint)
    except (OSError, ValueError) as exc:
        raise AppInputError(f"That checkpoint cannot be used: {exc}") from None


def _bundled(method):
    """The bundled network a method names: None (the default network), the InpaintNet or the VAE."""
    from . import inpainting

    return inpainting.load_pretrained(method) if method in ("inpaintnet", "vae") else None


def _uint8(image):
    return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)


def fill(photo, mask, method="network", checkpoint=None, max_pixels=None, progress=False, adapt=0):
    """Fill the ``mask`` (HxW bool, True = fill) of ``photo`` (any uploaded image) with ``method`` (one of
    METHODS; "your checkpoint" takes the file ``checkpoint``): returns (result as HxWx3 uint8, seconds taken).
    ``adapt``: a network is first adapted to the photo for that many training steps (``inpaint(..., adapt=)``;
    the classical fills ignore it).
    AppInputError for a missing photo, a photo over ``max_pixels``, an empty mask, a mask of another size or a
    checkpoint that cannot be used."""
    from . import baselines, inpainting

    image, mask = _checked(photo, mask, max_pixels)
    start = time.perf_counter()
    if method == "harmonic":
        result = baselines.harmonic_fill(image, mask, tol=inpainting.HARMONIC_TOL)
    elif method == "biharmonic":
        result = baselines.biharmonic_fill(image, mask)
    else:
        model = _your_model(checkpoint) if method == "your checkpoint" else _bundled(method)
        result = inpainting.inpaint(image, mask, model=model, progress=progress, adapt=adapt)
    seconds = time.perf_counter() - start
    return _uint8(result), seconds


def fill_samples(photo, mask, checkpoint, samples, seed=0, max_pixels=None, progress=False):
    """``samples`` different fills of the ``mask`` of ``photo`` by the network in ``checkpoint`` (None: the bundled
    VAE), which must sample (``models.InpaintVAE``; ``inpaint(..., samples=K, seed=seed)``): returns
    ((K, H, W, 3) uint8, seconds). AppInputError as ``fill``'s, and for a network that gives one fill."""
    from . import inpainting

    image, mask = _checked(photo, mask, max_pixels)
    model = _bundled("vae") if checkpoint is None else _your_model(checkpoint)
    if not hasattr(model, "latent"):
        raise AppInputError(f"Several fills need a checkpoint of a network that samples (a VAE, trained with "
                            f"--model vae); this one is a {type(model).__name__}, which gives one fill.")
    start = time.perf_counter()
    results = inpainting.inpaint(image, mask, model=model, samples=int(samples), seed=int(seed), progress=progress)
    return _uint8(results), time.perf_counter() - start


def _mask_from_upload(upload):
    """An uploaded mask image as HxW bool (bright = fill), or None."""
    if upload is None:
        return None
    return _unit(upload).mean(axis=2) > 0.5


def build(max_pixels=None):
    """The Gradio page (a ``gr.Blocks``); its API has ``/fill`` (editor, mask image, method, checkpoint, number of
    fills, seed, adaptation steps) for the page, and ``/fill_with_mask`` (photo, mask image, method) and
    ``/samples_with_mask`` (photo, mask image, checkpoint file, number of fills, seed) for programs."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    from . import evaluation

    choices = [m for m in METHODS if m != "biharmonic" or "biharmonic" in evaluation.available_baselines()]

    def run(photo, mask, method, checkpoint, progress=False, adapt=0):
        try:
            result, seconds = fill(photo, mask, method, checkpoint, max_pixels, progress, adapt)
        except AppInputError as exc:
            raise gr.Error(str(exc)) from None
        how = f"{method}, adapted for {adapt} steps" if adapt and method not in ("harmonic", "biharmonic") \
            else method
        return result, (photo, result), f"Filled {int(np.asarray(mask).sum())} pixels in {seconds:.2f} s ({how})."

    def draw(photo, mask, checkpoint, samples, seed, progress=False):
        try:
            results, seconds = fill_samples(photo, mask, checkpoint, samples, seed, max_pixels, progress)
        except AppInputError as exc:
            raise gr.Error(str(exc)) from None
        return list(results), f"Drew {len(results)} fills of {int(np.asarray(mask).sum())} pixels in {seconds:.2f} s."

    def from_editor(editor, upload, method, checkpoint, samples=1, seed=0, adapt=0,
                    progress=gr.Progress(track_tqdm=True)):
        editor = editor or {}
        mask = _mask_from_upload(upload)
        photo, mask = editor.get("background"), painted_mask(editor) if mask is None else mask
        checkpoint = getattr(checkpoint, "name", checkpoint)
        adapt = int(adapt or 0)  # the slider gives a float
        if int(samples or 1) > 1:
            if method not in ("vae", "your checkpoint"):
                raise gr.Error("Several fills need a network that samples: choose \"fill with: vae\" (the bundled "
                               "one) or your checkpoint of a VAE.")
            if adapt:
                raise gr.Error("Several fills and adapting the network to the photo cannot be combined; set one "
                               "of them back (fills to draw 1, or adapt 0).")
            results, message = draw(photo, mask, checkpoint if method == "your checkpoint" else None,
                                    int(samples), int(seed or 0), progress=True)
            return results[0], (photo, results[0]), message, results
        return (*run(photo, mask, method, checkpoint, progress=True, adapt=adapt), [])

    def from_mask(photo, upload, method):
        return run(photo, _mask_from_upload(upload), method, None)[0]

    def samples_from_mask(photo, upload, checkpoint, samples, seed):
        return draw(photo, _mask_from_upload(upload), checkpoint, int(samples), int(seed))[0]

    with gr.Blocks(title="deconvlab: paint a mask, fill it") as page:
        gr.Markdown("## Paint the holes, then fill them\nUpload a photo, paint over what should go (white brush), "
                    "or upload a mask (white = fill). Everything runs on this computer.")
        with gr.Row():
            editor = gr.ImageEditor(label="photo: upload, then paint the holes", type="numpy", image_mode="RGBA",
                                    brush=gr.Brush(colors=["#ffffff"], color_mode="fixed", default_size=24),
                                    layers=False, elem_id="editor")
            result = gr.Image(label="result", type="numpy", interactive=False, elem_id="result",
                              buttons=["download"], format="png")
        with gr.Row():
            upload = gr.Image(label="or a mask image (white = fill)", type="numpy", elem_id="mask-upload")
            with gr.Column():
                method = gr.Dropdown(choices, value="network", label="fill with")
                checkpoint = gr.File(label="your checkpoint (.npz)", file_types=[".npz"])
                with gr.Row():
                    samples = gr.Slider(1, 8, value=1, step=1, label="fills to draw (vae, or a VAE checkpoint)",
                                        elem_id="samples-count")
                    seed = gr.Number(value=0, precision=0, minimum=0, label="seed")
                adapt = gr.Slider(0, 100, value=0, step=10, elem_id="adapt-steps",
                                  label="adapt the network to the photo first (training steps: slower, usually "
                                        "more accurate)")
                button = gr.Button("Fill", variant="primary", elem_id="fill")
                message = gr.Markdown(elem_id="message")
        before_after = gr.ImageSlider(label="before / after", type="numpy", elem_id="before-after")
        gallery = gr.Gallery(label="the fills side by side", columns=4, elem_id="samples")
        button.click(from_editor, [editor, upload, method, checkpoint, samples, seed, adapt],
                     [result, before_after, message, gallery], api_name="fill")
        hidden_photo = gr.Image(visible=False, type="numpy")
        hidden_mask = gr.Image(visible=False, type="numpy")
        hidden_out = gr.Image(visible=False, type="numpy", format="png")
        gr.Button(visible=False).click(from_mask, [hidden_photo, hidden_mask, method], hidden_out,
                                       api_name="fill_with_mask")
        hidden_file = gr.File(visible=False)
        hidden_gallery = gr.Gallery(visible=False, format="png")
        gr.Button(visible=False).click(samples_from_mask, [hidden_photo, hidden_mask, hidden_file, samples, seed],
                                       hidden_gallery, api_name="samples_with_mask")
    return page


def warm_up():
    """Load the pretrained network and run it once on a tiny photo, so that the first fill in the page does not
    wait for the weights and the compiled kernels to load."""
    from . import inpainting

    photo = np.full((16, 16, 3), 0.5, dtype=np.float32)
    hole = np.zeros((16, 16), dtype=bool)
    hole[6:10, 6:10] = True
    inpainting.inpaint(photo, hole)


def launch(host="127.0.0.1", port=None, max_pixels=None):
    """Serve the page on ``host``:``port`` (a free port when None) until interrupted; no share link. The
    network is loaded first (``warm_up``)."""
    import gradio as gr

    warm_up()
    theme = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                              font_mono=["ui-monospace", "monospace"])
    build(max_pixels).launch(server_name=host, server_port=port, share=False, theme=theme, inbrowser=False,
                             footer_links=[], show_error=True)
