"""Gradient checks by central finite differences in float64; imports NumPy and ``autograd``.

``gradcheck`` compares every partial derivative of an operation with

    ∂f/∂xᵢ ≈ (f(x + ε·eᵢ) − f(x − ε·eᵢ)) / 2ε        (error O(ε²), plus rounding ≈ 10⁻¹⁶·|f|/ε)

``gradcheck_direction`` checks a whole network along a few random unit directions v of all its parameters:

    ⟨∇f(θ), v⟩ ≈ (f(θ + εv) − f(θ − εv)) / 2ε

A non-scalar output y is reduced to the scalar f = Σ r·y with fixed random weights r, so every output element
takes part. Errors are reported CS231n-style as relative errors |a − n| / max(|a|, |n|, tiny): about 1e-7 or
less means the gradient is right; 1e-2 or more means it is wrong.
"""
import numpy as np

from .autograd import Tensor, no_grad

TINY = 1e-8


def rel_error(a, b, tiny=TINY):
    """Elementwise relative error |a − b| / max(|a|, |b|, tiny)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), tiny)


class GradcheckResult:
    """Outcome of ``gradcheck``: ``passed``, ``max_rel_error``, the worst partial derivative's position
    (``worst_input``: argument number, ``worst_index``: element index) and its ``analytic``/``numeric`` values,
    ``max_abs_error`` and ``n_checked`` (number of partial derivatives compared). True when passed."""

    def __init__(self, passed, max_rel_error, max_abs_error, worst_input, worst_index, analytic, numeric, n_checked):
        self.passed, self.max_rel_error, self.max_abs_error = passed, max_rel_error, max_abs_error
        self.worst_input, self.worst_index = worst_input, worst_index
        self.analytic, self.numeric, self.n_checked = analytic, numeric, n_checked

    def __bool__(self):
        return self.passed

    def __repr__(self):
        verdict = "passed" if self.passed else "FAILED"
        return (
            f"gradcheck {verdict}: max relative error {self.max_rel_error:.2e} over {self.n_checked} partial "
            f"derivatives (worst: input {self.worst_input}, index {self.worst_index}, analytic {self.analytic:.10g}, "
            f"numeric {self.numeric:.10g})"
        )


class DirectionalCheckResult:
    """Outcome of ``gradcheck_direction``: per direction, the ``analytic`` ⟨∇f, v⟩, the ``numeric`` central
    difference and their ``rel_errors``; ``max_rel_error`` and ``passed``. True when passed."""

    def __init__(self, passed, analytic, numeric, rel_errors):
        self.passed, self.analytic, self.numeric, self.rel_errors = passed, analytic, numeric, rel_errors
        self.max_rel_error = max(rel_errors)

    def __bool__(self):
        return self.passed

    def __repr__(self):
        verdict = "passed" if self.passed else "FAILED"
        pairs = ", ".join(f"{a:.6g} vs {n:.6g}" for a, n in zip(self.analytic, self.numeric))
        return (
            f"gradcheck_direction {verdict}: max relative error {self.max_rel_error:.2e} over "
            f"{len(self.rel_errors)} directions (analytic vs numeric: {pairs})"
        )


def _float64_inputs(inputs):
    """Tensors for the arrays among ``inputs``; returns (arguments, indices of the ones to check)."""
    args, checked = [], []
    for i, x in enumerate(inputs):
        if isinstance(x, np.ndarray):
            if x.dtype != np.float64:
                raise TypeError(f"gradcheck: input {i} has dtype {x.dtype}; finite differences need float64")
            x = Tensor(x, requires_grad=True)
        if isinstance(x, Tensor) and x.requires_grad:
            if x.dtype != np.float64:
                raise TypeError(f"gradcheck: input {i} has dtype {x.dtype}; finite differences need float64")
            checked.append(i)
        args.append(x)
    if not checked:
        raise ValueError("gradcheck: no input to check (pass float64 arrays or Tensors with requires_grad=True)")
    return args, checked


def _projection(out, rng):
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: the function must return a Tensor, got {type(out).__name__}")
    if out.dtype != np.float64:
        raise TypeError(f"gradcheck: the function returned dtype {out.dtype}; expected float64")
    return np.ones(out.shape) if out.size == 1 else rng.standard_normal(out.shape)


def _analytic_gradients(fn, tensors, rng):
    """(projection weights r, [∂(Σ r·fn())/∂t for t in tensors]) by one backward pass."""
    for t in tensors:
        t.grad = None
    out = fn()
    r = _projection(out, rng)
    out.backward(r)
    return r, [np.zeros(t.shape) if t.grad is None else t.grad.copy() for t in tensors]


def _output(fn):
    with no_grad():
        return fn().data.copy()


def _numeric_gradient(fn, t, r, eps):
    """∂(Σ r·fn())/∂t by central differences, perturbing one element of ``t.data`` at a time.

    Σ r·(y₊ − y₋) is summed after subtracting, so outputs that do not depend on the element cancel exactly
    instead of adding their rounding error to the difference."""
    numeric = np.zeros(t.shape)
    for idx in np.ndindex(t.shape):
        old = t.data[idx]
        t.data[idx] = old + eps
        y_plus = _output(fn)
        t.data[idx] = old - eps
        y_minus = _output(fn)
        t.data[idx] = old
        numeric[idx] = np.sum(r * (y_plus - y_minus)) / (2 * eps)
    return numeric


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, seed=0):
    """Compare the autograd gradient of ``fn(*inputs)`` with central differences, element by element.

    ``inputs``: float64 arrays (each becomes a Tensor with requires_grad=True and is checked), Tensors
    (checked if they require grad, constants otherwise) and any other arguments (passed through).
    A partial derivative passes when |analytic − numeric| ≤ atol + rtol·|numeric|. Returns a
    ``GradcheckResult``; if some element fails and ``raise_exception``, raises AssertionError with the
    largest relative error and where it occurred.
    """
    args, checked = _float64_inputs(inputs)
    tensors = [args[i] for i in checked]
    call = lambda: fn(*args)  # noqa: E731
    r, analytic = _analytic_gradients(call, tensors, np.random.default_rng(seed))
    numeric = [_numeric_gradient(call, t, r, eps) for t in tensors]
    passed = all(np.all(np.abs(a - n) <= atol + rtol * np.abs(n)) for a, n in zip(analytic, numeric))
    max_abs = max((float(np.max(np.abs(a - n))) for a, n in zip(analytic, numeric) if n.size), default=0.0)
    worst = (0.0, checked[0], (), 0.0, 0.0)
    for position, a, n in zip(checked, analytic, numeric):
        if n.size:
            err = rel_error(a, n)
            k = np.unravel_index(np.argmax(err), err.shape)
            if err[k] >= worst[0]:
                worst = (float(err[k]), position, tuple(int(i) for i in k), float(a[k]), float(n[k]))
    n_checked = sum(n.size for n in numeric)
    result = GradcheckResult(bool(passed), worst[0], max_abs, *worst[1:], n_checked)
    if not passed and raise_exception:
        raise AssertionError(repr(result))
    return result


def gradcheck_direction(module_or_fn, inputs, n_directions=4, seed=0, eps=1e-6, atol=1e-8, rtol=1e-5,
                        raise_exception=True):
    """Directional-derivative check for a whole network or function of many parameters.

    For a Module, θ is all its parameters plus any input Tensor with requires_grad; for a function, θ is
    its float64 array inputs and Tensors with requires_grad (as in ``gradcheck``). Along ``n_directions``
    random unit directions v (seeded), compares ⟨∇f, v⟩ from one backward pass with
    (f(θ + εv) − f(θ − εv))/2ε; a direction passes when |analytic − numeric| ≤ atol + rtol·|numeric|.
    Returns a ``DirectionalCheckResult``; raises AssertionError on failure if ``raise_exception``.
    """
    inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    if hasattr(module_or_fn, "parameters") and callable(module_or_fn):
        args = inputs
        thetas = list(module_or_fn.parameters()) + [x for x in args if isinstance(x, Tensor) and x.requires_grad]
        bad = [t.dtype for t in thetas if t.dtype != np.float64]
        if bad:
            raise TypeError(f"gradcheck_direction: parameters of dtype {bad[0]}; call .double() on the module first")
        if not thetas:
            raise ValueError("gradcheck_direction: the module has no parameters to check")
    else:
        args, checked = _float64_inputs(inputs)
        thetas = [args[i] for i in checked]
    call = lambda: module_or_fn(*args)  # noqa: E731
    rng = np.random.default_rng(seed)
    r, grads = _analytic_gradients(call, thetas, rng)
    originals = [t.data.copy() for t in thetas]
    analytic, numeric = [], []
    try:
        for _ in range(n_directions):
            vs = [rng.standard_normal(t.shape) for t in thetas]
            norm = np.sqrt(sum(float(np.sum(v * v)) for v in vs))
            vs = [v / norm for v in vs]
            analytic.append(sum(float(np.sum(g * v)) for g, v in zip(grads, vs)))
            for t, t0, v in zip(thetas, originals, vs):
                t.data[...] = t0 + eps * v
            y_plus = _output(call)
            for t, t0, v in zip(thetas, originals, vs):
                t.data[...] = t0 - eps * v
            y_minus = _output(call)
            numeric.append(float(np.sum(r * (y_plus - y_minus))) / (2 * eps))
    finally:
        for t, t0 in zip(thetas, originals):
            t.data[...] = t0
    a, n = np.array(analytic), np.array(numeric)
    passed = bool(np.all(np.abs(a - n) <= atol + rtol * np.abs(n)))
    result = DirectionalCheckResult(passed, analytic, numeric, [float(e) for e in rel_error(a, n)])
    if not passed and raise_exception:
        raise AssertionError(repr(result))
    return result
