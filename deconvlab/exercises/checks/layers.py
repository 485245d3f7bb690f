"""Checks of the exercises conv2d_backward, conv_transpose2d_backward and im2col: multi-channel layers, their
gradients and their matrix form; imports NumPy, Hypothesis, ``reference``, ``kernels`` and ``base``."""
import numpy as np
from hypothesis import strategies as st

from ... import kernels, reference
from .base import check, rel_error

kernel_sides = st.integers(1, 4)
strides = st.integers(1, 3)


@st.composite
def conv_layers(draw):
    """(n, c_in, c_out, h, w, kh, kw, stride, padding) of a small conv layer with H_out, W_out >= 1."""
    n, c_in, c_out = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(kernel_sides), draw(kernel_sides)
    s, pad = draw(strides), draw(st.integers(0, 2))
    h = max(1, kh - 2 * pad + draw(st.integers(0, 5)))
    w = max(1, kw - 2 * pad + draw(st.integers(0, 5)))
    return n, c_in, c_out, h, w, kh, kw, s, pad


def _out(size, k, s, pad):
    return (size + 2 * pad - k) // s + 1


def _three(case, result, what, shapes):
    """The student's (gx, gw, gb), each checked for type, shape and dtype."""
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        case.fail(f"{what} returned {getattr(result, 'type_name', type(result).__name__)}; expected a tuple (gx, gw, gb)")
    return [case.array(r, f"{what} {name}", shape) for r, name, shape in zip(result, ("gx", "gw", "gb"), shapes)]


# conv2d_backward -----------------------------------------------------------------------------------

def _conv_problem(case, layer):
    n, c_in, c_out, h, w, kh, kw, s, pad = layer
    x = case.normal("x", (n, c_in, h, w))
    weight = case.normal("w", (c_out, c_in, kh, kw))
    gy = case.normal("gy", (n, c_out, _out(h, kh, s, pad), _out(w, kw, s, pad)))
    return x, weight, gy, s, pad


def _conv_gradients(case, x, w, gy, s, pad):
    what = f"conv2d_backward(gy, x, w, stride={s}, padding={pad})"
    result = case.call("conv2d_backward", gy, x, w, stride=s, padding=pad)
    return (what, *_three(case, result, what, (x.shape, w.shape, (w.shape[0],))))


@check("conv2d_backward", layer=conv_layers())
def gradient_shapes(case, layer):
    """gx, gw, gb are float64 arrays of the shapes of x, w and (C_out,)."""
    _conv_gradients(case, *_conv_problem(case, layer))


def _conv_oracle(case, x, w, gy, s, pad):
    return kernels.conv2d_backward(case.f64(gy), case.f64(x), case.f64(w), stride=s, padding=pad)


def _matches_kernels(case, problem, gradients, oracle, index):
    """The student's gradient number ``index`` (0: gx, 1: gw) against the kernels' on the same problem."""
    what, *grads = gradients(case, *problem)
    case.close(grads[index], oracle(case, *problem)[index], f"{what} {('gx', 'gw')[index]} against the kernels")


@check("conv2d_backward", layer=conv_layers())
def input_gradient_matches_kernels(case, layer):
    """gx equals deconvlab.kernels.conv2d_backward's input gradient (a transposed convolution of gy)."""
    _matches_kernels(case, _conv_problem(case, layer), _conv_gradients, _conv_oracle, 0)


@check("conv2d_backward", layer=conv_layers())
def weight_gradient_matches_kernels(case, layer):
    """gw equals deconvlab.kernels.conv2d_backward's weight gradient (a correlation of x with gy)."""
    _matches_kernels(case, _conv_problem(case, layer), _conv_gradients, _conv_oracle, 1)


@check("conv2d_backward", layer=conv_layers())
def bias_gradient_is_sum_of_gy(case, layer):
    """gb[o] = Σ_n Σ_i Σ_j gy[n,o,i,j]."""
    x, w, gy, s, pad = _conv_problem(case, layer)
    what, _, _, gb = _conv_gradients(case, x, w, gy, s, pad)
    case.close(gb, case.f64(gy).sum(axis=(0, 2, 3)), what + " gb against the sum of gy")


