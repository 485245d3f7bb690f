"""Optimizers (SGD, Adam) and learning-rate schedules (StepLR, CosineAnnealingLR); imports NumPy and ``autograd``.

The update rules are PyTorch's, written out in each docstring, and applied in place to every parameter's
``.data`` with whole-array NumPy operations. Hyperparameters live in ``param_groups`` (a list of dicts with a
"params" list), as in PyTorch, so schedules and per-group settings work the same way. ``state_dict()`` and
``load_state_dict()`` capture everything needed to resume training exactly.
"""
import copy
import math

import numpy as np

from .autograd import Tensor


class Optimizer:
    """Base class: holds ``param_groups`` and per-parameter ``state``; subclasses define ``step()``.

    ``params`` is an iterable of Tensors (usually ``model.parameters()``) or of dicts
    ``{"params": [...], "lr": ...}`` whose missing settings are taken from ``defaults``.
    """

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.param_groups = []
        self.state = {}
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        for group in params if isinstance(params[0], dict) else [{"params": params}]:
            self.add_param_group(group)

    def add_param_group(self, group):
        """Add a dict ``{"params": [...], setting: value, ...}``; unspecified settings take the defaults."""
        group = dict(group)
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        known = {id(p) for g in self.param_groups for p in g["params"]}
        for p in params:
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise TypeError(f"{type(self).__name__}: can only optimize Tensors with requires_grad=True, got {p!r}")
            if id(p) in known:
                raise ValueError(f"{type(self).__name__}: a parameter appears in more than one group (or twice)")
            known.add(id(p))
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        group["params"] = params
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group):
        """Validate a group's settings (subclasses)."""

    def zero_grad(self, set_to_none=True):
        """Clear every parameter's gradient: ``grad = None`` (default) or zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad[...] = 0

    def step(self):
        """Update every parameter that has a gradient, in place (defined by each optimizer)."""
        raise TypeError(f"{type(self).__name__} does not define step(); an Optimizer subclass must")

    def _params_with_grad(self, group):
        return (p for p in group["params"] if p.grad is not None)

    def state_dict(self):
        """{"state": {index: {name: value}}, "param_groups": [{setting: value, "params": [index, ...]}]}.

        Parameters are numbered in the order of ``param_groups``; arrays are copies.
        """
        index = {}
        groups = []
        for group in self.param_groups:
            entry = {k: v for k, v in group.items() if k != "params"}
            entry["params"] = []
            for p in group["params"]:
                index[id(p)] = len(index)
                entry["params"].append(index[id(p)])
            groups.append(entry)
        state = {index[key]: copy.deepcopy(value) for key, value in self.state.items() if key in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore settings and state saved by ``state_dict()`` into an optimizer over the same parameters
        (same number of groups and of parameters per group, same shapes)."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(
                f"load_state_dict: the state has {len(groups)} parameter groups, "
                f"the optimizer {len(self.param_groups)}"
            )
        params = []
        for i, (saved, group) in enumerate(zip(groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"load_state_dict: group {i} has {len(saved['params'])} parameters in the state, "
                    f"{len(group['params'])} in the optimizer"
                )
            params.extend(zip(saved["params"], group["params"]))
        by_index = dict(params)
        new_state = {}
        for idx, value in state_dict["state"].items():
            p = by_index[int(idx)]
            value = copy.deepcopy(value)
            for name, item in value.items():
                if isinstance(item, np.ndarray):
                    if item.shape != p.shape:
                        raise ValueError(
                            f"load_state_dict: state {name!r} of parameter {idx} has shape {item.shape}, "
                            f"the parameter {p.shape}"
                        )
                    value[name] = item.astype(p.dtype)
            new_state[id(p)] = value
        for saved, group in zip(groups, self.param_groups):
            group.update({k: v for k, v in saved.items() if k != "params"})
            self._check_group(group)
        self.state = new_state


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, PyTorch's rule. For each parameter θ with gradient g:

        g ← g + weight_decay·θ
        b ← g at the first step, else momentum·b + (1 − dampening)·g       (when momentum ≠ 0)
        g ← g + momentum·b if nesterov else b
        θ ← θ − lr·g
    """

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def _check_group(self, group):
        for key in ("lr", "momentum", "weight_decay"):
            group[key] = float(group[key])
            if group[key] < 0:
                raise ValueError(f"SGD: {key} must be >= 0, got {group[key]}")
        group["dampening"] = float(group["dampening"])
        group["nesterov"] = bool(group["nesterov"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: nesterov momentum needs momentum > 0 and dampening = 0")

    def step(self):
        """Update every parameter that has a gradient, in place."""
        for group in self.param_groups:
            lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
            weight_decay, nesterov = group["weight_decay"], group["nesterov"]
            for p in self._params_with_grad(group):
                g = p.grad
                if weight_decay != 0:
                    g = g + weight_decay * p.data
                if momentum != 0:
                    state = self.state.setdefault(id(p), {})
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = np.array(g, copy=True)
                    else:
                        buf *= momentum
                        buf += (1 - dampening) * g
                    g = g + momentum * buf if nesterov else buf
                p.data -= lr * g


class Adam(Optimizer):
    """Adam (Kingma & Ba), PyTorch's rule. For each parameter θ with gradient g, at step t = 1, 2, ...:

        g ← g + weight_decay·θ
        m ← β₁·m + (1 − β₁)·g,      v ← β₂·v + (1 − β₂)·g²
        θ ← θ − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + eps)
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def _check_group(self, group):
        for key in ("lr", "eps", "weight_decay"):
            group[key] = float(group[key])
            if group[key] < 0:
                raise ValueError(f"Adam: {key} must be >= 0, got {group[key]}")
        betas = tuple(float(b) for b in group["betas"])
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"Adam: betas must be two numbers in [0, 1), got {group['betas']!r}")
        group["betas"] = betas

    def step(self):
        """Update every parameter that has a gradient, in place."""
        for group in self.param_groups:
            lr, (beta1, beta2), eps, weight_decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in self._params_with_grad(group):
                g = p.grad
                if weight_decay != 0:
                    g = g + weight_decay * p.data
                state = self.state.setdefault(id(p), {})
                if not state:
                    state.update(step=0, exp_avg=np.zeros_like(p.data), exp_avg_sq=np.zeros_like(p.data))
                state["step"] += 1
                t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
                m *= beta1
                m += (1 - beta1) * g
                v *= beta2
                v += (1 - beta2) * (g * g)
                step_size = lr / (1 - beta1**t)
                denom = np.sqrt(v) / math.sqrt(1 - beta2**t) + eps
                p.data -= step_size * (m / denom)


class LRScheduler:
    """Base of learning-rate schedules: ``step()`` once per epoch sets every group's "lr" to ``lr_at(epoch)``
    computed from the group's initial rate. The constructor applies epoch 0."""

    def __init__(self, optimizer):
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = -1
        self.step()

    def lr_at(self, base_lr, epoch):
        """The learning rate at ``epoch`` for a group whose initial rate is ``base_lr`` (defined by each schedule)."""
        raise TypeError(f"{type(self).__name__} does not define lr_at(); a scheduler subclass must")

    def step(self):
        """Advance one epoch and update the optimizer's learning rates."""
        self.last_epoch += 1
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.lr_at(base, self.last_epoch)

    def get_last_lr(self):
        """The learning rate of each group after the last ``step()``."""
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self):
        """Everything but the optimizer: settings, base rates and the epoch counter."""
        return {k: copy.deepcopy(v) for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict):
        """Restore a state saved by ``state_dict()`` of a scheduler of the same kind: the same keys (no other
        attribute can be set this way), numbers (or lists of numbers) for values."""
        own = self.state_dict()
        if not isinstance(state_dict, dict) or set(state_dict) != set(own):
            keys = sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict).__name__
            raise ValueError(f"{type(self).__name__}.load_state_dict: expected the keys {sorted(own)}, got {keys}")
        for key, value in state_dict.items():
            values = value if isinstance(value, list) else [value]
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                raise ValueError(f"{type(self).__name__}.load_state_dict: {key!r} is {value!r}; expected numbers")
        self.__dict__.update(copy.deepcopy(state_dict))


