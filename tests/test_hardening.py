"""Hostile input and awkward installs: every image file, array and environment either works or is a one-line error.

Image files go through ``deconvlab inpaint`` / ``evaluate`` (exit code 2, one line, no file written) and
``load_image`` (ValueError naming the file); arrays through ``deconvlab.inpaint`` (TypeError / ValueError).
Then: kernels called from several threads, a Numba cache that cannot be written, Numba switched off, and the
documented edge cases of losses and metrics (empty holes, identical and constant images).
"""
import contextlib
import io
import json
import re
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

import deconvlab
from deconvlab import checkpoints, cli, data, evaluation, kernels, masks, metrics, train
from deconvlab import functional as F




@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory, tiny_model):
    path = tmp_path_factory.mktemp("model") / "tiny.npz"
    checkpoints.save_weights(path, tiny_model, train.TrainConfig(width=4, start="mean"))
    return path


def png_header_only(width, height):
    """A PNG whose header claims width x height RGB pixels, followed by almost no data: a decompression bomb
    in 60 bytes. Nothing of that size is ever allocated here."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def encoded(array, fmt, **options):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **options)
    return buffer.getvalue()


RNG = np.random.default_rng(0)
PHOTO = (RNG.random((20, 24, 3)) * 255).astype(np.uint8)
PNG, JPEG = encoded(PHOTO, "PNG"), encoded(PHOTO, "JPEG", quality=90)


def corrupt(blob, start, count=24):
    spoiled = bytearray(blob)
    spoiled[start:start + count] = bytes(255 - b for b in spoiled[start:start + count])
    return bytes(spoiled)


BAD_FILES = {
    "truncated.png": (PNG[: len(PNG) // 2], "corrupt or truncated"),
    "truncated.jpg": (JPEG[: len(JPEG) // 2], "not a readable image"),
    "corrupt-data.png": (corrupt(PNG, 60), "corrupt or truncated"),
    "zero-bytes.png": (b"", "is empty (0 bytes)"),
    "random-bytes.jpg": (RNG.bytes(2000), "not a readable image"),
    "text.png": (b"hello, I am not a picture\n", "not a readable image"),
    "bomb.png": (png_header_only(100_000, 100_000), "decompression-bomb limit"),
    "over-limit.png": (png_header_only(8000, 7000), "8000x7000 = 56000000 pixels, more than --max-pixels 50000000"),
}


def run_cli(*args):
    """cli.main in-process, with its stdout and stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def assert_one_line_error(code, err, *needles):
    assert code == 2, err
    assert err.count("\n") == 1 and err.endswith("\n") and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


