"""Images in and out, random patch batches, the bundled photos and the CIFAR-10 reader.

Imports NumPy, Pillow, ``errors`` and ``_files``. Images are float32 arrays in [0, 1],
HxWx3 for colour and HxW for gray (channel last, as files store them); `PatchSampler` and the CIFAR-10
reader return NCHW batches, the layout the networks take.
"""
import codecs
import os
import pickle
import warnings
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ._files import atomic_write
from .errors import InputError, InputIsADirectory, Setting

DEFAULT_MAX_PIXELS = 50_000_000
"""`load_image` refuses images with more pixels than this (width x height) before decoding them."""

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")

TRAIN_PHOTOS = ("astronaut", "coffee", "rocket", "retina", "brick", "grass")
"""Bundled photos used for training (names for `load_photo`)."""

TEST_PHOTOS = ("chelsea", "camera", "gravel", "raccoon", "ascent", "hopper", "hubble", "text", "cell")
"""Bundled photos held out for evaluation; training never sees them: a cat, a person with a camera under a
smooth sky, a texture, an animal in foliage, architecture, a face, a star field, handwritten text and a
smoothly shaded microscope image."""

PHOTOS = TRAIN_PHOTOS + TEST_PHOTOS

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601, as Pillow's convert("L")
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


# --------------------------------------------------------------------------- reading and writing images

