"""Layers: Module, Parameter, Conv2d, ConvTranspose2d, activations, Upsample, Sequential; imports NumPy,
``autograd``, ``functional``, the kernels' output-size formulas and ``pair``, and ``_files``.

Modules mirror ``torch.nn``: constructor arguments in PyTorch's order, the same default initialisation, and
``state_dict()`` keys as PyTorch would write them for the same tree ("0.weight", "enc.1.bias"), so weights
convert 1:1 in both directions. Parameters are created in float32 unless ``dtype=numpy.float64`` is passed
(or the module is converted with ``.double()``).
"""
import collections
import math
import os

import numpy as np

from . import functional as F
from ._files import atomic_write
from .autograd import FLOAT_DTYPES, Tensor, as_float_dtype, as_tensor
from .kernels import conv_output_size, conv_transpose_output_size, pair

_default_rng = np.random.default_rng()


def manual_seed(seed):
    """Seed the generator that initialises new layers' parameters when no ``rng`` is given."""
    global _default_rng
    _default_rng = np.random.default_rng(seed)


def _generator(rng):
    if rng is None:
        return _default_rng
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


class Parameter(Tensor):
    """A Tensor registered as trainable by the Module it is assigned to (requires_grad=True by default)."""

    def __init__(self, data, requires_grad=True, dtype=None):
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


