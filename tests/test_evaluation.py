"""The whole-photo protocol (deconvlab.evaluation.evaluate_whole): every method on the same seeded holes."""
import json

import numpy as np
import pytest

from deconvlab import Tensor, evaluation, masks, nn
from deconvlab.models import InpaintNet


def _photos():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:160, 0:200] / 160
    base = 0.5 + 0.3 * np.sin(9 * yy)[:, :, None] * np.cos(7 * xx)[:, :, None]
    return {"a": np.clip(base + 0.05 * rng.random((160, 200, 3)), 0, 1).astype(np.float32),
            "b": np.clip(base[::-1] + 0.1 * rng.random((160, 200, 3)), 0, 1).astype(np.float32)}


def test_every_method_and_kind_is_scored_on_the_same_holes_and_the_json_is_strict():
    net = InpaintNet(4, rng=0, start="harmonic").eval()
    result = evaluation.evaluate_whole(net, _photos(), kinds=["small-rectangles", "square-48"], shifts=[1])
    for kind, rows in result["kinds"].items():
        assert list(rows)[:3] == ["network", "harmonic", "mean"]
        for scores in rows.values():
            assert set(scores) == {"hole_psnr", "box_ssim", "swd", "seconds_per_photo", "grid"}
        # the untrained harmonic-start network returns the harmonic fill: the same holes, the same numbers
        assert rows["network"]["hole_psnr"] == pytest.approx(rows["harmonic"]["hole_psnr"], abs=0.01)
        assert result["worst"][kind][0] in ("a", "b")
    text = json.dumps(evaluation.to_jsonable(result), allow_nan=False)
    assert json.loads(text)["kinds"]["square-48"]["network"]["hole_psnr"] > 10
    table = evaluation.format_whole(result)
    assert "square-48" in table and "worst photo for the network" in table


def test_whole_photo_masks_are_seeded_per_kind_and_photo():
    m1 = evaluation.whole_photo_mask("blobs", (160, 200), 0)
    np.testing.assert_array_equal(m1, evaluation.whole_photo_mask("blobs", (160, 200), 0))
    assert not np.array_equal(m1, evaluation.whole_photo_mask("blobs", (160, 200), 1))
    assert not np.array_equal(m1, evaluation.whole_photo_mask("blobs", (160, 200), 0, seed=1))


class StrideOne(nn.Module):
    """A harmonic-start network of one 5x5 convolution: no stride, so no grid for a shift to move."""

    start = "harmonic"
    receptive_radius = 2

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 3, 5, padding=2, rng=0)

    def forward(self, image, mask, fill):
        base = (1 - mask) * image + mask * fill
        return Tensor(base) + Tensor(mask) * self.conv(Tensor(np.concatenate([base, mask], axis=1)))


def test_a_network_without_strides_does_not_depend_on_where_the_photo_sits():
    net = StrideOne().eval()
    image = _photos()["a"]
    hole = masks.small_rectangles(160, 200, seed=3)
    hole[:60] = hole[:, :60] = False  # far from the borders the shifts cut off
    mean, largest = evaluation.shift_change(net, image, hole, shifts=[1, 3, 5], margin=40)
    assert largest < 1e-5


def test_non_finite_numbers_become_null():
    assert evaluation.to_jsonable({"x": [float("inf"), float("nan"), np.float32(2.5), np.int64(3)]}) == {
        "x": [None, None, 2.5, 3]}


def test_smooth_deviation_is_zero_for_a_network_that_keeps_its_harmonic_start_and_large_for_one_that_paints():
    from deconvlab.models import HoleNet, InpaintNet

    quiet = evaluation.smooth_deviation(HoleNet(4, rng=0), kinds=("square-48", "blobs"))
    assert set(quiet) == {"square-48", "blobs"}
    assert all(deviation < 1e-3 for deviation, _ in quiet.values())  # only the start's solver tolerance differs
    painter = InpaintNet(4, rng=0, start="harmonic")
    painter.out.bias.data[...] = 0.2  # adds 0.2 near known pixels
    loud = evaluation.smooth_deviation(painter, kinds=("square-48",))
    assert 0.1 < loud["square-48"][0] <= 0.2 + 1e-3 and loud["square-48"][1] in evaluation.synthetic_smooth_images()


def test_a_sampling_network_adds_one_sample_the_mean_and_the_best_of_k_and_their_diversity():
    from deconvlab.models import InpaintVAE

    net = InpaintVAE(4, rng=0)
    draw = np.random.default_rng(1)
    for layer in (net.out, net.inject, net.prior_head):
        layer.weight.data[...] = (draw.standard_normal(layer.weight.shape) * 0.2).astype(np.float32)
    result = evaluation.evaluate_whole(net, _photos(), kinds=["square-48"], shifts=[], samples=3)
    rows = result["kinds"]["square-48"]
    assert list(rows)[:4] == ["network", "sample", "mean of 3", "best of 3"]
    # the best of three draws is, photo by photo, at least as close as the first draw
    per_photo = result["per_photo"]["square-48"]
    assert all(per_photo["best of 3"][p] >= per_photo["sample"][p] for p in per_photo["sample"])
    assert result["diversity"]["square-48"] > 1e-3
    assert "mean pairwise L1" in evaluation.format_whole(result)


def test_the_decoder_nyquist_share_is_zero_for_resize_convolution_and_not_for_a_drifted_transposed_conv():
    from deconvlab import models

    photos = list(_photos().values())
    resized = models.HoleNet(4, rng=0, resize=True)
    shares = evaluation.decoder_nyquist(resized, photos, patch=48, count=4)
    assert set(shares) == {"dec3", "dec2", "dec1"}
    drifted = models.HoleNet(4, rng=0)
    drifted.dec1.weight.data[...] = np.random.default_rng(2).standard_normal(drifted.dec1.weight.shape).astype(np.float32)
    moved = evaluation.decoder_nyquist(drifted, photos, patch=48, count=4)
    assert moved["dec1"] > 10 * max(shares["dec1"], 1e-6)
    assert "forward" not in vars(drifted.dec1)  # the layers are left as they were
