"""Every algorithm of the kernels (im2col, Winograd, direct loops), forced on every shape it accepts, computes the
same layer as the readable loops and the reference; Winograd's transforms satisfy their defining identity; and
``kernels.plan`` chooses as its docstring says."""
import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deconvlab import reference as R
from deconvlab.kernels import direct, fast, plan, readable, winograd

EXAMPLES = min(settings.default.max_examples, 12)
DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])


def rel_error(got, expected):
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert got.shape == expected.shape, f"shape {got.shape} != expected {expected.shape}"
    scale = max(np.abs(expected).max(initial=0.0), np.finfo(np.float64).tiny)
    return np.abs(got - expected).max(initial=0.0) / scale


def assert_close(got, expected, dtype, what):
    bound = 1e-12 if dtype == np.float64 else 1e-4
    err = rel_error(got, expected)
    assert err <= bound, f"{what}: relative error {err:.2e}, should be <= {bound:.0e}"


@st.composite
def layers(draw, algorithm, max_channels=3, max_batch=2):
    """A dilation-1 layer that ``algorithm`` accepts: x (N, C_in, H, W), w (C_out, C_in, kH, kW), bias, stride,
    padding, and the output_padding with which the transposed conv restores x's shape."""
    s = tuple(draw(st.integers(1, 2)) for _ in range(2)) if algorithm == "direct" else (draw(st.integers(1, 2)),) * 2
    if algorithm in ("winograd", "winograd4"):
        r = 2 if algorithm == "winograd4" else draw(st.integers(2, 3))
        kh = draw(st.integers((r - 1) * s[0] + 1, r * s[0]))
        kw = draw(st.integers((r - 1) * s[1] + 1, r * s[1]))
    else:
        kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    k = (kh, kw)
    p = tuple(draw(st.integers(0, 2)) for _ in range(2))
    hw = tuple(max(1, k[a] - 2 * p[a]) + draw(st.integers(0, 6)) for a in range(2))
    n, c_in, c_out = draw(st.integers(1, max_batch)), draw(st.integers(1, max_channels)), draw(st.integers(1, max_channels))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, c_in) + hw)
    w = rng.standard_normal((c_out, c_in) + k)
    b = rng.standard_normal(c_out)
    restore = tuple((hw[a] + 2 * p[a] - k[a]) % s[a] for a in range(2))
    return x, w, b, s, p, restore


def run_all(impl, x, w, b, s, p, op, gy, gz):
    """conv2d forward and backward, then conv_transpose2d (weight w read in its layout) forward and backward."""
    y = impl.conv2d_forward(x, w, b, s, p)
    gx, gw, _ = impl.conv2d_backward(gy, x, w, s, p)
    z = impl.conv_transpose2d_forward(gy, w, b[:1].repeat(w.shape[1]), s, p, op)
    tx, tw, _ = impl.conv_transpose2d_backward(gz, gy, w, s, p, op)
    return dict(conv=y, conv_grad_input=gx, conv_grad_weight=gw, convT=z, convT_grad_input=tx, convT_grad_weight=tw)


def check_algorithm(algorithm, data, dtype, worst):
    x, w, b, s, p, op = data.draw(layers(algorithm))
    y_shape = readable.conv2d_forward(x, w, None, s, p).shape
    rng = np.random.default_rng(1)
    gy = rng.standard_normal(y_shape)
    gz = rng.standard_normal(x.shape)
    expected = run_all(readable, x, w, b, s, p, op, gy, gz)
    cast = [a.astype(dtype) for a in (x, w, b, gy, gz)]
    with plan.forced(algorithm):
        got = run_all(fast, *cast[:3], s, p, op, *cast[3:])
    for name, value in got.items():
        assert value.dtype == dtype, name
        assert_close(value, expected[name], dtype, f"{algorithm} {name}")
        worst[name] = max(worst.get(name, 0.0), rel_error(value, expected[name]))


WORST = {a: {} for a in plan.ALGORITHMS}


