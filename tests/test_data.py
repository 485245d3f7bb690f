"""Tests for deconvlab.data: image reading/writing, folders, patch sampling, photos, CIFAR-10."""
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import deconvlab
import deconvlab.models

from deconvlab import data


def _rgb(h=5, w=7, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


# --------------------------------------------------------------------------- load_image: pixel formats

def test_rgb_png_loads_as_bytes_over_255(tmp_path):
    pixels = _rgb()
    Image.fromarray(pixels).save(tmp_path / "a.png")
    out = data.load_image(tmp_path / "a.png")
    assert out.dtype == np.float32 and out.shape == (5, 7, 3)
    np.testing.assert_array_equal(out, pixels.astype(np.float32) / np.float32(255))


def test_gray_file_is_replicated_to_three_channels_or_kept_with_as_gray(tmp_path):
    pixels = _rgb()[:, :, 0]
    Image.fromarray(pixels).save(tmp_path / "g.png")
    rgb = data.load_image(tmp_path / "g.png")
    gray = data.load_image(tmp_path / "g.png", as_gray=True)
    assert rgb.shape == (5, 7, 3) and gray.shape == (5, 7)
    for c in range(3):
        np.testing.assert_array_equal(rgb[:, :, c], pixels / np.float32(255))
    np.testing.assert_array_equal(gray, pixels / np.float32(255))


def test_as_gray_of_colour_is_bt601_luma(tmp_path):
    pixels = _rgb()
    Image.fromarray(pixels).save(tmp_path / "a.png")
    gray = data.load_image(tmp_path / "a.png", as_gray=True)
    p = pixels / 255.0
    expected = 0.299 * p[:, :, 0] + 0.587 * p[:, :, 1] + 0.114 * p[:, :, 2]
    np.testing.assert_allclose(gray, expected, atol=1e-6)


def test_rgba_is_composited_over_the_background(tmp_path):
    pixels = np.array([[[200, 100, 0, 255], [200, 100, 0, 0], [200, 100, 0, 51]]], dtype=np.uint8)
    Image.fromarray(pixels, "RGBA").save(tmp_path / "a.png")
    white = data.load_image(tmp_path / "a.png")
    black = data.load_image(tmp_path / "a.png", background=0.0)
    colour = np.array([200, 100, 0]) / 255
    np.testing.assert_allclose(white[0, 0], colour, atol=1e-6)
    np.testing.assert_allclose(white[0, 1], [1, 1, 1], atol=1e-6)
    np.testing.assert_allclose(white[0, 2], 0.2 * colour + 0.8, atol=1e-6)
    np.testing.assert_allclose(black[0, 2], 0.2 * colour, atol=1e-6)


def test_palette_image_is_expanded_through_its_palette(tmp_path):
    palette = [10, 20, 30, 250, 240, 230, 0, 128, 255] + [0] * (256 * 3 - 9)
    index = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.uint8)
    im = Image.fromarray(index, "L").convert("P")
    im.putpalette(palette)
    im.putdata(index.ravel().tolist())
    im.save(tmp_path / "p.png")
    out = data.load_image(tmp_path / "p.png")
    table = np.array(palette[:9]).reshape(3, 3) / 255
    np.testing.assert_allclose(out, table[index], atol=1e-6)


def test_palette_transparency_is_composited(tmp_path):
    im = Image.new("P", (2, 1))
    im.putpalette([255, 0, 0, 0, 0, 255] + [0] * (256 * 3 - 6))
    im.putdata([0, 1])
    im.save(tmp_path / "p.png", transparency=1)
    out = data.load_image(tmp_path / "p.png")
    np.testing.assert_allclose(out[0], [[1, 0, 0], [1, 1, 1]], atol=1e-6)


