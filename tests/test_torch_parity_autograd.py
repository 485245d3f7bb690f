"""Parity with PyTorch: forward and backward of a network, optimizer trajectories, state dicts, init and repr.

Skipped when torch is not installed.
"""
import numpy as np
import pytest

import deconvlab.functional as F
from deconvlab import nn, optim
from deconvlab.autograd import Tensor

torch = pytest.importorskip("torch")
TF = torch.nn.functional
pytestmark = pytest.mark.torch

TOL = 1e-10


def ours_and_torch(seed=0, dtype=np.float64):
    ours = nn.Sequential(
        nn.Conv2d(3, 6, 3, stride=2, padding=1, dtype=dtype, rng=seed), nn.ReLU(),
        nn.Conv2d(6, 8, (3, 2), padding=(1, 0), dilation=(1, 2), dtype=dtype, rng=seed + 1), nn.ReLU(),
        nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1, dtype=dtype, rng=seed + 2), nn.LeakyReLU(0.2),
        nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1, dilation=1, bias=False, dtype=dtype,
                           rng=seed + 3), nn.Upsample(2, mode="bilinear"), nn.Sigmoid(),
    )
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(3, 6, 3, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(6, 8, (3, 2), padding=(1, 0), dilation=(1, 2)), torch.nn.ReLU(),
        torch.nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1), torch.nn.LeakyReLU(0.2),
        torch.nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1, bias=False),
        torch.nn.Upsample(scale_factor=2, mode="bilinear"), torch.nn.Sigmoid(),
    ).to(torch.float64 if dtype == np.float64 else torch.float32)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    return ours, theirs


def max_diff(a, b):
    return float(np.max(np.abs(np.asarray(a) - b.detach().numpy())))


def rel_diff(a, b):
    """max |ours − torch| relative to the largest |torch| entry."""
    return max_diff(a, b) / float(np.max(np.abs(b.detach().numpy())))


def test_network_forward_and_backward_match_torch():
    ours, theirs = ours_and_torch()
    x = np.random.default_rng(0).uniform(size=(2, 3, 9, 10))
    target = np.random.default_rng(1).uniform(size=(2, 2, 40, 24))
    hole = np.random.default_rng(2).uniform(size=(2, 1, 40, 24)) > 0.6
    xo, xt = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yo, yt = ours(xo), theirs(xt)
    lo = F.mse_loss(yo, target, mask=hole)
    mt = torch.from_numpy(np.broadcast_to(hole, yt.shape).astype(np.float64))
    lt = ((yt - torch.from_numpy(target)) ** 2 * mt).sum() / mt.sum()
    lo.backward()
    lt.backward()
    diffs = {"output": rel_diff(yo.data, yt), "loss": abs(lo.item() - lt.item()) / lt.item(),
             "input grad": rel_diff(xo.grad, xt.grad)}
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        diffs[name + " grad"] = rel_diff(p.grad, q.grad)
    print("max |ours − torch| / max |torch|:", ", ".join(f"{k} {v:.1e}" for k, v in diffs.items()))
    assert max(diffs.values()) < TOL, diffs


@pytest.mark.parametrize("name,ours,theirs", [
    ("mse_loss", lambda a, b: F.mse_loss(a, b), lambda a, b: TF.mse_loss(a, b)),
    ("l1_loss sum", lambda a, b: F.l1_loss(a, b, reduction="sum"), lambda a, b: TF.l1_loss(a, b, reduction="sum")),
    ("binary_cross_entropy", lambda a, b: F.binary_cross_entropy(F.sigmoid(a), F.sigmoid(b)),
     lambda a, b: TF.binary_cross_entropy(torch.sigmoid(a), torch.sigmoid(b))),
    ("binary_cross_entropy_with_logits", lambda a, b: F.binary_cross_entropy_with_logits(10 * a, F.sigmoid(b)),
     lambda a, b: TF.binary_cross_entropy_with_logits(10 * a, torch.sigmoid(b))),
    ("avg_pool2d", lambda a, b: F.avg_pool2d(a * b, 3, 2, 1), lambda a, b: TF.avg_pool2d(a * b, 3, 2, 1)),
    ("upsample nearest", lambda a, b: F.interpolate(a - b, scale_factor=(2, 3)),
     lambda a, b: TF.interpolate(a - b, scale_factor=(2, 3))),
    ("upsample bilinear", lambda a, b: F.interpolate(a * b, scale_factor=3, mode="bilinear"),
     lambda a, b: TF.interpolate(a * b, scale_factor=3, mode="bilinear", align_corners=False)),
    ("clip, abs, tanh", lambda a, b: F.tanh(F.clip(a, -0.5, 0.5)) + F.abs(b),
     lambda a, b: torch.tanh(torch.clamp(a, -0.5, 0.5)) + torch.abs(b)),
    ("pad, concatenate", lambda a, b: F.concatenate([F.pad(a, (1, 0, 2, 1)), F.pad(b, (1, 0, 2, 1))], axis=1),
     lambda a, b: torch.cat([TF.pad(a, (1, 0, 2, 1)), TF.pad(b, (1, 0, 2, 1))], dim=1)),
])
def test_ops_match_torch(name, ours, theirs):
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, 3, 5, 4)), rng.standard_normal((2, 3, 5, 4))
    ao, bo = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    at, bt = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    yo, yt = ours(ao, bo), theirs(at, bt)
    g = rng.standard_normal(yo.shape)
    yo.backward(g)
    yt.backward(torch.from_numpy(g))
    diffs = [rel_diff(yo.data, yt), rel_diff(ao.grad, at.grad), rel_diff(bo.grad, bt.grad)]
    print(f"{name:34s} relative difference: forward {diffs[0]:.1e}, gradients {max(diffs[1:]):.1e}")
    assert max(diffs) < TOL