@pytest.mark.parametrize("algorithm", plan.ALGORITHMS)
@DTYPES
@settings(max_examples=EXAMPLES, deadline=None)
@given(data=st.data())
def test_every_algorithm_computes_the_readable_layer_on_every_shape_it_accepts(algorithm, dtype, data):
    check_algorithm(algorithm, data, dtype, WORST[algorithm])


@pytest.mark.parametrize("sample_major", [True, False], ids=["sample-major", "row-major"])
@DTYPES
@settings(max_examples=EXAMPLES, deadline=None)
@given(data=st.data())
def test_im2col_computes_the_readable_layer_with_either_column_layout(sample_major, dtype, data):
    """im2col's two column layouts (``fast.SAMPLE_MAJOR_PIXELS``: 1 makes every layer sample-major, a billion
    none) on every shape: the same four results as the readable loops."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fast, "SAMPLE_MAJOR_PIXELS", 1 if sample_major else 10**9)
        check_algorithm("im2col", data, dtype, {})


def test_im2col_columns_are_sample_major_exactly_where_the_output_plane_is_large():
    """The rule of ``fast.SAMPLE_MAJOR_PIXELS``: sample-major columns (compact grid, one matrix per sample with
    C·kH·kW rows plus the extra ones) where H_out·W_out reaches it, row-major ones below."""
    def columns(out_hw, extra_rows=0):
        geo = plan.Geometry(2, 3, 4, out_hw, out_hw, (3, 3), (1, 1), (1, 1), (1, 1), 4)
        return fast._columns(geo, extra_rows)

    n = fast.SAMPLE_MAJOR_PIXELS
    side = int(np.ceil(np.sqrt(n)))
    big, small = columns((side, side), extra_rows=1), columns((1, n - 1))
    assert big.sample_major and big.un.rows_per_sample == 3 * 9 + 1 and big.un.w_cols == side
    assert not small.sample_major and small.un.rows_per_sample == 0
    assert columns((1, n)).sample_major


@pytest.mark.parametrize("algorithm", plan.ALGORITHMS)
def test_worst_float32_error_of_each_algorithm_is_reported_and_within_bounds(algorithm):
    """Runs after the property test above (same module, file order) and prints its worst errors; the float32
    bound 1e-4 is asserted there, case by case, and here once more on the maxima."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 8, 9, 9))
    b = rng.standard_normal(8)
    if algorithm == "winograd4":  # 2x2 sub-kernels only: k4 s2 p1, 9x9 -> 4x4 (output padding 1 back to 9x9)
        w, s, op = rng.standard_normal((8, 8, 4, 4)) / 16, (2, 2), (1, 1)
    else:
        w, s, op = rng.standard_normal((8, 8, 3, 3)) / 9, (1, 1), (0, 0)
    gy = rng.standard_normal((2, 8) + readable.conv2d_forward(x, w, None, s, 1).shape[2:])
    gz = rng.standard_normal(x.shape)
    expected = run_all(readable, x, w, b, s, (1, 1), op, gy, gz)
    with plan.forced(algorithm):
        got = run_all(fast, *(a.astype(np.float32) for a in (x, w, b)), s, (1, 1), op,
                      gy.astype(np.float32), gz.astype(np.float32))
    errors = {name: rel_error(got[name], expected[name]) for name in got}
    for name, err in WORST[algorithm].items():
        errors[name] = max(errors[name], err)
    print(f"{algorithm}: worst float32 relative error " + ", ".join(f"{k} {v:.1e}" for k, v in errors.items()))
    assert max(errors.values()) <= 1e-4


def forced_conv(algorithm, x, w, stride, padding, seed):
    """conv2d forward and its (gx, gw) by ``algorithm``, for a random (or all-ones, seed None) upstream gradient."""
    with plan.forced(algorithm):
        y = fast.conv2d_forward(x, w, None, stride, padding)
        gy = np.ones_like(y) if seed is None else np.random.default_rng(seed).standard_normal(y.shape)
        gx, gw, _ = fast.conv2d_backward(gy, x, w, stride, padding)
    return y, gy, gx, gw


