"""Optimizers and schedules: the update rules written out, in-place updates, exact resumption."""
import math

import numpy as np
import pytest

import deconvlab.functional as F
from deconvlab import nn, optim
from deconvlab.autograd import Tensor


def quadratic_grad_steps(opt_factory, n_steps, theta0, with_none_grad=False):
    """Minimise Σ (c ⊙ θ − 1)² with the optimizer; returns the parameter after each step."""
    theta = nn.Parameter(theta0.copy())
    frozen = nn.Parameter(np.ones(2))
    opt = opt_factory([theta, frozen])
    c = np.linspace(0.5, 2.0, theta0.size).reshape(theta0.shape)
    history = []
    for _ in range(n_steps):
        opt.zero_grad()
        (((theta * c) - 1.0) ** 2).sum().backward()
        opt.step()
        history.append(theta.data.copy())
    if with_none_grad:
        np.testing.assert_array_equal(frozen.data, np.ones(2))  # no gradient, no update
    return history


def reference_sgd(theta, grads_fn, n_steps, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    buf = None
    out = []
    for _ in range(n_steps):
        g = grads_fn(theta) + weight_decay * theta
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        theta = theta - lr * g
        out.append(theta)
    return out


def reference_adam(theta, grads_fn, n_steps, lr, betas, eps, weight_decay=0.0):
    m = v = np.zeros_like(theta)
    out = []
    for t in range(1, n_steps + 1):
        g = grads_fn(theta) + weight_decay * theta
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        m_hat, v_hat = m / (1 - betas[0] ** t), v / (1 - betas[1] ** t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(theta)
    return out


THETA0 = np.array([[0.3, -1.2, 2.0], [0.7, 0.0, -0.4]])
C = np.linspace(0.5, 2.0, 6).reshape(2, 3)


def quad_grad(theta):
    return 2 * C * (C * theta - 1)


@pytest.mark.parametrize("kw", [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    dict(lr=0.05, momentum=0.5, dampening=0.3, weight_decay=0.1),
])
def test_sgd_follows_the_textbook_rule(kw):
    ours = quadratic_grad_steps(lambda ps: optim.SGD(ps, **kw), 8, THETA0, with_none_grad=True)
    ref = reference_sgd(THETA0, quad_grad, 8, **kw)
    np.testing.assert_allclose(ours, ref, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("kw", [dict(lr=0.01), dict(lr=0.1, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05)])
def test_adam_follows_the_textbook_rule(kw):
    full = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0) | kw
    ours = quadratic_grad_steps(lambda ps: optim.Adam(ps, **kw), 8, THETA0, with_none_grad=True)
    ref = reference_adam(THETA0, quad_grad, 8, **full)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-14)


def test_adam_first_step_moves_each_coordinate_by_about_lr():
    ours = quadratic_grad_steps(lambda ps: optim.Adam(ps, lr=0.01), 1, THETA0)[0]
    moved = np.abs(ours - THETA0)
    np.testing.assert_allclose(moved, 0.01, rtol=1e-6)


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01),
                                  lambda ps: optim.Adam(ps, lr=0.01)])
def test_updates_are_in_place_and_keep_float32(make):
    model = nn.Conv2d(1, 2, 3, rng=0)
    arrays = [p.data for p in model.parameters()]
    opt = make(model.parameters())
    for _ in range(2):
        opt.zero_grad()
        model(np.ones((1, 1, 4, 4), dtype=np.float32)).sum().backward()
        opt.step()
    assert all(p.data is a and a.dtype == np.float32 for p, a in zip(model.parameters(), arrays))
    assert all(v.dtype == np.float32 for s in opt.state.values() for v in s.values() if isinstance(v, np.ndarray))


def test_zero_grad_clears_or_zeros():
    p = nn.Parameter(np.ones(3))
    opt = optim.SGD([p], lr=0.1)
    p.grad = np.ones(3)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad, 0)
    opt.zero_grad()
    assert p.grad is None


def _train(model, opt, steps, seed):
    data = np.random.default_rng(seed)
    for _ in range(steps):
        x = data.uniform(size=(2, 1, 6, 6)).astype(np.float32)
        opt.zero_grad()
        F.mse_loss(model(x), x).backward()
        opt.step()


def _autoencoder(seed):
    return nn.Sequential(nn.Conv2d(1, 3, 3, stride=2, padding=1, rng=seed), nn.Tanh(),
                         nn.ConvTranspose2d(3, 1, 4, stride=2, padding=1, rng=seed + 1))


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
                                  lambda ps: optim.Adam(ps, lr=0.01, weight_decay=1e-3)])