def write_mask(path, h, w):
    hole = np.zeros((h, w), np.uint8)
    hole[h // 3: h // 3 + max(1, h // 3), w // 3: w // 3 + max(1, w // 3)] = 255
    Image.fromarray(hole).save(path)
    return hole > 0


# ----------------------------------------------------------------------------------------- broken image files

@pytest.mark.parametrize("name", sorted(BAD_FILES))
@pytest.mark.parametrize("role", ["image", "mask"])
def test_a_broken_image_file_is_a_one_line_error_and_nothing_is_written(tmp_path, tiny_weights, name, role):
    blob, needle = BAD_FILES[name]
    (tmp_path / name).write_bytes(blob)
    (tmp_path / "good.png").write_bytes(PNG)
    write_mask(tmp_path / "mask.png", 20, 24)
    image, mask = (name, "mask.png") if role == "image" else ("good.png", name)
    before = sorted(os.listdir(tmp_path))
    code, _, err = run_cli("inpaint", tmp_path / image, "--mask", tmp_path / mask, "-o", tmp_path / "out.png",
                           "--model", tiny_weights)
    assert_one_line_error(code, err, needle)
    assert f"{role} '{tmp_path / name}'" in err
    assert sorted(os.listdir(tmp_path)) == before
    with pytest.raises(ValueError, match=str(tmp_path / name)):
        data.load_image(tmp_path / name)


def test_a_broken_file_in_an_evaluation_folder_is_named(tmp_path, tiny_weights):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray((RNG.random((40, 40, 3)) * 255).astype(np.uint8)).save(folder / "a.png")
    (folder / "b.png").write_bytes(BAD_FILES["truncated.png"][0])
    code, out, err = run_cli("evaluate", folder, "--model", tiny_weights, "--crops", 2, "--json")
    assert_one_line_error(code, err, f"image '{folder / 'b.png'}'")
    assert out == ""


def test_a_huge_header_is_refused_before_any_pixel_is_decoded(tmp_path, monkeypatch):
    def no_decoding(self):
        raise AssertionError("pixel data was decoded (and memory allocated) for an image over the limit")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    (tmp_path / "bomb.png").write_bytes(png_header_only(100_000, 100_000))
    (tmp_path / "big.png").write_bytes(png_header_only(3000, 3000))
    with pytest.raises(ValueError, match="decompression-bomb limit"):
        data.load_image(tmp_path / "bomb.png")
    with pytest.raises(ValueError, match="decompression-bomb limit"):
        data.load_image(tmp_path / "bomb.png", max_pixels=None)  # Pillow's own guard still holds
    with pytest.raises(ValueError, match=r"3000x3000 = 9000000 pixels, more than max_pixels=1000000"):
        data.load_image(tmp_path / "big.png", max_pixels=1_000_000)


def test_max_pixels_can_lower_and_raise_the_limit_on_the_command_line(tmp_path, tiny_weights):
    (tmp_path / "big.png").write_bytes(png_header_only(3000, 3000))
    write_mask(tmp_path / "mask.png", 3000, 3000)
    common = ["inpaint", tmp_path / "big.png", "--mask", tmp_path / "mask.png", "-o", tmp_path / "o.png",
              "--model", tiny_weights]
    code, _, err = run_cli(*common, "--max-pixels", 1_000_000)
    assert_one_line_error(code, err, "more than --max-pixels 1000000")
    code, _, err = run_cli(*common, "--max-pixels", 10_000_000)  # past the size check, then the missing data
    assert_one_line_error(code, err, "corrupt or truncated")
    assert not (tmp_path / "o.png").exists()


# ----------------------------------------------------------------------------------------- unusual but valid files

def _unusual_images():
    gray = (RNG.random((18, 22)) * 255).astype(np.uint8)
    rgba = np.dstack([PHOTO, (RNG.random((20, 24)) * 255).astype(np.uint8)])
    palette = Image.fromarray(PHOTO).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    palette_alpha = palette.copy()
    palette_alpha.info["transparency"] = 3
    return {
        "1x1.png": Image.fromarray(PHOTO[:1, :1]),
        "1x17.png": Image.fromarray(PHOTO[:1, :17]),
        "13x1.jpg": Image.fromarray(PHOTO[:13, :1]),
        "gray.png": Image.fromarray(gray),
        "gray.jpg": Image.fromarray(gray),
        "gray-alpha.png": Image.fromarray(np.dstack([gray, gray[::-1]]), mode="LA"),
        "rgba.png": Image.fromarray(rgba),
        "palette.png": palette,
        "palette-transparent.png": palette_alpha,
        "16-bit.png": Image.fromarray((RNG.random((9, 11)) * 65535).astype(np.uint16)),
        "1-bit.png": Image.fromarray(gray > 128),
    }


UNUSUAL = _unusual_images()


@pytest.mark.parametrize("name", sorted(UNUSUAL))
def test_unusual_images_are_inpainted_at_their_own_size(tmp_path, tiny_weights, name):
    picture = UNUSUAL[name]
    options = {"transparency": picture.info["transparency"]} if "transparency" in picture.info else {}
    picture.save(tmp_path / name, **options)
    w, h = picture.size
    hole = write_mask(tmp_path / "mask.png", h, w)
    code, out, err = run_cli("inpaint", tmp_path / name, "--mask", tmp_path / "mask.png", "-o", tmp_path / "o.png",
                             "--model", tiny_weights)
    if hole.all():  # 1x1 with its only pixel missing: nothing known
        assert_one_line_error(code, err, "every pixel")
        return
    assert code == 0, err
    result, original = data.load_image(tmp_path / "o.png"), data.load_image(tmp_path / name)
    assert result.shape == original.shape == (h, w, 3)
    assert np.array_equal(result[~hole], np.round(original[~hole] * 255) / 255)


def test_a_1x1_image_with_an_empty_mask_comes_back_unchanged(tmp_path):
    Image.fromarray(PHOTO[:1, :1]).save(tmp_path / "dot.png")
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(tmp_path / "mask.png")
    code, out, err = run_cli("inpaint", tmp_path / "dot.png", "--mask", tmp_path / "mask.png", "-o", tmp_path / "o.png")
    assert code == 0, err
    assert np.array_equal(np.asarray(Image.open(tmp_path / "o.png")), PHOTO[:1, :1])


def test_exif_orientation_is_applied(tmp_path):
    """Stored 32 wide x 16 tall, left half red, right half blue, with EXIF orientation 6 ("rotate 90° clockwise
    to view"): upright it is 16 wide x 32 tall with red on top."""
    stored = np.zeros((16, 32, 3), np.uint8)
    stored[:, :16, 0] = 255
    stored[:, 16:, 2] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    image = data.load_image(tmp_path / "rotated.jpg")
    assert image.shape == (32, 16, 3)
    assert image[:14, :, 0].mean() > 0.9 and image[:14, :, 2].mean() < 0.1
    assert image[18:, :, 2].mean() > 0.9 and image[18:, :, 0].mean() < 0.1
    write_mask(tmp_path / "mask-upright.png", 32, 16)
    write_mask(tmp_path / "mask-stored.png", 16, 32)
    code, _, err = run_cli("inpaint", tmp_path / "rotated.jpg", "--mask", tmp_path / "mask-stored.png",
                           "-o", tmp_path / "o.png")
    assert_one_line_error(code, err, "is 32x16 pixels but image")  # the mask must match the upright picture


def test_pixel_formats_are_converted_as_documented(tmp_path):
    values = np.array([[0, 1, 32768, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "16.png")
    assert np.array_equal(data.load_image(tmp_path / "16.png", as_gray=True)[0],
                          values[0].astype(np.float32) / np.float32(65535))
    rgba = np.array([[[255, 0, 0, 255], [255, 0, 0, 0], [0, 0, 255, 51]]], dtype=np.uint8)
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    composited = data.load_image(tmp_path / "rgba.png")[0]  # over white: a·colour + (1 − a)·1
    assert np.allclose(composited, [[1, 0, 0], [1, 1, 1], [0.8, 0.8, 1.0]], atol=1e-6)
    palette = UNUSUAL["palette.png"]
    palette.save(tmp_path / "p.png")
    assert np.array_equal(data.load_image(tmp_path / "p.png"), np.asarray(palette.convert("RGB")) / np.float32(255))


def test_a_mask_file_is_thresholded_at_one_half(tmp_path):
    levels = np.array([[0, 127, 128, 255]], dtype=np.uint8)  # 127/255 < 0.5 < 128/255
    Image.fromarray(levels).save(tmp_path / "levels.png")
    assert masks.mask_from_image(tmp_path / "levels.png").tolist() == [[False, False, True, True]]
    painted = np.zeros((1, 3, 4), np.uint8)
    painted[0, 1] = [255, 255, 255, 255]  # white paint on a transparent layer; the rest is transparent white
    painted[0, 0] = [255, 255, 255, 0]
    Image.fromarray(painted).save(tmp_path / "layer.png")
    assert masks.mask_from_image(tmp_path / "layer.png").tolist() == [[False, True, False]]


# ----------------------------------------------------------------------------------------- mutated files (fuzz)

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(["png", "jpeg"]), cut=st.floats(0, 1),
       flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=6))
def test_a_mutated_image_file_gives_an_image_or_a_one_line_error(tiny_weights, base, cut, flips):
    blob = bytearray(PNG if base == "png" else JPEG)
    for where, value in flips:
        blob[int(where * (len(blob) - 1))] = value
    blob = bytes(blob[: max(0, int(cut * len(blob)))] if cut < 0.9 else blob)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "fuzz." + ("png" if base == "png" else "jpg"))
        with open(path, "wb") as f:
            f.write(blob)
        try:
            image = data.load_image(path, max_pixels=1_000_000)
        except ValueError as exc:
            assert path in str(exc)
        else:
            assert image.dtype == np.float32 and image.ndim == 3 and image.shape[2] == 3
            assert np.isfinite(image).all() and image.min() >= 0 and image.max() <= 1
        write_mask(os.path.join(folder, "mask.png"), 20, 24)
        out = os.path.join(folder, "out.png")
        code, _, err = run_cli("inpaint", path, "--mask", os.path.join(folder, "mask.png"), "-o", out,
                               "--max-pixels", 1_000_000, "--model", tiny_weights)
        assert code == 2 or (code == 0 and os.path.exists(out))
        assert err.count("\n") <= 1 and "Traceback" not in err
        if code != 0:
            assert not os.path.exists(out)
        assert not [n for n in os.listdir(folder) if n.startswith(".")]  # no temporary file left behind