@pytest.mark.parametrize("algorithm", ["winograd", "winograd4", "direct"])
def test_forced_algorithms_agree_with_the_reference_on_an_inpainting_sized_layer(algorithm):
    """k4 s2 p1 with 8 -> 16 channels on 12x12, float64: forward and gradients against reference-built ones."""
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 8, 12, 12)), rng.standard_normal((16, 8, 4, 4))
    y, gy, gx, gw = forced_conv(algorithm, x, w, 2, 1, seed=3)
    assert rel_error(y, R.conv2d(x, w, None, 2, 1)) <= 1e-10
    assert rel_error(gx, R.conv_transpose2d(gy, w, None, 2, 1)) <= 1e-10
    gw_ref = R.conv2d(x.transpose(1, 0, 2, 3), gy.transpose(1, 0, 2, 3), stride=1, padding=1, dilation=2)
    assert rel_error(gw, gw_ref.transpose(1, 0, 2, 3)[:, :, :4, :4]) <= 1e-10


@pytest.mark.parametrize("algorithm", ["winograd", "winograd4", "direct"])
def test_forced_algorithms_give_exact_zeros_to_pixels_never_read(algorithm):
    """k4 s2 p0 on 9x9: the last row and column are never read, so their gradient is exactly 0."""
    rng = np.random.default_rng(4)
    y, _, gx, _ = forced_conv(algorithm, rng.standard_normal((1, 2, 9, 9)), rng.standard_normal((3, 2, 4, 4)), 2, 0,
                              seed=None)
    assert y.shape == (1, 3, 3, 3)
    assert np.all(gx[:, :, 8, :] == 0) and np.all(gx[:, :, :, 8] == 0) and np.all(gx[:, :, :8, :8] != 0)


@pytest.mark.parametrize("module", ["fast", "readable"])
@pytest.mark.parametrize("algorithm", plan.ALGORITHMS)
def test_backward_without_the_input_gradient_gives_none_and_the_same_weight_gradient(algorithm, module):
    """need_input=False (a network's first layer, whose input is data): gx is None, gw and gb are unchanged."""
    kernels_ = fast if module == "fast" else readable
    rng = np.random.default_rng(8)
    x, w, wt = rng.standard_normal((3, 4, 10, 10)), rng.standard_normal((5, 4, 4, 4)), rng.standard_normal((4, 5, 4, 4))
    with plan.forced(algorithm):
        gy = rng.standard_normal(kernels_.conv2d_forward(x, w, None, 2, 1).shape)
        full, alone = (kernels_.conv2d_backward(gy, x, w, 2, 1, need_input=flag) for flag in (True, False))
        gz = rng.standard_normal(kernels_.conv_transpose2d_forward(x, wt, None, 2, 1).shape)
        full_t, alone_t = (kernels_.conv_transpose2d_backward(gz, x, wt, 2, 1, need_input=flag) for flag in (True, False))
    for a, b in ((full, alone), (full_t, alone_t)):
        assert a[0] is not None and b[0] is None
        np.testing.assert_array_equal(a[1], b[1])
        np.testing.assert_array_equal(a[2], b[2])


@st.composite
def dilated_layers(draw):
    """A stride-1 layer with dilation d in {2, 3} on some axis; padding and sizes multiples of d or not."""
    d = tuple(draw(st.sampled_from([1, 2, 3])) for _ in range(2))
    if d == (1, 1):
        d = (2, 1)
    k = tuple(draw(st.integers(2, 3)) for _ in range(2))
    divisible = draw(st.booleans())
    p = tuple(d[a] * draw(st.integers(0, k[a] - 1)) + (0 if divisible else draw(st.integers(0, 1))) for a in range(2))
    hw = tuple(d[a] * draw(st.integers(k[a], 4)) + (0 if divisible else draw(st.integers(0, d[a] - 1)))
               for a in range(2))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n, c_in, c_out = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return (rng.standard_normal((n, c_in) + hw), rng.standard_normal((c_out, c_in) + k), rng.standard_normal(c_out),
            p, d)


