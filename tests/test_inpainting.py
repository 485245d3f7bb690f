"""deconvlab.inpaint on whole images: any size, tiling that changes nothing, deep holes, gray images, known pixels."""
import contextlib
import pathlib

import numpy as np
import pytest

import deconvlab
from deconvlab import checkpoints, inpainting, masks, metrics, no_grad, parallel, train
from deconvlab.baselines import harmonic_fill
from deconvlab.models import HoleNet, InpaintNet, InpaintVAE


@pytest.fixture(scope="module")
def model(tiny_model):
    return tiny_model


def photo(h, w, seed=0, channels=3):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 0.5 + 0.3 * np.sin(yy / 7.0 + rng.uniform(0, 3)) * np.cos(xx / 5.0)
    image = np.clip(base[:, :, None] + 0.1 * rng.random((h, w, channels)), 0, 1).astype(np.float32)
    return image if channels > 1 else image[:, :, 0]


def assert_valid_fill(out, image, hole):
    assert out.shape == image.shape and out.dtype == image.dtype
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert np.array_equal(out[~hole], image[~hole])


@pytest.mark.parametrize("size", [(13, 27), (1, 9), (9, 1), (2, 2), (31, 8), (8, 33), (57, 61)])
def test_sizes_not_divisible_by_8_are_filled_and_keep_their_size(model, size):
    image = photo(*size)
    hole = np.zeros(size, dtype=bool)
    hole[size[0] // 2, size[1] // 2] = True
    hole[0, 0] = True
    out = deconvlab.inpaint(image, hole, model=model)
    assert_valid_fill(out, image, hole)


def test_known_pixels_are_returned_bit_for_bit_in_the_input_dtype(model):
    for dtype in (np.float32, np.float64):
        image = photo(40, 48).astype(dtype)
        hole = masks.random_rectangles(40, 48, seed=1)
        out = deconvlab.inpaint(image, hole, model=model)
        assert out.dtype == dtype
        assert_valid_fill(out, image, hole)
        assert out is not image


def test_gray_in_gives_gray_out(model):
    gray = photo(30, 35, channels=1).astype(np.float64)
    hole = masks.center_square(30, 35, 10)
    out = deconvlab.inpaint(gray, hole, model=model)
    assert out.shape == (30, 35)
    assert_valid_fill(out, gray, hole)
    out1 = deconvlab.inpaint(gray[:, :, None], hole, model=model)
    assert out1.shape == (30, 35, 1)
    assert np.array_equal(out1[:, :, 0], out)


def test_bool_int_and_float_binary_masks_give_the_same_result(model):
    image = photo(24, 24)
    hole = masks.bernoulli(24, 24, p=0.3, seed=2)
    results = [deconvlab.inpaint(image, m, model=model) for m in (hole, hole.astype(np.uint8), hole.astype(np.float64))]
    assert all(np.array_equal(results[0], r) for r in results[1:])


def test_an_empty_mask_returns_an_unchanged_copy_without_a_model():
    image = photo(10, 12)
    out = deconvlab.inpaint(image, np.zeros((10, 12), dtype=bool), model=None)  # no model needed, none loaded
    assert np.array_equal(out, image) and out is not image


def test_a_mask_covering_everything_is_a_clear_error(model):
    with pytest.raises(ValueError, match="covers all 120 pixels.*nothing known"):
        deconvlab.inpaint(photo(10, 12), np.ones((10, 12), dtype=bool), model=model)


def test_a_non_binary_mask_array_is_a_value_error_naming_a_bad_value(model):
    m = np.zeros((10, 12))
    m[3, 4] = 0.7
    with pytest.raises(ValueError, match=r"only 0 and 1.*0\.7.*mask > 0\.5"):
        deconvlab.inpaint(photo(10, 12), m, model=model)


def _hole_net_with_a_correction(width, rng):
    net = HoleNet(width, dtype=np.float64, rng=rng)
    net.out.weight.data[...] = np.random.default_rng(rng).standard_normal(net.out.weight.shape)  # r ≠ 0
    return net


def _resize_net_with_a_correction(width, rng):
    net = HoleNet(width, dtype=np.float64, rng=rng, resize=True)
    net.out.weight.data[...] = np.random.default_rng(rng).standard_normal(net.out.weight.shape)
    return net


def _vae_with_a_correction(width, rng):
    net = InpaintVAE(width, dtype=np.float64, rng=rng)
    draw = np.random.default_rng(rng)
    for layer in (net.out, net.inject, net.prior_head):  # r ≠ 0, and the prior's mean reaches the decoder
        layer.weight.data[...] = draw.standard_normal(layer.weight.shape)
    return net


@pytest.mark.parametrize("make, n", [(InpaintNet, 160), (_hole_net_with_a_correction, 256), (_vae_with_a_correction, 256),
                                     (_resize_net_with_a_correction, 256)],
                         ids=["InpaintNet", "HoleNet", "InpaintVAE", "HoleNet-resize"])
def test_the_margin_covers_the_receptive_field_that_the_network_declares(make, n):
    """Change one input pixel and see which outputs move: over all 8 x 8 alignments on the network's grid, the
    farthest moved output is exactly the network's receptive_radius away, and inpaint's margin is larger, or
    cutting the photo into regions and tiles would change the result."""
    net = make(2, rng=0) if make in (_hole_net_with_a_correction, _vae_with_a_correction,
                                     _resize_net_with_a_correction) else \
        make(2, dtype=np.float64, rng=0)
    rng = np.random.default_rng(0)
    x = rng.random((1, 3, n, n))
    hole = np.ones((64, 1, n, n))  # the network then reads only the start values, which we perturb
    start = rng.random((1, 3, n, n))
    with no_grad():
        before = net(x, hole[:1], start).data
    moved = np.repeat(start, 64, axis=0)
    for k in range(64):
        moved[k, :, n // 2 + k // 8, n // 2 + k % 8] += 0.5
    with no_grad():
        after = net(np.repeat(x, 64, axis=0), hole, moved).data
    reach = 0
    for k in range(64):
        # 1e-12: a batch of 64 is summed in another order than a batch of 1, which moves outputs by ~1e-16
        rows, cols = np.nonzero(np.abs(after[k] - before[0]).max(axis=0) > 1e-12)
        reach = max(reach, np.abs(rows - n // 2 - k // 8).max(), np.abs(cols - n // 2 - k % 8).max())
    print(f"receptive field reaches {reach} pixels; inpaint's margin: {inpainting.margin_of(net)}")
    assert reach == net.receptive_radius
    assert inpainting.margin_of(net) > reach and inpainting.margin_of(net) % 8 == 0


def test_tiled_result_equals_the_untiled_result(model):
    h, w = 300, 270  # not multiples of 8, and more than one tile each way at tile=256
    image = photo(h, w, seed=3)
    hole = masks.brush_strokes(h, w, seed=3, count=8) | masks.bernoulli(h, w, p=0.1, seed=4)
    whole = deconvlab.inpaint(image, hole, model=model, tile=1024)
    tiled = deconvlab.inpaint(image, hole, model=model, tile=inpainting.MIN_TILE)
    diff = np.abs(whole - tiled).max()
    print(f"max |untiled - tiled| = {diff:.3g} (float32 rounding is ~1e-7)")
    assert diff <= 1e-5
    assert_valid_fill(tiled, image, hole)


def test_tiles_of_one_size_go_through_the_network_together_one_per_thread(model, monkeypatch):
    h, w = 700, 660  # at tile 256: steps of 128, 6 x 6 tiles, most of them 256 x 256
    image = photo(h, w, seed=5)
    hole = masks.brush_strokes(h, w, seed=5, count=10)
    batches = {"1": [], "2": []}
    predict = inpainting.predict
    for threads in ("1", "2"):
        monkeypatch.setattr(parallel._state, "requested", int(threads))
        monkeypatch.setattr(inpainting, "predict", lambda net, x, *rest, **kw: (
            batches[threads].append(len(x)), predict(net, x, *rest, **kw))[1])
        batches[threads + " result"] = deconvlab.inpaint(image, hole, model=model, tile=inpainting.MIN_TILE)
    assert set(batches["1"]) == {1} and max(batches["2"]) == 2
    assert sum(batches["2"]) == len(batches["1"]) > len(batches["2"])  # the same tiles, fewer network calls
    np.testing.assert_allclose(batches["2 result"], batches["1 result"], atol=1e-6)


def test_a_hole_deeper_than_reach_is_filled_coarse_to_fine(model, monkeypatch):
    image = photo(64, 72)
    hole = np.zeros((64, 72), dtype=bool)
    hole[10:54, 12:60] = True  # 22 pixels deep, more than REACH = 12
    assert inpainting.hole_depth(hole) == 22
    calls = []
    fill_rgb = inpainting._fill_rgb

    def spy(net, im, m, tile, *rest):
        calls.append(m.shape)
        return fill_rgb(net, im, m, tile, *rest)

    monkeypatch.setattr(inpainting, "_fill_rgb", spy)
    out = deconvlab.inpaint(image, hole, model=model)
    assert calls == [(64, 72), (32, 36)]  # half resolution once: the 11-pixel-deep hole there fits REACH
    assert_valid_fill(out, image, hole)
    monkeypatch.setattr(inpainting, "REACH", 1000)
    flat = deconvlab.inpaint(image, hole, model=model)
    assert not np.allclose(flat[hole], out[hole])  # the coarse start really changed the fill


def test_a_harmonic_start_network_starts_from_the_harmonic_fill_of_the_whole_image(monkeypatch):
    image = photo(64, 72)
    hole = np.zeros((64, 72), dtype=bool)
    hole[10:54, 12:60] = True  # deeper than REACH: no coarse-to-fine pass for a harmonic start
    net = InpaintNet(4, rng=0, start="harmonic")  # untrained: its residual is zero
    calls = []
    fill_rgb = inpainting._fill_rgb
    monkeypatch.setattr(inpainting, "_fill_rgb", lambda *a: calls.append(a[2].shape) or fill_rgb(*a))
    out = deconvlab.inpaint(image, hole, model=net)
    assert calls == [(64, 72)]
    expected = harmonic_fill(image, hole, tol=inpainting.HARMONIC_TOL)
    assert np.allclose(out, expected, atol=1e-6)  # the harmonic fill, to float32 rounding
    assert_valid_fill(out, image, hole)


def test_correction_weight_is_one_within_reach_and_zero_beyond_twice_reach():
    hole = np.zeros((9, 40), dtype=bool)
    hole[:, 5:35] = True  # known columns 0-4 and 35-39; the hole touches the top and bottom borders
    weight = inpainting.correction_weight(hole, reach=4)
    row = weight[4]
    assert np.array_equal(row[:5], np.ones(5)) and np.array_equal(row[35:], np.ones(5))
    distance = np.minimum(np.arange(40) - 4, 35 - np.arange(40))[5:35]  # to the nearest known column
    assert np.allclose(row[5:35], np.clip((8 - distance) / 4, 0, 1))
    assert np.array_equal(weight[0], row)  # the image border is not a known pixel


def test_deep_inside_a_large_hole_the_bundled_inpaintnet_fill_is_the_harmonic_fill():
    image = photo(96, 96, seed=4)
    hole = np.zeros((96, 96), dtype=bool)
    hole[8:88, 8:88] = True
    out = deconvlab.inpaint(image, hole, model=deconvlab.load_pretrained("inpaintnet"))
    deep = inpainting.correction_weight(hole) == 0
    assert deep.sum() > 500
    assert np.allclose(out[deep], harmonic_fill(image, hole, tol=inpainting.HARMONIC_TOL)[deep], atol=1e-6)


def test_hole_depth_counts_erosions():
    assert inpainting.hole_depth(np.zeros((5, 5), dtype=bool)) == 0
    assert inpainting.hole_depth(np.ones((4, 7), dtype=bool)) == 7
    m = np.zeros((20, 20), dtype=bool)
    m[2:9, 2:9] = True
    assert inpainting.hole_depth(m) == 4
    assert inpainting.hole_depth(m, limit=1) == 2


@pytest.mark.parametrize("tile", [100, 255, 256.0, True, "512"])
def test_a_bad_tile_is_a_value_error(model, tile):
    with pytest.raises(ValueError, match="tile must be an integer >= 256"):
        deconvlab.inpaint(photo(8, 8), np.eye(8, dtype=bool), model=model, tile=tile)


def test_a_tile_off_the_grid_is_rounded_down_to_a_multiple_of_8(model):
    image, hole = photo(300, 20), masks.bernoulli(300, 20, seed=0)
    a = deconvlab.inpaint(image, hole, model=model, tile=263)
    b = deconvlab.inpaint(image, hole, model=model, tile=256)
    assert np.array_equal(a, b)


def test_a_model_that_is_not_a_network_is_a_type_error():
    with pytest.raises(TypeError, match="model must be a deconvlab network .* got int"):
        deconvlab.inpaint(photo(8, 8), np.eye(8, dtype=bool), model=3)


def test_a_model_can_be_given_as_the_path_of_its_file(model, tmp_path):
    config = train.TrainConfig(width=4, start="mean")
    checkpoints.save_weights(tmp_path / "w.npz", model, config)
    image, hole = photo(16, 24), np.zeros((16, 24), dtype=bool)
    hole[4:9, 5:12] = True
    by_path = deconvlab.inpaint(image, hole, model=tmp_path / "w.npz")
    assert np.array_equal(by_path, deconvlab.inpaint(image, hole, model=model))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        deconvlab.inpaint(image, hole, model=str(tmp_path / "missing.npz"))


def test_load_pretrained_names_the_missing_weights_file(tmp_path, monkeypatch):
    class Resources:
        files = staticmethod(lambda package: pathlib.Path(tmp_path))
        as_file = staticmethod(contextlib.nullcontext)

    monkeypatch.setattr(inpainting, "resources", Resources)
    with pytest.raises(FileNotFoundError, match=r"weights of model 'holenet' are not installed.*holenet\.npz"):
        inpainting.load_pretrained()
    with pytest.raises(FileNotFoundError, match=r"weights of model 'inpaintnet' are not installed.*inpaintnet\.npz"):
        inpainting.load_pretrained("inpaintnet")
    with pytest.raises(ValueError, match="unknown model 'large'; available: default, holenet, inpaintnet, vae"):
        inpainting.load_pretrained("large")


WEIGHTS = pathlib.Path(inpainting.__file__).parent / "assets" / "weights" / "inpaintnet.npz"


def test_the_pretrained_weights_are_shipped_small():
    assert WEIGHTS.is_file(), f"the pretrained weights {WEIGHTS} are missing from the package"
    assert WEIGHTS.stat().st_size < 4 << 20
    bundled = [WEIGHTS.parent / f"{name}.npz" for name in inpainting.PRETRAINED]
    assert all(path.is_file() for path in bundled)
    assert sum(path.stat().st_size for path in bundled) <= 10 * 10 ** 6  # all weights in the package: 10 MB at most


def test_the_bundled_inpaintnet_is_a_harmonic_start_inpaintnet_in_eval_mode():
    net = deconvlab.load_pretrained("inpaintnet")
    assert isinstance(net, InpaintNet) and not net.training and net.start == "harmonic" and net.width == 32


def test_the_default_network_is_the_bundled_holenet():
    assert inpainting.DEFAULT_PRETRAINED == "holenet" and inpainting.PRETRAINED[0] == "holenet"
    default, holenet = deconvlab.load_pretrained(), deconvlab.load_pretrained("holenet")
    assert isinstance(default, HoleNet) and not default.training
    assert all(np.array_equal(a.data, b.data) for a, b in zip(default.parameters(), holenet.parameters()))
    image, hole = photo(40, 48), np.zeros((40, 48), dtype=bool)
    hole[10:22, 12:30] = True
    assert np.array_equal(deconvlab.inpaint(image, hole), deconvlab.inpaint(image, hole, model=holenet))


@pytest.mark.slow
def test_the_pretrained_network_keeps_its_measured_lead_on_held_out_centre_holes():
    """The headline of ``deconvlab evaluate`` (200 crops of the held-out photos, 16x16 centre holes): the shipped
    network measured 21.68 dB, the harmonic fill 21.04 dB and the biharmonic fill 20.31 dB."""
    from deconvlab import data, evaluation

    images = list(data.bundled_photos("test").values())
    methods = evaluation.available_baselines()[1:]  # harmonic, and biharmonic with scikit-image
    scores = evaluation.evaluate(deconvlab.load_pretrained("inpaintnet"), images, kinds=["center"],
                                 methods=methods)["center"]
    psnr = {name: s["hole_psnr"] for name, s in scores.items()}
    print(psnr)
    assert psnr["model"] > psnr["harmonic"] + 0.4
    if "biharmonic" in psnr:
        assert psnr["model"] > psnr["biharmonic"] + 0.5


def test_the_bundled_holenet_is_a_gated_holenet_with_the_contrast_gate_in_eval_mode():
    net = deconvlab.load_pretrained("holenet")
    assert isinstance(net, HoleNet) and not net.training and net.gated and net.contrast == 0.02
    assert net.start == "harmonic" and net.width == 32


@pytest.mark.slow
def test_the_bundled_holenet_keeps_its_lead_over_the_harmonic_fill_on_48_px_squares():
    """``deconvlab evaluate --whole --model holenet``: 19.51 dB against the harmonic fill's 19.02 on 48 px
    squares of the nine held-out photos (the same holes for both), and within 0.4/255 of the harmonic fill on
    smooth synthetic images."""
    from deconvlab import data, evaluation

    photos = data.bundled_photos("test")
    result = evaluation.evaluate_whole(deconvlab.load_pretrained("holenet"), photos, kinds=["square-48"], shifts=())
    scores = {m: s["hole_psnr"] for m, s in result["kinds"]["square-48"].items()}
    print(scores, result["smooth"])
    assert scores["network"] > scores["harmonic"] + 0.3
    assert result["smooth"]["square-48"][0] < 2 / 255


def test_the_pretrained_network_beats_the_mean_fill_on_a_held_out_photo():
    from deconvlab import baselines, data

    image = data.load_photo("chelsea")[:128, :160]
    hole = masks.center_square(128, 160, 24)
    out = deconvlab.inpaint(image, hole)
    assert_valid_fill(out, image, hole)
    network = metrics.hole_psnr(out, image, hole)
    mean = metrics.hole_psnr(baselines.mean_fill(image, hole), image, hole)
    print(f"hole PSNR: network {network:.2f} dB, mean fill {mean:.2f} dB")
    assert network > mean



# ------------------------------------------------------------------------------------- cost follows the hole

def _random_harmonic_net(seed=0):
    """A small harmonic-start InpaintNet whose last layer is not zero (so its correction is not nothing)."""
    net = InpaintNet(4, rng=seed, start="harmonic")
    rng = np.random.default_rng(seed)
    net.out.weight.data[...] = rng.normal(0, 0.05, net.out.weight.shape).astype(np.float32)
    net.eval()
    return net


def _dense_reference(net, image, hole):
    """inpaint as one pass over the whole photo, written independently: pad to the 8-pixel grid, run the network
    on everything, fade its correction with the distance to known pixels, clip, paste."""
    h, w = hole.shape
    fill = harmonic_fill(image, hole, tol=inpainting.HARMONIC_TOL)
    ph, pw = (-h) % 8, (-w) % 8
    pad = lambda a: np.pad(a, ((0, ph), (0, pw)) + ((0, 0),) * (a.ndim - 2), mode="reflect")
    x = pad(image).transpose(2, 0, 1)[None]
    m = pad(hole)[None, None].astype(np.float32)
    f = pad(fill).transpose(2, 0, 1)[None]
    from deconvlab.models import predict

    out = predict(net, x, m, f)[0].transpose(1, 2, 0)[:h, :w]
    weight = inpainting.correction_weight(hole)[:, :, None]
    out = np.clip(fill + weight * (out - fill), 0, 1)
    return np.where(hole[:, :, None], out, image)


@pytest.mark.parametrize("case", ["far-apart", "borders", "tile-edges", "scattered"])
def test_skipping_and_regions_give_the_result_of_one_pass_over_the_whole_photo(case):
    rng = np.random.default_rng(hash(case) % 2**32)
    h, w = 420, 530  # not multiples of 8; several 256-pixel tiles each way
    image = photo(h, w, seed=7)
    hole = np.zeros((h, w), dtype=bool)
    if case == "far-apart":
        hole[20:30, 30:44] = hole[380:400, 480:500] = hole[200:203, 60:200] = True
    elif case == "borders":
        hole[:12, :40] = hole[h - 9:, w - 30:] = hole[100:140, w - 5:] = hole[h - 3:, 10:20] = True
    elif case == "tile-edges":  # straddling the kept/margin boundaries of 256-pixel tiles (kept parts ~176)
        for r in (170, 176, 182, 346, 352):
            hole[r - 2:r + 3, 40:500] = True
    else:
        hole = masks.bernoulli(h, w, p=0.02, seed=rng) | masks.small_rectangles(h, w, seed=rng)
    net = _random_harmonic_net()
    expected = _dense_reference(net, image, hole)
    for tile in (inpainting.MIN_TILE, 512, 1024):
        got = deconvlab.inpaint(image, hole, model=net, tile=tile)
        diff = np.abs(got - expected).max()
        print(f"{case}, tile {tile}: max |regions - one pass| = {diff:.2g}")
        assert diff <= 1e-5
        np.testing.assert_array_equal(got[~hole], image[~hole])


def test_far_apart_holes_are_separate_regions_and_hole_free_tiles_are_not_computed(monkeypatch):
    h, w = 1600, 2000
    hole = np.zeros((h, w), dtype=bool)
    hole[100:110, 200:260] = hole[1400:1420, 1700:1720] = True
    regions = inpainting.hole_regions(hole, margin=40)
    assert [window for window, _ in regions] == [(56, 152, 160, 304), (1360, 1464, 1656, 1760)]
    image = photo(h, w, seed=2)
    seen = []
    predict = inpainting.predict
    monkeypatch.setattr(inpainting, "predict",
                        lambda net, x, *rest, **kw: (seen.append(x.shape), predict(net, x, *rest, **kw))[1])
    out = deconvlab.inpaint(image, hole, model=_random_harmonic_net(), tile=256)
    computed = sum(n * hh * ww for n, _, hh, ww in seen)
    print(f"network pixels: {computed} of {h * w} ({computed / (h * w):.2%})")
    assert computed == 96 * 144 + 104 * 104
    np.testing.assert_array_equal(out[~hole], image[~hole])


def test_tiles_in_flight_follow_the_memory_budget_not_the_thread_count(monkeypatch):
    net = _random_harmonic_net()
    per_tile = inpainting.BYTES_PER_TILE_PIXEL * net.width * 256 * 256
    monkeypatch.setattr(inpainting, "MEMORY_BUDGET", 3 * per_tile)
    monkeypatch.setattr(parallel, "cpu_count", lambda: 8)
    for threads, expected in ((1, 1), (2, 2), (16, 3)):
        monkeypatch.setattr(parallel._state, "requested", threads)
        assert inpainting.tiles_in_flight(net, 256 * 256) == expected
    monkeypatch.setattr(inpainting, "MEMORY_BUDGET", 1)
    assert inpainting.tiles_in_flight(net, 256 * 256) == 1  # at least one tile, whatever the budget
    monkeypatch.setattr(inpainting, "MEMORY_BUDGET", 100 * per_tile)
    monkeypatch.setattr(parallel, "cpu_count", lambda: 2)
    assert inpainting.tiles_in_flight(net, 256 * 256) == 2  # 16 threads on 2 CPUs: no more tiles than CPUs
    monkeypatch.setattr(parallel, "cpu_count", lambda: 8)
    h, w = 900, 900
    image = photo(h, w, seed=3)
    hole = masks.thin_strokes(h, w, seed=4) | masks.small_rectangles(h, w, seed=5)
    monkeypatch.setattr(inpainting, "MEMORY_BUDGET", 3 * per_tile)
    monkeypatch.setattr(parallel._state, "requested", 16)
    batches = []
    predict = inpainting.predict
    monkeypatch.setattr(inpainting, "predict",
                        lambda m, x, *rest, **kw: (batches.append(len(x)), predict(m, x, *rest, **kw))[1])
    deconvlab.inpaint(image, hole, model=net, tile=256)
    assert max(batches) == 3 and len(batches) > 1


def test_progress_bar_only_when_asked(capsys, monkeypatch):
    image = photo(64, 64)
    hole = masks.center_square(64, 64, 16)
    net = _random_harmonic_net()
    deconvlab.inpaint(image, hole, model=net)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(inpainting, "PROGRESS_DELAY", 0)
    deconvlab.inpaint(image, hole, model=net, progress=True)
    assert "inpainting" in capsys.readouterr().err


def test_a_gray_photo_given_as_three_equal_channels_comes_back_gray():
    gray = photo(48, 56, seed=9).mean(axis=2)
    image = np.repeat(gray[:, :, None], 3, axis=2)
    hole = masks.center_square(48, 56, 16)
    net = _random_harmonic_net()
    net.out.weight.data[...] = np.random.default_rng(2).standard_normal(net.out.weight.shape) * 0.05  # colourful
    out = deconvlab.inpaint(image, hole, model=net)
    assert np.array_equal(out[:, :, 0], out[:, :, 1]) and np.array_equal(out[:, :, 0], out[:, :, 2])
    np.testing.assert_allclose(out[:, :, 0], deconvlab.inpaint(gray, hole, model=net), rtol=0, atol=1e-6)
    colour = image.copy()
    colour[0, 0, 0] += 0.01  # one pixel off: a colour photo, filled per channel
    tinted = deconvlab.inpaint(colour, hole, model=net)
    assert not np.array_equal(tinted[:, :, 0], tinted[:, :, 1])


def test_sixty_four_passes_make_the_fill_independent_of_where_the_photo_sits_on_the_grid():
    from deconvlab import evaluation

    image = photo(120, 136, seed=12)
    hole = np.zeros((120, 136), bool)
    hole[70:90, 80:104] = True  # far from the top and left borders, so a shift only moves it on the grid
    net = _random_harmonic_net(3)
    one = evaluation.shift_change(net, image, hole, shifts=(1, 3, 5), margin=40)
    many = evaluation.shift_change(net, image, hole, shifts=(1, 3, 5), margin=40, passes=64)
    print(f"shift change: one pass {one}, 64 passes {many}")
    assert one[1] > 1e-3 and many[1] < 1e-5
    four = deconvlab.inpaint(image, hole, model=net, passes=4)
    assert np.array_equal(four[~hole], image[~hole]) and not np.array_equal(four, deconvlab.inpaint(image, hole, model=net))


def test_eight_orientations_make_the_fill_commute_with_mirroring_and_turning_the_photo():
    image = photo(48, 64, seed=13)
    hole = np.zeros((48, 64), bool)
    hole[10:30, 20:50] = True
    hole[35:40, 5:15] = True
    net = _random_harmonic_net(3)
    net.out.weight.data[...] = np.random.default_rng(4).standard_normal(net.out.weight.shape) * 0.05
    one = deconvlab.inpaint(image, hole, model=net)
    eight = deconvlab.inpaint(image, hole, model=net, orientations=8)
    assert np.array_equal(eight[~hole], image[~hole])
    for view in (lambda a: a[:, ::-1], lambda a: a[::-1], lambda a: a.swapaxes(0, 1), lambda a: np.rot90(a)):
        seen = deconvlab.inpaint(np.ascontiguousarray(view(image)), np.ascontiguousarray(view(hole)), model=net,
                                 orientations=8)
        np.testing.assert_allclose(seen, view(eight), rtol=0, atol=1e-6)
        # one orientation does not commute: the network alone is not symmetric
        alone = deconvlab.inpaint(np.ascontiguousarray(view(image)), np.ascontiguousarray(view(hole)), model=net)
        assert np.abs(alone - view(one)).max() > 1e-3


def test_orientations_average_the_fills_of_the_mirrored_photo():
    image = photo(40, 48, seed=14)
    hole = masks.center_square(40, 48, 12)
    net = _random_harmonic_net(5)
    net.out.weight.data[...] = np.random.default_rng(6).standard_normal(net.out.weight.shape) * 0.05
    plain = deconvlab.inpaint(image, hole, model=net)
    mirrored = deconvlab.inpaint(image[:, ::-1].copy(), hole[:, ::-1].copy(), model=net)[:, ::-1]
    two = deconvlab.inpaint(image, hole, model=net, orientations=2)
    np.testing.assert_allclose(two[hole], (plain[hole].astype(np.float64) + mirrored[hole]) / 2, rtol=0, atol=1e-6)
    assert np.array_equal(deconvlab.inpaint(image, hole, model=net, orientations=1), plain)
    both = deconvlab.inpaint(image, hole, model=net, orientations=2, passes=4)  # they combine
    assert np.array_equal(both[~hole], image[~hole]) and not np.array_equal(both, two)


@pytest.mark.parametrize("orientations", [0, 3, 16, 2.0, True, "2"])
def test_orientations_other_than_1_2_4_8_are_refused(orientations):
    with pytest.raises(ValueError, match=r"orientations must be one of 1, 2, 4, 8"):
        deconvlab.inpaint(photo(16, 16), masks.center_square(16, 16, 4), model=_random_harmonic_net(),
                          orientations=orientations)


@pytest.mark.parametrize("passes", [0, 2, 8, 4.0, True, "4"])
def test_passes_other_than_a_square_power_of_two_up_to_64_are_refused(passes):
    with pytest.raises(ValueError, match=r"passes must be one of 1, 4, 16, 64"):
        deconvlab.inpaint(photo(16, 16), masks.center_square(16, 16, 4), model=_random_harmonic_net(), passes=passes)