# ----------------------------------------------------------------------------------------- arrays

def test_nan_and_inf_in_an_image_array_are_value_errors(tiny_model):
    hole = np.zeros((8, 8), bool)
    hole[2:4, 2:4] = True
    for bad in (np.nan, np.inf, -np.inf):
        image = np.full((8, 8, 3), 0.5, np.float32)
        image[5, 5, 1] = bad
        with pytest.raises(ValueError, match="1 NaN or infinite values"):
            deconvlab.inpaint(image, hole, model=tiny_model)


@pytest.mark.parametrize("image, mask, error, needle", [
    (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), bool), TypeError, "float32 or float64.*uint8"),
    (np.zeros((8, 8, 3), np.float16), np.zeros((8, 8), bool), TypeError, "float16"),
    (np.zeros((8, 8, 4), np.float32), np.zeros((8, 8), bool), ValueError, r"HxWx3.*\(8, 8, 4\)"),
    (np.zeros((8,), np.float32), np.zeros((8,), bool), ValueError, r"shape \(8,\)"),
    (np.zeros((0, 8, 3), np.float32), np.zeros((0, 8), bool), ValueError, "empty side"),
    (np.full((8, 8), 1.5, np.float32), np.zeros((8, 8), bool), ValueError, "max 1.5"),
    (np.zeros((8, 8, 3), np.float32), np.zeros((8, 9), bool), ValueError, r"mask has shape \(8, 9\), expected \(8, 8"),
    (np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 1), bool), ValueError, r"mask has shape \(8, 8, 1\)"),
    (np.zeros((8, 8, 3), np.float32), np.full((8, 8), 0.5), ValueError, "found the value 0.5"),
    (np.zeros((8, 8, 3), np.float32), np.full((8, 8), np.nan), ValueError, "found the value nan"),
    (np.zeros((8, 8, 3), np.float32), np.full((8, 8), "1"), TypeError, "mask must be a bool or numeric"),
    (np.zeros((8, 8, 3), np.float32), np.ones((8, 8), np.uint8), ValueError, "covers all 64 pixels"),
])
def test_bad_arrays_are_clear_errors(tiny_model, image, mask, error, needle):
    with pytest.raises(error, match=needle):
        deconvlab.inpaint(image, mask, model=tiny_model)