@pytest.mark.parametrize("algorithm", plan.ALGORITHMS + (None,))
@settings(max_examples=EXAMPLES, deadline=None)
@given(layer=dilated_layers())
def test_dilated_layers_on_their_subgrids_compute_the_readable_layer(algorithm, layer):
    """Every algorithm that accepts a dilated layer (Winograd and the direct loops through its subgrids) and the
    default choice give the readable twin's four results to 1e-12; the others refuse it with a ValueError."""
    x, w, b, p, d = layer
    bt = np.linspace(-1, 1, w.shape[1])  # the transposed layer's bias: one per input channel of the conv
    y = readable.conv2d_forward(x, w, b, 1, p, d)
    gy = np.random.default_rng(2).standard_normal(y.shape)
    expected = (y, *readable.conv2d_backward(gy, x, w, 1, p, d)[:2], readable.conv_transpose2d_forward(y, w, bt, 1, p, 0, d),
                *readable.conv_transpose2d_backward(x, y, w, 1, p, 0, d)[:2])
    geo = plan.conv_geometry(x, w, (1, 1), p, d, y.shape[2:])
    if algorithm is not None and plan.why_not(algorithm, geo) is not None:
        with plan.forced(algorithm), pytest.raises(ValueError, match="cannot compute this layer"):
            fast.conv2d_forward(x, w, b, 1, p, d)
        return
    with plan.forced(algorithm) if algorithm else contextlib.nullcontext():
        got = (fast.conv2d_forward(x, w, b, 1, p, d), *fast.conv2d_backward(gy, x, w, 1, p, d)[:2],
               fast.conv_transpose2d_forward(y, w, bt, 1, p, 0, d), *fast.conv_transpose2d_backward(x, y, w, 1, p, 0, d)[:2])
    for name, value, want in zip(("conv", "conv gx", "conv gw", "convT", "convT gx", "convT gw"), got, expected):
        assert_close(value, want, np.float64, f"{algorithm} {name} d={d} p={p} {x.shape}")


def test_subgrids_split_the_image_and_put_it_back():
    a = np.arange(2 * 3 * 6 * 4, dtype=float).reshape(2, 3, 6, 4)
    sub = fast._to_subgrids(a, (3, 2))
    assert sub.shape == (12, 3, 2, 2)
    np.testing.assert_array_equal(sub[1 * 6 + 2 * 2 + 1], a[1, :, 2::3, 1::2])  # sample 1, subgrid (2, 1)
    np.testing.assert_array_equal(fast._from_subgrids(sub, (3, 2)), a)


# --- Winograd's transforms ----------------------------------------------------------------------------------


@pytest.mark.parametrize("m, r", sorted(winograd.TRANSFORMS))
def test_winograd_transforms_compute_m_outputs_of_an_r_tap_correlation(m, r):
    """Aᵀ [(G g) ⊙ (Bᵀ d)] = (Σ_u g_u d_{i+u})_{i<m} for random d (m + r − 1 values) and g (r taps)."""
    bt, G, at = winograd.transforms(m, r)
    assert bt.shape == (m + r - 1, m + r - 1) and G.shape == (m + r - 1, r) and at.shape == (m, m + r - 1)
    rng = np.random.default_rng(m * 10 + r)
    for _ in range(5):
        d, g = rng.standard_normal(m + r - 1), rng.standard_normal(r)
        direct_sum = [sum(g[u] * d[i + u] for u in range(r)) for i in range(m)]
        np.testing.assert_allclose(at @ ((G @ g) * (bt @ d)), direct_sum, rtol=1e-12, atol=1e-12)


def test_winograd_f23_uses_16_products_per_tile_instead_of_36():
    bt, G, at = winograd.transforms(2, 3)
    alpha = bt.shape[0]
    assert alpha * alpha == 16 and at.shape[0] ** 2 * G.shape[1] ** 2 == 36
    assert set(np.unique(bt)) <= {-1.0, 0.0, 1.0} and set(np.unique(at)) <= {-1.0, 0.0, 1.0}