def _directional(case, what, grads, inputs, loss):
    """⟨∇L, v⟩ against central differences of L along a random direction v, for each input in turn."""
    eps = 1e-6
    rng = np.random.default_rng(case.seed + 7)
    for name, grad in grads.items():
        v = rng.standard_normal(inputs[name].shape)
        plus, minus = dict(inputs), dict(inputs)
        plus[name], minus[name] = inputs[name] + eps * v, inputs[name] - eps * v
        analytic = float(np.sum(grad * v))
        numeric = (loss(**plus) - loss(**minus)) / (2 * eps)
        error = rel_error(analytic, numeric)
        if error > 1e-5:
            case.fail(f"{what}: ∂L/∂{name} along a random direction is {analytic:.8g} by your gradient, "
                      f"{numeric:.8g} by finite differences (relative error {error:.1e}, should be ~1e-8)")


@check("conv2d_backward", layer=conv_layers())
def agrees_with_finite_differences(case, layer):
    """⟨∇L, v⟩ == (L(θ + εv) − L(θ − εv))/2ε along random directions, L = Σ gy·conv2d(x, w, b), ε = 1e-6."""
    x, w, gy, s, pad = _conv_problem(case, layer)
    what, gx, gw, gb = _conv_gradients(case, x, w, gy, s, pad)
    g = case.f64(gy)

    def loss(x, w, b):
        return float(np.sum(g * reference.conv2d(x, w, b, stride=s, padding=pad)))

    inputs = {"x": case.f64(x), "w": case.f64(w), "b": np.zeros(w.shape[0])}
    _directional(case, what, {"x": gx, "w": gw, "b": gb}, inputs, loss)


@check("conv2d_backward", s=st.integers(2, 3), data=st.data())
def unread_pixels_get_zero_gradient(case, s, data):
    """With a kernel smaller than the stride some input pixels are never read; their gradient is exactly 0."""
    kh, kw = data.draw(st.integers(1, s - 1), label="kh"), data.draw(st.integers(1, s - 1), label="kw")
    h, w = data.draw(st.integers(kh, 8), label="H"), data.draw(st.integers(kw, 8), label="W")
    x, weight, gy, _, _ = _conv_problem(case, (1, 2, 2, h, w, kh, kw, s, 0))
    what, gx, _, _ = _conv_gradients(case, x, weight, gy, s, 0)
    rows, cols = np.zeros(h, dtype=bool), np.zeros(w, dtype=bool)
    for i in range(gy.shape[2]):
        rows[i * s:i * s + kh] = True
    for j in range(gy.shape[3]):
        cols[j * s:j * s + kw] = True
    leaked = np.abs(gx[:, :, ~np.outer(rows, cols)]).max(initial=0.0)
    if leaked != 0:
        case.fail(f"{what}: pixels no output reads got gradient up to {leaked:.3g}; expected exactly 0")


# conv_transpose2d_backward -------------------------------------------------------------------------

@st.composite
def transposed_layers(draw):
    """(n, c_in, c_out, h, w, kh, kw, stride, padding, output_padding) with H_out, W_out >= 1."""
    n, c_in, c_out = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    kh, kw, s = draw(kernel_sides), draw(kernel_sides), draw(strides)
    op = draw(st.integers(0, s - 1))
    limit = min((h - 1) * s + kh + op - 1, (w - 1) * s + kw + op - 1) // 2
    pad = draw(st.integers(0, max(0, min(2, limit))))
    return n, c_in, c_out, h, w, kh, kw, s, pad, op


def _transposed_problem(case, layer):
    n, c_in, c_out, h, w, kh, kw, s, pad, op = layer
    x = case.normal("x", (n, c_in, h, w))
    weight = case.normal("w", (c_in, c_out, kh, kw))
    h_out, w_out = (h - 1) * s - 2 * pad + kh + op, (w - 1) * s - 2 * pad + kw + op
    gy = case.normal("gy", (n, c_out, h_out, w_out))
    return x, weight, gy, s, pad, op


def _transposed_gradients(case, x, w, gy, s, pad, op):
    what = f"conv_transpose2d_backward(gy, x, w, stride={s}, padding={pad}, output_padding={op})"
    result = case.call("conv_transpose2d_backward", gy, x, w, stride=s, padding=pad, output_padding=op)
    return (what, *_three(case, result, what, (x.shape, w.shape, (w.shape[1],))))


def _kernel_gradients(case, x, w, gy, s, pad, op):
    return kernels.conv_transpose2d_backward(case.f64(gy), case.f64(x), case.f64(w), stride=s, padding=pad,
                                             output_padding=op)


