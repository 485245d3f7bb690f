"""Adapting a network to one photo (deconvlab.adaptation, inpaint(..., adapt=))."""
import numpy as np
import pytest

import deconvlab
from deconvlab import adaptation, baselines, masks, metrics
from deconvlab.models import HoleNet

L_SHAPE = np.array([[1, 0, 0],
                    [1, 0, 0],
                    [1, 1, 1],
                    [1, 1, 1]], dtype=bool)


def _orientations(shape):
    out = []
    for s in (shape, shape.T):
        for view in (s, s[::-1], s[:, ::-1], s[::-1, ::-1]):
            out.append(np.ascontiguousarray(view))
    return out


def _stripes(h, w, period=6):
    """Vertical stripes, 0.2 and 0.8, ``period`` pixels wide each, as an HxWx3 float32 photo."""
    cols = (np.arange(w) // (period // 2)) % 2
    gray = np.where(cols[None, :] == 1, 0.8, 0.2) * np.ones((h, 1))
    return np.repeat(gray[:, :, None], 3, axis=2).astype(np.float32)


def _params(net):
    return [p.data.copy() for p in net.parameters()]


def test_hole_shapes_are_the_components_cut_to_their_boxes():
    hole = np.zeros((20, 30), bool)
    hole[2:6, 3:6] = L_SHAPE
    hole[10:12, 20:29] = True
    shapes, boxes = adaptation.hole_shapes(hole)
    assert len(shapes) == 2 and boxes.tolist() == [[2, 3, 6, 6], [10, 20, 12, 29]]
    assert np.array_equal(shapes[0], L_SHAPE)
    assert np.array_equal(shapes[1], np.ones((2, 9), bool))


@pytest.mark.parametrize("sides, h, w, expected", [
    ((4, 3), 200, 200, 56),         # 4 + 48 = 52, rounded up to 56
    ((20, 9), 200, 300, 72),        # 68 -> 72
    ((150, 20), 400, 400, 160),     # 198 -> MAX_PATCH
    ((30, 30), 70, 300, 64),        # the photo's shorter side, down to the 8-pixel grid
    ((5, 5), 15, 300, 0),           # 15 -> 8 < MIN_PATCH: nothing to adapt on
])
def test_patch_side_follows_its_formula(sides, h, w, expected):
    shapes = [np.ones(sides, bool)]
    assert adaptation.patch_side(shapes, h, w) == expected


def test_training_batch_scores_only_synthetic_pixels_whose_truth_is_known():
    rng = np.random.default_rng(0)
    image = rng.random((40, 56, 3)).astype(np.float32)
    hole = np.zeros((40, 56), bool)
    hole[5:25, 10:30] = True  # the real hole: every patch overlaps it somewhere
    hole[30:34, 40:43] = L_SHAPE
    shapes, boxes = adaptation.hole_shapes(hole)
    x, given, scored, corners = adaptation.training_batch(image, hole, shapes, boxes, 32, np.random.default_rng(1),
                                                          batch_size=6)
    assert x.shape == (6, 3, 32, 32) and given.shape == scored.shape == (6, 1, 32, 32) and corners.shape == (6, 2)
    for k, (r, c) in enumerate(corners):
        assert np.array_equal(x[k], image[r:r + 32, c:c + 32].transpose(2, 0, 1))  # a window of the photo
        real = hole[r:r + 32, c:c + 32]
        assert np.all(given[k, 0][real] == 1)                # its real hole is hidden from the network
        assert not np.any(scored[k, 0] & real)              # a real hole pixel is never scored
        assert np.all(given[k, 0][scored[k, 0]] == 1)       # every scored pixel is hidden from the network
        assert scored[k, 0].any()
        assert np.array_equal(given[k, 0] > 0, scored[k, 0] | real)


def test_training_batch_takes_patches_near_the_hole_and_places_its_shapes_turned_at_random():
    image = np.zeros((160, 160, 3), np.float32)
    hole = np.zeros((160, 160), bool)
    hole[100:104, 60:63] = L_SHAPE  # one small component: a 24-px patch near it has room beside it
    shapes, boxes = adaptation.hole_shapes(hole)
    x, given, scored, corners = adaptation.training_batch(image, hole, shapes, boxes, 24, np.random.default_rng(2),
                                                          batch_size=40)
    centre = np.array([102, 61])
    assert np.all(np.abs(corners + 12 - centre) <= 12)  # patch centres within p/2 of the hole's
    seen = set()
    turned = _orientations(L_SHAPE)
    for k in range(40):
        rows, cols = np.nonzero(scored[k, 0])
        box = scored[k, 0][rows.min():rows.max() + 1, cols.min():cols.max() + 1]
        matches = [i for i, t in enumerate(turned) if t.shape == box.shape and np.array_equal(t, box)]
        assert matches, box  # room enough: the synthetic L never overlaps the real one here
        seen.add(matches[0])
    assert len(seen) >= 5  # of the L's eight orientations


def test_beside_a_large_hole_the_patches_are_sought_anywhere():
    hole = np.zeros((200, 200), bool)
    hole[40:120, 40:120] = True  # every 48-px patch centred within 24 px of the hole's centre is >= 69% hole
    shapes, boxes = adaptation.hole_shapes(hole)
    _, _, _, corners = adaptation.training_batch(np.zeros((200, 200, 3), np.float32), hole, shapes, boxes, 48,
                                                 np.random.default_rng(3), batch_size=20)
    shares = [hole[r:r + 48, c:c + 48].mean() for r, c in corners]
    assert max(shares) <= adaptation.NEAR_HOLE_SHARE
    assert np.any(np.abs(corners + 24 - 80).max(axis=1) > 24)  # not near the hole


def test_adapt_returns_a_changed_copy_and_leaves_the_network_alone():
    net = HoleNet(8, rng=0)
    before = _params(net)
    image = _stripes(48, 64)
    hole = masks.center_square(48, 64, 12)
    adapted = adaptation.adapt(net, image, hole, steps=3, lr=1e-3, seed=0)
    assert adapted is not net and not adapted.training
    assert all(np.array_equal(a, b) for a, b in zip(before, _params(net)))
    assert any(not np.array_equal(a, b) for a, b in zip(before, _params(adapted)))


def test_adapt_is_deterministic_for_a_seed():
    image = _stripes(48, 64)
    hole = masks.center_square(48, 64, 12)
    net = HoleNet(8, rng=0)
    one = _params(adaptation.adapt(net, image, hole, steps=2, lr=1e-3, seed=5))
    two = _params(adaptation.adapt(net, image, hole, steps=2, lr=1e-3, seed=5))
    other = _params(adaptation.adapt(net, image, hole, steps=2, lr=1e-3, seed=6))
    assert all(np.array_equal(a, b) for a, b in zip(one, two))
    assert any(not np.array_equal(a, b) for a, b in zip(one, other))


def test_zero_steps_or_a_tiny_photo_give_an_unchanged_copy():
    net = HoleNet(8, rng=0)
    image = _stripes(48, 64)
    hole = masks.center_square(48, 64, 12)
    for adapted in (adaptation.adapt(net, image, hole, steps=0),
                    adaptation.adapt(net, _stripes(12, 40), masks.center_square(12, 40, 4), steps=3)):
        assert adapted is not net
        assert all(np.array_equal(a, b) for a, b in zip(_params(net), _params(adapted)))


def test_a_batch_with_nothing_to_score_is_skipped(monkeypatch):
    real = adaptation.training_batch

    def nothing_scored(*args, **kwargs):
        x, given, scored, corners = real(*args, **kwargs)
        return x, given, np.zeros_like(scored), corners

    monkeypatch.setattr(adaptation, "training_batch", nothing_scored)
    net = HoleNet(8, rng=0)
    adapted = adaptation.adapt(net, _stripes(48, 64), masks.center_square(48, 64, 12), steps=3, lr=1e-3)
    assert all(np.array_equal(a, b) for a, b in zip(_params(net), _params(adapted)))  # no step taken, no NaN


@pytest.mark.parametrize("steps", [-1, 2.5, True, "3", None])
def test_bad_step_counts_are_refused(steps):
    with pytest.raises(ValueError, match=r"adapt must be an integer >= 0"):
        deconvlab.inpaint(_stripes(16, 16), masks.center_square(16, 16, 4), model=HoleNet(8, rng=0), adapt=steps)
    with pytest.raises(ValueError, match=r"steps must be an integer >= 0"):
        adaptation.adapt(HoleNet(8, rng=0), _stripes(16, 16), masks.center_square(16, 16, 4), steps=steps)


@pytest.mark.slow
def test_adapting_learns_the_photos_own_texture():
    # An untrained HoleNet returns its harmonic start exactly, which blurs stripes across the hole; the photo
    # itself shows how stripes continue, and adapting on it alone must beat the harmonic fill clearly.
    image = _stripes(64, 96)
    hole = masks.center_square(64, 96, 14)
    net = HoleNet(8, rng=0)
    harmonic = baselines.harmonic_fill(image, hole)
    assert metrics.hole_psnr(deconvlab.inpaint(image, hole, model=net), image, hole) == pytest.approx(
        metrics.hole_psnr(harmonic, image, hole), abs=0.2)
    adapted = adaptation.adapt(net, image, hole, steps=150, lr=3e-3, seed=0)
    out = deconvlab.inpaint(image, hole, model=adapted)
    assert np.array_equal(out[~hole], image[~hole])
    assert metrics.hole_psnr(out, image, hole) > metrics.hole_psnr(harmonic, image, hole) + 3.0


def test_inpaint_adapts_a_copy_and_keeps_the_known_pixels():
    net = HoleNet(8, rng=0)
    before = _params(net)
    image = _stripes(48, 64)
    hole = masks.center_square(48, 64, 12)
    plain = deconvlab.inpaint(image, hole, model=net)
    adapted = deconvlab.inpaint(image, hole, model=net, adapt=3, seed=0)
    again = deconvlab.inpaint(image, hole, model=net, adapt=3)  # seed None counts as 0
    assert np.array_equal(adapted[~hole], image[~hole])
    assert not np.array_equal(adapted, plain)
    assert np.array_equal(adapted, again)
    assert all(np.array_equal(a, b) for a, b in zip(before, _params(net)))
    expected = deconvlab.inpaint(image, hole, model=adaptation.adapt(net, image, hole, steps=3, seed=0))
    assert np.array_equal(adapted, expected)
    assert np.array_equal(deconvlab.inpaint(image, hole, model=net, adapt=0), plain)


def test_adapt_does_not_combine_with_samples():
    vae = deconvlab.load_pretrained("vae")
    with pytest.raises(ValueError, match=r"samples and adapt cannot be combined"):
        deconvlab.inpaint(_stripes(32, 32), masks.center_square(32, 32, 8), model=vae, samples=2, adapt=2)


def _holdout_batch(image, hole, seed, holdout=adaptation.HOLDOUT_PATCHES):
    """The self-check's batch as ``adapt`` draws it: the first draw of the seed's generator."""
    shapes, boxes = adaptation.hole_shapes(hole)
    p = adaptation.patch_side(shapes, *hole.shape)
    return adaptation.training_batch(image, hole, shapes, boxes, p, np.random.default_rng(seed), holdout)


def test_held_out_places_each_patchs_scored_pixels_at_its_corner():
    scored = np.zeros((2, 1, 4, 4), bool)
    scored[0, 0, 1, 2] = scored[1, 0, 0, 0] = scored[1, 0, 3, 3] = True
    held = adaptation.held_out(np.zeros((10, 12), bool), None, scored, np.array([[0, 0], [5, 7]]))
    assert sorted(zip(*np.nonzero(held))) == [(1, 2), (5, 7), (8, 10)]


def test_the_self_check_holds_its_pixels_out_of_every_training_step(monkeypatch):
    image = _stripes(64, 96)
    hole = masks.center_square(64, 96, 14)
    x, given, scored, corners = _holdout_batch(image, hole, seed=4)
    held = adaptation.held_out(hole, given, scored, corners)
    assert held.sum() > 50 and not (held & hole).any()
    seen = []
    real = adaptation.training_batch

    def recorded(image, train_hole, *args, **kwargs):
        batch = real(image, train_hole, *args, **kwargs)
        seen.append((train_hole, batch))
        return batch

    monkeypatch.setattr(adaptation, "training_batch", recorded)
    adaptation.adapt(HoleNet(8, rng=0), image, hole, steps=4, lr=1e-3, seed=4)
    assert len(seen) == 5 and np.array_equal(seen[0][0], hole)
    for train_hole, (bx, bgiven, bscored, bcorners) in seen[1:]:
        assert np.array_equal(train_hole, hole | held)
        for k, (r, c) in enumerate(bcorners):
            window = held[r:r + bx.shape[2], c:c + bx.shape[3]]
            assert not (bscored[k, 0] & window).any()  # never a truth
            assert bgiven[k, 0][window].all()  # never an input either


def test_the_self_check_keeps_the_weights_that_fill_the_held_out_holes_best():
    image = _stripes(64, 96)
    hole = masks.center_square(64, 96, 14)
    net = HoleNet(8, rng=0)
    history = []
    adapted = adaptation.adapt(net, image, hole, steps=25, lr=3e-3, seed=1, history=history)
    assert [step for step, _ in history] == [0, 10, 20, 25]
    losses = [loss for _, loss in history]
    x, given, scored, _ = _holdout_batch(image, hole, seed=1)
    assert adaptation._holdout_loss(adapted, x, given, scored) == pytest.approx(min(losses), rel=1e-6)
    assert min(losses) < losses[0]  # on stripes, adapting helps: the copy is not the plain network
    assert any(not np.array_equal(a, b) for a, b in zip(_params(net), _params(adapted)))


@pytest.mark.parametrize("losses, margin, kept", [((1.0, 2.0, 3.0, 4.0), 0.0, 0), ((3.0, 1.0, 1.0, 2.0), 0.0, 10),
                                                 ((3.0, 2.0, 1.5, 1.0), 0.0, 25), ((1.0, 0.98, 0.99, 0.97), 0.0, 25),
                                                 ((1.0, 0.98, 0.99, 0.97), 0.05, 0), ((1.0, 0.98, 0.9, 0.92), 0.05, 20)])
def test_the_self_check_keeps_the_step_of_the_lowest_held_out_loss(monkeypatch, losses, margin, kept):
    # The held-out losses are scripted, so the choice alone is tested: the lowest, the earliest among equals,
    # and step 0 (the network itself, unchanged) when adapting only made them worse or, with a margin, not
    # better by that fraction of the unadapted loss.
    monkeypatch.setattr(adaptation, "CHECK_MARGIN", margin)
    scripted = iter(losses)
    monkeypatch.setattr(adaptation, "_holdout_loss", lambda *args: next(scripted))
    image = _stripes(64, 96)
    hole = masks.center_square(64, 96, 14)
    net = HoleNet(8, rng=0)
    history = []
    adapted = adaptation.adapt(net, image, hole, steps=25, lr=3e-3, seed=1, history=history)
    assert history == list(zip((0, 10, 20, 25), losses))
    if kept == 0:
        expected = net
    else:  # the same steps, stopped at step ``kept`` and kept there (its losses scripted to fall)
        scripted = iter([1.0 - 0.1 * i for i in range(5)])
        expected = adaptation.adapt(net, image, hole, steps=kept, lr=3e-3, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(_params(expected), _params(adapted)))


def test_without_a_self_check_every_step_is_kept_and_nothing_is_held_out(monkeypatch):
    holes = []
    real = adaptation.training_batch
    monkeypatch.setattr(adaptation, "training_batch", lambda image, h, *a, **k: holes.append(h) or real(image, h, *a, **k))
    history = []
    hole = masks.center_square(48, 64, 12)
    adaptation.adapt(HoleNet(8, rng=0), _stripes(48, 64), hole, steps=3, lr=1e-3, holdout=0, history=history)
    assert history == [] and len(holes) == 3 and all(h is hole for h in holes)
    with pytest.raises(ValueError, match=r"holdout must be an integer >= 0"):
        adaptation.adapt(HoleNet(8, rng=0), _stripes(48, 64), hole, steps=3, holdout=-1)