def load_image(path, as_gray=False, max_pixels=DEFAULT_MAX_PIXELS, background=1.0):
    """Read an image file into a float32 array in [0, 1].

    Returns HxWx3 (gray files have their one channel repeated three times), or HxW when ``as_gray``
    (colour converted with the BT.601 luma Y = 0.299 R + 0.587 G + 0.114 B).

    Pixel formats are converted explicitly:
      - 8-bit ``L``, ``RGB``: value / 255;  1-bit ``1``: 0 or 1;
      - 16-bit ``I;16*``: value / 65535;  32-bit ``I``: value / 65535, and every value must lie in
        [0, 65535] (older Pillow opens 16-bit PNGs this way), else ValueError;
      - float ``F``: taken as is, values must lie in [0, 1];
      - palette ``P``: expanded to RGB (RGBA when the palette has a transparent entry);
      - ``RGBA``, ``LA``, ``PA``: alpha a is composited over a flat ``background`` (default white):
        out = a * colour + (1 - a) * background;
      - ``CMYK``, ``YCbCr`` and other modes Pillow can convert: converted to RGB by Pillow.
    The EXIF orientation tag is applied (the array is upright as a viewer shows it); of a multi-frame
    file only the first frame is read.

    The pixel count (width x height, read from the header before any pixel data is decoded or any pixel
    memory allocated) must not exceed ``max_pixels`` (default 50 megapixels; ``None`` lifts this limit).
    Pillow's own hard guard, 2 x ``Image.MAX_IMAGE_PIXELS`` (about 179 megapixels), still applies whatever
    ``max_pixels`` says; its warning above ``Image.MAX_IMAGE_PIXELS`` is silenced when ``max_pixels``
    allows that size. A missing file is FileNotFoundError; an empty,
    corrupt, truncated or too large file is ValueError naming the path.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_image: no such file: {path!r}")
    if os.path.isdir(path):
        raise InputIsADirectory("load_image", "is a directory, expected an image file", subject=path)
    if not os.path.isfile(path):
        raise InputError("load_image", "is not a regular file (a pipe or a device?), expected an image file",
                         subject=path)
    if os.path.getsize(path) == 0:
        raise InputError("load_image", "is empty (0 bytes), not an image", subject=path)
    allowed = max_pixels is None or max_pixels > (Image.MAX_IMAGE_PIXELS or 0)  # our limit replaces the warning
    with warnings.catch_warnings():
        if allowed:
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return _load_checked(path, as_gray, max_pixels, background)


def _load_checked(path, as_gray, max_pixels, background):
    """``load_image`` once the path is known to be a non-empty regular file."""
    try:
        opened = Image.open(path)
    except Image.DecompressionBombError as e:
        raise InputError("load_image", "is larger than Pillow's decompression-bomb limit, which {limit} cannot "
                         "raise ({detail})", subject=path, limit=Setting("max_pixels"), detail=e) from e
    except Exception as e:
        raise InputError("load_image", "is not a readable image ({kind}: {detail})", subject=path,
                         kind=type(e).__name__, detail=e) from e
    with opened as im:
        width, height = im.size
        if max_pixels is not None and width * height > max_pixels:
            raise InputError("load_image", "is {width}x{height} = {pixels} pixels, more than {limit}; pass a larger "
                             "{name} to read it", subject=path, width=width, height=height, pixels=width * height,
                             limit=Setting("max_pixels", max_pixels), name=Setting("max_pixels"))
        try:
            im.load()
            upright = ImageOps.exif_transpose(im)
        except MemoryError:
            raise
        except Exception as e:
            raise InputError("load_image", "cannot be decoded: the file is corrupt or truncated ({kind}: {detail})",
                             subject=path, kind=type(e).__name__, detail=e) from e
        channels = _pixels_to_float(upright, path, background)
    if channels.ndim == 2:
        if as_gray:
            return channels
        return np.ascontiguousarray(np.repeat(channels[:, :, None], 3, axis=2))
    if as_gray:
        return np.ascontiguousarray(channels @ _LUMA)
    return channels


def _pixels_to_float(im, path, background):
    """Pillow image -> float32 HxW (gray) or HxWx3 (colour) in [0, 1], per `load_image`'s rules."""
    mode = im.mode
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode == "PA" or mode == "RGBa":
        im = im.convert("RGBA")
    elif mode == "La":
        im = im.convert("LA")
    elif mode not in ("1", "L", "LA", "RGB", "RGBA", "I", "F") + _SIXTEEN_BIT_MODES:
        try:
            im = im.convert("RGB")
        except ValueError as e:
            raise InputError("load_image", "has pixel mode {mode!r}, which has no RGB conversion", subject=path,
                             mode=mode) from e
    mode = im.mode
    if mode == "1":
        return np.asarray(im, dtype=np.float32)
    if mode in ("L", "RGB"):
        return np.asarray(im, dtype=np.float32) / np.float32(255)
    if mode in _SIXTEEN_BIT_MODES:
        return np.asarray(im).astype(np.float32) / np.float32(65535)
    if mode == "I":
        values = np.asarray(im)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise InputError("load_image", "has 32-bit integer pixels in [{low}, {high}]; only values in [0, 65535] "
                             "(16-bit data) have a defined scale", subject=path, low=values.min(), high=values.max())
        return values.astype(np.float32) / np.float32(65535)
    if mode == "F":
        values = np.asarray(im, dtype=np.float32)
        if values.size and not (np.isfinite(values).all() and values.min() >= 0 and values.max() <= 1):
            raise InputError("load_image", "has float pixels outside [0, 1]", subject=path)
        return values.copy()
    values = np.asarray(im, dtype=np.float32) / np.float32(255)  # LA or RGBA
    colour, alpha = values[..., :-1], values[..., -1:]
    out = alpha * colour + (np.float32(1) - alpha) * np.float32(background)
    return out[..., 0] if mode == "LA" else out


def is_gray_file(path):
    """True when the image file at ``path`` has one colour channel (Pillow modes 1, L, LA, I, I;16*, F), read
    from its header only. ``load_image`` still returns such a file as three equal channels; this says whether
    a result made from it should be written back in gray. Unreadable files are False."""
    try:
        with Image.open(os.fspath(path)) as im:
            mode = im.mode
    except Exception:
        return False
    return mode in ("1", "L", "LA", "I", "F") or mode.startswith("I;16")


UNIT_RANGE_SLACK = 1e-6
"""How far outside [0, 1] a float image may stray (rounding) and still be taken, clipped: ``save_image`` and
``deconvlab.inpaint`` follow this one rule."""


