"""Checks of the exercises mse and sgd_momentum: the article's loss, its gradient, and the optimizer step;
imports NumPy, Hypothesis, ``reference``, ``functional``, ``optim``, ``autograd`` and ``base``."""
import numpy as np
from hypothesis import strategies as st

from ... import functional, optim, reference
from ...autograd import Tensor
from .base import FLOAT64, check

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


@st.composite
def hole_patterns(draw):
    """(shape, holes): a small shape and a boolean pattern of it with at least one True (a missing pixel)."""
    shape = draw(shapes)
    size = int(np.prod(shape))
    flat = draw(st.lists(st.booleans(), min_size=size, max_size=size).filter(any))
    return shape, np.array(flat).reshape(shape)


# mse -----------------------------------------------------------------------------------------------

def _problem(case, pattern, masked=True):
    shape, holes = pattern
    y_true, y_pred = case.normal("y_true", shape), case.normal("y_pred", shape)
    return y_true, y_pred, (case.mask("mask", holes) if masked else None)


def _args(y_true, y_pred, mask):
    return (y_true, y_pred) if mask is None else (y_true, y_pred, mask)


def _value(case, y_true, y_pred, mask):
    what = f"mse({'y_true, y_pred' if mask is None else 'y_true, y_pred, mask'})"
    return case.scalar(case.call("mse", *_args(y_true, y_pred, mask)), what)


def _gradient(case, y_true, y_pred, mask):
    what = f"mse_grad({'y_true, y_pred' if mask is None else 'y_true, y_pred, mask'})"
    return what, case.array(case.call("mse_grad", *_args(y_true, y_pred, mask)), what, y_pred.shape)


def _weights(case, mask):
    return None if mask is None else case.f64(mask)


@check("mse", pattern=hole_patterns())
def mse_matches_seed_mse(case, pattern):
    """L = 1/(MN) ΣΣ (y_true − y_pred)², as deconvlab.reference.seed_mse computes it."""
    y_true, y_pred, _ = _problem(case, pattern, masked=False)
    value = _value(case, y_true, y_pred, None)
    case.close(np.array(value), reference.seed_mse(case.f64(y_true), case.f64(y_pred)), f"mse on shape {y_true.shape}")


@check("mse", pattern=hole_patterns())
def masked_mse_is_mean_over_hole(case, pattern):
    """With a mask (bool or 0/1 numbers), L = Σ m·(y_true − y_pred)² / Σ m: the mean over the missing pixels."""
    y_true, y_pred, mask = _problem(case, pattern)
    value = _value(case, y_true, y_pred, mask)
    expected = reference.seed_mse(case.f64(y_true), case.f64(y_pred), case.f64(mask) > 0)
    case.close(np.array(value), expected, f"mse with a mask of {int(pattern[1].sum())} missing elements")


@check("mse", pattern=hole_patterns())
def gradient_has_input_shape(case, pattern):
    """mse_grad returns a float64 array of y_pred's shape, with and without a mask."""
    y_true, y_pred, mask = _problem(case, pattern)
    _gradient(case, y_true, y_pred, None)
    _gradient(case, y_true, y_pred, mask)


@check("mse", pattern=hole_patterns(), use_mask=st.booleans())
def gradient_matches_finite_differences(case, pattern, use_mask):
    """∂L/∂y_pred(i) == (L(y_pred + ε·eᵢ) − L(y_pred − ε·eᵢ))/2ε for every element, ε = 1e-6."""
    eps = 1e-6
    y_true, y_pred, mask = _problem(case, pattern, masked=use_mask)
    what, grad = _gradient(case, y_true, y_pred, mask)
    truth, weights = case.f64(y_true), None if mask is None else case.f64(mask) > 0
    numeric = np.zeros(y_pred.shape)
    for index in np.ndindex(y_pred.shape):
        bumped = case.f64(y_pred)
        bumped[index] += eps
        plus = reference.seed_mse(truth, bumped, weights)
        bumped[index] -= 2 * eps
        numeric[index] = (plus - reference.seed_mse(truth, bumped, weights)) / (2 * eps)
    case.close(grad, numeric, what + " against finite differences", rtol=max(1e-6, case.variant.rtol))


@check("mse", pattern=hole_patterns(), use_mask=st.booleans())
def gradient_matches_autograd(case, pattern, use_mask):
    """mse_grad equals the gradient deconvlab's autograd computes for functional.mse_loss."""
    y_true, y_pred, mask = _problem(case, pattern, masked=use_mask)
    what, grad = _gradient(case, y_true, y_pred, mask)
    prediction = Tensor(case.f64(y_pred), requires_grad=True)
    functional.mse_loss(prediction, Tensor(case.f64(y_true)), mask=_weights(case, mask)).backward()
    case.close(grad, prediction.grad, what + " against autograd's mse_loss gradient")


@check("mse", pattern=hole_patterns())
def gradient_is_zero_outside_hole(case, pattern):
    """Known pixels (mask 0 or False) do not affect the masked loss: their gradient is exactly 0."""
    y_true, y_pred, mask = _problem(case, pattern)
    what, grad = _gradient(case, y_true, y_pred, mask)
    leaked = np.abs(grad[~pattern[1]]).max(initial=0.0)
    if leaked != 0:
        case.fail(f"{what}: pixels outside the hole got gradient up to {leaked:.3g}; expected exactly 0")