def test_sixteen_bit_png_is_scaled_by_65535(tmp_path):
    values = np.array([[0, 1000, 65535], [257, 32768, 12345]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "d.png")
    assert Image.open(tmp_path / "d.png").mode.startswith("I")
    out = data.load_image(tmp_path / "d.png", as_gray=True)
    np.testing.assert_allclose(out, values / 65535.0, rtol=1e-6)


def test_thirty_two_bit_integers_must_be_sixteen_bit_data(tmp_path):
    good = np.array([[0, 65535]], dtype=np.int32)
    Image.fromarray(good).save(tmp_path / "i.tif")
    np.testing.assert_allclose(data.load_image(tmp_path / "i.tif", as_gray=True), [[0, 1]])
    Image.fromarray(np.array([[0, 70000]], dtype=np.int32)).save(tmp_path / "big.tif")
    with pytest.raises(ValueError, match="big.tif"):
        data.load_image(tmp_path / "big.tif")


def test_one_bit_image_gives_zero_and_one(tmp_path):
    bits = np.array([[True, False, True]])
    Image.fromarray(bits).save(tmp_path / "b.png")
    assert Image.open(tmp_path / "b.png").mode == "1"
    np.testing.assert_array_equal(data.load_image(tmp_path / "b.png", as_gray=True), [[1, 0, 1]])


def test_cmyk_is_converted_to_rgb(tmp_path):
    im = Image.new("CMYK", (2, 1))
    im.putdata([(0, 0, 0, 0), (255, 0, 0, 0)])  # white, cyan
    im.save(tmp_path / "c.tif")
    out = data.load_image(tmp_path / "c.tif")
    np.testing.assert_allclose(out[0], [[1, 1, 1], [0, 1, 1]], atol=1e-6)


def test_exif_orientation_is_applied(tmp_path):
    pixels = _rgb(2, 3)
    im = Image.fromarray(pixels)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation 6: the viewer rotates the stored image 90 degrees clockwise
    im.save(tmp_path / "o.png", exif=exif)
    out = data.load_image(tmp_path / "o.png")
    np.testing.assert_array_equal(out, np.rot90(pixels, k=-1) / np.float32(255))


# --------------------------------------------------------------------------- load_image: errors

def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        data.load_image(tmp_path / "nope.png")


def test_empty_file_is_value_error_naming_the_path(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ValueError, match="empty.png"):
        data.load_image(tmp_path / "empty.png")


def test_garbage_file_is_value_error_naming_the_path(tmp_path):
    (tmp_path / "junk.jpg").write_bytes(b"this is not an image at all" * 10)
    with pytest.raises(ValueError, match="junk.jpg"):
        data.load_image(tmp_path / "junk.jpg")


def test_truncated_file_is_value_error_naming_the_path(tmp_path):
    Image.fromarray(_rgb(64, 64)).save(tmp_path / "full.png")
    blob = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="cut.png"):
        data.load_image(tmp_path / "cut.png")


def test_pixel_limit_is_checked_from_the_header_before_decoding(tmp_path):
    Image.fromarray(_rgb(100, 100)).save(tmp_path / "big.png")
    assert data.load_image(tmp_path / "big.png", max_pixels=10_000).shape == (100, 100, 3)
    with pytest.raises(ValueError, match="max_pixels=9999"):
        data.load_image(tmp_path / "big.png", max_pixels=9999)
    blob = (tmp_path / "big.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(blob[:200])  # header intact, pixel data missing
    with pytest.raises(ValueError, match="max_pixels"):
        data.load_image(tmp_path / "cut.png", max_pixels=50)
    assert data.DEFAULT_MAX_PIXELS == 50_000_000


# --------------------------------------------------------------------------- save_image

def test_save_then_load_png_is_exact_for_byte_values(tmp_path):
    pixels = _rgb(6, 4)
    data.save_image(tmp_path / "s.png", pixels / 255.0)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "s.png")), pixels)


def test_save_rounds_clips_rounding_slack_and_refuses_values_outside_unit_range_like_inpaint(tmp_path):
    image = np.array([[-1e-7, 0.0, 0.5, 1.0, 1 + 1e-7, 0.31]], dtype=np.float32)
    data.save_image(tmp_path / "g.png", image)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "g.png")), [[0, 0, 128, 255, 255, 79]])
    bytes_as_floats = np.full((2, 2, 3), 200.0, dtype=np.float32)
    for call in (lambda: data.save_image(tmp_path / "w.png", bytes_as_floats),
                 lambda: deconvlab.inpaint(bytes_as_floats, np.eye(2, dtype=bool))):
        with pytest.raises(ValueError, match=r"must lie in \[0, 1\], got min 200, max 200; .*divide by 255"):
            call()
    assert not (tmp_path / "w.png").exists()