def check_unit_range(image, where):
    """ValueError (an InputError naming ``where``) unless every value of the float array lies in [0, 1], give or
    take UNIT_RANGE_SLACK, and is finite; the message gives the range found and, for a 0-255 image, the fix."""
    if not np.isfinite(image).all():
        raise InputError(where, "image contains {count} NaN or infinite values", count=int(np.sum(~np.isfinite(image))))
    lo, hi = (float(image.min()), float(image.max())) if image.size else (0.0, 0.0)
    if lo < -UNIT_RANGE_SLACK or hi > 1 + UNIT_RANGE_SLACK:
        hint = "; it looks like 0-255 values: divide by 255" if hi > 1.5 and lo >= 0 else ""
        raise InputError(where, "image values must lie in [0, 1], got min {lo:.6g}, max {hi:.6g}{hint}", lo=lo, hi=hi,
                         hint=hint)


def has_alpha(path):
    """True when the image file at ``path`` has transparency (an alpha channel, or a palette with a transparent
    entry), read from its header only; ``load_image`` composites it away. Unreadable files are False."""
    try:
        with Image.open(os.fspath(path)) as im:
            return im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    except Exception:
        return False


def exif_orientation(path):
    """The EXIF orientation tag (1-8) of the image file at ``path``, or None; 5 to 8 mean ``load_image`` turns it
    by 90 degrees (width and height swap)."""
    try:
        with Image.open(os.fspath(path)) as im:
            return im.getexif().get(0x0112)
    except Exception:
        return None


def save_image(path, image, quality=95):
    """Write a float image in [0, 1] to a PNG or JPEG file (format chosen by the extension).

    ``image`` is HxW, HxWx1 or HxWx3, float32/float64 (or bool, saved as 0/255) with values in [0, 1]
    (``check_unit_range``: outside it, or NaN or inf, is a ValueError — the rule ``inpaint`` follows too; rounding
    slack is clipped). byte = round(255 * clip(x, 0, 1)) (halves to even). JPEG uses ``quality`` (1-95). The write
    is atomic: the data goes to a temporary file in the same directory, which then replaces ``path``
    (os.replace), so a reader never sees a half-written file.
    """
    path = os.fspath(path)
    extension = os.path.splitext(path)[1].lower()
    formats = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
    if extension not in formats:
        raise ValueError(f"save_image: unknown extension {extension!r} in {path!r}; use .png, .jpg or .jpeg")
    array = np.asarray(image)
    if array.dtype == np.bool_:
        array = array.astype(np.float32)
    if array.dtype not in (np.float32, np.float64):
        raise TypeError(f"save_image: expected a float32/float64 image in [0, 1], got dtype {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        raise ValueError(f"save_image: expected an HxW, HxWx1 or HxWx3 image, got shape {array.shape}")
    check_unit_range(array, "save_image")
    pixels = np.round(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)
    picture = Image.fromarray(pixels)
    options = {"quality": int(quality)} if formats[extension] == "JPEG" else {}
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"save_image: directory {directory!r} does not exist")
    atomic_write(path, lambda handle: picture.save(handle, format=formats[extension], **options))


# --------------------------------------------------------------------------- bundled photos

def load_photo(name, as_gray=False):
    """Load one of the photos shipped with deconvlab (see `PHOTOS`) as `load_image` would.

    Returns HxWx3 float32 in [0, 1] (HxW when ``as_gray``). Sources and licences (public domain or
    CC0) are listed in ``assets/photos/LICENSES.md``. Unknown names are ValueError.
    """
    if name not in PHOTOS:
        raise ValueError(f"load_photo: unknown photo {name!r}; the bundled photos are {', '.join(PHOTOS)}")
    ref = resources.files(__package__).joinpath("assets").joinpath("photos").joinpath(f"{name}.png")
    with resources.as_file(ref) as path:
        return load_image(path, as_gray=as_gray)


def bundled_photos(split="train", as_gray=False):
    """The bundled photos of one split as a dict name -> image, in the order of the split's constant.

    ``split`` is "train" (`TRAIN_PHOTOS`), "test" (`TEST_PHOTOS`, held out) or "all" (`PHOTOS`).
    """
    names = {"train": TRAIN_PHOTOS, "test": TEST_PHOTOS, "all": PHOTOS}
    if split not in names:
        raise ValueError(f"bundled_photos: split must be 'train', 'test' or 'all', got {split!r}")
    return {name: load_photo(name, as_gray=as_gray) for name in names[split]}


