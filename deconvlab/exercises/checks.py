"""The graded properties of each exercise; imports NumPy, Hypothesis, reference, kernels, autograd, functional, optim.

A check is a function registered with ``@check(exercise)``; its parameters are named after the student's
functions it needs, which the grader looks up in the student's module. It returns nothing when the
property holds and raises ``CheckFailed`` (an AssertionError) saying what was wrong, with the numbers a
student can judge: shapes, the largest difference and where, relative errors next to what they should be.

Most checks are properties tested with Hypothesis on small random shapes. Examples are derandomized, so a
student's score does not change between runs, and nothing is stored on disk. Every comparison is against
something independent of the student's code: ``deconvlab.reference`` (the article's formulas as loops),
``deconvlab.kernels``, the library's autograd and optimizers, or central finite differences.
"""
import inspect
from collections import OrderedDict

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from .. import functional, kernels, optim, reference
from ..autograd import Tensor

MAX_EXAMPLES = 15


class CheckFailed(AssertionError):
    """A graded property does not hold; the message says how."""


class Check:
    """One graded property: ``exercise``, ``name``, the student ``functions`` it needs, and ``run``.

    ``run(*functions)`` calls the check with the student's functions (in the order of ``functions``); a
    property check (one with ``strategies``) runs as a Hypothesis property, the other arguments drawn from
    the strategies of the same names.
    """

    def __init__(self, exercise, fn, strategies):
        self.exercise = exercise
        self.name = fn.__name__
        self.functions = tuple(p for p in inspect.signature(fn).parameters if p not in strategies)
        self.description = inspect.getdoc(fn)
        self._fn, self._strategies = fn, strategies

    def run(self, *functions):
        student = dict(zip(self.functions, functions))
        if not self._strategies:
            return self._fn(**student)

        @_property(**self._strategies)
        def example(**drawn):
            self._fn(**student, **drawn)

        example()

    def __repr__(self):
        return f"<Check {self.exercise}.{self.name}>"


CHECKS = OrderedDict()


def check(exercise, **strategies):
    """Register the decorated function as a check of ``exercise`` (in the order of definition).

    Its parameters are the student's functions it needs, by name, and with ``strategies`` (Hypothesis
    strategies by parameter name) the values each example draws: ``@check("mse", problem=loss_problems())``
    over ``def f(mse, problem)`` checks ``mse`` on MAX_EXAMPLES drawn problems.
    """

    def register(fn):
        CHECKS.setdefault(exercise, []).append(Check(exercise, fn, strategies))
        return fn

    return register


def _property(**strategies):
    """``@given(**strategies)`` with the grader's settings: bounded, derandomized, no deadline, no database,
    and no "explain" phase (which reruns a failing example many times to annotate it)."""

    def decorate(fn):
        return settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            print_blob=False,
            report_multiple_bugs=False,
            phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
            suppress_health_check=list(HealthCheck),
        )(given(**strategies)(fn))

    return decorate


seeds = st.integers(0, 2**32 - 1)
sides = st.integers(1, 6)
kernel_sides = st.integers(1, 4)
strides = st.integers(1, 3)


def _normal(seed, *shapes):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for shape in shapes]


def _call(fn, *args, **kwargs):
    """Call a student's function; any exception it raises becomes a CheckFailed naming the call."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:
        shapes = ", ".join(f"shape {np.shape(a)}" if isinstance(a, np.ndarray) else repr(a) for a in args)
        extra = "".join(f", {k}={v!r}" for k, v in kwargs.items() if not isinstance(v, np.ndarray))
        raise CheckFailed(f"{fn.__name__}({shapes}{extra}) raised {type(exc).__name__}: {exc}") from exc


def _array(value, what, shape):
    """The student's result as a float64 array of the expected shape, or CheckFailed."""
    if value is None:
        raise CheckFailed(f"{what} returned None; expected an array of shape {shape}")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise CheckFailed(f"{what} returned a {type(value).__name__}, not an array of numbers") from None
    if array.shape != tuple(shape):
        raise CheckFailed(f"{what} returned shape {array.shape}; expected {tuple(shape)}")
    return array