def test_winograd_f42_uses_25_products_per_tile_instead_of_64_and_its_matrices_are_the_docstring_ones():
    """F(4×4, 2×2): α = 5, 25 products for a 4×4 tile of a 2×2 kernel (64 directly, 36 in four F(2×2, 2×2)
    tiles); Bᵀ and Aᵀ are the interpolation at 0, ±1, 2 and ∞ (integer entries), G has the halves and sixths."""
    bt, G, at = winograd.transforms(4, 2)
    assert bt.shape[0] ** 2 == 25 and at.shape[0] ** 2 * G.shape[1] ** 2 == 64
    np.testing.assert_array_equal(at, [[1, 1, 1, 1, 0], [0, 1, -1, 2, 0], [0, 1, 1, 4, 0], [0, 1, -1, 8, 1]])
    np.testing.assert_array_equal(bt[4], [0, 2, -1, -2, 1])
    assert np.all(bt == np.round(bt)) and set(np.round(6 * G.ravel())) == {0, 1, 2, 3, 6, -1}
    # the compiled 1-D transforms are these matrices (each helper applied to the unit vectors)
    eye = np.eye(5)
    np.testing.assert_array_equal(np.array([winograd._bt5(*e) for e in eye]).T, bt)
    np.testing.assert_array_equal(np.array([winograd._b5(*e) for e in eye]), bt)
    np.testing.assert_array_equal(np.array([winograd._at5(*e) for e in eye]).T, at)
    np.testing.assert_array_equal(np.array([winograd._a5(*e) for e in np.eye(4)]), at)


def test_unknown_winograd_transforms_are_a_value_error():
    with pytest.raises(ValueError, match=r"F\(6, 3\)"):
        winograd.transforms(6, 3)


COMPILED_TILES = sorted(v[:2] for v in winograd.COMPILED.values())  # (m, r) of each compiled F(m×m, r×r)


@pytest.mark.parametrize("m, r", COMPILED_TILES)
@settings(max_examples=EXAMPLES, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), h=st.integers(1, 9), w_=st.integers(1, 9))
def test_readable_winograd_is_the_correlation_and_its_two_adjoints(m, r, seed, h, w_):
    """readable_forward = the reference conv of the padded input; readable_data_grad and readable_weight_grad are
    its adjoints in d and in g: <F(d, g), y> = <d, D(y, g)> = <g, W(y, d)>."""
    rng = np.random.default_rng(seed)
    out_hw = (h, w_)
    hp, wp = winograd.padded_size(out_hw, m, r)
    d = np.zeros((2, 3, hp, wp))
    d[:, :, : h + r - 1, : w_ + r - 1] = rng.standard_normal((2, 3, h + r - 1, w_ + r - 1))
    g = rng.standard_normal((2, 3, r, r))
    y = winograd.readable_forward(d, g, out_hw, m)
    assert rel_error(y, R.conv2d(d[:, :, : h + r - 1, : w_ + r - 1], g)) <= 1e-12
    gy = rng.standard_normal(y.shape)
    gd = winograd.readable_data_grad(gy, g, (hp, wp), m)
    gg = winograd.readable_weight_grad(gy, d, r, m)
    lhs = np.vdot(y, gy)
    assert abs(lhs - np.vdot(d, gd)) <= 1e-11 * max(1.0, abs(lhs))
    assert abs(lhs - np.vdot(g, gg)) <= 1e-11 * max(1.0, abs(lhs))