# --------------------------------------------------------------------------- folders and patches

class ImageFolder:
    """The PNG/JPEG files of a folder as a sequence of images (`load_image` on each access).

    Files are those whose extension is .png, .jpg or .jpeg (any case), not starting with ".", sorted
    by path; ``recursive`` includes sub-folders. An empty folder is ValueError. ``paths`` lists them.
    """

    def __init__(self, root, recursive=False, as_gray=False, max_pixels=DEFAULT_MAX_PIXELS):
        self.root = Path(root)
        if not self.root.is_dir():
            raise NotADirectoryError(f"ImageFolder: {str(self.root)!r} is not a directory")
        candidates = self.root.rglob("*") if recursive else self.root.iterdir()
        self.paths = sorted(
            p for p in candidates
            if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
        )
        if not self.paths:
            raise ValueError(f"ImageFolder: no .png/.jpg/.jpeg files in {str(self.root)!r}")
        self.as_gray = as_gray
        self.max_pixels = max_pixels

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        return load_image(self.paths[index], as_gray=self.as_gray, max_pixels=self.max_pixels)

    def __iter__(self):
        return (self[i] for i in range(len(self)))


class PatchSampler:
    """Random square crops of a list of images, as NCHW float32 batches, reproducible from ``seed``.

    ``images``: a sequence (list, `ImageFolder`, dict values...) of HxWxC or HxW float arrays in [0, 1],
    all with the same number of channels C (HxW counts as C = 1), each at least patch_size on both sides.
    Each patch picks an image uniformly, then a top-left corner uniformly among all positions where
    the patch fits, then (when ``flips``) a left-right flip and an up-down flip, each with probability
    1/2. Batches are (batch_size, C, patch_size, patch_size). All draws come from one
    ``numpy.random.Generator(seed)``, so two samplers with the same seed yield the same batches.
    The sampler is an endless iterator: ``next(sampler)`` is ``sampler.sample()``.
    """

    def __init__(self, images, patch_size=32, batch_size=16, seed=0, flips=True):
        if int(patch_size) < 1 or int(batch_size) < 1:
            raise ValueError(
                f"PatchSampler: patch_size and batch_size must be >= 1, got {patch_size} and {batch_size}"
            )
        self.patch_size = int(patch_size)
        self.batch_size = int(batch_size)
        self.flips = bool(flips)
        self.images = []
        for index, image in enumerate(images):
            array = np.asarray(image)
            if array.dtype not in (np.float32, np.float64):
                raise TypeError(f"PatchSampler: image {index} has dtype {array.dtype}, expected float in [0, 1]")
            if array.ndim == 2:
                array = array[:, :, None]
            if array.ndim != 3:
                raise ValueError(f"PatchSampler: image {index} has shape {array.shape}, expected HxW or HxWxC")
            if array.shape[0] < self.patch_size or array.shape[1] < self.patch_size:
                raise ValueError(
                    f"PatchSampler: image {index} of shape {array.shape} is smaller than "
                    f"patch_size={self.patch_size}"
                )
            if self.images and array.shape[2] != self.images[0].shape[2]:
                raise ValueError(
                    f"PatchSampler: image {index} has {array.shape[2]} channels, "
                    f"image 0 has {self.images[0].shape[2]}"
                )
            self.images.append(np.ascontiguousarray(array, dtype=np.float32))
        if not self.images:
            raise ValueError("PatchSampler: no images given")
        self.channels = self.images[0].shape[2]
        self.rng = np.random.default_rng(seed)

    def sample(self, batch_size=None):
        """One batch (N, C, P, P) float32, N = ``batch_size`` or the sampler's default."""
        n = self.batch_size if batch_size is None else int(batch_size)
        p = self.patch_size
        batch = np.empty((n, self.channels, p, p), dtype=np.float32)
        for k in range(n):
            image = self.images[self.rng.integers(len(self.images))]
            top = self.rng.integers(image.shape[0] - p + 1)
            left = self.rng.integers(image.shape[1] - p + 1)
            patch = image[top:top + p, left:left + p]
            if self.flips:
                if self.rng.random() < 0.5:
                    patch = patch[:, ::-1]
                if self.rng.random() < 0.5:
                    patch = patch[::-1, :]
            batch[k] = patch.transpose(2, 0, 1)
        return batch

    def __iter__(self):
        return self

    def __next__(self):
        return self.sample()