IncompatibleKeys = collections.namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of layers and networks.

    Assigning a Parameter or a Module to an attribute registers it, in assignment order; ``parameters()``,
    ``state_dict()`` and ``repr()`` walk the registered tree. Subclasses define ``forward``; calling the
    module calls ``forward``.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    def forward(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} does not define forward(); a Module subclass must")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # registration --------------------------------------------------------------------------------
    def _registries(self, name):
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__() has run; call super().__init__() first"
            )
        return self.__dict__["_parameters"], self.__dict__["_modules"]

    def __setattr__(self, name, value):
        if isinstance(value, Parameter):
            self.register_parameter(name, value)
        elif isinstance(value, Module):
            self.add_module(name, value)
        else:
            params = self.__dict__.get("_parameters", {})
            modules = self.__dict__.get("_modules", {})
            if name in params:
                if value is not None:
                    raise TypeError(
                        f"cannot assign {type(value).__name__} to parameter {name!r} (Parameter or None expected)"
                    )
                params[name] = None
            elif name in modules:
                if value is not None:
                    raise TypeError(
                        f"cannot assign {type(value).__name__} to submodule {name!r} (Module or None expected)"
                    )
                modules[name] = None
            else:
                object.__setattr__(self, name, value)

    def __getattr__(self, name):
        d = self.__dict__
        if name in d.get("_parameters", {}):
            return d["_parameters"][name]
        if name in d.get("_modules", {}):
            return d["_modules"][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        if name in self.__dict__.get("_parameters", {}):
            del self._parameters[name]
        elif name in self.__dict__.get("_modules", {}):
            del self._modules[name]
        else:
            object.__delattr__(self, name)

    @staticmethod
    def _check_name(name):
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"invalid name {name!r}: a non-empty string without '.' is required")

    def register_parameter(self, name, param):
        """Register ``param`` (a Parameter, or None for an absent one such as ``bias=False``) as ``name``."""
        self._check_name(name)
        params, modules = self._registries(name)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot register {type(param).__name__} as parameter {name!r} (Parameter or None expected)"
            )
        modules.pop(name, None)
        self.__dict__.pop(name, None)
        params[name] = param

    def add_module(self, name, module):
        """Register ``module`` (or None) as the child ``name``."""
        self._check_name(name)
        params, modules = self._registries(name)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module")
        params.pop(name, None)
        self.__dict__.pop(name, None)
        modules[name] = module

    # traversal ---------------------------------------------------------------------------------------
    def named_children(self):
        """(name, module) for each direct child, in registration order."""
        return ((n, m) for n, m in self._modules.items() if m is not None)

    def children(self):
        """The direct children."""
        return (m for _, m in self.named_children())

    def named_modules(self, prefix=""):
        """(dotted name, module) for this module and every descendant, depth first; each module once."""
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{n}" if name else n, m) for n, m in module.named_children()]
            stack.extend(reversed(children))

    def modules(self):
        """This module and every descendant."""
        return (m for _, m in self.named_modules())

    def _all_named_parameters(self):
        """(key, parameter) for every registered parameter under every name it has (state_dict's keys)."""
        def walk(module, prefix):
            for n, p in module._parameters.items():
                if p is not None:
                    yield prefix + n, p
            for n, child in module.named_children():
                yield from walk(child, f"{prefix}{n}.")

        return walk(self, "")

    def named_parameters(self):
        """(dotted name, Parameter) in registration order, each parameter once."""
        seen = set()
        for name, p in self._all_named_parameters():
            if id(p) not in seen:
                seen.add(id(p))
                yield name, p

    def parameters(self):
        """Every Parameter of the tree, each once, in registration order."""
        return (p for _, p in self.named_parameters())

    # modes, gradients, dtype -------------------------------------------------------------------------
    def train(self, mode=True):
        """Set training mode (``mode=True``) or evaluation mode on this module and all descendants."""
        for m in self.modules():
            m.training = bool(mode)
        return self

    def eval(self):
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def zero_grad(self):
        """Forget accumulated gradients (``grad = None`` for every parameter)."""
        for p in self.parameters():
            p.grad = None

    def to(self, dtype):
        """Convert every parameter (and gradient) to float32 or float64, in place; returns self."""
        dtype = as_float_dtype(dtype)
        for p in self.parameters():
            p.data = p.data.astype(dtype)
            if p.grad is not None:
                p.grad = p.grad.astype(dtype)
        return self

    def double(self):
        """``to(numpy.float64)``, handy for gradient checks."""
        return self.to(np.float64)

    def float(self):
        """``to(numpy.float32)``."""
        return self.to(np.float32)

    # state -----------------------------------------------------------------------------------------
    def state_dict(self):
        """An ordered dict {"enc.0.weight": ndarray, ...} of copies of every parameter, keyed as PyTorch does."""
        return collections.OrderedDict((k, p.data.copy()) for k, p in self._all_named_parameters())

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays from ``state_dict`` into the parameters of the same keys, in place.

        Values are float32/float64 arrays (or Tensors, or anything ``numpy.asarray`` turns into one) and are
        converted to each parameter's dtype. A shape mismatch is always an error; with ``strict``, so are
        missing and unexpected keys. Nothing is copied unless every check passes. Returns
        ``IncompatibleKeys(missing_keys, unexpected_keys)``.
        """
        own = dict(self._all_named_parameters())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors, arrays = [], {}
        for key, param in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            arr = np.asarray(value.data if isinstance(value, Tensor) else value)
            if arr.dtype not in FLOAT_DTYPES:
                errors.append(f"{key!r} has dtype {arr.dtype}, expected float32 or float64")
            elif arr.shape != param.shape:
                errors.append(
                    f"size mismatch for {key!r}: the state dict has shape {arr.shape}, "
                    f"the parameter in the model has shape {param.shape}"
                )
            else:
                arrays[key] = arr
        if strict and missing:
            errors.insert(0, "missing key(s): " + ", ".join(repr(k) for k in missing))
        if strict and unexpected:
            errors.insert(0, "unexpected key(s): " + ", ".join(repr(k) for k in unexpected))
        if errors:
            raise RuntimeError(f"error(s) in loading state_dict for {type(self).__name__}:\n  " + "\n  ".join(errors))
        for key, arr in arrays.items():
            own[key].data[...] = arr
        return IncompatibleKeys(missing, unexpected)

    def save(self, path):
        """Write ``state_dict()`` to ``path`` as an .npz archive, atomically: a temporary file in the same
        directory is written, synced and then renamed over ``path``, so ``path`` is never half-written."""
        state = self.state_dict()
        atomic_write(path, lambda handle: np.savez(handle, **state))

    def load(self, path, strict=True):
        """Load parameters saved by ``save(path)`` (``load_state_dict`` rules); returns self."""
        with np.load(os.fspath(path), allow_pickle=False) as archive:
            self.load_state_dict({k: archive[k] for k in archive.files}, strict=strict)
        return self

    # printing ----------------------------------------------------------------------------------------
    def extra_repr(self):
        """The text inside this module's parentheses (its constructor arguments)."""
        return ""

    def _layer_name(self):
        return f"{type(self).__name__}({self.extra_repr()})"

    def __repr__(self):
        lines = self.extra_repr().split("\n") if self.extra_repr() else []
        for name, module in self._modules.items():
            child = repr(module).replace("\n", "\n  ")
            lines.append(f"({name}): {child}")
        if not self._modules:
            return self._layer_name()
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