@pytest.mark.parametrize("m, r", COMPILED_TILES)
@settings(max_examples=EXAMPLES, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), h=st.integers(1, 9), w_=st.integers(1, 9))
def test_fast_winograd_transforms_compute_what_the_readable_twin_computes(m, r, seed, h, w_):
    """The compiled transforms and stacked products (channels-last input, (α², tiles, channels) stacks) give the
    readable twin's forward, input gradient and weight gradient to 1e-12."""
    rng = np.random.default_rng(seed)
    n, c, o = 2, 3, 4
    hp, wp = winograd.padded_size((h, w_), m, r)
    d = np.zeros((n, c, hp, wp))
    d[:, :, : h + r - 1, : w_ + r - 1] = rng.standard_normal((n, c, h + r - 1, w_ + r - 1))
    taps = rng.standard_normal((r, r, c, o))
    g = np.ascontiguousarray(taps.transpose(3, 2, 0, 1))  # (O, C, r, r)
    tl = winograd.tiling((h, w_), m, r, d.dtype)
    tiles = n * tl.tiles_h * tl.tiles_w
    u = winograd.weight_transform(taps, m)
    p = np.ascontiguousarray(d.transpose(0, 2, 3, 1))
    v = np.empty((u.shape[0], tiles, c))
    winograd.input_transform(p, 0, n, tl, v)
    y = np.empty((n, o, h, w_))
    winograd.output_transform(np.matmul(v, u), 0, n, tl, y)
    assert rel_error(y, winograd.readable_forward(d, g, (h, w_), m)) <= 1e-12
    gy = rng.standard_normal(y.shape)
    mg = np.empty((u.shape[0], tiles, o))
    winograd.output_transform_adjoint(gy, 0, n, tl, mg)
    gp = np.zeros_like(p)
    winograd.input_transform_adjoint(np.matmul(mg, u.transpose(0, 2, 1)), 0, n, tl, gp)
    assert rel_error(gp.transpose(0, 3, 1, 2), winograd.readable_data_grad(gy, g, (hp, wp), m)) <= 1e-12
    gtaps = winograd.weight_transform_adjoint(np.matmul(v.transpose(0, 2, 1), mg), m, r)
    assert rel_error(gtaps.transpose(3, 2, 0, 1), winograd.readable_weight_grad(gy, d, r, m)) <= 1e-12


@pytest.mark.parametrize("m, r", COMPILED_TILES)
def test_weight_transform_is_g_times_each_kernel_times_g_transposed_and_its_adjoint(m, r):
    rng = np.random.default_rng(5)
    taps = rng.standard_normal((r, r, 4, 3))  # (r, r, C, O)
    u = winograd.weight_transform(taps, m)
    _, G, _ = winograd.transforms(m, r)
    alpha = G.shape[0]
    for c in range(4):
        for o in range(3):
            np.testing.assert_allclose(u[:, c, o].reshape(alpha, alpha), G @ taps[:, :, c, o] @ G.T, atol=1e-12)
    gu = rng.standard_normal(u.shape)
    gtaps = winograd.weight_transform_adjoint(gu, m, r)
    assert abs(np.vdot(u, gu) - np.vdot(taps, gtaps)) <= 1e-12 * np.abs(u).sum() * np.abs(gu).max()


# --- the direct loops ---------------------------------------------------------------------------------------


def test_direct_loops_are_the_three_sums_of_their_docstring():
    rng = np.random.default_rng(6)
    P = rng.standard_normal((2, 7, 8, 3))  # (N, H_out + r_h − 1, W_out + r_w − 1, C), r = (2, 3)
    w = rng.standard_normal((2, 3, 3, 5))  # (r_h, r_w, C, O)
    y = np.empty((2, 5, 6, 6))
    direct.correlate(P, w, 0, 2, y)
    expected = np.zeros_like(y)
    for u in range(2):
        for v in range(3):
            expected += np.einsum("nhwc,co->nohw", P[:, u: u + 6, v: v + 6], w[u, v])
    assert rel_error(y, expected) <= 1e-12
    g = rng.standard_normal((2, 6, 6, 5))
    gP = np.zeros_like(P)
    direct.scatter(g, np.ascontiguousarray(w.transpose(0, 1, 3, 2)), 0, 2, gP)
    gw = np.zeros_like(w)
    direct.weight_grad(P, g, 0, 2, gw)
    lhs = np.vdot(expected.transpose(0, 2, 3, 1), g)
    assert abs(lhs - np.vdot(P, gP)) <= 1e-11 * abs(lhs) and abs(lhs - np.vdot(w, gw)) <= 1e-11 * abs(lhs)


# --- the choice ---------------------------------------------------------------------------------------------


def geometry(c_in, c_out, size, k, s, p=1, d=1, n=32):
    x = np.empty((n, c_in, size, size), np.float32)
    w = np.empty((c_out, c_in, k, k), np.float32)
    out = (size + 2 * p - d * (k - 1) - 1) // s + 1
    return plan.conv_geometry(x, w, (s, s), (p, p), (d, d), (out, out))