# --------------------------------------------------------------------------- CIFAR-10

class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that rebuilds only NumPy arrays, dtypes, scalars and byte strings.

    A pickle can run arbitrary code when loaded; a CIFAR-10 batch needs nothing beyond these names,
    so anything else is refused.
    """

    _reconstruct = np.ndarray((0,)).__reduce__()[0]
    _scalar = np.int64(0).__reduce__()[0]
    _frombuffer = np.zeros(1).__reduce_ex__(5)[0]  # pickle protocol 5 rebuilds arrays with this
    _allowed = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy.core.multiarray", "scalar"): _scalar,
        ("numpy._core.multiarray", "scalar"): _scalar,
        ("numpy.core.numeric", "_frombuffer"): _frombuffer,
        ("numpy._core.numeric", "_frombuffer"): _frombuffer,
        ("_codecs", "encode"): codecs.encode,
    }

    def find_class(self, module, name):
        if (module, name) in self._allowed:
            return self._allowed[(module, name)]
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: not part of a CIFAR-10 batch")


def read_cifar10_batch(path):
    """Read one CIFAR-10 "python version" batch file (data_batch_1..5 or test_batch).

    The file is a pickled dict with b'data', a uint8 array (N, 3072) whose rows hold a 32x32 image as
    three row-major planes R, G, B (1024 values each), and b'labels', N integers in 0..9
    (`CIFAR10_CLASSES`). Returns (images, labels): images (N, 3, 32, 32) float32 = data / 255,
    labels (N,) int64. Only NumPy arrays and plain values are unpickled (no other code runs).
    A file of another layout is ValueError naming the path.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            batch = _ArrayUnpickler(handle, encoding="bytes").load()
    except FileNotFoundError:
        raise FileNotFoundError(f"read_cifar10_batch: no such file: {path!r}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as e:
        raise ValueError(f"read_cifar10_batch: {path!r} is not a CIFAR-10 python batch ({e})") from e
    if not isinstance(batch, dict):
        raise ValueError(f"read_cifar10_batch: {path!r} holds a {type(batch).__name__}, expected a dict")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if data is None or labels is None:
        raise ValueError(
            f"read_cifar10_batch: {path!r} has keys {sorted(map(str, batch))}, expected b'data' and b'labels'"
        )
    data = np.asarray(data)
    labels = np.asarray(labels, dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(
            f"read_cifar10_batch: {path!r} has data of shape {data.shape} and dtype {data.dtype}, "
            "expected uint8 (N, 3072)"
        )
    if labels.shape != (data.shape[0],):
        raise ValueError(
            f"read_cifar10_batch: {path!r} has {labels.size} labels for {data.shape[0]} images"
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"read_cifar10_batch: {path!r} has labels outside 0..9")
    images = data.reshape(-1, 3, 32, 32).astype(np.float32) / np.float32(255)
    return images, labels


def load_cifar10(folder, train=True):
    """Load CIFAR-10 from a folder the user downloaded and extracted (deconvlab never downloads).

    ``folder`` holds data_batch_1 .. data_batch_5 and test_batch (the folder cifar-10-batches-py of
    the "CIFAR-10 python version" archive, or its parent). ``train`` selects the five training
    batches (50000 images) or test_batch (10000). Returns (images (N, 3, 32, 32) float32 in [0, 1],
    labels (N,) int64); the training set takes about 600 MB as float32. Missing files are
    FileNotFoundError naming them.
    """
    folder = Path(folder)
    if (folder / "cifar-10-batches-py").is_dir():
        folder = folder / "cifar-10-batches-py"
    names = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"load_cifar10: {str(folder)!r} lacks {', '.join(missing)}; download the CIFAR-10 "
            "python version (cifar-10-python.tar.gz) yourself and extract it there"
        )
    parts = [read_cifar10_batch(folder / name) for name in names]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