@check("conv_transpose2d_backward", layer=transposed_layers())
def gradient_shapes(case, layer):
    """gx, gw, gb are float64 arrays of the shapes of x, w (C_in, C_out, K, L) and (C_out,)."""
    _transposed_gradients(case, *_transposed_problem(case, layer))


@check("conv_transpose2d_backward", layer=transposed_layers())
def input_gradient_matches_kernels(case, layer):
    """gx equals deconvlab.kernels.conv_transpose2d_backward's input gradient."""
    _matches_kernels(case, _transposed_problem(case, layer), _transposed_gradients, _kernel_gradients, 0)


@check("conv_transpose2d_backward", layer=transposed_layers())
def input_gradient_is_a_convolution_of_gy(case, layer):
    """gx is the strided convolution of gy with the same weight: conv2d(gy, w, stride s, padding p) (the duality)."""
    x, w, gy, s, pad, op = problem = _transposed_problem(case, layer)
    what, gx, _, _ = _transposed_gradients(case, *problem)
    conv = kernels.conv2d_forward(case.f64(gy), case.f64(w), stride=s, padding=pad)[:, :, :x.shape[2], :x.shape[3]]
    case.close(gx, conv, what + " gx against conv2d(gy, w, stride, padding)")


@check("conv_transpose2d_backward", layer=transposed_layers())
def weight_gradient_matches_kernels(case, layer):
    """gw equals deconvlab.kernels.conv_transpose2d_backward's weight gradient."""
    _matches_kernels(case, _transposed_problem(case, layer), _transposed_gradients, _kernel_gradients, 1)


@check("conv_transpose2d_backward", layer=transposed_layers())
def bias_gradient_is_sum_of_gy(case, layer):
    """gb[o] = Σ_n Σ_i Σ_j gy[n,o,i,j]."""
    x, w, gy, s, pad, op = problem = _transposed_problem(case, layer)
    what, _, _, gb = _transposed_gradients(case, *problem)
    case.close(gb, case.f64(gy).sum(axis=(0, 2, 3)), what + " gb against the sum of gy")


@check("conv_transpose2d_backward", layer=transposed_layers())
def agrees_with_finite_differences(case, layer):
    """⟨∇L, v⟩ == (L(θ + εv) − L(θ − εv))/2ε along random directions, L = Σ gy·conv_transpose2d(x, w, b)."""
    x, w, gy, s, pad, op = problem = _transposed_problem(case, layer)
    what, gx, gw, gb = _transposed_gradients(case, *problem)
    g = case.f64(gy)

    def loss(x, w, b):
        return float(np.sum(g * reference.conv_transpose2d(x, w, b, stride=s, padding=pad, output_padding=op)))

    inputs = {"x": case.f64(x), "w": case.f64(w), "b": np.zeros(w.shape[1])}
    _directional(case, what, {"x": gx, "w": gw, "b": gb}, inputs, loss)


# im2col --------------------------------------------------------------------------------------------

def _im2col(case, x, kh, kw, s, pad):
    n, c, h, w = x.shape
    shape = (c * kh * kw, n * _out(h, kh, s, pad) * _out(w, kw, s, pad))
    result = case.call("im2col", x, (kh, kw), stride=s, padding=pad)
    return case.array(result, f"im2col(x, ({kh}, {kw}), stride={s}, padding={pad})", shape)


def _col2im(case, cols, x_shape, kh, kw, s, pad):
    result = case.call("col2im", cols, x_shape, (kh, kw), stride=s, padding=pad)
    return case.array(result, f"col2im(cols, {x_shape}, ({kh}, {kw}), stride={s}, padding={pad})", x_shape)


def _windows(x, kh, kw, s, pad):
    """The definition, entry by entry: cols[(c·K + u)·L + v, (n·H_out + i)·W_out + j] = xp[n, c, i·s + u, j·s + v]."""
    n, c, h, w = x.shape
    ho, wo = _out(h, kh, s, pad), _out(w, kw, s, pad)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.zeros((c * kh * kw, n * ho * wo))
    for index in np.ndindex(n, c, kh, kw, ho, wo):
        b, ch, u, v, i, j = index
        cols[(ch * kh + u) * kw + v, (b * ho + i) * wo + j] = xp[b, ch, i * s + u, j * s + v]
    return cols


def _im2col_problem(case, layer):
    n, c, _, h, w, kh, kw, s, pad = layer
    return case.normal("x", (n, c, h, w)), kh, kw, s, pad