def test_pipes_and_devices_are_not_read_as_empty_files(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    for path in (tmp_path / "fifo", "/dev/zero"):
        with pytest.raises(ValueError, match="is not a regular file"):
            data.load_image(path)


def test_big_endian_arrays_are_taken_in_any_byte_order():
    image = np.random.default_rng(0).random((16, 16, 3)).astype(">f4")
    hole = np.zeros((16, 16), dtype=">i2")
    hole[4:8, 4:8] = 1
    out = deconvlab.inpaint(image, hole, model=deconvlab.models.InpaintNet(4, rng=0, start="harmonic").eval())
    assert out.dtype == np.float32 and np.array_equal(out[hole == 0], image[hole == 0])  # native byte order


def test_save_jpeg_by_extension(tmp_path):
    yy, xx = np.mgrid[0:32, 0:32] / 31.0
    image = np.stack([yy, xx, 0.5 * (yy + xx)], axis=-1)
    data.save_image(tmp_path / "s.JPG", image)
    assert Image.open(tmp_path / "s.JPG").format == "JPEG"
    assert np.abs(data.load_image(tmp_path / "s.JPG") - image).mean() < 0.02


def test_save_replaces_atomically_and_leaves_no_temporary_files(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    data.save_image(target, np.zeros((4, 4, 3)))
    data.save_image(target, np.ones((4, 4, 3)))
    assert np.asarray(Image.open(target)).min() == 255
    before = target.read_bytes()

    def broken_save(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        data.save_image(target, np.zeros((4, 4, 3)))
    assert target.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["out.png"]


def test_save_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match=".bmp"):
        data.save_image(tmp_path / "x.bmp", np.zeros((2, 2)))
    with pytest.raises(TypeError, match="uint8"):
        data.save_image(tmp_path / "x.png", np.zeros((2, 2), dtype=np.uint8))
    with pytest.raises(ValueError, match="NaN"):
        data.save_image(tmp_path / "x.png", np.full((2, 2), np.nan))
    with pytest.raises(ValueError, match="shape"):
        data.save_image(tmp_path / "x.png", np.zeros((2, 2, 4)))
    with pytest.raises(FileNotFoundError):
        data.save_image(tmp_path / "no" / "x.png", np.zeros((2, 2)))


# --------------------------------------------------------------------------- ImageFolder

def test_image_folder_lists_png_and_jpeg_sorted(tmp_path):
    for name in ["b.png", "a.JPG", "c.jpeg"]:
        fmt = "PNG" if name.endswith("png") else "JPEG"
        Image.fromarray(_rgb(8, 8)).save(tmp_path / name, format=fmt)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden.png").write_bytes(b"")
    (tmp_path / "sub").mkdir()
    Image.fromarray(_rgb(8, 8)).save(tmp_path / "sub" / "d.png")
    folder = data.ImageFolder(tmp_path)
    assert [p.name for p in folder.paths] == ["a.JPG", "b.png", "c.jpeg"]
    assert len(folder) == 3 and folder[1].shape == (8, 8, 3)
    assert len(list(folder)) == 3
    assert len(data.ImageFolder(tmp_path, recursive=True)) == 4


def test_image_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="no .png"):
        data.ImageFolder(tmp_path)
    with pytest.raises(NotADirectoryError):
        data.ImageFolder(tmp_path / "missing")


# --------------------------------------------------------------------------- PatchSampler

def _numbered_image(h=12, w=10, c=3):
    return (np.arange(h * w * c, dtype=np.float32).reshape(h, w, c) / (h * w * c))


def _crops(image, p, flips):
    """Every p x p crop of image (CHW), with the flip variants allowed."""
    out = []
    for top in range(image.shape[0] - p + 1):
        for left in range(image.shape[1] - p + 1):
            crop = image[top:top + p, left:left + p].transpose(2, 0, 1)
            out.append(crop)
            if flips:
                out += [crop[:, :, ::-1], crop[:, ::-1, :], crop[:, ::-1, ::-1]]
    return out


def test_patch_sampler_yields_nchw_crops_of_the_images():
    images = [_numbered_image(), _numbered_image(9, 11) + 2.0]
    sampler = data.PatchSampler(images, patch_size=5, batch_size=20, seed=3, flips=False)
    batch = next(sampler)
    assert batch.shape == (20, 3, 5, 5) and batch.dtype == np.float32
    allowed = _crops(images[0], 5, False) + _crops(images[1], 5, False)
    for patch in batch:
        assert any(np.array_equal(patch, c) for c in allowed)


def test_patch_sampler_flips_both_ways():
    image = _numbered_image(5, 5)
    sampler = data.PatchSampler([image], patch_size=5, batch_size=64, seed=0, flips=True)
    straight = image.transpose(2, 0, 1)
    seen = set()
    for patch in sampler.sample():
        for name, variant in [("none", straight), ("lr", straight[:, :, ::-1]),
                              ("ud", straight[:, ::-1, :]), ("both", straight[:, ::-1, ::-1])]:
            if np.array_equal(patch, variant):
                seen.add(name)
    assert seen == {"none", "lr", "ud", "both"}


def test_patch_sampler_is_reproducible_from_its_seed():
    images = [_numbered_image(20, 20)]
    a = data.PatchSampler(images, patch_size=4, batch_size=8, seed=7)
    b = data.PatchSampler(images, patch_size=4, batch_size=8, seed=7)
    c = data.PatchSampler(images, patch_size=4, batch_size=8, seed=8)
    first, second = a.sample(), a.sample()
    np.testing.assert_array_equal(first, b.sample())
    np.testing.assert_array_equal(second, b.sample())
    assert not np.array_equal(first, second)
    assert not np.array_equal(first, c.sample())


def test_patch_sampler_gray_images_give_one_channel_and_bad_inputs_fail():
    assert data.PatchSampler([np.zeros((6, 6))], patch_size=3, batch_size=2).sample().shape == (2, 1, 3, 3)
    with pytest.raises(ValueError, match="smaller than patch_size"):
        data.PatchSampler([np.zeros((6, 4, 3))], patch_size=5)
    with pytest.raises(ValueError, match="channels"):
        data.PatchSampler([np.zeros((6, 6, 3)), np.zeros((6, 6))], patch_size=5)
    with pytest.raises(TypeError, match="uint8"):
        data.PatchSampler([np.zeros((6, 6, 3), dtype=np.uint8)], patch_size=5)


# --------------------------------------------------------------------------- bundled photos

PHOTO_DIR = Path(data.__file__).parent / "assets" / "photos"


def test_photo_split_is_disjoint_with_at_least_three_test_photos():
    assert set(data.TRAIN_PHOTOS).isdisjoint(data.TEST_PHOTOS)
    assert len(data.TEST_PHOTOS) >= 3 and len(data.TRAIN_PHOTOS) >= 3
    assert set(data.PHOTOS) == set(data.TRAIN_PHOTOS) | set(data.TEST_PHOTOS)


def test_every_photo_is_shipped_licensed_and_modest():
    licences = (PHOTO_DIR / "LICENSES.md").read_text(encoding="utf-8")
    files = sorted(p.name for p in PHOTO_DIR.glob("*.png"))
    assert files == sorted(f"{name}.png" for name in data.PHOTOS)
    assert sum((PHOTO_DIR / f).stat().st_size for f in files) <= 4 * 1024 * 1024
    for name in data.PHOTOS:
        assert f"{name}.png" in licences
        with Image.open(PHOTO_DIR / f"{name}.png") as im:
            assert 256 <= max(im.size) <= 384


def test_load_photo_and_bundled_photos():
    photo = data.load_photo("chelsea")
    assert photo.dtype == np.float32 and photo.ndim == 3 and photo.shape[2] == 3
    assert 0.0 <= photo.min() and photo.max() <= 1.0 and photo.std() > 0.05
    test = data.bundled_photos("test")
    assert tuple(test) == data.TEST_PHOTOS
    np.testing.assert_array_equal(test["chelsea"], photo)
    with pytest.raises(ValueError, match="unknown photo"):
        data.load_photo("mona_lisa")
    with pytest.raises(ValueError, match="split"):
        data.bundled_photos("validation")


# --------------------------------------------------------------------------- CIFAR-10

def _write_batch(path, n, seed, protocol=pickle.HIGHEST_PROTOCOL):
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, size=n)]
    batch = {b"batch_label": b"synthetic", b"labels": labels, b"data": raw,
             b"filenames": [b"img%d.png" % i for i in range(n)]}
    with open(path, "wb") as handle:
        pickle.dump(batch, handle, protocol=protocol)
    return raw, labels


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_cifar_batch_rows_are_r_g_b_planes_of_32x32(tmp_path, protocol):
    raw, labels = _write_batch(tmp_path / "data_batch_1", 4, seed=0, protocol=protocol)
    images, got = data.read_cifar10_batch(tmp_path / "data_batch_1")
    assert images.shape == (4, 3, 32, 32) and images.dtype == np.float32
    assert got.dtype == np.int64 and got.tolist() == labels
    for i, c, y, x in [(0, 0, 0, 0), (1, 1, 5, 31), (2, 2, 31, 0), (3, 0, 17, 9)]:
        assert images[i, c, y, x] == np.float32(raw[i, 1024 * c + 32 * y + x]) / np.float32(255)


