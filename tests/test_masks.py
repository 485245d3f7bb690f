"""Tests for deconvlab.masks: each mask's geometry, reproducibility from a seed, files, batches."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from deconvlab import masks

RANDOM_KINDS = ("rectangles", "strokes", "bernoulli")


def test_center_square_covers_exactly_the_centred_block():
    m = masks.center_square(32, 32, 16)
    assert m.dtype == np.bool_ and m.shape == (32, 32)
    assert m.sum() == 256 and m[8:24, 8:24].all()
    odd = masks.center_square(7, 9, 3)
    rows, cols = np.nonzero(odd)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (2, 4, 3, 5)
    assert masks.center_square(10, 20).sum() == 25  # default size min(h, w) // 2
    with pytest.raises(ValueError, match="size must be in 1..7"):
        masks.center_square(7, 9, 8)


@pytest.mark.parametrize("kind", RANDOM_KINDS)
def test_same_seed_same_mask_different_seed_different_mask(kind):
    a = masks.make_mask(kind, 40, 48, seed=5)
    assert a.dtype == np.bool_ and a.shape == (40, 48)
    np.testing.assert_array_equal(a, masks.make_mask(kind, 40, 48, seed=5))
    assert not np.array_equal(a, masks.make_mask(kind, 40, 48, seed=6))
    rng = np.random.default_rng(0)
    assert not np.array_equal(masks.make_mask(kind, 40, 48, seed=rng), masks.make_mask(kind, 40, 48, seed=rng))


def test_one_random_rectangle_is_a_filled_box_within_the_size_range():
    for seed in range(20):
        m = masks.random_rectangles(30, 25, seed=seed, count=1, min_size=3, max_size=9)
        rows, cols = np.nonzero(m)
        height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert 3 <= height <= 9 and 3 <= width <= 9
        assert m.sum() == height * width  # the bounding box is completely filled


def test_random_rectangles_union_is_bounded_by_the_rectangle_areas():
    m = masks.random_rectangles(64, 64, seed=1, count=5, min_size=4, max_size=10)
    assert 16 <= m.sum() <= 5 * 100
    with pytest.raises(ValueError, match="min_size"):
        masks.random_rectangles(10, 10, min_size=5, max_size=11)


def test_brush_strokes_are_thick_connected_scribbles():
    m = masks.brush_strokes(64, 64, seed=2, count=1, min_width=5, max_width=5)
    assert m.any() and not m.all()
    assert _components(m) == 1  # one stroke is one connected piece
    eroded = m[1:-1, 1:-1] & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
    assert eroded.any()  # wider than a 1-pixel line
    assert not masks.brush_strokes(16, 16, seed=0, count=0).any()


def _components(mask):
    """Number of 4-connected components of a bool array (flood fill)."""
    seen = np.zeros_like(mask)
    count = 0
    for start in zip(*np.nonzero(mask)):
        if seen[start]:
            continue
        count += 1
        stack = [start]
        while stack:
            i, j = stack.pop()
            if 0 <= i < mask.shape[0] and 0 <= j < mask.shape[1] and mask[i, j] and not seen[i, j]:
                seen[i, j] = True
                stack += [(i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)]
    return count


def test_bernoulli_hole_fraction_is_near_p():
    m = masks.bernoulli(256, 256, p=0.3, seed=0)
    assert abs(m.mean() - 0.3) < 0.01  # binomial standard deviation ~0.0018
    assert not masks.bernoulli(8, 8, p=0.0, seed=0).any()
    assert masks.bernoulli(8, 8, p=1.0, seed=0).all()
    with pytest.raises(ValueError, match="p must be"):
        masks.bernoulli(8, 8, p=1.5)


def test_make_mask_dispatches_to_the_named_maker():
    np.testing.assert_array_equal(masks.make_mask("center", 20, 20, size=6), masks.center_square(20, 20, 6))
    np.testing.assert_array_equal(masks.make_mask("rectangles", 20, 20, seed=3),
                                  masks.random_rectangles(20, 20, seed=3))
    np.testing.assert_array_equal(masks.make_mask("strokes", 20, 20, seed=3), masks.brush_strokes(20, 20, seed=3))
    np.testing.assert_array_equal(masks.make_mask("bernoulli", 20, 20, seed=3, p=0.4),
                                  masks.bernoulli(20, 20, p=0.4, seed=3))
    with pytest.raises(ValueError, match="unknown kind 'circle'"):
        masks.make_mask("circle", 8, 8)


def test_mask_batch_is_n1hw_float_reproducible_and_varied():
    batch = masks.mask_batch(6, 16, 20, kind="rectangles", seed=4)
    assert batch.shape == (6, 1, 16, 20) and batch.dtype == np.float32
    assert set(np.unique(batch)) <= {0.0, 1.0}
    np.testing.assert_array_equal(batch, masks.mask_batch(6, 16, 20, kind="rectangles", seed=4))
    assert len({b.tobytes() for b in batch}) == 6
    centre = masks.mask_batch(3, 16, 16, kind="center", size=4)
    np.testing.assert_array_equal(centre[2, 0], masks.center_square(16, 16, 4))
    mixed = masks.mask_batch(40, 16, 16, kind=masks.MASK_KINDS, seed=0)
    assert mixed.shape == (40, 1, 16, 16)
    with pytest.raises(ValueError, match="single kind"):
        masks.mask_batch(2, 8, 8, kind=("center", "bernoulli"), p=0.5)


# --------------------------------------------------------------------------- masks from files and arrays

def test_mask_from_gray_file_thresholds_at_one_half(tmp_path):
    Image.fromarray(np.array([[0, 100, 127, 128, 200, 255]], dtype=np.uint8)).save(tmp_path / "m.png")
    m = masks.mask_from_image(tmp_path / "m.png")
    assert m.dtype == np.bool_
    np.testing.assert_array_equal(m, [[False, False, False, True, True, True]])
    np.testing.assert_array_equal(masks.mask_from_image(tmp_path / "m.png", threshold=0.1), [[0, 1, 1, 1, 1, 1]])


def test_mask_from_colour_and_sixteen_bit_files(tmp_path):
    rgb = np.zeros((1, 3, 3), dtype=np.uint8)
    rgb[0, 1] = 255
    rgb[0, 2] = (255, 0, 0)  # luma 0.299: not a hole
    Image.fromarray(rgb).save(tmp_path / "c.png")
    np.testing.assert_array_equal(masks.mask_from_image(tmp_path / "c.png"), [[False, True, False]])
    Image.fromarray(np.array([[0, 40000, 20000]], dtype=np.uint16)).save(tmp_path / "d.png")
    np.testing.assert_array_equal(masks.mask_from_image(tmp_path / "d.png"), [[False, True, False]])


def test_transparent_areas_of_a_mask_file_are_not_holes(tmp_path):
    pixels = np.array([[[255, 255, 255, 255], [255, 255, 255, 0], [0, 0, 0, 0]]], dtype=np.uint8)
    Image.fromarray(pixels, "RGBA").save(tmp_path / "a.png")
    np.testing.assert_array_equal(masks.mask_from_image(tmp_path / "a.png"), [[True, False, False]])


def test_mask_from_arrays():
    bits = np.array([[True, False]])
    np.testing.assert_array_equal(masks.mask_from_image(bits), bits)
    np.testing.assert_array_equal(masks.mask_from_image(np.array([[0, 200]], dtype=np.uint8)), [[False, True]])
    np.testing.assert_array_equal(masks.mask_from_image(np.array([[0.2, 0.9]])), [[False, True]])
    np.testing.assert_array_equal(masks.mask_from_image(np.ones((1, 2, 3)) * [[[0.0], [1.0]]]), [[False, True]])
    with pytest.raises(TypeError, match="int32"):
        masks.mask_from_image(np.array([[0, 1]], dtype=np.int32))


def test_unreadable_mask_file_names_the_path(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(ValueError, match="bad.png"):
        masks.mask_from_image(tmp_path / "bad.png")
    with pytest.raises(FileNotFoundError, match="gone.png"):
        masks.mask_from_image(tmp_path / "gone.png")


# ------------------------------------------------------------------------------- whole-photo kinds, components

@pytest.mark.parametrize("kind", masks.WHOLE_KINDS)
def test_whole_photo_kinds_are_seeded_and_have_their_sizes(kind):
    a = masks.make_mask(kind, 384, 320, seed=3)
    assert a.dtype == bool and a.shape == (384, 320) and a.any() and not a.all()
    np.testing.assert_array_equal(a, masks.make_mask(kind, 384, 320, seed=3))
    assert not np.array_equal(a, masks.make_mask(kind, 384, 320, seed=4))
    labels, boxes = masks.components(a)
    sides = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    if kind.startswith("square-"):
        size = int(kind.split("-")[1])
        assert set(sides) == {size} and 1 <= len(boxes) <= 3 and a.sum() == len(boxes) * size * size
    elif kind == "small-rectangles":
        assert sides.max() <= 2 * 24  # rectangles of 8-24 px (two may touch)
    elif kind == "blobs":
        assert len(boxes) == 1 and 0.2 * 320 * 0.6 <= sides[0] <= 0.3 * 320 * 1.6
    else:  # thin strokes: 2-6 px wide (7 across a round joint), so a 9x9 square of hole pixels never fits
        assert not _holds_square(a, 9)


def _holds_square(mask, k):
    c = np.pad(np.cumsum(np.cumsum(mask, 0), 1), ((1, 0), (1, 0)))
    return bool(((c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) == k * k).any())


def test_squares_leave_known_pixels_in_a_small_patch():
    m = masks.squares(64, 64, 96, seed=0)
    assert m.any() and not m.all() and m.sum() == 48 * 48


def test_components_of_a_hand_drawn_mask():
    m = np.array([[1, 1, 0, 0, 1],
                  [0, 1, 0, 1, 0],
                  [0, 0, 0, 0, 0],
                  [1, 0, 1, 1, 1]], dtype=bool)
    labels, boxes = masks.components(m, connectivity=8)
    np.testing.assert_array_equal(labels, [[1, 1, 0, 0, 2], [0, 1, 0, 2, 0], [0, 0, 0, 0, 0], [3, 0, 4, 4, 4]])
    np.testing.assert_array_equal(boxes, [[0, 0, 2, 2], [0, 3, 2, 5], [3, 0, 4, 1], [3, 2, 4, 5]])
    labels4, _ = masks.components(m, connectivity=4)
    assert labels4.max() == 5  # the diagonal pair in the top right is two components by sides only
    assert masks.components(np.zeros((3, 4), bool))[1].shape == (0, 4)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 30), st.integers(1, 30), st.floats(0.05, 0.8), st.integers(0, 2**16), st.sampled_from([4, 8]))
def test_components_agree_with_a_flood_fill(h, w, p, seed, connectivity):
    m = np.random.default_rng(seed).random((h, w)) < p
    labels, boxes = masks.components(m, connectivity)
    steps = [(0, 1), (1, 0), (0, -1), (-1, 0)] + ([(1, 1), (1, -1), (-1, 1), (-1, -1)] if connectivity == 8 else [])
    seen, count = np.zeros_like(m), 0
    for r0, c0 in zip(*np.nonzero(m)):
        if seen[r0, c0]:
            continue
        count += 1
        stack, members = [(r0, c0)], []
        seen[r0, c0] = True
        while stack:
            r, c = stack.pop()
            members.append((r, c))
            for dr, dc in steps:
                rr, cc = r + dr, c + dc
                if 0 <= rr < h and 0 <= cc < w and m[rr, cc] and not seen[rr, cc]:
                    seen[rr, cc] = True
                    stack.append((rr, cc))
        rows, cols = np.array(members).T
        assert len(set(labels[rows, cols])) == 1 and labels[r0, c0] == count  # numbered by first pixel
        assert tuple(boxes[count - 1]) == (rows.min(), cols.min(), rows.max() + 1, cols.max() + 1)
    assert labels.max() == count and not labels[~m].any()
