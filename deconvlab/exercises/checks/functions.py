"""Checks of the exercise autograd_function: the student's classes plugged into deconvlab's autograd and checked
by finite differences; imports NumPy, Hypothesis, ``autograd``, ``functional``, ``gradcheck``, ``child`` and ``base``.

``student_function(case, name)`` is a ``deconvlab.autograd.Function`` whose forward and backward are the
student's, called in the child: the grader's autograd runs the graph, the student's code runs each node.
"""
import numpy as np
from hypothesis import strategies as st

from ... import functional as F
from ...autograd import Function, Tensor
from ...gradcheck import gradcheck
from ..child import Build
from .base import FLOAT64, FLOAT_VARIANTS, READ_ONLY, check

CONTEXT = "ctx = types.SimpleNamespace(needs_input_grad=(True, True, True))"
shapes = st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple)


@st.composite
def nchw(draw):
    return tuple(draw(st.integers(1, n)) for n in (2, 3, 3, 3))


_FUNCTIONS = {}


def student_function(case, name):
    """A deconvlab Function named ``name`` whose forward and backward run the student's class ``name``."""
    key = (case.student.exercise, name)
    if key not in _FUNCTIONS:

        def forward(ctx, *arrays, case):
            keep = any(ctx.needs_input_grad)
            case.student.contexts += 1
            ctx.remote, ctx.case, ctx.inputs = case.student.contexts, case, [(a.shape, a.dtype) for a in arrays]
            build = Build("context", {"id": ctx.remote, "keep": keep, "needs_input_grad": list(ctx.needs_input_grad)},
                          shown="ctx")
            out = case.call(f"{name}.forward", build, *arrays)
            return case.array(out, f"{name}.forward(ctx, ...)", arrays[0].shape, dtype=arrays[0].dtype)

        def backward(ctx, g):
            grads = ctx.case.call(f"{name}.backward", Build("context-ref", ctx.remote, shown="ctx"), g)
            n = len(ctx.inputs)
            grads = grads if n > 1 or isinstance(grads, tuple) else (grads,)
            if not isinstance(grads, (tuple, list)) or len(grads) != n:
                got = len(grads) if isinstance(grads, (tuple, list)) else 1
                ctx.case.fail(f"{name}.backward(ctx, g) returned {got} gradient(s) for {n} input(s); it returns one "
                              "per input of forward, in order")
            return tuple(ctx.case.array(gr, f"{name}.backward(ctx, g) gradient {i}", shape, dtype=dtype)
                         for i, (gr, (shape, dtype)) in enumerate(zip(grads, ctx.inputs)))

        _FUNCTIONS[key] = type(name, (Function,), {"forward": staticmethod(forward), "backward": staticmethod(backward),
                                                   "__module__": case.student.exercise})
    return _FUNCTIONS[key]


def _tensors(*arrays):
    return [Tensor(a, requires_grad=True) for a in arrays]


def _gradcheck(case, name, arrays):
    """deconvlab.gradcheck of the student's Function on float64 ``arrays``; CheckFailed with the worst error."""
    function = student_function(case, name)
    case.reproduction = (f"import deconvlab; from deconvlab.autograd import Function; S = type('S', (Function,), "
                         f"{{'forward': staticmethod({name}.forward), 'backward': staticmethod({name}.backward)}}); "
                         f"print(deconvlab.gradcheck(lambda *t: S.apply(*t), {', '.join(case._text(a) for a in arrays)}, "
                         "raise_exception=False))")
    result = gradcheck(lambda *t: function.apply(*t, case=case), *[case.f64(a) for a in arrays],
                       raise_exception=False)
    if not result.passed:
        case.fail(f"gradcheck of {name}: max relative error {result.max_rel_error:.2e} (should be below 1e-6) at "
                  f"input {result.worst_input}, index {result.worst_index}: backward gives {result.analytic:.8g}, "
                  f"finite differences {result.numeric:.8g}")


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _forward_backward(case, name, arrays, g_shape):
    """The student's forward and backward called directly (one context), as the reproduction shows them."""
    case.setup("import types")
    case.setup(CONTEXT)
    out = case.call(f"{name}.forward", Build("context", {"id": 0, "keep": True, "needs_input_grad": [True] * len(arrays)},
                                             shown="ctx"), *arrays)
    out = case.array(out, f"{name}.forward(ctx, ...)", arrays[0].shape, dtype=arrays[0].dtype)
    g = case.normal("g", g_shape)
    grads = case.call(f"{name}.backward", Build("context-ref", 0, shown="ctx"), g)
    return out, g, grads


@check("autograd_function", variants=FLOAT_VARIANTS, shape=shapes)
def sigmoid_forward_matches_the_formula(case, shape):
    """Sigmoid.forward(ctx, x) is 1/(1 + e^(−x)), of x's shape and dtype."""
    x = case.normal("x", shape)
    out, _, _ = _forward_backward(case, "Sigmoid", [x], shape)
    case.close(out, _sigmoid(case.f64(x)), "Sigmoid.forward(ctx, x) against 1/(1 + exp(−x))")


@check("autograd_function", variants=FLOAT_VARIANTS)
def sigmoid_is_finite_for_large_inputs(case):
    """σ(x) for x = ±30, ±100, ±1000 is finite and correct (no exponential overflows into inf/inf)."""
    x = case.given("x", np.array([-1000.0, -100.0, -30.0, 0.0, 30.0, 100.0, 1000.0]))
    out, _, _ = _forward_backward(case, "Sigmoid", [x], x.shape)
    if not np.all(np.isfinite(out)):
        case.fail(f"Sigmoid.forward(ctx, x) for x = {case.f64(x).tolist()} gave {out.tolist()}: not finite")
    with np.errstate(over="ignore"):
        case.close(out, _sigmoid(case.f64(x)), "Sigmoid.forward(ctx, x) for large |x|")