def _uniform(shape, bound, dtype, rng):
    return Parameter(_generator(rng).uniform(-bound, bound, size=shape), dtype=dtype)


def _positive_int(value, name, layer):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{layer}: {name} must be a positive int, got {value!r}")
    return int(value)


class _ConvNd(Module):
    """Shared parts of Conv2d and ConvTranspose2d: arguments, PyTorch's initialisation, input checks."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, bias, groups, weight_shape,
                 dtype, rng):
        super().__init__()
        layer = type(self).__name__
        if groups != 1:
            raise ValueError(f"{layer}: groups={groups!r} is not supported; deconvlab implements groups=1 only")
        self.in_channels = _positive_int(in_channels, "in_channels", layer)
        self.out_channels = _positive_int(out_channels, "out_channels", layer)
        self.kernel_size = pair(kernel_size, "kernel_size", layer, 1)
        self.stride = pair(stride, "stride", layer, 1)
        self.padding = pair(padding, "padding", layer, 0)
        self.dilation = pair(dilation, "dilation", layer, 1)
        dtype = as_float_dtype(dtype)
        shape = weight_shape(self.in_channels, self.out_channels) + self.kernel_size
        # kaiming_uniform_(a=√5): bound = gain·√(3/fan_in) with gain = √(2/(1 + a²)), i.e. 1/√fan_in;
        # fan_in = weight.shape[1]·kH·kW for both layouts, as PyTorch computes it.
        bound = 1.0 / math.sqrt(shape[1] * self.kernel_size[0] * self.kernel_size[1])
        self.weight = _uniform(shape, bound, dtype, rng)
        if bias:
            self.bias = _uniform((self.out_channels,), bound, dtype, rng)
        else:
            self.register_parameter("bias", None)

    def _check_input(self, input, out_size, formula):
        x = as_tensor(input)
        name = self._layer_name()
        if x.ndim != 4:
            raise ValueError(f"{name}: input must be 4-D (N, C, H, W), got shape {x.shape}")
        if x.dtype != self.weight.dtype:
            raise TypeError(
                f"{name}: input has dtype {x.dtype} but the layer's parameters are {self.weight.dtype}; "
                "convert the input or the module (.to(dtype)) explicitly"
            )
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"{name}: input has {x.shape[1]} channels, expected {self.in_channels} (input shape {x.shape})"
            )
        hw = tuple(out_size(i, x.shape[2 + i]) for i in range(2))
        if min(hw) < 1:
            raise ValueError(
                f"{name}: input of shape {x.shape} gives an output of {hw[0]}x{hw[1]}; "
                f"H_out = {formula} must be at least 1"
            )
        return x

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if getattr(self, "output_padding", (0, 0)) != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv2d(_ConvNd):
    """2-D convolution layer (cross-correlation): y = F.conv2d(x, weight, bias, stride, padding, dilation).

    weight (out_channels, in_channels, kH, kW) and bias (out_channels,) start uniform in ±1/√(in_channels·kH·kW),
    PyTorch's default. ``dtype`` (float32 default) and ``rng`` (Generator or seed; default: the generator
    seeded by ``manual_seed``) are keyword-only.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, bias=True, *,
                 groups=1, dtype=np.float32, rng=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, bias, groups,
                         lambda c_in, c_out: (c_out, c_in), dtype, rng)

    def forward(self, input):
        k, s, p, d = self.kernel_size, self.stride, self.padding, self.dilation
        x = self._check_input(
            input, lambda i, n: conv_output_size(n, k[i], s[i], p[i], d[i]), "floor((H + 2p - d(k-1) - 1)/s) + 1"
        )
        return F.conv2d(x, self.weight, self.bias, s, p, d)