def test_winograd_is_chosen_for_wide_layers_and_im2col_for_the_others():
    assert plan.choose(geometry(128, 128, 8, 3, 1)) == "winograd"  # 1/128 + 1/128 <= 1/12
    assert plan.choose(geometry(64, 64, 16, 6, 2, p=2)) == "winograd"  # r = 3 on four phases: 1/256 + 1/64
    assert plan.choose(geometry(32, 32, 32, 3, 1)) == "winograd"  # 1/32 + 1/32
    assert plan.choose(geometry(16, 32, 32, 3, 1)) == "im2col"  # 1/16 + 1/32: the transforms would weigh
    assert plan.choose(geometry(3, 32, 32, 3, 1)) == "im2col"
    assert plan.choose(geometry(64, 128, 16, 4, 2)) == "winograd"  # r = 2 on four phases: 1/256 + 1/128 ...
    # ... but 8x8 outputs make 128 tiles of 4x4: F(4x4, 2x2)'s weight share 256·128 / (128·384) = 2/3 > 1/3
    assert plan.choose(geometry(16, 16, 32, 4, 2)) == "winograd4"  # 1/64 + 1/16; 16x16 outputs: share 64·16/(512·80)
    assert plan.choose(geometry(64, 128, 16, 4, 2, n=128)) == "winograd4"  # 512 tiles: share 1/6
    assert plan.choose(geometry(64, 128, 16, 4, 2, n=32)) == "winograd"
    assert plan.choose(geometry(32, 64, 32, 4, 2, n=16)) == "winograd4"  # 256 tiles, 128·64 / (256·192) = 1/6
    assert plan.choose(geometry(8, 8, 32, 4, 2)) == "im2col"  # 1/32 + 1/8
    assert plan.choose(geometry(128, 128, 8, 3, 1, p=2, d=2)) == "winograd"  # dilated: on four 4x4 subgrids
    assert plan.layout(geometry(128, 128, 8, 3, 1, p=2, d=2))[1].out_hw == (4, 4)
    assert plan.layout(geometry(128, 128, 12, 3, 1, p=4, d=4)) == ("im2col", None)  # 3x3 subgrids: odd sides
    assert plan.layout(geometry(128, 128, 9, 3, 1, p=2, d=2)) == ("im2col", None)  # 2 does not divide 9
    assert plan.choose(geometry(128, 128, 8, 5, 1, p=2)) == "im2col"  # r = 5
    for c in (16, 23, 24, 25, 64, 200):
        share = 2 / c
        assert (plan.choose(geometry(c, c, 8, 3, 1)) == "winograd") == (share <= plan.WINOGRAD_TRANSFORM_SHARE_MAX)


def test_the_default_rule_chooses_exactly_the_default_algorithms():
    """plan.DEFAULT_ALGORITHMS (what ``deconvlab bench compile`` times as "the default rule's") is what choose
    returns over a spread of layers: every one of them for some layer, and nothing else."""
    chosen = {plan.choose(geometry(c, o, size, k, s, p, d))
              for c in (3, 32, 128) for o in (3, 64, 128) for size in (8, 16, 32)
              for k, s, p, d in ((3, 1, 1, 1), (4, 2, 1, 1), (3, 2, 1, 1), (5, 1, 2, 1), (3, 1, 2, 2), (1, 1, 0, 1))}
    assert chosen == set(plan.DEFAULT_ALGORITHMS)


def test_why_not_names_what_an_algorithm_needs():
    assert plan.why_not("im2col", geometry(1, 1, 9, 3, 1, d=3)) is None
    assert "dilation 1" in plan.why_not("winograd", geometry(1, 1, 9, 3, 1, d=3))
    assert "dilation 1" in plan.why_not("direct", geometry(1, 1, 9, 3, 1, d=3))
    assert "r = 2 or 3" in plan.why_not("winograd", geometry(1, 1, 9, 5, 1))
    assert "2x2 sub-kernels only" in plan.why_not("winograd4", geometry(1, 1, 9, 3, 1))
    assert plan.why_not("winograd4", geometry(1, 1, 9, 4, 2)) is None
    assert plan.why_not("direct", geometry(1, 1, 9, 5, 1)) is None