IMAGE_LAYOUTS = {"HxW": lambda h, w: (h, w), "HxWx1": lambda h, w: (h, w, 1), "HxWx3": lambda h, w: (h, w, 3),
                 "HxWx4": lambda h, w: (h, w, 4), "H": lambda h, w: (h,), "HxWx3x1": lambda h, w: (h, w, 3, 1)}
GOOD = {"layout": ["HxW", "HxWx1", "HxWx3"], "dtype": [np.float32, np.float64], "spoil": [None],
        "mask": ["bool", "uint8", "float", "empty", "full"]}
BAD = {"layout": ["HxWx4", "H", "HxWx3x1"], "dtype": [np.float16, np.uint8, np.int64, np.bool_, np.complex64],
       "spoil": [np.nan, np.inf, -np.inf, -0.25, 1.5], "mask": ["non-binary", "nan", "transposed", "text"]}


@st.composite
def inpaint_calls(draw):
    """An image and a mask in which nothing, one thing or everything is wrong (so valid calls are common)."""
    broken = draw(st.sampled_from(["nothing", "nothing", "everything"] + sorted(GOOD)))
    pick = {k: draw(st.sampled_from(BAD[k] if broken in (k, "everything") else GOOD[k])) for k in GOOD}
    h, w, density = draw(st.integers(1, 20)), draw(st.integers(1, 20)), draw(st.floats(0, 1))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = rng.random(IMAGE_LAYOUTS[pick["layout"]](h, w))
    if pick["spoil"] is not None:
        values.flat[rng.integers(values.size)] = pick["spoil"]
    with np.errstate(invalid="ignore"):
        image = values.astype(pick["dtype"])
    hole = rng.random((h, w)) < density
    mask = {
        "bool": hole, "uint8": hole.astype(np.uint8), "float": hole.astype(np.float64),
        "empty": np.zeros((h, w), bool), "full": np.ones((h, w), bool),
        "non-binary": np.where(hole, rng.uniform(0.2, 0.9, (h, w)), 0.0), "nan": np.where(hole, np.nan, 0.0),
        "transposed": np.zeros((w, h + 1), bool), "text": hole.astype(str),
    }[pick["mask"]]
    return image, mask


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(call=inpaint_calls())
def test_inpaint_gives_a_clear_error_or_a_valid_fill(tiny_model, call):
    image, mask = call
    try:
        out = deconvlab.inpaint(image, mask, model=tiny_model)
    except (TypeError, ValueError) as exc:
        message = str(exc)
        assert message.startswith("inpaint: ") and "\n" not in message
        event(f"{type(exc).__name__}")
        return
    event("valid fill")
    binary = np.asarray(mask).astype(bool)
    assert out.shape == image.shape and out.dtype == image.dtype
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    known = ~binary if image.ndim == 2 else np.broadcast_to(~binary[:, :, None], image.shape)
    assert np.array_equal(out[known], image[known])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=st.integers(1, 48), w=st.integers(1, 48), layout=st.sampled_from(GOOD["layout"]),
       dtype=st.sampled_from(GOOD["dtype"]), mask_dtype=st.sampled_from([bool, np.uint8, np.float32]),
       kind=st.sampled_from(["bernoulli", "block"]), density=st.floats(0, 1), seed=st.integers(0, 2**32 - 1))