class ConvTranspose2d(_ConvNd):
    """2-D transposed convolution layer: y = F.conv_transpose2d(x, weight, bias, stride, padding, output_padding,
    dilation=dilation).

    weight (in_channels, out_channels, kH, kW) — PyTorch's layout — and bias start uniform in
    ±1/√(out_channels·kH·kW) (PyTorch's fan_in, computed from weight.shape[1]). 0 ≤ output_padding < max(s, d).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, bias=True,
                 dilation=1, *, groups=1, dtype=np.float32, rng=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, bias, groups,
                         lambda c_in, c_out: (c_in, c_out), dtype, rng)
        self.output_padding = pair(output_padding, "output_padding", "ConvTranspose2d", 0)
        for i in range(2):
            if self.output_padding[i] >= max(self.stride[i], self.dilation[i]):
                raise ValueError(
                    f"ConvTranspose2d: output_padding {self.output_padding} must be smaller than "
                    f"max(stride, dilation) in each direction (stride {self.stride}, dilation {self.dilation})"
                )

    def forward(self, input):
        k, s, p, op, d = self.kernel_size, self.stride, self.padding, self.output_padding, self.dilation
        x = self._check_input(
            input,
            lambda i, n: conv_transpose_output_size(n, k[i], s[i], p[i], op[i], d[i]),
            "(H - 1)s - 2p + d(k-1) + output_padding + 1",
        )
        return F.conv_transpose2d(x, self.weight, self.bias, s, p, op, 1, d)


class GatedConv2d(Module):
    """Gated convolution (DeepFill v2, Yu et al. 2019): a feature convolution and a gate convolution of the same
    input, the features passed through φ (leaky ReLU, slope ``negative_slope``) and scaled by the gate,

        O = φ(W_f ∗ I + b_f) ⊙ σ(W_g ∗ I + b_g),

    so the layer learns, per pixel and channel, how much of its feature to let through — around a hole, how
    far to trust what it computed from missing pixels. Both convolutions are one ``Conv2d`` with 2·out_channels
    outputs (``conv``; the first half W_f, the second W_g), one kernel call. Arguments as ``Conv2d``'s.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, bias=True, *,
                 negative_slope=0.2, dtype=np.float32, rng=None):
        super().__init__()
        self.out_channels = _positive_int(out_channels, "out_channels", "GatedConv2d")
        self.negative_slope = float(negative_slope)
        self.conv = Conv2d(in_channels, 2 * self.out_channels, kernel_size, stride, padding, dilation, bias,
                           dtype=dtype, rng=rng)

    def forward(self, input):
        both = self.conv(input)
        c = self.out_channels
        return F.leaky_relu(both[:, :c], self.negative_slope) * F.sigmoid(both[:, c:])

    def extra_repr(self):
        return f"{self.conv.extra_repr()}, gated to {self.out_channels}, negative_slope={self.negative_slope}"


class FourierUnit(Module):
    """A convolution over the whole image at once (LaMa's Fourier unit, Suvorov et al. 2022): a 1×1 convolution
    of the real and imaginary parts of the features' 2-D Fourier transform, then back,

        Y = rfft2(x) (unitary)      z = φ(W·[Re Y, Im Y] + b)      y = irfft2(z),

    W a (2C, 2C) matrix applied at every frequency, φ leaky ReLU (``negative_slope``). Every output pixel reads
    every input pixel: the receptive field is the whole image. ``zero=True`` starts W and b at zero, so the
    unit first returns zeros (a residual branch that starts switched off). x (N, C, H, W) -> (N, C, H, W).
    """

    def __init__(self, channels, negative_slope=0.2, zero=False, *, dtype=np.float32, rng=None):
        super().__init__()
        self.channels = _positive_int(channels, "channels", "FourierUnit")
        self.negative_slope = float(negative_slope)
        self.conv = Conv2d(2 * self.channels, 2 * self.channels, 1, dtype=dtype, rng=rng)
        if zero:
            self.conv.weight.data[...] = 0
            self.conv.bias.data[...] = 0

    def forward(self, input):
        x = input if isinstance(input, Tensor) else Tensor(np.asarray(input))
        z = F.leaky_relu(self.conv(F.rfft2(x)), self.negative_slope)
        return F.irfft2(z, x.shape[2:])

    def extra_repr(self):
        return f"{self.channels}, negative_slope={self.negative_slope}"