def test_state_dict_resumes_training_exactly(make):
    model = _autoencoder(0)
    opt = make(model.parameters())
    sched = optim.StepLR(opt, step_size=2, gamma=0.5)
    _train(model, opt, 5, seed=1)
    sched.step()
    checkpoint = model.state_dict(), opt.state_dict(), sched.state_dict()
    _train(model, opt, 5, seed=2)

    resumed = _autoencoder(10)
    resumed.load_state_dict(checkpoint[0])
    opt2 = make(resumed.parameters())
    sched2 = optim.StepLR(opt2, step_size=2, gamma=0.5)
    opt2.load_state_dict(checkpoint[1])
    sched2.load_state_dict(checkpoint[2])
    assert sched2.get_last_lr() == sched.get_last_lr() and opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    _train(resumed, opt2, 5, seed=2)
    for (k, a), b in zip(model.state_dict().items(), resumed.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=k)


def test_optimizer_state_dict_is_a_copy_and_checks_sizes():
    p = nn.Parameter(np.ones(3))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = np.ones(3)
    opt.step()
    state = opt.state_dict()
    opt.step()
    assert not np.array_equal(state["state"][0]["momentum_buffer"], opt.state[id(p)]["momentum_buffer"])
    other = optim.SGD([nn.Parameter(np.ones(3)), nn.Parameter(np.ones(2))], lr=0.1)
    with pytest.raises(ValueError, match="group 0 has 1 parameters in the state, 2 in the optimizer"):
        other.load_state_dict(state)


def test_param_groups_take_their_own_settings():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    a.grad, b.grad = np.ones(2), np.ones(2)
    opt.step()
    np.testing.assert_allclose(a.data, 0.9)
    np.testing.assert_allclose(b.data, 0.0)


def test_invalid_settings_are_rejected():
    p = [nn.Parameter(np.ones(2))]
    with pytest.raises(ValueError, match="nesterov momentum needs momentum > 0"):
        optim.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="lr must be >= 0"):
        optim.Adam(p, lr=-1)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam(p, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="requires_grad=True"):
        optim.SGD([Tensor([1.0])], lr=0.1)
    with pytest.raises(ValueError, match="more than one group"):
        optim.SGD([p[0], p[0]], lr=0.1)


def test_step_lr_decays_every_step_size_epochs():
    opt = optim.SGD([nn.Parameter(np.ones(1))], lr=1.0)
    sched = optim.StepLR(opt, step_size=3, gamma=0.1)
    lrs = []
    for _ in range(7):
        lrs.append(opt.param_groups[0]["lr"])
        sched.step()
    np.testing.assert_allclose(lrs, [1, 1, 1, 0.1, 0.1, 0.1, 0.01])


def test_cosine_annealing_goes_from_the_initial_rate_to_eta_min():
    opt = optim.Adam([nn.Parameter(np.ones(1))], lr=0.2)
    sched = optim.CosineAnnealingLR(opt, T_max=4, eta_min=0.02)
    lrs = [sched.get_last_lr()[0]]
    for _ in range(4):
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    expected = [0.02 + 0.18 * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(5)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-15)
    assert lrs[0] == pytest.approx(0.2) and lrs[-1] == pytest.approx(0.02)


def test_sgd_and_adam_minimise_a_quadratic():
    for make in (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.5), lambda ps: optim.Adam(ps, lr=0.1)):
        final = quadratic_grad_steps(make, 200, THETA0)[-1]
        np.testing.assert_allclose(final * C, 1, atol=1e-3)


def test_the_weight_average_follows_its_formula_with_the_warm_up_of_the_decay():
    """a ← β_t·a + (1 − β_t)·θ with β_t = min(β, (1 + t)/(10 + t)), written out for two steps."""
    from deconvlab import models

    model, average = models.build("holenet-gated", width=2, seed=0), models.build("holenet-gated", width=2, seed=1)
    ema = optim.WeightAverage(model, average, 0.95)
    start = {k: v.copy() for k, v in model.state_dict().items()}
    assert all(np.array_equal(average.state_dict()[k], v) for k, v in start.items())  # it starts as a copy
    assert ema.decay_at(1) == 2 / 11 and ema.decay_at(1000) == 0.95
    expected = dict(start)
    for t, shift in ((1, 1.0), (500, -2.0)):
        for p in model.parameters():
            p.data = p.data + shift
        ema.update(t)
        beta = min(0.95, (1 + t) / (10 + t))
        current = model.state_dict()
        expected = {k: beta * expected[k] + (1 - beta) * current[k] for k in expected}
    for k, v in average.state_dict().items():
        np.testing.assert_allclose(v, expected[k], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("decay", [0, 1, -0.5, 1.5])
def test_a_weight_average_needs_a_decay_between_zero_and_one(decay):
    from deconvlab import models

    with pytest.raises(ValueError, match="decay must be in"):
        optim.WeightAverage(models.build("inpaintnet", width=2), models.build("inpaintnet", width=2), decay)


def test_a_weight_average_needs_a_model_of_the_same_shapes():
    from deconvlab import models

    with pytest.raises(ValueError, match="same kind and shapes"):
        optim.WeightAverage(models.build("inpaintnet", width=2), models.build("inpaintnet", width=4), 0.9)