def test_valid_inputs_always_give_a_valid_fill(tiny_model, h, w, layout, dtype, mask_dtype, kind, density, seed):
    rng = np.random.default_rng(seed)
    image = rng.random(IMAGE_LAYOUTS[layout](h, w)).astype(dtype)
    if kind == "bernoulli":
        hole = rng.random((h, w)) < density
    else:  # one block, up to nearly the whole image: deep holes take the coarse-to-fine path
        hole = np.zeros((h, w), bool)
        hole[: max(1, int(h * density)), : max(1, int(w * density))] = True
    if hole.all():
        with pytest.raises(ValueError, match="nothing known"):
            deconvlab.inpaint(image, hole.astype(mask_dtype), model=tiny_model)
        return
    out = deconvlab.inpaint(image, hole.astype(mask_dtype), model=tiny_model)
    assert out.shape == image.shape and out.dtype == image.dtype
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    known = ~hole if image.ndim == 2 else np.broadcast_to(~hole[:, :, None], image.shape)
    assert np.array_equal(out[known], image[known])


# ----------------------------------------------------------------------------------------- threads and installs

def test_kernels_called_from_several_threads_at_once_match_single_threaded_results():
    rng = np.random.default_rng(1)
    cases = []
    for i in range(12):
        dtype = np.float64 if i % 2 else np.float32
        x = rng.standard_normal((2, 3, 9 + i, 11 + i)).astype(dtype)
        w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
        cases.append((x, w, rng.standard_normal(4).astype(dtype), 1 + i % 3, i % 2, 1 + (i // 6)))

    def work(case):
        x, w, b, s, p, d = case
        y = kernels.conv2d_forward(x, w, b, stride=s, padding=p, dilation=d)
        grads = kernels.conv2d_backward(y, x, w, stride=s, padding=p, dilation=d)
        t = kernels.conv_transpose2d_forward(y, w, None, stride=s, padding=p, dilation=d)  # w as (C_in 4, C_out 3)
        tgrads = kernels.conv_transpose2d_backward(t, y, w, stride=s, padding=p, dilation=d)
        return [y, *grads, t, *tgrads]

    expected = [work(c) for c in cases]
    results, errors = {}, []
    start = threading.Barrier(6)

    def worker(k):
        try:
            start.wait()
            for rep in range(3):
                for i in range(k, len(cases), 2):
                    results[(k, rep, i)] = work(cases[i])
        except Exception as exc:  # reported below, in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k % 2,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 2 * 3 * 6
    for (_, _, i), arrays in results.items():
        for got, want in zip(arrays, expected[i]):
            assert (got is None and want is None) or np.array_equal(got, want)


SMALL_KERNEL_RUN = textwrap.dedent(
    """
    import warnings
    warnings.simplefilter("default")
    import numpy as np
    import deconvlab
    from deconvlab import kernels
    from deconvlab.kernels import readable
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 2, 7, 6)), rng.standard_normal((3, 2, 3, 3))
    for fast, slow, args in [(kernels.conv2d_forward, readable.conv2d_forward, (x, w, None, 2, 1)),
                             (kernels.conv_transpose2d_forward, readable.conv_transpose2d_forward,
                              (x, w.transpose(1, 0, 2, 3).copy(), None, 2, 1))]:
        assert np.abs(fast(*args) - slow(*args)).max() < 1e-12
    gx, gw, gb = kernels.conv2d_backward(np.ones((1, 3, 4, 3)), x, w, 2, 1)
    assert gx.shape == x.shape and gw.shape == w.shape and gb.shape == (3,)
    print("ok", deconvlab.__file__)
    """
)


def _python(code, env, cwd):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=cwd,
                          env={**os.environ, **env})


@pytest.mark.slow
def test_an_unwritable_numba_cache_falls_back_to_memory_with_at_most_one_warning(tmp_path):
    """Root ignores permissions, so "unwritable" is made with a regular file where a folder should be."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, so nothing can be created below it")
    env = {"NUMBA_CACHE_DIR": str(blocker / "cache"), "XDG_CACHE_HOME": str(blocker / "xdg"), "HOME": str(blocker)}
    installed = _python(SMALL_KERNEL_RUN, env, tmp_path)  # Numba then uses the package's own __pycache__
    assert installed.returncode == 0, installed.stderr
    assert installed.stderr.count("Numba cannot write a compile cache") <= 1

    copy = tmp_path / "readonly-install"
    shutil.copytree(os.path.dirname(deconvlab.__file__), copy / "deconvlab",
                    ignore=shutil.ignore_patterns("__pycache__", "assets", "*.nbi", "*.nbc"))
    (copy / "deconvlab" / "kernels" / "__pycache__").write_text("blocks the in-tree cache too")
    done = _python(SMALL_KERNEL_RUN, {**env, "PYTHONPATH": str(copy)}, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok") and str(copy) in done.stdout
    assert done.stderr.count("Numba cannot write a compile cache") == 1, done.stderr
    assert "Traceback" not in done.stderr


def test_numba_disabled_runs_the_same_kernels_as_plain_python(tmp_path):
    done = _python(SMALL_KERNEL_RUN + "from deconvlab.kernels import fast\nassert not hasattr(fast.phase_split, "
                   "'signatures')\n", {"NUMBA_DISABLE_JIT": "1"}, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok")


# ----------------------------------------------------------------------------------------- numerical edge cases

def test_losses_over_an_empty_hole_are_undefined_for_the_mean_and_zero_for_the_sum():
    x, t = np.random.default_rng(0).random((2, 3, 4, 4)), np.zeros((2, 3, 4, 4))
    empty = np.zeros((2, 1, 4, 4), bool)
    for loss in (F.mse_loss, F.l1_loss):
        with pytest.raises(ValueError, match="selects no element"):
            loss(x, t, mask=empty)
        assert loss(x, t, mask=empty, reduction="sum").item() == 0.0
    with pytest.raises(ValueError, match="selects no element"):
        train.masked_loss(deconvlab.Tensor(x), t, empty)


def test_metrics_over_an_empty_hole_are_value_errors():
    a, b = np.zeros((8, 8, 3)), np.ones((8, 8, 3))
    empty = np.zeros((8, 8), bool)
    for metric in (metrics.hole_psnr, metrics.psnr, metrics.mse, metrics.l1, metrics.mean_psnr):
        with pytest.raises(ValueError, match="hole of image 0 is empty"):
            metric(a, b, empty)
    with pytest.raises(ValueError, match="hole of image 1 is empty"):
        metrics.pooled_hole_psnr([a, a], [b, b], [~empty, empty])


def test_identical_images_have_infinite_psnr_and_constant_images_a_finite_one():
    flat = np.full((16, 16, 3), 0.5)
    hole = masks.center_square(16, 16, 4)
    assert metrics.psnr(flat, flat) == math.inf
    assert metrics.hole_psnr(flat, flat, hole) == math.inf
    assert metrics.psnr(flat + 0.1, flat) == pytest.approx(20.0)  # MSE 0.01 -> 10·log10(1/0.01)
    assert metrics.ssim(flat, flat) == pytest.approx(1.0)
    assert metrics.pooled_hole_psnr([flat, flat], [flat, flat + 0.1], [hole, hole]) == pytest.approx(23.0103, abs=1e-4)
    assert metrics.mean_psnr([flat, flat], [flat, flat + 0.1], [hole, hole]) == math.inf  # one perfect image
    text = json.dumps(evaluation.to_jsonable({"center": {"model": {"hole_psnr": math.inf}}}), allow_nan=False)
    assert json.loads(text)["center"]["model"]["hole_psnr"] is None  # strict JSON has no Infinity


def test_training_on_constant_images_stays_finite(tmp_path, monkeypatch):
    monkeypatch.setattr(train, "plot_history", lambda *args, **kwargs: None)
    flat = [np.full((24, 24, 3), 0.5, np.float32)]
    config = train.TrainConfig(width=4, steps=3, batch_size=2, patch_size=16, eval_every=3, eval_crops=2,
                               checkpoint_every=3, clip_grad_norm=0.5)
    _, history = train.train(config, str(tmp_path), images=flat, eval_images=flat, progress=False, log=lambda *_: None)
    assert np.isfinite(history[-1]["loss"]) and history[-1]["center_hole_psnr"] > 0


# ------------------------------------------------------------------------ faults a fault-injection run found

def _small_photos(folder, sizes):
    folder.mkdir()
    for i, (h, w) in enumerate(sizes):
        data.save_image(folder / f"p{i}.png", np.random.default_rng(i).random((h, w, 3)).astype(np.float32))
    return folder


def test_a_second_training_run_on_the_same_folder_is_refused_while_the_first_holds_it(tmp_path):
    from deconvlab._files import folder_lock

    photos = _small_photos(tmp_path / "photos", [(40, 40)])
    with folder_lock(tmp_path / "run"):
        code, _, err = run_cli("train", "--out", tmp_path / "run", "--data", photos, "--steps", 1, "--width", 4,
                               "--batch-size", 1, "--patch-size", 16, "--quiet")
    assert_one_line_error(code, err, "is in use by another training run", "--out")
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


def test_photos_smaller_than_the_patch_are_named_and_half_size_copies_never_are_too_small(tmp_path):
    photos = _small_photos(tmp_path / "photos", [(80, 90), (40, 50)])
    code, _, err = run_cli("train", "--out", tmp_path / "run", "--data", photos, "--patch-size", 48, "--quiet")
    assert_one_line_error(code, err, "smaller than the 48x48 patch (--patch-size 48)", "p1.png (50x40)")
    images = train.training_images(str(photos), patch_size=40)
    assert all(min(im.shape[:2]) >= 40 for im in images) and len(images) == 3  # the 80x90 photo's half: 40x45
    bundled = train.training_images(patch_size=136)
    assert all(min(im.shape[:2]) >= 136 for im in bundled)


def test_non_finite_weights_are_refused_when_loading_naming_the_file(tmp_path, tiny_model):
    path = tmp_path / "nan.npz"
    checkpoints.save_weights(path, tiny_model, train.TrainConfig(width=4, start="mean"))
    with np.load(path) as z:
        arrays = dict(z)
    arrays["model/out.bias"] = np.full_like(arrays["model/out.bias"], np.nan)
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=r"nan.npz' holds NaN or infinite numbers in 'model/out.bias'"):
        checkpoints.load_model(path)
    image = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
    data.save_image(tmp_path / "p.png", image)
    data.save_image(tmp_path / "m.png", masks.center_square(32, 32, 8).astype(np.float32))
    code, _, err = run_cli("inpaint", tmp_path / "p.png", "--mask", tmp_path / "m.png", "-o", tmp_path / "o.png",
                           "--model", path)
    assert_one_line_error(code, err, "nan.npz", "NaN or infinite")


@pytest.mark.parametrize("field, value, needle", [
    ("step", -3, "has step -3; expected a non-negative integer"),
    ("step", "4", "has step '4'"),
    ("history", [{"step": 1, "seconds": 1, "loss": 1, "grad_norm": 1, "=HYPERLINK(\"x\")": 1}], "history entry"),
    ("history", [{"step": 1, "seconds": 1, "loss": "=1+1", "grad_norm": 1, "center_hole_psnr": 1}], "history entry"),
])
def test_checkpoint_metadata_is_validated(tmp_path, tiny_model, field, value, needle):
    path = tmp_path / "w.npz"
    checkpoints.save_weights(path, tiny_model, train.TrainConfig(width=4, start="mean"))
    with np.load(path) as z:
        arrays = dict(z)
    meta = json.loads(arrays["meta"].tobytes().decode())
    meta[field] = value
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=re.escape(needle)):
        checkpoints.load_model(path)


def test_a_scheduler_state_can_only_set_its_own_numbers():
    from deconvlab import optim

    param = deconvlab.Tensor(np.zeros(2), requires_grad=True)
    sched = optim.CosineAnnealingLR(optim.Adam([param]), T_max=10)
    state = sched.state_dict()
    with pytest.raises(ValueError, match="expected the keys"):
        sched.load_state_dict({**state, "optimizer": None})
    with pytest.raises(ValueError, match="'T_max' is 'x'; expected numbers"):
        sched.load_state_dict({**state, "T_max": "x"})
    sched.load_state_dict(state)


def test_the_output_may_not_be_the_photo_or_the_mask_unless_asked(tmp_path, tiny_weights):
    image = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
    data.save_image(tmp_path / "p.png", image)
    data.save_image(tmp_path / "m.png", masks.center_square(32, 32, 8).astype(np.float32))
    before = (tmp_path / "p.png").read_bytes()
    for target in ("p.png", "m.png"):
        code, _, err = run_cli("inpaint", tmp_path / "p.png", "--mask", tmp_path / "m.png", "-o", tmp_path / target,
                               "--model", tiny_weights)
        assert_one_line_error(code, err, "writing it would destroy the", "--overwrite")
    assert (tmp_path / "p.png").read_bytes() == before
    code, _, err = run_cli("inpaint", tmp_path / "p.png", "--mask", tmp_path / "m.png", "-o", tmp_path / "p.png",
                           "--model", tiny_weights, "--overwrite")
    assert code == 0, err


@pytest.mark.parametrize("args, needle", [
    (["inpaint", "x.png", "--mask", "m.png", "-o", "o.png", "--tiles", "300"], "did you mean --tile?"),
    (["inpaint", "x.png", "--mak", "m.png", "-o", "o.png"], "unrecognized arguments: --mak m.png; did you mean --mask?"),
    (["train", "--ot", "runs/x"], "did you mean --out?"),
    (["inpiant", "x.png"], "did you mean inpaint?"),
    (["exercises", "grde", "x"], "did you mean grade?"),
])
def test_a_mistyped_option_or_command_gets_a_suggestion(args, needle):
    code, _, err = run_cli(*args)
    assert_one_line_error(code, err, needle)


def test_a_crafted_checkpoint_is_refused_from_its_headers_before_anything_is_allocated(tmp_path, tiny_model):
    from deconvlab import models

    path = tmp_path / "w.npz"
    checkpoints.save_weights(path, tiny_model, train.TrainConfig(width=4, start="mean"))
    with np.load(path) as z:
        arrays = dict(z)
    meta = json.loads(arrays["meta"].tobytes().decode())
    meta["config"]["width"] = 1536  # 1.35 G parameters if built
    crafted = dict(arrays, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    np.savez(tmp_path / "wide.npz", **crafted)
    with pytest.raises(ValueError, match="describe a network of .* parameters, its arrays hold 18627"):
        checkpoints.load_model(tmp_path / "wide.npz")
    np.savez(tmp_path / "junk.npz", **dict(arrays, junk=np.zeros(3)))
    with pytest.raises(ValueError, match="holds 'junk.npy', which no deconvlab file has"):
        checkpoints.load_model(tmp_path / "junk.npz")
    monkeypatched = checkpoints.MAX_ARRAY_BYTES
    try:
        checkpoints.MAX_ARRAY_BYTES = 1000
        with pytest.raises(ValueError, match="bytes of arrays, more than a deconvlab network has"):
            checkpoints.load_model(path)
    finally:
        checkpoints.MAX_ARRAY_BYTES = monkeypatched
    nested = dict(arrays, meta=np.frombuffer(("[" * 100000 + "]" * 100000).encode(), dtype=np.uint8))
    np.savez(tmp_path / "nested.npz", **nested)
    with pytest.raises(ValueError, match="not deconvlab's JSON"):
        checkpoints.load_model(tmp_path / "nested.npz")
    assert models.parameter_count("inpaintnet", 32) == 1166851


@pytest.mark.parametrize("make", ["directory", "devzero"])
def test_a_checkpoint_that_is_not_a_regular_file_is_a_one_line_usage_error(tmp_path, make):
    out = tmp_path / "run"
    out.mkdir()
    if make == "directory":
        (out / "checkpoint.npz").mkdir()
    else:
        os.symlink("/dev/zero", out / "checkpoint.npz")
    code, _, err = run_cli("train", "--out", out, "--resume", "--quiet")
    assert_one_line_error(code, err, "is not a regular file")


@pytest.mark.parametrize("args, needle", [
    (["train", "--out", "{t}/r", "--width", "100000"], "--width must be at most 512"),
    (["train", "--out", "{t}/r", "--batch-size", "10000000"], "--batch-size must be at most 4096"),
    (["evaluate", "--crops", "10000000"], "a number of crops from 1 to 100000"),
    (["train", "--out", "/proc/deconvlab-run"], "cannot be written"),
])
def test_absurd_values_are_one_line_usage_errors(tmp_path, args, needle):
    code, _, err = run_cli(*[a.format(t=tmp_path) for a in args])
    assert_one_line_error(code, err, needle)


def test_an_overflowing_thread_count_is_a_one_line_usage_error(monkeypatch):
    from deconvlab import parallel

    monkeypatch.setenv(parallel.ENV, "9" * 30)
    code, _, err = run_cli("demo", "-o", "x.png")
    monkeypatch.delenv(parallel.ENV)
    parallel.set_num_threads(None)
    assert_one_line_error(code, err, "DECONVLAB_NUM_THREADS must be a positive integer", "at most 1024")


def test_rough_edges_of_photo_files(tmp_path, tiny_weights):
    rgba = np.zeros((32, 40, 4), dtype=np.uint8)
    rgba[..., :3] = 120
    rgba[..., 3] = 200
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    data.save_image(tmp_path / "m.png", masks.center_square(32, 40, 8).astype(np.float32))
    code, _, err = run_cli("inpaint", tmp_path / "alpha.png", "--mask", tmp_path / "m.png", "-o", tmp_path / "o.png",
                           "--model", tiny_weights)
    assert code == 0 and "has transparency" in err and err.count("\n") == 1
    turned = Image.fromarray(np.full((40, 32, 3), 90, np.uint8))
    exif = turned.getexif()
    exif[0x0112] = 6  # read turned by 90 degrees: 40 wide, 32 high
    turned.save(tmp_path / "turned.jpg", exif=exif)
    data.save_image(tmp_path / "m2.png", masks.center_square(40, 32, 8).astype(np.float32))  # 32 wide, 40 high
    code, _, err = run_cli("inpaint", tmp_path / "turned.jpg", "--mask", tmp_path / "m2.png", "-o",
                           tmp_path / "o2.png", "--model", tiny_weights)
    assert_one_line_error(code, err, "EXIF orientation")
    long_name = "n" * 240 + ".png"
    code, _, err = run_cli("inpaint", tmp_path / "alpha.png", "--mask", tmp_path / "m.png", "-o",
                           tmp_path / long_name, "--model", tiny_weights)
    assert code == 0, err
    assert (tmp_path / long_name).exists()