def _epochs(value, name, scheduler):
    """``value`` as a positive int of epochs; ValueError naming the scheduler and setting otherwise."""
    if int(value) != value or value < 1:
        raise ValueError(f"{scheduler}: {name} must be a positive int, got {value!r}")
    return int(value)


class StepLR(LRScheduler):
    """lr = initial_lr · gamma^⌊epoch / step_size⌋: decay by ``gamma`` every ``step_size`` epochs."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        self.step_size, self.gamma = _epochs(step_size, "step_size", "StepLR"), float(gamma)
        super().__init__(optimizer)

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (initial_lr − eta_min)·(1 + cos(π·epoch / T_max))/2: half a cosine from the initial rate
    down to ``eta_min`` over ``T_max`` epochs (and back up after, as PyTorch's closed form)."""

    def __init__(self, optimizer, T_max, eta_min=0.0):
        self.T_max, self.eta_min = _epochs(T_max, "T_max", "CosineAnnealingLR"), float(eta_min)
        super().__init__(optimizer)

    def lr_at(self, base_lr, epoch):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


def clip_grad_norm(parameters, max_norm):
    """Scale all gradients by min(1, max_norm / ‖g‖) where ‖g‖ = √(Σ_p Σ g_p²) over every parameter's gradient;
    returns ‖g‖ before clipping (inf or NaN if a gradient is). ``max_norm`` must be positive."""
    if not max_norm > 0:
        raise ValueError(f"clip_grad_norm: max_norm must be positive, got {max_norm!r}")
    grads = [p.grad for p in parameters if p.grad is not None]
    total = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
    if total > max_norm:
        scale = max_norm / total
        for g in grads:
            g *= scale
    return total


class WeightAverage:
    """An exponential moving average of a model's parameters (Polyak averaging), kept in a second model.

    After each optimiser step, ``update(t)`` (t = the number of steps taken) sets for every parameter θ of
    ``model`` and its twin a in ``average`` (a model of the same kind and shapes):

        a ← β_t·a + (1 − β_t)·θ,   β_t = min(β, (1 + t) / (10 + t)),

    so early on, when the first parameters are far from the later ones, the average forgets fast, and later it
    spans about 1/(1 − β) steps. ``average`` starts as a copy of ``model``. The averaged weights often fill
    better than the last ones because they smooth out the noise of the last steps; evaluate both.
    """

    def __init__(self, model, average, decay):
        if not 0 < decay < 1:
            raise ValueError(f"WeightAverage: decay must be in (0, 1), got {decay!r}")
        self.decay = float(decay)
        self.pairs = list(zip(model.parameters(), average.parameters()))
        if any(p.shape != a.shape for p, a in self.pairs) or len(self.pairs) != len(list(average.parameters())):
            raise ValueError("WeightAverage: the average must be a model of the same kind and shapes")
        self.average = average
        average.load_state_dict(model.state_dict())

    def decay_at(self, t):
        """β_t = min(β, (1 + t) / (10 + t))."""
        return min(self.decay, (1 + t) / (10 + t))

    def update(self, t):
        """a ← β_t·a + (1 − β_t)·θ for every parameter, in place."""
        beta = self.decay_at(t)
        for p, a in self.pairs:
            a.data *= beta
            a.data += (1 - beta) * p.data