OPTIMIZERS = {
    "SGD": (lambda ps: optim.SGD(ps, lr=0.05), lambda ps: torch.optim.SGD(ps, lr=0.05)),
    "SGD momentum + weight decay": (lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=1e-2),
                                    lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=1e-2)),
    "SGD nesterov": (lambda ps: optim.SGD(ps, lr=0.05, momentum=0.8, nesterov=True, weight_decay=1e-3),
                     lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.8, nesterov=True, weight_decay=1e-3)),
    "SGD dampening": (lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, dampening=0.5),
                      lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, dampening=0.5)),
    "Adam": (lambda ps: optim.Adam(ps, lr=1e-2), lambda ps: torch.optim.Adam(ps, lr=1e-2)),
    "Adam weight decay": (lambda ps: optim.Adam(ps, lr=3e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
                          lambda ps: torch.optim.Adam(ps, lr=3e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
}


@pytest.mark.parametrize("name,schedule", [(name, None) for name in OPTIMIZERS] + [
    ("SGD nesterov", "step"), ("Adam weight decay", "step"),
    ("SGD momentum + weight decay", "cosine"), ("Adam", "cosine")])
def test_twenty_optimizer_steps_match_torch(name, schedule):
    make_ours, make_theirs = OPTIMIZERS[name]
    ours, theirs = ours_and_torch(seed=4)
    opt_o, opt_t = make_ours(ours.parameters()), make_theirs(theirs.parameters())
    schedules = {
        None: (lambda o: None, lambda o: None),
        "step": (lambda o: optim.StepLR(o, step_size=5, gamma=0.5),
                 lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=5, gamma=0.5)),
        "cosine": (lambda o: optim.CosineAnnealingLR(o, T_max=20, eta_min=1e-4),
                   lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=20, eta_min=1e-4)),
    }[schedule]
    sched_o, sched_t = schedules[0](opt_o), schedules[1](opt_t)
    data = np.random.default_rng(5)
    for _ in range(20):
        x = data.uniform(size=(2, 3, 6, 6))
        target = data.uniform(size=(2, 2, 24, 8))
        opt_o.zero_grad()
        opt_t.zero_grad()
        F.mse_loss(ours(x), target).backward()
        TF.mse_loss(theirs(torch.from_numpy(x)), torch.from_numpy(target)).backward()
        opt_o.step()
        opt_t.step()
        if sched_o is not None:
            sched_o.step()
            sched_t.step()
            assert sched_o.get_last_lr()[0] == pytest.approx(sched_t.get_last_lr()[0], rel=1e-12)
    diff = max(max_diff(p.data, q) for p, q in zip(ours.parameters(), theirs.parameters()))
    print(f"{name} ({schedule or 'constant lr'}): max |θ_ours − θ_torch| after 20 steps = {diff:.1e}")
    assert diff < TOL


def test_state_dict_loads_into_torch_and_back():
    ours, _ = ours_and_torch(seed=7, dtype=np.float32)
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(3, 6, 3, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(6, 8, (3, 2), padding=(1, 0), dilation=(1, 2)), torch.nn.ReLU(),
        torch.nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1), torch.nn.LeakyReLU(0.2),
        torch.nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1, bias=False),
        torch.nn.Upsample(scale_factor=2, mode="bilinear"), torch.nn.Sigmoid(),
    )
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()}, strict=True)
    x = np.random.default_rng(0).uniform(size=(1, 3, 8, 8)).astype(np.float32)
    with torch.no_grad():
        y_t = theirs(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours(x).data, y_t, atol=1e-6)
    fresh, _ = ours_and_torch(seed=8, dtype=np.float32)
    fresh.load_state_dict(theirs.state_dict())  # torch tensors go in directly
    np.testing.assert_allclose(fresh(x).data, y_t, atol=1e-6)


def test_repr_matches_torch():
    ours, theirs = ours_and_torch()
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("ours,theirs", [
    (lambda: nn.Conv2d(5, 7, (3, 4)), lambda: torch.nn.Conv2d(5, 7, (3, 4))),
    (lambda: nn.ConvTranspose2d(7, 5, (3, 4)), lambda: torch.nn.ConvTranspose2d(7, 5, (3, 4))),
])
def test_default_init_bounds_match_torch(ours, theirs):
    torch.manual_seed(0)
    o = [ours() for _ in range(20)]
    t = [theirs() for _ in range(20)]
    for name in ("weight", "bias"):
        bound_o = max(np.abs(getattr(m, name).data).max() for m in o)
        bound_t = max(getattr(m, name).detach().abs().max().item() for m in t)
        assert bound_o == pytest.approx(bound_t, rel=0.02), name