def test_load_cifar10_reads_five_training_batches_or_the_test_batch(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    raws = [_write_batch(folder / f"data_batch_{i}", 3, seed=i)[0] for i in range(1, 6)]
    test_raw, _ = _write_batch(folder / "test_batch", 2, seed=9)
    images, labels = data.load_cifar10(tmp_path)  # the parent folder works too
    assert images.shape == (15, 3, 32, 32) and labels.shape == (15,)
    np.testing.assert_array_equal(images[6:9].reshape(3, -1) * 255, raws[2].astype(np.float32))
    test_images, _ = data.load_cifar10(folder, train=False)
    np.testing.assert_allclose(test_images.reshape(2, -1) * 255, test_raw, atol=1e-4)


def test_load_cifar10_names_missing_files_and_never_downloads(tmp_path):
    _write_batch(tmp_path / "data_batch_1", 2, seed=0)
    with pytest.raises(FileNotFoundError, match="data_batch_2, data_batch_3"):
        data.load_cifar10(tmp_path)
    with pytest.raises(FileNotFoundError, match="test_batch"):
        data.load_cifar10(tmp_path, train=False)


def test_cifar_reader_accepts_the_numpy_1_module_names_of_older_pickles(tmp_path):
    raw = np.arange(3072 * 2, dtype=np.int64).astype(np.uint8).reshape(2, 3072)
    blob = pickle.dumps({b"data": raw, b"labels": [3, 4]}, protocol=2)
    (tmp_path / "old").write_bytes(blob.replace(b"numpy._core.", b"numpy.core."))
    images, labels = data.read_cifar10_batch(tmp_path / "old")
    np.testing.assert_array_equal(np.round(images.reshape(2, -1) * 255), raw)
    assert labels.tolist() == [3, 4]


class _Evil:
    def __reduce__(self):
        return (os.getcwd, ())


def test_cifar_reader_refuses_pickles_that_run_code(tmp_path):
    with open(tmp_path / "data_batch_1", "wb") as handle:
        pickle.dump({b"data": _Evil(), b"labels": []}, handle)
    with pytest.raises(ValueError, match="refusing"):
        data.read_cifar10_batch(tmp_path / "data_batch_1")


def test_cifar_reader_rejects_wrong_layouts(tmp_path):
    with open(tmp_path / "b", "wb") as handle:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, handle)
    with pytest.raises(ValueError, match="3072"):
        data.read_cifar10_batch(tmp_path / "b")
    with open(tmp_path / "c", "wb") as handle:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, handle)
    with pytest.raises(ValueError, match="1 labels for 2 images"):
        data.read_cifar10_batch(tmp_path / "c")
    (tmp_path / "d").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a CIFAR-10"):
        data.read_cifar10_batch(tmp_path / "d")