# sgd_momentum --------------------------------------------------------------------------------------

hyperparameters = st.fixed_dictionaries({
    "lr": st.floats(1e-3, 1.0),
    "momentum": st.floats(0.0, 0.99),
    "weight_decay": st.sampled_from([0.0, 1e-4, 0.1]),
})


def _step(case, theta, grad, velocity, hp):
    result = case.call("sgd_momentum_step", theta, grad, velocity, hp["lr"], momentum=hp["momentum"],
                       weight_decay=hp["weight_decay"])
    what = f"sgd_momentum_step(theta, grad, {'velocity' if velocity is not None else 'None'}, ...)"
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        case.fail(f"{what} returned {getattr(result, 'type_name', type(result).__name__)}; expected a tuple "
                  "(new_theta, new_velocity)")
    return what, case.array(result[0], what + " theta", theta.shape), case.array(result[1], what + " velocity",
                                                                                  theta.shape)


@check("sgd_momentum", shape=shapes, lr=st.floats(1e-3, 1.0))
def momentum_zero_is_gradient_descent(case, shape, lr):
    """With momentum 0 and no weight decay a step is θ − lr·g."""
    theta, grad, velocity = (case.normal(n, shape) for n in ("theta", "grad", "velocity"))
    what, new_theta, _ = _step(case, theta, grad, velocity, {"lr": lr, "momentum": 0.0, "weight_decay": 0.0})
    case.close(new_theta, case.f64(theta) - lr * case.f64(grad), what + " new theta")


@check("sgd_momentum", shape=shapes, hp=hyperparameters)
def first_velocity_is_gradient(case, shape, hp):
    """At the first step (velocity None) the velocity becomes g + λ·θ and θ moves by −lr times it."""
    theta, grad = case.normal("theta", shape), case.normal("grad", shape)
    what, new_theta, velocity = _step(case, theta, grad, None, hp)
    g = case.f64(grad) + hp["weight_decay"] * case.f64(theta)
    case.close(velocity, g, what + " first velocity")
    case.close(new_theta, case.f64(theta) - hp["lr"] * g, what + " new theta")


@check("sgd_momentum", shape=shapes, hp=hyperparameters)
def matches_optim_sgd(case, shape, hp):
    """Five steps with random gradients follow deconvlab.optim.SGD exactly (same θ after every step)."""
    theta = case.normal("theta", shape)
    grads = [case.normal(f"g{k}", shape) for k in range(1, 6)]
    param = Tensor(case.f64(theta), requires_grad=True)
    optimizer = optim.SGD([param], **hp)
    velocity = None
    for step, grad in enumerate(grads, start=1):
        param.grad = case.f64(grad)
        optimizer.step()
        what, new_theta, new_velocity = _step(case, theta, grad, velocity, hp)
        case.close(new_theta, param.data, f"{what} theta after step {step}, against optim.SGD")
        theta = case.given(f"theta{step}", new_theta, f"the theta of step {step}")
        velocity = case.given(f"v{step}", new_velocity, f"the velocity of step {step}")


@check("sgd_momentum", shape=shapes, lr=st.floats(1e-3, 1.0))
def new_velocity_is_a_new_array(case, shape, lr):
    """With no weight decay the first velocity equals the gradient, but it must be a new array, not the caller's
    grad (which the caller may overwrite before the next step)."""
    theta, grad = case.normal("theta", shape), case.normal("grad", shape)
    _, _, velocity = _step(case, theta, grad, None, {"lr": lr, "momentum": 0.9, "weight_decay": 0.0})
    case.close(velocity, case.f64(grad), "the first velocity with no weight decay")


@check("sgd_momentum", variants=(FLOAT64,))
def minimises_a_quadratic(case):
    """On f(θ) = ½ Σ dᵢθᵢ² (curvatures 0.1 to 1), 300 steps of lr 0.5, momentum 0.9 shrink |θ| below 1e-3·|θ₀|."""
    curvature = np.linspace(0.1, 1.0, 6)
    theta0 = np.linspace(-1.0, 1.0, 6) + 0.05
    theta, velocity = theta0.copy(), None
    hp = {"lr": 0.5, "momentum": 0.9, "weight_decay": 0.0}
    for _ in range(300):
        _, theta, velocity = _step(case, theta, curvature * theta, velocity, hp)
    case.reproduction = ("d = np.linspace(0.1, 1.0, 6); theta = np.linspace(-1.0, 1.0, 6) + 0.05; v = None; "
                         "exec('for _ in range(300): theta, v = sgd_momentum_step(theta, d * theta, v, 0.5, "
                         "momentum=0.9)'); print(np.linalg.norm(theta) / np.linalg.norm(np.linspace(-1, 1, 6) + 0.05))")
    ratio = float(np.linalg.norm(theta) / np.linalg.norm(theta0))
    if not ratio < 1e-3:
        case.fail(f"after 300 steps |θ|/|θ₀| = {ratio:.3g}; expected below 1e-3")