def _close(actual, expected, what, rtol=1e-8):
    """actual == expected up to rtol relative to the largest expected magnitude (1 at least)."""
    expected = np.asarray(expected, dtype=np.float64)
    tolerance = rtol * max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    diff = np.abs(actual - expected)
    if not np.all(diff <= tolerance):
        diff = np.where(np.isnan(diff), np.inf, diff)
        index = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.ndim else ()
        where = f" at index {tuple(int(i) for i in index)}" if index else ""
        raise CheckFailed(
            f"{what}: largest difference {float(diff[index]):.3g}{where}: got {float(actual[index]):.6g}, "
            f"expected {float(expected[index]):.6g} (allowed {tolerance:.1g})"
        )


def _scalar(value, what):
    try:
        return float(value)
    except (TypeError, ValueError):
        raise CheckFailed(f"{what} returned a {type(value).__name__}; expected a number") from None


def _rel_error(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


# conv2d_literal -----------------------------------------------------------------------------------

@check("conv2d_literal", P=sides, Q=sides, K=kernel_sides, L=kernel_sides, seed=seeds)
def full_output_shape(conv2d_literal, P, Q, K, L, seed):
    """x (P, Q) and h (K, L) give y of shape (P+K−1, Q+L−1)."""
    x, h = _normal(seed, (P, Q), (K, L))
    _array(_call(conv2d_literal, x, h), "conv2d_literal(x, h)", (P + K - 1, Q + L - 1))


@check("conv2d_literal", P=sides, Q=sides, K=kernel_sides, L=kernel_sides, seed=seeds)
def matches_seed_conv2d(conv2d_literal, P, Q, K, L, seed):
    """y(i,j) = Σ_p Σ_q x(p,q)·h(i−p, j−q), as deconvlab.reference.seed_conv2d computes it."""
    x, h = _normal(seed, (P, Q), (K, L))
    expected = reference.seed_conv2d(x, h)
    y = _array(_call(conv2d_literal, x, h), "conv2d_literal(x, h)", expected.shape)
    _close(y, expected, f"conv2d_literal(x {x.shape}, h {h.shape}) against the article's formula")


@check("conv2d_literal", P=sides, Q=sides, K=kernel_sides, L=kernel_sides, data=st.data(), seed=seeds)
def delta_kernel_shifts_input(conv2d_literal, P, Q, K, L, data, seed):
    """A kernel that is 1 at (a, b) and 0 elsewhere moves x down by a rows and right by b columns."""
    a, b = data.draw(st.integers(0, K - 1), label="a"), data.draw(st.integers(0, L - 1), label="b")
    (x,) = _normal(seed, (P, Q))
    h = np.zeros((K, L))
    h[a, b] = 1.0
    expected = np.zeros((P + K - 1, Q + L - 1))
    expected[a : a + P, b : b + Q] = x
    y = _array(_call(conv2d_literal, x, h), "conv2d_literal(x, delta)", expected.shape)
    _close(y, expected, f"conv2d_literal(x {x.shape}, delta at ({a}, {b}) in a {K}x{L} kernel)")


@check("conv2d_literal", P=sides, Q=sides, K=kernel_sides, L=kernel_sides, seed=seeds)
def is_commutative(conv2d_literal, P, Q, K, L, seed):
    """A true convolution commutes: conv(x, h) == conv(h, x) (a cross-correlation does not)."""
    x, h = _normal(seed, (P, Q), (K, L))
    shape = (P + K - 1, Q + L - 1)
    xh = _array(_call(conv2d_literal, x, h), "conv2d_literal(x, h)", shape)
    hx = _array(_call(conv2d_literal, h, x), "conv2d_literal(h, x)", shape)
    _close(xh, hx, f"conv2d_literal(x {x.shape}, h {h.shape}) against conv2d_literal(h, x)")


@check("conv2d_literal", P=sides, Q=sides, K=kernel_sides, L=kernel_sides, seed=seeds)
def is_linear_in_x(conv2d_literal, P, Q, K, L, seed):
    """conv(α·x₁ + β·x₂, h) == α·conv(x₁, h) + β·conv(x₂, h)."""
    x1, x2, h, (alpha, beta) = _normal(seed, (P, Q), (P, Q), (K, L), (2,))
    shape = (P + K - 1, Q + L - 1)
    combined = _array(_call(conv2d_literal, alpha * x1 + beta * x2, h), "conv2d_literal(αx₁ + βx₂, h)", shape)
    y1 = _array(_call(conv2d_literal, x1, h), "conv2d_literal(x₁, h)", shape)
    y2 = _array(_call(conv2d_literal, x2, h), "conv2d_literal(x₂, h)", shape)
    _close(combined, alpha * y1 + beta * y2, "conv(αx₁ + βx₂, h) against αconv(x₁, h) + βconv(x₂, h)")


# conv_transpose2d_scatter -------------------------------------------------------------------------

@check("conv_transpose2d_scatter", P=sides, Q=sides, K=kernel_sides, L=kernel_sides, s=strides, seed=seeds)
def stamped_output_shape(conv_transpose2d_scatter, P, Q, K, L, s, seed):
    """x (P, Q), k (K, L) and stride s give y of shape ((P−1)s + K, (Q−1)s + L)."""
    x, k = _normal(seed, (P, Q), (K, L))
    shape = ((P - 1) * s + K, (Q - 1) * s + L)
    _array(_call(conv_transpose2d_scatter, x, k, stride=s), f"conv_transpose2d_scatter(x, k, stride={s})", shape)


@check("conv_transpose2d_scatter", P=sides, Q=sides, K=kernel_sides, L=kernel_sides, s=strides, seed=seeds)
def matches_seed_deconv2d(conv_transpose2d_scatter, P, Q, K, L, s, seed):
    """y(i,j) = Σ_p Σ_q x(p,q)·k(i − s·p, j − s·q), as deconvlab.reference.seed_deconv2d computes it."""
    x, k = _normal(seed, (P, Q), (K, L))
    expected = reference.seed_deconv2d(x, k, stride=s)
    y = _array(_call(conv_transpose2d_scatter, x, k, stride=s), "conv_transpose2d_scatter", expected.shape)
    _close(y, expected, f"conv_transpose2d_scatter(x {x.shape}, k {k.shape}, stride={s}) against the formula")


@check("conv_transpose2d_scatter", P=sides, Q=sides, K=kernel_sides, L=kernel_sides, seed=seeds)
def stride_one_is_convolution(conv_transpose2d_scatter, P, Q, K, L, seed):
    """With s = 1 the scatter is the article's convolution y(i,j) = Σ_p Σ_q x(p,q)·k(i−p, j−q)."""
    x, k = _normal(seed, (P, Q), (K, L))
    expected = reference.seed_conv2d(x, k)
    y = _array(_call(conv_transpose2d_scatter, x, k, stride=1), "conv_transpose2d_scatter", expected.shape)
    _close(y, expected, f"conv_transpose2d_scatter(x {x.shape}, k {k.shape}, stride=1) against seed_conv2d")


@check("conv_transpose2d_scatter", P=sides, Q=sides, K=kernel_sides, L=kernel_sides, s=strides, seed=seeds)
def is_adjoint_of_strided_correlation(conv_transpose2d_scatter, P, Q, K, L, s, seed):
    """⟨T(x), g⟩ == ⟨x, C(g)⟩, C(g)(p,q) = Σ_u Σ_v k(u,v)·g(s·p + u, s·q + v): the strided conv layer."""
    shape = ((P - 1) * s + K, (Q - 1) * s + L)
    x, k, g = _normal(seed, (P, Q), (K, L), shape)
    y = _array(_call(conv_transpose2d_scatter, x, k, stride=s), "conv_transpose2d_scatter", shape)
    cg = kernels.conv2d_forward(g[None, None], k[None, None], stride=s)[0, 0]
    lhs, rhs = float(np.sum(y * g)), float(np.sum(x * cg))
    if _rel_error(lhs, rhs) > 1e-9:
        raise CheckFailed(
            f"⟨T(x), g⟩ = {lhs:.10g} but ⟨x, C(g)⟩ = {rhs:.10g} (relative error {_rel_error(lhs, rhs):.1e}, "
            f"should be ~1e-15) for x {x.shape}, k {k.shape}, stride {s}"
        )


@check("conv_transpose2d_scatter")
def overlap_counts_checkerboard(conv_transpose2d_scatter):
    """Ones stamped with a ones kernel count each output pixel's contributions: k3 s2 gives 1, 2, 4 (a checkerboard)."""

    def counts(n, size, s):
        per_index = np.zeros((n - 1) * s + size)
        for p in range(n):
            per_index[s * p : s * p + size] += 1
        return per_index

    for P, Q, K, L, s in [(3, 3, 3, 3, 2), (4, 3, 4, 4, 2), (3, 4, 2, 3, 3), (2, 2, 1, 1, 2)]:
        expected = np.outer(counts(P, K, s), counts(Q, L, s))
        y = _array(
            _call(conv_transpose2d_scatter, np.ones((P, Q)), np.ones((K, L)), stride=s),
            f"conv_transpose2d_scatter(ones {P}x{Q}, ones {K}x{L}, stride={s})",
            expected.shape,
        )
        _close(y, expected, f"overlap counts of ones {P}x{Q} stamped with ones {K}x{L} at stride {s}")


# conv2d_backward ----------------------------------------------------------------------------------

@st.composite
def conv_problems(draw):
    """(x, w, gy, stride, padding) of a small multi-channel conv layer, with H_out, W_out >= 1."""
    n, c_in, c_out = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(kernel_sides), draw(kernel_sides)
    s, pad = draw(strides), draw(st.integers(0, 2))
    h = max(1, kh - 2 * pad + draw(st.integers(0, 5)))
    w = max(1, kw - 2 * pad + draw(st.integers(0, 5)))
    h_out, w_out = (h + 2 * pad - kh) // s + 1, (w + 2 * pad - kw) // s + 1
    x, weight, gy = _normal(draw(seeds), (n, c_in, h, w), (c_out, c_in, kh, kw), (n, c_out, h_out, w_out))
    return x, weight, gy, s, pad


def _gradients(conv2d_backward, x, w, gy, s, pad):
    """The student's (gx, gw, gb), each checked for shape."""
    result = _call(conv2d_backward, gy, x, w, stride=s, padding=pad)
    what = f"conv2d_backward(gy {gy.shape}, x {x.shape}, w {w.shape}, stride={s}, padding={pad})"
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        raise CheckFailed(f"{what} returned {type(result).__name__}; expected a tuple (gx, gw, gb)")
    gx = _array(result[0], what + " gx", x.shape)
    gw = _array(result[1], what + " gw", w.shape)
    gb = _array(result[2], what + " gb", (w.shape[0],))
    return what, gx, gw, gb


@check("conv2d_backward", problem=conv_problems())
def gradient_shapes(conv2d_backward, problem):
    """gx, gw, gb have the shapes of x, w and (C_out,)."""
    _gradients(conv2d_backward, *problem)


@check("conv2d_backward", problem=conv_problems())
def input_gradient_matches_kernels(conv2d_backward, problem):
    """gx equals deconvlab.kernels.conv2d_backward's input gradient (a transposed convolution of gy)."""
    x, w, gy, s, pad = problem
    what, gx, _, _ = _gradients(conv2d_backward, x, w, gy, s, pad)
    _close(gx, kernels.conv2d_backward(gy, x, w, stride=s, padding=pad)[0], what + " gx against the kernels")


@check("conv2d_backward", problem=conv_problems())
def weight_gradient_matches_kernels(conv2d_backward, problem):
    """gw equals deconvlab.kernels.conv2d_backward's weight gradient (a correlation of x with gy)."""
    x, w, gy, s, pad = problem
    what, _, gw, _ = _gradients(conv2d_backward, x, w, gy, s, pad)
    _close(gw, kernels.conv2d_backward(gy, x, w, stride=s, padding=pad)[1], what + " gw against the kernels")


@check("conv2d_backward", problem=conv_problems())
def bias_gradient_is_sum_of_gy(conv2d_backward, problem):
    """gb[o] = Σ_n Σ_i Σ_j gy[n,o,i,j]."""
    x, w, gy, s, pad = problem
    what, _, _, gb = _gradients(conv2d_backward, x, w, gy, s, pad)
    _close(gb, gy.sum(axis=(0, 2, 3)), what + " gb against the sum of gy")


@check("conv2d_backward", problem=conv_problems(), seed=seeds)
def agrees_with_finite_differences(conv2d_backward, problem, seed):
    """⟨∇L, v⟩ == (L(θ + εv) − L(θ − εv))/2ε along random directions, L = Σ gy·conv2d(x, w, b), ε = 1e-6."""
    eps = 1e-6
    x, w, gy, s, pad = problem
    what, gx, gw, gb = _gradients(conv2d_backward, x, w, gy, s, pad)
    b = np.zeros(w.shape[0])
    dx, dw, db = _normal(seed, x.shape, w.shape, b.shape)

    def loss(x_, w_, b_):
        return float(np.sum(gy * reference.conv2d(x_, w_, b_, stride=s, padding=pad)))

    for name, grad, plus, minus, v in [
        ("x", gx, (x + eps * dx, w, b), (x - eps * dx, w, b), dx),
        ("w", gw, (x, w + eps * dw, b), (x, w - eps * dw, b), dw),
        ("b", gb, (x, w, b + eps * db), (x, w, b - eps * db), db),
    ]:
        analytic = float(np.sum(grad * v))
        numeric = (loss(*plus) - loss(*minus)) / (2 * eps)
        error = _rel_error(analytic, numeric)
        if error > 1e-5:
            raise CheckFailed(
                f"{what}: ∂L/∂{name} along a random direction is {analytic:.8g} by your gradient, "
                f"{numeric:.8g} by finite differences (relative error {error:.1e}, should be ~1e-8)"
            )


@check("conv2d_backward", s=st.integers(2, 3), data=st.data(), seed=seeds)
def unread_pixels_get_zero_gradient(conv2d_backward, s, data, seed):
    """With a kernel smaller than the stride some input pixels are never read; their gradient is exactly 0."""
    kh, kw = data.draw(st.integers(1, s - 1), label="kh"), data.draw(st.integers(1, s - 1), label="kw")
    h, w = data.draw(st.integers(kh, 8), label="H"), data.draw(st.integers(kw, 8), label="W")
    h_out, w_out = (h - kh) // s + 1, (w - kw) // s + 1
    x, weight, gy = _normal(seed, (1, 2, h, w), (2, 2, kh, kw), (1, 2, h_out, w_out))
    what, gx, _, _ = _gradients(conv2d_backward, x, weight, gy, s, 0)
    rows = np.zeros(h, dtype=bool)
    cols = np.zeros(w, dtype=bool)
    for i in range(h_out):
        rows[i * s : i * s + kh] = True
    for j in range(w_out):
        cols[j * s : j * s + kw] = True
    unread = ~np.outer(rows, cols)
    leaked = np.abs(gx[:, :, unread]).max(initial=0.0)
    if leaked != 0:
        raise CheckFailed(f"{what}: pixels no output reads got gradient up to {leaked:.3g}; expected exactly 0")


# mse ----------------------------------------------------------------------------------------------

@st.composite
def loss_problems(draw, masked):
    """(y_true, y_pred, mask or None) of a random small shape; a mask has at least one True."""
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    y_true, y_pred = _normal(draw(seeds), shape, shape)
    if not masked:
        return y_true, y_pred, None
    flat = draw(st.lists(st.booleans(), min_size=y_true.size, max_size=y_true.size).filter(any))
    return y_true, y_pred, np.array(flat).reshape(shape)


def _loss_value(mse, y_true, y_pred, mask):
    args = (y_true, y_pred) if mask is None else (y_true, y_pred, mask)
    return _scalar(_call(mse, *args), f"mse(shape {y_true.shape}{', mask' if mask is not None else ''})")


def _loss_gradient(mse_grad, y_true, y_pred, mask):
    args = (y_true, y_pred) if mask is None else (y_true, y_pred, mask)
    what = f"mse_grad(shape {y_true.shape}{', mask' if mask is not None else ''})"
    return what, _array(_call(mse_grad, *args), what, y_pred.shape)


@check("mse", problem=loss_problems(masked=False))
def mse_matches_seed_mse(mse, problem):
    """L = 1/(MN) ΣΣ (y_true − y_pred)², as deconvlab.reference.seed_mse computes it."""
    y_true, y_pred, _ = problem
    value = _loss_value(mse, y_true, y_pred, None)
    _close(np.array(value), reference.seed_mse(y_true, y_pred), f"mse on shape {y_true.shape}")


@check("mse", problem=loss_problems(masked=True))
def masked_mse_is_mean_over_hole(mse, problem):
    """With a mask, L = Σ m·(y_true − y_pred)² / Σ m: the mean over the missing pixels only."""
    y_true, y_pred, mask = problem
    value = _loss_value(mse, y_true, y_pred, mask)
    expected = reference.seed_mse(y_true, y_pred, mask)
    _close(np.array(value), expected, f"mse on shape {y_true.shape} with {int(mask.sum())} masked elements")


@check("mse", problem=loss_problems(masked=True))
def gradient_has_input_shape(mse_grad, problem):
    """mse_grad returns an array of y_pred's shape, with and without a mask."""
    y_true, y_pred, mask = problem
    _loss_gradient(mse_grad, y_true, y_pred, None)
    _loss_gradient(mse_grad, y_true, y_pred, mask)


@check("mse", problem=loss_problems(masked=True), use_mask=st.booleans())
def gradient_matches_finite_differences(mse_grad, problem, use_mask):
    """∂L/∂y_pred(i) == (L(y_pred + ε·eᵢ) − L(y_pred − ε·eᵢ))/2ε for every element, ε = 1e-6."""
    eps = 1e-6
    y_true, y_pred, mask = problem
    mask = mask if use_mask else None
    what, grad = _loss_gradient(mse_grad, y_true, y_pred, mask)
    numeric = np.zeros(y_pred.shape)
    for index in np.ndindex(y_pred.shape):
        bumped = y_pred.copy()
        bumped[index] += eps
        plus = reference.seed_mse(y_true, bumped, mask)
        bumped[index] -= 2 * eps
        numeric[index] = (plus - reference.seed_mse(y_true, bumped, mask)) / (2 * eps)
    _close(grad, numeric, what + " against finite differences", rtol=1e-6)


@check("mse", problem=loss_problems(masked=True), use_mask=st.booleans())
def gradient_matches_autograd(mse_grad, problem, use_mask):
    """mse_grad equals the gradient deconvlab's autograd computes for functional.mse_loss."""
    y_true, y_pred, mask = problem
    mask = mask if use_mask else None
    what, grad = _loss_gradient(mse_grad, y_true, y_pred, mask)
    prediction = Tensor(y_pred, requires_grad=True)
    functional.mse_loss(prediction, Tensor(y_true), mask=mask).backward()
    _close(grad, prediction.grad, what + " against autograd's mse_loss gradient")


@check("mse", problem=loss_problems(masked=True))
def gradient_is_zero_outside_hole(mse_grad, problem):
    """Known pixels (mask False) do not affect the masked loss: their gradient is exactly 0."""
    y_true, y_pred, mask = problem
    what, grad = _loss_gradient(mse_grad, y_true, y_pred, mask)
    leaked = np.abs(grad[~mask]).max(initial=0.0)
    if leaked != 0:
        raise CheckFailed(f"{what}: pixels outside the hole got gradient up to {leaked:.3g}; expected exactly 0")


# sgd_momentum -------------------------------------------------------------------------------------

hyperparameters = st.fixed_dictionaries({
    "lr": st.floats(1e-3, 1.0),
    "momentum": st.floats(0.0, 0.99),
    "weight_decay": st.sampled_from([0.0, 1e-4, 0.1]),
})
parameter_shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


def _step(sgd_momentum_step, theta, grad, velocity, hp):
    result = _call(sgd_momentum_step, theta, grad, velocity, hp["lr"], momentum=hp["momentum"],
                   weight_decay=hp["weight_decay"])
    what = f"sgd_momentum_step(shape {theta.shape}, velocity {'None' if velocity is None else 'given'}, {hp})"
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CheckFailed(f"{what} returned {type(result).__name__}; expected a tuple (new_theta, new_velocity)")
    return what, _array(result[0], what + " theta", theta.shape), _array(result[1], what + " velocity", theta.shape)


@check("sgd_momentum", shape=parameter_shapes, lr=st.floats(1e-3, 1.0), seed=seeds)
def momentum_zero_is_gradient_descent(sgd_momentum_step, shape, lr, seed):
    """With momentum 0 and no weight decay a step is θ − lr·g."""
    theta, grad, velocity = _normal(seed, shape, shape, shape)
    what, new_theta, _ = _step(sgd_momentum_step, theta, grad, velocity,
                               {"lr": lr, "momentum": 0.0, "weight_decay": 0.0})
    _close(new_theta, theta - lr * grad, what + " new theta")


@check("sgd_momentum", shape=parameter_shapes, hp=hyperparameters, seed=seeds)
def first_velocity_is_gradient(sgd_momentum_step, shape, hp, seed):
    """At the first step (velocity None) the velocity becomes g + λ·θ and θ moves by −lr times it."""
    theta, grad = _normal(seed, shape, shape)
    what, new_theta, velocity = _step(sgd_momentum_step, theta, grad, None, hp)
    g = grad + hp["weight_decay"] * theta
    _close(velocity, g, what + " first velocity")
    _close(new_theta, theta - hp["lr"] * g, what + " new theta")


@check("sgd_momentum", shape=parameter_shapes, hp=hyperparameters, seed=seeds)
def matches_optim_sgd(sgd_momentum_step, shape, hp, seed):
    """Five steps with random gradients follow deconvlab.optim.SGD exactly (same θ after every step)."""
    theta, *grads = _normal(seed, *([shape] * 6))
    param = Tensor(theta, requires_grad=True)
    optimizer = optim.SGD([param], **hp)
    velocity = None
    for step, grad in enumerate(grads, start=1):
        param.grad = grad.copy()
        optimizer.step()
        what, theta, velocity = _step(sgd_momentum_step, theta, grad, velocity, hp)
        _close(theta, param.data, f"{what} theta after step {step}, against optim.SGD")


@check("sgd_momentum", shape=parameter_shapes, hp=hyperparameters, seed=seeds)
def leaves_inputs_unchanged(sgd_momentum_step, shape, hp, seed):
    """theta, grad and velocity are not modified in place; the results are new arrays."""
    arrays = _normal(seed, shape, shape, shape)
    copies = [a.copy() for a in arrays]
    what, new_theta, new_velocity = _step(sgd_momentum_step, *arrays, hp)
    for name, array, copy in zip(("theta", "grad", "velocity"), arrays, copies):
        if not np.array_equal(array, copy):
            raise CheckFailed(f"{what} modified its argument {name} in place")


@check("sgd_momentum")
def minimises_a_quadratic(sgd_momentum_step):
    """On f(θ) = ½ Σ dᵢθᵢ² (curvatures 0.1 to 1), 300 steps of lr 0.5, momentum 0.9 shrink |θ| below 1e-3·|θ₀|."""
    curvature = np.linspace(0.1, 1.0, 6)
    theta0 = np.linspace(-1.0, 1.0, 6) + 0.05
    theta, velocity = theta0.copy(), None
    hp = {"lr": 0.5, "momentum": 0.9, "weight_decay": 0.0}
    for _ in range(300):
        _, theta, velocity = _step(sgd_momentum_step, theta, curvature * theta, velocity, hp)
    ratio = float(np.linalg.norm(theta) / np.linalg.norm(theta0))
    if not ratio < 1e-3:
        raise CheckFailed(f"after 300 steps |θ|/|θ₀| = {ratio:.3g}; expected below 1e-3")