@check("autograd_function", variants=FLOAT_VARIANTS, shape=shapes)
def sigmoid_backward_matches_the_formula(case, shape):
    """Sigmoid.backward(ctx, g) is g·y·(1 − y), of x's shape and dtype, one gradient for the one input."""
    x = case.normal("x", shape)
    _, g, grads = _forward_backward(case, "Sigmoid", [x], shape)
    grads = grads[0] if isinstance(grads, (tuple, list)) and len(grads) == 1 else grads
    gx = case.array(grads, "Sigmoid.backward(ctx, g)", shape, dtype=x.dtype)
    y = _sigmoid(case.f64(x))
    case.close(gx, case.f64(g) * y * (1 - y), "Sigmoid.backward(ctx, g) against g·y·(1 − y)")


@check("autograd_function", variants=(FLOAT64, READ_ONLY), shape=shapes)
def sigmoid_passes_gradcheck(case, shape):
    """deconvlab.gradcheck (central differences in float64) agrees with Sigmoid's backward on every element."""
    _gradcheck(case, "Sigmoid", [case.normal("x", shape)])


def _affine_inputs(case, shape):
    return case.normal("x", shape), case.normal("gamma", shape[1:2]), case.normal("beta", shape[1:2])


@check("autograd_function", variants=FLOAT_VARIANTS, shape=nchw())
def affine_forward_matches_the_formula(case, shape):
    """ChannelAffine.forward(ctx, x, γ, β) is γ[c]·x[n,c,i,j] + β[c], of x's shape and dtype."""
    x, gamma, beta = _affine_inputs(case, shape)
    out, _, _ = _forward_backward(case, "ChannelAffine", [x, gamma, beta], shape)
    expected = case.f64(x) * case.f64(gamma)[None, :, None, None] + case.f64(beta)[None, :, None, None]
    case.close(out, expected, "ChannelAffine.forward(ctx, x, gamma, beta) against γ·x + β")


@check("autograd_function", variants=FLOAT_VARIANTS, shape=nchw())
def affine_backward_gives_one_gradient_per_input(case, shape):
    """ChannelAffine.backward returns (∂L/∂x, ∂L/∂γ, ∂L/∂β) of the inputs' shapes and dtypes, γ's and β's summed
    over the batch and the pixels."""
    x, gamma, beta = _affine_inputs(case, shape)
    _, g, grads = _forward_backward(case, "ChannelAffine", [x, gamma, beta], shape)
    what = "ChannelAffine.backward(ctx, g)"
    if not isinstance(grads, (tuple, list)) or len(grads) != 3:
        case.fail(f"{what} returned {getattr(grads, 'type_name', type(grads).__name__)}; expected three gradients "
                  "(for x, gamma and beta, in order)")
    names = ("∂L/∂x", "∂L/∂γ", "∂L/∂β")
    got = [case.array(gr, f"{what} {n}", a.shape, dtype=a.dtype) for gr, n, a in zip(grads, names, (x, gamma, beta))]
    gf, xf, cf = case.f64(g), case.f64(x), case.f64(gamma)
    expected = [gf * cf[None, :, None, None], (gf * xf).sum(axis=(0, 2, 3)), gf.sum(axis=(0, 2, 3))]
    for n, actual, want in zip(names, got, expected):
        case.close(actual, want, f"{what} {n} against the formula")


@check("autograd_function", variants=(FLOAT64, READ_ONLY), shape=nchw())
def affine_passes_gradcheck(case, shape):
    """deconvlab.gradcheck agrees with ChannelAffine's backward for x, γ and β, element by element."""
    _gradcheck(case, "ChannelAffine", list(_affine_inputs(case, shape)))


@check("autograd_function", variants=FLOAT_VARIANTS, shape=nchw())
def both_compose_inside_a_graph(case, shape):
    """L = Σ r·σ(γ·x + β)² through deconvlab's backward(): the gradients of x, γ and β equal those of the same
    graph built from deconvlab's own operations."""
    x, gamma, beta = _affine_inputs(case, shape)
    r = np.random.default_rng(case.seed + 11).standard_normal(shape).astype(x.dtype)
    case.setup(f"r = np.random.default_rng({case.seed + 11}).standard_normal({shape}).astype(x.dtype)")
    ours = _tensors(x, gamma, beta)
    affine, sigmoid = student_function(case, "ChannelAffine"), student_function(case, "Sigmoid")
    y = sigmoid.apply(affine.apply(*ours, case=case), case=case)
    ((y * y) * Tensor(r)).sum().backward()
    library = _tensors(case.f64(x), case.f64(gamma), case.f64(beta))
    z = F.sigmoid(library[0] * library[1].reshape(1, -1, 1, 1) + library[2].reshape(1, -1, 1, 1))
    ((z * z) * Tensor(r.astype(np.float64))).sum().backward()
    case.reproduction = (
        "from deconvlab.autograd import Function, Tensor; "
        + "; ".join(f"{c[0]} = type('{c[0]}', (Function,), {{'forward': staticmethod({c}.forward), "
                    f"'backward': staticmethod({c}.backward)}})" for c in ("ChannelAffine", "Sigmoid"))
        + "; t = [Tensor(a, requires_grad=True) for a in (x, gamma, beta)]; y = S.apply(C.apply(*t)); "
        "(y * y * Tensor(r)).sum().backward(); print([a.grad for a in t])")
    for name, a, b in zip(("x", "gamma", "beta"), ours, library):
        case.close(a.grad, b.grad, f"∂L/∂{name} through your Sigmoid and ChannelAffine against deconvlab's own ops")