@check("im2col", layer=conv_layers())
def im2col_matches_the_definition(case, layer):
    """cols[(c·K + u)·L + v, (n·H_out + i)·W_out + j] = xp[n, c, i·s + u, j·s + v], xp = x zero-padded."""
    x, kh, kw, s, pad = _im2col_problem(case, layer)
    cols = _im2col(case, x, kh, kw, s, pad)
    case.close(cols, _windows(case.f64(x), kh, kw, s, pad), f"im2col(x, ({kh}, {kw}), stride={s}, padding={pad}) "
               "against the definition")


@check("im2col", layer=conv_layers())
def matrix_product_is_the_conv_layer(case, layer):
    """w.reshape(C_out, −1) @ im2col(x), reshaped, equals deconvlab.kernels.conv2d_forward(x, w)."""
    x, kh, kw, s, pad = _im2col_problem(case, layer)
    n, c, h, w = x.shape
    cols = _im2col(case, x, kh, kw, s, pad)
    weight = np.random.default_rng(case.seed + 3).standard_normal((layer[2], c, kh, kw))
    y = (weight.reshape(layer[2], -1) @ cols).reshape(layer[2], n, _out(h, kh, s, pad), _out(w, kw, s, pad))
    case.close(y.transpose(1, 0, 2, 3), kernels.conv2d_forward(case.f64(x), weight, stride=s, padding=pad),
               "the conv layer as w_matrix @ im2col(x) against deconvlab.kernels.conv2d_forward")


@check("im2col", layer=conv_layers())
def col2im_is_the_adjoint_of_im2col(case, layer):
    """⟨im2col(x), c⟩ == ⟨x, col2im(c)⟩ for random x and c."""
    x, kh, kw, s, pad = _im2col_problem(case, layer)
    cols = _im2col(case, x, kh, kw, s, pad)
    c = case.normal("c", cols.shape)
    back = _col2im(case, c, x.shape, kh, kw, s, pad)
    lhs, rhs = float(np.sum(cols * case.f64(c))), float(np.sum(case.f64(x) * back))
    if rel_error(lhs, rhs) > 10 * case.variant.rtol:
        case.fail(f"⟨im2col(x), c⟩ = {lhs:.10g} but ⟨x, col2im(c)⟩ = {rhs:.10g} (relative error "
                  f"{rel_error(lhs, rhs):.1e}, should be ~1e-15): col2im is not im2col's transpose")


@check("im2col", layer=conv_layers())
def col2im_gives_the_input_gradient(case, layer):
    """col2im(w_matrixᵀ @ gy_matrix) equals deconvlab.kernels.conv2d_backward's input gradient."""
    n, c, c_out, h, w, kh, kw, s, pad = layer
    ho, wo = _out(h, kh, s, pad), _out(w, kw, s, pad)
    gy = case.normal("gy", (n, c_out, ho, wo))
    weight = np.random.default_rng(case.seed + 5).standard_normal((c_out, c, kh, kw))
    columns = weight.reshape(c_out, -1).T @ case.f64(gy).transpose(1, 0, 2, 3).reshape(c_out, -1)
    cols = case.given("cols", columns, "w_matrix.T @ gy_matrix")
    gx = _col2im(case, cols, (n, c, h, w), kh, kw, s, pad)
    expected = kernels.conv2d_backward(case.f64(gy), np.zeros((n, c, h, w)), weight, stride=s, padding=pad)[0]
    case.close(gx, expected, "col2im(w_matrixᵀ @ gy_matrix) against the conv layer's input gradient")


@check("im2col")
def col2im_of_ones_counts_the_windows(case):
    """col2im of ones counts, for every pixel, the windows that read it: k3 s2 gives 1, 2 and 4."""
    for shape, k, s, pad in [((1, 1, 7, 7), 3, 2, 0), ((2, 2, 6, 5), 2, 1, 1), ((1, 1, 5, 6), 3, 2, 1)]:
        n, c, h, w = shape
        count = (c * k * k, n * _out(h, k, s, pad) * _out(w, k, s, pad))
        ones = case.given(f"ones{h}{w}", np.ones(count))
        gx = _col2im(case, ones, shape, k, k, s, pad)
        expected = kernels.conv2d_backward(np.ones((n, c, count[1] // n // _out(w, k, s, pad), _out(w, k, s, pad))),
                                           np.zeros(shape), np.ones((c, c, k, k)) / c, stride=s, padding=pad)[0]
        case.close(gx, expected, f"col2im(ones) for a {k}x{k} kernel, stride {s}, padding {pad}: window counts")