class PartialConv2d(Conv2d):
    """Partial convolution (Liu et al. 2018): a convolution that reads only valid (known) pixels and re-weights
    each window by how many it found, with the mask updated for the next layer.

    ``forward(x, valid)`` with x (N, C, H, W) and ``valid`` (N, 1, H, W), 1 = a known pixel (here the paper's M:
    the complement of deconvlab's hole masks). With S(M) the number of valid pixels in a window (a box sum of
    the mask over the kernel's taps) and kH·kW its size,

        x′ = W ∗ (X ⊙ M) · kH·kW / S(M) + b     where S(M) > 0, else 0;      m′ = 1 where S(M) > 0, else 0.

    Returns (x′, m′); m′ is a constant (no gradient flows into the mask). A stack of these shrinks the hole by
    the kernel's reach at every layer. Arguments as ``Conv2d``'s.
    """

    def window_counts(self, valid):
        """S(M): how many valid pixels each output's window reads, for ``valid`` (N, 1, H, W) as an ndarray of the
        output's shape (N, 1, H′, W′); m′ = (S(M) > 0) is the updated mask."""
        m = np.asarray(valid)
        k, s, p, d = self.kernel_size, self.stride, self.padding, self.dilation
        return F.conv2d(Tensor(m), Tensor(np.ones((1, 1) + k, dtype=m.dtype)), None, s, p, d).data

    def forward(self, input, valid):
        x = input if isinstance(input, Tensor) else Tensor(np.asarray(input))
        m = valid.data if isinstance(valid, Tensor) else np.asarray(valid)
        if m.ndim != 4 or m.shape[1] != 1 or m.shape[0] != x.shape[0] or m.shape[2:] != x.shape[2:]:
            raise ValueError(f"PartialConv2d: expected valid (N, 1, H, W) matching the input {x.shape}, got {m.shape}")
        m = m.astype(x.dtype)
        k, s, p, d = self.kernel_size, self.stride, self.padding, self.dilation
        count = self.window_counts(m)
        seen = count > 0.5
        scale = np.where(seen, (k[0] * k[1]) / np.maximum(count, 1.0), 0.0).astype(x.dtype)
        y = F.conv2d(x * Tensor(m), self.weight, None, s, p, d) * Tensor(scale)
        if self.bias is not None:
            y = y + self.bias.reshape(1, -1, 1, 1) * Tensor(seen.astype(x.dtype))
        return y, seen.astype(x.dtype)


class ReLU(Module):
    """max(x, 0)."""

    def forward(self, input):
        return F.relu(input)


class LeakyReLU(Module):
    """x for x > 0, negative_slope·x otherwise."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, input):
        return F.leaky_relu(input, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    """1/(1 + e⁻ˣ)."""

    def forward(self, input):
        return F.sigmoid(input)


class Tanh(Module):
    """tanh x."""

    def forward(self, input):
        return F.tanh(input)


class Identity(Module):
    """Returns its input unchanged."""

    def forward(self, input):
        return as_tensor(input)


class Upsample(Module):
    """Upsampling of (N, C, H, W) by integer ``scale_factor``; mode 'nearest' or 'bilinear' (align_corners=False)."""

    def __init__(self, scale_factor, mode="nearest"):
        super().__init__()
        if mode not in ("nearest", "bilinear"):
            raise ValueError(f"Upsample: mode must be 'nearest' or 'bilinear', got {mode!r}")
        self.scale_factor = F._scale_pair(scale_factor, "Upsample")
        self.mode = mode

    def forward(self, input):
        x = as_tensor(input)
        if x.ndim != 4:
            raise ValueError(f"{self._layer_name()}: input must be 4-D (N, C, H, W), got shape {x.shape}")
        if self.mode == "nearest":
            return F.upsample_nearest2d(x, self.scale_factor)
        return F.upsample_bilinear2d(x, self.scale_factor)

    def extra_repr(self):
        sh, sw = self.scale_factor
        scale = float(sh) if sh == sw else (float(sh), float(sw))
        return f"scale_factor={scale}, mode={self.mode!r}"


class _ModuleSequence(Module):
    """What Sequential and ModuleList share: children keyed "0", "1", ... in order, len(), iteration, append."""

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        """Add ``module`` at the end (key ``str(len(self))``)."""
        self.add_module(str(len(self)), module)
        return self


class Sequential(_ModuleSequence):
    """Children applied in order: ``Sequential(m0, m1, ...)`` (keys "0", "1", ...) or ``Sequential(dict)``."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], dict):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(modules):
                self.add_module(str(i), module)

    def forward(self, input):
        for module in self._modules.values():
            input = module(input)
        return input

    def __getitem__(self, index):
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(dict(items[index]))
        return items[index][1]

class ModuleList(_ModuleSequence):
    """A list of modules whose parameters are registered (keys "0", "1", ...); it has no forward of its own."""

    def __init__(self, modules=()):
        super().__init__()
        for module in modules:
            self.append(module)

    def __getitem__(self, index):
        return list(self._modules.values())[index]