def test_forcing_an_algorithm_where_it_does_not_apply_is_a_value_error_and_the_force_ends_with_the_block():
    x, w = np.ones((1, 1, 9, 9)), np.ones((1, 1, 3, 3))
    with plan.forced("winograd"), pytest.raises(ValueError, match="algorithm 'winograd' cannot compute this layer"):
        fast.conv2d_forward(x, w, dilation=2)
    assert plan.choose(geometry(1, 1, 9, 3, 1, d=2)) == "im2col"
    with pytest.raises(ValueError, match="unknown algorithm 'fft'"), plan.forced("fft"):
        pass


def test_the_geometry_of_a_transposed_conv_is_the_conv_it_is_the_adjoint_of():
    x = np.empty((4, 64, 8, 8), np.float32)
    w = np.empty((64, 32, 4, 4), np.float32)  # conv_transpose2d 64 -> 32, 8x8 -> 16x16
    g = plan.conv_transpose_geometry(x, w, (2, 2), (1, 1), (1, 1), (16, 16))
    assert (g.c_in, g.c_out, g.in_hw, g.out_hw) == (32, 64, (16, 16), (8, 8))
    assert plan.phases(g) == (2, 2) and plan.sub_kernel_size(g) == (2, 2)


@DTYPES
@pytest.mark.parametrize("k, p, d", [((3, 3), (1, 1), (1, 1)), ((3, 2), (0, 1), (1, 1)), ((3, 3), (2, 0), (1, 1)),
                                     ((3, 3), (4, 1), (2, 1)), ((1, 1), (0, 0), (1, 1))])
def test_conv2d_backward_to_fewer_channels_comes_from_the_columns_of_the_output_gradient(k, p, d, dtype):
    """At stride 1 with C_out < C_in both gradients come from g's columns (the flipped form); they are the
    readable layer's on kernels, paddings (0 to d(k − 1)) and dilations of that path."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 5, 9, 8))
    w = rng.standard_normal((2, 5) + k)
    geo = plan.conv_geometry(x, w, (1, 1), p, d, readable.conv2d_forward(x, w, None, 1, p, d).shape[2:])
    assert fast._flip_geometry(geo) is not None
    gy = rng.standard_normal((3, 2) + geo.out_hw)
    want_x, want_w, _ = readable.conv2d_backward(gy, x, w, 1, p, d)
    with plan.forced("im2col"):
        got_x, got_w, _ = fast.conv2d_backward(gy.astype(dtype), x.astype(dtype), w.astype(dtype), 1, p, d)
        alone_x, alone_w, _ = fast.conv2d_backward(gy.astype(dtype), x.astype(dtype), w.astype(dtype), 1, p, d,
                                                   need_input=False)
        # conv_transpose2d of gy with the same weight is this layer's adjoint: its weight gradient is the same
        # index relation read with x as the output gradient.
        t_x, t_w, _ = fast.conv_transpose2d_backward(x.astype(dtype), gy.astype(dtype), w.astype(dtype), 1, p,
                                                     0, d, need_input=False)
    assert_close(got_x, want_x, dtype, "input gradient")
    assert_close(got_w, want_w, dtype, "weight gradient")
    assert alone_x is None and t_x is None
    assert_close(alone_w, want_w, dtype, "weight gradient alone")
    assert_close(t_w, want_w, dtype, "conv_transpose2d weight gradient")


def test_the_kronecker_factor_is_built_once_per_transform_and_dtype_and_is_read_only():
    _, G, _ = winograd.transforms(2, 3, np.float32)
    first = winograd._kron(2, 3, np.float32)
    assert winograd._kron(2, 3, np.dtype(np.float32)) is first
    assert winograd._kron(2, 3, np.float64) is not first and winograd._kron(2, 3, np.float64).dtype == np.float64
    np.testing.assert_array_equal(first, np.kron(G, G))
    assert first.dtype == np.float32 and not first.flags.writeable
    with pytest.raises(ValueError):
        winograd._kron(3, 3, np.float32)
